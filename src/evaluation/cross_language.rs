//! Cross-language suite: XQuAD-R questions against Wikipedia paragraphs,
//! the same 240 paragraphs and 1,190 questions in 11 languages.
//!
//! *Same language*: all paragraphs of all languages go into one index, each
//! in its own language's fields, and each question is searched in its own
//! language. Greek is not one of crossdesk's languages: its paragraphs and
//! questions are indexed in the fields of [`GREEK_CARRIER`], whose analyzer
//! splits words without stemming or stop words, and the row is marked as
//! unsupported.
//!
//! *Translated*: only the English paragraphs are indexed, and a fixed
//! sample of questions (the same ids in every language) goes through
//! [`Answerer::retrieve`] with the configured model. That is the product's
//! translate-then-search path. A search in the question's language finds
//! nothing, so the model translates the question into English and the
//! index is searched again. One model call per question makes this part
//! slow; `--quick` skips it.
//!
//! Paragraphs are indexed with an empty title because XQuAD-R's article
//! titles are English in every language file. Coverage therefore tops out
//! at 0.5 here, which changes no ranking but makes the coverage thresholds
//! meaningless for this data.
//!
//! [`Answerer::retrieve`]: crate::chat::answer::Answerer::retrieve

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Instant;

use serde_json::json;
use tracing::info;

use super::datasets::{self, Xquad};
use super::harness::{self, rng, sample};
use super::metrics::{Ranking, rank_of};
use super::table::{Table, count, percent};
use super::{EvalError, EvalOptions, Figure, SuiteReport};
use crate::app::{self, ModelSource};
use crate::chat::answer::{Answerer, Retrieval};
use crate::knowledge::{Passage, SourceKind};
use crate::language::Language;

/// XQuAD-R's languages (ISO 639-1 file names).
const CODES: [&str; 11] = [
    "ar", "de", "el", "en", "es", "hi", "ru", "th", "tr", "vi", "zh",
];

/// The language whose index fields and analyzer Greek text uses.
const GREEK_CARRIER: Language = Language::Polish;

/// Translated questions whose model output is kept in the JSON report, per
/// language.
const EXAMPLES_KEPT: usize = 5;

/// Returns the crossdesk language that indexes a data set language, and
/// whether crossdesk supports that language.
fn index_language(code: &str) -> (Language, bool) {
    match code.parse::<Language>() {
        Ok(language) => (language, true),
        Err(_) => (GREEK_CARRIER, false),
    }
}

/// Same-language results of one data set language.
struct SameLanguage {
    ranking: Ranking,
    ranks: HashMap<String, Option<usize>>,
}

/// Translate-then-search results of one language.
struct Translated {
    ranking: Ranking,
    english_ranking: Ranking,
    same_language_ranking: Ranking,
    seconds: f64,
    untranslated: usize,
    examples: Vec<serde_json::Value>,
}

/// Runs the cross-language suite.
pub async fn run(options: &EvalOptions) -> Result<SuiteReport, EvalError> {
    let mut sets = BTreeMap::new();
    for code in CODES {
        sets.insert(code, datasets::xquad(&options.data_dir, code)?);
    }
    let english_ids: Vec<String> = sets["en"].questions.iter().map(|q| q.id.clone()).collect();
    let ids = sample(
        &english_ids,
        options.cap(),
        &mut rng(options.seed, "cross-language:same"),
    );
    let same = same_language(options, &sets, &ids).await?;

    let translated = if options.quick {
        None
    } else {
        // A subset of the same-language sample, so both parts have results
        // for every translated question.
        let ids = sample(
            &ids,
            options.translated_sample,
            &mut rng(options.seed, "cross-language:translated"),
        );
        Some(translated(options, &sets, &ids, &same).await?)
    };
    Ok(report(&same, translated.as_ref(), options))
}

fn passages(code: &str, set: &Xquad, prefix: bool) -> Vec<Passage> {
    let (language, _) = index_language(code);
    set.paragraphs
        .iter()
        .map(|(key, context)| Passage {
            id: paragraph_id(code, key, prefix),
            document: format!("xquad-r {code}"),
            language,
            title: String::new(),
            body: context.clone(),
            source: "xquad-r".to_owned(),
        })
        .collect()
}

fn paragraph_id(code: &str, key: &str, prefix: bool) -> String {
    if prefix {
        format!("{code}/{key}")
    } else {
        key.to_owned()
    }
}

/// A question to search and the id of the passage that answers it.
struct Question {
    id: String,
    text: String,
    expected: String,
}

/// Collects the questions with the given ids that exist in one language.
fn questions(code: &str, set: &Xquad, ids: &[String], prefix: bool) -> Vec<Question> {
    let by_id = set.by_id();
    ids.iter()
        .filter_map(|id| by_id.get(id.as_str()))
        .map(|q| Question {
            id: q.id.clone(),
            text: q.text.clone(),
            expected: paragraph_id(code, &q.paragraph, prefix),
        })
        .collect()
}

