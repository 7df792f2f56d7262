//! Becoming the real program.
//!
//! Through `std::os::unix::process::CommandExt::exec`, never a raw `execv`:
//! Rust ignores SIGPIPE at start-up and std's exec restores the default
//! disposition and the signal mask, so `tootctl … | head -1` ends the Ruby
//! child quietly as it would without tootguard. Arguments stay `OsString`
//! from argv to execve, so every byte arrives as typed; argv[0] is the name
//! the user typed. Nothing is piped or waited for: after exec, stdin, the
//! terminal, the exit status and death by a signal are the program's own.

use std::ffi::OsString;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::environment::EnvChanges;
use crate::exit::{Failure, NOT_EXECUTABLE, NOT_FOUND};
use crate::guards::Change;
use crate::guards::user::RunAs;
use crate::settings::Env;

/// Exactly what will run.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The program the command runs: the install's `bin/<tool>`, or the
    /// real `ruby`, `bundle`, `rails` … found on PATH.
    pub program: PathBuf,
    /// The `ruby` that runs `program`, when tootguard starts it itself:
    /// `program` is a `#!/usr/bin/env ruby` script, and this is the `ruby`
    /// `env` would find (see [`runs_on_env_ruby`]).
    pub interpreter: Option<PathBuf>,
    pub argv0: OsString,
    pub args: Vec<OsString>,
    /// Changes to the environment this process started with (the child
    /// inherits the rest), one per variable: a new value, or `None` to
    /// remove it. Only changes, so the hot path copies no environment.
    pub env: EnvChanges,
    /// A new working directory, when a guard asked for one.
    pub cwd: Option<PathBuf>,
    /// Another user to run as (the install's owner, when tootguard runs as root).
    pub run_as: Option<RunAs>,
}

impl Plan {
    pub fn new(program: PathBuf, argv0: OsString, args: Vec<OsString>) -> Plan {
        Plan {
            program,
            interpreter: None,
            argv0,
            args,
            env: EnvChanges::default(),
            cwd: None,
            run_as: None,
        }
    }

    /// The file exec'd: the interpreter when there is one.
    pub fn executable(&self) -> &Path {
        self.interpreter.as_deref().unwrap_or(&self.program)
    }

    pub fn apply(&mut self, changes: &[Change]) {
        for change in changes {
            match change {
                Change::SetEnv(name, value) => self.set_env(name, Some(value.clone())),
                Change::UnsetEnv(name) => self.set_env(name, None),
                Change::Chdir(dir) => self.cwd = Some(dir.clone()),
                Change::RunAs(user) => self.run_as = Some(user.clone()),
            }
        }
    }

    pub fn set_env(&mut self, name: &'static str, value: Option<OsString>) {
        self.env.set(name, value);
    }

    /// The value `name` will have for the program: the plan's change, else
    /// `env`'s value.
    pub fn var(&self, env: &Env, name: &str) -> Option<OsString> {
        match self.env.get(name) {
            Some(value) => value.clone(),
            None => env.get(name),
        }
    }

    /// The command, ready to spawn as a child.
    pub fn command(&self) -> Command {
        let mut cmd = self.command_inheriting_env();
        for (name, value) in self.env.iter() {
            match value {
                Some(value) => cmd.env(name, value),
                None => cmd.env_remove(name),
            };
        }
        cmd
    }

    /// The command with this process's environment as it is.
    fn command_inheriting_env(&self) -> Command {
        let mut cmd = match &self.interpreter {
            // What `env` would run for `#!/usr/bin/env ruby`: `ruby` as
            // argv[0], then the script's path, then its arguments.
            Some(ruby) => {
                let mut cmd = Command::new(ruby);
                cmd.arg0("ruby").arg(&self.program);
                cmd
            }
            None => {
                let mut cmd = Command::new(&self.program);
                cmd.arg0(&self.argv0);
                cmd
            }
        };
        cmd.args(&self.args);
        if let Some(dir) = &self.cwd {
            cmd.current_dir(dir);
        }
        if let Some(user) = self.run_as.clone() {
            // SAFETY: the closure runs in the child between fork and exec and
            // only makes three system calls on data prepared beforehand
            // (no allocation, no locks).
            unsafe {
                cmd.pre_exec(move || user.drop_privileges());
            }
        }
        cmd
    }
}

/// The first line of Mastodon's `bin/rails`, `bin/rake` and `bin/tootctl`.
const ENV_RUBY: &[u8] = b"#!/usr/bin/env ruby\n";

