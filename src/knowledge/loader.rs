//! Reading knowledge files: FAQ (CSV or JSON), product documents (Markdown,
//! HTML or plain text) and orders (CSV).
//!
//! Every row is validated on its own: a bad row becomes a [`RowError`] with
//! its file, line and the fix, and the good rows are still loaded. A file of
//! an unsupported type is an error for that file only.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::{FaqEntry, Order, Passage};
use crate::language::Language;

/// Longest FAQ answer or passage accepted, in characters.
const MAX_TEXT_CHARS: usize = 8_000;
/// Passages longer than this are split at paragraph boundaries, in characters.
const PASSAGE_TARGET_CHARS: usize = 1_200;

/// A problem with one row or one file; the rest of the upload still loads.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RowError {
    pub file: String,
    /// 1-based line of the row, when the problem is in one row.
    pub line: Option<u64>,
    pub message: String,
}

/// What a set of files contained.
#[derive(Debug, Default)]
pub struct LoadReport {
    pub faq: Vec<FaqEntry>,
    pub passages: Vec<Passage>,
    pub orders: Vec<Order>,
    pub errors: Vec<RowError>,
    pub files: usize,
}

/// Loads files and folders (recursively; `README` files inside folders are
/// skipped). Product documents are in `default_language` unless their name
/// ends in `.<code>.md`, such as `kb-hb150.es.md`.
pub fn load_paths(paths: &[PathBuf], default_language: Language) -> LoadReport {
    let mut report = LoadReport::default();
    for path in paths {
        if path.is_dir() {
            load_folder(path, default_language, &mut report);
        } else {
            load_file(path, default_language, &mut report);
        }
    }
    report
}

fn load_folder(folder: &Path, default_language: Language, report: &mut LoadReport) {
    let mut entries: Vec<PathBuf> = match std::fs::read_dir(folder) {
        Ok(entries) => entries.flatten().map(|e| e.path()).collect(),
        Err(error) => {
            report
                .errors
                .push(file_error(folder, format!("cannot read folder: {error}")));
            return;
        }
    };
    entries.sort();
    for path in entries {
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        if name.starts_with('.') || name.to_ascii_uppercase().starts_with("README") {
            continue;
        }
        if path.is_dir() {
            load_folder(&path, default_language, report);
        } else {
            load_file(&path, default_language, report);
        }
    }
}

fn load_file(path: &Path, default_language: Language, report: &mut LoadReport) {
    let extension = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or_default()
        .to_ascii_lowercase();
    let text = match std::fs::read(path) {
        Ok(bytes) => match String::from_utf8(bytes) {
            Ok(text) => text.trim_start_matches('\u{feff}').to_owned(),
            Err(_) => {
                let message = "file is not valid UTF-8; save it as UTF-8 and upload again";
                report.errors.push(file_error(path, message.into()));
                return;
            }
        },
        Err(error) => {
            report
                .errors
                .push(file_error(path, format!("cannot read file: {error}")));
            return;
        }
    };
    report.files += 1;
    match extension.as_str() {
        "csv" => load_csv(path, &text, report),
        "json" => load_faq_json(path, &text, report),
        "md" | "markdown" | "txt" | "html" | "htm" => {
            let language = language_from_name(path).unwrap_or(default_language);
            report
                .passages
                .extend(split_document(path, &text, &extension, language));
        }
        // NOTE: XLSX FAQ sheets and PDF documents are not parsed yet.
        other => report.errors.push(file_error(
            path,
            format!(
                "unsupported file type {other:?}; use .csv or .json for FAQ, .csv for orders, \
                 .md, .html or .txt for product documents (export XLSX as CSV, PDF as text)"
            ),
        )),
    }
}

fn load_csv(path: &Path, text: &str, report: &mut LoadReport) {
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .from_reader(text.as_bytes());
    let headers: Vec<String> = match reader.headers() {
        Ok(h) => h.iter().map(|c| c.trim().to_ascii_lowercase()).collect(),
        Err(error) => {
            report
                .errors
                .push(file_error(path, format!("cannot read CSV header: {error}")));
            return;
        }
    };
    let has = |name: &str| headers.iter().any(|h| h == name);
    if has("question") && has("answer") {
        load_faq_csv(path, &headers, reader, report);
    } else if has("order_number") && has("email") {
        load_orders_csv(path, &headers, reader, report);
    } else {
        let message = format!(
            "CSV columns {headers:?} are neither FAQ (id, language, question, answer, tags) \
             nor orders (order_number, email, phone, status, ...); fix the header row"
        );
        report.errors.push(file_error(path, message));
    }
}

