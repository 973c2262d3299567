//! Totals of a load test over all connections, and its tables.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;

use super::delivery::{Connection, Reply};
use super::process::{ProcessSummary, process_table};
use crate::evaluation::metrics::percentile_ms;
use crate::evaluation::table::{Table, count};

/// `answer_source` of replies written by the model.
const GENERATED_SOURCE: &str = "generated";

/// The settings a run was started with, for the table titles and notes.
#[derive(Debug, Clone, Serialize)]
pub struct RunSettings {
    pub sessions: usize,
    pub duration_seconds: u64,
    pub think_ms: u64,
    pub generated_share: f64,
}

/// Latency quantiles in milliseconds.
#[derive(Debug, Clone, Serialize)]
pub struct Percentiles {
    pub count: usize,
    pub p50: f64,
    pub p95: f64,
    pub p99: f64,
    pub max: f64,
}

impl Percentiles {
    /// Quantiles of the durations; `None` when there are none.
    pub fn of(mut durations: Vec<Duration>) -> Option<Self> {
        durations.sort_unstable();
        Some(Self {
            count: durations.len(),
            p50: percentile_ms(&durations, 0.50)?,
            p95: percentile_ms(&durations, 0.95)?,
            p99: percentile_ms(&durations, 0.99)?,
            max: percentile_ms(&durations, 1.0)?,
        })
    }
}

/// Totals over all connections.
#[derive(Debug, Serialize)]
pub struct Summary {
    pub sessions: usize,
    pub connect_failed: usize,
    pub disconnected: usize,
    pub sent: usize,
    pub acked: usize,
    pub unacked: usize,
    /// `ack` frames that arrived after the event of their message.
    pub acks_after_event: usize,
    pub replies: usize,
    pub lost: usize,
    pub duplicated: usize,
    pub order_violations: usize,
    pub errors: BTreeMap<String, usize>,
    pub elapsed_seconds: f64,
    /// Time from sending to the final bot event, by `answer_source`.
    pub latency_ms: BTreeMap<String, Percentiles>,
    /// Every reply not written by the model.
    pub extractive_latency_ms: Option<Percentiles>,
    /// Send to first streamed delta, for replies written by the model.
    pub first_delta_ms: Option<Percentiles>,
    pub sources_per_question: BTreeMap<String, BTreeMap<String, usize>>,
}

impl Summary {
    /// Adds up what every connection saw over `elapsed`.
    pub fn new(connections: &[Connection], elapsed: Duration) -> Self {
        let replies: Vec<&Reply> = connections.iter().flat_map(|c| &c.replies).collect();
        let mut errors = BTreeMap::new();
        for connection in connections {
            for (code, n) in &connection.errors {
                *errors.entry(code.clone()).or_default() += n;
            }
        }
        let generated = |reply: &&&Reply| reply.source == GENERATED_SOURCE;
        Self {
            sessions: connections.len(),
            connect_failed: connections.iter().filter(|c| c.connect_failed).count(),
            disconnected: connections.iter().filter(|c| c.disconnected).count(),
            sent: connections.iter().map(|c| c.sent).sum(),
            acked: connections.iter().map(|c| c.acked.len()).sum(),
            unacked: connections.iter().map(Connection::unacked).sum(),
            acks_after_event: connections.iter().map(|c| c.acks_after_event).sum(),
            replies: replies.len(),
            lost: connections.iter().map(Connection::lost).sum(),
            duplicated: connections.iter().map(Connection::duplicated).sum(),
            order_violations: connections.iter().map(|c| c.order_violations).sum(),
            errors,
            elapsed_seconds: elapsed.as_secs_f64(),
            latency_ms: latency_by_source(&replies),
            extractive_latency_ms: Percentiles::of(
                replies
                    .iter()
                    .filter(|r| !generated(r))
                    .map(|r| r.latency)
                    .collect(),
            ),
            first_delta_ms: Percentiles::of(
                replies
                    .iter()
                    .filter(generated)
                    .filter_map(|r| r.first_delta)
                    .collect(),
            ),
            sources_per_question: sources_per_question(&replies),
        }
    }

    /// Breaches of the delivery promises: lost, never acknowledged,
    /// duplicated and out-of-order messages, plus sessions that failed to
    /// connect or were cut off, so a run against a dead server cannot pass.
    pub fn problems(&self) -> usize {
        self.lost
            + self.unacked
            + self.duplicated
            + self.order_violations
            + self.connect_failed
            + self.disconnected
    }

    /// Builds the tables of a run, with the idle and process results if measured.
    pub fn tables(
        &self,
        settings: &RunSettings,
        idle: Option<&IdleResult>,
        process: Option<&ProcessSummary>,
    ) -> Vec<Table> {
        let mut tables = vec![self.delivery_table(settings), self.latency_table()];
        tables.extend(idle.map(idle_table));
        tables.extend(process.map(process_table));
        tables
    }

