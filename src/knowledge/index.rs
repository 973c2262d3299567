//! The tantivy index over FAQ entries and product passages, and search.
//!
//! Each language has its own pair of text fields (`title_xx`, `body_xx`)
//! analysed with that language's analyzer; a document fills only the fields
//! of its own language, so a search in one language sees only documents in
//! that language. Searches run on a [`Snapshot`]: an index directory built in
//! full from the store, plus the entries it was built from. A rebuild writes
//! a new directory and swaps the snapshot; searches in flight keep the old one.
//!
//! Besides BM25, every hit gets a `coverage` built from the share of the
//! query's IDF-weighted terms that occur in the document and in its title. It
//! lies in 0..=1 whatever the query length, which makes it the score the chat
//! pipeline thresholds.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use tantivy::collector::{Count, TopDocs};
use tantivy::query::{BooleanQuery, BoostQuery, Occur, Query, TermQuery};
use tantivy::schema::{
    Field, IndexRecordOption, STORED, STRING, Schema, TextFieldIndexing, TextOptions, Value,
};
use tantivy::{Index, IndexReader, ReloadPolicy, TantivyDocument, Term, doc};
use tracing::{info, warn};

use super::analyzer::{analyzer, analyzer_name, terms};
use super::{FaqEntry, Passage, SourceKind};
use crate::language::Language;

/// Memory for the index writer while building, in bytes.
const WRITER_MEMORY_BYTES: usize = 50_000_000;

/// Weight of a match in a title (an FAQ question) relative to a body match.
const TITLE_BOOST: f32 = 2.0;

#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    #[error("index error: {0}")]
    Tantivy(#[from] tantivy::TantivyError),
    #[error("index directory {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
}

/// One search result.
#[derive(Debug, Clone)]
pub struct Hit {
    pub kind: SourceKind,
    /// FAQ id or passage id.
    pub id: String,
    pub language: Language,
    pub title: String,
    pub body: String,
    /// BM25 score.
    pub score: f32,
    /// Share of the query's IDF weight found in this document, 0 to 1.
    pub coverage: f32,
}

struct Fields {
    key: Field,
    language: Field,
    per_language: HashMap<Language, (Field, Field)>,
}

/// An index built from one state of the store.
pub struct Snapshot {
    reader: IndexReader,
    fields: Fields,
    faq: HashMap<String, HashMap<Language, FaqEntry>>,
    passages: HashMap<String, Passage>,
    documents_per_language: HashMap<Language, u64>,
    directory: PathBuf,
}

/// The live index, swapped whole on rebuild.
pub struct KnowledgeIndex {
    root: PathBuf,
    current: RwLock<Arc<Snapshot>>,
    generation: std::sync::atomic::AtomicU64,
}

impl KnowledgeIndex {
    /// Builds the first snapshot under `root` (created if missing).
    pub fn build(
        root: &Path,
        faq: Vec<FaqEntry>,
        passages: Vec<Passage>,
    ) -> Result<Self, IndexError> {
        std::fs::create_dir_all(root).map_err(|source| io_error(root, source))?;
        let snapshot = Snapshot::build(&root.join("generation-0"), faq, passages)?;
        remove_other_generations(root, &snapshot.directory);
        Ok(Self {
            root: root.to_owned(),
            current: RwLock::new(Arc::new(snapshot)),
            generation: std::sync::atomic::AtomicU64::new(0),
        })
    }

    /// Builds a new snapshot and swaps it in; the old one serves until then,
    /// and keeps serving if the build fails.
    pub fn rebuild(&self, faq: Vec<FaqEntry>, passages: Vec<Passage>) -> Result<(), IndexError> {
        let generation = self
            .generation
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst)
            + 1;
        let directory = self.root.join(format!("generation-{generation}"));
        let snapshot = Snapshot::build(&directory, faq, passages)?;
        *self.current.write().expect("index lock is never poisoned") = Arc::new(snapshot);
        remove_other_generations(&self.root, &directory);
        Ok(())
    }

    /// The snapshot searches should use now.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.current
            .read()
            .expect("index lock is never poisoned")
            .clone()
    }
}

