//! The command-line interface: options shared by every command, and the
//! `serve`, `ask`, `ingest`, `eval`, `loadtest` and `staff` commands.
//!
//! Settings come from defaults, then the TOML file given with `--config`,
//! then environment variables and flags; `--help` documents each.

mod ask;
mod eval;
mod ingest;
mod loadtest;
mod serve;
mod staff;

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::config::Config;

/// crossdesk: a self-hosted multilingual customer-service chat server.
#[derive(Debug, Parser)]
#[command(version, about, long_about = None)]
pub struct Cli {
    #[command(flatten)]
    pub options: CommonOptions,
    #[command(subcommand)]
    pub command: Command,
}

/// Options every command accepts.
#[derive(Debug, Args)]
pub struct CommonOptions {
    /// TOML configuration file (see crossdesk.example.toml); flags and
    /// environment variables override its values.
    #[arg(long, global = true, env = "CROSSDESK_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Folder for the database, the search index and the token secret
    /// [default: data].
    #[arg(long, global = true, env = "CROSSDESK_DATA_DIR", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Knowledge folder loaded into an empty store on first start
    /// [default: knowledge-base].
    #[arg(
        long,
        global = true,
        env = "CROSSDESK_KNOWLEDGE_BASE",
        value_name = "PATH"
    )]
    pub knowledge_base: Option<PathBuf>,
    /// GGUF model file (qwen2 or llama architecture)
    /// [default: models/qwen2.5-coder-1.5b-instruct-q4_k_m.gguf].
    #[arg(long, global = true, env = "CROSSDESK_MODEL", value_name = "FILE")]
    pub model: Option<PathBuf>,
    /// Run without the model: answers come from the knowledge base only.
    #[arg(long, global = true, env = "CROSSDESK_NO_MODEL")]
    pub no_model: bool,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the chat server.
    Serve(serve::ServeArgs),
    /// Answer one question through the chat pipeline and print the details.
    Ask(ask::AskArgs),
    /// Load FAQ (CSV, JSON), product documents (Markdown, HTML, text) and
    /// orders (CSV) into the store.
    Ingest(ingest::IngestArgs),
    /// Measure answer quality on public data sets and check the floors.
    Eval(eval::EvalArgs),
    /// Load-test a running server over loopback WebSockets.
    Loadtest(loadtest::LoadtestArgs),
    /// Create and manage staff accounts for the console.
    Staff(staff::StaffArgs),
}

impl CommonOptions {
    /// The configuration: file, then environment and flags.
    pub fn config(&self) -> anyhow::Result<Config> {
        let mut config = match &self.config {
            Some(path) => Config::from_file(path)?,
            None => Config::default(),
        };
        if let Some(dir) = &self.data_dir {
            config.data_dir = dir.clone();
        }
        if let Some(path) = &self.knowledge_base {
            config.knowledge_base = path.clone();
        }
        if let Some(path) = &self.model {
            config.model.path = path.clone();
        }
        if self.no_model {
            config.model.disabled = true;
        }
        config.validate()?;
        Ok(config)
    }
}

/// Runs the parsed command.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let config = cli.options.config()?;
    match cli.command {
        Command::Serve(args) => serve::run(config, args).await,
        Command::Ask(args) => ask::run(config, args).await,
        Command::Ingest(args) => ingest::run(config, args).await,
        Command::Eval(args) => eval::run(config, args).await,
        Command::Loadtest(args) => loadtest::run(args).await,
        Command::Staff(args) => staff::run(config, args).await,
    }
}