/// True when `program` starts with exactly `#!/usr/bin/env ruby`.
///
/// For such a script the kernel would run `env`, and `env` the first `ruby`
/// on PATH — the `ruby` shim, when tootguard is installed, which would
/// start once more only to find that this process's command is guarded
/// already. Starting the `ruby` `env` would reach after the shim, with the
/// arguments `env` would give it, runs the same program with the same
/// arguments, and keeps tootguard to one start per command.
pub fn runs_on_env_ruby(program: &Path) -> bool {
    use std::os::unix::fs::OpenOptionsExt;
    let mut head = [0u8; ENV_RUBY.len()];
    // Never blocks on a FIFO, reads nothing but the first line of a file.
    std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(nix::libc::O_NONBLOCK)
        .open(program)
        .and_then(|mut f| {
            if !f.metadata()?.is_file() {
                return Err(std::io::Error::other("not a regular file"));
            }
            std::io::Read::read_exact(&mut f, &mut head)
        })
        .is_ok()
        && head == ENV_RUBY
}

/// Applies the environment part of `changes` to `env`.
pub fn apply_env(env: &mut Env, changes: &[Change]) {
    crate::guards::env_changes(changes).apply_to(env);
}

/// Replaces this process with the plan's program. Returns only on failure.
///
/// The environment changes are made to this process's own environment, which
/// the program then inherits as it is: a `Command` with changes would copy
/// the whole environment first, a third of the shim's own work.
pub fn exec(plan: &Plan) -> anyhow::Error {
    for (name, value) in plan.env.iter() {
        // SAFETY: the shim is single-threaded when it gets here (the only
        // thread a guard starts, the resolver, is joined once it answers,
        // and without an answer the migration is blocked before exec), and
        // it is about to replace itself.
        unsafe {
            match value {
                Some(value) => std::env::set_var(name, value),
                None => std::env::remove_var(name),
            }
        }
    }
    let err = plan.command_inheriting_env().exec();
    let program = plan.executable().display();
    match err.raw_os_error() {
        Some(libc_enoent) if libc_enoent == nix::errno::Errno::ENOENT as i32 => Failure::error(
            NOT_FOUND,
            format!(
                "cannot run {program}: it, or the interpreter named on its #! line, does not \
                 exist. Mastodon's bin/ scripts start with `#!/usr/bin/env ruby`: make sure \
                 `ruby` is on PATH (with rbenv, ~/.rbenv/shims)."
            ),
        ),
        Some(code) if code == nix::errno::Errno::ENOEXEC as i32 => Failure::error(
            NOT_EXECUTABLE,
            format!(
                "cannot run {program}: it is not a program the kernel can execute (no #! line?). \
                 Restore it from the Mastodon checkout."
            ),
        ),
        Some(code) if code == nix::errno::Errno::E2BIG as i32 => Failure::error(
            NOT_EXECUTABLE,
            format!(
                "cannot run {program}: the arguments and environment are larger than the \
                 system allows (E2BIG). Pass fewer or shorter arguments."
            ),
        ),
        _ => Failure::error(
            NOT_EXECUTABLE,
            format!("cannot run {program}: {err}. Check its permissions and its #! line."),
        ),
    }
}

/// Ctrl-C reaches the child and us alike (one process group). While it
/// lives we outlive the child, so `upgrade` still ends with the resume
/// command and `backup` removes what it left half-made. A
/// handler, unlike SIG_IGN, is reset to the default in the child by exec.
pub struct InterruptGuard {
    previous: Option<nix::sys::signal::SigAction>,
}

extern "C" fn on_interrupt(_: nix::libc::c_int) {}

impl InterruptGuard {
    pub fn install() -> InterruptGuard {
        use nix::sys::signal::{SaFlags, SigAction, SigHandler, SigSet, sigaction};
        let action = SigAction::new(
            SigHandler::Handler(on_interrupt),
            SaFlags::SA_RESTART,
            SigSet::empty(),
        );
        // SAFETY: the handler does nothing, so it is async-signal-safe.
        let previous = unsafe { sigaction(nix::sys::signal::Signal::SIGINT, &action) }.ok();
        InterruptGuard { previous }
    }
}

impl Drop for InterruptGuard {
    fn drop(&mut self) {
        if let Some(previous) = &self.previous {
            // SAFETY: restores the disposition that was there before.
            let _ =
                unsafe { nix::sys::signal::sigaction(nix::sys::signal::Signal::SIGINT, previous) };
        }
    }
}
