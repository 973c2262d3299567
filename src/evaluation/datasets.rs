//! Readers for the four public data sets, read in place from the data
//! folder (each folder's SOURCE.md gives its origin and licence).
//!
//! * `tatoeba-dev/tatoeba.XXX-eng.{XXX,eng}`: line-aligned sentence pairs,
//!   ISO 639-3 file names.
//! * `bitext-customer-support/Bitext_Sample_Customer_Support_Training_Dataset.csv`:
//!   utterance (`instruction`), `intent` and agent `response` per row.
//! * `clinc150/data/data_full.json`: `[utterance, intent]` pairs per split.
//! * `xquad-r/xquad-r/XX.json.gz`: SQuAD v1.1 JSON per language, question
//!   ids shared across languages.

use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::EvalError;

/// Reads the non-empty lines of one side of a Tatoeba pair file, such as
/// `tatoeba.deu-eng.deu` for `pair = "deu"` and `side = "deu"`.
pub fn tatoeba_lines(data_dir: &Path, pair: &str, side: &str) -> Result<Vec<String>, EvalError> {
    let path = data_dir
        .join("tatoeba-dev")
        .join(format!("tatoeba.{pair}-eng.{side}"));
    let text = read_text(&path)?;
    Ok(text
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .map(str::to_owned)
        .collect())
}

/// One Bitext row: a customer utterance, its intent and the agent's reply.
#[derive(Debug, Clone, Deserialize)]
pub struct BitextRow {
    pub instruction: String,
    pub intent: String,
    pub response: String,
}

/// Reads every Bitext row.
pub fn bitext(data_dir: &Path) -> Result<Vec<BitextRow>, EvalError> {
    let path = data_dir
        .join("bitext-customer-support")
        .join("Bitext_Sample_Customer_Support_Training_Dataset.csv");
    let text = read_text(&path)?;
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    reader
        .deserialize()
        .collect::<Result<Vec<BitextRow>, _>>()
        .map_err(|error| parse_error(&path, error))
}

/// CLINC150 (`data_full.json`): `(utterance, intent)` pairs per split; the
/// out-of-scope splits have intent `oos`.
#[derive(Debug, Deserialize)]
pub struct Clinc {
    pub train: Vec<(String, String)>,
    pub val: Vec<(String, String)>,
    pub test: Vec<(String, String)>,
    pub oos_val: Vec<(String, String)>,
    pub oos_test: Vec<(String, String)>,
}

/// Reads CLINC150's full split.
pub fn clinc(data_dir: &Path) -> Result<Clinc, EvalError> {
    let path = data_dir
        .join("clinc150")
        .join("data")
        .join("data_full.json");
    let text = read_text(&path)?;
    serde_json::from_str(&text).map_err(|error| parse_error(&path, error))
}

/// One XQuAD-R language file, flattened.
#[derive(Debug, Clone)]
pub struct Xquad {
    /// `(key, context)`; the key `article#paragraph` is the same for the
    /// same paragraph in every language.
    pub paragraphs: Vec<(String, String)>,
    pub questions: Vec<XquadQuestion>,
}

/// A question and the key of the paragraph that answers it.
#[derive(Debug, Clone)]
pub struct XquadQuestion {
    pub id: String,
    pub text: String,
    pub paragraph: String,
}

#[derive(Deserialize)]
struct SquadFile {
    data: Vec<SquadArticle>,
}

#[derive(Deserialize)]
struct SquadArticle {
    paragraphs: Vec<SquadParagraph>,
}

#[derive(Deserialize)]
struct SquadParagraph {
    context: String,
    qas: Vec<SquadQuestion>,
}

#[derive(Deserialize)]
struct SquadQuestion {
    id: String,
    question: String,
}

/// Reads `xquad-r/xquad-r/<code>.json.gz`.
pub fn xquad(data_dir: &Path, code: &str) -> Result<Xquad, EvalError> {
    let path = xquad_path(data_dir, code);
    let file = std::fs::File::open(&path).map_err(|source| read_error(&path, source))?;
    let mut text = String::new();
    flate2::read::GzDecoder::new(file)
        .read_to_string(&mut text)
        .map_err(|source| read_error(&path, source))?;
    let squad: SquadFile =
        serde_json::from_str(&text).map_err(|error| parse_error(&path, error))?;

    let mut set = Xquad {
        paragraphs: Vec::new(),
        questions: Vec::new(),
    };
    for (article_index, article) in squad.data.into_iter().enumerate() {
        for (paragraph_index, paragraph) in article.paragraphs.into_iter().enumerate() {
            let key = format!("{article_index}#{paragraph_index}");
            set.questions
                .extend(paragraph.qas.into_iter().map(|qa| XquadQuestion {
                    id: qa.id,
                    text: qa.question,
                    paragraph: key.clone(),
                }));
            set.paragraphs.push((key, paragraph.context));
        }
    }
    Ok(set)
}

impl Xquad {
    /// Indexes the questions by id.
    pub fn by_id(&self) -> HashMap<&str, &XquadQuestion> {
        self.questions.iter().map(|q| (q.id.as_str(), q)).collect()
    }
}

fn xquad_path(data_dir: &Path, code: &str) -> PathBuf {
    data_dir
        .join("xquad-r")
        .join("xquad-r")
        .join(format!("{code}.json.gz"))
}

fn read_text(path: &Path) -> Result<String, EvalError> {
    std::fs::read_to_string(path).map_err(|source| read_error(path, source))
}

fn read_error(path: &Path, source: std::io::Error) -> EvalError {
    EvalError::Read {
        path: path.display().to_string(),
        source,
    }
}

fn parse_error(path: &Path, error: impl std::fmt::Display) -> EvalError {
    EvalError::Parse {
        path: path.display().to_string(),
        message: error.to_string(),
    }
}
