//! Running a step's child process: Ctrl-C reaches the child and leaves
//! tootguard waiting for it, so the run still ends with the command that
//! resumes it; `assets:precompile`'s output is teed while watched for the
//! signs that it ran out of memory; an exit is described in words.

use std::io::{Read, Write};
use std::os::unix::process::ExitStatusExt;
use std::process::{ExitStatus, Stdio};

use nix::sys::signal::Signal;

use crate::exec::{InterruptGuard, Plan};

use super::steps::{Step, Stop};

/// Signs in the output of `assets:precompile` that it ran out of memory.
const OOM_SIGNS: [&str; 2] = ["heap out of memory", "ENOMEM"];

/// Runs `plan` to its end; anything but success stops the step. With
/// `json`, its stdout goes to our stderr: stdout carries the JSON lines
/// alone.
pub(super) fn run(step: Step, plan: &Plan, json: bool) -> Result<(), Stop> {
    let status = {
        let _interrupt = InterruptGuard::install();
        let mut cmd = plan.command();
        if json {
            cmd.stdout(std::io::stderr());
        }
        cmd.status()
    }
    .map_err(|e| cannot_run(step, plan, &e))?;
    if status.success() {
        Ok(())
    } else {
        Err(Stop::new(describe(status), step))
    }
}

/// [`run`], with both output streams teed to ours while looking for
/// [`OOM_SIGNS`]; returns the status and the first sign seen.
pub(super) fn run_watched(
    step: Step,
    plan: &Plan,
    json: bool,
) -> Result<(ExitStatus, Option<&'static str>), Stop> {
    let _interrupt = InterruptGuard::install();
    tee_child(plan, json).map_err(|e| cannot_run(step, plan, &e))
}

fn tee_child(plan: &Plan, json: bool) -> std::io::Result<(ExitStatus, Option<&'static str>)> {
    let mut child = plan
        .command()
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let stdout = child.stdout.take();
    let stderr = child.stderr.take();
    let out = std::thread::spawn(move || {
        stdout.and_then(|p| {
            if json {
                tee(p, std::io::stderr())
            } else {
                tee(p, std::io::stdout())
            }
        })
    });
    let err = std::thread::spawn(move || stderr.and_then(|p| tee(p, std::io::stderr())));
    let status = child.wait()?;
    let seen_out = out.join().ok().flatten();
    let seen_err = err.join().ok().flatten();
    Ok((status, seen_out.or(seen_err)))
}

/// Killed the way the kernel's out-of-memory killer kills.
pub(super) fn killed_by_sigkill(status: ExitStatus) -> bool {
    status.signal() == Some(Signal::SIGKILL as i32)
}

/// Copies `from` to `to` as it comes, and reports the first OOM sign seen,
/// also across read boundaries. Works on bytes: output need not be UTF-8.
fn tee(mut from: impl Read, mut to: impl Write) -> Option<&'static str> {
    let keep = OOM_SIGNS.iter().map(|s| s.len()).max().unwrap_or(1) - 1;
    let mut buf = [0u8; 8192];
    let mut window: Vec<u8> = Vec::new();
    let mut seen = None;
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(_) => break,
        };
        let _ = to.write_all(&buf[..n]);
        let _ = to.flush();
        if seen.is_none() {
            window.extend_from_slice(&buf[..n]);
            seen = OOM_SIGNS
                .into_iter()
                .find(|sign| window.windows(sign.len()).any(|w| w == sign.as_bytes()));
            let cut = window.len().saturating_sub(keep);
            window.drain(..cut);
        }
    }
    seen
}

/// "exit status 7", "killed by SIGKILL, signal 9".
pub(super) fn describe(status: ExitStatus) -> String {
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exit status {code}"),
        (None, Some(sig)) => match Signal::try_from(sig) {
            Ok(signal) => format!("killed by {}, signal {sig}", signal.as_str()),
            Err(_) => format!("killed by signal {sig}"),
        },
        _ => status.to_string(),
    }
}

fn cannot_run(step: Step, plan: &Plan, err: &std::io::Error) -> Stop {
    let program = plan.program.display();
    let hint = match err.raw_os_error() {
        Some(code) if code == nix::errno::Errno::ENOENT as i32 => {
            " It, or the interpreter on its #! line, does not exist; Mastodon's bin/ scripts \
             need `ruby` on PATH (with rbenv, ~/.rbenv/shims)."
        }
        Some(code) if code == nix::errno::Errno::EACCES as i32 => {
            " This user may not execute it: check its permissions."
        }
        _ => "",
    };
    Stop::new("could not start", step).detail(format!("cannot run {program}: {err}.{hint}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tee_finds_a_sign_split_across_reads() {
        struct Chunks(Vec<&'static [u8]>);
        impl Read for Chunks {
            fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
                if self.0.is_empty() {
                    return Ok(0);
                }
                let chunk = self.0.remove(0);
                buf[..chunk.len()].copy_from_slice(chunk);
                Ok(chunk.len())
            }
        }
        let mut copy = Vec::new();
        let input = Chunks(vec![b"\xff<--- JavaScript heap out ", b"of memory\n"]);
        assert_eq!(tee(input, &mut copy), Some("heap out of memory"));
        assert_eq!(copy, b"\xff<--- JavaScript heap out of memory\n");
        assert_eq!(tee(Chunks(vec![b"all fine\n"]), Vec::new()), None);
    }
}
