//! Out-of-scope suite: when should the bot reply that it cannot answer, and
//! does it notice requests for a person?
//!
//! CLINC150's 15,000 training utterances are indexed as FAQ entries, one
//! per utterance with id `intent#n`. (Entries that share an id are grouped
//! per language by the index, so one id per utterance keeps each hit's
//! text the text that matched.) A query is answered when its top hit's
//! coverage is at or above a threshold; "cannot answer" is below it. The
//! threshold is chosen on the validation split, in-scope and out-of-scope
//! together, as the one that maximises balanced accuracy: the mean of
//! out-of-scope recall and in-scope accuracy, where an in-scope query counts
//! as right only when it is answered with its own intent. The figures are
//! then reported on the test split, at that threshold and at the configured
//! `retrieval.answerable`.
//!
//! Requests for a person: every Bitext utterance goes through
//! [`Texts::escalation`]; the `contact_human_agent` and
//! `contact_customer_service` intents should be recognised as requests for
//! a person, and no other intent should be.
//!
//! [`Texts::escalation`]: crate::chat::texts::Texts::escalation

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::json;
use tracing::info;

use super::datasets::{self, Clinc};
use super::harness::{self, label_of, rng, sample};
use super::metrics::{Ranking, Ratio, rank_of};
use super::table::{Table, count, percent};
use super::{EvalError, EvalOptions, Figure, SuiteReport};
use crate::chat::answer::Answerer;
use crate::chat::texts::{EscalationReason, Texts};
use crate::language::Language;

/// Intent label of CLINC150's out-of-scope queries.
const OUT_OF_SCOPE: &str = "oos";

/// Bitext intents that ask for a person.
const PERSON_INTENTS: [&str; 2] = ["contact_human_agent", "contact_customer_service"];

/// Unrecognised person requests kept in the JSON report.
const MISSED_EXAMPLES_KEPT: usize = 20;

/// Thresholds tried on the validation split: 0.00, 0.01, ..., 1.00.
const THRESHOLD_STEPS: usize = 100;

/// One query's top hit.
#[derive(Debug, Clone, Copy)]
struct Scored {
    coverage: f32,
    right_intent: bool,
    out_of_scope: bool,
}

/// The effect of one threshold on a set of queries.
#[derive(Debug, Default, Clone, Copy, Serialize)]
struct Outcome {
    threshold: f32,
    out_of_scope_recall: Ratio,
    in_scope_accuracy: Ratio,
    wrongly_escalated: Ratio,
    wrong_answer: Ratio,
}

impl Outcome {
    fn balanced_accuracy(&self) -> f64 {
        (self.out_of_scope_recall.value() + self.in_scope_accuracy.value()) / 2.0
    }
}

/// Runs the out-of-scope suite.
pub async fn run(options: &EvalOptions) -> Result<SuiteReport, EvalError> {
    let clinc = datasets::clinc(&options.data_dir)?;
    let cap = options.cap();
    let faq = clinc
        .train
        .iter()
        .enumerate()
        .map(|(n, (utterance, intent))| {
            harness::faq_entry(format!("{intent}#{n}"), Language::English, utterance, "")
        })
        .collect();
    info!(
        faq_entries = clinc.train.len(),
        "out-of-scope suite: indexing"
    );
    let built = harness::build_index(faq, Vec::new()).await?;
    let answerer = harness::answerer(&options.config, built.index.clone())?;

    let mut draw = rng(options.seed, "out-of-scope");
    let validation = [
        sample(&clinc.val, cap, &mut draw),
        sample(&clinc.oos_val, cap, &mut draw),
    ]
    .concat();
    let test = [
        sample(&clinc.test, cap, &mut draw),
        sample(&clinc.oos_test, cap, &mut draw),
    ]
    .concat();
    let (validation, _) = score(&answerer, &validation).await;
    let (test, test_ranking) = score(&answerer, &test).await;

    let sweep: Vec<Outcome> = (0..=THRESHOLD_STEPS)
        .map(|step| outcome(&validation, step as f32 / THRESHOLD_STEPS as f32))
        .collect();
    let chosen = best(&sweep);
    let at_chosen = outcome(&test, chosen.threshold);
    let at_configured = outcome(&test, options.config.retrieval.answerable);
    let escalation = escalation(options)?;
    Ok(report(
        &clinc,
        &chosen,
        &at_chosen,
        &at_configured,
        &test_ranking,
        &escalation,
        &sweep,
    ))
}

/// Searches every query and keeps its top hit's coverage and intent.
async fn score(answerer: &Answerer, queries: &[(String, String)]) -> (Vec<Scored>, Ranking) {
    let questions: Vec<(String, Language)> = queries
        .iter()
        .map(|(text, _)| (text.clone(), Language::English))
        .collect();
    let results = harness::search_all(answerer, &questions).await;
    let mut ranking = Ranking::default();
    let scored = queries
        .iter()
        .zip(&results)
        .map(|((_, intent), retrieval)| {
            let top = retrieval.hits.first();
            let out_of_scope = intent == OUT_OF_SCOPE;
            if !out_of_scope {
                ranking.add(rank_of(&retrieval.hits, |hit| label_of(&hit.id) == intent));
            }
            Scored {
                coverage: top.map_or(0.0, |hit| hit.coverage),
                right_intent: top.is_some_and(|hit| label_of(&hit.id) == intent),
                out_of_scope,
            }
        })
        .collect();
    (scored, ranking)
}

