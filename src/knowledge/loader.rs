//! Reading knowledge files: FAQ (CSV or JSON), product documents (Markdown,
//! HTML or plain text) and orders (CSV).
//!
//! Every row is validated on its own: a bad row becomes a [`RowError`] with
//! its file, line and the fix, and the good rows are still loaded. A file of
//! an unsupported type is an error for that file only.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::{FaqEntry, Order, Passage};
use crate::language::Language;

/// Longest FAQ answer or passage accepted, in characters.
const MAX_TEXT_CHARS: usize = 8_000;
/// Passages longer than this are split at paragraph boundaries, in characters.
const PASSAGE_TARGET_CHARS: usize = 1_200;
/// Longest FAQ id, in characters.
const MAX_ID_CHARS: usize = 128;
/// The statuses an order may have, as stored (lower case).
const ORDER_STATUSES: [&str; 7] = [
    "pending_payment",
    "in_production",
    "ready_to_ship",
    "shipped",
    "in_transit",
    "delivered",
    "cancelled",
];
/// FAQ columns that contain one short token. A line break or a double quote
/// in one of them means that a quoted value before it was not closed.
const FAQ_TOKEN_COLUMNS: [&str; 3] = ["id", "language", "tags"];
/// Order columns that contain one short token, as for [`FAQ_TOKEN_COLUMNS`].
const ORDER_TOKEN_COLUMNS: [&str; 4] = ["order_number", "email", "phone", "status"];

/// The first row of each order number in one upload, keyed by the upper-case
/// order number (lookups ignore case), as file and line.
type FirstOrderRows = HashMap<String, (String, Option<u64>)>;

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
    let mut first_orders = FirstOrderRows::new();
    for path in paths {
        if path.is_dir() {
            load_folder(path, default_language, &mut first_orders, &mut report);
        } else {
            load_file(path, default_language, &mut first_orders, &mut report);
        }
    }
    report
}

fn load_folder(
    folder: &Path,
    default_language: Language,
    first_orders: &mut FirstOrderRows,
    report: &mut LoadReport,
) {
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
            load_folder(&path, default_language, first_orders, report);
        } else {
            load_file(&path, default_language, first_orders, report);
        }
    }
}

fn load_file(
    path: &Path,
    default_language: Language,
    first_orders: &mut FirstOrderRows,
    report: &mut LoadReport,
) {
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
        "csv" => load_csv(path, &text, first_orders, report),
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

fn load_csv(path: &Path, text: &str, first_orders: &mut FirstOrderRows, report: &mut LoadReport) {
    // The reader is strict: a row with more or fewer fields than the header
    // is an error for that row.
    let mut reader = csv::ReaderBuilder::new()
        .flexible(false)
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
        load_orders_csv(path, &headers, reader, first_orders, report);
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
                report.errors.push(csv_error(path, &error));
                continue;
            }
        };
        let line = record.position().map(|p| p.line());
        let tokens = FAQ_TOKEN_COLUMNS.as_slice();
        if let Some(message) = open_quote_problem(headers, &record, line, tokens, &["question"]) {
            report.errors.push(row_error(path, line, message));
            continue;
        }
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
        let id = faq_id(&self.id, &question)?;
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

/// Returns the id of an FAQ row: the given one when it is a slug, or one made
/// from the question when none is given.
fn faq_id(given: &str, question: &str) -> Result<String, String> {
    match given.trim() {
        "" => Ok(slug(question)),
        id if is_slug(id) => Ok(id.to_owned()),
        id => Err(format!(
            "id {id:?} must be 1 to {MAX_ID_CHARS} lowercase ASCII letters, digits and '-', \
             such as moq-standard; rename it"
        )),
    }
}

