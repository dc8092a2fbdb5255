//! The result table: one row per tool and scenario, printed for humans and written as JSON.

use serde::Serialize;
use std::fmt::Write as _;

/// UDP payload of a full-MTU datagram (1500 − 20 IP − 8 UDP).
const UDP_PAYLOAD_BYTES: f64 = 1472.0;
/// What that datagram costs the sender's tbf: the IP packet plus the 14-byte Ethernet header.
const FRAME_BYTES: f64 = 1514.0;

/// The most UDP payload a link of `rate_bps` (as tbf counts it) carries, in MB/s (10^6).
pub fn udp_bound_mbps(rate_bps: u64) -> f64 {
    rate_bps as f64 / 8.0 * UDP_PAYLOAD_BYTES / FRAME_BYTES / 1e6
}

/// One line of the table: the median of a tool's runs in one scenario.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    /// Tool name.
    pub tool: &'static str,
    /// Receivers.
    pub receivers: usize,
    /// tbf rate, bits/s; `None` when unlimited.
    pub rate_bps: Option<u64>,
    /// The rate the tool was told when it was not the link's (the over-estimate suite).
    pub ceiling_bps: Option<u64>,
    /// Loss at each receiver, fraction.
    pub loss: f64,
    /// Object bytes.
    pub bytes: u64,
    /// Runs that completed with every copy verified, of `runs`.
    pub ok_runs: usize,
    /// Runs attempted.
    pub runs: usize,
    /// Median seconds of the good runs.
    pub seconds: Option<f64>,
    /// Fastest good run, seconds.
    pub seconds_min: Option<f64>,
    /// Slowest good run, seconds.
    pub seconds_max: Option<f64>,
    /// Median total CPU seconds (sender + receivers) of the good runs.
    pub cpu_seconds: Option<f64>,
    /// Median CPU seconds of the sender alone (fountain's keeps its GSO batching).
    pub sender_cpu_seconds: Option<f64>,
    /// Why runs failed, when some did.
    pub failures: Vec<String>,
}

impl Row {
    /// Object MB/s.
    pub fn goodput_mbps(&self) -> Option<f64> {
        self.seconds.map(|s| self.bytes as f64 / s / 1e6)
    }

    /// Goodput as a percentage of the link's UDP bound.
    pub fn bound_pct(&self) -> Option<f64> {
        Some(100.0 * self.goodput_mbps()? / udp_bound_mbps(self.rate_bps?))
    }
}

/// The median of some samples (the mean of the middle two for an even count).
pub fn median(mut samples: Vec<f64>) -> Option<f64> {
    samples.sort_by(f64::total_cmp);
    let n = samples.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(samples[n / 2]),
        _ => Some((samples[n / 2 - 1] + samples[n / 2]) / 2.0),
    }
}

fn rate_label(rate_bps: Option<u64>) -> String {
    match rate_bps {
        None => "unlimited".to_owned(),
        Some(r) if r % 1_000_000_000 == 0 => format!("{} Gbit/s", r / 1_000_000_000),
        Some(r) => format!("{} Mbit/s", r / 1_000_000),
    }
}

fn opt(value: Option<f64>, decimals: usize) -> String {
    value.map_or_else(|| "-".to_owned(), |v| format!("{v:.decimals$}"))
}

/// The table as Markdown.
pub fn markdown(rows: &[Row]) -> String {
    let mut out = String::from(
        "| tool | receivers | link | told | loss | seconds (median) | min–max s | goodput MB/s | % of UDP bound | CPU s | sender CPU s | ok runs |\n|---|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for r in rows {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {}% | {} | {}–{} | {} | {} | {} | {} | {}/{} |",
            r.tool,
            r.receivers,
            rate_label(r.rate_bps),
            r.ceiling_bps.map_or_else(|| "link".to_owned(), |c| rate_label(Some(c))),
            r.loss * 100.0,
            opt(r.seconds, 2),
            opt(r.seconds_min, 2),
            opt(r.seconds_max, 2),
            opt(r.goodput_mbps(), 1),
            opt(r.bound_pct(), 1),
            opt(r.cpu_seconds, 2),
            opt(r.sender_cpu_seconds, 2),
            r.ok_runs,
            r.runs
        );
    }
    out
}

/// A row with its derived figures, as written to JSON.
#[derive(Serialize)]
struct JsonRow<'a> {
    #[serde(flatten)]
    row: &'a Row,
    goodput_mbps: Option<f64>,
    udp_bound_pct: Option<f64>,
}

/// The machine and the rows as JSON.
pub fn json(machine: &super::machine::Machine, rows: &[Row]) -> String {
    let rows: Vec<JsonRow<'_>> = rows.iter().map(|row| JsonRow { row, goodput_mbps: row.goodput_mbps(), udp_bound_pct: row.bound_pct() }).collect();
    let value = serde_json::json!({ "machine": machine, "rows": rows });
    serde_json::to_string_pretty(&value).expect("rows serialise") + "\n"
}
