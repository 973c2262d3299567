//! The product's retrieval set up over evaluation data: a [`KnowledgeIndex`]
//! in a temporary folder and an [`Answerer`] around it, plus seeded
//! sampling.
//!
//! Searches go through [`Answerer::retrieve`], so they use the chat
//! pipeline's search limit and sort order (coverage, then BM25). Without a
//! translator, `retrieve` is one search in the given language.

use std::sync::Arc;

use futures_util::{StreamExt, stream};
use rand::SeedableRng;
use rand::rngs::StdRng;
use tempfile::TempDir;

use super::EvalError;
use crate::chat::answer::{Answerer, Retrieval};
use crate::chat::texts::Texts;
use crate::config::Config;
use crate::knowledge::{FaqEntry, KnowledgeIndex, Passage};
use crate::language::Language;

/// Searches run at once when no model is involved. Searches are blocking
/// tasks, so this keeps both cores of a small machine busy.
const PARALLEL_SEARCHES: usize = 4;

/// An index in a temporary folder that is removed on drop.
pub struct EvalIndex {
    pub index: Arc<KnowledgeIndex>,
    _directory: TempDir,
}

/// Builds an index over evaluation knowledge.
pub async fn build_index(
    faq: Vec<FaqEntry>,
    passages: Vec<Passage>,
) -> Result<EvalIndex, EvalError> {
    let directory = tempfile::Builder::new()
        .prefix("crossdesk-eval-index-")
        .tempdir()
        .map_err(EvalError::TempDir)?;
    let root = directory.path().to_owned();
    let index =
        tokio::task::spawn_blocking(move || KnowledgeIndex::build(&root, faq, passages)).await??;
    Ok(EvalIndex {
        index: Arc::new(index),
        _directory: directory,
    })
}

/// Builds an answerer without a model over `index`, with the thresholds of
/// `config`.
pub fn answerer(config: &Config, index: Arc<KnowledgeIndex>) -> Result<Answerer, EvalError> {
    Ok(Answerer {
        config: Arc::new(config.clone()),
        index,
        generator: None,
        translator: None,
        texts: Arc::new(Texts::load()?),
    })
}

/// Makes a reviewed FAQ entry from evaluation data.
pub fn faq_entry(id: String, language: Language, question: &str, answer: &str) -> FaqEntry {
    FaqEntry {
        id,
        language,
        question: question.to_owned(),
        answer: answer.to_owned(),
        tags: Vec::new(),
        reviewed: true,
        source: "evaluation".to_owned(),
    }
}

/// Retrieves for every `(question, language)`, results in input order.
/// `parallel` is how many run at once; use 1 when each needs the model.
pub async fn retrieve_all(
    answerer: &Answerer,
    queries: &[(String, Language)],
    parallel: usize,
) -> Vec<Retrieval> {
    stream::iter(queries)
        .map(|(question, language)| answerer.retrieve(question, *language))
        .buffered(parallel.max(1))
        .collect()
        .await
}

/// Runs [`retrieve_all`] at the parallelism for searches without a model.
pub async fn search_all(answerer: &Answerer, queries: &[(String, Language)]) -> Vec<Retrieval> {
    retrieve_all(answerer, queries, PARALLEL_SEARCHES).await
}

/// The random generator for one purpose, derived from the run's seed so
/// that adding a draw in one place does not change the others.
pub fn rng(seed: u64, purpose: &str) -> StdRng {
    let salt = purpose
        .bytes()
        .fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| {
            (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
        });
    StdRng::seed_from_u64(seed ^ salt)
}

/// At most `n` items drawn without replacement, in their original order.
pub fn sample<T: Clone>(items: &[T], n: usize, rng: &mut StdRng) -> Vec<T> {
    if n >= items.len() {
        return items.to_vec();
    }
    let mut indices = rand::seq::index::sample(rng, items.len(), n).into_vec();
    indices.sort_unstable();
    indices.into_iter().map(|i| items[i].clone()).collect()
}

/// Returns the part of an evaluation FAQ id before `#`. Ids are `label#n`
/// so that several entries can share a label (an intent) without sharing an
/// id.
pub fn label_of(id: &str) -> &str {
    id.split_once('#').map_or(id, |(label, _)| label)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sample_is_seeded_and_ordered() {
        let items: Vec<u32> = (0..100).collect();
        let first = sample(&items, 10, &mut rng(7, "a"));
        let again = sample(&items, 10, &mut rng(7, "a"));
        let other = sample(&items, 10, &mut rng(7, "b"));
        assert_eq!(first, again);
        assert_ne!(first, other);
        assert!(first.windows(2).all(|pair| pair[0] < pair[1]));
        assert_eq!(sample(&items, 500, &mut rng(7, "a")).len(), 100);
    }

    #[test]
    fn label_is_the_part_before_hash() {
        assert_eq!(label_of("track_order#2"), "track_order");
        assert_eq!(label_of("plain"), "plain");
    }
}
