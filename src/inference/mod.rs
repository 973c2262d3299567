//! Local text generation: a GGUF transformer on the CPU behind a bounded queue.
//!
//! The model and its KV cache live on one dedicated OS thread. Callers submit
//! a [`GenerationRequest`] with [`Generator::submit`], which never blocks:
//! when the queue is full it returns [`InferenceError::Busy`] at once. Tokens
//! come back on a bounded channel; dropping the receiving end cancels the
//! generation within one token. Decoding is greedy, so the same prompt
//! always gives the same reply.
//!
//! candle and tokenizers types never leave this module: the chat pipeline
//! sees only the [`Generator`] trait, which tests can fake.

use std::time::Duration;

use tokio::sync::mpsc;

pub mod engine;
mod gguf;
mod stream;
mod template;
#[cfg(test)]
mod test_models;
mod tokenizer;
mod worker;

pub use engine::{InferenceConfig, LoadTimings, LocalModel};

/// Who wrote one message of a chat prompt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    System,
    User,
    Assistant,
}

/// One message of a chat prompt, rendered with the model's chat template.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ChatMessage {
    pub role: Role,
    pub content: String,
}

impl ChatMessage {
    pub fn new(role: Role, content: impl Into<String>) -> Self {
        Self {
            role,
            content: content.into(),
        }
    }
}

/// A request for one reply.
#[derive(Debug, Clone)]
pub struct GenerationRequest {
    pub messages: Vec<ChatMessage>,
    /// Upper bound on generated tokens; generation also stops at end-of-turn.
    pub max_new_tokens: usize,
}

/// What the inference thread sends back, in this order: zero or more
/// `Token`s, then exactly one `Finished`, `Failed` or `Rejected`, except
/// after cancellation, when the receiver is gone anyway.
#[derive(Debug, Clone)]
pub enum GenerationEvent {
    /// Decoded text of one or more new tokens (a token that ends inside a
    /// multi-byte character is held back until the character is complete).
    Token(String),
    Finished(GenerationStats),
    Failed(String),
    /// The request was not run, such as [`InferenceError::PromptTooLong`]
    /// for a prompt that leaves no room for a reply.
    Rejected(InferenceError),
}

/// Timings of one generation.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct GenerationStats {
    pub prompt_tokens: usize,
    pub generated_tokens: usize,
    /// Time spent waiting in the queue before the thread took the request.
    pub queued: Duration,
    /// Time from taking the request to the first generated token.
    pub time_to_first_token: Duration,
    /// Time from taking the request to the last generated token.
    pub total: Duration,
}

/// What is loaded, for `/health` and logs.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ModelInfo {
    pub path: String,
    pub architecture: String,
    pub name: String,
    pub parameters_file_bytes: u64,
    /// Max prompt plus reply tokens in use: the model's context length, or
    /// less when the configuration sets a lower limit.
    pub context_length: usize,
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum InferenceError {
    #[error("the generation queue is full ({capacity} requests waiting); try again shortly")]
    Busy { capacity: usize },
    #[error("the inference thread has stopped")]
    Stopped,
    #[error("prompt has {tokens} tokens but the model context holds {limit}")]
    PromptTooLong { tokens: usize, limit: usize },
    #[error("model file {path}: {reason}")]
    Load { path: String, reason: String },
}

/// Text generation as the chat pipeline sees it.
pub trait Generator: Send + Sync + 'static {
    /// Queue a request without blocking. The returned channel yields the
    /// reply; dropping it cancels the generation.
    fn submit(
        &self,
        request: GenerationRequest,
    ) -> Result<mpsc::Receiver<GenerationEvent>, InferenceError>;

    fn info(&self) -> ModelInfo;
}