fn load_orders_csv(
    path: &Path,
    headers: &[String],
    mut reader: csv::Reader<&[u8]>,
    first_orders: &mut FirstOrderRows,
    report: &mut LoadReport,
) {
    for record in reader.records() {
        let record = match record {
            Ok(record) => record,
            Err(error) => {
                report.errors.push(csv_error(path, &error));
                continue;
            }
        };
        let line = record.position().map(|p| p.line());
        let tokens = ORDER_TOKEN_COLUMNS.as_slice();
        if let Some(message) = open_quote_problem(headers, &record, line, tokens, &[]) {
            report.errors.push(row_error(path, line, message));
            continue;
        }
        let order = order_from_record(path, headers, &record);
        // An order number counts as taken by its first row even when that row is
        // rejected for another value, so fixing that row never creates a duplicate.
        let file = path.display().to_string();
        let checked = check_order_number(&order)
            .and_then(|()| check_unique(&order, file, line, first_orders))
            .and_then(|()| validate_order(&order));
        match checked {
            Ok(()) => report.orders.push(order),
            Err(message) => report.errors.push(row_error(path, line, message)),
        }
    }
}

/// Builds an order from a CSV row: trims every value, stores the status in
/// lower case and the country code in upper case.
fn order_from_record(path: &Path, headers: &[String], record: &csv::StringRecord) -> Order {
    let field = |name: &str| column(headers, record, name).trim().to_owned();
    Order {
        order_number: field("order_number").trim_start_matches('#').to_owned(),
        email: field("email").to_ascii_lowercase(),
        phone: field("phone"),
        status: field("status").to_ascii_lowercase(),
        carrier: field("carrier"),
        tracking_number: field("tracking_number"),
        ordered_on: field("ordered_on"),
        shipped_on: field("shipped_on"),
        estimated_delivery: field("estimated_delivery"),
        destination_country: field("destination_country").to_ascii_uppercase(),
        items: field("items"),
        source: path.display().to_string(),
    }
}

fn check_order_number(order: &Order) -> Result<(), String> {
    let number = &order.order_number;
    if number.is_empty() || number.len() > 64 {
        return Err(format!(
            "order_number {number:?} must be 1 to 64 characters"
        ));
    }
    if !is_order_number(number) {
        return Err(format!(
            "order_number {number:?} may contain only letters, digits and '-'"
        ));
    }
    Ok(())
}

/// Checks every value of an order except its number.
fn validate_order(order: &Order) -> Result<(), String> {
    let number = &order.order_number;
    if !is_email(&order.email) {
        return Err(format!(
            "email {:?} of order {number} is invalid; write it as name@domain.com, \
             with a dot in the part after '@'",
            order.email
        ));
    }
    if !ORDER_STATUSES.contains(&order.status.as_str()) {
        return Err(format!(
            "status {:?} of order {number} is invalid; use one of {}",
            order.status,
            ORDER_STATUSES.join(", ")
        ));
    }
    check_dates(order)?;
    check_country(order)
}

/// Rejects the second and later rows of one order number in an upload.
fn check_unique(
    order: &Order,
    file: String,
    line: Option<u64>,
    first_orders: &mut FirstOrderRows,
) -> Result<(), String> {
    let key = order.order_number.to_ascii_uppercase();
    let Some((first_file, first_line)) = first_orders.get(&key) else {
        first_orders.insert(key, (file, line));
        return Ok(());
    };
    let place = match first_line {
        Some(first_line) => format!("line {first_line} of {first_file}"),
        None => first_file.clone(),
    };
    Err(format!(
        "order_number {:?} already appears on {place}; keep one row per order and \
         delete or renumber this one",
        order.order_number
    ))
}

