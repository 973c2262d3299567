//! Language suite: the product's detector against whatlang on Tatoeba
//! sentences in the 20 supported languages.
//!
//! Three runs on the same messages. *Single*: each message alone, no prior.
//! *With prior*: the buyer first sends two other sentences of the same
//! language. As in the server, each detected language becomes the
//! conversation language, which is passed as `Prior::conversation` for the
//! message measured. The language counted in that run is the one the server would
//! reply in: the detected language, else the conversation language. whatlang
//! takes no prior, so its prior run applies the same carry-over rule to its
//! own results. whatlang is restricted to the same 20 languages.
//!
//! A prior that is always right flatters the detector, so a third run,
//! *switch*, measures the opposite case: the two earlier messages are in
//! another language (drawn at random) and the message measured must still
//! be recognised in its own language.
//!
//! Chinese sentences in Wu (`wuu`) and Cantonese (`yue`) are measured
//! separately with Chinese as the expected language: they are not Mandarin,
//! but a buyer who writes them is best served in written Chinese.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use serde_json::json;
use tracing::info;

use rand::Rng;

use super::harness::{rng, sample};
use super::metrics::Ratio;
use super::table::{Table, count, percent};
use super::{EvalError, EvalOptions, Figure, SuiteReport, datasets};
use crate::language::Language;
use crate::language::detector::{Detector, Prior};

/// Length buckets in characters: label, smallest and largest length.
const LENGTH_BUCKETS: [(&str, usize, usize); 4] = [
    ("≤ 10", 0, 10),
    ("11–20", 11, 20),
    ("21–40", 21, 40),
    ("> 40", 41, usize::MAX),
];

/// Messages of at most this many characters count as short.
const SHORT_CHARS: usize = 20;

/// Messages per language unless `--sample` sets another number: every line of a
/// Tatoeba file (500 at most), and a sample of the same size of the English
/// sides, so English weighs no more than another language.
const MESSAGES_PER_LANGUAGE: usize = 500;

/// Chinese varieties in Tatoeba outside the language mapping.
const CHINESE_VARIETIES: [&str; 2] = ["wuu", "yue"];

/// Returns the Tatoeba file name of a language (ISO 639-3). English has no
/// file of its own because its sentences are the English sides of the
/// other files.
fn tatoeba_code(language: Language) -> Option<&'static str> {
    match language {
        Language::English => None,
        Language::Spanish => Some("spa"),
        Language::Portuguese => Some("por"),
        Language::French => Some("fra"),
        Language::German => Some("deu"),
        Language::Italian => Some("ita"),
        Language::Dutch => Some("nld"),
        Language::Russian => Some("rus"),
        Language::Polish => Some("pol"),
        Language::Turkish => Some("tur"),
        Language::Arabic => Some("ara"),
        Language::Hebrew => Some("heb"),
        Language::Persian => Some("pes"),
        Language::Hindi => Some("hin"),
        Language::Vietnamese => Some("vie"),
        Language::Thai => Some("tha"),
        Language::Indonesian => Some("ind"),
        Language::Japanese => Some("jpn"),
        Language::Korean => Some("kor"),
        Language::Chinese => Some("cmn"),
    }
}

/// Maps a supported language to whatlang's.
fn to_whatlang(language: Language) -> whatlang::Lang {
    use whatlang::Lang;
    match language {
        Language::English => Lang::Eng,
        Language::Spanish => Lang::Spa,
        Language::Portuguese => Lang::Por,
        Language::French => Lang::Fra,
        Language::German => Lang::Deu,
        Language::Italian => Lang::Ita,
        Language::Dutch => Lang::Nld,
        Language::Russian => Lang::Rus,
        Language::Polish => Lang::Pol,
        Language::Turkish => Lang::Tur,
        Language::Arabic => Lang::Ara,
        Language::Hebrew => Lang::Heb,
        Language::Persian => Lang::Pes,
        Language::Hindi => Lang::Hin,
        Language::Vietnamese => Lang::Vie,
        Language::Thai => Lang::Tha,
        Language::Indonesian => Lang::Ind,
        Language::Japanese => Lang::Jpn,
        Language::Korean => Lang::Kor,
        Language::Chinese => Lang::Cmn,
    }
}