impl Snapshot {
    fn build(
        directory: &Path,
        faq: Vec<FaqEntry>,
        passages: Vec<Passage>,
    ) -> Result<Self, IndexError> {
        let started = std::time::Instant::now();
        if directory.exists() {
            std::fs::remove_dir_all(directory).map_err(|source| io_error(directory, source))?;
        }
        std::fs::create_dir_all(directory).map_err(|source| io_error(directory, source))?;
        let (schema, fields) = schema();
        let index = Index::create_in_dir(directory, schema)?;
        for language in Language::ALL {
            index
                .tokenizers()
                .register(&analyzer_name(language), analyzer(language));
        }

        let mut writer = index.writer_with_num_threads(1, WRITER_MEMORY_BYTES)?;
        for entry in &faq {
            let (title, body) = fields.per_language[&entry.language];
            writer.add_document(doc!(
                fields.key => format!("faq\t{}\t{}", entry.id, entry.language.code()),
                fields.language => entry.language.code(),
                title => entry.question.as_str(),
                body => entry.answer.as_str(),
            ))?;
        }
        for passage in &passages {
            let (title, body) = fields.per_language[&passage.language];
            writer.add_document(doc!(
                fields.key => format!("product\t{}", passage.id),
                fields.language => passage.language.code(),
                title => passage.title.as_str(),
                body => passage.body.as_str(),
            ))?;
        }
        writer.commit()?;
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()?;

        let snapshot = Self {
            documents_per_language: count_per_language(&reader, &fields)?,
            reader,
            fields,
            faq: group_faq(faq),
            passages: passages.into_iter().map(|p| (p.id.clone(), p)).collect(),
            directory: directory.to_owned(),
        };
        info!(
            directory = %directory.display(),
            faq_ids = snapshot.faq.len(),
            passages = snapshot.passages.len(),
            elapsed_ms = started.elapsed().as_millis() as u64,
            "index built"
        );
        Ok(snapshot)
    }

    /// Searches documents in `language`, best first, at most `limit`.
    pub fn search(
        &self,
        query_text: &str,
        language: Language,
        limit: usize,
    ) -> Result<Vec<Hit>, IndexError> {
        let query_terms = unique(terms(language, query_text));
        if query_terms.is_empty() {
            return Ok(Vec::new());
        }
        let searcher = self.reader.searcher();
        let (title_field, body_field) = self.fields.per_language[&language];
        let mut clauses: Vec<(Occur, Box<dyn Query>)> = Vec::new();
        for term in &query_terms {
            let title = TermQuery::new(
                Term::from_field_text(title_field, term),
                IndexRecordOption::WithFreqs,
            );
            let body = TermQuery::new(
                Term::from_field_text(body_field, term),
                IndexRecordOption::WithFreqs,
            );
            clauses.push((
                Occur::Should,
                Box::new(BoostQuery::new(Box::new(title), TITLE_BOOST)),
            ));
            clauses.push((Occur::Should, Box::new(body)));
        }
        let top = searcher.search(&BooleanQuery::new(clauses), &TopDocs::with_limit(limit))?;

        let weights = self.term_weights(&searcher, language, &query_terms)?;
        let mut hits = Vec::with_capacity(top.len());
        for (score, address) in top {
            let document: TantivyDocument = searcher.doc(address)?;
            let key = document.get_first(self.fields.key).and_then(|v| v.as_str());
            if let Some(mut hit) = key.and_then(|key| self.hit_for_key(key, score)) {
                hit.coverage = coverage(&weights, &hit, language);
                hits.push(hit);
            }
        }
        Ok(hits)
    }

    /// An FAQ entry by id in one language.
    pub fn faq_entry(&self, id: &str, language: Language) -> Option<&FaqEntry> {
        self.faq.get(id)?.get(&language)
    }

    /// The languages an FAQ entry exists in.
    pub fn faq_languages(&self, id: &str) -> Vec<Language> {
        let mut languages: Vec<Language> = self
            .faq
            .get(id)
            .map(|versions| versions.keys().copied().collect())
            .unwrap_or_default();
        languages.sort();
        languages
    }

    /// How many documents exist in a language.
    pub fn document_count(&self, language: Language) -> u64 {
        self.documents_per_language
            .get(&language)
            .copied()
            .unwrap_or(0)
    }

    /// Total FAQ ids and passages, for `/health`.
    pub fn sizes(&self) -> (usize, usize) {
        (self.faq.len(), self.passages.len())
    }

    fn hit_for_key(&self, key: &str, score: f32) -> Option<Hit> {
        let mut parts = key.split('\t');
        match (parts.next()?, parts.next()?, parts.next()) {
            ("faq", id, Some(code)) => {
                let entry = self.faq_entry(id, code.parse().ok()?)?;
                Some(Hit {
                    kind: SourceKind::Faq,
                    id: entry.id.clone(),
                    language: entry.language,
                    title: entry.question.clone(),
                    body: entry.answer.clone(),
                    score,
                    coverage: 0.0,
                })
            }
            ("product", id, None) => {
                let passage = self.passages.get(id)?;
                Some(Hit {
                    kind: SourceKind::Product,
                    id: passage.id.clone(),
                    language: passage.language,
                    title: passage.title.clone(),
                    body: passage.body.clone(),
                    score,
                    coverage: 0.0,
                })
            }
            _ => None,
        }
    }

