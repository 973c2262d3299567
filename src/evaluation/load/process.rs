//! Memory and CPU time of the server process, read from `/proc` (Linux).
//!
//! `VmRSS`, `VmHWM` and `Threads` come from `/proc/PID/status`; user and
//! system CPU time (in clock ticks) from fields 14 and 15 of
//! `/proc/PID/stat`. [`ProcessSampler`] reads both once a second.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::evaluation::table::Table;

/// Time between two readings.
const SAMPLE_INTERVAL: Duration = Duration::from_secs(1);

/// One reading of a process.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct ProcessSample {
    pub rss_kib: u64,
    pub peak_rss_kib: u64,
    pub threads: u64,
    /// User plus system CPU time, in clock ticks.
    pub cpu_ticks: u64,
}

/// Reads a process's memory and CPU time; `None` if the process is gone or
/// the files are not in the expected format.
pub fn read_process(pid: u32) -> Option<ProcessSample> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| -> Option<u64> {
        let line = status.lines().find(|l| l.starts_with(name))?;
        line.split_whitespace().nth(1)?.parse().ok()
    };
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may contain spaces, so fields are counted
    // after its closing parenthesis: utime and stime are the 12th and 13th.
    let after_name = stat.get(stat.rfind(')')? + 2..)?;
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(ProcessSample {
        rss_kib: field("VmRSS:")?,
        peak_rss_kib: field("VmHWM:")?,
        threads: field("Threads:")?,
        cpu_ticks: utime + stime,
    })
}

/// Clock ticks per second of the `/proc/PID/stat` times, from `getconf`.
fn clock_ticks_per_second() -> f64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|out| String::from_utf8(out.stdout).ok())
        .and_then(|text| text.trim().parse().ok())
        // NOTE: 100 is the Linux default on x86-64 and arm64; it is used
        // only when getconf is missing.
        .unwrap_or(100.0)
}

/// Samples a process once a second until stopped.
pub struct ProcessSampler {
    stop: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<ProcessSummary>,
}

/// A process's memory and CPU over a run.
#[derive(Debug, Default, Serialize)]
pub struct ProcessSummary {
    pub first: Option<ProcessSample>,
    pub last: Option<ProcessSample>,
    pub max_rss_kib: u64,
    pub max_threads: u64,
    /// Mean CPU use over the run; 100 is one core fully busy.
    pub cpu_percent_mean: f64,
    /// Highest CPU use between two readings.
    pub cpu_percent_max: f64,
    pub seconds: f64,
}

impl ProcessSampler {
    /// Starts sampling `pid` on the current tokio runtime.
    pub fn start(pid: u32) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let task = tokio::spawn(sample_loop(pid, stop.clone()));
        Self { stop, task }
    }

    /// Stops sampling and returns the summary.
    pub async fn stop(self) -> ProcessSummary {
        self.stop.store(true, Ordering::Relaxed);
        self.task.await.unwrap_or_default()
    }
}

async fn sample_loop(pid: u32, stop: Arc<AtomicBool>) -> ProcessSummary {
    let ticks = clock_ticks_per_second();
    let started = Instant::now();
    let mut summary = ProcessSummary::default();
    let mut previous: Option<(Instant, ProcessSample)> = None;
    while !stop.load(Ordering::Relaxed) {
        if let Some(sample) = read_process(pid) {
            let now = Instant::now();
            summary.first.get_or_insert(sample);
            summary.last = Some(sample);
            summary.max_rss_kib = summary.max_rss_kib.max(sample.rss_kib);
            summary.max_threads = summary.max_threads.max(sample.threads);
            if let Some((at, before)) = previous {
                let seconds = now.duration_since(at).as_secs_f64().max(1e-3);
                let busy = sample.cpu_ticks.saturating_sub(before.cpu_ticks) as f64 / ticks;
                summary.cpu_percent_max = summary.cpu_percent_max.max(busy / seconds * 100.0);
            }
            previous = Some((now, sample));
        }
        tokio::time::sleep(SAMPLE_INTERVAL).await;
    }
    summary.seconds = started.elapsed().as_secs_f64();
    if let (Some(first), Some(last)) = (summary.first, summary.last) {
        let busy = last.cpu_ticks.saturating_sub(first.cpu_ticks) as f64 / ticks;
        summary.cpu_percent_mean = busy / summary.seconds.max(1e-3) * 100.0;
    }
    summary
}

/// Builds the one-row table of the summary.
pub fn process_table(process: &ProcessSummary) -> Table {
    let mut table = Table::new(
        "Server process during the run",
        &[
            "RSS start",
            "RSS peak",
            "RSS end",
            "CPU mean",
            "CPU max (1 s)",
            "threads",
        ],
    );
    let mib = |kib: u64| format!("{:.0} MiB", kib as f64 / 1024.0);
    table.row(vec![
        process.first.map_or("n/a".to_owned(), |s| mib(s.rss_kib)),
        mib(process.max_rss_kib),
        process.last.map_or("n/a".to_owned(), |s| mib(s.rss_kib)),
        format!("{:.0} %", process.cpu_percent_mean),
        format!("{:.0} %", process.cpu_percent_max),
        process.max_threads.to_string(),
    ]);
    table.note("CPU: 100 % is one core fully busy; sampled from /proc once a second.");
    table
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_process_can_be_read() {
        let sample = read_process(std::process::id()).expect("/proc of this process");
        assert!(sample.rss_kib > 0);
        assert!(sample.peak_rss_kib >= sample.rss_kib);
        assert!(sample.threads >= 1);
    }

    #[test]
    fn missing_process_reads_as_none() {
        assert!(read_process(u32::MAX).is_none());
    }
}
