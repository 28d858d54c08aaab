//! Processes by PID: signalling them and waiting until they are over.

use std::path::Path;
use std::time::{Duration, Instant};

/// Sends `signal` to process `pid`; false when there is no such process
/// (or it is not ours to signal).
pub fn kill(pid: u32, signal: i32) -> bool {
    let Ok(pid) = i32::try_from(pid) else {
        return false;
    };
    // A PID of 0 or below would signal a whole process group.
    if pid <= 0 {
        return false;
    }
    // SAFETY: kill(2) takes two integers and touches no memory of ours;
    // `pid` names one process, never a group.
    unsafe { libc::kill(pid, signal) == 0 }
}

/// Whether process `pid` has not finished exiting. A process that exits
/// loses its command line first and closes its sockets later; only when
/// it is gone, or a zombie with no thread left, is it really over (a
/// zombie stays until its parent reaps it, which may not be us).
pub fn running(pid: u32) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    let state = stat
        .rsplit(')')
        .next()
        .and_then(|r| r.split_whitespace().next())
        .unwrap_or("");
    if !matches!(state, "Z" | "X") {
        return true;
    }
    // A zombie leader whose other threads still exit.
    std::fs::read_dir(format!("/proc/{pid}/task"))
        .map(|d| d.count() > 1)
        .unwrap_or(false)
}

/// Waits until none of `pids` runs, up to `limit`; returns those still
/// running.
pub fn wait_exited(pids: &[u32], limit: Duration) -> Vec<u32> {
    let start = Instant::now();
    loop {
        let left: Vec<u32> = pids.iter().copied().filter(|p| running(*p)).collect();
        if left.is_empty() || start.elapsed() >= limit {
            return left;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Waits until each of `pids` has left the process table, up to `limit`:
/// an exited process stays a zombie until its parent reaps it, and `ps`
/// shows it until then. Returns those still there (zombies not reaped in
/// time: they hold nothing).
pub fn wait_reaped(pids: &[u32], limit: Duration) -> Vec<u32> {
    let start = Instant::now();
    loop {
        let left: Vec<u32> = pids
            .iter()
            .copied()
            .filter(|p| Path::new(&format!("/proc/{p}")).exists())
            .collect();
        if left.is_empty() || start.elapsed() >= limit {
            return left;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}
