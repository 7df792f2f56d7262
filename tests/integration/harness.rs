//! The test harness: a temporary Mastodon root whose `bin/rails`, `bin/rake`
//! and `bin/tootctl` are recorders (they write their argv, environment and
//! working directory to files, then exit as told), real symlinked shims, and
//! a runner that never lets a hung process hang the suite.

use std::ffi::{OsStr, OsString};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

pub const TOOLS: [&str; 3] = ["rails", "rake", "tootctl"];
/// Every name `tootguard install` links: the tools, and the programs the
/// other spellings pass through.
pub const SHIMS: [&str; 5] = ["rails", "rake", "tootctl", "ruby", "bundle"];

/// The tootguard binary under test (the command line).
pub fn tootguard() -> PathBuf {
    binaries().join("tootguard")
}

/// The shim binary under test: what `tootguard install` links shims to.
pub fn shim_binary() -> PathBuf {
    binaries().join("tootguard-shim")
}

/// Where the binaries under test are run from: where cargo built them,
/// unless that is somewhere tootguard rightly distrusts or the tests' own
/// users cannot reach — a checkout cloned into `mktemp -d` (0700, below
/// the world-writable /tmp). Then both are linked (or copied) together
/// into a directory of their own in the tests' base, once per run.
fn binaries() -> &'static Path {
    static DIR: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    DIR.get_or_init(|| {
        let built = Path::new(env!("CARGO_BIN_EXE_tootguard"))
            .parent()
            .expect("a binary in a directory")
            .to_path_buf();
        let me = nix::unistd::Uid::effective().as_raw();
        let fit = built.ancestors().all(|dir| {
            use std::os::unix::fs::MetadataExt;
            fs::metadata(dir).is_ok_and(|m| {
                (m.uid() == 0 || m.uid() == me) && m.mode() & 0o022 == 0 && m.mode() & 0o001 != 0
            })
        });
        if fit {
            return built;
        }
        let base = test_base();
        // Directories an earlier run left (its process is gone).
        for entry in fs::read_dir(base).into_iter().flatten().flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if let Some(pid) = name
                .strip_prefix("bin-")
                .and_then(|p| p.parse::<i32>().ok())
                && nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None).is_err()
            {
                let _ = fs::remove_dir_all(entry.path());
            }
        }
        let dir = base.join(format!("bin-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).unwrap();
        for name in ["tootguard", "tootguard-shim"] {
            let (from, to) = (built.join(name), dir.join(name));
            if !to.exists() && fs::hard_link(&from, &to).is_err() {
                fs::copy(&from, &to).unwrap_or_else(|e| panic!("{}: {e}", from.display()));
            }
        }
        dir
    })
}

/// A recorder: saves `$@` (NUL-separated, byte-exact), the environment and
/// the working directory under `$TG_RECORD/<name>.*`, runs `$TG_THEN` if set
/// (for nesting tests), then exits with `$TG_EXIT` or dies by `$TG_SIGNAL`.
pub const RECORDER: &str = r#"#!/bin/sh
name=$(basename "$0")
if [ -n "$TG_RECORD" ]; then
  printf '%s\0' "$@" > "$TG_RECORD/$name.args"
  env > "$TG_RECORD/$name.env"
  pwd > "$TG_RECORD/$name.pwd"
  echo "$(id -u) $(id -g) $(id -G)" > "$TG_RECORD/$name.id"
  echo ran >> "$TG_RECORD/$name.count"
fi
if [ -n "$TG_THEN" ] && [ "$name" = "${TG_THEN_IN:-rails}" ]; then sh -c "$TG_THEN" || exit $?; fi
if [ -n "$TG_SIGNAL" ]; then kill -s "$TG_SIGNAL" $$; sleep 5; fi
exit "${TG_EXIT:-0}"
"#;

pub fn write_executable(path: &Path, body: &str) {
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir).unwrap();
    }
    fs::write(path, body).unwrap();
    fs::set_permissions(path, fs::Permissions::from_mode(0o755)).unwrap();
}

