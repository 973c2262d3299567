//! Buyer languages and language detection.
//!
//! [`Language`] is the closed set of languages crossdesk serves end to end.
//! Every mapping to another library's language type is an exhaustive `match`,
//! so adding a language fails to compile until each mapping handles it.
//!
//! Detection ([`detector::Detector`]) never decides on messages too short to
//! carry a language ("ok", "👍", "#A1024"): those keep the conversation's
//! language. It does not translate and does not know about conversations
//! beyond the prior it is given.

pub mod detector;

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A language crossdesk serves: detection, retrieval, replies and widget.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(into = "&'static str", try_from = "String")]
pub enum Language {
    English,
    Spanish,
    Portuguese,
    French,
    German,
    Italian,
    Dutch,
    Russian,
    Polish,
    Turkish,
    Arabic,
    Hebrew,
    Persian,
    Hindi,
    Vietnamese,
    Thai,
    Indonesian,
    Japanese,
    Korean,
    Chinese,
}

/// How retrieval splits text of a language into terms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Segmentation {
    /// Words split at whitespace and punctuation, lower-cased, stemmed when
    /// tantivy has a stemmer for the language.
    Words(Option<tantivy::tokenizer::Language>),
    /// Overlapping character bigrams, for scripts written without spaces.
    CharacterBigrams,
}

impl Language {
    /// Every supported language, in a fixed order.
    pub const ALL: [Language; 20] = [
        Language::English,
        Language::Spanish,
        Language::Portuguese,
        Language::French,
        Language::German,
        Language::Italian,
        Language::Dutch,
        Language::Russian,
        Language::Polish,
        Language::Turkish,
        Language::Arabic,
        Language::Hebrew,
        Language::Persian,
        Language::Hindi,
        Language::Vietnamese,
        Language::Thai,
        Language::Indonesian,
        Language::Japanese,
        Language::Korean,
        Language::Chinese,
    ];