/// Checks that each date, when present, is a real YYYY-MM-DD date and that
/// the order is dated before it ships and ships before it arrives.
fn check_dates(order: &Order) -> Result<(), String> {
    let number = &order.order_number;
    let dates = [
        ("ordered_on", &order.ordered_on),
        ("shipped_on", &order.shipped_on),
        ("estimated_delivery", &order.estimated_delivery),
    ];
    for (name, value) in dates {
        if !value.is_empty() && !is_iso_date(value) {
            return Err(format!(
                "{name} {value:?} of order {number} is an invalid date; write it as \
                 YYYY-MM-DD with a real month and day, such as 2026-08-03"
            ));
        }
    }
    let (ordered, shipped) = (&order.ordered_on, &order.shipped_on);
    // Valid YYYY-MM-DD dates sort as text in date order.
    if !ordered.is_empty() && !shipped.is_empty() && shipped < ordered {
        return Err(format!(
            "shipped_on {shipped} of order {number} is before ordered_on {ordered}; \
             fix one of the two dates"
        ));
    }
    let (name, start) = if shipped.is_empty() {
        ("ordered_on", ordered)
    } else {
        ("shipped_on", shipped)
    };
    let delivery = &order.estimated_delivery;
    if !start.is_empty() && !delivery.is_empty() && delivery < start {
        return Err(format!(
            "estimated_delivery {delivery} of order {number} is before {name} {start}; \
             fix one of the two dates"
        ));
    }
    Ok(())
}

fn check_country(order: &Order) -> Result<(), String> {
    let country = &order.destination_country;
    if country.is_empty()
        || (country.len() == 2 && country.chars().all(|c| c.is_ascii_alphabetic()))
    {
        return Ok(());
    }
    Err(format!(
        "destination_country {country:?} of order {} is invalid; write a two-letter \
         ISO 3166 country code such as DE, US or SA",
        order.order_number
    ))
}

/// Returns whether `text` is a date written YYYY-MM-DD with a month from 1 to
/// 12 and a day that exists in that month (29 February only in leap years).
fn is_iso_date(text: &str) -> bool {
    let bytes = text.as_bytes();
    let shape = bytes.len() == 10
        && bytes[4] == b'-'
        && bytes[7] == b'-'
        && bytes
            .iter()
            .enumerate()
            .all(|(i, b)| i == 4 || i == 7 || b.is_ascii_digit());
    if !shape {
        return false;
    }
    let number = |range: std::ops::Range<usize>| text[range].parse::<u32>().unwrap_or(0);
    let (year, month, day) = (number(0..4), number(5..7), number(8..10));
    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    let days = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return false,
    };
    (1..=days).contains(&day)
}

fn is_order_number(text: &str) -> bool {
    !text.is_empty()
        && text.len() <= 64
        && text.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
}

/// Returns whether `text` has a non-empty name before its last '@', a domain
/// with a dot inside it after that, and no whitespace.
fn is_email(text: &str) -> bool {
    let Some((name, domain)) = text.rsplit_once('@') else {
        return false;
    };
    !name.is_empty()
        && !text.contains(char::is_whitespace)
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
}

