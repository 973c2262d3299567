//! What the bot does with one stored buyer message: remember the language,
//! respect the owner, escalate, handle orders, or answer from knowledge, then
//! store the reply (if the bot still owns the chat) and log the turn.

use std::sync::Arc;
use std::time::Instant;

use tracing::{info, warn};

use super::ChatService;
use super::answer::{Answer, AnswerSource, Retrieval, turn_hits};
use super::hub::BotTurn;
use super::orders::{parse_mention, proof_matches, status_reply};
use super::protocol::ServerFrame;
use super::texts::EscalationReason;
use crate::knowledge::{Source, SourceKind};
use crate::language::Language;
use crate::language::detector::Detection;
use crate::storage::{
    Author, Conversation, ConversationState, EventKind, NewEvent, StoreError, StoredEvent,
    Transition, Turn,
};

/// Characters per streamed delta of a reply that is not generated.
const EXTRACTIVE_DELTA_CHARS: usize = 24;

impl ChatService {
    /// Handles one stored buyer message. Errors are logged, not returned:
    /// the buyer's message is already stored and acknowledged.
    pub async fn answer_buyer_message(
        self: Arc<Self>,
        conversation_id: String,
        buyer: StoredEvent,
        detection: Detection,
        address: String,
    ) {
        // Taken before the owner is read, so a takeover silences this turn.
        let turn = self.hub.bot_turn(&conversation_id);
        let lock = self.hub.answer_lock(&conversation_id);
        let _answering = lock.lock().await;
        if let Err(error) = self
            .answer_locked(&conversation_id, &buyer, detection, &address, &turn)
            .await
        {
            warn!(conversation_id = %conversation_id, seq = buyer.seq, %error, "answering failed");
        }
    }

    async fn answer_locked(
        &self,
        conversation_id: &str,
        buyer: &StoredEvent,
        detection: Detection,
        address: &str,
        turn: &BotTurn,
    ) -> Result<(), StoreError> {
        let started = Instant::now();
        let Some(conversation) = self.store.conversation(conversation_id).await? else {
            return Err(StoreError::ConversationNotFound(conversation_id.to_owned()));
        };
        if self.store.has_reply(conversation_id, buyer.seq).await? {
            // A reconnect can ask again for a message answered meanwhile.
            return Ok(());
        }
        let language = self.reply_language(&conversation, detection).await?;
        match conversation.state {
            ConversationState::Queued | ConversationState::Staff => return Ok(()),
            ConversationState::Resolved => self.reopen(conversation_id, language).await?,
            ConversationState::Bot => {}
        }

        let text = buyer.text.clone().unwrap_or_default();
        if let Some(reason) = self.texts.escalation(&text) {
            return self
                .escalate(conversation_id, language, reason.as_str(), Some(buyer))
                .await;
        }

        let reply_id = format!("r-{}", buyer.seq);
        let start = ServerFrame::ReplyStart {
            reply_id: reply_id.clone(),
            reply_to: buyer.seq,
            language,
        };
        self.hub.publish_for_bot(turn, conversation_id, start);
        let composed = {
            let compose = self.compose_reply(
                conversation_id,
                &conversation,
                language,
                &text,
                address,
                &reply_id,
                turn,
            );
            let mut waiter = turn.clone();
            tokio::select! {
                composed = compose => Some(composed?),
                _ = waiter.silenced() => None,
            }
        };
        let Some((retrieval, answer)) = composed else {
            return self
                .drop_reply(conversation_id, buyer, &reply_id, started)
                .await;
        };
        if answer.source != AnswerSource::Generated {
            self.stream_text(turn, conversation_id, &reply_id, &answer.text);
        }
        let stored = self
            .send_bot_reply(conversation_id, buyer.seq, &reply_id, &answer)
            .await?;
        if stored.is_none() {
            self.hub.publish(
                conversation_id,
                ServerFrame::ReplyDropped {
                    reply_id: reply_id.clone(),
                },
            );
        }
        let turn = Turn {
            conversation_id: conversation_id.to_owned(),
            buyer_seq: buyer.seq,
            reply_seq: stored.as_ref().map(|e| e.seq),
            detected_language: detection.language,
            language_confidence: detection.confidence,
            reply_language: answer.language,
            search_language: retrieval.as_ref().map(|r| r.search_language),
            translated_query: retrieval.as_ref().and_then(|r| r.translated_query.clone()),
            hits: retrieval
                .as_ref()
                .map(|r| turn_hits(&r.hits))
                .unwrap_or_default(),
            answer_source: answer.source.as_str().to_owned(),
            machine_translated: answer.machine_translated,
            check_failure: answer.check_failure.clone(),
            latency_ms: started.elapsed().as_millis() as i64,
            generated_tokens: answer.generated_tokens.map(|n| n as i64),
        };
        self.store.record_turn(&turn).await?;
        if let Some(event) = &stored {
            self.hub
                .publish(conversation_id, ServerFrame::Event(Box::new(event.clone())));
        }
        if let Some(reason) = answer.escalation {
            self.queue_silently(conversation_id, language, reason)
                .await?;
        }
        info!(
            conversation_id = %conversation_id,
            buyer_seq = buyer.seq,
            language = %answer.language,
            source = answer.source.as_str(),
            machine_translated = answer.machine_translated,
            latency_ms = turn.latency_ms,
            dropped = stored.is_none(),
            "reply sent"
        );
        Ok(())
    }