async fn same_language(
    options: &EvalOptions,
    sets: &BTreeMap<&str, Xquad>,
    ids: &[String],
) -> Result<BTreeMap<&'static str, SameLanguage>, EvalError> {
    let all: Vec<Passage> = CODES
        .iter()
        .flat_map(|code| passages(code, &sets[code], true))
        .collect();
    info!(
        passages = all.len(),
        questions_per_language = ids.len(),
        "cross-language suite: same-language searches"
    );
    let built = harness::build_index(Vec::new(), all).await?;
    let answerer = harness::answerer(&options.config, built.index.clone())?;
    let mut results = BTreeMap::new();
    for code in CODES {
        let (language, _) = index_language(code);
        let selected = questions(code, &sets[code], ids, true);
        let ranks = ranks(&answerer, &selected, language).await;
        let mut ranking = Ranking::default();
        ranks.iter().for_each(|rank| ranking.add(*rank));
        let by_id = selected.into_iter().map(|q| q.id).zip(ranks).collect();
        results.insert(
            code,
            SameLanguage {
                ranking,
                ranks: by_id,
            },
        );
    }
    Ok(results)
}

/// Searches each question (without a model) and returns the rank of its
/// paragraph.
async fn ranks(
    answerer: &Answerer,
    selected: &[Question],
    language: Language,
) -> Vec<Option<usize>> {
    let queries: Vec<(String, Language)> = selected
        .iter()
        .map(|q| (q.text.clone(), language))
        .collect();
    harness::search_all(answerer, &queries)
        .await
        .iter()
        .zip(selected)
        .map(|(retrieval, q)| paragraph_rank(retrieval, &q.expected))
        .collect()
}

fn paragraph_rank(retrieval: &Retrieval, expected: &str) -> Option<usize> {
    rank_of(&retrieval.hits, |hit| {
        hit.kind == SourceKind::Product && hit.id == expected
    })
}

/// Builds the chat service with the configured model in a temporary data
/// folder, and an answerer that searches only the English paragraphs.
async fn model_answerer(
    options: &EvalOptions,
    english: &Xquad,
) -> Result<(Answerer, harness::EvalIndex, tempfile::TempDir), EvalError> {
    let data = tempfile::Builder::new()
        .prefix("crossdesk-eval-data-")
        .tempdir()
        .map_err(EvalError::TempDir)?;
    let empty_knowledge = data.path().join("knowledge");
    std::fs::create_dir_all(&empty_knowledge).map_err(EvalError::TempDir)?;
    let mut config = options.config.clone();
    config.data_dir = data.path().join("data");
    config.knowledge_base = empty_knowledge;
    let chat = app::build(config, ModelSource::FromConfig)
        .await
        .map_err(|error| EvalError::Model(format!("cannot start the chat service: {error:#}")))?;
    let Some(generator) = chat.generator.clone() else {
        let reason = chat.generation_off.clone().unwrap_or_default();
        return Err(EvalError::Model(format!(
            "translate-then-search needs the model ({reason}); fetch it with \
             `python3 models/fetch.py` or run with --quick to skip this part"
        )));
    };
    let built = harness::build_index(Vec::new(), passages("en", english, false)).await?;
    let answerer = Answerer {
        config: chat.config.clone(),
        index: built.index.clone(),
        generator: Some(generator),
        translator: chat.answerer.translator.clone(),
        texts: Arc::clone(&chat.texts),
    };
    Ok((answerer, built, data))
}

async fn translated(
    options: &EvalOptions,
    sets: &BTreeMap<&str, Xquad>,
    ids: &[String],
    same: &BTreeMap<&'static str, SameLanguage>,
) -> Result<BTreeMap<&'static str, Translated>, EvalError> {
    let (answerer, _index, _data) = model_answerer(options, &sets["en"]).await?;
    let selected = questions("en", &sets["en"], ids, false);
    let english = ranks(&answerer, &selected, Language::English).await;
    let english: HashMap<String, Option<usize>> =
        selected.into_iter().map(|q| q.id).zip(english).collect();

    let mut results = BTreeMap::new();
    for code in CODES {
        let (language, supported) = index_language(code);
        if !supported || language == Language::English {
            continue;
        }
        info!(
            language = code,
            questions = ids.len(),
            "cross-language suite: translating"
        );
        let result = translate_language(&answerer, &sets[code], code, ids, &english, &same[code]);
        results.insert(code, result.await);
    }
    Ok(results)
}

