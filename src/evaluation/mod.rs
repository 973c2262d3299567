//! Measuring answer quality on public data sets written outside the
//! project: language detection (Tatoeba), FAQ retrieval (Bitext customer
//! support), "cannot answer" decisions and requests for a person (CLINC150,
//! Bitext), and retrieval across languages (XQuAD-R).
//!
//! Every suite runs the product's own code paths: [`Detector::detect`],
//! [`KnowledgeIndex`] searched through [`Answerer::retrieve`] (which applies
//! the chat pipeline's sort order and, with a model, translate-then-search),
//! and [`Texts::escalation`]. The data is read in place from a folder given
//! on the command line and never copied. Sampling uses a fixed seed, so two
//! runs with the same options measure the same items.
//!
//! [`load`] holds the checks and summaries of `crossdesk loadtest`, which
//! measures a running server rather than answer quality.
//!
//! A suite returns a [`SuiteReport`]: tables for people (Markdown), named
//! [`Figure`]s that [`floors`] compares with checked-in minimums, and details
//! for the JSON report.
//!
//! [`Detector::detect`]: crate::language::detector::Detector::detect
//! [`KnowledgeIndex`]: crate::knowledge::KnowledgeIndex
//! [`Answerer::retrieve`]: crate::chat::answer::Answerer::retrieve
//! [`Texts::escalation`]: crate::chat::texts::Texts::escalation

pub mod cross_language;
pub mod datasets;
pub mod floors;
pub mod harness;
pub mod language;
pub mod load;
pub mod metrics;
pub mod out_of_scope;
pub mod retrieval;
pub mod table;

use std::path::PathBuf;

use serde::Serialize;

use crate::config::Config;
use table::Table;

/// Seed of every sample and split unless `--seed` sets another.
pub const DEFAULT_SEED: u64 = 20_261_204;

#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    #[error("cannot read {path}: {source}; is --data the folder with the evaluation data sets?")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("invalid data in {path}: {message}")]
    Parse { path: String, message: String },
    #[error("evaluation index failed: {0}")]
    Index(#[from] crate::knowledge::index::IndexError),
    #[error("embedded texts are invalid: {0}")]
    Texts(#[from] crate::chat::texts::TextsError),
    #[error("cannot create a temporary folder: {0}")]
    TempDir(std::io::Error),
    #[error("{0}")]
    Model(String),
    #[error("evaluation task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
}

/// An evaluation suite, or all of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Suite {
    Language,
    Retrieval,
    OutOfScope,
    CrossLanguage,
    All,
}

impl Suite {
    /// Returns the single suites this choice runs, in order.
    pub fn members(self) -> Vec<Suite> {
        match self {
            Suite::All => vec![
                Suite::Language,
                Suite::Retrieval,
                Suite::OutOfScope,
                Suite::CrossLanguage,
            ],
            single => vec![single],
        }
    }

    /// Returns the name used on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Suite::Language => "language",
            Suite::Retrieval => "retrieval",
            Suite::OutOfScope => "out-of-scope",
            Suite::CrossLanguage => "cross-language",
            Suite::All => "all",
        }
    }
}

/// Options shared by all suites.
#[derive(Debug, Clone)]
pub struct EvalOptions {
    /// Folder holding `tatoeba-dev/`, `bitext-customer-support/`,
    /// `clinc150/` and `xquad-r/`.
    pub data_dir: PathBuf,
    /// At most this many items per group (language, intent or split);
    /// `None` measures every item.
    pub sample: Option<usize>,
    /// Skip the parts that need the model (translate-then-search), for CI.
    pub quick: bool,
    /// Questions per language for translate-then-search (the slow part).
    pub translated_sample: usize,
    /// Seed of every random choice.
    pub seed: u64,
    /// Thresholds and model path.
    pub config: Config,
}

impl EvalOptions {
    /// Returns the per-group cap: `--sample` if given, else no cap.
    pub fn cap(&self) -> usize {
        self.sample.unwrap_or(usize::MAX)
    }
}

/// One named number that CI can hold to a floor, such as
/// `retrieval.hit_at_1`.
#[derive(Debug, Clone, Serialize)]
pub struct Figure {
    pub name: String,
    pub value: f64,
}

impl Figure {
    pub fn new(name: impl Into<String>, value: f64) -> Self {
        Self {
            name: name.into(),
            value,
        }
    }
}

/// The measurements of one suite.
#[derive(Debug, Serialize)]
pub struct SuiteReport {
    pub suite: &'static str,
    pub tables: Vec<Table>,
    pub figures: Vec<Figure>,
    pub details: serde_json::Value,
    pub elapsed_seconds: f64,
}

/// Runs a suite, or each suite of [`Suite::All`] in turn.
pub async fn run(suite: Suite, options: &EvalOptions) -> Result<Vec<SuiteReport>, EvalError> {
    let mut reports = Vec::new();
    for member in suite.members() {
        let started = std::time::Instant::now();
        let mut report = match member {
            Suite::Language => language::run(options).await?,
            Suite::Retrieval => retrieval::run(options).await?,
            Suite::OutOfScope => out_of_scope::run(options).await?,
            Suite::CrossLanguage => cross_language::run(options).await?,
            // `members` lists single suites only.
            Suite::All => continue,
        };
        report.elapsed_seconds = started.elapsed().as_secs_f64();
        reports.push(report);
    }
    Ok(reports)
}