    /// Writes the reply by order lookup or from knowledge, publishing its
    /// streamed text while the turn is not silenced.
    #[allow(clippy::too_many_arguments)]
    async fn compose_reply(
        &self,
        conversation_id: &str,
        conversation: &Conversation,
        language: Language,
        text: &str,
        address: &str,
        reply_id: &str,
        turn: &BotTurn,
    ) -> Result<(Option<Retrieval>, Answer), StoreError> {
        if let Some(answer) = self
            .order_reply(conversation, language, text, address)
            .await?
        {
            return Ok((None, answer));
        }
        let on_delta = |piece: &str| {
            let frame = ServerFrame::Delta {
                reply_id: reply_id.to_owned(),
                text: piece.into(),
            };
            self.hub.publish_for_bot(turn, conversation_id, frame);
        };
        let (retrieval, answer) = self.answerer.answer(text, language, &on_delta).await;
        Ok((Some(retrieval), answer))
    }

    /// Ends a turn that a person interrupted: the buyer's widget removes the
    /// partial reply, and the turn is logged as dropped.
    async fn drop_reply(
        &self,
        conversation_id: &str,
        buyer: &StoredEvent,
        reply_id: &str,
        started: Instant,
    ) -> Result<(), StoreError> {
        self.hub.publish(
            conversation_id,
            ServerFrame::ReplyDropped {
                reply_id: reply_id.to_owned(),
            },
        );
        let conversation = self.store.conversation(conversation_id).await?;
        let turn = Turn {
            conversation_id: conversation_id.to_owned(),
            buyer_seq: buyer.seq,
            reply_seq: None,
            detected_language: buyer.language,
            language_confidence: 0.0,
            reply_language: conversation
                .and_then(|c| c.language.or(c.locale))
                .unwrap_or(self.config.knowledge_language),
            search_language: None,
            translated_query: None,
            hits: Vec::new(),
            answer_source: "dropped".to_owned(),
            machine_translated: false,
            check_failure: None,
            latency_ms: started.elapsed().as_millis() as i64,
            generated_tokens: None,
        };
        self.store.record_turn(&turn).await?;
        info!(
            conversation_id = %conversation_id,
            buyer_seq = buyer.seq,
            latency_ms = turn.latency_ms,
            "bot reply cancelled because a person took over"
        );
        Ok(())
    }

    /// Chooses the reply language and stores a newly detected one.
    async fn reply_language(
        &self,
        conversation: &Conversation,
        detection: Detection,
    ) -> Result<Language, StoreError> {
        if let Some(detected) = detection.language {
            if conversation.language != Some(detected) {
                self.store
                    .set_conversation_language(&conversation.id, detected)
                    .await?;
            }
            return Ok(detected);
        }
        Ok(conversation
            .language
            .or(conversation.locale)
            .unwrap_or(self.config.knowledge_language))
    }