    /// IDF of each query term among documents of the language; a term that
    /// no document contains gets the highest IDF.
    fn term_weights(
        &self,
        searcher: &tantivy::Searcher,
        language: Language,
        query_terms: &[String],
    ) -> Result<Vec<(String, f32)>, IndexError> {
        let (title_field, body_field) = self.fields.per_language[&language];
        let total = self.document_count(language) as f32;
        let mut weights = Vec::with_capacity(query_terms.len());
        for term in query_terms {
            let in_title = searcher.doc_freq(&Term::from_field_text(title_field, term))?;
            let in_body = searcher.doc_freq(&Term::from_field_text(body_field, term))?;
            let frequency = in_title.max(in_body) as f32;
            let idf = (1.0 + (total - frequency + 0.5) / (frequency + 0.5)).ln();
            weights.push((term.clone(), idf.max(0.01)));
        }
        Ok(weights)
    }
}

/// Half the IDF-weighted share of query terms found anywhere in the
/// document, half the share found in its title. FAQ questions are titles, so
/// a question that matches only words scattered through an answer (such as
/// "accept" and "inspection" in a payment policy) scores half as much as one
/// that matches the question asked.
fn coverage(weights: &[(String, f32)], hit: &Hit, language: Language) -> f32 {
    let title: HashSet<String> = terms(language, &hit.title).into_iter().collect();
    let mut anywhere = title.clone();
    anywhere.extend(terms(language, &hit.body));
    let total: f32 = weights.iter().map(|(_, w)| w).sum();
    if total <= 0.0 {
        return 0.0;
    }
    let share = |found: &HashSet<String>| {
        let weight: f32 = weights
            .iter()
            .filter(|(t, _)| found.contains(t))
            .map(|(_, w)| w)
            .sum();
        weight / total
    };
    0.5 * share(&anywhere) + 0.5 * share(&title)
}

fn schema() -> (Schema, Fields) {
    let mut builder = Schema::builder();
    let key = builder.add_text_field("key", STRING | STORED);
    let language = builder.add_text_field("language", STRING | STORED);
    let mut per_language = HashMap::new();
    for lang in Language::ALL {
        let indexing = TextFieldIndexing::default()
            .set_tokenizer(&analyzer_name(lang))
            .set_index_option(IndexRecordOption::WithFreqs);
        let options = TextOptions::default().set_indexing_options(indexing);
        let title = builder.add_text_field(&format!("title_{}", lang.code()), options.clone());
        let body = builder.add_text_field(&format!("body_{}", lang.code()), options);
        per_language.insert(lang, (title, body));
    }
    (
        builder.build(),
        Fields {
            key,
            language,
            per_language,
        },
    )
}

fn count_per_language(
    reader: &IndexReader,
    fields: &Fields,
) -> Result<HashMap<Language, u64>, IndexError> {
    let searcher = reader.searcher();
    let mut counts = HashMap::new();
    for language in Language::ALL {
        let term = Term::from_field_text(fields.language, language.code());
        let query = TermQuery::new(term, IndexRecordOption::Basic);
        counts.insert(language, searcher.search(&query, &Count)? as u64);
    }
    Ok(counts)
}

fn group_faq(entries: Vec<FaqEntry>) -> HashMap<String, HashMap<Language, FaqEntry>> {
    let mut grouped: HashMap<String, HashMap<Language, FaqEntry>> = HashMap::new();
    for entry in entries {
        grouped
            .entry(entry.id.clone())
            .or_default()
            .insert(entry.language, entry);
    }
    grouped
}

fn unique(terms: Vec<String>) -> Vec<String> {
    let mut seen = HashSet::new();
    terms
        .into_iter()
        .filter(|t| seen.insert(t.clone()))
        .collect()
}

fn remove_other_generations(root: &Path, keep: &Path) {
    let Ok(entries) = std::fs::read_dir(root) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path != keep
            && path.is_dir()
            && let Err(error) = std::fs::remove_dir_all(&path)
        {
            warn!(path = %path.display(), %error, "failed to remove old index directory");
        }
    }
}

fn io_error(path: &Path, source: std::io::Error) -> IndexError {
    IndexError::Io {
        path: path.display().to_string(),
        source,
    }
}