fn from_whatlang(lang: whatlang::Lang) -> Option<Language> {
    Language::ALL.into_iter().find(|l| to_whatlang(*l) == lang)
}

/// One measured message and the two earlier messages of its conversation.
#[derive(Debug, Clone)]
struct Case {
    expected: Language,
    text: String,
    /// Two other sentences in the same language.
    history: [String; 2],
    /// Two sentences in another language.
    switch_history: [String; 2],
}

/// Counts of right and wrong detections of one detector in one run.
#[derive(Debug, Default)]
struct Tally {
    overall: Ratio,
    short: Ratio,
    per_language: BTreeMap<Language, Ratio>,
    per_bucket: [Ratio; 4],
    no_language: Ratio,
    confusions: HashMap<(Language, Option<Language>), usize>,
    detect_time: Duration,
}

impl Tally {
    /// Counts one message; `no_language` is whether the detector itself
    /// returned nothing (before any carry-over).
    fn add(&mut self, case: &Case, predicted: Option<Language>, no_language: bool) {
        let right = predicted == Some(case.expected);
        let length = case.text.chars().count();
        self.overall.add(right);
        if length <= SHORT_CHARS {
            self.short.add(right);
        }
        self.per_language
            .entry(case.expected)
            .or_default()
            .add(right);
        let bucket = LENGTH_BUCKETS
            .iter()
            .position(|(_, low, high)| (*low..=*high).contains(&length))
            .expect("the buckets cover every length");
        self.per_bucket[bucket].add(right);
        self.no_language.add(no_language);
        if !right {
            *self
                .confusions
                .entry((case.expected, predicted))
                .or_default() += 1;
        }
    }

    fn messages_per_second(&self) -> f64 {
        self.overall.total as f64 / self.detect_time.as_secs_f64().max(1e-9)
    }
}

/// The runs: crossdesk and whatlang, single, with prior and after a switch.
#[derive(Debug, Default)]
struct Runs {
    crossdesk_single: Tally,
    crossdesk_prior: Tally,
    crossdesk_switch: Tally,
    whatlang_single: Tally,
    whatlang_prior: Tally,
    whatlang_switch: Tally,
}

/// Runs the language suite.
pub async fn run(options: &EvalOptions) -> Result<SuiteReport, EvalError> {
    let cap = options.sample.unwrap_or(MESSAGES_PER_LANGUAGE);
    let cases = load_cases(options, cap)?;
    let varieties = load_variety_cases(options, cap)?;
    info!(messages = cases.len(), "language suite: loading detectors");
    let (runs, variety_runs) = tokio::task::spawn_blocking(move || {
        let detector = Detector::new();
        let allowlist = Language::ALL.into_iter().map(to_whatlang).collect();
        let whatlang = whatlang::Detector::with_allowlist(allowlist);
        (
            evaluate(&detector, &whatlang, &cases),
            evaluate(&detector, &whatlang, &varieties),
        )
    })
    .await?;
    Ok(report(&runs, &variety_runs))
}

/// Samples up to `cap` messages per language, each with two other
/// sentences of the same language and two of another language as history.
fn load_cases(options: &EvalOptions, cap: usize) -> Result<Vec<Case>, EvalError> {
    let mut pools: BTreeMap<Language, Vec<String>> = BTreeMap::new();
    let mut english = Vec::new();
    for language in Language::ALL {
        let Some(code) = tatoeba_code(language) else {
            continue;
        };
        pools.insert(
            language,
            datasets::tatoeba_lines(&options.data_dir, code, code)?,
        );
        english.extend(datasets::tatoeba_lines(&options.data_dir, code, "eng")?);
    }
    english.sort();
    english.dedup();
    pools.insert(Language::English, english);
    let cases = pools
        .iter()
        .flat_map(|(language, pool)| draw_cases(*language, pool, &pools, cap, options.seed))
        .collect();
    Ok(cases)
}

