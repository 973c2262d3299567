//! `crossdesk eval`: runs evaluation suites on public data sets, prints their
//! tables as Markdown, writes a JSON report and checks the figures against
//! the floors file. It exits with an error when a figure is below its floor.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Args;
use serde_json::json;

use crate::config::Config;
use crate::evaluation::floors::{self, FloorCheck, Floors};
use crate::evaluation::{self, DEFAULT_SEED, EvalOptions, Suite, SuiteReport};

#[derive(Debug, Args)]
pub struct EvalArgs {
    /// Suite to run.
    #[arg(value_enum)]
    pub suite: Suite,
    /// Folder with the data sets (tatoeba-dev, bitext-customer-support,
    /// clinc150, xquad-r); read in place, never copied.
    #[arg(long, value_name = "DIR", default_value = "../shared/data")]
    pub data: PathBuf,
    /// At most this many items per language, intent or split
    /// [default: all].
    #[arg(long, value_name = "N")]
    pub sample: Option<usize>,
    /// Questions per language sent through translate-then-search with the
    /// model (2 to 10 seconds each on 2 cores).
    #[arg(long, value_name = "N", default_value_t = 20)]
    pub translated_sample: usize,
    /// Skip the parts that need the model (translate-then-search); every
    /// other figure is measured in full, in well under a minute.
    #[arg(long)]
    pub quick: bool,
    /// Write the JSON report to this file
    /// [default: target/evaluation/SUITE.json, or SUITE-quick.json].
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// Floors file: the command fails when a figure is below its floor.
    #[arg(long, value_name = "FILE", default_value = "evaluation-floors.toml")]
    pub floors: PathBuf,
    /// Do not check the floors (for runs with a custom --sample).
    #[arg(long)]
    pub no_floors: bool,
    /// Seed of every sample and split.
    #[arg(long, default_value_t = DEFAULT_SEED)]
    pub seed: u64,
}

pub async fn run(config: Config, args: EvalArgs) -> anyhow::Result<()> {
    let options = EvalOptions {
        data_dir: args.data.clone(),
        sample: args.sample,
        quick: args.quick,
        translated_sample: args.translated_sample,
        seed: args.seed,
        config,
    };
    let reports = evaluation::run(args.suite, &options).await?;

    let mut out = std::io::stdout().lock();
    for report in &reports {
        writeln!(
            out,
            "## {} ({:.0} s)\n",
            report.suite, report.elapsed_seconds
        )?;
        for table in &report.tables {
            writeln!(out, "{table}")?;
        }
    }
    let checks = if args.no_floors {
        Vec::new()
    } else {
        let floors = Floors::load(&args.floors)?;
        floors::check(&floors.for_run(args.quick), &reports)
    };
    if !checks.is_empty() {
        writeln!(out, "{}", floors::table(&checks, &args.floors))?;
    }

    let path = args
        .json
        .clone()
        .unwrap_or_else(|| default_json_path(&args));
    write_json(&path, &args, &options, &reports, &checks)?;
    writeln!(out, "JSON report: {}", path.display())?;

    let failed: Vec<&str> = checks
        .iter()
        .filter(|check| !check.passed)
        .map(|check| check.figure.as_str())
        .collect();
    if !failed.is_empty() {
        anyhow::bail!(
            "{} figure(s) below their floor in {}: {}",
            failed.len(),
            args.floors.display(),
            failed.join(", ")
        );
    }
    Ok(())
}

fn default_json_path(args: &EvalArgs) -> PathBuf {
    let mode = if args.quick { "-quick" } else { "" };
    Path::new("target")
        .join("evaluation")
        .join(format!("{}{mode}.json", args.suite.name()))
}

fn write_json(
    path: &Path,
    args: &EvalArgs,
    options: &EvalOptions,
    reports: &[SuiteReport],
    checks: &[FloorCheck],
) -> anyhow::Result<()> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create folder {}", parent.display()))?;
    }
    let body = json!({
        "suite": args.suite.name(),
        "quick": args.quick,
        "sample": args.sample,
        "translated_sample": args.translated_sample,
        "seed": args.seed,
        "data": args.data.display().to_string(),
        "model": options.config.model.path.display().to_string(),
        "retrieval": options.config.retrieval,
        "cpus": std::thread::available_parallelism().map(|n| n.get()).ok(),
        "reports": reports,
        "floors": checks,
    });
    let text = serde_json::to_string_pretty(&body)?;
    std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))
}