    /// ISO 639-1 code.
    pub fn code(self) -> &'static str {
        match self {
            Language::English => "en",
            Language::Spanish => "es",
            Language::Portuguese => "pt",
            Language::French => "fr",
            Language::German => "de",
            Language::Italian => "it",
            Language::Dutch => "nl",
            Language::Russian => "ru",
            Language::Polish => "pl",
            Language::Turkish => "tr",
            Language::Arabic => "ar",
            Language::Hebrew => "he",
            Language::Persian => "fa",
            Language::Hindi => "hi",
            Language::Vietnamese => "vi",
            Language::Thai => "th",
            Language::Indonesian => "id",
            Language::Japanese => "ja",
            Language::Korean => "ko",
            Language::Chinese => "zh",
        }
    }

    /// English name, used in model prompts.
    pub fn english_name(self) -> &'static str {
        match self {
            Language::English => "English",
            Language::Spanish => "Spanish",
            Language::Portuguese => "Portuguese",
            Language::French => "French",
            Language::German => "German",
            Language::Italian => "Italian",
            Language::Dutch => "Dutch",
            Language::Russian => "Russian",
            Language::Polish => "Polish",
            Language::Turkish => "Turkish",
            Language::Arabic => "Arabic",
            Language::Hebrew => "Hebrew",
            Language::Persian => "Persian",
            Language::Hindi => "Hindi",
            Language::Vietnamese => "Vietnamese",
            Language::Thai => "Thai",
            Language::Indonesian => "Indonesian",
            Language::Japanese => "Japanese",
            Language::Korean => "Korean",
            Language::Chinese => "Simplified Chinese",
        }
    }

    /// Whether the script is written right to left.
    pub fn is_right_to_left(self) -> bool {
        matches!(
            self,
            Language::Arabic | Language::Hebrew | Language::Persian
        )
    }

    /// The retrieval analyzer for this language.
    pub fn segmentation(self) -> Segmentation {
        use tantivy::tokenizer::Language as Stemmer;
        match self {
            Language::English => Segmentation::Words(Some(Stemmer::English)),
            Language::Spanish => Segmentation::Words(Some(Stemmer::Spanish)),
            Language::Portuguese => Segmentation::Words(Some(Stemmer::Portuguese)),
            Language::French => Segmentation::Words(Some(Stemmer::French)),
            Language::German => Segmentation::Words(Some(Stemmer::German)),
            Language::Italian => Segmentation::Words(Some(Stemmer::Italian)),
            Language::Dutch => Segmentation::Words(Some(Stemmer::Dutch)),
            Language::Russian => Segmentation::Words(Some(Stemmer::Russian)),
            Language::Turkish => Segmentation::Words(Some(Stemmer::Turkish)),
            Language::Arabic => Segmentation::Words(Some(Stemmer::Arabic)),
            Language::Polish
            | Language::Hebrew
            | Language::Persian
            | Language::Hindi
            | Language::Vietnamese
            | Language::Indonesian => Segmentation::Words(None),
            Language::Thai | Language::Japanese | Language::Korean | Language::Chinese => {
                Segmentation::CharacterBigrams
            }
        }
    }

    /// The lingua language for detection.
    pub fn to_lingua(self) -> lingua::Language {
        match self {
            Language::English => lingua::Language::English,
            Language::Spanish => lingua::Language::Spanish,
            Language::Portuguese => lingua::Language::Portuguese,
            Language::French => lingua::Language::French,
            Language::German => lingua::Language::German,
            Language::Italian => lingua::Language::Italian,
            Language::Dutch => lingua::Language::Dutch,
            Language::Russian => lingua::Language::Russian,
            Language::Polish => lingua::Language::Polish,
            Language::Turkish => lingua::Language::Turkish,
            Language::Arabic => lingua::Language::Arabic,
            Language::Hebrew => lingua::Language::Hebrew,
            Language::Persian => lingua::Language::Persian,
            Language::Hindi => lingua::Language::Hindi,
            Language::Vietnamese => lingua::Language::Vietnamese,
            Language::Thai => lingua::Language::Thai,
            Language::Indonesian => lingua::Language::Indonesian,
            Language::Japanese => lingua::Language::Japanese,
            Language::Korean => lingua::Language::Korean,
            Language::Chinese => lingua::Language::Chinese,
        }
    }

    /// The language for a lingua result; `None` for languages outside the set.
    pub fn from_lingua(language: lingua::Language) -> Option<Language> {
        Language::ALL
            .into_iter()
            .find(|l| l.to_lingua() == language)
    }

    /// Parses a BCP 47 locale such as `es-MX` or `zh_Hans_CN` by its primary
    /// subtag; `None` when the language is not supported.
    pub fn from_locale(locale: &str) -> Option<Language> {
        let primary = locale.split(['-', '_']).next()?.trim().to_ascii_lowercase();
        match primary.as_str() {
            "iw" => Some(Language::Hebrew),
            "in" => Some(Language::Indonesian),
            other => Language::from_str(other).ok(),
        }
    }
}

impl fmt::Display for Language {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// Error for a language code outside the supported set.
#[derive(Debug, thiserror::Error)]
#[error("unsupported language code {0:?}; use an ISO 639-1 code such as en, es, zh, ar")]
pub struct UnsupportedLanguage(pub String);

impl FromStr for Language {
    type Err = UnsupportedLanguage;

    fn from_str(code: &str) -> Result<Self, Self::Err> {
        let code = code.trim().to_ascii_lowercase();
        Language::ALL
            .into_iter()
            .find(|l| l.code() == code)
            .ok_or(UnsupportedLanguage(code))
    }
}

impl From<Language> for &'static str {
    fn from(language: Language) -> Self {
        language.code()
    }
}

impl TryFrom<String> for Language {
    type Error = UnsupportedLanguage;

    fn try_from(code: String) -> Result<Self, Self::Error> {
        code.parse()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip() {
        for language in Language::ALL {
            assert_eq!(language.code().parse::<Language>().unwrap(), language);
            assert_eq!(Language::from_lingua(language.to_lingua()), Some(language));
        }
    }

    #[test]
    fn locale_uses_primary_subtag() {
        assert_eq!(Language::from_locale("es-MX"), Some(Language::Spanish));
        assert_eq!(Language::from_locale("zh_Hans_CN"), Some(Language::Chinese));
        assert_eq!(Language::from_locale("iw"), Some(Language::Hebrew));
        assert_eq!(Language::from_locale("sw-KE"), None);
    }
}