async fn translate_language(
    answerer: &Answerer,
    set: &Xquad,
    code: &str,
    ids: &[String],
    english: &HashMap<String, Option<usize>>,
    same: &SameLanguage,
) -> Translated {
    let (language, _) = index_language(code);
    let by_id = set.by_id();
    let mut result = Translated {
        ranking: Ranking::default(),
        english_ranking: Ranking::default(),
        same_language_ranking: Ranking::default(),
        seconds: 0.0,
        untranslated: 0,
        examples: Vec::new(),
    };
    for id in ids {
        let Some(question) = by_id.get(id.as_str()) else {
            continue;
        };
        let started = Instant::now();
        let retrieval = answerer.retrieve(&question.text, language).await;
        result.seconds += started.elapsed().as_secs_f64();
        result
            .ranking
            .add(paragraph_rank(&retrieval, &question.paragraph));
        result
            .english_ranking
            .add(english.get(id).copied().flatten());
        result
            .same_language_ranking
            .add(same.ranks.get(id).copied().flatten());
        result.untranslated += usize::from(retrieval.translated_query.is_none());
        if result.examples.len() < EXAMPLES_KEPT {
            result.examples.push(json!({
                "id": id,
                "question": question.text,
                "translated": retrieval.translated_query,
            }));
        }
    }
    result
}

fn report(
    same: &BTreeMap<&'static str, SameLanguage>,
    translated: Option<&BTreeMap<&'static str, Translated>>,
    options: &EvalOptions,
) -> SuiteReport {
    let mut tables = vec![same_table(same)];
    let mut figures: Vec<Figure> = same
        .iter()
        .map(|(code, result)| {
            Figure::new(
                format!("cross_language.same_language.{code}.hit_at_1"),
                result.ranking.hit1(),
            )
        })
        .collect();
    let mean = same.values().map(|r| r.ranking.hit1()).sum::<f64>() / same.len().max(1) as f64;
    figures.push(Figure::new(
        "cross_language.same_language.mean_hit_at_1",
        mean,
    ));
    if let Some(translated) = translated {
        tables.push(translated_table(translated, options));
        figures.extend(translated.iter().map(|(code, result)| {
            Figure::new(
                format!("cross_language.translated.{code}.hit_at_1"),
                result.ranking.hit1(),
            )
        }));
    }
    let details = json!({
        "same_language": same
            .iter()
            .map(|(code, r)| (code.to_string(), json!(r.ranking)))
            .collect::<BTreeMap<_, _>>(),
        "translated": translated.map(|t| t
            .iter()
            .map(|(code, r)| (code.to_string(), json!({
                "ranking": r.ranking,
                "english_question_ranking": r.english_ranking,
                "same_language_ranking": r.same_language_ranking,
                "seconds": r.seconds,
                "untranslated": r.untranslated,
                "examples": r.examples,
            })))
            .collect::<BTreeMap<_, _>>()),
        "model": options.config.model.path.display().to_string(),
    });
    SuiteReport {
        suite: "cross-language",
        tables,
        figures,
        details,
        elapsed_seconds: 0.0,
    }
}

fn same_table(same: &BTreeMap<&'static str, SameLanguage>) -> Table {
    let mut table = Table::new(
        "Same-language retrieval, XQuAD-R (question and paragraphs in one language)",
        &[
            "language",
            "analyzer",
            "questions",
            "hit@1",
            "hit@3",
            "MRR (top 5)",
        ],
    );
    for (code, result) in same {
        let (language, supported) = index_language(code);
        let analyzer = if supported {
            language.code().to_owned()
        } else {
            format!("unsupported; indexed as {}", language.code())
        };
        table.row(vec![
            (*code).to_owned(),
            analyzer,
            count(result.ranking.queries),
            percent(result.ranking.hit1()),
            percent(result.ranking.hit3()),
            format!("{:.3}", result.ranking.mrr()),
        ]);
    }
    table.note(
        "240 paragraphs per language, searched among the paragraphs of the question's \
         language only.",
    );
    table
}

fn translated_table(
    translated: &BTreeMap<&'static str, Translated>,
    options: &EvalOptions,
) -> Table {
    let mut table = Table::new(
        "Translate-then-search, XQuAD-R (question in X, English paragraphs only)",
        &[
            "language",
            "questions",
            "hit@1",
            "hit@3",
            "hit@1, English question",
            "hit@1, same language",
            "seconds per question",
            "not translated",
        ],
    );
    for (code, result) in translated {
        table.row(vec![
            (*code).to_owned(),
            count(result.ranking.queries),
            percent(result.ranking.hit1()),
            percent(result.ranking.hit3()),
            percent(result.english_ranking.hit1()),
            percent(result.same_language_ranking.hit1()),
            format!(
                "{:.1}",
                result.seconds / result.ranking.queries.max(1) as f64
            ),
            count(result.untranslated),
        ]);
    }
    table.note(format!(
        "The same {} question ids in every language. Model: {}. \"English question\" is \
         the English original of the same questions against the same index (the ceiling \
         for a perfect translation); \"same language\" is the first table's result for \
         those ids. el is skipped: crossdesk cannot take Greek as a buyer language.",
        options.translated_sample,
        options.config.model.path.display()
    ));
    table
}
