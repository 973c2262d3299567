//! Answering one question from the knowledge base, independent of sockets.
//!
//! Retrieval runs in the buyer's language first; when that finds nothing
//! answerable and the model is available, the question is translated into
//! the knowledge base's language and searched again. The decision uses
//! retrieval coverage only, never the model's opinion:
//!
//! * an FAQ hit at or above `faq_confident`, clearly ahead of the next entry,
//!   is sent as written: the reviewed
//!   text in the buyer's language when it exists, else a checked machine
//!   translation marked as such, else the original text with a note;
//! * a hit at or above `answerable` is answered by the model from the top
//!   passages, and a reply with a number or code no passage contains is
//!   replaced by the top passage itself;
//! * anything lower gets the honest "I don't know" with an offer of a person.
//!
//! The chat session, `crossdesk ask` and the evaluation all call [`Answerer`].

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;
use tracing::{info, warn};

use super::texts::Texts;
use crate::config::Config;
use crate::inference::{
    ChatMessage, GenerationEvent, GenerationRequest, Generator, InferenceError, Role,
};
use crate::knowledge::{Hit, KnowledgeIndex, Source, SourceKind};
use crate::language::Language;
use crate::storage::TurnHit;
use crate::translation::check::{codes, numbers};
use crate::translation::{TranslateError, Translator};

/// Hits retrieved per search.
const SEARCH_LIMIT: usize = 5;

/// Passages given to the model lie within this much coverage of the top hit,
/// so a loosely related entry cannot lend the model its numbers.
const PASSAGE_WINDOW: f32 = 0.15;

/// How far the top FAQ entry's coverage must lead the next different entry
/// for the entry to be sent as written; closer calls go to the model, which
/// sees both passages.
const CONFIDENT_MARGIN: f32 = 0.1;

/// The origin of a reply's text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AnswerSource {
    Faq,
    TranslatedFaq,
    Passage,
    Generated,
    Order,
    Fallback,
    Busy,
    Escalation,
}

impl AnswerSource {
    pub fn as_str(self) -> &'static str {
        match self {
            AnswerSource::Faq => "faq",
            AnswerSource::TranslatedFaq => "translated_faq",
            AnswerSource::Passage => "passage",
            AnswerSource::Generated => "generated",
            AnswerSource::Order => "order",
            AnswerSource::Fallback => "fallback",
            AnswerSource::Busy => "busy",
            AnswerSource::Escalation => "escalation",
        }
    }
}

/// The result of retrieval, before any reply is written.
#[derive(Debug, Clone)]
pub struct Retrieval {
    pub hits: Vec<Hit>,
    /// Language the hits were found in.
    pub search_language: Language,
    /// The question as translated for the second search, if one ran.
    pub translated_query: Option<String>,
    /// The model was needed for the second search but was busy.
    pub translation_busy: bool,
}

/// A finished reply.
#[derive(Debug, Clone, Serialize)]
pub struct Answer {
    pub text: String,
    pub language: Language,
    pub machine_translated: bool,
    pub source: AnswerSource,
    pub sources: Vec<Source>,
    pub note: Option<String>,
    pub check_failure: Option<String>,
    pub generated_tokens: Option<usize>,
    pub time_to_first_token: Option<Duration>,
    /// Queue the conversation for a person after sending this reply, for
    /// this reason.
    #[serde(skip)]
    pub escalation: Option<&'static str>,
}

/// Answers questions from the knowledge base with optional model help.
#[derive(Clone)]
pub struct Answerer {
    pub config: Arc<Config>,
    pub index: Arc<KnowledgeIndex>,
    pub generator: Option<Arc<dyn Generator>>,
    pub translator: Option<Translator>,
    pub texts: Arc<Texts>,
}

impl Answerer {
    /// Searches in `language`, then in the knowledge language if needed.
    pub async fn retrieve(&self, question: &str, language: Language) -> Retrieval {
        let first = self.search(question, language).await;
        let knowledge_language = self.config.knowledge_language;
        let answerable = self.config.retrieval.answerable;
        if best_coverage(&first) >= answerable || language == knowledge_language {
            return Retrieval {
                hits: first,
                search_language: language,
                translated_query: None,
                translation_busy: false,
            };
        }
        let Some(translator) = &self.translator else {
            return Retrieval {
                hits: first,
                search_language: language,
                translated_query: None,
                translation_busy: false,
            };
        };
        match translator
            .translate_query(question, language, knowledge_language)
            .await
        {
            Ok(translated) => {
                let second = self.search(&translated, knowledge_language).await;
                let use_second = best_coverage(&second) > best_coverage(&first);
                Retrieval {
                    hits: if use_second { second } else { first },
                    search_language: if use_second {
                        knowledge_language
                    } else {
                        language
                    },
                    translated_query: Some(translated),
                    translation_busy: false,
                }
            }
            Err(error) => {
                let busy = matches!(
                    error,
                    TranslateError::Inference(InferenceError::Busy { .. })
                );
                warn!(%error, "question translation failed");
                Retrieval {
                    hits: first,
                    search_language: language,
                    translated_query: None,
                    translation_busy: busy,
                }
            }
        }
    }