fn outcome(scored: &[Scored], threshold: f32) -> Outcome {
    let mut outcome = Outcome {
        threshold,
        ..Outcome::default()
    };
    for query in scored {
        let answered = query.coverage >= threshold;
        if query.out_of_scope {
            outcome.out_of_scope_recall.add(!answered);
            continue;
        }
        outcome
            .in_scope_accuracy
            .add(answered && query.right_intent);
        outcome.wrongly_escalated.add(!answered);
        outcome.wrong_answer.add(answered && !query.right_intent);
    }
    outcome
}

/// Returns the threshold with the highest balanced accuracy, the lowest one
/// on a tie.
fn best(sweep: &[Outcome]) -> Outcome {
    sweep
        .iter()
        .copied()
        .reduce(|best, next| {
            if next.balanced_accuracy() > best.balanced_accuracy() {
                next
            } else {
                best
            }
        })
        .expect("the sweep tries at least one threshold")
}

/// Bitext utterances as classified by [`Texts::escalation`].
#[derive(Debug, Default, Serialize)]
struct Escalation {
    /// Per person-request intent: recognised as a request for a person.
    person_request_recall: BTreeMap<String, Ratio>,
    /// Per person-request intent: classed as anger instead.
    person_intents_as_anger: BTreeMap<String, Ratio>,
    /// All other intents: wrongly taken as a request for a person.
    other_as_person_request: Ratio,
    /// All other intents: classed as anger.
    other_as_anger: Ratio,
    /// The first person requests that were not recognised.
    missed_examples: Vec<String>,
}

fn escalation(options: &EvalOptions) -> Result<Escalation, EvalError> {
    let texts = Texts::load()?;
    let mut result = Escalation::default();
    for row in datasets::bitext(&options.data_dir)? {
        let reason = texts.escalation(&row.instruction);
        let person = reason == Some(EscalationReason::BuyerRequest);
        let anger = reason == Some(EscalationReason::Anger);
        if PERSON_INTENTS.contains(&row.intent.as_str()) {
            let intent = row.intent.clone();
            result
                .person_request_recall
                .entry(intent.clone())
                .or_default()
                .add(person);
            result
                .person_intents_as_anger
                .entry(intent)
                .or_default()
                .add(anger);
            if !person && result.missed_examples.len() < MISSED_EXAMPLES_KEPT {
                result.missed_examples.push(row.instruction.clone());
            }
        } else {
            result.other_as_person_request.add(person);
            result.other_as_anger.add(anger);
        }
    }
    Ok(result)
}

impl Escalation {
    fn recall(&self) -> Ratio {
        self.person_request_recall
            .values()
            .fold(Ratio::default(), |sum, ratio| Ratio {
                hits: sum.hits + ratio.hits,
                total: sum.total + ratio.total,
            })
    }
}

fn report(
    clinc: &Clinc,
    chosen: &Outcome,
    at_chosen: &Outcome,
    at_configured: &Outcome,
    test_ranking: &Ranking,
    escalation: &Escalation,
    sweep: &[Outcome],
) -> SuiteReport {
    let tables = vec![
        outcome_table(clinc, chosen, at_chosen, at_configured, test_ranking),
        sweep_table(sweep),
        escalation_table(escalation),
    ];
    let recall = escalation.recall();
    let figures = vec![
        Figure::new(
            "out_of_scope.chosen.balanced_accuracy",
            at_chosen.balanced_accuracy(),
        ),
        Figure::new(
            "out_of_scope.configured.out_of_scope_recall",
            at_configured.out_of_scope_recall.value(),
        ),
        Figure::new(
            "out_of_scope.configured.in_scope_accuracy",
            at_configured.in_scope_accuracy.value(),
        ),
        Figure::new(
            "out_of_scope.configured.balanced_accuracy",
            at_configured.balanced_accuracy(),
        ),
        Figure::new("out_of_scope.intent_hit_at_1", test_ranking.hit1()),
        Figure::new("out_of_scope.person_request_recall", recall.value()),
        Figure::new(
            "out_of_scope.other_intents_not_taken_as_person_request",
            1.0 - escalation.other_as_person_request.value(),
        ),
    ];
    let details = json!({
        "chosen_on_validation": chosen,
        "test_at_chosen": at_chosen,
        "test_at_configured": at_configured,
        "test_intent_ranking": test_ranking,
        "validation_sweep": sweep
            .iter()
            .map(|o| json!({"threshold": o.threshold, "balanced_accuracy": o.balanced_accuracy()}))
            .collect::<Vec<_>>(),
        "escalation": escalation,
    });
    SuiteReport {
        suite: "out-of-scope",
        tables,
        figures,
        details,
        elapsed_seconds: 0.0,
    }
}