fn load_faq_csv(
    path: &Path,
    headers: &[String],
    mut reader: csv::Reader<&[u8]>,
    report: &mut LoadReport,
) {
    let mut seen = HashSet::new();
    for record in reader.records() {
        let record = match record {
            Ok(record) => record,
            Err(error) => {
                report
                    .errors
                    .push(row_error(path, error.position().map(|p| p.line()), error));
                continue;
            }
        };
        let line = record.position().map(|p| p.line());
        let field = |name: &str| column(headers, &record, name);
        let raw = RawFaq {
            id: field("id"),
            language: field("language"),
            question: field("question"),
            answer: field("answer"),
            tags: field("tags"),
        };
        match raw.validate(path, &mut seen) {
            Ok(entry) => report.faq.push(entry),
            Err(message) => report.errors.push(row_error(path, line, message)),
        }
    }
}

fn load_faq_json(path: &Path, text: &str, report: &mut LoadReport) {
    #[derive(Deserialize)]
    struct JsonFaq {
        id: Option<String>,
        language: Option<String>,
        question: Option<String>,
        answer: Option<String>,
        #[serde(default)]
        tags: Vec<String>,
    }
    let rows: Vec<JsonFaq> = match serde_json::from_str(text) {
        Ok(rows) => rows,
        Err(error) => {
            let message = format!(
                "invalid JSON: {error}; expected an array of objects with id, language, \
                 question, answer and optional tags"
            );
            report.errors.push(file_error(path, message));
            return;
        }
    };
    let mut seen = HashSet::new();
    for (index, row) in rows.into_iter().enumerate() {
        let raw = RawFaq {
            id: row.id.unwrap_or_default(),
            language: row.language.unwrap_or_default(),
            question: row.question.unwrap_or_default(),
            answer: row.answer.unwrap_or_default(),
            tags: row.tags.join(";"),
        };
        match raw.validate(path, &mut seen) {
            Ok(entry) => report.faq.push(entry),
            Err(message) => report.errors.push(RowError {
                file: path.display().to_string(),
                line: None,
                message: format!("entry {}: {message}", index + 1),
            }),
        }
    }
}

struct RawFaq {
    id: String,
    language: String,
    question: String,
    answer: String,
    tags: String,
}

impl RawFaq {
    fn validate(
        self,
        path: &Path,
        seen: &mut HashSet<(String, Language)>,
    ) -> Result<FaqEntry, String> {
        let question = self.question.trim().to_owned();
        let answer = self.answer.trim().to_owned();
        if question.is_empty() {
            return Err("question is empty; every FAQ row needs a question".into());
        }
        if answer.is_empty() {
            return Err(format!(
                "answer for {question:?} is empty; add the answer text"
            ));
        }
        if answer.chars().count() > MAX_TEXT_CHARS {
            return Err(format!(
                "answer is longer than {MAX_TEXT_CHARS} characters; shorten it"
            ));
        }
        let language = match self.language.trim() {
            "" => Language::English,
            code => code.parse::<Language>().map_err(|e| e.to_string())?,
        };
        let id = match self.id.trim() {
            "" => slug(&question),
            id if id.len() > 128 => return Err(format!("id {id:?} is over 128 characters")),
            id => id.to_owned(),
        };
        if !seen.insert((id.clone(), language)) {
            return Err(format!(
                "id {id:?} appears twice for language {language}; keep one row"
            ));
        }
        let tags = self
            .tags
            .split([';', ','])
            .map(|t| t.trim().to_ascii_lowercase())
            .filter(|t| !t.is_empty())
            .collect();
        let source = path.display().to_string();
        Ok(FaqEntry {
            id,
            language,
            question,
            answer,
            tags,
            reviewed: true,
            source,
        })
    }
}

