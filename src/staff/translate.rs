//! Buyer and bot messages shown in the agent's language.
//!
//! A console receives each event as stored, then a `translation` frame once
//! the model has translated it. Translations are cached in the store, so a
//! text is translated once however many agents read it.

use std::sync::Arc;

use tokio::sync::{Semaphore, mpsc};
use tracing::debug;

use super::protocol::StaffServerFrame;
use crate::chat::ChatService;
use crate::language::Language;
use crate::storage::{Author, EventKind, StoredEvent};

/// Returns the text and source language of an event the agent cannot read
/// as it is, or should check in their own language.
pub fn needs_translation(event: &StoredEvent, agent: Language) -> Option<(String, Language)> {
    if event.kind != EventKind::Message || event.author == Author::System {
        return None;
    }
    // A reply the agent wrote in their language and the buyer received
    // translated comes back translated into that language, so the agent can
    // check what the buyer read. An untranslated one needs nothing.
    if event.author == Author::Staff
        && event.original_language == Some(agent)
        && event.original_text.is_none()
    {
        return None;
    }
    let text = event.text.as_deref().filter(|t| !t.trim().is_empty())?;
    let from = event.language?;
    (from != agent).then(|| (text.to_owned(), from))
}

/// Translates an event's text for one console and queues the frame. Runs
/// one translation per console at a time, so opening a long transcript
/// cannot fill the model's queue ahead of buyers.
///
/// NOTE: the limit is per console, so more consoles translating at once
/// than the model queue accepts can make buyers' generated replies fall back
/// to the passage or the busy reply.
pub fn spawn_translation(
    chat: Arc<ChatService>,
    limit: Arc<Semaphore>,
    outbound: mpsc::Sender<StaffServerFrame>,
    conversation_id: String,
    event: &StoredEvent,
    agent: Language,
) {
    let Some((text, from)) = needs_translation(event, agent) else {
        return;
    };
    let seq = event.seq;
    tokio::spawn(async move {
        let Ok(_permit) = limit.acquire().await else {
            return;
        };
        if outbound.is_closed() {
            return;
        }
        let frame = match &chat.answerer.translator {
            None => translation_frame(conversation_id, seq, agent, Err(no_model())),
            Some(translator) => match translator.translate_answer(&text, from, agent, &[]).await {
                Ok(translation) => translation_frame(
                    conversation_id,
                    seq,
                    agent,
                    Ok((translation.text, translation.failure)),
                ),
                Err(error) => {
                    debug!(%error, seq, "translation for an agent failed");
                    let message = format!("translation failed ({error}); reopen the chat to retry");
                    translation_frame(conversation_id, seq, agent, Err(message))
                }
            },
        };
        let _ = outbound.send(frame).await;
    });
}

fn no_model() -> String {
    "no translation model is loaded; the original text is shown".to_owned()
}

fn translation_frame(
    conversation_id: String,
    seq: i64,
    language: Language,
    result: Result<(String, Option<String>), String>,
) -> StaffServerFrame {
    match result {
        Ok((text, check_failure)) => StaffServerFrame::Translation {
            conversation_id,
            seq,
            language,
            text: Some(text),
            error: None,
            check_failure,
        },
        Err(error) => StaffServerFrame::Translation {
            conversation_id,
            seq,
            language,
            text: None,
            error: Some(error),
            check_failure: None,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(author: Author, language: Option<Language>) -> StoredEvent {
        StoredEvent {
            seq: 3,
            kind: EventKind::Message,
            author,
            client_id: None,
            reply_id: None,
            text: Some("¿Cuál es el pedido mínimo?".into()),
            language,
            machine_translated: false,
            answer_source: None,
            sources: Vec::new(),
            reply_to: None,
            state: None,
            reason: None,
            note: None,
            rating: None,
            original_text: None,
            original_language: None,
            staff_id: None,
            author_name: None,
            check_failure: None,
            created_at: String::new(),
        }
    }

    #[test]
    fn buyer_message_in_other_language_is_translated() {
        let event = message(Author::Buyer, Some(Language::Spanish));
        let (_, from) = needs_translation(&event, Language::Chinese).unwrap();
        assert_eq!(from, Language::Spanish);
    }

    #[test]
    fn same_language_is_not_translated() {
        let event = message(Author::Bot, Some(Language::Spanish));
        assert!(needs_translation(&event, Language::Spanish).is_none());
    }

    #[test]
    fn translated_staff_reply_is_translated_back() {
        let mut event = message(Author::Staff, Some(Language::Spanish));
        event.original_language = Some(Language::Chinese);
        event.original_text = Some("最小起订量是多少？".into());
        let (_, from) = needs_translation(&event, Language::Chinese).unwrap();
        assert_eq!(
            from,
            Language::Spanish,
            "the agent reads what the buyer got"
        );
    }

    #[test]
    fn untranslated_staff_reply_is_not_translated() {
        let mut event = message(Author::Staff, Some(Language::Spanish));
        event.original_language = Some(Language::Spanish);
        assert!(needs_translation(&event, Language::Spanish).is_none());
        assert!(needs_translation(&event, Language::English).is_some());
    }

    #[test]
    fn unknown_language_and_state_events_are_skipped() {
        assert!(needs_translation(&message(Author::Buyer, None), Language::Chinese).is_none());
        let mut state = message(Author::System, Some(Language::Spanish));
        state.kind = EventKind::State;
        assert!(needs_translation(&state, Language::Chinese).is_none());
    }
}
