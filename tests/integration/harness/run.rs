//! The one timeout runner: every child the suite waits for goes through
//! [`run_limited`] (or [`wait_limited`], for a child with a stdout of its
//! own), so a hung process fails its test instead of hanging the suite;
//! and the one wait, [`wait_until`], for a server, a lock or a load.

use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

/// Why [`run_limited`] or [`wait_limited`] has no output to give.
#[derive(Debug)]
pub enum Failed {
    /// The program could not be started.
    Start(std::io::Error),
    /// Still running at the limit; killed (with its process group when it
    /// leads one). What it wrote until then.
    TimedOut { limit: Duration, partial: Output },
    /// `wait` itself failed.
    Wait(std::io::Error),
}

impl Failed {
    /// A message naming `command`, with the end of what it wrote.
    pub fn explain(&self, command: &Command) -> String {
        let what = describe(command);
        match self {
            Failed::Start(e) => format!("cannot start {what}: {e}"),
            Failed::Wait(e) => format!("waiting for {what}: {e}"),
            Failed::TimedOut { limit, partial } => {
                let text = format!(
                    "{}{}",
                    String::from_utf8_lossy(&partial.stdout),
                    String::from_utf8_lossy(&partial.stderr)
                );
                let lines: Vec<&str> = text.lines().collect();
                format!(
                    "{what} still running after {limit:?}; it wrote:\n{}",
                    lines[lines.len().saturating_sub(60)..].join("\n")
                )
            }
        }
    }
}

/// The program and its arguments, for messages.
pub fn describe(command: &Command) -> String {
    let mut text = command.get_program().to_string_lossy().into_owned();
    for arg in command.get_args() {
        text.push(' ');
        text.push_str(&arg.to_string_lossy());
    }
    text
}

/// [`run_limited`] for what must start and end in time: anything else
/// fails the test, naming the command.
#[track_caller]
pub fn output(command: &mut Command, limit: Duration) -> Output {
    run_limited(command, limit).unwrap_or_else(|failed| panic!("{}", failed.explain(command)))
}

/// Runs `command` with stdin closed and stdout and stderr captured, for at
/// most `limit`: a child still running then is killed (see
/// [`wait_limited`]) and the run fails, so a hung process never hangs the
/// suite.
pub fn run_limited(command: &mut Command, limit: Duration) -> Result<Output, Failed> {
    let child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(Failed::Start)?;
    wait_limited(child, limit)
}

/// Waits at most `limit` for `child`, reading whichever of its stdout and
/// stderr are pipes meanwhile (a child that writes more than a pipe holds,
/// 64 KiB, would otherwise block forever on its write). At the limit the
/// child is killed, and its process group with it when it leads one
/// (`Command::process_group(0)`): a child's pid is never another group's
/// id while the child lives, so the group kill hits nothing else.
pub fn wait_limited(mut child: Child, limit: Duration) -> Result<Output, Failed> {
    let started = Instant::now();
    let stdout = drain(child.stdout.take());
    let stderr = drain(child.stderr.take());
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Some(status),
            Ok(None) if started.elapsed() <= limit => std::thread::sleep(Duration::from_millis(5)),
            Ok(None) => break None,
            Err(e) => return Err(Failed::Wait(e)),
        }
    };
    if status.is_none() {
        let pid = nix::unistd::Pid::from_raw(child.id() as i32);
        let _ = nix::sys::signal::killpg(pid, nix::sys::signal::Signal::SIGKILL);
        let _ = child.kill();
        let _ = child.wait();
    }
    // A grandchild may still hold a pipe open: wait a little, not forever.
    let collect = |rx: std::sync::mpsc::Receiver<Vec<u8>>| {
        rx.recv_timeout(Duration::from_secs(5)).unwrap_or_default()
    };
    let (stdout, stderr) = (collect(stdout), collect(stderr));
    match status {
        Some(status) => Ok(Output {
            status,
            stdout,
            stderr,
        }),
        None => Err(Failed::TimedOut {
            limit,
            partial: Output {
                status: ExitStatus::default(),
                stdout,
                stderr,
            },
        }),
    }
}

/// Asks `ready` every `every` until it says yes, for at most `limit`: the
/// one wait of the suite for a server to answer on its port, a lock to
/// show up, a load to get going. `ready` answers `Ok(true)` when it is,
/// `Ok(false)` when not yet, and `Err` to give up at once (the server it
/// waits for is gone), which the wait returns as `Err(Some(…))`; at the
/// limit it returns `Err(None)`.
pub fn wait_until(
    limit: Duration,
    every: Duration,
    mut ready: impl FnMut() -> Result<bool, String>,
) -> Result<(), Option<String>> {
    let started = Instant::now();
    loop {
        if ready().map_err(Some)? {
            return Ok(());
        }
        if started.elapsed() >= limit {
            return Err(None);
        }
        std::thread::sleep(every);
    }
}

/// Reads a pipe to its end in a thread; the bytes arrive on the channel.
fn drain(pipe: Option<impl std::io::Read + Send + 'static>) -> std::sync::mpsc::Receiver<Vec<u8>> {
    let (tx, rx) = std::sync::mpsc::channel();
    if let Some(mut pipe) = pipe {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            let _ = pipe.read_to_end(&mut bytes);
            let _ = tx.send(bytes);
        });
    } else {
        let _ = tx.send(Vec::new());
    }
    rx
}