fn load_orders_csv(
    path: &Path,
    headers: &[String],
    mut reader: csv::Reader<&[u8]>,
    report: &mut LoadReport,
) {
    for record in reader.records() {
        let record = match record {
            Ok(record) => record,
            Err(error) => {
                report
                    .errors
                    .push(row_error(path, error.position().map(|p| p.line()), error));
                continue;
            }
        };
        let line = record.position().map(|p| p.line());
        let field = |name: &str| column(headers, &record, name);
        let order = Order {
            order_number: field("order_number")
                .trim()
                .trim_start_matches('#')
                .to_owned(),
            email: field("email").trim().to_ascii_lowercase(),
            phone: field("phone"),
            status: field("status"),
            carrier: field("carrier"),
            tracking_number: field("tracking_number"),
            ordered_on: field("ordered_on"),
            shipped_on: field("shipped_on"),
            estimated_delivery: field("estimated_delivery"),
            destination_country: field("destination_country"),
            items: field("items"),
            source: path.display().to_string(),
        };
        match validate_order(&order) {
            Ok(()) => report.orders.push(order),
            Err(message) => report.errors.push(row_error(path, line, message)),
        }
    }
}

fn validate_order(order: &Order) -> Result<(), String> {
    let number = &order.order_number;
    if number.is_empty() || number.len() > 64 {
        return Err(format!(
            "order_number {number:?} must be 1 to 64 characters"
        ));
    }
    if !number
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '-')
    {
        return Err(format!(
            "order_number {number:?} may contain only letters, digits and '-'"
        ));
    }
    if !order.email.contains('@') || order.email.contains(char::is_whitespace) {
        return Err(format!(
            "email {:?} of order {number} is not an e-mail address",
            order.email
        ));
    }
    if order.status.trim().is_empty() {
        return Err(format!(
            "status of order {number} is empty; add e.g. shipped"
        ));
    }
    Ok(())
}

/// Splits a document into passages at Markdown headings (`#`, `##`, `###`),
/// HTML headings or blank-line paragraphs, merging short sections and
/// splitting long ones.
fn split_document(path: &Path, text: &str, extension: &str, language: Language) -> Vec<Passage> {
    let document = path
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("document")
        .split('.')
        .next()
        .unwrap_or("document")
        .to_ascii_lowercase();
    let plain = if matches!(extension, "html" | "htm") {
        html_to_text(text)
    } else {
        text.into()
    };
    let title = plain
        .lines()
        .find(|l| !l.trim().is_empty())
        .map(|l| l.trim().trim_start_matches('#').trim().to_owned())
        .unwrap_or_else(|| document.clone());

    let mut passages = Vec::new();
    for (heading, body) in sections(&plain) {
        for chunk in chunk_paragraphs(&body) {
            let section_title = match &heading {
                Some(h) if *h != title => format!("{title}: {h}"),
                _ => title.clone(),
            };
            passages.push(Passage {
                id: format!("{document}#{}", passages.len() + 1),
                document: document.clone(),
                language,
                title: section_title,
                body: chunk,
                source: path.display().to_string(),
            });
        }
    }
    passages
}

fn sections(text: &str) -> Vec<(Option<String>, String)> {
    let mut sections = Vec::new();
    let mut heading = None;
    let mut body = String::new();
    for line in text.lines() {
        if line.starts_with('#') {
            if !body.trim().is_empty() {
                sections.push((heading.clone(), body.trim().to_owned()));
            }
            heading = Some(line.trim_start_matches('#').trim().to_owned());
            body.clear();
        } else {
            body.push_str(line);
            body.push('\n');
        }
    }
    if !body.trim().is_empty() {
        sections.push((heading, body.trim().to_owned()));
    }
    sections
}

fn chunk_paragraphs(body: &str) -> Vec<String> {
    let mut chunks = Vec::new();
    let mut current = String::new();
    for paragraph in body.split("\n\n").map(str::trim).filter(|p| !p.is_empty()) {
        let too_long = current.chars().count() + paragraph.chars().count() > PASSAGE_TARGET_CHARS;
        if too_long && !current.is_empty() {
            chunks.push(std::mem::take(&mut current));
        }
        if !current.is_empty() {
            current.push_str("\n\n");
        }
        current.push_str(paragraph);
    }
    if !current.is_empty() {
        chunks.push(current);
    }
    chunks
}

