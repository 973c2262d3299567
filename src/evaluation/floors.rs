//! Minimum values for evaluation figures, read from a checked-in TOML file
//! (`evaluation-floors.toml`), so CI fails when a change makes the bot
//! worse.
//!
//! The file has an `[all_runs]` table, checked by every run, and a
//! `[model_runs]` table for figures that need the model, checked by runs
//! without `--quick`. Each key is a figure name, such as
//! `retrieval.hit_at_1`, and each value is a share from 0 to 1 that the
//! figure must reach. Every figure is "higher is better". A floor is checked
//! when its suite (the name up to the first dot) ran. A floor that names a
//! figure its suite did not produce fails, so a typo cannot switch a check
//! off.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::SuiteReport;
use super::table::Table;

/// Slack for rounding: a figure this close below its floor still passes.
const TOLERANCE: f64 = 1e-9;

#[derive(Debug, thiserror::Error)]
pub enum FloorsError {
    #[error("cannot read floors file {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("invalid floors file {path}: {message}")]
    Parse { path: String, message: String },
}

/// The two sets of floors.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Floors {
    /// Checked by every run.
    #[serde(default)]
    pub all_runs: BTreeMap<String, f64>,
    /// Checked only by runs with the model (without `--quick`).
    #[serde(default)]
    pub model_runs: BTreeMap<String, f64>,
}

impl Floors {
    /// Reads a floors file.
    pub fn load(path: &Path) -> Result<Self, FloorsError> {
        let text = std::fs::read_to_string(path).map_err(|source| FloorsError::Read {
            path: path.display().to_string(),
            source,
        })?;
        toml::from_str(&text).map_err(|error| FloorsError::Parse {
            path: path.display().to_string(),
            message: error.to_string(),
        })
    }

    /// Returns the floors that apply to a run with or without `--quick`.
    pub fn for_run(&self, quick: bool) -> BTreeMap<String, f64> {
        let mut floors = self.all_runs.clone();
        if !quick {
            floors.extend(self.model_runs.clone());
        }
        floors
    }
}

/// The result of one floor.
#[derive(Debug, Clone, Serialize)]
pub struct FloorCheck {
    pub figure: String,
    pub floor: f64,
    /// `None` when the suite ran but produced no figure of that name.
    pub value: Option<f64>,
    pub passed: bool,
}

/// Checks each floor whose suite is among `reports`.
pub fn check(floors: &BTreeMap<String, f64>, reports: &[SuiteReport]) -> Vec<FloorCheck> {
    floors
        .iter()
        .filter(|(figure, _)| {
            reports
                .iter()
                .any(|report| suite_of(figure) == report.suite.replace('-', "_"))
        })
        .map(|(figure, floor)| {
            let value = reports
                .iter()
                .flat_map(|report| &report.figures)
                .find(|f| &f.name == figure)
                .map(|f| f.value);
            FloorCheck {
                figure: figure.clone(),
                floor: *floor,
                value,
                passed: value.is_some_and(|v| v + TOLERANCE >= *floor),
            }
        })
        .collect()
}

fn suite_of(figure: &str) -> &str {
    figure.split('.').next().unwrap_or(figure)
}

/// Builds a table of the checks, failures first.
pub fn table(checks: &[FloorCheck], source: &Path) -> Table {
    let mut table = Table::new(
        format!("Floors from {}", source.display()),
        &["figure", "measured", "floor", "result"],
    );
    let mut sorted: Vec<&FloorCheck> = checks.iter().collect();
    sorted.sort_by_key(|check| check.passed);
    for check in sorted {
        let measured = check
            .value
            .map_or("missing".to_owned(), |v| format!("{v:.4}"));
        let result = if check.passed { "ok" } else { "BELOW FLOOR" };
        table.row(vec![
            check.figure.clone(),
            measured,
            format!("{:.4}", check.floor),
            result.to_owned(),
        ]);
    }
    table
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::evaluation::Figure;

    fn report(suite: &'static str, figures: &[(&str, f64)]) -> SuiteReport {
        SuiteReport {
            suite,
            tables: Vec::new(),
            figures: figures.iter().map(|(n, v)| Figure::new(*n, *v)).collect(),
            details: serde_json::Value::Null,
            elapsed_seconds: 0.0,
        }
    }

    fn floors(entries: &[(&str, f64)]) -> BTreeMap<String, f64> {
        entries.iter().map(|(n, v)| ((*n).to_owned(), *v)).collect()
    }

    #[test]
    fn figure_below_floor_fails() {
        let reports = [report("retrieval", &[("retrieval.hit_at_1", 0.70)])];
        let checks = check(&floors(&[("retrieval.hit_at_1", 0.75)]), &reports);
        assert_eq!(checks.len(), 1);
        assert!(!checks[0].passed);
    }

    #[test]
    fn figure_at_floor_passes() {
        let reports = [report("retrieval", &[("retrieval.hit_at_1", 0.75)])];
        let checks = check(&floors(&[("retrieval.hit_at_1", 0.75)]), &reports);
        assert!(checks[0].passed);
    }

    #[test]
    fn misspelt_figure_of_a_run_suite_fails() {
        let reports = [report("out-of-scope", &[("out_of_scope.a", 1.0)])];
        let checks = check(&floors(&[("out_of_scope.b", 0.1)]), &reports);
        assert!(!checks[0].passed);
        assert_eq!(checks[0].value, None);
    }

    #[test]
    fn floors_of_suites_not_run_are_skipped() {
        let reports = [report("language", &[("language.x", 1.0)])];
        let checks = check(&floors(&[("retrieval.hit_at_1", 0.9)]), &reports);
        assert!(checks.is_empty());
    }

    #[test]
    fn checked_in_floors_file_parses() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("evaluation-floors.toml");
        let floors = Floors::load(&path).expect("evaluation-floors.toml is valid");
        assert!(!floors.all_runs.is_empty());
        let all = floors.for_run(false);
        assert!(all.values().all(|v| (0.0..=1.0).contains(v)));
    }
}
