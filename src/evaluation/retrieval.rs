//! Retrieval suite: FAQ search on Bitext customer-support utterances.
//!
//! For each of the 27 intents a seeded draw picks 1 to 3 rows. Each becomes
//! an FAQ entry whose question is the row's utterance and whose answer is
//! the agent's response, so the index looks like a small shop FAQ with a few
//! entries per topic. Every other utterance of the intent is a query, except
//! exact repeats of an indexed question (the data set has a few). A query
//! is right when a hit belongs to its intent; ranks come from the chat
//! pipeline's order over its top five hits.
//!
//! Besides hit@1, hit@3 and MRR, the suite passes each result to
//! [`Answerer::compose`] without a model and reports what would be sent.
//! That is an FAQ answer as written (of the right intent or not) or "I don't
//! know". The table also shows where a server with a model would decide
//! differently.
//!
//! [`Answerer::compose`]: crate::chat::answer::Answerer::compose

use std::collections::{BTreeMap, HashSet};

use rand::Rng;
use serde_json::json;
use tracing::info;

use super::datasets::{self, BitextRow};
use super::harness::{self, label_of, rng, sample};
use super::metrics::{Ranking, Ratio, rank_of};
use super::table::{Table, count, percent};
use super::{EvalError, EvalOptions, Figure, SuiteReport};
use crate::chat::answer::{Answer, AnswerSource, Retrieval};
use crate::config::RetrievalConfig;
use crate::knowledge::FaqEntry;
use crate::language::Language;

/// FAQ entries per intent are drawn from this range.
const ENTRIES_PER_INTENT: std::ops::RangeInclusive<usize> = 1..=3;

/// A held-out utterance and its intent.
#[derive(Debug, Clone)]
struct Query {
    text: String,
    intent: String,
}

/// The drawn FAQ and queries.
struct Split {
    faq: Vec<FaqEntry>,
    queries: Vec<Query>,
    entries_per_intent: BTreeMap<String, usize>,
    repeats_dropped: usize,
}

/// Counts of what [`Answerer::compose`] sends for the queries, grouped by
/// whether a server with a model would do the same. Each ratio counts the
/// replies whose sent entry belongs to the query's intent.
///
/// [`Answerer::compose`]: crate::chat::answer::Answerer::compose
#[derive(Debug, Default, Clone, Copy, serde::Serialize)]
struct Decisions {
    /// Confident FAQ hit: sent as written with or without a model.
    confident: Ratio,
    /// Sent as written only because no model runs; a model would write a
    /// reply from the passages instead.
    without_model_only: Ratio,
    /// At or above `answerable` but no clear lead: "I don't know" without a
    /// model, a written reply with one.
    close_call: usize,
    /// Below `answerable`: "I don't know" in any case.
    below_answerable: usize,
}

/// Runs the retrieval suite.
pub async fn run(options: &EvalOptions) -> Result<SuiteReport, EvalError> {
    let rows = datasets::bitext(&options.data_dir)?;
    let split = split(&rows, options.seed, options.cap());
    info!(
        faq_entries = split.faq.len(),
        queries = split.queries.len(),
        "retrieval suite: searching"
    );
    let built = harness::build_index(split.faq.clone(), Vec::new()).await?;
    let answerer = harness::answerer(&options.config, built.index.clone())?;
    let questions: Vec<(String, Language)> = split
        .queries
        .iter()
        .map(|q| (q.text.clone(), Language::English))
        .collect();
    let results = harness::search_all(&answerer, &questions).await;

    let mut overall = Ranking::default();
    let mut per_intent: BTreeMap<String, Ranking> = BTreeMap::new();
    let mut decisions = Decisions::default();
    for (query, retrieval) in split.queries.iter().zip(&results) {
        let rank = rank_of(&retrieval.hits, |hit| label_of(&hit.id) == query.intent);
        overall.add(rank);
        per_intent
            .entry(query.intent.clone())
            .or_default()
            .add(rank);
        let answer = answerer
            .compose(&query.text, Language::English, retrieval, &|_| {})
            .await;
        decide(&mut decisions, query, retrieval, &answer, options);
    }
    Ok(report(&split, &overall, &per_intent, &decisions, options))
}