/// Where every test builds its world. tootguard trusts an install only when
/// no one but root and its owner can write it or any directory above it
/// (the rule of sudo and OpenSSH's StrictModes), so no test install may lie
/// below a directory anyone can write, such as `/tmp`. As root: a directory
/// of its own in `/run` (other users — the tests' own — can enter it);
/// otherwise cargo's scratch directory in the target directory.
pub fn test_base() -> &'static Path {
    static BASE: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    BASE.get_or_init(|| {
        let base = if is_root() {
            PathBuf::from("/run/tootguard-tests")
        } else {
            PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("tootguard-tests")
        };
        fs::create_dir_all(&base).unwrap_or_else(|e| panic!("{}: {e}", base.display()));
        fs::set_permissions(&base, fs::Permissions::from_mode(0o755)).unwrap();
        let base = base.canonicalize().unwrap();
        let me = nix::unistd::Uid::effective().as_raw();
        for dir in base.ancestors() {
            use std::os::unix::fs::MetadataExt;
            let meta = fs::metadata(dir).unwrap();
            assert!(
                (meta.uid() == 0 || meta.uid() == me) && meta.mode() & 0o022 == 0,
                "the tests need a directory no other user can write, all the way up, and {} \
                 (mode {:o}, uid {}) is not one: build the project somewhere else (not under \
                 /tmp), or run the suite as root",
                dir.display(),
                meta.mode() & 0o7777,
                meta.uid()
            );
        }
        base
    })
}

/// A scratch world: a Mastodon root, a shim directory, a record directory.
pub struct World {
    pub tmp: TempDir,
    pub root: PathBuf,
    pub shims: PathBuf,
    pub record: PathBuf,
}

impl World {
    /// A production install: `.env.production` present.
    pub fn production() -> World {
        let world = World::bare();
        world.make_root(&world.root);
        fs::write(
            world.root.join(".env.production"),
            "LOCAL_DOMAIN=example.test\n",
        )
        .unwrap();
        world
    }

    /// A development checkout: a Mastodon root without `.env.production`.
    pub fn development() -> World {
        let world = World::bare();
        world.make_root(&world.root);
        world
    }

    /// No Mastodon root at all; shims exist.
    pub fn bare() -> World {
        let tmp = tempfile::Builder::new()
            .prefix("tootguard-test")
            .tempdir_in(test_base())
            .unwrap();
        let base = tmp.path().canonicalize().unwrap();
        let world = World {
            root: base.join("live"),
            shims: base.join("shims"),
            record: base.join("record"),
            tmp,
        };
        fs::create_dir_all(&world.shims).unwrap();
        fs::create_dir_all(&world.record).unwrap();
        for name in SHIMS {
            std::os::unix::fs::symlink(shim_binary(), world.shims.join(name)).unwrap();
        }
        world
    }

    pub fn base(&self) -> PathBuf {
        self.tmp.path().canonicalize().unwrap()
    }

    pub fn make_root(&self, dir: &Path) {
        for tool in TOOLS {
            write_executable(&dir.join("bin").join(tool), RECORDER);
        }
        fs::create_dir_all(dir.join("config")).unwrap();
        fs::write(dir.join("config/application.rb"), "# fake\n").unwrap();
    }

    pub fn shim(&self, tool: &str) -> PathBuf {
        self.shims.join(tool)
    }

    /// A command running `program` in the root, with a clean environment:
    /// PATH = shims, then the system's.
    pub fn cmd(&self, program: impl AsRef<OsStr>) -> Cmd {
        let mut command = Command::new(program);
        command
            .env_clear()
            .env("PATH", format!("{}:/usr/bin:/bin", self.shims.display()))
            .env("HOME", self.base())
            .env("TG_RECORD", &self.record)
            .env("NO_COLOR", "1")
            // The machine's own ~mastodon/live (a real server) is none of
            // the test's business: the default install is this world's.
            .env("TOOTGUARD_DEFAULT_ROOT", &self.root)
            .current_dir(if self.root.exists() {
                self.root.clone()
            } else {
                self.base()
            })
            .stdin(Stdio::null());
        Cmd { command }
    }

    /// `tootguard ARGS` with the same clean environment.
    pub fn tootguard(&self) -> Cmd {
        self.cmd(tootguard())
    }

