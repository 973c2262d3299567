//! Judging a running server under load: the per-connection delivery checks,
//! the latency summary and the sampling of the server process behind
//! `crossdesk loadtest`. The command opens the connections and drives the
//! sessions; this module records and judges what comes back, and never
//! opens a connection itself.

pub mod delivery;
pub mod process;
pub mod summary;
