//! crossdesk: a self-hosted multilingual customer-service chat server.
//!
//! Buyers chat over a WebSocket in their own language; the server detects the
//! language, retrieves answers from the seller's knowledge base, writes or
//! translates replies with a local transformer, and logs every turn. Staff
//! take over the chats the bot cannot handle from a console. Each
//! top-level module is one concept of that job; `app` wires them together.

pub mod app;
pub mod chat;
pub mod commands;
pub mod config;
pub mod evaluation;
pub mod http;
pub mod inference;
pub mod knowledge;
pub mod language;
pub mod limits;
pub mod staff;
pub mod storage;
pub mod translation;