    /// Gives the install to `user` and opens the directories around it, so
    /// that [`World::cmd_as`] can run things as them.
    pub fn give_to(&self, user: &TestUser) {
        for dir in [self.base(), self.shims.clone()] {
            fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).unwrap();
        }
        fs::set_permissions(&self.record, fs::Permissions::from_mode(0o777)).unwrap();
        chown_tree(&self.root, user.uid, user.gid);
    }

    /// [`World::cmd`], run as `user` (see [`World::give_to`]).
    pub fn cmd_as(&self, user: &TestUser, program: impl AsRef<OsStr>) -> Cmd {
        let path = format!("{}:/usr/bin:/bin", self.shims.display());
        let cmd = user.command(
            &[
                ("PATH", OsStr::new(&path)),
                ("HOME", user.home.as_os_str()),
                ("TG_RECORD", self.record.as_os_str()),
                ("NO_COLOR", OsStr::new("1")),
                ("TOOTGUARD_DEFAULT_ROOT", self.root.as_os_str()),
            ],
            program,
        );
        cmd.dir(if self.root.exists() {
            self.root.clone()
        } else {
            self.base()
        })
    }

    /// What the recorder named `tool` received, or None when it did not run.
    pub fn recorded_args(&self, tool: &str) -> Option<Vec<Vec<u8>>> {
        let bytes = fs::read(self.record.join(format!("{tool}.args"))).ok()?;
        let mut args: Vec<Vec<u8>> = bytes.split(|&b| b == 0).map(<[u8]>::to_vec).collect();
        args.pop(); // after the last NUL
        Some(args)
    }

    /// The value of `name` in the environment the recorder saw.
    pub fn recorded_env(&self, tool: &str, name: &str) -> Option<String> {
        let env = fs::read_to_string(self.record.join(format!("{tool}.env")))
            .unwrap_or_else(|_| panic!("{tool} did not run"));
        env.lines()
            .find_map(|l| l.strip_prefix(&format!("{name}=")).map(str::to_owned))
    }

    pub fn recorded_pwd(&self, tool: &str) -> PathBuf {
        PathBuf::from(
            fs::read_to_string(self.record.join(format!("{tool}.pwd")))
                .unwrap()
                .trim_end(),
        )
    }

    pub fn ran(&self, tool: &str) -> bool {
        self.record.join(format!("{tool}.args")).exists()
    }

    pub fn run_count(&self, tool: &str) -> usize {
        fs::read_to_string(self.record.join(format!("{tool}.count")))
            .map(|s| s.lines().count())
            .unwrap_or(0)
    }
}

pub struct Cmd {
    pub command: Command,
}

impl Cmd {
    pub fn arg(mut self, arg: impl AsRef<OsStr>) -> Self {
        self.command.arg(arg);
        self
    }

    pub fn args<I: IntoIterator<Item = S>, S: AsRef<OsStr>>(mut self, args: I) -> Self {
        self.command.args(args);
        self
    }

    pub fn env(mut self, name: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> Self {
        self.command.env(name, value);
        self
    }

    /// No PATH at all in the child's environment.
    pub fn env_remove_path(mut self) -> Self {
        self.command.env_remove("PATH");
        self
    }

    pub fn dir(mut self, dir: impl AsRef<Path>) -> Self {
        self.command.current_dir(dir);
        self
    }

    /// The same command, started by `program prefix…` (`unshare -m sh -c
    /// SCRIPT sh`), with the same environment and directory.
    pub fn wrapped_in<I: IntoIterator<Item = S>, S: AsRef<OsStr>>(
        self,
        program: &str,
        prefix: I,
    ) -> Cmd {
        let mut command = Command::new(program);
        command.args(prefix).arg(self.command.get_program());
        command.args(self.command.get_args()).env_clear();
        for (name, value) in self.command.get_envs() {
            if let Some(value) = value {
                command.env(name, value);
            }
        }
        if let Some(dir) = self.command.get_current_dir() {
            command.current_dir(dir);
        }
        command.stdin(Stdio::null());
        Cmd { command }
    }

    /// Runs with a 20 s limit; a process still running then is a failure.
    ///
    /// Tests write scripts while other test threads fork: a child forked
    /// between a script's open-for-write and its close holds the file open
    /// until it execs, and exec'ing the script then fails with ETXTBSY ("Text
    /// file busy"). That race belongs to the test runner, not to tootguard,
    /// so the harness retries it.
    pub fn run(self) -> Outcome {
        self.run_for(Duration::from_secs(20))
    }

    /// [`Cmd::run`] with another limit, for what takes longer by nature (an
    /// `ansible-playbook` run).
    pub fn run_for(mut self, limit: Duration) -> Outcome {
        for _ in 0..20 {
            match self.try_run(limit) {
                Some(outcome) => return outcome,
                None => std::thread::sleep(Duration::from_millis(50)),
            }
        }
        panic!("{:?} kept failing with ETXTBSY", self.command.get_program());
    }

    fn try_run(&mut self, limit: Duration) -> Option<Outcome> {
        let started = Instant::now();
        let output = match run_limited(&mut self.command, limit) {
            Ok(output) => output,
            Err(Failed::Start(e)) if e.raw_os_error() == Some(26) => return None,
            Err(failed) => panic!("{}", failed.explain(&self.command)),
        };
        let outcome = Outcome {
            status: output.status,
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
            elapsed: started.elapsed(),
        };
        if outcome.status.code() == Some(126) && outcome.stderr.contains("Text file busy") {
            return None;
        }
        Some(outcome)
    }
}

// ---------------------------------------------------------------------------
// The one timeout runner: every child the suite waits for goes through it.

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

#[derive(Debug)]
pub struct Outcome {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
    pub elapsed: Duration,
}

impl Outcome {
    pub fn code(&self) -> Option<i32> {
        self.status.code()
    }

