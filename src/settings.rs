//! tootguard's own switches, read in one place. Each function names the
//! variable it reads, so the README's table and the code cannot drift apart.
//!
//! Switches that only steer the shim (`QUIET`, `STRICT`, `BYPASS`, `FORCE`)
//! come from the process environment. Settings admins keep next to `DB_*`
//! (`TOOTGUARD_DIRECT_DB_*`, `TOOTGUARD_PRECOMPILE_MIN_MB`) are read through
//! the Mastodon configuration reader instead, so they may live in `.env*`.

use std::ffi::{OsStr, OsString};

pub use crate::environment::Env;

/// `TOOTGUARD_QUIET=1`: no notices (warnings and errors still print).
pub fn quiet() -> bool {
    flag(&Env::process(), "TOOTGUARD_QUIET")
}

/// `TOOTGUARD_STRICT=1`: a wrong `RAILS_ENV` refuses instead of warning.
pub fn strict(env: &Env) -> bool {
    flag(env, "TOOTGUARD_STRICT")
}

/// `TOOTGUARD_BYPASS=1`: exec the real program with no guard at all.
pub fn bypass(env: &Env) -> bool {
    flag(env, "TOOTGUARD_BYPASS")
}

/// `TOOTGUARD_FORCE=1`: run a command a guard would block, with a warning.
pub fn force(env: &Env) -> bool {
    flag(env, "TOOTGUARD_FORCE")
}

/// `TOOTGUARD_ALLOW_ROOT=1`: keep root on an install owned by another user.
pub fn allow_root(env: &Env) -> bool {
    flag(env, "TOOTGUARD_ALLOW_ROOT")
}

/// `TOOTGUARD_DEFAULT_ROOT`: the install used when none is found from the
/// working directory, instead of `~mastodon/live`; empty for none.
pub fn default_root(env: &Env) -> Option<OsString> {
    env.get("TOOTGUARD_DEFAULT_ROOT")
}

/// `TOOTGUARD_MEMINFO`: where to read meminfo (tests); `/proc/meminfo` otherwise.
pub fn meminfo_path(env: &Env) -> OsString {
    env.get("TOOTGUARD_MEMINFO")
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| OsString::from("/proc/meminfo"))
}

fn flag(env: &Env, name: &str) -> bool {
    env.get(name).is_some_and(|v| is_on(&v))
}

/// `1`, `true`, `yes` and `on` switch a flag on; anything else leaves it off.
fn is_on(value: &OsStr) -> bool {
    matches!(
        value.to_str().map(str::to_ascii_lowercase).as_deref(),
        Some("1" | "true" | "yes" | "on")
    )
}

/// One variable (or a pair) that changes what tootguard does, as the
/// README's "Settings" table, `tootguard --help` and the ENVIRONMENT section
/// of tootguard(1) show it. Both fields are Markdown (`code` spans, the
/// README's own words); the other outputs strip the marks.
pub struct Setting {
    pub name: &'static str,
    pub effect: &'static str,
}

/// Every setting, in the README's order: the one list the README table,
/// `--help` and the man page are made from (a test holds the README to it,
/// and another that every `TOOTGUARD_*` name in the code is here).
pub const SETTINGS: &[Setting] = &[
    Setting {
        name: "`MASTODON_ROOT`",
        effect: "the Mastodon directory; otherwise found from the working directory or the default install",
    },
    Setting {
        name: "`TOOTGUARD_DEFAULT_ROOT`",
        effect: "the default install, used when none is found from the working directory (for `tootctl`, and `rails` outside any project); unset: `~mastodon/live`; empty: none",
    },
    Setting {
        name: "`TOOTGUARD_QUIET=1`",
        effect: "no notices (warnings and errors still print)",
    },
    Setting {
        name: "`TOOTGUARD_STRICT=1`",
        effect: "a `RAILS_ENV` other than `production` on a production install refuses instead of warning",
    },
    Setting {
        name: "`TOOTGUARD_BYPASS=1`",
        effect: "exec the real program with no guard",
    },
    Setting {
        name: "`TOOTGUARD_FORCE=1`",
        effect: "run a precompile the memory guard would block, with a warning",
    },
    Setting {
        name: "`TOOTGUARD_ALLOW_ROOT=1`",
        effect: "keep root on an install owned by another user, with a warning",
    },
    Setting {
        name: "`TOOTGUARD_DIRECT_DB_HOST`",
        effect: "PostgreSQL's own host, where migrations go instead of PgBouncer; may live in `.env*`",
    },
    Setting {
        name: "`TOOTGUARD_DIRECT_DB_PORT`",
        effect: "PostgreSQL's own port; default 5432 (with a direct host, or when the database port is PgBouncer's 6432), else the configured port; may live in `.env*`",
    },
    Setting {
        name: "`TOOTGUARD_DIRECT_DB_USER` / `TOOTGUARD_DIRECT_DB_PASS`",
        effect: "credentials for the direct connection, when PgBouncer's users are not PostgreSQL roles; may live in `.env*`",
    },
    Setting {
        name: "`TOOTGUARD_PRECOMPILE_MIN_MB`",
        effect: "memory (RAM + swap, MB) `assets:precompile` needs; default 2560; may live in `.env*`",
    },
    Setting {
        name: "`TOOTGUARD_BACKUP_DIR`",
        effect: "where `tootguard backup` and upgrade's `backup` step put backups; default `~/tootguard-backups`; may live in `.env*`",
    },
    Setting {
        name: "`TOOTGUARD_MEMINFO`",
        effect: "read this file instead of `/proc/meminfo` (for tests)",
    },
    Setting {
        name: "`TOOTGUARD_EXEC`",
        effect: "set by tootguard on the child: the loop marker (do not set it)",
    },
    Setting {
        name: "`TOOTGUARD_LAYER`",
        effect: "set by tootguard on the child: which process it guarded, so that the inner layers of one command do not guard again (do not set it)",
    },
    Setting {
        name: "`NO_COLOR` / `FORCE_COLOR`",
        effect: "colour of tootguard's messages (only when stderr is a terminal)",
    },
];
