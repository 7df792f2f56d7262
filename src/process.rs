//! Running a short-lived helper program (`ruby -e`, `node --version`,
//! `crontab -l`, `git show`) with a time limit, collecting what it prints.

use std::io::Read;
use std::process::{Command, ExitStatus};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Runs `cmd` (its stdout and stderr piped by the caller) for at most
/// `timeout`, killing it when it takes longer. Returns its status, stdout
/// and stderr; the error says what went wrong, to follow the command's name.
pub(crate) fn run_with_timeout(
    mut cmd: Command,
    timeout: Duration,
) -> Result<(ExitStatus, Vec<u8>, Vec<u8>), String> {
    let mut child = cmd.spawn().map_err(|e| format!("cannot start: {e}"))?;
    let deadline = Instant::now() + timeout;
    // Read both pipes in threads, so a chatty child cannot block on a full
    // pipe while we wait; a grandchild keeping a pipe open cannot hang us.
    let collect = |pipe: Option<Box<dyn Read + Send>>| {
        let (tx, rx) = mpsc::channel();
        if let Some(mut pipe) = pipe {
            std::thread::spawn(move || {
                let mut buf = Vec::new();
                let _ = pipe.read_to_end(&mut buf);
                let _ = tx.send(buf);
            });
        }
        rx
    };
    let out = collect(
        child
            .stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let err = collect(
        child
            .stderr
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("did not answer within {} s", timeout.as_secs()));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(5)),
            Err(e) => return Err(e.to_string()),
        }
    };
    let take = |rx: mpsc::Receiver<Vec<u8>>| {
        let left = deadline.saturating_duration_since(Instant::now());
        rx.recv_timeout(left.max(Duration::from_millis(100)))
            .unwrap_or_default()
    };
    Ok((status, take(out), take(err)))
}
