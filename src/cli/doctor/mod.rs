//! `tootguard doctor`: is this server ready for the shims and for an upgrade?
//!
//! Each check looks at one thing an admin trips over — shims shadowed on
//! PATH, the wrong user, the wrong Ruby or Node, a `.env` file Mastodon
//! would misread, missing encryption keys or too old a PostgreSQL for the
//! checked-out version, a database that does not answer, too little memory
//! for `assets:precompile`, a leftover `SKIP_POST_DEPLOYMENT_MIGRATIONS` —
//! and says `ok`, `warn` or `fail` with the exact fix. Where a guard already
//! decides the question (memory, the configuration reader), the check asks
//! it rather than deciding again. `upgrade`'s preflight is [`checks`].
//!
//! This file holds what a check is, the list of checks in their order and
//! the text and JSON renderers. The checks live by what they look at:
//! `reach` (shims, sudo, cron), `install` (root, version, user), `path`
//! (upgrade-path), `runtime` (ruby, node, memory; `engines` reads node's
//! range), `config` (config, db-password, shell-env), `requirements`
//! (encryption-keys), `db` (the database rows) and `completion`.

mod completion;
pub use completion::ID as COMPLETION;
mod config;
mod db;
mod engines;
mod install;
mod path;
mod reach;
mod requirements;
mod runtime;

use std::io::Write;
use std::path::Path;

use anyhow::Context;
use owo_colors::{OwoColorize, Stream};

use crate::guards::{Level, Verdict};
use crate::invocation::Tool;
use crate::settings::Env;
use crate::site::Site;
use crate::{exit, redact};

/// Check that this server is ready for the shims and for an upgrade
///
/// Checks the shims on PATH, the Mastodon install and its version, the user,
/// Ruby and Node against the versions the install asks for, the `.env*`
/// files, the encryption keys and PostgreSQL version the checkout requires,
/// the database, memory for assets:precompile and leftover shell variables.
/// Exits 1 when a check fails, 0 otherwise.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Print JSON: [{"id", "level": "ok|warn|fail", "message", "fix"}]
    #[arg(long)]
    pub json: bool,
}

/// One check's outcome: a guard's verdict in all but name — an id, a
/// level, a message and the exact fix when the level is not `ok` — and
/// never with changes. doctor shows [`Level::Block`] as `fail` ([`label`]).
pub type Check = Verdict;

/// A check's level as doctor shows it: `ok`, `warn` or `fail`.
fn label(level: Level) -> &'static str {
    match level {
        Level::Ok | Level::Notice => "ok",
        Level::Warn => "warn",
        Level::Block => "fail",
    }
}

/// A guard's verdict as a row of its own id: a notice is ok, and an ok row
/// shows no fix.
fn from_verdict(id: &'static str, verdict: Verdict) -> Check {
    let level = match verdict.level {
        Level::Notice => Level::Ok,
        level => level,
    };
    Verdict {
        id,
        level,
        message: verdict.message,
        fix: verdict.fix.filter(|_| level != Level::Ok),
        changes: Vec::new(),
    }
}

pub fn run(args: Args) -> anyhow::Result<u8> {
    let env: Env = std::env::vars_os().collect();
    let cwd = std::env::current_dir().context("cannot read the working directory")?;
    let checks = checks(&env, &cwd);
    let text = if args.json {
        to_json(&checks)
    } else {
        table(&checks, Stream::Stdout)
    };
    std::io::stdout()
        .write_all(text.as_bytes())
        .context("cannot write the report to standard output")?;
    Ok(if checks.iter().any(|c| c.level == Level::Block) {
        exit::FAILURE
    } else {
        exit::OK
    })
}

/// Every check, in a fixed order, for a process with `env` in `cwd`.
pub fn checks(env: &Env, cwd: &Path) -> Vec<Check> {
    // The install here is the one `tootctl` would run: the widest search.
    let base = crate::resolve::find_root(env, Some(cwd), Tool::Tootctl)
        .map(|root| Site::new(cwd.to_path_buf(), env.clone(), root));
    let root = base.as_ref().ok().and_then(|site| site.root.clone());
    let dir = root.as_ref().map_or(cwd, |r| r.dir.as_path());
    // Some checks look from the root: a relative MASTODON_ROOT must not be
    // read again from there.
    let mut env = env.clone();
    if let Some(absolute) = root
        .as_ref()
        .and_then(|r| crate::resolve::absolute_root_var(&env, r))
    {
        env.insert("MASTODON_ROOT", absolute);
    }
    let env = &env;
    let mut out = vec![reach::shims(env, cwd), reach::sudo(), reach::cron(env, cwd)];
    out.push(install::root_check(&base));
    match (&base, &root) {
        (Ok(site), Some(root)) => {
            out.push(install::version(&root.dir));
            out.push(path::check(&root.dir));
            let (user, owner_env) = install::user(root, env);
            out.push(user);
            out.push(runtime::ruby(&owner_env, dir, Some(&root.dir)));
            out.push(runtime::node(&owner_env, dir, Some(&root.dir)));
            out.push(config::config(site, &root.dir));
            out.push(requirements::encryption_keys(
                site,
                &root.dir,
                install::owner_name(&root.dir).as_deref(),
            ));
            out.extend(db::checks(site, &root.dir));
            out.push(config::db_password(site));
        }
        _ => {
            let why = "not checked: no Mastodon install (see the `root` check)";
            out.push(Check::new("version", Level::Warn, why));
            out.push(Check::new(path::ID, Level::Warn, why));
            out.push(Check::new("user", Level::Warn, why));
            out.push(runtime::ruby(env, dir, None));
            out.push(runtime::node(env, dir, None));
            out.push(Check::new("config", Level::Warn, why));
            out.push(Check::new("encryption-keys", Level::Warn, why));
            for id in db::IDS {
                out.push(Check::new(id, Level::Warn, why));
            }
            out.push(Check::new("db-password", Level::Warn, why));
        }
    }
    out.push(runtime::memory(env, dir));
    out.push(config::shell_env(env, root.as_ref()));
    out.push(completion::check(env, dir));
    out
}

/// The checks as a table: level, id, message, and the fix under it.
pub fn table(checks: &[Check], stream: Stream) -> String {
    let mut out = String::new();
    for check in checks {
        let level = format!("{:<4}", label(check.level));
        let level = level.if_supports_color(stream, |t| match check.level {
            Level::Ok | Level::Notice => t.green().to_string(),
            Level::Warn => t.yellow().bold().to_string(),
            Level::Block => t.red().bold().to_string(),
        });
        out.push_str(&format!("{level}  {:<9}  {}\n", check.id, check.message));
        if let Some(fix) = &check.fix {
            out.push_str(&format!("{:17}fix: {fix}\n", ""));
        }
    }
    redact::scrub(&out)
}

/// The JSON form, pretty-printed: `[{"id", "level", "message", "fix"}]`,
/// fields in that order (a struct, not a `Value`, keeps the order).
pub fn to_json(checks: &[Check]) -> String {
    #[derive(serde::Serialize)]
    struct Entry<'a> {
        id: &'a str,
        level: &'a str,
        message: String,
        fix: Option<String>,
    }
    let entries: Vec<Entry> = checks
        .iter()
        .map(|c| Entry {
            id: c.id,
            level: label(c.level),
            message: redact::scrub(&c.message),
            fix: c.fix.as_deref().map(redact::scrub),
        })
        .collect();
    let mut text = serde_json::to_string_pretty(&entries).unwrap_or_default();
    text.push('\n');
    text
}
