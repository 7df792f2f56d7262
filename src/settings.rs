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
