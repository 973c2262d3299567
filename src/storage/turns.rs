//! The turn log: one row per buyer message the bot handled, for service-gap
//! analysis. Message text stays in `events`; a turn records what the bot
//! detected, found, chose and how long it took.

use serde::Serialize;

use super::{Store, StoreError};
use crate::language::Language;

/// One retrieval hit as logged.
#[derive(Debug, Clone, Serialize)]
pub struct TurnHit {
    pub kind: String,
    pub id: String,
    pub language: Language,
    pub score: f32,
    pub coverage: f32,
}

/// What the bot did with one buyer message.
#[derive(Debug, Clone)]
pub struct Turn {
    pub conversation_id: String,
    pub buyer_seq: i64,
    /// `None` when the reply was dropped because a person took over.
    pub reply_seq: Option<i64>,
    pub detected_language: Option<Language>,
    pub language_confidence: f64,
    pub reply_language: Language,
    pub search_language: Option<Language>,
    pub translated_query: Option<String>,
    pub hits: Vec<TurnHit>,
    pub answer_source: String,
    pub machine_translated: bool,
    pub check_failure: Option<String>,
    pub latency_ms: i64,
    pub generated_tokens: Option<i64>,
}

impl Store {
    pub async fn record_turn(&self, turn: &Turn) -> Result<(), StoreError> {
        let hits = serde_json::to_string(&turn.hits).expect("hits serialize to JSON");
        sqlx::query(
            "INSERT INTO turns (conversation_id, buyer_seq, reply_seq, detected_language, \
             language_confidence, reply_language, search_language, translated_query, hits, \
             answer_source, machine_translated, check_failure, dropped, latency_ms, \
             generated_tokens) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&turn.conversation_id)
        .bind(turn.buyer_seq)
        .bind(turn.reply_seq)
        .bind(turn.detected_language.map(Language::code))
        .bind(turn.language_confidence)
        .bind(turn.reply_language.code())
        .bind(turn.search_language.map(Language::code))
        .bind(&turn.translated_query)
        .bind(hits)
        .bind(&turn.answer_source)
        .bind(turn.machine_translated)
        .bind(&turn.check_failure)
        .bind(turn.reply_seq.is_none())
        .bind(turn.latency_ms)
        .bind(turn.generated_tokens)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// A cached machine translation and its check result, if any.
    pub async fn cached_translation(
        &self,
        source_hash: &str,
        target: Language,
    ) -> Result<Option<(String, Option<String>)>, StoreError> {
        let row: Option<(String, Option<String>)> = sqlx::query_as(
            "SELECT text, check_failure FROM translations \
             WHERE source_hash = ? AND target_language = ?",
        )
        .bind(source_hash)
        .bind(target.code())
        .fetch_optional(&self.pool)
        .await?;
        Ok(row)
    }

    pub async fn cache_translation(
        &self,
        source_hash: &str,
        target: Language,
        source_text: &str,
        text: &str,
        check_failure: Option<&str>,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT OR REPLACE INTO translations \
             (source_hash, target_language, source_text, text, check_failure) \
             VALUES (?, ?, ?, ?, ?)",
        )
        .bind(source_hash)
        .bind(target.code())
        .bind(source_text)
        .bind(text)
        .bind(check_failure)
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}
