//! Configuration: defaults, then an optional TOML file, then environment
//! variables and command-line flags (the last two through clap).
//!
//! [`Config`] is the one typed configuration passed whole to the server.
//! Every field documents its unit; `crossdesk serve --help` shows the same
//! text for the flags, and `crossdesk.example.toml` for the file.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::language::Language;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("invalid config file {path}: {message}")]
    Parse { path: String, message: String },
    #[error("invalid setting {name} = {value:?}: {fix}")]
    Invalid {
        name: &'static str,
        value: String,
        fix: &'static str,
    },
}

/// Everything the server and the CLI commands need.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Address and port to listen on.
    pub listen: SocketAddr,
    /// Folder for the database, the index and the token secret; created if
    /// missing.
    pub data_dir: PathBuf,
    /// Folder or files loaded into an empty store on first start.
    pub knowledge_base: PathBuf,
    /// Language of the knowledge base's main text; questions in other
    /// languages are translated into it when their own language finds nothing.
    pub knowledge_language: Language,
    pub model: ModelConfig,
    pub retrieval: RetrievalConfig,
    pub limits: LimitsConfig,
    pub staff: StaffConfig,
}

/// The local text-generation model.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ModelConfig {
    /// GGUF file (architectures qwen2 and llama). A missing file turns
    /// generation off: the server answers from the knowledge base only.
    pub path: PathBuf,
    /// Turn generation off even if the file exists.
    pub disabled: bool,
    /// Requests waiting for the model beyond the one running; more get the
    /// knowledge-base answer or a "busy" reply at once.
    pub queue_capacity: usize,
    /// Maximum tokens in a generated reply.
    pub max_reply_tokens: usize,
    /// Maximum tokens in a translation.
    pub max_translation_tokens: usize,
    /// Run one short generation at start so the first buyer waits less.
    pub warmup: bool,
}

/// Thresholds on retrieval coverage (share of the question's weighted terms
/// found in a document, 0 to 1).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RetrievalConfig {
    /// At or above this, the top FAQ entry is sent as it is.
    pub faq_confident: f32,
    /// At or above this (and below `faq_confident`), the model writes a reply
    /// from the passages; below it, the bot says it does not know.
    pub answerable: f32,
    /// Passages given to the model.
    pub passages: usize,
}

/// Size and rate limits.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LimitsConfig {
    /// Largest WebSocket text frame, in bytes.
    pub max_frame_bytes: usize,
    /// Longest buyer message, in characters.
    pub max_message_chars: usize,
    /// Sustained frames per second per connection.
    pub frames_per_second: f64,
    /// Frames a connection may send in a burst above the sustained rate.
    pub frame_burst: f64,
    /// Open WebSocket connections per client IP address.
    pub connections_per_ip: usize,
    /// Largest HTTP request body, in bytes.
    pub max_body_bytes: usize,
    /// Failed order-verification attempts allowed per conversation.
    pub order_attempts_per_conversation: i64,
    /// Failed order-verification attempts allowed per IP address per hour.
    pub order_attempts_per_ip_hour: i64,
}

/// Staff accounts, sessions and the console.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StaffConfig {
    /// Chats an agent may own at once, for accounts created without `--max-chats`.
    pub max_chats: i64,
    /// Lifetime of a console session, in hours.
    pub session_hours: i64,
    /// Failed sign-ins allowed per account name in `sign_in_window_minutes`.
    pub sign_in_failures_per_name: usize,
    /// Failed sign-ins allowed per client IP address in the same window.
    pub sign_in_failures_per_ip: usize,
    pub sign_in_window_minutes: u64,
    /// Sustained frames per second per staff connection, and the burst above it.
    pub frames_per_second: f64,
    pub frame_burst: f64,
    /// Add `Secure` to the session cookie; turn on when the console is
    /// served over HTTPS (directly or behind a proxy).
    pub secure_cookie: bool,
}

impl Default for StaffConfig {
    fn default() -> Self {
        Self {
            max_chats: 5,
            session_hours: 12,
            sign_in_failures_per_name: 5,
            sign_in_failures_per_ip: 20,
            sign_in_window_minutes: 15,
            frames_per_second: 10.0,
            frame_burst: 20.0,
            secure_cookie: false,
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            data_dir: PathBuf::from("data"),
            knowledge_base: PathBuf::from("knowledge-base"),
            knowledge_language: Language::English,
            model: ModelConfig::default(),
            retrieval: RetrievalConfig::default(),
            limits: LimitsConfig::default(),
            staff: StaffConfig::default(),
        }
    }
}

