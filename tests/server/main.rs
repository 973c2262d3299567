//! Integration tests: the real server on port 0 with a temporary store and
//! index, the sample knowledge base, and the default model, driven over the
//! buyer and staff WebSockets with tokio-tungstenite.

mod chat;
mod fixture;
mod protocol;
mod staff;
