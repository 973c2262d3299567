//! `crossdesk ask`: one question through the same detection, retrieval and
//! answer code as the chat, with the details printed.

use std::io::Write;
use std::time::Instant;

use clap::Args;

use crate::app::{self, ModelSource};
use crate::config::Config;
use crate::language::Language;
use crate::language::detector::Prior;

#[derive(Debug, Args)]
pub struct AskArgs {
    /// The buyer's question.
    pub question: String,
    /// Reply in this language (ISO 639-1) instead of the detected one.
    #[arg(long, value_name = "CODE")]
    pub language: Option<Language>,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
}

pub async fn run(config: Config, args: AskArgs) -> anyhow::Result<()> {
    let chat = app::build(config, ModelSource::FromConfig).await?;
    let started = Instant::now();
    let detection = chat.detector.detect(&args.question, Prior::default());
    let detect_ms = started.elapsed().as_secs_f64() * 1000.0;
    let language = args
        .language
        .or(detection.language)
        .unwrap_or(chat.config.knowledge_language);

    let started = Instant::now();
    let retrieval = chat.answerer.retrieve(&args.question, language).await;
    let retrieve_ms = started.elapsed().as_secs_f64() * 1000.0;
    let started = Instant::now();
    let answer = chat
        .answerer
        .compose(&args.question, language, &retrieval, &|_| {})
        .await;
    let answer_ms = started.elapsed().as_secs_f64() * 1000.0;

    let mut out = std::io::stdout().lock();
    if args.json {
        let hits: Vec<_> = crate::chat::answer::turn_hits(&retrieval.hits);
        let body = serde_json::json!({
            "detected_language": detection.language,
            "confidence": detection.confidence,
            "reply_language": language,
            "search_language": retrieval.search_language,
            "translated_query": retrieval.translated_query,
            "hits": hits,
            "answer": answer,
            "timings_ms": { "detect": detect_ms, "retrieve": retrieve_ms, "answer": answer_ms },
        });
        writeln!(out, "{}", serde_json::to_string_pretty(&body)?)?;
        return Ok(());
    }
    let detected = detection
        .language
        .map_or("none".to_owned(), |l| l.to_string());
    writeln!(
        out,
        "language:  {detected} (confidence {:.2}), reply in {language}",
        detection.confidence
    )?;
    if let Some(translated) = &retrieval.translated_query {
        writeln!(
            out,
            "searched:  {} as {translated:?}",
            retrieval.search_language
        )?;
    }
    writeln!(out, "hits:")?;
    for hit in &retrieval.hits {
        writeln!(
            out,
            "  {:<8} {:<32} {} coverage {:.2} bm25 {:.2}",
            hit.kind.as_str(),
            hit.id,
            hit.language,
            hit.coverage,
            hit.score
        )?;
    }
    writeln!(
        out,
        "source:    {} (machine-translated: {})",
        answer.source.as_str(),
        answer.machine_translated
    )?;
    for source in &answer.sources {
        writeln!(
            out,
            "cites:     {} {} {:?}",
            source.kind.as_str(),
            source.id,
            source.title
        )?;
    }
    if let Some(note) = &answer.note {
        writeln!(out, "note:      {note}")?;
    }
    if let Some(failure) = &answer.check_failure {
        writeln!(out, "check:     {failure}")?;
    }
    writeln!(
        out,
        "timings:   detect {detect_ms:.1} ms, retrieve {retrieve_ms:.1} ms, answer {answer_ms:.1} ms"
    )?;
    writeln!(out, "\n{}", answer.text)?;
    Ok(())
}