    #[track_caller]
    pub fn expect_code(&self, code: i32) -> &Self {
        assert_eq!(
            self.status.code(),
            Some(code),
            "expected status {code}, got {:?} (signal {:?})\nstdout:\n{}\nstderr:\n{}",
            self.status.code(),
            self.status.signal(),
            self.stdout,
            self.stderr
        );
        self
    }

    #[track_caller]
    pub fn expect_stderr(&self, needle: &str) -> &Self {
        assert!(
            self.stderr.contains(needle),
            "stderr lacks {needle:?}:\n{}",
            self.stderr
        );
        self
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("not JSON ({e}):\n{}\n{}", self.stdout, self.stderr))
    }
}

// ---------------------------------------------------------------------------
// Whole-output assertions: the text a user reads, compared whole, with what
// changes from run to run (temporary paths, ports, users) named instead.

/// The notice every guarded command on a production install starts with
/// when RAILS_ENV is not set.
pub const RAILS_ENV_NOTICE: &str =
    "tootguard: RAILS_ENV was not set; running with RAILS_ENV=production (production install)\n";

/// The user check's message for an install that belongs to whoever runs the
/// suite (every World does).
pub fn owner_check_message() -> &'static str {
    if is_root() {
        "running as root on an install that belongs to root (a container?)"
    } else {
        "running as the owner of the install"
    }
}

/// Replaces the parts of an output that differ between runs with names in
/// brackets (`[BASE]`, `[BIN]`, `[PORT]`), so that a test can compare the
/// whole text with what it expects.
#[derive(Clone)]
pub struct Normaliser {
    pairs: Vec<(String, String)>,
    timings: bool,
}

impl Normaliser {
    /// Names the directory the binaries under test run from `[BIN]`.
    pub fn new() -> Normaliser {
        let canonical = binaries().canonicalize().unwrap();
        Normaliser {
            pairs: Vec::new(),
            timings: false,
        }
        .with(binaries().display(), "[BIN]")
        .with(canonical.display(), "[BIN]")
    }

    /// Also names `value` (a path, a port, a user name) `name`.
    pub fn with(mut self, value: impl std::fmt::Display, name: &str) -> Normaliser {
        self.pairs.push((value.to_string(), name.to_owned()));
        self
    }

    /// Also names every duration in seconds (`0.2s`, after a space)
    /// `[TIME]`.
    pub fn timings(mut self) -> Normaliser {
        self.timings = true;
        self
    }

    /// `text` with every value replaced by its name, the longest value
    /// first (a path before the directory it lies in).
    pub fn apply(&self, text: &str) -> String {
        let mut pairs = self.pairs.clone();
        pairs.sort_by_key(|(value, _)| std::cmp::Reverse(value.len()));
        let text = pairs.iter().fold(text.to_owned(), |text, (value, name)| {
            text.replace(value, name)
        });
        if self.timings {
            name_durations(&text)
        } else {
            text
        }
    }
}