    /// Returns a resolved conversation to the bot when the buyer writes again.
    async fn reopen(&self, conversation_id: &str, language: Language) -> Result<(), StoreError> {
        let change = Transition {
            to: ConversationState::Bot,
            owner_staff_id: None,
            actor: "buyer",
            reason: "buyer_returned",
            allowed_from: &[ConversationState::Resolved],
            notice: None,
            actor_name: None,
        };
        if let Some(event) = self
            .store
            .transition(conversation_id, change, Some(language))
            .await?
        {
            self.hub
                .publish(conversation_id, ServerFrame::Event(Box::new(event)));
        }
        Ok(())
    }

    /// Moves the conversation to `queued` and tells the buyer.
    pub async fn escalate(
        &self,
        conversation_id: &str,
        language: Language,
        reason: &str,
        buyer: Option<&StoredEvent>,
    ) -> Result<(), StoreError> {
        let change = Transition {
            to: ConversationState::Queued,
            owner_staff_id: None,
            actor: if buyer.is_some() { "buyer" } else { "bot" },
            reason,
            allowed_from: &[ConversationState::Bot, ConversationState::Resolved],
            notice: None,
            actor_name: None,
        };
        let moved = self
            .store
            .transition(conversation_id, change, Some(language))
            .await?;
        if moved.is_none() {
            let current = self.store.conversation(conversation_id).await?;
            if current.is_some_and(|c| c.state == ConversationState::Staff) {
                // A person already has the chat; the bot must not speak.
                return Ok(());
            }
        }
        let key = match (&moved, reason) {
            (None, _) => "already_queued",
            (Some(_), r) if r == EscalationReason::Anger.as_str() => "queued_anger",
            (Some(_), _) => "queued",
        };
        if let Some(event) = moved {
            info!(conversation_id = %conversation_id, reason, "conversation queued for a person");
            self.hub
                .publish(conversation_id, ServerFrame::Event(Box::new(event)));
        }
        let message = NewEvent {
            kind: EventKind::Message,
            author: Author::Bot,
            text: Some(self.texts.phrase(language, key).to_owned()),
            language: Some(language),
            answer_source: Some(AnswerSource::Escalation.as_str().to_owned()),
            reply_to: buyer.map(|b| b.seq),
            ..NewEvent::default()
        };
        let stored = self.store.append_event(conversation_id, &message).await?;
        self.hub
            .publish(conversation_id, ServerFrame::Event(Box::new(stored)));
        Ok(())
    }

    /// Queues the conversation without a second message to the buyer, for
    /// replies that already say a person will help.
    async fn queue_silently(
        &self,
        conversation_id: &str,
        language: Language,
        reason: &str,
    ) -> Result<(), StoreError> {
        let change = Transition {
            to: ConversationState::Queued,
            owner_staff_id: None,
            actor: "bot",
            reason,
            allowed_from: &[ConversationState::Bot],
            notice: None,
            actor_name: None,
        };
        if let Some(event) = self
            .store
            .transition(conversation_id, change, Some(language))
            .await?
        {
            info!(conversation_id = %conversation_id, reason, "conversation queued for a person");
            self.hub
                .publish(conversation_id, ServerFrame::Event(Box::new(event)));
        }
        Ok(())
    }