fn load_variety_cases(options: &EvalOptions, cap: usize) -> Result<Vec<Case>, EvalError> {
    // The switch history of a Chinese message is English.
    let english = datasets::tatoeba_lines(&options.data_dir, "cmn", "eng")?;
    let pools = BTreeMap::from([(Language::English, english)]);
    let mut cases = Vec::new();
    for code in CHINESE_VARIETIES {
        let lines = datasets::tatoeba_lines(&options.data_dir, code, code)?;
        cases.extend(draw_cases(
            Language::Chinese,
            &lines,
            &pools,
            cap,
            options.seed,
        ));
    }
    Ok(cases)
}

fn draw_cases(
    language: Language,
    pool: &[String],
    pools: &BTreeMap<Language, Vec<String>>,
    cap: usize,
    seed: u64,
) -> Vec<Case> {
    let mut rng = rng(seed, &format!("language:{}", language.code()));
    let others: Vec<Language> = pools.keys().copied().filter(|l| *l != language).collect();
    let indices: Vec<usize> = (0..pool.len()).collect();
    let chosen = sample(&indices, cap, &mut rng);
    chosen
        .into_iter()
        .map(|index| {
            let rest: Vec<usize> = indices.iter().copied().filter(|i| *i != index).collect();
            let same = sample(&rest, 2, &mut rng);
            let other = &pools[&others[rng.random_range(0..others.len())]];
            let first = rng.random_range(0..other.len());
            let second = rng.random_range(0..other.len());
            Case {
                expected: language,
                text: pool[index].clone(),
                history: [pool[same[0]].clone(), pool[same[1]].clone()],
                switch_history: [other[first].clone(), other[second].clone()],
            }
        })
        .collect()
}

fn evaluate(detector: &Detector, whatlang: &whatlang::Detector, cases: &[Case]) -> Runs {
    let mut runs = Runs::default();
    let whatlang_detect = |text: &str| whatlang.detect_lang(text).and_then(from_whatlang);
    for case in cases {
        let started = Instant::now();
        let single = detector.detect(&case.text, Prior::default()).language;
        runs.crossdesk_single.detect_time += started.elapsed();
        runs.crossdesk_single.add(case, single, single.is_none());

        let started = Instant::now();
        let single = whatlang_detect(&case.text);
        runs.whatlang_single.detect_time += started.elapsed();
        runs.whatlang_single.add(case, single, single.is_none());

        let crossdesk_detect = |text: &str, conversation| {
            let prior = Prior {
                conversation,
                locale: None,
            };
            detector.detect(text, prior).language
        };
        for (history, ours, theirs) in [
            (
                &case.history,
                &mut runs.crossdesk_prior,
                &mut runs.whatlang_prior,
            ),
            (
                &case.switch_history,
                &mut runs.crossdesk_switch,
                &mut runs.whatlang_switch,
            ),
        ] {
            let (detected, conversation) = after_history(history, &case.text, crossdesk_detect);
            ours.add(case, detected.or(conversation), detected.is_none());
            let (detected, conversation) =
                after_history(history, &case.text, |text, _| whatlang_detect(text));
            theirs.add(case, detected.or(conversation), detected.is_none());
        }
    }
    runs
}

/// Detects the history, then the message itself, each with the
/// conversation language so far as prior. Returns the message's detection
/// and the conversation language before it. As in the server, a detected
/// language becomes the conversation language.
fn after_history(
    history: &[String; 2],
    text: &str,
    detect: impl Fn(&str, Option<Language>) -> Option<Language>,
) -> (Option<Language>, Option<Language>) {
    let conversation = history.iter().fold(None, |conversation, earlier| {
        detect(earlier, conversation).or(conversation)
    });
    (detect(text, conversation), conversation)
}

