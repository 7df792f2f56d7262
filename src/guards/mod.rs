//! Guards are data. Each guard looks at an [`Invocation`] and returns a
//! [`Verdict`] — an id, a level, a message, an optional fix and the changes
//! it wants (environment, working directory) — or nothing when it does not
//! apply. The shim applies them in order and stops at the first `block`;
//! `explain` prints them; `doctor` and `upgrade` ask the same list. No caller
//! re-implements a guard.

pub mod lock;
pub mod memory;
pub mod pgbouncer;
pub mod rails_env;
pub mod user;
pub mod workdir;

use std::ffi::OsString;
use std::path::PathBuf;

use crate::environment::EnvChanges;
use crate::invocation::Invocation;

/// How serious a verdict is. Ordered: `Block` is the worst.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// Nothing to say; shown only by `explain`.
    Ok,
    /// Something changed on the admin's behalf (silenced by TOOTGUARD_QUIET).
    Notice,
    /// Something is wrong; the command still runs.
    Warn,
    /// The command must not run.
    Block,
}

impl Level {
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Ok => "ok",
            Level::Notice => "notice",
            Level::Warn => "warn",
            Level::Block => "block",
        }
    }
}

/// A change a guard wants made for the child only.
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    SetEnv(&'static str, OsString),
    UnsetEnv(&'static str),
    Chdir(PathBuf),
    /// Run the program as this user instead of root.
    RunAs(user::RunAs),
}

#[derive(Debug, Clone)]
pub struct Verdict {
    pub id: &'static str,
    pub level: Level,
    pub message: String,
    /// What to do about it, when the level is not `ok`.
    pub fix: Option<String>,
    pub changes: Vec<Change>,
}

impl Verdict {
    pub fn new(id: &'static str, level: Level, message: impl Into<String>) -> Verdict {
        Verdict {
            id,
            level,
            message: message.into(),
            fix: None,
            changes: Vec::new(),
        }
    }

    pub fn fix(mut self, fix: impl Into<String>) -> Verdict {
        self.fix = Some(fix.into());
        self
    }

    pub fn change(mut self, change: Change) -> Verdict {
        self.changes.push(change);
        self
    }

    /// The message and its fix as one paragraph, as the shim prints it.
    pub fn text(&self) -> String {
        match &self.fix {
            Some(fix) => format!("{} {}", self.message, fix),
            None => self.message.clone(),
        }
    }
}

/// The environment part of `changes`: the last change per variable.
pub fn env_changes<'a>(changes: impl IntoIterator<Item = &'a Change>) -> EnvChanges {
    let mut out = EnvChanges::default();
    for change in changes {
        match change {
            Change::SetEnv(name, value) => out.set(name, Some(value.clone())),
            Change::UnsetEnv(name) => out.set(name, None),
            Change::Chdir(_) | Change::RunAs(_) => {}
        }
    }
    out
}

/// The environment part of `changes` as it may be shown: the last change
/// per variable, in order — a value (secrets as `***`) or `None` for removal.
pub fn shown_env_changes<'a>(
    changes: impl IntoIterator<Item = &'a Change>,
) -> Vec<(&'static str, Option<String>)> {
    env_changes(changes).shown()
}

type Guard = fn(&Invocation) -> Option<Verdict>;

/// Every guard, in the order the shim applies them.
/// One place in the guard list.
enum Slot {
    Guard(Guard),
    /// The migration guards, where this program has them.
    Migration,
}

/// Every guard, in the order the shim applies them.
const GUARDS: &[Slot] = &[
    Slot::Guard(workdir::check_root),
    Slot::Guard(user::check),
    Slot::Guard(rails_env::check),
    Slot::Guard(workdir::check),
    Slot::Migration,
    Slot::Guard(memory::check),
];

/// The migration guards ask PostgreSQL itself (`database.rs`), so they
/// and the client are linked into the `tootguard` binary only, which
/// enables them at its entry. The shim binary, which runs before every
/// admin command, stays small: it hands migrations to `tootguard`
/// (`launch.rs`).
static MIGRATION_GUARDS: std::sync::OnceLock<[Guard; 2]> = std::sync::OnceLock::new();

/// Makes this program guard migrations itself.
pub fn enable_migration_guards() {
    let _ = MIGRATION_GUARDS.set([pgbouncer::check, pgbouncer::check_post_deploy]);
}

/// Whether this program guards migrations itself (else it hands them on).
pub fn guards_migrations() -> bool {
    MIGRATION_GUARDS.get().is_some()
}

/// Asks every guard about `inv`. With `stop_at_block`, guards after the first
/// `block` are not asked (the shim will not run the command anyway, and later
/// guards may do I/O such as connecting to the database).
pub fn check_all(inv: &Invocation, stop_at_block: bool) -> Vec<Verdict> {
    let mut verdicts = Vec::new();
    for slot in GUARDS {
        let guards: &[Guard] = match slot {
            Slot::Guard(guard) => std::slice::from_ref(guard),
            Slot::Migration => match MIGRATION_GUARDS.get() {
                Some(guards) => guards,
                None => &[unguarded_migration],
            },
        };
        for guard in guards {
            if let Some(verdict) = guard(inv) {
                let blocked = verdict.level == Level::Block;
                verdicts.push(verdict);
                if blocked && stop_at_block {
                    return verdicts;
                }
            }
        }
    }
    verdicts
}

/// A migration in a program without the migration guards: never run
/// unguarded (the shim hands migrations on before it gets here).
fn unguarded_migration(inv: &Invocation) -> Option<Verdict> {
    pgbouncer::applies(inv).then(|| {
        Verdict::new(
            pgbouncer::ID,
            Level::Block,
            "this program cannot guard a migration (it has no database client). Not running it.",
        )
        .fix("Run it through the `tootguard` command: `tootguard rails db:migrate`.")
    })
}