    /// Writes the reply for a question whose hits are known. `on_delta`
    /// receives streamed text of generated replies.
    pub async fn compose(
        &self,
        question: &str,
        language: Language,
        retrieval: &Retrieval,
        on_delta: &(dyn Fn(&str) + Send + Sync),
    ) -> Answer {
        let retrieval_config = &self.config.retrieval;
        let Some(top) = retrieval.hits.first() else {
            return self.fallback(language, retrieval.translation_busy);
        };
        if top.coverage < retrieval_config.answerable {
            return self.fallback(language, retrieval.translation_busy);
        }
        let runner_up = retrieval.hits.iter().find(|h| h.id != top.id);
        let clear_lead = runner_up.is_none_or(|h| top.coverage - h.coverage >= CONFIDENT_MARGIN);
        let confident = top.kind == SourceKind::Faq
            && top.coverage >= retrieval_config.faq_confident
            && clear_lead;
        if confident {
            return self.extractive(top, language).await;
        }
        if self.generator.is_some() {
            return self
                .generate(question, language, &retrieval.hits, on_delta)
                .await;
        }
        // Without a model, a passage that does not clearly lead is a guess
        // between topics (shipping to Africa or to North America?), unless
        // it covers the whole question and BM25 ranks it first among equals.
        let complete = top.coverage >= retrieval_config.faq_confident;
        if clear_lead || complete {
            self.extractive(top, language).await
        } else {
            self.fallback(language, false)
        }
    }

    /// Retrieves and composes in one call.
    pub async fn answer(
        &self,
        question: &str,
        language: Language,
        on_delta: &(dyn Fn(&str) + Send + Sync),
    ) -> (Retrieval, Answer) {
        let retrieval = self.retrieve(question, language).await;
        let answer = self.compose(question, language, &retrieval, on_delta).await;
        (retrieval, answer)
    }

    async fn search(&self, question: &str, language: Language) -> Vec<Hit> {
        let snapshot = self.index.snapshot();
        let question = question.to_owned();
        let result =
            tokio::task::spawn_blocking(move || snapshot.search(&question, language, SEARCH_LIMIT))
                .await
                .expect("search task does not panic");
        let mut hits = result.unwrap_or_else(|error| {
            warn!(%error, "search failed");
            Vec::new()
        });
        hits.sort_by(|a, b| {
            b.coverage
                .total_cmp(&a.coverage)
                .then(b.score.total_cmp(&a.score))
        });
        hits
    }

    fn fallback(&self, language: Language, busy: bool) -> Answer {
        let (key, source) = if busy {
            ("busy", AnswerSource::Busy)
        } else {
            ("dont_know", AnswerSource::Fallback)
        };
        Answer {
            text: self.texts.phrase(language, key).to_owned(),
            language,
            machine_translated: false,
            source,
            sources: Vec::new(),
            note: None,
            check_failure: None,
            generated_tokens: None,
            time_to_first_token: None,
            escalation: None,
        }
    }

    /// Sends a hit's own text in the buyer's language, as well as possible.
    async fn extractive(&self, hit: &Hit, language: Language) -> Answer {
        let snapshot = self.index.snapshot();
        let base_source = if hit.kind == SourceKind::Faq {
            AnswerSource::Faq
        } else {
            AnswerSource::Passage
        };
        let mut answer = Answer {
            text: hit.body.clone(),
            language: hit.language,
            machine_translated: false,
            source: base_source,
            sources: vec![source_of(hit)],
            note: None,
            check_failure: None,
            generated_tokens: None,
            time_to_first_token: None,
            escalation: None,
        };
        if hit.kind == SourceKind::Faq
            && let Some(reviewed) = snapshot.faq_entry(&hit.id, language)
        {
            answer.text = reviewed.answer.clone();
            answer.language = language;
            answer.sources[0].title = reviewed.question.clone();
            return answer;
        }
        if hit.language == language {
            return answer;
        }
        self.translate_or_note(answer, hit, language).await
    }

    async fn translate_or_note(&self, mut answer: Answer, hit: &Hit, language: Language) -> Answer {
        let note = self
            .texts
            .phrase(language, "translation_failed_note")
            .to_owned();
        let Some(translator) = &self.translator else {
            answer.note = Some(note);
            return answer;
        };
        let protected = protected_terms(&hit.body);
        match translator
            .translate_answer(&hit.body, hit.language, language, &protected)
            .await
        {
            Ok(translation) if translation.failure.is_none() => {
                answer.text = translation.text;
                answer.language = language;
                answer.machine_translated = true;
                if answer.source == AnswerSource::Faq {
                    answer.source = AnswerSource::TranslatedFaq;
                }
            }
            Ok(translation) => {
                answer.check_failure = translation.failure;
                answer.note = Some(note);
            }
            Err(error) => {
                warn!(%error, "answer translation failed");
                answer.check_failure = Some(error.to_string());
                answer.note = Some(note);
            }
        }
        answer
    }

