//! Buyer chat: the WebSocket session, the per-message pipeline, and the
//! texts the bot speaks.
//!
//! [`ChatService`] owns everything a conversation needs. A buyer message is
//! stored and acknowledged first; the bot then answers it under the
//! conversation's answer lock, so replies come in message order. Every bot
//! message is stored only if the bot still owns the conversation at that
//! instant (a person may have taken over while the model was writing).

pub mod answer;
pub mod hub;
pub mod orders;
mod pipeline;
pub mod protocol;
pub mod session;
pub mod texts;
pub mod token;

use std::sync::Arc;

use crate::config::Config;
use crate::inference::Generator;
use crate::knowledge::KnowledgeIndex;
use crate::language::detector::Detector;
use crate::storage::Store;

pub use answer::{Answer, AnswerSource, Answerer, Retrieval};

/// Shared state of the buyer chat.
pub struct ChatService {
    pub config: Arc<Config>,
    pub store: Store,
    pub index: Arc<KnowledgeIndex>,
    pub detector: Arc<Detector>,
    pub generator: Option<Arc<dyn Generator>>,
    pub answerer: Answerer,
    pub texts: Arc<texts::Texts>,
    pub hub: Arc<hub::Hub>,
    /// Protected terms, shared with the translator.
    pub glossary: crate::translation::Glossary,
    pub signer: Arc<token::TokenSigner>,
    /// Why generation is off, when it is.
    pub generation_off: Option<String>,
}

impl ChatService {
    pub fn generation_off_reason(&self) -> Option<&str> {
        self.generation_off.as_deref()
    }
}