/// Draws the FAQ entries and the queries.
fn split(rows: &[BitextRow], seed: u64, queries_per_intent: usize) -> Split {
    let mut by_intent: BTreeMap<&str, Vec<&BitextRow>> = BTreeMap::new();
    for row in rows {
        by_intent.entry(row.intent.as_str()).or_default().push(row);
    }
    let mut split = Split {
        faq: Vec::new(),
        queries: Vec::new(),
        entries_per_intent: BTreeMap::new(),
        repeats_dropped: 0,
    };
    for (intent, intent_rows) in by_intent {
        let mut rng = rng(seed, &format!("retrieval:{intent}"));
        let entries = rng.random_range(ENTRIES_PER_INTENT);
        let indexed = sample(&intent_rows, entries, &mut rng);
        let indexed_questions: HashSet<String> =
            indexed.iter().map(|r| normalize(&r.instruction)).collect();
        for (n, row) in indexed.iter().enumerate() {
            let id = format!("{intent}#{n}");
            split.faq.push(harness::faq_entry(
                id,
                Language::English,
                &row.instruction,
                &row.response,
            ));
        }
        let held_out: Vec<Query> = intent_rows
            .iter()
            .filter(|row| !indexed.iter().any(|i| std::ptr::eq(*i, **row)))
            .filter(|row| {
                let repeat = indexed_questions.contains(&normalize(&row.instruction));
                split.repeats_dropped += usize::from(repeat);
                !repeat
            })
            .map(|row| Query {
                text: row.instruction.clone(),
                intent: intent.to_owned(),
            })
            .collect();
        split
            .queries
            .extend(sample(&held_out, queries_per_intent, &mut rng));
        split.entries_per_intent.insert(intent.to_owned(), entries);
    }
    split
}

fn normalize(text: &str) -> String {
    text.trim().to_lowercase()
}

fn decide(
    decisions: &mut Decisions,
    query: &Query,
    retrieval: &Retrieval,
    answer: &Answer,
    options: &EvalOptions,
) {
    let thresholds = &options.config.retrieval;
    let top = retrieval.hits.first().map_or(0.0, |hit| hit.coverage);
    if answer.source == AnswerSource::Faq {
        let sent = answer.sources.first().map(|source| label_of(&source.id));
        let right = sent == Some(query.intent.as_str());
        if top >= thresholds.faq_confident {
            decisions.confident.add(right);
        } else {
            decisions.without_model_only.add(right);
        }
    } else if top >= thresholds.answerable {
        decisions.close_call += 1;
    } else {
        decisions.below_answerable += 1;
    }
}

fn report(
    split: &Split,
    overall: &Ranking,
    per_intent: &BTreeMap<String, Ranking>,
    decisions: &Decisions,
    options: &EvalOptions,
) -> SuiteReport {
    let mut summary = Table::new(
        "FAQ retrieval, Bitext customer support (27 intents)",
        &["FAQ entries", "queries", "hit@1", "hit@3", "MRR (top 5)"],
    );
    summary.row(vec![
        count(split.faq.len()),
        count(overall.queries),
        percent(overall.hit1()),
        percent(overall.hit3()),
        format!("{:.3}", overall.mrr()),
    ]);
    summary.note(format!(
        "Seed {}; 1 to 3 FAQ entries per intent. Held-out utterances dropped because they \
         repeat an indexed question word for word: {}.",
        options.seed, split.repeats_dropped
    ));
    let tables = vec![
        summary,
        decision_table(decisions, overall.queries, &options.config.retrieval),
        intent_table(split, per_intent),
    ];
    let figures = vec![
        Figure::new("retrieval.hit_at_1", overall.hit1()),
        Figure::new("retrieval.hit_at_3", overall.hit3()),
        Figure::new("retrieval.mrr", overall.mrr()),
    ];
    let intents: BTreeMap<&str, serde_json::Value> = per_intent
        .iter()
        .map(|(intent, ranking)| {
            let entries = split.entries_per_intent.get(intent).copied();
            (
                intent.as_str(),
                json!({"faq_entries": entries, "ranking": ranking}),
            )
        })
        .collect();
    let details = json!({
        "seed": options.seed,
        "overall": overall,
        "decisions": decisions,
        "repeats_dropped": split.repeats_dropped,
        "intents": intents,
    });
    SuiteReport {
        suite: "retrieval",
        tables,
        figures,
        details,
        elapsed_seconds: 0.0,
    }
}