    async fn generate(
        &self,
        question: &str,
        language: Language,
        hits: &[Hit],
        on_delta: &(dyn Fn(&str) + Send + Sync),
    ) -> Answer {
        let floor = self
            .config
            .retrieval
            .answerable
            .max(hits[0].coverage - PASSAGE_WINDOW);
        let passages: Vec<&Hit> = hits
            .iter()
            .filter(|h| h.coverage >= floor)
            .take(self.config.retrieval.passages)
            .collect();
        let grounding: Vec<&str> = passages
            .iter()
            .flat_map(|h| [h.title.as_str(), h.body.as_str()])
            .collect();
        let top = [passages[0].title.as_str(), passages[0].body.as_str()];
        if let Some(premise) = unsupported_fact(question, &top) {
            // A question that names a number or code the best passage lacks
            // ("a 10 year warranty", "is the KB-PL6060 IP65?") invites the
            // model to confirm it; the passage states what is true instead.
            // NOTE: a false premise without a number or code ("free
            // shipping to the USA?") still reaches the model unchecked.
            info!(%premise, "question premise not in the passages, sending the passage");
            return self
                .replaced(passages[0], language, format!("question premise {premise}"))
                .await;
        }
        let generator = self
            .generator
            .as_ref()
            .expect("generate is called with a model");
        let request = GenerationRequest {
            messages: grounded_prompt(question, language, &passages),
            max_new_tokens: self.config.model.max_reply_tokens,
        };
        let started = Instant::now();
        let mut events = match generator.submit(request) {
            Ok(events) => events,
            Err(error) => {
                info!(%error, "model unavailable, sending the passage instead");
                return self.extractive(passages[0], language).await;
            }
        };
        let mut text = String::new();
        let mut first_token = None;
        let mut tokens = None;
        while let Some(event) = events.recv().await {
            match event {
                GenerationEvent::Token(piece) => {
                    first_token.get_or_insert_with(|| started.elapsed());
                    text.push_str(&piece);
                    on_delta(&piece);
                }
                GenerationEvent::Finished(stats) => {
                    tokens = Some(stats.generated_tokens);
                    break;
                }
                GenerationEvent::Failed(reason) => {
                    warn!(%reason, "generation failed, sending the passage instead");
                    return self.extractive(passages[0], language).await;
                }
                GenerationEvent::Rejected(error) => {
                    warn!(%error, "generation rejected, sending the passage instead");
                    return self.extractive(passages[0], language).await;
                }
            }
        }

        if let Some(unsupported) = unsupported_fact(text.trim(), &grounding) {
            info!(%unsupported, "generated reply not grounded, sending the passage instead");
            let reason = format!("generated reply contained {unsupported}");
            return self.replaced(passages[0], language, reason).await;
        }
        Answer {
            text: text.trim().to_owned(),
            language,
            machine_translated: false,
            source: AnswerSource::Generated,
            sources: passages.iter().map(|h| source_of(h)).collect(),
            note: None,
            check_failure: None,
            generated_tokens: tokens,
            time_to_first_token: first_token,
            escalation: None,
        }
    }

    /// Sends a passage as written in place of a generated reply.
    async fn replaced(&self, hit: &Hit, language: Language, reason: String) -> Answer {
        let mut answer = self.extractive(hit, language).await;
        answer.check_failure = Some(reason);
        answer.note.get_or_insert_with(|| {
            self.texts
                .phrase(language, "generated_replaced_note")
                .to_owned()
        });
        answer
    }
}

/// Builds the prompt for a reply grounded in passages.
fn grounded_prompt(question: &str, language: Language, passages: &[&Hit]) -> Vec<ChatMessage> {
    let mut context = String::new();
    for (i, hit) in passages.iter().enumerate() {
        context.push_str(&format!("[{}] {}\n{}\n\n", i + 1, hit.title, hit.body));
    }
    let system = format!(
        "You are the customer-service assistant of an LED lighting exporter. Answer the \
         buyer's question using only the facts in the passages below. Copy numbers, prices, \
         dates and model numbers exactly from the passages; never add a number that is not in \
         them. Answer in {} in at most three sentences.\n\nPassages:\n{}",
        language.english_name(),
        context.trim_end()
    );
    vec![
        ChatMessage::new(Role::System, system),
        ChatMessage::new(Role::User, question),
    ]
}