    /// Handles order questions; `None` when the message is not about an order.
    async fn order_reply(
        &self,
        conversation: &Conversation,
        language: Language,
        text: &str,
        address: &str,
    ) -> Result<Option<Answer>, StoreError> {
        let mention = parse_mention(text);
        let has_proof = mention.email.is_some() || mention.phone_digits.is_some();
        let number = mention
            .order_number
            .clone()
            .or_else(|| conversation.pending_order.clone().filter(|_| has_proof));
        let Some(number) = number else {
            if self.texts.has_order_intent(text) && !self.confident_faq(text, language).await {
                return Ok(Some(self.phrase_answer(language, "ask_order_number")));
            }
            return Ok(None);
        };
        if !has_proof {
            self.store
                .set_pending_order(&conversation.id, Some(&number))
                .await?;
            let text = self
                .texts
                .render(language, "ask_order_email", &[("order", &number)]);
            return Ok(Some(self.order_answer(language, text, None)));
        }

        let limits = &self.config.limits;
        let from_address = self.store.failed_order_attempts_from(address).await?;
        if conversation.failed_order_attempts >= limits.order_attempts_per_conversation
            || from_address >= limits.order_attempts_per_ip_hour
        {
            warn!(conversation_id = %conversation.id, "order verification attempts exceeded");
            let mut answer = self.phrase_answer(language, "order_attempts_exceeded");
            answer.escalation = Some("order_verification");
            return Ok(Some(answer));
        }
        let order = self.store.order(&number).await?;
        let matched = order.as_ref().filter(|o| proof_matches(o, &mention));
        self.store
            .record_order_attempt(&conversation.id, address, &number, matched.is_some())
            .await?;
        let Some(order) = matched else {
            return Ok(Some(self.phrase_answer(language, "order_not_verified")));
        };
        self.store.set_pending_order(&conversation.id, None).await?;
        let source = Source {
            kind: SourceKind::Order,
            id: order.order_number.clone(),
            title: order.order_number.clone(),
            url: None,
            score: 0.0,
        };
        let text = status_reply(&self.texts, language, order);
        Ok(Some(self.order_answer(language, text, Some(source))))
    }

    async fn confident_faq(&self, text: &str, language: Language) -> bool {
        let retrieval: Retrieval = self.answerer.retrieve(text, language).await;
        retrieval.hits.first().is_some_and(|hit| {
            hit.kind == SourceKind::Faq && hit.coverage >= self.config.retrieval.faq_confident
        })
    }

    fn phrase_answer(&self, language: Language, key: &str) -> Answer {
        self.order_answer(language, self.texts.phrase(language, key).to_owned(), None)
    }

    fn order_answer(&self, language: Language, text: String, source: Option<Source>) -> Answer {
        Answer {
            text,
            language,
            machine_translated: false,
            source: AnswerSource::Order,
            sources: source.into_iter().collect(),
            note: None,
            check_failure: None,
            generated_tokens: None,
            time_to_first_token: None,
            escalation: None,
        }
    }

    /// Streams a finished text in small deltas, as generated replies arrive.
    fn stream_text(&self, turn: &BotTurn, conversation_id: &str, reply_id: &str, text: &str) {
        let chars: Vec<char> = text.chars().collect();
        for chunk in chars.chunks(EXTRACTIVE_DELTA_CHARS) {
            let frame = ServerFrame::Delta {
                reply_id: reply_id.to_owned(),
                text: chunk.iter().collect(),
            };
            self.hub.publish_for_bot(turn, conversation_id, frame);
        }
    }

    /// Stores the reply if the bot still owns the conversation; the caller
    /// logs the turn and then publishes it, so a client that sees the reply
    /// can also find its turn in the log.
    async fn send_bot_reply(
        &self,
        conversation_id: &str,
        buyer_seq: i64,
        reply_id: &str,
        answer: &Answer,
    ) -> Result<Option<StoredEvent>, StoreError> {
        let event = NewEvent {
            kind: EventKind::Message,
            author: Author::Bot,
            reply_id: Some(reply_id.to_owned()),
            text: Some(answer.text.clone()),
            language: Some(answer.language),
            machine_translated: answer.machine_translated,
            answer_source: Some(answer.source.as_str().to_owned()),
            sources: answer.sources.clone(),
            reply_to: Some(buyer_seq),
            note: answer.note.clone(),
            ..NewEvent::default()
        };
        let stored = self
            .store
            .append_bot_message(conversation_id, &event)
            .await?;
        if stored.is_none() {
            info!(
                conversation_id = %conversation_id,
                buyer_seq,
                "bot reply dropped because the bot no longer owns the conversation"
            );
        }
        Ok(stored)
    }
}
