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

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Status {
    Ok,
    Warn,
    Fail,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Warn => "warn",
            Status::Fail => "fail",
        }
    }
}

/// One check's outcome.
#[derive(Debug, Clone)]
pub struct Check {
    pub id: &'static str,
    pub status: Status,
    pub message: String,
    /// The exact fix, when the status is not `ok`.
    pub fix: Option<String>,
}

impl Check {
    fn new(id: &'static str, status: Status, message: impl Into<String>) -> Check {
        Check {
            id,
            status,
            message: message.into(),
            fix: None,
        }
    }

    fn fix(mut self, fix: impl Into<String>) -> Check {
        self.fix = Some(fix.into());
        self
    }

    /// A guard's verdict as a check: a block fails, a warning warns, the
    /// rest is ok (with no fix to show).
    fn from_verdict(id: &'static str, verdict: Verdict) -> Check {
        let status = match verdict.level {
            Level::Block => Status::Fail,
            Level::Warn => Status::Warn,
            Level::Ok | Level::Notice => Status::Ok,
        };
        Check {
            id,
            status,
            message: verdict.message,
            fix: verdict.fix.filter(|_| status != Status::Ok),
        }
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
    Ok(if checks.iter().any(|c| c.status == Status::Fail) {
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
            out.push(Check::new("version", Status::Warn, why));
            out.push(Check::new(path::ID, Status::Warn, why));
            out.push(Check::new("user", Status::Warn, why));
            out.push(runtime::ruby(env, dir, None));
            out.push(runtime::node(env, dir, None));
            out.push(Check::new("config", Status::Warn, why));
            out.push(Check::new("encryption-keys", Status::Warn, why));
            for id in db::IDS {
                out.push(Check::new(id, Status::Warn, why));
            }
            out.push(Check::new("db-password", Status::Warn, why));
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
        let level = format!("{:<4}", check.status.as_str());
        let level = level.if_supports_color(stream, |t| match check.status {
            Status::Ok => t.green().to_string(),
            Status::Warn => t.yellow().bold().to_string(),
            Status::Fail => t.red().bold().to_string(),
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
            level: c.status.as_str(),
            message: redact::scrub(&c.message),
            fix: c.fix.as_deref().map(redact::scrub),
        })
        .collect();
    let mut text = serde_json::to_string_pretty(&entries).unwrap_or_default();
    text.push('\n');
    text
}
