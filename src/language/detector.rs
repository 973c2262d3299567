//! Language detection for chat messages with lingua, weighted by a prior.
//!
//! A message first loses what carries no language: URLs, e-mail addresses,
//! tokens with digits (order numbers, model numbers, prices), emoji and
//! punctuation. If too little text remains, detection returns no language and
//! the caller keeps the conversation's language. Otherwise lingua's confidence
//! values are combined with a prior: the conversation's current language
//! weighs strongly on short messages and little on long ones, and the page
//! locale weighs less than that.

use std::sync::LazyLock;

use lingua::{LanguageDetector, LanguageDetectorBuilder};
use regex::Regex;

use super::Language;

/// Text with fewer letters than this (CJK characters count three) carries
/// no reliable language signal.
const MIN_LETTERS: usize = 5;

/// A single word shorter than this never overrides the conversation's
/// language or the locale ("thanks", "merci", "order" are used or spelled
/// alike across languages).
const MIN_SWITCH_WORD_LETTERS: usize = 8;

/// Result of detecting one message.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Detection {
    /// The language of the message, or `None` when the text is too short or
    /// carries no language ("ok", "👍", "#A1024").
    pub language: Option<Language>,
    /// lingua's confidence for `language`, from 0 to 1; 0 when `language` is
    /// `None`.
    pub confidence: f64,
}

/// What is known about a message's language before reading it.
#[derive(Debug, Clone, Copy, Default)]
pub struct Prior {
    /// The language the conversation has been in so far.
    pub conversation: Option<Language>,
    /// The page or browser locale sent by the widget.
    pub locale: Option<Language>,
}

/// A lingua detector restricted to the supported languages.
pub struct Detector {
    lingua: LanguageDetector,
}

impl Detector {
    /// Builds the detector with every language model loaded, so the first
    /// message is as fast as the rest (costs a few hundred MB and seconds).
    pub fn new() -> Self {
        let languages: Vec<lingua::Language> =
            Language::ALL.iter().map(|l| l.to_lingua()).collect();
        let lingua = LanguageDetectorBuilder::from_languages(&languages)
            .with_preloaded_language_models()
            .build();
        // One detection per script loads every model now rather than on the
        // first buyer message.
        lingua.compute_language_confidence_values("warm up 準備 подготовка تحضير");
        Self { lingua }
    }

    /// Detects the language of `text` given what the conversation already says.
    pub fn detect(&self, text: &str, prior: Prior) -> Detection {
        let content = strip_non_linguistic(text);
        let letters = weighted_letter_count(&content);
        if letters < MIN_LETTERS {
            return Detection {
                language: None,
                confidence: 0.0,
            };
        }
        let words = content.split_whitespace().count();
        let has_prior = prior.conversation.is_some() || prior.locale.is_some();
        if has_prior && words <= 1 && letters < MIN_SWITCH_WORD_LETTERS {
            return Detection {
                language: None,
                confidence: 0.0,
            };
        }

        let values = self
            .lingua
            .compute_language_confidence_values(content.as_str());
        let weight = prior_weight(letters);
        let best = values
            .iter()
            .filter_map(|(lingua, confidence)| {
                let language = Language::from_lingua(*lingua)?;
                let mut score = *confidence;
                if Some(language) == prior.conversation {
                    score += weight;
                } else if prior.conversation.is_none() && Some(language) == prior.locale {
                    score += weight / 2.0;
                }
                Some((language, *confidence, score))
            })
            .max_by(|a, b| a.2.total_cmp(&b.2));

        match best {
            Some((language, confidence, _)) if confidence > 0.0 => Detection {
                language: Some(language),
                confidence,
            },
            _ => Detection {
                language: None,
                confidence: 0.0,
            },
        }
    }
}

impl Default for Detector {
    fn default() -> Self {
        Self::new()
    }
}

/// How much the prior adds to a confidence value, by message length: a short
/// message rarely proves a change of language, a long one usually does.
fn prior_weight(letters: usize) -> f64 {
    match letters {
        0..20 => 0.35,
        20..40 => 0.15,
        _ => 0.05,
    }
}

