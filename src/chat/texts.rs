//! What the bot says, and the words it looks for, in every language.
//!
//! Both tables are embedded at build time from `phrases.toml` and
//! `lexicon.toml` beside this file and checked at start: every language must
//! have every phrase, so a missing translation fails loudly instead of
//! reaching a buyer as a blank or a raw template.

use std::collections::HashMap;

use serde::Deserialize;
use unicode_segmentation::UnicodeSegmentation;

use crate::language::{Language, Segmentation};

const PHRASES: &str = include_str!("phrases.toml");
const LEXICON: &str = include_str!("lexicon.toml");

#[derive(Debug, thiserror::Error)]
pub enum TextsError {
    #[error("embedded {file} is invalid: {message}")]
    Invalid { file: &'static str, message: String },
    #[error("embedded {file} has no table for language {language}")]
    MissingLanguage {
        file: &'static str,
        language: Language,
    },
    #[error("phrase {key:?} is missing for language {language}")]
    MissingPhrase { key: String, language: Language },
}

/// Why a conversation goes to a person.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EscalationReason {
    BuyerRequest,
    Anger,
}

impl EscalationReason {
    pub fn as_str(self) -> &'static str {
        match self {
            EscalationReason::BuyerRequest => "buyer_request",
            EscalationReason::Anger => "anger",
        }
    }
}

#[derive(Debug, Deserialize)]
struct Lexicon {
    person_request: Vec<String>,
    anger: Vec<String>,
    negation: Vec<String>,
    order_intent: Vec<String>,
}

/// Phrases and lexicon for all languages.
pub struct Texts {
    phrases: HashMap<Language, HashMap<String, String>>,
    lexicon: HashMap<Language, Lexicon>,
}

impl Texts {
    /// Parses and checks the embedded tables.
    pub fn load() -> Result<Self, TextsError> {
        let phrases: HashMap<String, HashMap<String, String>> =
            toml::from_str(PHRASES).map_err(|e| invalid("phrases.toml", e))?;
        let lexicon: HashMap<String, Lexicon> =
            toml::from_str(LEXICON).map_err(|e| invalid("lexicon.toml", e))?;
        let mut texts = Texts {
            phrases: HashMap::new(),
            lexicon: HashMap::new(),
        };
        for language in Language::ALL {
            let table = phrases
                .get(language.code())
                .ok_or(TextsError::MissingLanguage {
                    file: "phrases.toml",
                    language,
                })?;
            texts.phrases.insert(language, table.clone());
        }
        for (code, table) in lexicon {
            if let Ok(language) = code.parse::<Language>() {
                texts.lexicon.insert(language, lowercase(table));
            }
        }
        for language in Language::ALL {
            if !texts.lexicon.contains_key(&language) {
                return Err(TextsError::MissingLanguage {
                    file: "lexicon.toml",
                    language,
                });
            }
            for key in texts.phrases[&Language::English].keys() {
                if !texts.phrases[&language].contains_key(key) {
                    return Err(TextsError::MissingPhrase {
                        key: key.clone(),
                        language,
                    });
                }
            }
        }
        Ok(texts)
    }

    /// Returns a phrase in `language`.
    pub fn phrase(&self, language: Language, key: &str) -> &str {
        self.phrases[&language]
            .get(key)
            .or_else(|| self.phrases[&Language::English].get(key))
            .map(String::as_str)
            .unwrap_or_else(|| panic!("phrase {key:?} is checked at load"))
    }

    /// Returns whether a phrase key exists.
    pub fn has_phrase(&self, key: &str) -> bool {
        self.phrases[&Language::English].contains_key(key)
    }

    /// Renders a phrase with its `{name}` placeholders filled in.
    pub fn render(&self, language: Language, key: &str, values: &[(&str, &str)]) -> String {
        let mut text = self.phrase(language, key).to_owned();
        for (name, value) in values {
            text = text.replace(&format!("{{{name}}}"), value);
        }
        text
    }

    /// Whether the message asks for a person or is angry, in any language.
    pub fn escalation(&self, text: &str) -> Option<EscalationReason> {
        let matcher = Matcher::new(text);
        let any = |pick: fn(&Lexicon) -> &Vec<String>| {
            self.lexicon.iter().any(|(language, lexicon)| {
                pick(lexicon)
                    .iter()
                    .any(|term| matcher.contains(term, *language))
            })
        };
        if any(|l| &l.person_request) {
            Some(EscalationReason::BuyerRequest)
        } else if any(|l| &l.anger) {
            Some(EscalationReason::Anger)
        } else {
            None
        }
    }

