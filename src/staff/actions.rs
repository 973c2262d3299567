//! Agent actions on a conversation: taking it over, replying, writing an
//! internal note, handing it back to the bot and resolving it.

use tracing::{info, warn};

use super::protocol::RefusedCode;
use super::{StaffService, owns};
use crate::chat::protocol::ServerFrame;
use crate::chat::session::STAFF_CLIENT_ID_PREFIX;
use crate::language::Language;
use crate::storage::{
    Actor, Author, EventKind, NewEvent, Note, OwnershipOutcome, StaffAccount, StaffAction,
    StaffMessageOutcome, StaffRole, StoreError, StoredEvent,
};
use crate::translation::check_translation;

/// The reason an agent's request was rejected, as sent to the console.
#[derive(Debug)]
pub struct Refusal {
    pub code: RefusedCode,
    pub message: String,
    /// The owner's display name, when another agent has the chat.
    pub owner: Option<String>,
}

/// The result of a take, hand-back or resolve.
#[derive(Debug)]
pub enum ActionOutcome {
    /// Done; the `state` event, or `None` when nothing had to change.
    Done(Option<Box<StoredEvent>>),
    Refused(Refusal),
}

/// The result of a reply.
#[derive(Debug)]
pub enum ReplyOutcome {
    /// Stored and sent to the buyer; `duplicate` when a reply with the same
    /// client id was stored before and this one stored nothing.
    Sent {
        event: Box<StoredEvent>,
        duplicate: bool,
    },
    /// The translation failed its check or could not be made; nothing was sent.
    Review {
        translation: Option<String>,
        language: Language,
        failure: String,
    },
    Refused(Refusal),
}

impl StaffService {
    /// Applies a take, hand-back or resolve and stores the notice for the buyer.
    pub async fn change_owner(
        &self,
        staff: &StaffAccount,
        conversation_id: &str,
        action: StaffAction,
    ) -> Result<ActionOutcome, StoreError> {
        let chat = &self.chat;
        let Some(conversation) = chat.store.conversation(conversation_id).await? else {
            return Ok(ActionOutcome::Refused(not_found(conversation_id)));
        };
        let language = self.buyer_language(&conversation);
        let notice = match action {
            StaffAction::Take => chat.texts.render(
                language,
                "staff_joined",
                &[("name", staff.display_name.as_str())],
            ),
            StaffAction::HandBack => chat.texts.phrase(language, "handed_back").to_owned(),
            StaffAction::Resolve => chat.texts.phrase(language, "resolved").to_owned(),
        };
        let actor = Actor {
            staff_id: &staff.id,
            display_name: &staff.display_name,
            max_chats: staff.max_chats,
            may_override: staff.role == StaffRole::Admin,
        };
        let outcome = chat
            .store
            .staff_transition(conversation_id, action, actor, &notice)
            .await?;
        Ok(match outcome {
            OwnershipOutcome::Changed(event) => {
                if action != StaffAction::HandBack {
                    chat.hub.silence_bot(conversation_id);
                }
                info!(
                    conversation_id = %conversation_id,
                    staff_id = %staff.id,
                    action = ?action,
                    seq = event.seq,
                    "conversation ownership changed by staff"
                );
                chat.hub
                    .publish(conversation_id, ServerFrame::Event(event.clone()));
                ActionOutcome::Done(Some(event))
            }
            OwnershipOutcome::Unchanged => ActionOutcome::Done(None),
            OwnershipOutcome::OwnedByOther { owner_name, .. } => ActionOutcome::Refused(Refusal {
                code: RefusedCode::Owned,
                message: format!("{owner_name} has this chat; ask them to hand it over"),
                owner: Some(owner_name),
            }),
            OwnershipOutcome::LimitReached { limit } => ActionOutcome::Refused(Refusal {
                code: RefusedCode::LimitReached,
                message: format!(
                    "you own {limit} chats, your limit; resolve or hand one back first"
                ),
                owner: None,
            }),
            OwnershipOutcome::NotAllowed(state) => ActionOutcome::Refused(Refusal {
                code: RefusedCode::NotAllowed,
                message: format!(
                    "the chat is {}; only the agent who owns a chat can hand it back",
                    state.as_str()
                ),
                owner: None,
            }),
        })
    }

