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
    Regex::new(r"(?i)\bhttps?://[^\s<>()]+[^\s<>().,;:!?]|[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+")
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
    /// Text in a script the target language is not written in, such as
    /// Chinese characters the model left in a Spanish translation.
    Untranslated(String),
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
            CheckFailure::Untranslated(t) => write!(f, "untranslated text {t}"),
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

    untranslated(translated, to, protected_terms)?;

    match (
        texts.has_negation(source, from),
        texts.has_negation(translated, to),
    ) {
        (true, false) => Err(CheckFailure::NegationLost),
        (false, true) => Err(CheckFailure::NegationAdded),
        _ => Ok(()),
    }
}

/// Writing systems the check distinguishes. Latin is allowed in every
/// language because codes, units and brand names are written in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Script {
    Han,
    Kana,
    Hangul,
    Arabic,
    Hebrew,
    Cyrillic,
    Thai,
    Devanagari,
}

fn script(c: char) -> Option<Script> {
    match c as u32 {
        0x3400..=0x4DBF | 0x4E00..=0x9FFF | 0xF900..=0xFAFF => Some(Script::Han),
        0x3040..=0x30FF | 0x31F0..=0x31FF | 0xFF66..=0xFF9F => Some(Script::Kana),
        0x1100..=0x11FF | 0x3130..=0x318F | 0xAC00..=0xD7AF => Some(Script::Hangul),
        0x0600..=0x06FF | 0x0750..=0x077F | 0xFB50..=0xFDFF | 0xFE70..=0xFEFF => {
            Some(Script::Arabic)
        }
        0x0590..=0x05FF => Some(Script::Hebrew),
        0x0400..=0x04FF => Some(Script::Cyrillic),
        0x0E00..=0x0E7F => Some(Script::Thai),
        0x0900..=0x097F => Some(Script::Devanagari),
        _ => None,
    }
}

fn native_scripts(language: Language) -> &'static [Script] {
    match language {
        Language::Chinese => &[Script::Han],
        Language::Japanese => &[Script::Han, Script::Kana],
        Language::Korean => &[Script::Hangul, Script::Han],
        Language::Arabic | Language::Persian => &[Script::Arabic],
        Language::Hebrew => &[Script::Hebrew],
        Language::Russian => &[Script::Cyrillic],
        Language::Thai => &[Script::Thai],
        Language::Hindi => &[Script::Devanagari],
        _ => &[],
    }
}

/// Fails on a run of characters in a script `to` is not written in, unless
/// the run is part of a protected term.
fn untranslated(
    translated: &str,
    to: Language,
    protected_terms: &[String],
) -> Result<(), CheckFailure> {
    let native = native_scripts(to);
    let mut run = String::new();
    let mut runs = Vec::new();
    for c in translated.chars() {
        match script(c) {
            Some(found) if !native.contains(&found) => run.push(c),
            _ if !run.is_empty() => runs.push(std::mem::take(&mut run)),
            _ => {}
        }
    }
    if !run.is_empty() {
        runs.push(run);
    }
    match runs.into_iter().find(|run| {
        !protected_terms
            .iter()
            .any(|term| term.contains(run.as_str()))
    }) {
        Some(run) => Err(CheckFailure::Untranslated(run)),
        None => Ok(()),
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
    // "3月" becomes "March" in most languages, so a month number written
    // before 月 may be missing from a translation, or stay as a digit.
    let months = count(month_numbers(source));
    for (number, n) in &expected {
        let optional = months.get(number).copied().unwrap_or(0);
        if actual.get(number).copied().unwrap_or(0) + optional < *n {
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

/// Numbers from 1 to 12 written directly before 月, the Chinese and Japanese
/// word for month.
fn month_numbers(text: &str) -> Vec<String> {
    static MONTH: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"([0-9０-９]{1,2})\s*月").expect("static regex is valid"));
    MONTH
        .captures_iter(text)
        .filter_map(|found| numbers(&found[1]).pop())
        .filter(|number| (1..=12).contains(&number.parse::<u32>().unwrap_or(0)))
        .collect()
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
    fn leftover_source_script_fails() {
        let texts = texts();
        let source = "您好，样品会在3天内发货。";
        let check =
            |t| check_translation(&texts, source, Language::Chinese, t, Language::Spanish, &[]);
        assert_eq!(
            check("¡Hola! El样品 se enviará en 3 días."),
            Err(CheckFailure::Untranslated("样品".into()))
        );
        assert_eq!(check("¡Hola! La muestra se enviará en 3 días."), Ok(()));
        let japanese = check_translation(
            &texts,
            "The sample ships in 3 days.",
            Language::English,
            "サンプルは3日以内に発送します。",
            Language::Japanese,
            &[],
        );
        assert_eq!(japanese, Ok(()));
    }

    #[test]
    fn email_after_chinese_text_is_found() {
        let texts = texts();
        let source = "订单A1024不能在7天内退货，请联系support@kestrelbay.example。";
        let translated = "El pedido A1024 no se puede devolver en 7 días; escriba a \
                          support@kestrelbay.example.";
        let result = check_translation(
            &texts,
            source,
            Language::Chinese,
            translated,
            Language::Spanish,
            &[],
        );
        assert_eq!(result, Ok(()));
    }

    #[test]
    fn month_number_may_become_a_name() {
        let texts = texts();
        let source = "已于3月5日发货。";
        let check =
            |t| check_translation(&texts, source, Language::Chinese, t, Language::Spanish, &[]);
        assert_eq!(check("Se envió el 5 de marzo."), Ok(()));
        assert_eq!(check("Se envió el 5/3."), Ok(()));
        assert_eq!(
            check("Se envió el 6 de marzo."),
            Err(CheckFailure::MissingNumber("5".into()))
        );
    }

    #[test]
    fn protected_term_in_another_script_passes() {
        let texts = texts();
        let terms = vec!["光湾".to_owned()];
        let result = check_translation(
            &texts,
            "光湾 ships in 3 days.",
            Language::English,
            "光湾 envía en 3 días.",
            Language::Spanish,
            &terms,
        );
        assert_eq!(result, Ok(()));
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