    /// Whether the message asks about an order's status, in any language.
    pub fn has_order_intent(&self, text: &str) -> bool {
        let matcher = Matcher::new(text);
        self.lexicon.iter().any(|(language, l)| {
            l.order_intent
                .iter()
                .any(|t| matcher.contains(t, *language))
        })
    }

    /// Returns whether `text`, written in `language`, contains a negation.
    pub fn has_negation(&self, text: &str, language: Language) -> bool {
        let matcher = Matcher::new(text);
        self.lexicon[&language]
            .negation
            .iter()
            .any(|t| matcher.contains(t, language))
    }
}

/// Matches lexicon terms: whole words for languages written with spaces,
/// substrings for dense scripts and for Korean, whose particles attach to
/// words.
struct Matcher {
    lowered: String,
    words: String,
}

impl Matcher {
    fn new(text: &str) -> Self {
        let lowered = text.to_lowercase();
        let words: Vec<&str> = lowered.unicode_words().collect();
        Self {
            words: format!(" {} ", words.join(" ")),
            lowered,
        }
    }

    fn contains(&self, term: &str, language: Language) -> bool {
        let substring = matches!(language.segmentation(), Segmentation::CharacterBigrams);
        if substring {
            return self.lowered.contains(term);
        }
        let term_words: Vec<&str> = term.unicode_words().collect();
        if term_words.is_empty() {
            return false;
        }
        self.words.contains(&format!(" {} ", term_words.join(" ")))
    }
}

fn lowercase(lexicon: Lexicon) -> Lexicon {
    let lower = |list: Vec<String>| list.into_iter().map(|t| t.trim().to_lowercase()).collect();
    Lexicon {
        person_request: lower(lexicon.person_request),
        anger: lower(lexicon.anger),
        negation: lower(lexicon.negation),
        order_intent: lower(lexicon.order_intent),
    }
}

fn invalid(file: &'static str, error: toml::de::Error) -> TextsError {
    TextsError::Invalid {
        file,
        message: error.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts() -> Texts {
        Texts::load().expect("embedded tables are valid")
    }

    #[test]
    fn every_phrase_renders_without_placeholders() {
        let texts = texts();
        let keys: Vec<String> = texts.phrases[&Language::English].keys().cloned().collect();
        let values = [
            ("order", "A1024"),
            ("status", "shipped"),
            ("carrier", "DHL"),
            ("tracking", "123"),
            ("shipped_on", "2026-11-02"),
            ("estimated_delivery", "2026-11-20"),
            ("items", "KB-HB150 x 400"),
            ("name", "Li Wei"),
        ];
        for language in Language::ALL {
            for key in &keys {
                let text = texts.render(language, key, &values);
                assert!(
                    !text.contains('{') && !text.contains('}'),
                    "{language} {key}: {text}"
                );
                assert!(!text.trim().is_empty(), "{language} {key} is empty");
            }
        }
    }

    #[test]
    fn person_requests_escalate_in_many_languages() {
        let texts = texts();
        for text in [
            "I want to talk to a human",
            "quiero hablar con una persona",
            "转人工",
            "担当者と話したい",
            "أريد التحدث مع موظف",
        ] {
            assert_eq!(
                texts.escalation(text),
                Some(EscalationReason::BuyerRequest),
                "{text}"
            );
        }
    }

    #[test]
    fn ordinary_questions_do_not_escalate() {
        let texts = texts();
        for text in [
            "What is your minimum order quantity?",
            "¿Cuál es el pedido mínimo?",
            "Is the warranty void if the light is broken?",
            "最低起订量是多少？",
        ] {
            assert_eq!(texts.escalation(text), None, "{text}");
        }
    }

    #[test]
    fn negation_uses_whole_words() {
        let texts = texts();
        assert!(texts.has_negation("Free unless damaged", Language::English));
        assert!(!texts.has_negation("I know it is free now", Language::English));
        assert!(texts.has_negation("除非损坏", Language::Chinese));
    }
}
