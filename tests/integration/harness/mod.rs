//! The test harness: a temporary Mastodon root whose `bin/rails`, `bin/rake`
//! and `bin/tootctl` are recorders (they write their argv, environment and
//! working directory to files, then exit as told), real symlinked shims, and
//! a runner that never lets a hung process hang the suite.

use std::ffi::{OsStr, OsString};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

mod listen;
mod run;
mod text;

pub use listen::*;
pub use run::*;
pub use text::*;

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