/// `text` with each word of the shape `<digits>.<digits>s` that follows a
/// space (and ends at a non-alphanumeric character) replaced by `[TIME]`.
fn name_durations(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(' ') {
        out.push_str(&rest[..=at]);
        rest = &rest[at + 1..];
        let bytes = rest.as_bytes();
        let whole = bytes.iter().take_while(|b| b.is_ascii_digit()).count();
        let fraction = bytes
            .iter()
            .skip(whole + 1)
            .take_while(|b| b.is_ascii_digit())
            .count();
        let len = whole + 1 + fraction + 1;
        if whole > 0
            && fraction > 0
            && bytes.get(whole) == Some(&b'.')
            && bytes.get(len - 1) == Some(&b's')
            && !bytes.get(len).is_some_and(u8::is_ascii_alphanumeric)
        {
            out.push_str("[TIME]");
            rest = &rest[len..];
        }
    }
    out.push_str(rest);
    out
}

impl World {
    /// [`Normaliser::new`], with this world's directory named `[BASE]` (so
    /// its Mastodon root is `[BASE]/live`).
    pub fn normaliser(&self) -> Normaliser {
        Normaliser::new().with(self.base().display(), "[BASE]")
    }
}

/// An expected text written as an indented raw string: without its first
/// line break, its common indentation and the indentation before its
/// closing quote. A text without a line break at its start is kept as is.
pub fn unindent(text: &str) -> String {
    let Some(body) = text.strip_prefix('\n') else {
        return text.to_owned();
    };
    let body = body.trim_end_matches([' ', '\t']);
    let indent = body
        .lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| line.len() - line.trim_start().len())
        .min()
        .unwrap_or(0);
    let mut out = String::new();
    for line in body.split_inclusive('\n') {
        out.push_str(
            line.get(indent..)
                .unwrap_or(line.trim_start_matches([' ', '\t'])),
        );
    }
    out
}

/// Fails unless `actual` is `expected` ([`unindent`]ed), showing both and
/// the first line where they part.
#[track_caller]
pub fn assert_text(actual: &str, expected: &str) {
    let expected = unindent(expected);
    if actual == expected {
        return;
    }
    let at = actual
        .lines()
        .zip(expected.lines())
        .position(|(a, e)| a != e)
        .unwrap_or_else(|| actual.lines().count().min(expected.lines().count()));
    panic!(
        "the output is not the expected text (they part at line {}):\n\
         --- actual\n{actual}\n--- expected\n{expected}\n--- actual line\n{:?}\n--- expected line\n{:?}",
        at + 1,
        actual.lines().nth(at),
        expected.lines().nth(at),
    );
}

impl Outcome {
    /// The whole of stdout, normalised by `n`, is `expected`.
    #[track_caller]
    pub fn expect_stdout_is(&self, n: &Normaliser, expected: &str) -> &Self {
        assert_text(&n.apply(&self.stdout), expected);
        self
    }

    /// The whole of stderr, normalised by `n`, is `expected`.
    #[track_caller]
    pub fn expect_stderr_is(&self, n: &Normaliser, expected: &str) -> &Self {
        assert_text(&n.apply(&self.stderr), expected);
        self
    }
}

pub fn os(s: &str) -> OsString {
    OsString::from(s)
}

/// A real, unprivileged user made for one test (tests that run commands as
/// an install's owner, through sudo, runuser or a login shell), removed
/// again when dropped. Creating users needs root, as CI has.
pub struct TestUser {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
    pub home: PathBuf,
}

