//! The machine a table was measured on: timings on a shared 2-core box mean little without its
//! CPU, core count and load (issue 18: the same row measured 50.3 MB/s loaded and 91.1 idle).

use serde::Serialize;

/// What the machine was and how busy it was.
#[derive(Debug, Clone, Serialize)]
pub struct Machine {
    /// `model name` from /proc/cpuinfo.
    pub cpu_model: String,
    /// Cores the harness may use.
    pub cores: usize,
    /// 1-minute load average when the runs started.
    pub load_start: Option<f64>,
    /// 1-minute load average when they ended.
    pub load_end: Option<f64>,
}

impl Machine {
    /// The machine now, its load as at the start.
    pub fn now() -> Self {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu_model = cpuinfo
            .lines()
            .find_map(|l| l.strip_prefix("model name").and_then(|rest| rest.split_once(':')).map(|(_, m)| m.trim().to_owned()))
            .unwrap_or_else(|| "unknown".to_owned());
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        Self { cpu_model, cores, load_start: load_average(), load_end: None }
    }

    /// Records the load at the end.
    pub fn finish(&mut self) {
        self.load_end = load_average();
    }

    /// One line for the table's heading.
    pub fn describe(&self) -> String {
        let load = |l: Option<f64>| l.map_or_else(|| "?".to_owned(), |l| format!("{l:.2}"));
        format!("{}, {} cores, load average {} at the start, {} at the end", self.cpu_model, self.cores, load(self.load_start), load(self.load_end))
    }
}

/// The 1-minute load average.
fn load_average() -> Option<f64> {
    std::fs::read_to_string("/proc/loadavg").ok()?.split_whitespace().next()?.parse().ok()
}
