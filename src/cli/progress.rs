//! Progress bars on a terminal, and the final transfer summary.

use indicatif::{ProgressBar, ProgressStyle};
use receiver::download::Progress;
use std::time::Duration;

/// A byte progress bar, drawn only when `show` (callers pass whether stderr is a terminal).
pub fn bar(total_bytes: u64, label: &str, show: bool) -> ProgressBar {
    let bar = ProgressBar::new(total_bytes);
    if !show {
        bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    bar.set_style(
        ProgressStyle::with_template("{prefix:>10} [{bar:40}] {bytes}/{total_bytes} {binary_bytes_per_sec} eta {eta}")
            .expect("valid template")
            .progress_chars("=> "),
    );
    bar.set_prefix(label.to_owned());
    bar
}

/// What a download reports its progress to: moves `bar`, and on the first report says how many
/// verified blocks came back from the journal.
pub fn on_download<'a>(bar: &'a ProgressBar, label: &'a str) -> impl FnMut(Progress) + 'a {
    let mut first = true;
    move |p| {
        if std::mem::take(&mut first) && p.blocks_done > 0 {
            eprintln!("{label}: resuming with {} verified block(s) from the journal", p.blocks_done);
        }
        bar.set_position(p.bytes_done);
    }
}

/// What one transfer moved, for humans and scripts.
#[derive(Debug)]
pub struct Summary {
    /// Who is reporting (sender, receiver N).
    pub role: String,
    /// Object bytes.
    pub bytes: u64,
    /// Wall time.
    pub elapsed: Duration,
    /// Repair symbols (sent by the sender, or kept by a receiver).
    pub repair_symbols: u64,
    /// Of the sender's repair symbols, those sent in answer to feedback.
    pub requested_repair_symbols: u64,
    /// Blocks a receiver found corrupt after decoding and fetched again.
    pub corrupt_blocks: u64,
}

impl Summary {
    /// Object bytes per second, in MB/s (10^6).
    pub fn goodput_mbps(&self) -> f64 {
        self.bytes as f64 / self.elapsed.as_secs_f64().max(1e-9) / 1e6
    }

    /// Prints one line for humans.
    pub fn print(&self) {
        println!(
            "{}: {} bytes in {:.2} s, goodput {:.1} MB/s ({:.2} Gbit/s), {} repair symbols",
            self.role,
            self.bytes,
            self.elapsed.as_secs_f64(),
            self.goodput_mbps(),
            self.goodput_mbps() * 8.0 / 1000.0,
            self.repair_symbols
        );
    }
}
