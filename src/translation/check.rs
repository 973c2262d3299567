//! Checks that a machine translation kept the facts of its source.
//!
//! Small local models translate buyer questions well but often corrupt
//! policy text on the way out (a measured case turned "unless damaged" into
//! "if damaged"). A translation passes only if every number (digits compared
//! after removing separators, with Arabic-Indic and full-width digits read as
//! ASCII), every URL, e-mail address and code with letters and digits (order
//! and model numbers), and every protected term appears in it, and it has a
//! negation exactly when the source has one.

use std::collections::HashMap;

use regex::Regex;
use std::sync::LazyLock;

use crate::chat::texts::Texts;
use crate::language::Language;

static URL_OR_EMAIL: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)\bhttps?://[^\s<>()]+[^\s<>().,;:!?]|[\w.+-]+@[\w-]+(\.[\w-]+)+")
        .expect("static regex is valid")
});

/// Codes such as order numbers (A1024) and model numbers (KB-HB150).
static CODE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?-u:\b)[A-Za-z]+(-?[A-Za-z]*\d+[A-Za-z\d]*)+(?-u:\b)")
        .expect("static regex is valid")
});

/// Why a translation was rejected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CheckFailure {
    MissingNumber(String),
    ExtraNumber(String),
    MissingCode(String),
    MissingTerm(String),
    NegationAdded,
    NegationLost,
    Empty,
}

impl std::fmt::Display for CheckFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CheckFailure::MissingNumber(n) => write!(f, "number {n} missing"),
            CheckFailure::ExtraNumber(n) => write!(f, "number {n} not in the source"),
            CheckFailure::MissingCode(c) => write!(f, "{c} missing"),
            CheckFailure::MissingTerm(t) => write!(f, "protected term {t} missing"),
            CheckFailure::NegationAdded => write!(f, "negation added"),
            CheckFailure::NegationLost => write!(f, "negation lost"),
            CheckFailure::Empty => write!(f, "translation is empty"),
        }
    }
}

/// Checks a translation of `source` (in `from`) into `translated` (in `to`).
pub fn check_translation(
    texts: &Texts,
    source: &str,
    from: Language,
    translated: &str,
    to: Language,
    protected_terms: &[String],
) -> Result<(), CheckFailure> {
    if translated.trim().is_empty() {
        return Err(CheckFailure::Empty);
    }
    let lowered = translated.to_lowercase();
    for found in URL_OR_EMAIL.find_iter(source).chain(CODE.find_iter(source)) {
        if !lowered.contains(&found.as_str().to_lowercase()) {
            return Err(CheckFailure::MissingCode(found.as_str().to_owned()));
        }
    }
    compare_numbers(source, translated)?;
    for term in protected_terms {
        let term_lower = term.to_lowercase();
        if source.to_lowercase().contains(&term_lower) && !lowered.contains(&term_lower) {
            return Err(CheckFailure::MissingTerm(term.clone()));
        }
    }

    match (
        texts.has_negation(source, from),
        texts.has_negation(translated, to),
    ) {
        (true, false) => Err(CheckFailure::NegationLost),
        (false, true) => Err(CheckFailure::NegationAdded),
        _ => Ok(()),
    }
}

/// Extracts every code with letters and digits in `text` (order numbers, model numbers,
/// ratings such as IP65).
pub fn codes(text: &str) -> Vec<String> {
    CODE.find_iter(text)
        .map(|m| m.as_str().to_owned())
        .collect()
}

/// Extracts every number in `text`, as ASCII digit strings with separators removed.
pub fn numbers(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut current = String::new();
    let chars: Vec<char> = text.chars().collect();
    for (i, &c) in chars.iter().enumerate() {
        if let Some(digit) = ascii_digit(c) {
            current.push(digit);
            continue;
        }
        let joins = matches!(c, ',' | '.' | '\u{202f}' | '\u{a0}' | '\'' | '٬' | '٫')
            && !current.is_empty()
            && chars.get(i + 1).and_then(|&n| ascii_digit(n)).is_some();
        if !joins && !current.is_empty() {
            found.push(std::mem::take(&mut current));
        }
    }
    if !current.is_empty() {
        found.push(current);
    }
    found
}

/// Compares the numbers of two texts as multisets.
fn compare_numbers(source: &str, translated: &str) -> Result<(), CheckFailure> {
    let count = |list: Vec<String>| {
        let mut map: HashMap<String, usize> = HashMap::new();
        for n in list {
            *map.entry(n.trim_start_matches('0').to_owned()).or_default() += 1;
        }
        map
    };
    let expected = count(numbers(source));
    let actual = count(numbers(translated));
    for (number, n) in &expected {
        if actual.get(number).copied().unwrap_or(0) < *n {
            return Err(CheckFailure::MissingNumber(number.clone()));
        }
    }
    for number in actual.keys() {
        if !expected.contains_key(number) {
            return Err(CheckFailure::ExtraNumber(number.clone()));
        }
    }
    Ok(())
}

fn ascii_digit(c: char) -> Option<char> {
    let value = match c as u32 {
        0x30..=0x39 => c as u32 - 0x30,
        0x660..=0x669 => c as u32 - 0x660,
        0x6F0..=0x6F9 => c as u32 - 0x6F0,
        0x966..=0x96F => c as u32 - 0x966,
        0xE50..=0xE59 => c as u32 - 0xE50,
        0xFF10..=0xFF19 => c as u32 - 0xFF10,
        _ => return None,
    };
    char::from_digit(value, 10)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts() -> Texts {
        Texts::load().expect("embedded tables are valid")
    }

    #[test]
    fn numbers_ignore_separators_and_scripts() {
        assert_eq!(numbers("1,000 pcs at $2.50"), ["1000", "250"]);
        assert_eq!(numbers("1.000 Stück zu 2,50 $"), ["1000", "250"]);
        assert_eq!(numbers("٣٠ يومًا"), ["30"]);
        assert_eq!(numbers("３０日"), ["30"]);
    }

    #[test]
    fn lost_negation_fails() {
        let source = "Replacement is free unless the lamp was damaged by improper installation.";
        let bad =
            "La sustitución es gratuita si la lámpara fue dañada por una instalación incorrecta.";
        let good = "La sustitución es gratuita salvo que la lámpara fuera dañada por una instalación incorrecta.";
        let texts = texts();
        let check =
            |t| check_translation(&texts, source, Language::English, t, Language::Spanish, &[]);
        assert_eq!(check(bad), Err(CheckFailure::NegationLost));
        assert_eq!(check(good), Ok(()));
    }

    #[test]
    fn changed_number_and_lost_code_fail() {
        let texts = texts();
        let source = "The MOQ for KB-HB150 is 200 pieces.";
        let check =
            |t| check_translation(&texts, source, Language::English, t, Language::German, &[]);
        assert_eq!(
            check("Die MOQ für KB-HB150 beträgt 100 Stück."),
            Err(CheckFailure::MissingNumber("200".into()))
        );
        assert!(matches!(
            check("Die MOQ beträgt 200 Stück."),
            Err(CheckFailure::MissingCode(_))
        ));
        assert_eq!(check("Die MOQ für KB-HB150 beträgt 200 Stück."), Ok(()));
    }
}