impl TestUser {
    /// A user whose home is `home` (created, and given to the user).
    pub fn create(home: &Path) -> TestUser {
        assert!(
            is_root(),
            "this test makes users and needs root; it was compiled for a root run \
             (cfg(tests_as_root) is set when the build runs as root): rebuild as this user \
             (`touch build.rs`) to have it ignored"
        );
        use std::sync::atomic::{AtomicU32, Ordering};
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let name = format!(
            "tg{}x{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        fs::create_dir_all(home).unwrap();
        passwd_tool(
            Command::new("useradd")
                .arg("--home-dir")
                .arg(home)
                .args(["--no-create-home", "--shell", "/bin/bash", "--user-group"])
                .arg(&name),
        );
        let user = nix::unistd::User::from_name(&name)
            .unwrap()
            .unwrap_or_else(|| panic!("useradd made no {name}"));
        let (uid, gid) = (user.uid.as_raw(), user.gid.as_raw());
        std::os::unix::fs::chown(home, Some(uid), Some(gid)).unwrap();
        TestUser {
            name,
            uid,
            gid,
            home: home.to_path_buf(),
        }
    }

    /// `program` run as this user (`runuser -u NAME --`, which sets the
    /// user's groups too) with nothing in its environment but `env`; the
    /// returned command's arguments go to `program`.
    pub fn command(&self, env: &[(&str, &OsStr)], program: impl AsRef<OsStr>) -> Cmd {
        let mut command = Command::new("runuser");
        command.args(["-u", &self.name, "--", "/usr/bin/env", "-i"]);
        for (name, value) in env {
            let mut pair = OsString::from(name);
            pair.push("=");
            pair.push(value);
            command.arg(pair);
        }
        command.arg(program).stdin(Stdio::null());
        Cmd { command }
    }
}

impl Drop for TestUser {
    fn drop(&mut self) {
        passwd_tool(Command::new("userdel").arg(&self.name));
    }
}

/// Runs useradd/userdel, retrying while another test holds the lock on
/// `/etc/passwd`.
fn passwd_tool(cmd: &mut Command) {
    for _ in 0..100 {
        let out = cmd.output().expect("useradd/userdel (package passwd)");
        if out.status.success() {
            return;
        }
        let err = String::from_utf8_lossy(&out.stderr);
        if !err.contains("lock") {
            panic!("{:?} failed: {err}", cmd);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("{cmd:?}: /etc/passwd stayed locked");
}

/// Gives `path` and everything below it to `uid:gid`.
pub fn chown_tree(path: &Path, uid: u32, gid: u32) {
    std::os::unix::fs::lchown(path, Some(uid), Some(gid)).unwrap();
    if path.is_dir() && !path.is_symlink() {
        for entry in fs::read_dir(path).unwrap() {
            chown_tree(&entry.unwrap().path(), uid, gid);
        }
    }
}

pub fn is_root() -> bool {
    nix::unistd::Uid::effective().is_root()
}

// ---------------------------------------------------------------------------
// The one listener helper: every TCP port and Unix socket the suite opens.

/// A TCP socket bound to a port of its own on 127.0.0.1, listening when
/// `listen` (connections then wait in its backlog until accepted), and
/// that port. Every loopback port of the suite comes from here.
fn bind_loopback(listen: bool) -> (std::os::fd::OwnedFd, u16) {
    use nix::libc;
    use std::os::fd::FromRawFd;
    // SAFETY: plain socket calls on a descriptor this function owns;
    // `addr` and `len` are valid for the calls that write them.
    unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0);
        assert!(fd >= 0, "socket: {}", std::io::Error::last_os_error());
        let socket = std::os::fd::OwnedFd::from_raw_fd(fd);
        let mut addr: libc::sockaddr_in = std::mem::zeroed();
        addr.sin_family = libc::AF_INET as libc::sa_family_t;
        addr.sin_addr.s_addr = u32::from_ne_bytes([127, 0, 0, 1]);
        let size = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
        let bound = libc::bind(fd, (&raw const addr).cast(), size);
        assert_eq!(bound, 0, "bind: {}", std::io::Error::last_os_error());
        let mut len = size;
        let named = libc::getsockname(fd, (&raw mut addr).cast(), &mut len);
        assert_eq!(named, 0, "getsockname: {}", std::io::Error::last_os_error());
        if listen {
            let listening = libc::listen(fd, 128);
            assert_eq!(listening, 0, "listen: {}", std::io::Error::last_os_error());
        }
        (socket, u16::from_be(addr.sin_port))
    }
}

/// A listening TCP socket on a port of its own on 127.0.0.1, and that
/// port. Left alone, it is a server that never answers: the kernel
/// completes connections into its backlog and no one reads them.
pub fn tcp_listener() -> (std::net::TcpListener, u16) {
    let (socket, port) = bind_loopback(true);
    (std::net::TcpListener::from(socket), port)
}

/// A listening Unix socket at `path` (`<dir>/.s.PGSQL.5432`); unanswered,
/// as [`tcp_listener`]'s.
pub fn unix_listener(path: &Path) -> std::os::unix::net::UnixListener {
    std::os::unix::net::UnixListener::bind(path)
        .unwrap_or_else(|e| panic!("bind {}: {e}", path.display()))
}

/// A loopback port free at the time of the call, for a server to bind.
/// Another process may take it before the server does: its caller retries
/// with another.
pub fn free_port() -> u16 {
    ClosedPort::new().port
}

/// A loopback TCP port that refuses connections for as long as this lives:
/// bound, never listened on, so no other test can take it (a port freed by
/// dropping a listener can be bound again by a parallel test at once).
pub struct ClosedPort {
    _socket: std::os::fd::OwnedFd,
    pub port: u16,
}

impl ClosedPort {
    pub fn new() -> ClosedPort {
        let (socket, port) = bind_loopback(false);
        ClosedPort {
            _socket: socket,
            port,
        }
    }
}

/// The entry with this `id` in a JSON list of checks (doctor's output,
/// explain's `checks`).
#[track_caller]
pub fn row(list: &serde_json::Value, id: &str) -> serde_json::Value {
    list.as_array()
        .unwrap_or_else(|| panic!("not a list: {list:#}"))
        .iter()
        .find(|c| c["id"] == id)
        .unwrap_or_else(|| panic!("no {id} in {list:#}"))
        .clone()
}

impl World {
    /// A production install owned by a user of its own (needs root).
    pub fn production_owned_by_a_user() -> (World, TestUser) {
        let w = World::production();
        let user = TestUser::create(&w.base().join("home"));
        w.give_to(&user);
        (w, user)
    }
}

/// Something that answers on a TCP port or a Unix socket but is not
/// PostgreSQL: it accepts each connection and hangs up at once, for as long
/// as it lives. A knock on the door (tootguard's reachability probe)
/// succeeds; asking it as PostgreSQL fails at once, as with a server that
/// refuses the login — instead of waiting out a time limit.
pub struct NotPostgres {
    pub port: u16,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    wake: Box<dyn Fn() -> bool + Send + Sync>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl NotPostgres {
    /// On a free port of 127.0.0.1.
    pub fn tcp() -> NotPostgres {
        let (listener, port) = tcp_listener();
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            for conn in listener.incoming() {
                if flag.load(std::sync::atomic::Ordering::Relaxed) {
                    break;
                }
                drop(conn);
            }
        });
        NotPostgres {
            port,
            stop,
            thread: Some(thread),
            wake: Box::new(move || std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()),
        }
    }

