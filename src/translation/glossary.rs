//! Protected terms that machine translation must keep as written.
//!
//! Before text goes to the model, each glossary term in it is replaced by a
//! numbered placeholder (`[T1]`, `[T2]`, …), which models copy rather than
//! translate. After translation each placeholder is replaced by the term as
//! it was written in the source. A translation that lost a placeholder, and
//! does not contain the term itself either, fails.

use std::sync::{Arc, RwLock};

use regex::Regex;
use sha2::{Digest, Sha256};

/// The live list of protected terms; cheap to clone, shared by the
/// translator and the glossary endpoints.
#[derive(Clone, Default)]
pub struct Glossary {
    terms: Arc<RwLock<Terms>>,
}

#[derive(Default)]
struct Terms {
    /// Longest first, so "Kestrel Bay Pro" is matched before "Kestrel Bay".
    list: Arc<Vec<String>>,
    fingerprint: String,
}

/// Text with its protected terms replaced by placeholders.
#[derive(Debug, Clone, PartialEq)]
pub struct Masked {
    pub text: String,
    /// Each placeholder and the source text it replaced.
    pub slots: Vec<(String, String)>,
}

impl Glossary {
    /// Replaces the list of terms.
    pub fn set(&self, terms: impl IntoIterator<Item = String>) {
        let mut list: Vec<String> = terms
            .into_iter()
            .map(|term| term.trim().to_owned())
            .filter(|term| !term.is_empty())
            .collect();
        list.sort_by(|a, b| b.chars().count().cmp(&a.chars().count()).then(a.cmp(b)));
        list.dedup_by(|a, b| a.to_lowercase() == b.to_lowercase());
        let mut hasher = Sha256::new();
        for term in &list {
            hasher.update(term.to_lowercase().as_bytes());
            hasher.update([0]);
        }
        let fingerprint = format!("{:x}", hasher.finalize());
        let mut terms = self.terms.write().expect("glossary lock is never poisoned");
        *terms = Terms {
            list: Arc::new(list),
            fingerprint,
        };
    }

    /// Returns the terms, longest first.
    pub fn terms(&self) -> Arc<Vec<String>> {
        self.terms
            .read()
            .expect("glossary lock is never poisoned")
            .list
            .clone()
    }

    /// Changes whenever the list changes; part of translation cache keys.
    pub fn fingerprint(&self) -> String {
        self.terms
            .read()
            .expect("glossary lock is never poisoned")
            .fingerprint
            .clone()
    }

    /// Replaces every occurrence of a term in `text` with a placeholder.
    pub fn mask(&self, text: &str) -> Masked {
        let terms = self.terms();
        let mut masked = text.to_owned();
        let mut slots = Vec::new();
        for term in terms.iter() {
            let pattern = term_pattern(term);
            let mut next = String::with_capacity(masked.len());
            let mut last = 0;
            for found in pattern.find_iter(&masked) {
                let placeholder = format!("[T{}]", slots.len() + 1);
                next.push_str(&masked[last..found.start()]);
                next.push_str(&placeholder);
                slots.push((placeholder, found.as_str().to_owned()));
                last = found.end();
            }
            next.push_str(&masked[last..]);
            masked = next;
        }
        Masked {
            text: masked,
            slots,
        }
    }
}

impl Masked {
    /// Puts the protected terms back into a translation of the masked text.
    /// Fails with the first term that is missing.
    pub fn restore(&self, translated: &str) -> Result<String, String> {
        let mut text = translated.to_owned();
        for (placeholder, original) in &self.slots {
            if text.contains(placeholder.as_str()) {
                text = text.replacen(placeholder.as_str(), original, 1);
            } else if let Some(loose) = loose_placeholder(placeholder).find(&text) {
                let range = loose.range();
                text.replace_range(range, original);
            } else if !text.to_lowercase().contains(&original.to_lowercase()) {
                return Err(original.clone());
            }
        }
        Ok(text)
    }
}

/// Matches a term without regard to case, as a whole word where it starts or
/// ends with a letter or digit.
fn term_pattern(term: &str) -> Regex {
    let escaped = regex::escape(term);
    let starts_word = term.chars().next().is_some_and(char::is_alphanumeric);
    let ends_word = term.chars().last().is_some_and(char::is_alphanumeric);
    let pattern = format!(
        "(?i){}{escaped}{}",
        if starts_word { r"\b" } else { "" },
        if ends_word { r"\b" } else { "" }
    );
    Regex::new(&pattern).expect("an escaped term is a valid pattern")
}

/// Matches a placeholder the model rewrote with spaces or other brackets,
/// such as `[ T1 ]`, `【T1】` or `(T1)`.
fn loose_placeholder(placeholder: &str) -> Regex {
    let number = placeholder.trim_start_matches("[T").trim_end_matches(']');
    Regex::new(&format!(r"[\[【(（]\s*[Tt]\s*{number}\s*[\]】)）]"))
        .expect("placeholder pattern is valid")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn glossary(terms: &[&str]) -> Glossary {
        let glossary = Glossary::default();
        glossary.set(terms.iter().map(|t| t.to_string()));
        glossary
    }

    #[test]
    fn mask_replaces_terms_longest_first() {
        let masked = glossary(&["Kestrel Bay", "Kestrel Bay Pro", "lm"])
            .mask("Kestrel Bay Pro lamps beat kestrel bay ones: 900 lm, not 900 lumens.");
        assert_eq!(
            masked.text,
            "[T1] lamps beat [T2] ones: 900 [T3], not 900 lumens."
        );
        assert_eq!(masked.slots[1].1, "kestrel bay");
    }

    #[test]
    fn mask_respects_word_boundaries() {
        let masked = glossary(&["lm"]).mask("The film is 10 lm.");
        assert_eq!(masked.text, "The film is 10 [T1].");
    }

    #[test]
    fn restore_puts_terms_back() {
        let masked = glossary(&["Kestrel Bay"]).mask("Kestrel Bay ships in 3 days.");
        let restored = masked.restore("[T1] envía en 3 días.").unwrap();
        assert_eq!(restored, "Kestrel Bay envía en 3 días.");
    }

    #[test]
    fn restore_accepts_rewritten_placeholder() {
        let masked = glossary(&["Kestrel Bay"]).mask("Kestrel Bay 三天内发货");
        assert_eq!(
            masked.restore("【T1】 envía en tres días").unwrap(),
            "Kestrel Bay envía en tres días"
        );
    }

    #[test]
    fn restore_fails_on_lost_term() {
        let masked = glossary(&["Kestrel Bay"]).mask("Kestrel Bay ships fast.");
        assert_eq!(
            masked.restore("La bahía envía rápido."),
            Err("Kestrel Bay".into())
        );
    }

    #[test]
    fn fingerprint_changes_with_terms() {
        let glossary = glossary(&["A1"]);
        let before = glossary.fingerprint();
        glossary.set(["A1".to_owned(), "B2".to_owned()]);
        assert_ne!(before, glossary.fingerprint());
    }
}