/// Returns whether `text` is 1 to [`MAX_ID_CHARS`] lowercase ASCII letters,
/// digits and '-'.
fn is_slug(text: &str) -> bool {
    !text.is_empty()
        && text.len() <= MAX_ID_CHARS
        && text
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

/// Finds a value that shows a quoted value was not closed, and returns the
/// error message for it. The signs are a line break or a double quote in a
/// token column, a line break in a `single_line` column, and a line in any
/// other column that starts like the next row.
fn open_quote_problem(
    headers: &[String],
    record: &csv::StringRecord,
    line: Option<u64>,
    tokens: &[&str],
    single_line: &[&str],
) -> Option<String> {
    let (name, value, reason) = headers
        .iter()
        .zip(record.iter())
        .find_map(|(name, value)| {
            let name = name.as_str();
            let reason = if tokens.contains(&name) {
                value
                    .contains(['\n', '\r', '"'])
                    .then_some("contains a line break or a double quote")
            } else if single_line.contains(&name) {
                value
                    .contains(['\n', '\r'])
                    .then_some("contains a line break")
            } else {
                let swallowed = value
                    .lines()
                    .skip(1)
                    .any(|l| looks_like_row_start(headers, l));
                swallowed.then_some("continues with what looks like the next row")
            };
            reason.map(|reason| (name, value, reason))
        })?;
    let preview: String = value.chars().take(60).collect();
    let at = line.map_or_else(|| "this row".to_owned(), |l| format!("line {l}"));
    Some(format!(
        "{name} {preview:?} {reason}, so a double quote is probably not closed on or \
         before {at}; close it, and write a double quote inside a quoted value as two (\"\")"
    ))
}

/// Returns whether a line inside a value starts like a row of this file, that
/// is, its first two comma-separated values fit the first two columns.
// NOTE: a swallowed row goes unnoticed here when one of the file's first two
// columns is a free-text column or the swallowed row leaves one of them empty.
fn looks_like_row_start(headers: &[String], line: &str) -> bool {
    let parts: Vec<&str> = line.splitn(3, ',').collect();
    parts.len() == 3
        && headers.len() > 2
        && fits_column(&headers[0], parts[0]) == Some(true)
        && fits_column(&headers[1], parts[1]) == Some(true)
}

/// Returns whether `value` has the shape of column `name`, or `None` for a
/// free-text column.
fn fits_column(name: &str, value: &str) -> Option<bool> {
    let fits = match name {
        "id" => is_slug(value),
        "language" => {
            value.bytes().all(|b| b.is_ascii_lowercase()) && value.parse::<Language>().is_ok()
        }
        "order_number" => is_order_number(value.trim_start_matches('#')),
        "email" => is_email(value),
        "status" => ORDER_STATUSES.contains(&value.to_ascii_lowercase().as_str()),
        _ => return None,
    };
    Some(fits)
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

/// Makes an id from a question: its ASCII letters and digits in lower case,
/// words joined by '-', at most 64 characters. Non-ASCII letters are left
/// out. When nothing remains, the id is `faq-` and the first 12 hex digits of
/// the question's SHA-256.
fn slug(text: &str) -> String {
    let words: String = text
        .chars()
        .filter_map(|c| match c {
            c if c.is_ascii_alphanumeric() => Some(c.to_ascii_lowercase()),
            c if c.is_alphanumeric() => None,
            _ => Some('-'),
        })
        .collect();
    let joined = words
        .split('-')
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join("-");
    let slug: String = joined.chars().take(64).collect();
    let slug = slug.trim_end_matches('-');
    if !slug.is_empty() {
        return slug.to_owned();
    }
    let digest = Sha256::digest(text.as_bytes());
    let hex: String = digest.iter().take(6).map(|b| format!("{b:02x}")).collect();
    format!("faq-{hex}")
}

fn file_error(path: &Path, message: String) -> RowError {
    RowError {
        file: path.display().to_string(),
        line: None,
        message,
    }
}

/// Turns an error of the CSV reader into a row error with the fix.
fn csv_error(path: &Path, error: &csv::Error) -> RowError {
    let line = error.position().map(|p| p.line());
    let message = match error.kind() {
        csv::ErrorKind::UnequalLengths {
            expected_len, len, ..
        } => format!(
            "row has {len} fields but the header has {expected_len}; enclose a value \
             that contains a comma in double quotes, close every opened quote, and \
             give the row one value per column (empty values too)"
        ),
        _ => format!("{error}; fix the row"),
    };
    row_error(path, line, message)
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

    const FAQ_HEADER: &str = "id,language,question,answer,tags\n";
    const ORDER_HEADER: &str = "order_number,email,status,ordered_on,shipped_on,\
                                estimated_delivery,destination_country\n";

    fn load_one(name: &str, text: &str) -> LoadReport {
        let dir = tempfile::tempdir().unwrap();
        let path = write(dir.path(), name, text);
        load_paths(&[path], Language::English)
    }

    fn order_rows(rows: &str) -> LoadReport {
        load_one("orders.csv", &format!("{ORDER_HEADER}{rows}"))
    }

    fn only_error(report: &LoadReport) -> &RowError {
        assert_eq!(report.errors.len(), 1, "{:?}", report.errors);
        &report.errors[0]
    }

    #[test]
    fn row_with_wrong_field_count_is_rejected() {
        let csv = format!(
            "{FAQ_HEADER}moq,en,What is the MOQ?,200 pieces,moq\n\
             lead,en,Lead time?,30 days,lead-time,extra\n\
             pay,en,Payment?,30% deposit\n\
             ship,en,Shipping?,By sea.,shipping\n"
        );
        let report = load_one("faq.csv", &csv);
        assert_eq!(report.faq.len(), 2);
        assert_eq!(report.errors.len(), 2, "{:?}", report.errors);
        assert_eq!(report.errors[0].line, Some(3));
        assert!(
            report.errors[0]
                .message
                .contains("row has 6 fields but the header has 5")
        );
        assert_eq!(report.errors[1].line, Some(4));
        assert!(report.errors[1].message.contains("row has 4 fields"));
        assert!(report.errors[1].file.ends_with("faq.csv"));
    }

    #[test]
    fn unclosed_quote_in_answer_is_reported() {
        // The quote opened on line 2 is closed by a stray quote on line 3, so
        // the row has the right number of fields and swallows line 3.
        let csv = format!(
            "{FAQ_HEADER}moq,en,What is the MOQ?,\"200 pieces, per model.,moq\n\
             lead,en,Lead time?,30 days\",lead-time\n\
             ship,en,Shipping?,By sea.,shipping\n"
        );
        let report = load_one("faq.csv", &csv);
        let error = only_error(&report);
        assert_eq!(error.line, Some(2));
        assert!(error.message.starts_with("answer "), "{error:?}");
        assert!(error.message.contains("not closed on or before line 2"));
        assert_eq!(report.faq.len(), 1);
        assert_eq!(report.faq[0].id, "ship");
        // When the swallowed text changes the field count, that error names the quote too.
        let csv = format!(
            "{FAQ_HEADER}moq,en,What is the MOQ?,\"200 pieces, per model.,moq\n\
             pay,en,Payment?,\"30% deposit, 70% later\",payment\n"
        );
        let error = &load_one("faq.csv", &csv).errors[0];
        assert_eq!(error.line, Some(2));
        assert!(
            error.message.contains("close every opened quote"),
            "{error:?}"
        );
    }

    #[test]
    fn faq_line_break_and_quote() {
        let csv = format!(
            "{FAQ_HEADER}moq,en,\"What is\nthe MOQ?\",200 pieces.,moq\n\
             \"lead\"\"\",en,Lead time?,30 days.,lead-time\n\
             ip,en,What does \"\"IP65\"\" mean?,\"Dust-tight.\nWater jets.\",products\n"
        );
        let report = load_one("faq.csv", &csv);
        assert_eq!(report.errors.len(), 2, "{:?}", report.errors);
        assert_eq!(report.errors[0].line, Some(2));
        assert!(report.errors[0].message.starts_with("question "));
        assert_eq!(report.errors[1].line, Some(4));
        assert!(
            report.errors[1]
                .message
                .contains("not closed on or before line 4")
        );
        // A quote inside the question and a line break inside the answer are fine.
        assert_eq!(report.faq.len(), 1);
        assert_eq!(report.faq[0].answer, "Dust-tight.\nWater jets.");
    }

    #[test]
    fn faq_id_must_be_a_slug() {
        let long = "a".repeat(129);
        let csv = format!(
            "{FAQ_HEADER}Moq_Standard,en,What is the MOQ?,200 pieces.,moq\n\
             {long},en,Lead time?,30 days.,lead-time\n\
             moq-standard-2,en,What is the MOQ?,200 pieces.,moq\n"
        );
        let report = load_one("faq.csv", &csv);
        assert_eq!(report.faq.len(), 1);
        assert_eq!(report.errors.len(), 2, "{:?}", report.errors);
        let message = &report.errors[0].message;
        assert!(message.contains("\"Moq_Standard\""), "{message}");
        assert!(message.contains("lowercase ASCII letters, digits and '-'"));
        assert_eq!(report.errors[1].line, Some(3));
    }

    #[test]
    fn generated_ids_are_ascii_slugs() {
        assert_eq!(slug("¿Cuál es el pedido mínimo?"), "cul-es-el-pedido-mnimo");
        assert_eq!(
            slug("What is the MOQ for KB-HB150?"),
            "what-is-the-moq-for-kb-hb150"
        );
        let chinese = slug("最小订购量是多少？");
        assert!(
            chinese.starts_with("faq-") && chinese.len() == 16,
            "{chinese}"
        );
        assert!(is_slug(&chinese));
        assert_eq!(chinese, slug("最小订购量是多少？"));
        assert_ne!(chinese, slug("样品多少钱？"));
        let csv = format!("{FAQ_HEADER},ja,最低注文数量は？,200個です。,moq\n");
        let report = load_one("faq.csv", &csv);
        assert!(is_slug(&report.faq[0].id), "{:?}", report.faq[0].id);
    }

    #[test]
    fn duplicate_order_numbers_name_the_first_row() {
        let dir = tempfile::tempdir().unwrap();
        let first = write(
            dir.path(),
            "a.csv",
            "order_number,email,status\nA1,a@example.com,shipped\nA2,b@example.com,shipped\n",
        );
        let second = write(
            dir.path(),
            "b.csv",
            "order_number,email,status\na1,c@example.com,shipped\n#A2,d@example.com,shipped\n\
             A1,e@example.com,delivered\n",
        );

        let report = load_paths(&[first.clone(), second], Language::English);

        assert_eq!(report.orders.len(), 2);
        assert_eq!(report.errors.len(), 3, "{:?}", report.errors);

        let first_file = first.display().to_string();
        assert!(
            report.errors[0]
                .message
                .contains(&format!("line 2 of {first_file}"))
        );
        assert!(
            report.errors[1]
                .message
                .contains(&format!("line 3 of {first_file}"))
        );
        assert!(
            report.errors[2]
                .message
                .contains(&format!("line 2 of {first_file}"))
        );
        assert_eq!(report.errors[2].line, Some(4));
        assert!(report.errors[2].file.ends_with("b.csv"));
    }

    #[test]
    fn rejected_first_order_still_counts() {
        let report = order_rows("A1,nobody,shipped,,,,\nA1,a@example.com,shipped,,,,\n");

        assert!(report.orders.is_empty());
        assert_eq!(report.errors.len(), 2, "{:?}", report.errors);
        assert!(report.errors[0].message.starts_with("email \"nobody\""));
        assert!(
            report.errors[1]
                .message
                .contains("already appears on line 2")
        );
    }

    #[test]
    fn order_status_must_be_a_known_one() {
        let report = order_rows("A1,a@example.com,Shipped,,,,\nA2,b@example.com,lost,,,,\n");
        assert_eq!(report.orders.len(), 1);
        assert_eq!(report.orders[0].status, "shipped");
        let error = only_error(&report);
        assert!(error.message.contains("\"lost\""));
        assert!(error.message.contains("pending_payment, in_production"));
        assert!(error.message.contains("delivered, cancelled"));
    }

    #[test]
    fn order_dates_must_be_real_and_in_order() {
        let rows = "A1,a@example.com,shipped,2028-02-10,2028-02-29,2028-03-20,DE\n\
                    A2,a@example.com,shipped,2026-02-10,2026-02-29,,DE\n\
                    A3,a@example.com,shipped,2026-13-01,,,DE\n\
                    A4,a@example.com,shipped,2026-8-3,,,DE\n\
                    A5,a@example.com,shipped,2026-08-10,2026-08-09,,DE\n\
                    A6,a@example.com,shipped,2026-08-10,2026-08-20,2026-08-19,DE\n\
                    A7,a@example.com,in_production,2026-08-10,,2026-08-09,DE\n\
                    A8,a@example.com,in_production,2026-08-10,,2026-08-10,DE\n";
        let report = order_rows(rows);
        let loaded: Vec<&str> = report
            .orders
            .iter()
            .map(|o| o.order_number.as_str())
            .collect();
        assert_eq!(loaded, ["A1", "A8"]);
        let messages: Vec<&str> = report.errors.iter().map(|e| e.message.as_str()).collect();
        assert!(
            messages[0].starts_with("shipped_on \"2026-02-29\""),
            "{messages:?}"
        );
        assert!(messages[1].starts_with("ordered_on \"2026-13-01\""));
        assert!(messages[2].contains("YYYY-MM-DD"));
        assert!(messages[3].contains("before ordered_on 2026-08-10"));
        assert!(messages[4].contains("before shipped_on 2026-08-20"));
        assert!(messages[5].contains("before ordered_on 2026-08-10"));
        assert_eq!(report.errors[5].line, Some(8));
    }

    #[test]
    fn iso_dates_check_month_and_day() {
        for good in [
            "2026-01-31",
            "2024-02-29",
            "2000-02-29",
            "2026-04-30",
            "2026-12-31",
        ] {
            assert!(is_iso_date(good), "{good}");
        }
        for bad in [
            "2026-02-29",
            "1900-02-29",
            "2026-04-31",
            "2026-00-10",
            "2026-01-00",
            "2026/01/10",
            "26-01-10",
            "2026-1-10",
            "2026-01-1a",
            "",
        ] {
            assert!(!is_iso_date(bad), "{bad}");
        }
    }

    #[test]
    fn country_code_shape() {
        let report = order_rows(
            "A1,a@example.com,shipped,,,,de\nA2,a@example.com,shipped,,,,DEU\n\
             A3,a@example.com,shipped,,,,\nA4,a@example.com,shipped,,,,D1\n",
        );
        let countries: Vec<&str> = report
            .orders
            .iter()
            .map(|o| o.destination_country.as_str())
            .collect();
        assert_eq!(countries, ["DE", ""]);
        assert_eq!(report.errors.len(), 2, "{:?}", report.errors);
        assert!(report.errors[0].message.contains("\"DEU\""));
        assert!(report.errors[1].message.contains("two-letter ISO 3166"));
    }

    #[test]
    fn email_needs_a_dot_in_its_domain() {
        let report = order_rows(
            "A1,buyer@example,shipped,,,,\nA2,buyer@example.com,shipped,,,,\n\
             A3,@example.com,shipped,,,,\nA4,buyer@example.,shipped,,,,\n",
        );
        assert_eq!(report.orders.len(), 1);
        assert_eq!(report.errors.len(), 3, "{:?}", report.errors);
        assert!(report.errors[0].message.contains("\"buyer@example\""));
        assert!(report.errors[0].message.contains("dot"));
    }

    #[test]
    fn unclosed_quote_in_orders_is_reported() {
        let csv = "order_number,email,status,items\n\
                   A1,a@example.com,shipped,\"KB-HB150 x 400\n\
                   A2,b@example.com,shipped,KB-WP40 x 600\"\n\
                   A3,c@example.com\",shipped,KB-FL100 x 5\n\
                   A4,d@example.com,shipped,\"KB-SL60 x 200\"\n";
        let report = load_one("orders.csv", csv);
        let loaded: Vec<&str> = report
            .orders
            .iter()
            .map(|o| o.order_number.as_str())
            .collect();
        assert_eq!(loaded, ["A4"]);
        assert_eq!(report.errors.len(), 2, "{:?}", report.errors);
        assert_eq!(report.errors[0].line, Some(2));
        assert!(report.errors[0].message.starts_with("items "));
        assert!(
            report.errors[0]
                .message
                .contains("not closed on or before line 2")
        );
        assert_eq!(report.errors[1].line, Some(4));
        assert!(report.errors[1].message.starts_with("email "));
        assert!(
            report.errors[1]
                .message
                .contains("not closed on or before line 4")
        );
    }
}
