//! `crossdesk ingest`: validate knowledge files and store the good rows.
//!
//! Bad rows are listed with file, line and fix, and do not stop the good
//! rows from loading. The running server picks the new knowledge up at its
//! next start (the index is rebuilt from the store at every start).

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use clap::Args;

use crate::config::Config;
use crate::knowledge::loader;
use crate::storage::Store;

#[derive(Debug, Args)]
pub struct IngestArgs {
    /// Files or folders to load.
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,
}

pub async fn run(config: Config, args: IngestArgs) -> anyhow::Result<()> {
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("cannot create data folder {}", config.data_dir.display()))?;
    for path in &args.paths {
        if !path.exists() {
            anyhow::bail!(
                "{} does not exist; give a file or folder to load",
                path.display()
            );
        }
    }
    let store = Store::open(&config.database_path()).await?;
    let report = loader::load_paths(&args.paths, config.knowledge_language);
    store
        .save_knowledge(&report.faq, &report.passages, &report.orders)
        .await?;

    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "loaded {} FAQ entries, {} passages, {} orders from {} files",
        report.faq.len(),
        report.passages.len(),
        report.orders.len(),
        report.files
    )?;
    for error in &report.errors {
        let line = error.line.map(|l| format!(" line {l}")).unwrap_or_default();
        writeln!(out, "rejected: {}{line}: {}", error.file, error.message)?;
    }
    if !report.errors.is_empty() {
        anyhow::bail!(
            "{} rows or files were rejected; fix them and ingest again",
            report.errors.len()
        );
    }
    Ok(())
}
