//! The server's resource use, read from /proc: resident memory and CPU
//! time. Only meaningful when the server runs on this machine (`--spawn`,
//! or `--url` with `--server-pid`); the bench reports nothing rather than
//! a guess otherwise.

use std::process::Command;

/// Reads one process's figures.
#[derive(Debug, Clone, Copy)]
pub struct ProcStats {
    pid: u32,
    /// Clock ticks per second, the unit of `utime`/`stime` in /proc.
    ticks_per_sec: f64,
}

impl ProcStats {
    /// Figures of `pid`.
    pub fn new(pid: u32) -> Self {
        Self {
            pid,
            ticks_per_sec: clock_ticks(),
        }
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Resident set size in KiB (`VmRSS`); `None` once the process is gone.
    pub fn rss_kib(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid)).ok()?;
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
    }

    /// User plus system CPU time so far, in seconds.
    pub fn cpu_secs(&self) -> Option<f64> {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.pid)).ok()?;
        cpu_ticks(&stat).map(|t| t as f64 / self.ticks_per_sec)
    }
}

/// Several processes counted as one server (nginx's workers, a
/// multi-process Python server): memory and CPU summed.
#[derive(Debug, Clone, Default)]
pub struct ProcGroup(Vec<ProcStats>);

impl ProcGroup {
    /// The group of `pids`.
    pub fn new(pids: &[u32]) -> Self {
        Self(pids.iter().map(|&p| ProcStats::new(p)).collect())
    }

    /// The process ids; empty when the server is not on this machine.
    pub fn pids(&self) -> Vec<u32> {
        self.0.iter().map(|p| p.pid()).collect()
    }

    /// Summed RSS in KiB; `None` when empty or a process is gone.
    pub fn rss_kib(&self) -> Option<u64> {
        (!self.0.is_empty()).then_some(())?;
        self.0.iter().map(|p| p.rss_kib()).sum()
    }

    /// Summed user + system CPU seconds.
    pub fn cpu_secs(&self) -> Option<f64> {
        (!self.0.is_empty()).then_some(())?;
        self.0.iter().map(|p| p.cpu_secs()).sum()
    }
}

/// `utime + stime` from a /proc/<pid>/stat line. The command name (field 2)
/// may hold spaces and parentheses, so fields are counted after its last
/// `)`: state is field 3, utime 14 and stime 15.
fn cpu_ticks(stat: &str) -> Option<u64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

/// `sysconf(_SC_CLK_TCK)` without unsafe code: asks `getconf`, and falls
/// back on 100, the value of every mainstream Linux build.
fn clock_ticks() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse::<f64>().ok())
        .filter(|&t| t > 0.0)
        .unwrap_or(100.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_are_counted_after_the_command_name() {
        let line = "42 (a (b) c) S 1 42 42 0 -1 4194560 100 0 0 0 250 75 0 0 20 0 1 0";
        assert_eq!(cpu_ticks(line), Some(325));
        assert_eq!(cpu_ticks("garbage"), None);
    }

    #[test]
    fn our_own_process_has_memory_and_cpu() {
        let me = ProcStats::new(std::process::id());
        assert!(me.rss_kib().is_some_and(|k| k > 0));
        assert!(me.cpu_secs().is_some());
    }
}