fn report(runs: &Runs, varieties: &Runs) -> SuiteReport {
    let tables = vec![
        overall_table(runs),
        bucket_table(runs),
        language_table(runs),
        confusion_table(runs),
        variety_table(varieties),
    ];
    let figures = vec![
        Figure::new(
            "language.crossdesk.single.accuracy",
            runs.crossdesk_single.overall.value(),
        ),
        Figure::new(
            "language.crossdesk.single.short_accuracy",
            runs.crossdesk_single.short.value(),
        ),
        Figure::new(
            "language.crossdesk.prior.accuracy",
            runs.crossdesk_prior.overall.value(),
        ),
        Figure::new(
            "language.crossdesk.prior.short_accuracy",
            runs.crossdesk_prior.short.value(),
        ),
        Figure::new(
            "language.crossdesk.switch.accuracy",
            runs.crossdesk_switch.overall.value(),
        ),
    ];
    let details = json!({
        "crossdesk_single": tally_json(&runs.crossdesk_single),
        "crossdesk_prior": tally_json(&runs.crossdesk_prior),
        "crossdesk_switch": tally_json(&runs.crossdesk_switch),
        "whatlang_single": tally_json(&runs.whatlang_single),
        "whatlang_prior": tally_json(&runs.whatlang_prior),
        "whatlang_switch": tally_json(&runs.whatlang_switch),
        "chinese_varieties": {
            "crossdesk_single": tally_json(&varieties.crossdesk_single),
            "whatlang_single": tally_json(&varieties.whatlang_single),
        },
    });
    SuiteReport {
        suite: "language",
        tables,
        figures,
        details,
        elapsed_seconds: 0.0,
    }
}

fn named_runs(runs: &Runs) -> [(&'static str, &'static str, &Tally); 6] {
    [
        ("crossdesk (lingua)", "single", &runs.crossdesk_single),
        ("crossdesk (lingua)", "with prior", &runs.crossdesk_prior),
        ("crossdesk (lingua)", "switch", &runs.crossdesk_switch),
        ("whatlang 0.18", "single", &runs.whatlang_single),
        ("whatlang 0.18", "with prior", &runs.whatlang_prior),
        ("whatlang 0.18", "switch", &runs.whatlang_switch),
    ]
}

/// Column headers for one cell per run.
const RUN_COLUMNS: [&str; 6] = [
    "crossdesk single",
    "crossdesk with prior",
    "crossdesk switch",
    "whatlang single",
    "whatlang with prior",
    "whatlang switch",
];

fn overall_table(runs: &Runs) -> Table {
    let mut table = Table::new(
        "Language detection, Tatoeba, 20 languages",
        &[
            "detector",
            "run",
            "accuracy",
            "≤ 20 characters",
            "no language",
            "messages/s",
        ],
    );
    for (detector, run, tally) in named_runs(runs) {
        let speed = if run == "single" {
            format!("{:.0}", tally.messages_per_second())
        } else {
            "–".to_owned()
        };
        table.row(vec![
            detector.to_owned(),
            run.to_owned(),
            tally.overall.describe(),
            tally.short.describe(),
            percent(tally.no_language.value()),
            speed,
        ]);
    }
    table.note(format!(
        "{} messages. With prior: after two messages in the same language; switch: after \
         two messages in another language. \"No language\" is the share where the detector \
         returned nothing for the message itself (after a history, the conversation \
         language is then used, which counts as right only if it is the message's \
         language). Messages per second: one thread, detection calls only.",
        count(runs.crossdesk_single.overall.total)
    ));
    table
}

fn bucket_table(runs: &Runs) -> Table {
    let headers: Vec<&str> = ["length", "messages"]
        .into_iter()
        .chain(RUN_COLUMNS)
        .collect();
    let mut table = Table::new("Accuracy by message length (characters)", &headers);
    for (index, (label, _, _)) in LENGTH_BUCKETS.iter().enumerate() {
        let mut row = vec![
            (*label).to_owned(),
            count(runs.crossdesk_single.per_bucket[index].total),
        ];
        row.extend(
            named_runs(runs)
                .iter()
                .map(|(_, _, tally)| percent(tally.per_bucket[index].value())),
        );
        table.row(row);
    }
    table
}

fn language_table(runs: &Runs) -> Table {
    let headers: Vec<&str> = ["language", "messages"]
        .into_iter()
        .chain(RUN_COLUMNS)
        .collect();
    let mut table = Table::new("Accuracy by language", &headers);
    for (language, ratio) in &runs.crossdesk_single.per_language {
        let mut row = vec![language.code().to_owned(), count(ratio.total)];
        row.extend(named_runs(runs).iter().map(|(_, _, tally)| {
            let ratio = tally.per_language.get(language).copied();
            percent(ratio.unwrap_or_default().value())
        }));
        table.row(row);
    }
    table
}