/// Keeps the text of an HTML page: drops scripts, styles and tags, turns
/// headings into Markdown headings, decodes the common entities.
fn html_to_text(html: &str) -> String {
    let without_code = regex::Regex::new(r"(?is)<(script|style)[^>]*>.*?</(script|style)>")
        .expect("static regex is valid")
        .replace_all(html, " ");
    let headings = regex::Regex::new(r"(?i)<h([1-6])[^>]*>")
        .expect("static regex is valid")
        .replace_all(&without_code, "\n\n## ");
    let breaks = regex::Regex::new(r"(?i)</(p|div|h[1-6]|li|tr|table)>|<br\s*/?>")
        .expect("static regex is valid")
        .replace_all(&headings, "\n\n");
    let text = regex::Regex::new(r"<[^>]*>")
        .expect("static regex is valid")
        .replace_all(&breaks, " ");
    text.replace("&nbsp;", " ")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
}

fn language_from_name(path: &Path) -> Option<Language> {
    let stem = path.file_stem()?.to_str()?;
    let (_, code) = stem.rsplit_once('.')?;
    code.parse().ok()
}

fn column(headers: &[String], record: &csv::StringRecord, name: &str) -> String {
    headers
        .iter()
        .position(|h| h == name)
        .and_then(|i| record.get(i))
        .unwrap_or_default()
        .to_owned()
}

fn slug(text: &str) -> String {
    let slug: String = text
        .chars()
        .map(|c| {
            if c.is_alphanumeric() {
                c.to_lowercase().next().unwrap_or(c)
            } else {
                '-'
            }
        })
        .collect();
    let slug = slug
        .split('-')
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join("-");
    slug.chars().take(64).collect()
}

fn file_error(path: &Path, message: String) -> RowError {
    RowError {
        file: path.display().to_string(),
        line: None,
        message,
    }
}

fn row_error(path: &Path, line: Option<u64>, message: impl ToString) -> RowError {
    RowError {
        file: path.display().to_string(),
        line,
        message: message.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    #[test]
    fn bad_faq_rows_do_not_lose_good_rows() {
        let dir = tempfile::tempdir().unwrap();
        let csv = "id,language,question,answer,tags\n\
                   moq,en,What is the MOQ?,200 pieces per model.,moq\n\
                   moq,xx,¿Pedido?,200 piezas.,moq\n\
                   ,en,,No question here.,\n\
                   moq,es,¿Cuál es el pedido mínimo?,200 piezas por modelo.,moq\n";
        let path = write(dir.path(), "faq.csv", csv);
        let report = load_paths(&[path], Language::English);
        assert_eq!(report.faq.len(), 2);
        assert_eq!(report.errors.len(), 2);
        assert!(
            report.errors[0].message.contains("\"xx\""),
            "{:?}",
            report.errors
        );
        assert_eq!(report.errors[0].line, Some(3));
    }

    #[test]
    fn orders_need_an_email() {
        let dir = tempfile::tempdir().unwrap();
        let csv = "order_number,email,status\nA1,a@example.com,shipped\nA2,nobody,shipped\n";
        let path = write(dir.path(), "orders.csv", csv);
        let report = load_paths(&[path], Language::English);
        assert_eq!(report.orders.len(), 1);
        assert!(report.errors[0].message.contains("nobody"));
    }

    #[test]
    fn markdown_splits_at_headings() {
        let dir = tempfile::tempdir().unwrap();
        let md =
            "# Lamp (Model X)\n\nIntro text.\n\n## Specs\n\nPower 100 W.\n\n## Prices\n\n$5.\n";
        let path = write(dir.path(), "lamp.es.md", md);
        let report = load_paths(&[path], Language::English);
        let titles: Vec<&str> = report.passages.iter().map(|p| p.title.as_str()).collect();
        assert_eq!(
            titles,
            [
                "Lamp (Model X)",
                "Lamp (Model X): Specs",
                "Lamp (Model X): Prices"
            ]
        );
        assert!(
            report
                .passages
                .iter()
                .all(|p| p.language == Language::Spanish)
        );
    }

    #[test]
    fn unsupported_type_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(dir.path(), "faq.xlsx", "x");
        let report = load_paths(&[path], Language::English);
        assert!(report.errors[0].message.contains("unsupported file type"));
    }
}
