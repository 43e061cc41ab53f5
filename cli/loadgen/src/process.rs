//! CPU time and memory of a process, read from `/proc/PID`.
//!
//! Owns parsing `/proc/PID/stat` and `/proc/PID/status`. It must not start or
//! stop processes.

use std::time::{Duration, Instant};

use serde::Serialize;

/// Linux reports `stat` times in clock ticks; 100 per second on every
/// mainstream architecture (`getconf CLK_TCK`).
const TICKS_PER_SEC: f64 = 100.0;

/// Why a process could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ProcError {
    #[error("cannot read /proc/{pid}/{file}: {source}; is process {pid} running?")]
    Read {
        pid: u32,
        file: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error("/proc/{pid}/{file}: unexpected format: {what}")]
    Format {
        pid: u32,
        file: &'static str,
        what: &'static str,
    },
}

/// One reading of a process.
#[derive(Debug, Clone, Copy)]
pub struct ProcSample {
    pub at: Instant,
    /// User plus system CPU time since the process started.
    pub cpu: Duration,
    pub rss_bytes: u64,
    /// Peak RSS since the process started (`VmHWM`).
    pub peak_rss_bytes: u64,
}

impl ProcSample {
    pub fn read(pid: u32) -> Result<Self, ProcError> {
        let at = Instant::now();
        let read = |file: &'static str| {
            std::fs::read_to_string(format!("/proc/{pid}/{file}"))
                .map_err(|source| ProcError::Read { pid, file, source })
        };
        let stat = read("stat")?;
        // The command name may hold spaces and parentheses: fields after the
        // last `)` are fixed. utime and stime are fields 14 and 15 (1-based),
        // i.e. 12 and 13 after the state field.
        let rest = stat
            .rsplit_once(')')
            .map(|(_, r)| r)
            .ok_or(ProcError::Format {
                pid,
                file: "stat",
                what: "no `)` after the command name",
            })?;
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let field = |i: usize| {
            fields
                .get(i)
                .and_then(|f| f.parse::<u64>().ok())
                .ok_or(ProcError::Format {
                    pid,
                    file: "stat",
                    what: "utime/stime missing or not a number",
                })
        };
        let ticks = field(11)? + field(12)?;
        let status = read("status")?;
        let kib = |key: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(key))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
                .map(|k| k * 1024)
        };
        let rss_bytes = kib("VmRSS:").ok_or(ProcError::Format {
            pid,
            file: "status",
            what: "no VmRSS line",
        })?;
        Ok(Self {
            at,
            cpu: Duration::from_secs_f64(ticks as f64 / TICKS_PER_SEC),
            rss_bytes,
            peak_rss_bytes: kib("VmHWM:").unwrap_or(rss_bytes),
        })
    }
}

/// A process's use between two samples.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ProcessUsage {
    pub pid: u32,
    /// Cores used on average (1.0 = one core fully busy).
    pub cpu_cores: f64,
    pub rss_start_bytes: u64,
    pub rss_end_bytes: u64,
    pub peak_rss_bytes: u64,
}

impl ProcessUsage {
    pub fn between(pid: u32, start: &ProcSample, end: &ProcSample) -> Self {
        let wall = end.at.duration_since(start.at).as_secs_f64();
        let cpu = end.cpu.saturating_sub(start.cpu).as_secs_f64();
        Self {
            pid,
            cpu_cores: if wall > 0.0 { cpu / wall } else { 0.0 },
            rss_start_bytes: start.rss_bytes,
            rss_end_bytes: end.rss_bytes,
            peak_rss_bytes: end.peak_rss_bytes,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_this_process() {
        let s = ProcSample::read(std::process::id()).unwrap();
        assert!(s.rss_bytes > 0);
        assert!(s.peak_rss_bytes >= s.rss_bytes);
    }

    #[test]
    fn a_missing_process_is_a_clear_error() {
        let err = ProcSample::read(u32::MAX).unwrap_err().to_string();
        assert!(err.contains("is process"), "{err}");
    }
}