    /// Sends an agent's reply to the buyer, translated when the buyer reads
    /// another language. The agent becomes the owner first.
    pub async fn reply(
        &self,
        staff: &StaffAccount,
        conversation_id: &str,
        client_id: &str,
        text: &str,
        accepted_translation: Option<&str>,
    ) -> Result<ReplyOutcome, StoreError> {
        let chat = &self.chat;
        let Some(conversation) = chat.store.conversation(conversation_id).await? else {
            return Ok(ReplyOutcome::Refused(not_found(conversation_id)));
        };
        let stored_client_id = format!("{STAFF_CLIENT_ID_PREFIX}{client_id}");
        // A console resends replies after a reconnect; a resend must not take
        // the chat again after it was handed back or resolved.
        if let Some(earlier) = chat
            .store
            .event_by_client_id(conversation_id, &stored_client_id)
            .await?
        {
            return Ok(ReplyOutcome::Sent {
                event: Box::new(earlier),
                duplicate: true,
            });
        }
        if !owns(staff, &conversation) {
            let taken = self
                .change_owner(staff, conversation_id, StaffAction::Take)
                .await?;
            if let ActionOutcome::Refused(refusal) = taken {
                return Ok(ReplyOutcome::Refused(refusal));
            }
        }
        let buyer_language = self.buyer_language(&conversation);
        let mut event = NewEvent {
            kind: EventKind::Message,
            author: Author::Staff,
            client_id: Some(stored_client_id),
            text: Some(text.to_owned()),
            language: Some(buyer_language),
            answer_source: Some("staff".to_owned()),
            staff_id: Some(staff.id.clone()),
            author_name: Some(staff.display_name.clone()),
            ..NewEvent::default()
        };
        if staff.language != buyer_language {
            let (translated, machine) = match accepted_translation {
                Some(accepted) => {
                    let machine = self
                        .is_model_draft(text, accepted, staff.language, buyer_language)
                        .await;
                    (
                        self.accepted(text, accepted, staff.language, buyer_language),
                        machine,
                    )
                }
                None => match self.translate(text, staff.language, buyer_language).await {
                    Ok(translated) => (translated, true),
                    Err(review) => return Ok(review),
                },
            };
            event.text = Some(translated.0);
            event.check_failure = translated.1;
            event.machine_translated = machine;
            event.original_text = Some(text.to_owned());
            event.original_language = Some(staff.language);
        }
        let stored = chat
            .store
            .append_staff_message(conversation_id, &staff.id, &event)
            .await?;
        match stored {
            StaffMessageOutcome::Stored(stored) => {
                info!(
                    conversation_id = %conversation_id,
                    staff_id = %staff.id,
                    seq = stored.seq,
                    translated = stored.machine_translated,
                    "staff reply sent"
                );
                chat.hub
                    .publish(conversation_id, ServerFrame::Event(stored.clone()));
                Ok(ReplyOutcome::Sent {
                    event: stored,
                    duplicate: false,
                })
            }
            StaffMessageOutcome::Duplicate(seq) => {
                match chat.store.event(conversation_id, seq).await? {
                    Some(earlier) => Ok(ReplyOutcome::Sent {
                        event: Box::new(earlier),
                        duplicate: true,
                    }),
                    None => Err(StoreError::ConversationNotFound(conversation_id.to_owned())),
                }
            }
            StaffMessageOutcome::NotOwner(state) => Ok(ReplyOutcome::Refused(Refusal {
                code: RefusedCode::NotAllowed,
                message: format!(
                    "the chat is {} and no longer yours; take it again to reply",
                    state.as_str()
                ),
                owner: None,
            })),
        }
    }

    /// Translates a reply for the buyer; a failed check or a missing model
    /// becomes a review for the agent.
    async fn translate(
        &self,
        text: &str,
        from: Language,
        to: Language,
    ) -> Result<(String, Option<String>), ReplyOutcome> {
        let Some(translator) = &self.chat.answerer.translator else {
            return Err(ReplyOutcome::Review {
                translation: None,
                language: to,
                failure: format!(
                    "no translation model is loaded; write the {} text yourself and send it",
                    to.english_name()
                ),
            });
        };
        match translator.translate_answer(text, from, to, &[]).await {
            Ok(translation) => match translation.failure {
                None => Ok((translation.text, None)),
                Some(failure) => Err(ReplyOutcome::Review {
                    translation: Some(translation.text),
                    language: to,
                    failure,
                }),
            },
            Err(error) => {
                warn!(%error, "staff reply translation failed");
                Err(ReplyOutcome::Review {
                    translation: None,
                    language: to,
                    failure: format!("translation failed ({error}); retry or write it yourself"),
                })
            }
        }
    }

    /// Returns whether an accepted translation is the model's draft unchanged.
    /// Text the agent corrected or wrote is theirs, not machine-translated.
    async fn is_model_draft(
        &self,
        text: &str,
        accepted: &str,
        from: Language,
        to: Language,
    ) -> bool {
        let Some(translator) = &self.chat.answerer.translator else {
            return false;
        };
        match translator.cached(text, from, to).await {
            Ok(Some(draft)) => draft.trim() == accepted.trim(),
            _ => false,
        }
    }

    /// Checks a translation the agent accepted or wrote; it is sent as
    /// written, with any check failure recorded.
    fn accepted(
        &self,
        original: &str,
        accepted: &str,
        from: Language,
        to: Language,
    ) -> (String, Option<String>) {
        let terms: Vec<String> = self.chat.glossary.terms().iter().cloned().collect();
        let failure = check_translation(&self.chat.texts, original, from, accepted, to, &terms)
            .err()
            .map(|failure| failure.to_string());
        (accepted.to_owned(), failure)
    }

    /// Stores an internal note and shows it to every console.
    pub async fn note(
        &self,
        staff: &StaffAccount,
        conversation_id: &str,
        client_id: &str,
        text: &str,
    ) -> Result<Option<Note>, StoreError> {
        let chat = &self.chat;
        if chat.store.conversation(conversation_id).await?.is_none() {
            return Ok(None);
        }
        let note = chat
            .store
            .add_note(conversation_id, &staff.id, client_id, text)
            .await?;
        chat.hub.publish_note(conversation_id, note.clone());
        Ok(Some(note))
    }
}

fn not_found(conversation_id: &str) -> Refusal {
    Refusal {
        code: RefusedCode::NotFound,
        message: format!("no conversation has the id {conversation_id:?}"),
        owner: None,
    }
}