/// Finds the first number or code (such as IP65 or KB-HB150) in `text` that
/// appears in none of the `grounding` texts.
pub fn unsupported_fact(text: &str, grounding: &[&str]) -> Option<String> {
    let grounding_lower = grounding.join("\n").to_lowercase();
    let unknown_code = codes(text)
        .into_iter()
        .find(|code| !grounding_lower.contains(&code.to_lowercase()));
    if unknown_code.is_some() {
        return unknown_code;
    }
    let known: std::collections::HashSet<String> = grounding
        .iter()
        .flat_map(|text| numbers(text))
        .map(|n| n.trim_start_matches('0').to_owned())
        .collect();
    numbers(text)
        .into_iter()
        .map(|n| n.trim_start_matches('0').to_owned())
        .find(|n| !n.is_empty() && !known.contains(n))
}

/// Model numbers and other letter-digit codes in a text, kept verbatim in
/// translations.
fn protected_terms(text: &str) -> Vec<String> {
    text.split(|c: char| c.is_whitespace() || matches!(c, ',' | ';' | '(' | ')' | '.'))
        .filter(|w| w.chars().any(|c| c.is_ascii_digit()) && w.chars().any(|c| c.is_alphabetic()))
        .map(str::to_owned)
        .collect()
}

fn best_coverage(hits: &[Hit]) -> f32 {
    hits.iter().map(|h| h.coverage).fold(0.0, f32::max)
}

/// Builds the citation for a hit.
pub fn source_of(hit: &Hit) -> Source {
    Source {
        kind: hit.kind,
        id: hit.id.clone(),
        title: hit.title.clone(),
        url: None,
        score: hit.score,
    }
}

/// Converts hits to the form the turn log stores.
pub fn turn_hits(hits: &[Hit]) -> Vec<TurnHit> {
    hits.iter()
        .map(|h| TurnHit {
            kind: h.kind.as_str().to_owned(),
            id: h.id.clone(),
            language: h.language,
            score: h.score,
            coverage: h.coverage,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inference::ModelInfo;
    use crate::knowledge::FaqEntry;
    use tokio::sync::mpsc;

    /// A model whose queue is always full.
    struct BusyModel;

    impl Generator for BusyModel {
        fn submit(
            &self,
            _request: GenerationRequest,
        ) -> Result<mpsc::Receiver<GenerationEvent>, InferenceError> {
            Err(InferenceError::Busy { capacity: 1 })
        }

        fn info(&self) -> ModelInfo {
            ModelInfo {
                path: "busy".into(),
                architecture: "none".into(),
                name: "busy".into(),
                parameters_file_bytes: 0,
                context_length: 0,
            }
        }
    }

    fn entry(id: &str, question: &str, answer: &str) -> FaqEntry {
        FaqEntry {
            id: id.into(),
            language: Language::English,
            question: question.into(),
            answer: answer.into(),
            tags: Vec::new(),
            reviewed: true,
            source: "test".into(),
        }
    }

    #[tokio::test]
    async fn busy_model_falls_back_to_passage() {
        let dir = tempfile::tempdir().unwrap();
        let faq = vec![
            entry(
                "ship-eu",
                "How long is shipping to Europe?",
                "Sea freight takes 30 days.",
            ),
            entry(
                "ship-us",
                "How long is shipping to the USA?",
                "Sea freight takes 25 days.",
            ),
        ];
        let index = KnowledgeIndex::build(dir.path(), faq, Vec::new()).unwrap();
        let answerer = Answerer {
            config: Arc::new(Config::default()),
            index: Arc::new(index),
            generator: Some(Arc::new(BusyModel)),
            translator: None,
            texts: Arc::new(Texts::load().unwrap()),
        };

        let (retrieval, answer) = answerer
            .answer("How long is shipping?", Language::English, &|_| {})
            .await;

        assert!(
            retrieval.hits.len() >= 2,
            "both entries match: {:?}",
            retrieval.hits
        );
        assert_eq!(answer.source, AnswerSource::Faq, "{answer:?}");
        assert!(answer.text.starts_with("Sea freight takes"), "{answer:?}");
    }

    #[test]
    fn unsupported_number_is_found() {
        let grounding = ["The MOQ of KB-HB150 is 200 pieces per model."];
        assert_eq!(unsupported_fact("The MOQ is 200 pieces.", &grounding), None);
        assert_eq!(
            unsupported_fact("The MOQ is 100 pieces.", &grounding),
            Some("100".to_owned())
        );
        assert_eq!(
            unsupported_fact("Is the kb-hb150 IP65?", &grounding),
            Some("IP65".to_owned())
        );
    }

    #[test]
    fn protected_terms_are_codes() {
        assert_eq!(
            protected_terms("Use KB-HB150 (IP65), not 200 pcs."),
            ["KB-HB150", "IP65"]
        );
    }
}