fn outcome_table(
    clinc: &Clinc,
    chosen: &Outcome,
    at_chosen: &Outcome,
    at_configured: &Outcome,
    test_ranking: &Ranking,
) -> Table {
    let mut table = Table::new(
        "Out-of-scope detection, CLINC150 test split",
        &[
            "threshold",
            "out-of-scope recall",
            "in-scope accuracy",
            "in-scope wrongly escalated",
            "in-scope wrong answer",
            "balanced accuracy",
        ],
    );
    for (label, outcome) in [
        (
            format!("{:.2} (chosen on validation)", chosen.threshold),
            at_chosen,
        ),
        (
            format!("{:.2} (configured `answerable`)", at_configured.threshold),
            at_configured,
        ),
    ] {
        table.row(vec![
            label,
            outcome.out_of_scope_recall.describe(),
            outcome.in_scope_accuracy.describe(),
            outcome.wrongly_escalated.describe(),
            outcome.wrong_answer.describe(),
            percent(outcome.balanced_accuracy()),
        ]);
    }
    table.note(format!(
        "Index: {} training utterances as FAQ entries. Threshold chosen on {} validation \
         queries (balanced accuracy {} there). Intent hit@1 on in-scope test queries, \
         regardless of threshold: {}.",
        count(clinc.train.len()),
        count(chosen.out_of_scope_recall.total + chosen.in_scope_accuracy.total),
        percent(chosen.balanced_accuracy()),
        percent(test_ranking.hit1())
    ));
    table
}

/// Tabulates every fifth threshold from 0.30 to 0.70 on the validation split.
fn sweep_table(sweep: &[Outcome]) -> Table {
    let mut table = Table::new(
        "Threshold sweep on the CLINC150 validation split",
        &[
            "threshold",
            "out-of-scope recall",
            "in-scope accuracy",
            "balanced accuracy",
        ],
    );
    for outcome in sweep
        .iter()
        .step_by(5)
        .filter(|o| (0.3..=0.7001).contains(&o.threshold))
    {
        table.row(vec![
            format!("{:.2}", outcome.threshold),
            percent(outcome.out_of_scope_recall.value()),
            percent(outcome.in_scope_accuracy.value()),
            percent(outcome.balanced_accuracy()),
        ]);
    }
    table
}

fn escalation_table(escalation: &Escalation) -> Table {
    let mut table = Table::new(
        "Requests for a person, Bitext utterances through `Texts::escalation`",
        &["intent", "utterances", "person request", "anger"],
    );
    for (intent, recall) in &escalation.person_request_recall {
        let anger = escalation
            .person_intents_as_anger
            .get(intent)
            .copied()
            .unwrap_or_default();
        table.row(vec![
            intent.clone(),
            count(recall.total),
            recall.describe(),
            anger.describe(),
        ]);
    }
    table.row(vec![
        "the 25 other intents".to_owned(),
        count(escalation.other_as_person_request.total),
        escalation.other_as_person_request.describe(),
        escalation.other_as_anger.describe(),
    ]);
    table.note(
        "For the two contact intents \"person request\" is the recall; for the other \
         intents it is the false-positive rate. Anger also sends a conversation to staff.",
    );
    table
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scored(coverage: f32, right_intent: bool, out_of_scope: bool) -> Scored {
        Scored {
            coverage,
            right_intent,
            out_of_scope,
        }
    }

    #[test]
    fn outcome_splits_in_and_out_of_scope() {
        let queries = [
            scored(0.9, true, false),
            scored(0.8, false, false),
            scored(0.2, true, false),
            scored(0.3, false, true),
            scored(0.7, false, true),
        ];
        let outcome = outcome(&queries, 0.5);
        assert_eq!(outcome.in_scope_accuracy.hits, 1);
        assert_eq!(outcome.in_scope_accuracy.total, 3);
        assert_eq!(outcome.wrongly_escalated.hits, 1);
        assert_eq!(outcome.wrong_answer.hits, 1);
        assert_eq!(outcome.out_of_scope_recall.hits, 1);
        assert_eq!(outcome.out_of_scope_recall.total, 2);
    }

    #[test]
    fn best_threshold_separates_the_classes() {
        let queries = [
            scored(0.9, true, false),
            scored(0.6, true, false),
            scored(0.4, false, true),
            scored(0.1, false, true),
        ];
        let sweep: Vec<Outcome> = (0..=10)
            .map(|step| outcome(&queries, step as f32 / 10.0))
            .collect();
        let chosen = best(&sweep);
        assert!(chosen.threshold > 0.4, "{}", chosen.threshold);
        assert!(chosen.threshold <= 0.6, "{}", chosen.threshold);
        assert_eq!(chosen.balanced_accuracy(), 1.0);
    }
}
