//! CPU per process over the run, for the report's plot: once a second the tool reads the
//! user + system time of each watched process (`--watch-pid NAME=PID`, e.g. the hub's services,
//! MariaDB and the broker) and of itself from `/proc/<pid>/stat`, and keeps the share of one
//! core each used in that second.

use std::collections::BTreeMap;
use std::str::FromStr;
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio_util::sync::CancellationToken;

/// The name the tool's own process is plotted under.
pub const TOOL: &str = "ferroloop-load";

/// `NAME=PID`: a process to watch, named as it should appear on the plot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Watched {
    pub name: String,
    pub pid: u32,
}

impl FromStr for Watched {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (name, pid) = s
            .split_once('=')
            .ok_or_else(|| format!("{s:?}: expected NAME=PID"))?;
        let pid = pid
            .parse()
            .map_err(|_| format!("{s:?}: the PID is not a number"))?;
        if name.is_empty() || name.len() > 40 {
            return Err(format!("{s:?}: the name must have 1 to 40 characters"));
        }
        Ok(Self {
            name: name.to_owned(),
            pid,
        })
    }
}

/// One second of CPU use: process name → per cent of one core.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct CpuSecond {
    pub second: u64,
    pub percent_of_core: BTreeMap<String, u64>,
}

/// Clock ticks per second of `/proc/<pid>/stat` (`USER_HZ`), 100 on every Linux the hub runs on.
const TICKS_PER_SECOND: u64 = 100;

/// utime + stime of a process in clock ticks, or `None` once it is gone.
fn cpu_ticks(pid: &str) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_ticks(&stat)
}

/// Fields 14 and 15 of `/proc/<pid>/stat`, counted after the `)` that ends the command name
/// (which may itself hold spaces).
fn parse_ticks(stat: &str) -> Option<u64> {
    let after_name = &stat[stat.rfind(')')? + 1..];
    let mut fields = after_name.split_whitespace().skip(11);
    let user: u64 = fields.next()?.parse().ok()?;
    let system: u64 = fields.next()?.parse().ok()?;
    Some(user + system)
}

/// Samples every second from `epoch` until `stop`, then returns the samples.
pub async fn sample(
    watched: Vec<Watched>,
    epoch: Instant,
    stop: CancellationToken,
) -> Vec<CpuSecond> {
    let mut processes: Vec<(String, String)> = watched
        .into_iter()
        .map(|w| (w.name, w.pid.to_string()))
        .collect();
    processes.push((TOOL.to_owned(), "self".to_owned()));
    let mut last: Vec<Option<u64>> = processes.iter().map(|(_, p)| cpu_ticks(p)).collect();
    let mut samples = Vec::new();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.tick().await;
    loop {
        tokio::select! {
            () = stop.cancelled() => return samples,
            _ = tick.tick() => {}
        }
        let mut percent_of_core = BTreeMap::new();
        for ((name, pid), last) in processes.iter().zip(last.iter_mut()) {
            let now = cpu_ticks(pid);
            if let (Some(before), Some(now)) = (*last, now) {
                let used = now.saturating_sub(before);
                percent_of_core.insert(name.clone(), used * 100 / TICKS_PER_SECOND);
            }
            *last = now;
        }
        samples.push(CpuSecond {
            second: epoch.elapsed().as_secs(),
            percent_of_core,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_watched_process_is_name_equals_pid() {
        let w: Watched = "position-handler=4242".parse().unwrap();
        assert_eq!(w.name, "position-handler");
        assert_eq!(w.pid, 4242);
        assert!("4242".parse::<Watched>().is_err());
        assert!("x=abc".parse::<Watched>().is_err());
        assert!("=1".parse::<Watched>().is_err());
    }

    #[test]
    fn ticks_are_read_after_a_command_name_with_spaces() {
        let stat =
            "1234 (tokio (runtime) w) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 8";
        assert_eq!(parse_ticks(stat), Some(300));
        assert_eq!(parse_ticks("garbage"), None);
    }
}
