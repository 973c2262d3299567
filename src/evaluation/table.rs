//! Result tables, rendered as Markdown so that command output can go into
//! `EVALUATION.md` as it is.

use std::fmt;

use serde::Serialize;

/// A titled table of text cells with optional notes under it.
#[derive(Debug, Clone, Serialize)]
pub struct Table {
    pub title: String,
    pub headers: Vec<String>,
    pub rows: Vec<Vec<String>>,
    pub notes: Vec<String>,
}

impl Table {
    /// Starts an empty table with the given column headers.
    pub fn new(title: impl Into<String>, headers: &[&str]) -> Self {
        Self {
            title: title.into(),
            headers: headers.iter().map(|h| (*h).to_owned()).collect(),
            rows: Vec::new(),
            notes: Vec::new(),
        }
    }

    /// Appends a row; it must have one cell per header.
    pub fn row(&mut self, cells: Vec<String>) {
        debug_assert_eq!(cells.len(), self.headers.len(), "{}", self.title);
        self.rows.push(cells);
    }

    /// Appends a line of explanation printed under the table.
    pub fn note(&mut self, text: impl Into<String>) {
        self.notes.push(text.into());
    }

    fn widths(&self) -> Vec<usize> {
        let mut widths: Vec<usize> = self.headers.iter().map(|h| h.chars().count()).collect();
        for row in &self.rows {
            for (width, cell) in widths.iter_mut().zip(row) {
                *width = (*width).max(cell.chars().count());
            }
        }
        widths
    }
}

impl fmt::Display for Table {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "### {}\n", self.title)?;
        let widths = self.widths();
        write_row(f, &self.headers, &widths)?;
        let rule: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
        write_row(f, &rule, &widths)?;
        for row in &self.rows {
            write_row(f, row, &widths)?;
        }
        if !self.notes.is_empty() {
            writeln!(f)?;
        }
        for note in &self.notes {
            writeln!(f, "{note}")?;
        }
        Ok(())
    }
}

fn write_row(f: &mut fmt::Formatter<'_>, cells: &[String], widths: &[usize]) -> fmt::Result {
    write!(f, "|")?;
    for (cell, width) in cells.iter().zip(widths) {
        write!(f, " {cell:<width$} |")?;
    }
    writeln!(f)
}

/// Formats a share from 0 to 1 as a percentage with one decimal.
pub fn percent(value: f64) -> String {
    format!("{:.1} %", value * 100.0)
}

/// Formats a number with thousands separators, such as `15,000`.
pub fn count(value: usize) -> String {
    let digits = value.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_renders_markdown() {
        let mut table = Table::new("Demo", &["language", "accuracy"]);
        table.row(vec!["es".into(), percent(0.9512)]);
        let text = table.to_string();
        assert!(text.contains("| language | accuracy |"), "{text}");
        assert!(text.contains("| es       | 95.1 %   |"), "{text}");
    }

    #[test]
    fn count_groups_thousands() {
        assert_eq!(count(7), "7");
        assert_eq!(count(15_000), "15,000");
        assert_eq!(count(1_234_567), "1,234,567");
    }
}
