//! Running a short-lived helper program (`ruby -e`, `node --version`,
//! `crontab -l`, `git show`) with a time limit, collecting what it prints.
//!
//! The wait is the wait-timeout crate's: it sleeps until the child exits
//! or the time is up, where a loop of `try_wait` would have to poll. Its
//! first use installs a SIGCHLD handler for the rest of the process
//! (chained to any earlier one, with `SA_RESTART`); `exec` resets caught
//! signals, so the programs tootguard starts do not inherit it.

use std::io::Read;
use std::process::{Command, ExitStatus};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use wait_timeout::ChildExt;

/// Runs `cmd` (its stdout and stderr piped by the caller) for at most
/// `timeout`, killing it when it takes longer. Returns its status, stdout
/// and stderr; the error says what went wrong, to follow the command's name.
pub(crate) fn run_with_timeout(
    mut cmd: Command,
    timeout: Duration,
) -> Result<(ExitStatus, Vec<u8>, Vec<u8>), String> {
    let mut child = cmd.spawn().map_err(|e| format!("cannot start: {e}"))?;
    let deadline = Instant::now() + timeout;
    // wait-timeout only waits: both pipes are still read in threads, so a
    // chatty child cannot block on a full pipe while we wait; a grandchild
    // keeping a pipe open cannot hang us.
    let out = collect(child.stdout.take());
    let err = collect(child.stderr.take());
    let status = match child.wait_timeout(deadline.saturating_duration_since(Instant::now())) {
        Ok(Some(status)) => status,
        Ok(None) => {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!("did not answer within {} s", timeout.as_secs()));
        }
        Err(e) => return Err(e.to_string()),
    };
    let take = |rx: mpsc::Receiver<Vec<u8>>| {
        let left = deadline.saturating_duration_since(Instant::now());
        rx.recv_timeout(left.max(Duration::from_millis(100)))
            .unwrap_or_default()
    };
    Ok((status, take(out), take(err)))
}

/// Everything `pipe` gives until it closes, read in a thread of its own.
fn collect(pipe: Option<impl Read + Send + 'static>) -> mpsc::Receiver<Vec<u8>> {
    let (tx, rx) = mpsc::channel();
    if let Some(mut pipe) = pipe {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = pipe.read_to_end(&mut buf);
            let _ = tx.send(buf);
        });
    }
    rx
}

#[cfg(test)]
mod tests {
    use std::process::Stdio;

    use super::*;

    fn sh(script: &str) -> Command {
        let mut cmd = Command::new("/bin/sh");
        cmd.args(["-c", script])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        cmd
    }

    #[test]
    fn collects_status_stdout_and_stderr() {
        let (status, out, err) = run_with_timeout(
            sh("echo out; echo err >&2; exit 3"),
            Duration::from_secs(10),
        )
        .unwrap();
        assert_eq!(status.code(), Some(3));
        assert_eq!(out, b"out\n");
        assert_eq!(err, b"err\n");
    }

    #[test]
    fn a_child_filling_both_pipes_does_not_block() {
        // Far more than a pipe holds (64 KiB on Linux), on both pipes.
        let script = "head -c 1000000 /dev/zero; head -c 1000000 /dev/zero >&2";
        let (status, out, err) = run_with_timeout(sh(script), Duration::from_secs(10)).unwrap();
        assert!(status.success());
        assert_eq!((out.len(), err.len()), (1_000_000, 1_000_000));
    }

    #[test]
    fn a_slow_child_is_killed_at_the_deadline() {
        let start = Instant::now();
        let why = run_with_timeout(sh("exec sleep 30"), Duration::from_secs(1)).unwrap_err();
        assert_eq!(why, "did not answer within 1 s");
        assert!(start.elapsed() < Duration::from_secs(10));
    }

    #[test]
    fn a_missing_program_cannot_start() {
        let mut cmd = Command::new("/nonexistent/tootguard-test-program");
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        let why = run_with_timeout(cmd, Duration::from_secs(1)).unwrap_err();
        assert!(why.starts_with("cannot start: "), "{why}");
    }
}