    /// As the Unix socket `path` (`<dir>/.s.PGSQL.5432`).
    pub fn unix(path: &Path) -> NotPostgres {
        let listener = unix_listener(path);
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            for conn in listener.incoming() {
                if flag.load(std::sync::atomic::Ordering::Relaxed) {
                    break;
                }
                drop(conn);
            }
        });
        let path = path.to_path_buf();
        NotPostgres {
            port: 0,
            stop,
            thread: Some(thread),
            wake: Box::new(move || std::os::unix::net::UnixStream::connect(&path).is_ok()),
        }
    }
}

impl Drop for NotPostgres {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        // The listener is closed once the thread is done. A socket whose
        // directory is already gone cannot be woken: the thread is left.
        if (self.wake)()
            && let Some(thread) = self.thread.take()
        {
            let _ = thread.join();
        }
    }
}

/// Copies the tree `from` into `to` (made when missing).
pub fn copy_tree(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for entry in fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            fs::copy(entry.path(), &target).unwrap();
        }
    }
}

#[test]
fn durations_are_named_and_nothing_else() {
    assert_eq!(
        name_durations("[1/8] preflight ✓ 0.2s\n[4/8] backup ✗ 12.05s (x)\nv 4.3s2 1.2 3.4.5s"),
        "[1/8] preflight ✓ [TIME]\n[4/8] backup ✗ [TIME] (x)\nv 4.3s2 1.2 3.4.5s"
    );
}

#[test]
fn unindent_drops_the_first_break_the_common_indent_and_the_closing_indent() {
    assert_eq!(unindent("\n    a\n      b\n\n    c\n    "), "a\n  b\n\nc\n");
    assert_eq!(unindent("as is\n"), "as is\n");
}

#[test]
#[should_panic(expected = "they part at line 2")]
fn assert_text_fails_on_any_difference() {
    assert_text("a\nb\n", "\n    a\n    c\n    ");
}