/// HTML tags, URLs (also `javascript:` and `data:` ones), e-mail addresses,
/// and runs of ASCII letters, digits and joiners that contain a digit (order
/// numbers, model numbers, prices, "100pcs"). Markup pasted into a chat is no
/// evidence of the writer's language.
static NON_LINGUISTIC: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?i)</?[a-z][^<>]{0,200}>|\b(javascript|data|vbscript|mailto|file):\S*|(https?://|www\.)\S+|[\w.+-]+@[\w-]+(\.[\w-]+)+|[A-Za-z0-9#$€£¥.,/_-]*[0-9][A-Za-z0-9#$€£¥.,/_%-]*",
    )
    .expect("static regex is valid")
});

/// Removes URLs, e-mail addresses, codes and numbers, and every character
/// that is neither a letter nor whitespace. Codes are removed as ASCII runs,
/// not as whitespace-separated words, because Japanese or Chinese text
/// around a model number has no spaces.
pub fn strip_non_linguistic(text: &str) -> String {
    let without_codes = NON_LINGUISTIC.replace_all(text, " ");
    let letters: String = without_codes
        .chars()
        .map(|c| if c.is_alphabetic() { c } else { ' ' })
        .collect();
    letters.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn weighted_letter_count(text: &str) -> usize {
    text.chars()
        .filter(|c| c.is_alphabetic())
        .map(|c| if is_ideograph_or_kana(c) { 3 } else { 1 })
        .sum()
}

/// Han ideographs, kana and Hangul, each of which carries about a word.
pub fn is_ideograph_or_kana(c: char) -> bool {
    matches!(c as u32,
        0x3040..=0x30FF | 0x3400..=0x4DBF | 0x4E00..=0x9FFF | 0xF900..=0xFAFF
        | 0xAC00..=0xD7AF | 0x1100..=0x11FF | 0x3130..=0x318F | 0x20000..=0x2FA1F)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::LazyLock;

    static DETECTOR: LazyLock<Detector> = LazyLock::new(Detector::new);

    fn detect(text: &str, conversation: Option<Language>) -> Option<Language> {
        let prior = Prior {
            conversation,
            locale: None,
        };
        DETECTOR.detect(text, prior).language
    }

    #[test]
    fn markup_does_not_decide_the_language() {
        let arabic = "<b>مرحبا</b> javascript:alert(1) أريد موظف";
        assert_eq!(detect(arabic, None), Some(Language::Arabic));
        let spanish = "<img src=x onerror=alert(1)> hola, ¿tienen muestras gratis?";
        assert_eq!(detect(spanish, None), Some(Language::Spanish));
        let stripped = strip_non_linguistic("[x](javascript:alert(1)) <a href=\"y\">hola</a>");
        assert_eq!(stripped, "x hola");
    }

    #[test]
    fn short_tokens_carry_no_language() {
        for text in [
            "ok",
            "👍",
            "#A1024",
            "A1024",
            "ok!!",
            "https://x.example/a",
            "100 pcs",
        ] {
            assert_eq!(detect(text, Some(Language::Spanish)), None, "{text}");
        }
    }

    #[test]
    fn detects_full_sentences() {
        let cases = [
            (
                "¿Cuál es el pedido mínimo para las lámparas?",
                Language::Spanish,
            ),
            (
                "Wie lange dauert der Versand nach Deutschland?",
                Language::German,
            ),
            ("ما هي مدة الضمان على المصابيح؟", Language::Arabic),
            ("最低起订量是多少？", Language::Chinese),
            ("最低発注数量はいくつですか？", Language::Japanese),
            ("배송은 얼마나 걸리나요?", Language::Korean),
        ];
        for (text, expected) in cases {
            assert_eq!(detect(text, None), Some(expected), "{text}");
        }
    }

    #[test]
    fn codes_inside_japanese_are_removed_not_the_sentence() {
        assert_eq!(
            strip_non_linguistic("KB-HB150の価格はいくらですか？"),
            "の価格はいくらですか"
        );
        assert_eq!(
            detect("KB-HB150の価格はいくらですか？", None),
            Some(Language::Japanese)
        );
    }

    #[test]
    fn single_short_word_keeps_conversation_language() {
        assert_eq!(detect("thanks", Some(Language::Spanish)), None);
        assert_eq!(detect("merci", Some(Language::German)), None);
    }

    #[test]
    fn long_message_switches_language() {
        let text = "Actually, could you answer in English please, I do not read Spanish well.";
        assert_eq!(
            detect(text, Some(Language::Spanish)),
            Some(Language::English)
        );
    }
}
