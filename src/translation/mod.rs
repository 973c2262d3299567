//! Machine translation with the local model, checked and cached.
//!
//! Questions are translated into the knowledge base's language to search it
//! (inbound: a wrong word costs a worse search, nothing more). Answers are
//! translated into the buyer's language only when no reviewed translation
//! exists (outbound), and every outbound translation is checked by
//! [`check::check_translation`] before anyone may send it. Results are cached
//! in the store by source text and target language, check result included.

pub mod check;
pub mod glossary;

use std::sync::Arc;

use sha2::{Digest, Sha256};
use tracing::{debug, warn};

use crate::chat::texts::Texts;
use crate::inference::{
    ChatMessage, GenerationEvent, GenerationRequest, Generator, InferenceError, Role,
};
use crate::language::Language;
use crate::storage::{Store, StoreError};

pub use check::{CheckFailure, check_translation};
pub use glossary::Glossary;

#[derive(Debug, thiserror::Error)]
pub enum TranslateError {
    #[error(transparent)]
    Inference(#[from] InferenceError),
    #[error("generation failed: {0}")]
    Generation(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// An outbound translation and its check result.
#[derive(Debug, Clone)]
pub struct Translation {
    pub text: String,
    /// `None` when the translation passed the check.
    pub failure: Option<String>,
}

/// Translates with the local model.
#[derive(Clone)]
pub struct Translator {
    generator: Arc<dyn Generator>,
    store: Store,
    texts: Arc<Texts>,
    glossary: Glossary,
    max_tokens: usize,
}

impl Translator {
    pub fn new(
        generator: Arc<dyn Generator>,
        store: Store,
        texts: Arc<Texts>,
        glossary: Glossary,
        max_tokens: usize,
    ) -> Self {
        Self {
            generator,
            store,
            texts,
            glossary,
            max_tokens,
        }
    }

    /// Translates a buyer's question for searching; not checked.
    pub async fn translate_query(
        &self,
        text: &str,
        from: Language,
        to: Language,
    ) -> Result<String, TranslateError> {
        let key = self.cache_key(text, from);
        if let Some((cached, _)) = self.store.cached_translation(&key, to).await? {
            return Ok(cached);
        }
        // A lost protected term costs a worse search here, nothing more.
        let (translated, _) = self.generate(text, from, to).await?;
        self.store
            .cache_translation(&key, to, text, &translated, None)
            .await?;
        Ok(translated)
    }

    /// Translates text someone will read (an answer or a staff reply for a
    /// buyer, a buyer message for an agent) and checks it. `protected_terms`
    /// are checked in addition to the glossary.
    pub async fn translate_answer(
        &self,
        text: &str,
        from: Language,
        to: Language,
        protected_terms: &[String],
    ) -> Result<Translation, TranslateError> {
        let key = self.cache_key(text, from);
        if let Some((cached, failure)) = self.store.cached_translation(&key, to).await? {
            return Ok(Translation {
                text: cached,
                failure,
            });
        }
        let (translated, lost_term) = self.generate(text, from, to).await?;
        let mut terms = protected_terms.to_vec();
        terms.extend(self.glossary.terms().iter().cloned());
        let failure = match lost_term {
            Some(term) => Some(CheckFailure::MissingTerm(term).to_string()),
            None => check_translation(&self.texts, text, from, &translated, to, &terms)
                .err()
                .map(|failure| failure.to_string()),
        };
        if let Some(reason) = &failure {
            warn!(from = %from, to = %to, %reason, "machine translation failed its check");
        }
        self.store
            .cache_translation(&key, to, text, &translated, failure.as_deref())
            .await?;
        Ok(Translation {
            text: translated,
            failure,
        })
    }

    /// Returns the cached translation of `text`, if one was made.
    pub async fn cached(
        &self,
        text: &str,
        from: Language,
        to: Language,
    ) -> Result<Option<String>, TranslateError> {
        let key = self.cache_key(text, from);
        let cached = self.store.cached_translation(&key, to).await?;
        Ok(cached.map(|(translated, _)| translated))
    }

    /// Translates with protected terms masked; returns the translation with
    /// the terms restored, and the first term the model lost, if any.
    async fn generate(
        &self,
        text: &str,
        from: Language,
        to: Language,
    ) -> Result<(String, Option<String>), TranslateError> {
        let masked = self.glossary.mask(text);
        let mut system = format!(
            "You translate customer-service messages for an LED lighting exporter from {} \
             into {}. Keep every number, price, date, model number, order number, e-mail \
             address and URL exactly as written. Reply with the translation only.",
            from.english_name(),
            to.english_name()
        );
        if !masked.slots.is_empty() {
            system.push_str(" Copy placeholders such as [T1] unchanged.");
        }
        let request = GenerationRequest {
            messages: vec![
                ChatMessage::new(Role::System, system),
                ChatMessage::new(Role::User, masked.text.clone()),
            ],
            max_new_tokens: self.max_tokens,
        };
        let mut events = self.generator.submit(request)?;
        let mut output = String::new();
        while let Some(event) = events.recv().await {
            match event {
                GenerationEvent::Token(piece) => output.push_str(&piece),
                GenerationEvent::Finished(stats) => {
                    debug!(tokens = stats.generated_tokens, "translation finished");
                    break;
                }
                GenerationEvent::Failed(reason) => return Err(TranslateError::Generation(reason)),
                GenerationEvent::Rejected(error) => return Err(TranslateError::Inference(error)),
            }
        }
        let output = clean(&output);
        match masked.restore(&output) {
            Ok(restored) => Ok((restored, None)),
            Err(term) => Ok((output, Some(term))),
        }
    }

    /// Cache key of a source text; it changes with the glossary, so a newly
    /// protected term is never served from an older translation.
    fn cache_key(&self, text: &str, from: Language) -> String {
        let mut hasher = Sha256::new();
        hasher.update(from.code().as_bytes());
        hasher.update([0]);
        hasher.update(self.glossary.fingerprint().as_bytes());
        hasher.update([0]);
        hasher.update(text.as_bytes());
        format!("{:x}", hasher.finalize())
    }
}

/// Removes quotes and labels small models add around a translation.
fn clean(output: &str) -> String {
    let mut text = output.trim();
    for label in ["Translation:", "Translated text:"] {
        if let Some(rest) = text.strip_prefix(label) {
            text = rest.trim();
        }
    }
    for (open, close) in [('"', '"'), ('“', '”'), ('「', '」')] {
        if let Some(inner) = text.strip_prefix(open).and_then(|t| t.strip_suffix(close)) {
            text = inner.trim();
        }
    }
    text.to_owned()
}