fn decision_table(decisions: &Decisions, queries: usize, thresholds: &RetrievalConfig) -> Table {
    let mut table = Table::new(
        "What the pipeline sends (`Answerer::compose`)",
        &[
            "top hit",
            "without a model",
            "with a model",
            "share of queries",
            "right FAQ entry sent",
        ],
    );
    let share = |n: usize| percent(n as f64 / queries.max(1) as f64);
    let confident = format!("coverage ≥ {:.2}, clear lead", thresholds.faq_confident);
    let middle = format!(
        "coverage {:.2} – {:.2}, clear lead",
        thresholds.answerable, thresholds.faq_confident
    );
    let close = format!("coverage ≥ {:.2}, no clear lead", thresholds.answerable);
    let below = format!("coverage < {:.2}", thresholds.answerable);
    let rows = [
        (
            confident,
            "FAQ as written",
            "FAQ as written",
            decisions.confident.total,
            decisions.confident.describe(),
        ),
        (
            middle,
            "FAQ as written",
            "model writes",
            decisions.without_model_only.total,
            decisions.without_model_only.describe(),
        ),
        (
            close,
            "\"I don't know\"",
            "model writes",
            decisions.close_call,
            "–".to_owned(),
        ),
        (
            below,
            "\"I don't know\"",
            "\"I don't know\"",
            decisions.below_answerable,
            "–".to_owned(),
        ),
    ];
    for (top, without, with, n, right) in rows {
        table.row(vec![
            top,
            without.to_owned(),
            with.to_owned(),
            share(n),
            right,
        ]);
    }
    table.note(
        "A clear lead is a coverage 0.1 above the next different entry. Every query here \
         is in scope, so \"I don't know\" is a miss, but a cheaper one than a wrong answer.",
    );
    table
}

fn intent_table(split: &Split, per_intent: &BTreeMap<String, Ranking>) -> Table {
    let mut table = Table::new(
        "FAQ retrieval by intent",
        &["intent", "FAQ entries", "queries", "hit@1", "hit@3", "MRR"],
    );
    for (intent, ranking) in per_intent {
        let entries = split
            .entries_per_intent
            .get(intent)
            .copied()
            .unwrap_or_default();
        table.row(vec![
            intent.clone(),
            entries.to_string(),
            count(ranking.queries),
            percent(ranking.hit1()),
            percent(ranking.hit3()),
            format!("{:.3}", ranking.mrr()),
        ]);
    }
    table
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(instruction: &str, intent: &str) -> BitextRow {
        BitextRow {
            instruction: instruction.to_owned(),
            intent: intent.to_owned(),
            response: format!("answer for {intent}"),
        }
    }

    #[test]
    fn split_never_queries_an_indexed_row() {
        let rows: Vec<BitextRow> = (0..20)
            .flat_map(|n| {
                [
                    row(&format!("cancel my order {n}"), "cancel_order"),
                    row(&format!("where is my refund {n}"), "track_refund"),
                ]
            })
            .collect();
        let split = split(&rows, 1, usize::MAX);
        let indexed: HashSet<&str> = split.faq.iter().map(|e| e.question.as_str()).collect();
        assert!(split.faq.len() >= 2, "{}", split.faq.len());
        assert!(split.faq.len() <= 6, "{}", split.faq.len());
        assert_eq!(split.queries.len() + split.faq.len(), rows.len());
        assert!(
            split
                .queries
                .iter()
                .all(|q| !indexed.contains(q.text.as_str()))
        );
    }

    #[test]
    fn repeats_of_indexed_questions_are_dropped() {
        let rows: Vec<BitextRow> = (0..10).map(|_| row("same words", "review")).collect();
        let split = split(&rows, 1, usize::MAX);
        assert!(split.queries.is_empty());
        assert_eq!(split.repeats_dropped + split.faq.len(), 10);
    }
}