    fn delivery_table(&self, settings: &RunSettings) -> Table {
        let mut table = Table::new(
            format!(
                "Load: {} sessions, {} s",
                count(settings.sessions),
                settings.duration_seconds
            ),
            &[
                "sessions (failed)",
                "sent",
                "acked",
                "replies",
                "replies/s",
                "lost",
                "duplicated",
                "out of order",
                "error frames",
            ],
        );
        let errors: usize = self.errors.values().sum();
        let rate = self.replies as f64 / self.elapsed_seconds.max(1e-9);
        table.row(vec![
            format!("{} ({})", count(self.sessions), self.connect_failed),
            count(self.sent),
            count(self.acked),
            count(self.replies),
            format!("{rate:.1}"),
            count(self.lost),
            count(self.duplicated),
            count(self.order_violations),
            count(errors),
        ]);
        table.note(format!(
            "Mean pause {} ms between a reply and the next question; {:.0} % of questions \
             need the model. Sessions cut off: {}. Messages never acknowledged: {}. \
             Acks that arrived after their message's event: {}. Replies per second \
             over {:.0} s, the drain included.",
            settings.think_ms,
            settings.generated_share * 100.0,
            self.disconnected,
            self.unacked,
            self.acks_after_event,
            self.elapsed_seconds
        ));
        table
    }

    fn latency_table(&self) -> Table {
        let mut table = Table::new(
            "Reply latency (send to final bot event, ms)",
            &["replies", "count", "p50", "p95", "p99", "max"],
        );
        let mut rows: Vec<(String, &Percentiles)> = Vec::new();
        rows.extend(
            self.extractive_latency_ms
                .iter()
                .map(|p| ("all but generated".to_owned(), p)),
        );
        rows.extend(
            self.latency_ms
                .iter()
                .map(|(s, p)| (format!("source {s}"), p)),
        );
        rows.extend(
            self.first_delta_ms
                .iter()
                .map(|p| ("generated: time to first delta".to_owned(), p)),
        );
        for (label, p) in rows {
            table.row(vec![
                label,
                count(p.count),
                format!("{:.0}", p.p50),
                format!("{:.0}", p.p95),
                format!("{:.0}", p.p99),
                format!("{:.0}", p.max),
            ]);
        }
        table
    }
}

fn latency_by_source(replies: &[&Reply]) -> BTreeMap<String, Percentiles> {
    let mut by_source: BTreeMap<String, Vec<Duration>> = BTreeMap::new();
    for reply in replies {
        by_source
            .entry(reply.source.clone())
            .or_default()
            .push(reply.latency);
    }
    by_source
        .into_iter()
        .filter_map(|(source, durations)| Some((source, Percentiles::of(durations)?)))
        .collect()
}

fn sources_per_question(replies: &[&Reply]) -> BTreeMap<String, BTreeMap<String, usize>> {
    let mut sources: BTreeMap<String, BTreeMap<String, usize>> = BTreeMap::new();
    for reply in replies {
        *sources
            .entry(reply.question.to_owned())
            .or_default()
            .entry(reply.source.clone())
            .or_default() += 1;
    }
    sources
}

/// Server memory before and after opening idle connections.
#[derive(Debug, Serialize)]
pub struct IdleResult {
    pub requested: usize,
    pub opened: usize,
    pub failed: usize,
    pub rss_before_kib: Option<u64>,
    pub rss_after_kib: Option<u64>,
    pub open_seconds: f64,
    /// Pause between the last welcome and the second memory reading.
    pub settle_seconds: u64,
}

impl IdleResult {
    /// Resident memory added per open connection, in KiB.
    pub fn kib_per_connection(&self) -> Option<f64> {
        let (before, after) = (self.rss_before_kib?, self.rss_after_kib?);
        Some((after as f64 - before as f64) / self.opened.max(1) as f64)
    }
}

fn idle_table(idle: &IdleResult) -> Table {
    let mut table = Table::new(
        "Idle connections (hello only)",
        &[
            "opened (failed)",
            "server RSS before",
            "server RSS after",
            "per connection",
        ],
    );
    let mib = |kib: Option<u64>| {
        kib.map_or("n/a".to_owned(), |k| {
            format!("{:.1} MiB", k as f64 / 1024.0)
        })
    };
    let per_connection = idle
        .kib_per_connection()
        .map_or("n/a".to_owned(), |k| format!("{k:.1} KiB"));
    table.row(vec![
        format!("{} ({})", count(idle.opened), idle.failed),
        mib(idle.rss_before_kib),
        mib(idle.rss_after_kib),
        per_connection,
    ]);
    table.note(format!(
        "Opened in {:.1} s; RSS read {} s after the last welcome.",
        idle.open_seconds, idle.settle_seconds
    ));
    table
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(source: &str, millis: u64, first_delta: Option<u64>) -> Reply {
        Reply {
            question: "q",
            source: source.to_owned(),
            latency: Duration::from_millis(millis),
            first_delta: first_delta.map(Duration::from_millis),
        }
    }

    #[test]
    fn first_delta_counts_generated_replies_only() {
        let connection = Connection {
            replies: vec![
                reply("faq", 10, Some(5)),
                reply("generated", 9_000, Some(2_000)),
            ],
            ..Connection::default()
        };
        let summary = Summary::new(&[connection], Duration::from_secs(1));
        let first = summary.first_delta_ms.expect("one generated reply");
        assert_eq!(first.count, 1);
        assert_eq!(first.p50, 2_000.0);
        let extractive = summary.extractive_latency_ms.expect("one faq reply");
        assert_eq!(extractive.count, 1);
        assert_eq!(extractive.p50, 10.0);
    }

    #[test]
    fn idle_memory_is_divided_by_open_connections() {
        let idle = IdleResult {
            requested: 10,
            opened: 8,
            failed: 2,
            rss_before_kib: Some(1_000),
            rss_after_kib: Some(1_800),
            open_seconds: 0.1,
            settle_seconds: 2,
        };
        assert_eq!(idle.kib_per_connection(), Some(100.0));
    }
}