impl Default for ModelConfig {
    fn default() -> Self {
        Self {
            path: PathBuf::from("models/qwen2.5-coder-1.5b-instruct-q4_k_m.gguf"),
            disabled: false,
            queue_capacity: 8,
            max_reply_tokens: 160,
            max_translation_tokens: 256,
            warmup: true,
        }
    }
}

impl Default for RetrievalConfig {
    fn default() -> Self {
        Self {
            faq_confident: 0.65,
            answerable: 0.45,
            passages: 3,
        }
    }
}

impl Default for LimitsConfig {
    fn default() -> Self {
        Self {
            max_frame_bytes: 16 * 1024,
            max_message_chars: 4_000,
            frames_per_second: 5.0,
            frame_burst: 10.0,
            connections_per_ip: 20,
            max_body_bytes: 64 * 1024,
            order_attempts_per_conversation: 5,
            order_attempts_per_ip_hour: 20,
        }
    }
}

impl Config {
    /// Reads a TOML file over the defaults.
    pub fn from_file(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.display().to_string(),
            source,
        })?;
        toml::from_str(&text).map_err(|error| ConfigError::Parse {
            path: path.display().to_string(),
            message: error.to_string(),
        })
    }

    /// Checks values that parse but cannot work.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let r = &self.retrieval;
        if !(0.0..=1.0).contains(&r.answerable) || !(0.0..=1.0).contains(&r.faq_confident) {
            return Err(ConfigError::Invalid {
                name: "retrieval.answerable / retrieval.faq_confident",
                value: format!("{} / {}", r.answerable, r.faq_confident),
                fix: "both are shares between 0 and 1",
            });
        }
        if r.answerable > r.faq_confident {
            return Err(ConfigError::Invalid {
                name: "retrieval.answerable",
                value: r.answerable.to_string(),
                fix: "must not exceed retrieval.faq_confident",
            });
        }
        if self.staff.max_chats < 1 || self.staff.session_hours < 1 {
            return Err(ConfigError::Invalid {
                name: "staff.max_chats / staff.session_hours",
                value: format!("{} / {}", self.staff.max_chats, self.staff.session_hours),
                fix: "both must be at least 1",
            });
        }
        if self.staff.frames_per_second <= 0.0 || self.staff.frame_burst < 1.0 {
            return Err(ConfigError::Invalid {
                name: "staff.frames_per_second / staff.frame_burst",
                value: format!(
                    "{} / {}",
                    self.staff.frames_per_second, self.staff.frame_burst
                ),
                fix: "use a positive rate and a burst of at least 1",
            });
        }
        if self.limits.max_frame_bytes < 256 {
            return Err(ConfigError::Invalid {
                name: "limits.max_frame_bytes",
                value: self.limits.max_frame_bytes.to_string(),
                fix: "use at least 256 bytes",
            });
        }
        if self.limits.frames_per_second <= 0.0 || self.limits.frame_burst < 1.0 {
            return Err(ConfigError::Invalid {
                name: "limits.frames_per_second / limits.frame_burst",
                value: format!(
                    "{} / {}",
                    self.limits.frames_per_second, self.limits.frame_burst
                ),
                fix: "the rate must be positive and the burst at least 1",
            });
        }
        Ok(())
    }

    pub fn database_path(&self) -> PathBuf {
        self.data_dir.join("crossdesk.sqlite")
    }

    pub fn index_dir(&self) -> PathBuf {
        self.data_dir.join("index")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn example_file_matches_defaults() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("crossdesk.example.toml");
        let example = Config::from_file(&path).expect("example config parses");
        let as_toml = |c: &Config| toml::to_string(c).expect("config serializes");
        assert_eq!(as_toml(&example), as_toml(&Config::default()));
    }

    #[test]
    fn unknown_key_is_rejected() {
        let error = toml::from_str::<Config>("listen = \"127.0.0.1:1\"\nlisten_port = 3\n")
            .expect_err("unknown key");
        assert!(error.to_string().contains("listen_port"), "{error}");
    }

    #[test]
    fn inverted_thresholds_are_rejected() {
        let mut config = Config::default();
        config.retrieval.answerable = 0.9;
        let error = config
            .validate()
            .expect_err("answerable above faq_confident");
        assert!(
            error.to_string().contains("retrieval.answerable"),
            "{error}"
        );
    }
}