fn top_confusions(tally: &Tally, limit: usize) -> Vec<(String, usize)> {
    let mut pairs: Vec<(String, usize)> = tally
        .confusions
        .iter()
        .map(|((expected, predicted), n)| {
            let predicted = predicted.map_or("none", |l| l.code());
            (format!("{} → {predicted}", expected.code()), *n)
        })
        .collect();
    pairs.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    pairs.truncate(limit);
    pairs
}

fn confusion_table(runs: &Runs) -> Table {
    let mut table = Table::new(
        "Most frequent errors, single messages (expected → detected)",
        &["crossdesk", "messages", "whatlang", "messages"],
    );
    let ours = top_confusions(&runs.crossdesk_single, 10);
    let theirs = top_confusions(&runs.whatlang_single, 10);
    for index in 0..ours.len().max(theirs.len()) {
        let cells = |list: &[(String, usize)]| match list.get(index) {
            Some((pair, n)) => (pair.clone(), count(*n)),
            None => (String::new(), String::new()),
        };
        let (our_pair, our_count) = cells(&ours);
        let (their_pair, their_count) = cells(&theirs);
        table.row(vec![our_pair, our_count, their_pair, their_count]);
    }
    table.note("\"none\": the detector returned no language.");
    table
}

fn variety_table(runs: &Runs) -> Table {
    let mut table = Table::new(
        "Chinese varieties outside the mapping (wuu, yue), expected zh",
        &[
            "detector",
            "messages",
            "single",
            "with prior",
            "switch from en",
        ],
    );
    for (detector, single, prior, switch) in [
        (
            "crossdesk (lingua)",
            &runs.crossdesk_single,
            &runs.crossdesk_prior,
            &runs.crossdesk_switch,
        ),
        (
            "whatlang 0.18",
            &runs.whatlang_single,
            &runs.whatlang_prior,
            &runs.whatlang_switch,
        ),
    ] {
        table.row(vec![
            detector.to_owned(),
            count(single.overall.total),
            single.overall.describe(),
            prior.overall.describe(),
            switch.overall.describe(),
        ]);
    }
    table
}

fn tally_json(tally: &Tally) -> serde_json::Value {
    let per_language: BTreeMap<&str, Ratio> = tally
        .per_language
        .iter()
        .map(|(language, ratio)| (language.code(), *ratio))
        .collect();
    let per_bucket: BTreeMap<&str, Ratio> = LENGTH_BUCKETS
        .iter()
        .zip(tally.per_bucket)
        .map(|((label, _, _), ratio)| (*label, ratio))
        .collect();
    json!({
        "accuracy": tally.overall,
        "short_accuracy": tally.short,
        "no_language": tally.no_language,
        "per_language": per_language,
        "per_length": per_bucket,
        "top_confusions": top_confusions(tally, 20),
        "detect_seconds": tally.detect_time.as_secs_f64(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whatlang_mapping_round_trips() {
        for language in Language::ALL {
            assert_eq!(from_whatlang(to_whatlang(language)), Some(language));
        }
    }

    #[test]
    fn tally_counts_buckets_and_confusions() {
        let case = |text: &str| Case {
            expected: Language::German,
            text: text.to_owned(),
            history: [String::new(), String::new()],
            switch_history: [String::new(), String::new()],
        };
        let mut tally = Tally::default();
        tally.add(&case("Hallo Welt"), Some(Language::German), false);
        tally.add(
            &case("Das ist ein längerer Satz."),
            Some(Language::Dutch),
            false,
        );
        tally.add(&case("ok"), None, true);
        assert_eq!(tally.overall.hits, 1);
        assert_eq!(tally.per_bucket[0].total, 2);
        assert_eq!(tally.per_bucket[2].total, 1);
        assert_eq!(tally.short.total, 2);
        assert_eq!(tally.no_language.hits, 1);
        assert_eq!(tally.confusions[&(Language::German, None)], 1);
    }
}
