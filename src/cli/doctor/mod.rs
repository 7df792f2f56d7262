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

mod completion;
pub use completion::ID as COMPLETION;
mod db;
mod path;
mod reach;
mod requirements;

use std::fs;
use std::io::{Read, Write};

use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::Context;
use owo_colors::{OwoColorize, Stream};
use serde_json::Value;

use crate::config::SKIP_POST;
use crate::guards::{self, Level, Verdict};
use crate::invocation::{Invocation, Tool};
use crate::resolve::{Root, SelfId};
use crate::settings::Env;
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

/// How long `ruby` or `node` may take to print its version.
const VERSION_TIMEOUT: Duration = Duration::from_secs(10);
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
    let base = crate::resolve::find_root(env, Some(cwd), Tool::Tootctl).map(|root| {
        Invocation::new(
            Tool::Rails,
            Vec::new(),
            cwd.to_path_buf(),
            env.clone(),
            root,
        )
    });
    let root = base.as_ref().ok().and_then(|inv| inv.root.clone());
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
    out.push(root_check(&base));
    match (&base, &root) {
        (Ok(inv), Some(root)) => {
            out.push(version(&root.dir));
            out.push(path::check(&root.dir));
            let (user, owner_env) = user(root, env);
            out.push(user);
            out.push(ruby(&owner_env, dir, Some(&root.dir)));
            out.push(node(&owner_env, dir, Some(&root.dir)));
            out.push(config(inv, &root.dir));
            out.push(requirements::encryption_keys(
                inv,
                &root.dir,
                owner_name(&root.dir).as_deref(),
            ));
            out.extend(db::checks(inv, &root.dir));
            out.push(db_password(inv));
        }
        _ => {
            let why = "not checked: no Mastodon install (see the `root` check)";
            out.push(Check::new("version", Status::Warn, why));
            out.push(Check::new(path::ID, Status::Warn, why));
            out.push(Check::new("user", Status::Warn, why));
            out.push(ruby(env, dir, None));
            out.push(node(env, dir, None));
            out.push(Check::new("config", Status::Warn, why));
            out.push(Check::new("encryption-keys", Status::Warn, why));
            for id in db::IDS {
                out.push(Check::new(id, Status::Warn, why));
            }
            out.push(Check::new("db-password", Status::Warn, why));
        }
    }
    out.push(memory(env, dir));
    out.push(shell_env(env, root.as_ref()));
    out.push(completion::check(env, dir));
    out
}

/// The name of the user who owns the install, for a fix that says whom to
/// run a command as; `None` when that is this user (or cannot be told).
fn owner_name(root: &Path) -> Option<String> {
    use std::os::unix::fs::MetadataExt;
    let uid = fs::metadata(root).ok()?.uid();
    if uid == nix::unistd::geteuid().as_raw() {
        return None;
    }
    nix::unistd::User::from_uid(uid.into())
        .ok()
        .flatten()
        .map(|u| u.name)
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

fn root_check(base: &anyhow::Result<Invocation>) -> Check {
    const ID: &str = "root";
    let inv = match base {
        Ok(inv) => inv,
        Err(e) => {
            return Check::new(ID, Status::Fail, format!("{e:#}")).fix(
                "Unset MASTODON_ROOT, or set it to the Mastodon directory (usually \
                 /home/mastodon/live).",
            );
        }
    };
    if let Some(root) = &inv.root
        && let Err(untrusted) = crate::resolve::untrusted(root, Tool::Tootctl, &inv.env)
    {
        return Check::new(ID, Status::Fail, untrusted.message).fix(untrusted.fix);
    }
    match &inv.root {
        Some(Root {
            dir,
            production: true,
            found_by,
        }) => Check::new(
            ID,
            Status::Ok,
            format!(
                "Mastodon production install at {} (found by {found_by})",
                dir.display()
            ),
        ),
        Some(root) => Check::new(
            ID,
            Status::Warn,
            format!(
                "{} (found by {}) has no .env.production: a development checkout, not a \
                 production install",
                root.dir.display(),
                root.found_by
            ),
        )
        .fix(
            "Run it in the production install (usually /home/mastodon/live), or set \
             MASTODON_ROOT to it.",
        ),
        None => Check::new(
            ID,
            Status::Fail,
            format!(
                "found no Mastodon install: MASTODON_ROOT is unset, none in {} or its \
                 parents (a directory with bin/tootctl and config/application.rb), no \
                 ~mastodon/live",
                inv.cwd.display()
            ),
        )
        .fix("`cd /home/mastodon/live` (or wherever Mastodon lives), or set MASTODON_ROOT to it."),
    }
}

/// The version the install is on, from `lib/mastodon/version.rb`.
fn version(root: &Path) -> Check {
    const ID: &str = "version";
    let file = root.join("lib/mastodon/version.rb");
    let fix = "Check that the checkout is complete: `git status` in the install, and \
               `git checkout vX.Y.Z` of the release you mean to run.";
    match crate::files::read_small(&file) {
        Err(e) => Check::new(
            ID,
            Status::Warn,
            format!(
                "cannot tell the version: cannot read {} ({e})",
                file.display()
            ),
        )
        .fix(fix),
        Ok(text) => match crate::release::parse_version_rb(&text) {
            Some(v) => Check::new(
                ID,
                Status::Ok,
                format!("Mastodon {v} (lib/mastodon/version.rb)"),
            ),
            None => Check::new(
                ID,
                Status::Warn,
                format!(
                    "cannot tell the version: {} has no readable `def major`, `def minor` \
                     and `def patch`",
                    file.display()
                ),
            )
            .fix(fix),
        },
    }
}

/// Who runs Mastodon's commands: the user guard's own verdict. As root on an
/// install owned by another user, tootguard runs the commands as that user,
/// so that is a warning (work as the owner), not a failure; the environment
/// the owner's commands get (PATH with ~/.rbenv/shims) is returned for the
/// ruby and node checks.
fn user(root: &Root, env: &Env) -> (Check, Env) {
    const ID: &str = "user";
    let mut owner_env = env.clone();
    let Some(verdict) = guards::user::for_root(root, env) else {
        return (
            Check::new(
                ID,
                Status::Warn,
                format!("cannot tell who owns {}", root.dir.display()),
            )
            .fix(format!("Check the permissions of {}.", root.dir.display())),
            owner_env,
        );
    };
    crate::exec::apply_env(&mut owner_env, &verdict.changes);
    let owner = verdict.changes.iter().find_map(|c| match c {
        crate::guards::Change::RunAs(user) => Some(user.name.clone()),
        _ => None,
    });
    let check = match (verdict.level, owner) {
        (Level::Notice, Some(owner)) => Check::new(
            ID,
            Status::Warn,
            format!(
                "you are root; tootguard runs Mastodon's commands as {owner}, the owner of {}",
                root.dir.display()
            ),
        )
        .fix(format!(
            "Work as the owner: `su - {owner}` (anything run as root without tootguard \
             leaves root-owned files that break {owner}'s runs with Errno::EACCES)."
        )),
        _ => Check::from_verdict(ID, verdict),
    };
    (check, owner_env)
}

/// `ruby` on PATH (`bin/*` start with `#!/usr/bin/env ruby`), and the one
/// `.ruby-version` names. Run in the root: rbenv picks by `.ruby-version`.
fn ruby(env: &Env, dir: &Path, root: Option<&Path>) -> Check {
    const ID: &str = "ruby";
    let rbenv = "with rbenv, add `eval \"$(rbenv init -)\"` to ~/.bashrc so ~/.rbenv/shims \
                 comes first on PATH, then open a new shell";
    let file = root.map(|r| r.join(".ruby-version"));
    let read = file.as_deref().map(crate::files::read_small);
    if let (Some(file), Some(Err(e))) = (&file, &read)
        && e.kind() != std::io::ErrorKind::NotFound
    {
        return Check::new(
            ID,
            Status::Warn,
            format!(
                "cannot tell which Ruby the install wants: cannot read {} ({e})",
                file.display()
            ),
        )
        .fix(
            "Restore .ruby-version from the Mastodon checkout (`git checkout -- .ruby-version`).",
        );
    }
    let wanted = read
        .and_then(Result::ok)
        .map(|text| text.trim().to_owned())
        .map(|v| v.strip_prefix("ruby-").map(str::to_owned).unwrap_or(v))
        .filter(|v| !v.is_empty());
    let install = match &wanted {
        Some(w) => {
            format!("Install Ruby {w} (`rbenv install` in the install directory) and {rbenv}.")
        }
        None => format!("Install Ruby; {rbenv}."),
    };
    let (program, found) = match installed_version(
        ID,
        &["-e", "print RUBY_VERSION"],
        "no `ruby` on PATH: Mastodon's bin/rails, bin/rake and bin/tootctl start with \
         `#!/usr/bin/env ruby` and cannot start without it",
        &install,
        env,
        dir,
    ) {
        Ok(found) => found,
        Err(check) => return check,
    };
    match wanted {
        Some(w) if !version_matches(&w, &found) => Check::new(
            ID,
            Status::Fail,
            format!(
                "ruby on PATH ({}) is {found}, but .ruby-version asks for {w}",
                program.display()
            ),
        )
        .fix(install),
        Some(w) => Check::new(
            ID,
            Status::Ok,
            format!(
                "ruby {found} ({}), as .ruby-version asks ({w})",
                program.display()
            ),
        ),
        None => Check::new(
            ID,
            Status::Ok,
            format!("ruby {found} ({})", program.display()),
        ),
    }
}

/// The program named `id` on PATH and what it prints when run with `args`,
/// or the failing check (`missing` when there is none) with `install` as fix.
fn installed_version(
    id: &'static str,
    args: &[&str],
    missing: &str,
    install: &str,
    env: &Env,
    dir: &Path,
) -> Result<(PathBuf, String), Check> {
    let path = env.get("PATH").unwrap_or_default();
    // The real one: past tootguard's own `ruby` shim, which would only
    // pass the question on.
    let me = SelfId::current().ok();
    let found = match &me {
        Some(me) => crate::resolve::search_path(id, &path, dir, me, None).found,
        None => crate::resolve::first_on_path(id, &path, dir),
    };
    let Some(program) = found else {
        return Err(Check::new(id, Status::Fail, missing).fix(install));
    };
    let mut cmd = Command::new(&program);
    cmd.args(args);
    match version_output(cmd, env, dir) {
        Ok(found) => Ok((program, found)),
        Err(why) => {
            let shown: Vec<String> = args.iter().map(|a| crate::quote::word_str(a)).collect();
            Err(Check::new(
                id,
                Status::Fail,
                format!("`{} {}` {why}", program.display(), shown.join(" ")),
            )
            .fix(install))
        }
    }
}

/// `3.3` asks for any 3.3.x; `3.3.5` for exactly that.
fn version_matches(wanted: &str, found: &str) -> bool {
    found == wanted
        || found
            .strip_prefix(wanted)
            .is_some_and(|rest| rest.starts_with('.'))
}

/// `node` on PATH, and a version `package.json`'s `engines.node` accepts.
fn node(env: &Env, dir: &Path, root: Option<&Path>) -> Check {
    const ID: &str = "node";
    let package = root.map(|r| r.join("package.json"));
    let engines: Result<Option<String>, String> = match &package {
        None => Ok(None),
        Some(file) => match crate::files::read_small(file) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(format!("cannot read {}: {e}", file.display())),
            Ok(text) => serde_json::from_str::<Value>(&text)
                .map(|v| v["engines"]["node"].as_str().map(str::to_owned))
                .map_err(|e| format!("cannot read {}: {e}", file.display())),
        },
    };
    let install = match &engines {
        Ok(Some(range)) => format!(
            "Install a Node.js whose version satisfies {range:?} (Mastodon's docs use the \
             NodeSource packages), then `corepack enable` for yarn."
        ),
        _ => "Install Node.js (Mastodon's docs use the NodeSource packages), then \
              `corepack enable` for yarn."
            .to_owned(),
    };
    let (program, found) = match installed_version(
        ID,
        &["--version"],
        "no `node` on PATH: `yarn install` and assets:precompile need Node.js",
        &install,
        env,
        dir,
    ) {
        Ok(found) => found,
        Err(check) => return check,
    };
    let found = found.strip_prefix('v').unwrap_or(&found).to_owned();
    let shown = format!("node {found} ({})", program.display());
    let range = match engines {
        Err(why) => {
            return Check::new(
                ID,
                Status::Warn,
                format!("{shown}; {why}, so its engines.node is not checked"),
            )
            .fix(
                "Restore package.json from the Mastodon checkout (`git checkout -- package.json`).",
            );
        }
        Ok(None) => {
            return Check::new(
                ID,
                Status::Ok,
                format!("{shown}; package.json names no engines.node"),
            );
        }
        Ok(Some(range)) => range,
    };
    let Some(version) = parse_full_version(&found) else {
        return Check::new(
            ID,
            Status::Warn,
            format!("{shown}: cannot read that version to compare it with engines.node {range:?}"),
        )
        .fix(format!("Check by hand that it satisfies {range:?}."));
    };
    match satisfies(&range, version) {
        Some(true) => Check::new(
            ID,
            Status::Ok,
            format!("{shown} satisfies package.json's engines.node {range:?}"),
        ),
        Some(false) => Check::new(
            ID,
            Status::Fail,
            format!("{shown} does not satisfy package.json's engines.node {range:?}"),
        )
        .fix(install),
        None => Check::new(
            ID,
            Status::Warn,
            format!(
                "{shown}; package.json's engines.node {range:?} is a range tootguard cannot read"
            ),
        )
        .fix(format!(
            "Check by hand that node {found} satisfies {range:?}."
        )),
    }
}

type Version = (u64, u64, u64);

/// `22.11.0` (a prerelease or build suffix is ignored).
fn parse_full_version(text: &str) -> Option<Version> {
    let p = parse_partial(text)?;
    Some((p.0?, p.1?, p.2?))
}

/// A version with parts left out or wildcarded (`20`, `20.x`, `20.1`,
/// `v20.1.2-rc.1`). None for anything else; `(None, …)` is `*`.
fn parse_partial(text: &str) -> Option<(Option<u64>, Option<u64>, Option<u64>)> {
    let text = text.trim();
    let text = text
        .strip_prefix('v')
        .or_else(|| text.strip_prefix('='))
        .unwrap_or(text);
    let core = text.split(['-', '+']).next().unwrap_or_default();
    let mut parts = [None; 3];
    let mut wildcard = false;
    for (i, part) in core.split('.').enumerate() {
        if i >= 3 {
            return None;
        }
        if matches!(part, "x" | "X" | "*") {
            wildcard = true;
            continue;
        }
        if wildcard || part.is_empty() || !part.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        parts[i] = Some(part.parse().ok()?);
    }
    Some((parts[0], parts[1], parts[2]))
}

/// One bound of a range.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Bound {
    Ge(Version),
    Gt(Version),
    Lt(Version),
    Le(Version),
}

impl Bound {
    fn holds(self, v: Version) -> bool {
        match self {
            Bound::Ge(b) => v >= b,
            Bound::Gt(b) => v > b,
            Bound::Lt(b) => v < b,
            Bound::Le(b) => v <= b,
        }
    }
}

/// Whether `version` satisfies an npm `engines` range: `||` alternatives of
/// space-separated comparators (`>=N`, `>N`, `<N`, `<=N`, `=N`, `^N`, `~N`,
/// `N`, `N.x`, `*`) or a hyphen range (`20 - 22`). None when the syntax is
/// not one of those.
pub fn satisfies(range: &str, version: Version) -> Option<bool> {
    let mut any = false;
    for alternative in range.split("||") {
        let bounds = alternative_bounds(alternative.trim())?;
        any |= bounds.iter().all(|b| b.holds(version));
    }
    Some(any)
}

fn alternative_bounds(alt: &str) -> Option<Vec<Bound>> {
    if let Some((low, high)) = alt.split_once(" - ") {
        let mut bounds = comparator("", low.trim(), ">=")?;
        bounds.extend(comparator("", high.trim(), "<=")?);
        return Some(bounds);
    }
    let mut bounds = Vec::new();
    let mut pending_op: Option<&str> = None;
    for token in alt.split_whitespace() {
        let op_len = token.bytes().take_while(|b| b"<>=~^".contains(b)).count();
        let (op, rest) = token.split_at(op_len);
        if rest.is_empty() {
            // `>= 20`: the operator stands alone.
            if pending_op.is_some() {
                return None;
            }
            pending_op = Some(op);
            continue;
        }
        let op = match pending_op.take() {
            Some(p) if op.is_empty() => p,
            Some(_) => return None,
            None => op,
        };
        bounds.extend(comparator(op, rest, "=")?);
    }
    if pending_op.is_some() {
        return None;
    }
    Some(bounds)
}

/// The bounds of one comparator, the npm way: a partial version is an
/// X-range (`<=20` is `<21.0.0`, `>20` is `>=21.0.0`).
fn comparator(op: &str, text: &str, default_op: &str) -> Option<Vec<Bound>> {
    let op = if op.is_empty() { default_op } else { op };
    let (major, minor, patch) = parse_partial(text)?;
    let Some(major) = major else {
        // `*`, `x`: anything (but `<*` and `>*` match nothing).
        return match op {
            "=" | ">=" | "<=" | "^" | "~" => Some(Vec::new()),
            _ => Some(vec![Bound::Lt((0, 0, 0))]),
        };
    };
    let low = (major, minor.unwrap_or(0), patch.unwrap_or(0));
    // The first version past the X-range the partial version names.
    let next = match (minor, patch) {
        (None, _) => (major + 1, 0, 0),
        (Some(m), None) => (major, m + 1, 0),
        (Some(m), Some(p)) => (major, m, p + 1),
    };
    let exact = patch.is_some();
    Some(match op {
        "=" => vec![Bound::Ge(low), Bound::Lt(next)],
        ">=" => vec![Bound::Ge(low)],
        ">" if exact => vec![Bound::Gt(low)],
        ">" => vec![Bound::Ge(next)],
        "<" => vec![Bound::Lt(low)],
        "<=" if exact => vec![Bound::Le(low)],
        "<=" => vec![Bound::Lt(next)],
        "~" => match minor {
            None => vec![Bound::Ge(low), Bound::Lt((major + 1, 0, 0))],
            Some(m) => vec![Bound::Ge(low), Bound::Lt((major, m + 1, 0))],
        },
        "^" => {
            let upper = match (major, minor, patch) {
                (0, Some(0), Some(p)) => (0, 0, p + 1),
                (0, Some(m), _) if m > 0 || patch.is_none() => (0, m + 1, 0),
                (0, None, _) => (1, 0, 0),
                (m, _, _) => (m + 1, 0, 0),
            };
            vec![Bound::Ge(low), Bound::Lt(upper)]
        }
        _ => return None,
    })
}

/// The `.env*` files read cleanly, as Mastodon's dotenv would read them.
fn config(inv: &Invocation, root: &Path) -> Check {
    const ID: &str = "config";
    match inv.config() {
        Ok(_) => {
            let present: Vec<&str> = crate::config::DOTENV_FILES
                .into_iter()
                .filter(|f| root.join(f).exists())
                .collect();
            // Only the files count here (`shell-env` reports an export), so
            // an exported SKIP_POST is taken out first — which means
            // reading the files again only when there is one.
            let stripped = inv.env.contains(SKIP_POST).then(|| {
                let mut env = inv.env.clone();
                env.remove(SKIP_POST);
                Invocation::new(
                    Tool::Rails,
                    Vec::new(),
                    inv.cwd.clone(),
                    env,
                    inv.root.clone(),
                )
            });
            let files = stripped.as_ref().unwrap_or(inv);
            if let Some(source) = guards::pgbouncer::skip_post_in_file(files) {
                return Check::new(
                    ID,
                    Status::Warn,
                    format!(
                        "{SKIP_POST} is set in {source}: Mastodon skips the post-deployment \
                         migrations whenever it is set, whatever its value, so `rails \
                         db:migrate` never runs them"
                    ),
                )
                .fix(format!("Delete the {SKIP_POST} line ({source})."));
            }
            Check::new(
                ID,
                Status::Ok,
                if present.is_empty() {
                    "no .env* files; only the environment configures Mastodon".to_owned()
                } else {
                    format!("{} read cleanly", present.join(", "))
                },
            )
        }
        // The reader's message names the file, the problem and its fix.
        Err(e) => Check::new(ID, Status::Fail, e.to_owned())
            .fix("Do what the message says for that file, then run `tootguard doctor` again."),
    }
}

/// The database password is not one a reader could guess: 12 characters
/// or more, and not the database user's or database's name. Never shown.
fn db_password(inv: &Invocation) -> Check {
    const ID: &str = "db-password";
    let db = match inv.config().map(|c| c.database()) {
        Ok(Ok(db)) => db,
        _ => {
            return Check::new(
                ID,
                Status::Ok,
                "not checked: the database settings cannot be read (see the `config` check)",
            );
        }
    };
    let Some(password) = db.password.filter(|p| !p.is_empty()) else {
        return Check::new(
            ID,
            Status::Ok,
            "no database password is set (PostgreSQL's peer or trust authentication)",
        );
    };
    let weak = password.chars().count() < crate::redact::MIN_SCRUBBED
        || db.user.as_deref() == Some(password.as_str())
        || db.name.as_deref() == Some(password.as_str());
    let variable = db.url_variable.unwrap_or("DB_PASS");
    if !weak {
        return Check::new(
            ID,
            Status::Ok,
            format!("{variable} is set and not weak (not shown)"),
        );
    }
    Check::new(
        ID,
        Status::Warn,
        format!(
            "{variable} is weak: it is shorter than {} characters, or the same as the database \
             user or name",
            crate::redact::MIN_SCRUBBED
        ),
    )
    .fix(format!(
        "Make a long random one (`openssl rand -hex 24`), give it to the database user as the \
         postgres user (`ALTER ROLE {} PASSWORD '…';` in psql), and put the same value in \
         {variable} in .env.production.",
        db.user.as_deref().unwrap_or("mastodon")
    ))
}

/// The memory guard's verdict for `rails assets:precompile`.
fn memory(env: &Env, dir: &Path) -> Check {
    const ID: &str = "memory";
    let root = match crate::resolve::find_root(env, Some(dir), Tool::Tootctl) {
        Ok(root) => root,
        Err(e) => return Check::new(ID, Status::Warn, format!("not checked: {e:#}")),
    };
    let inv = Invocation::new(
        Tool::Rails,
        vec!["assets:precompile".into()],
        dir.to_path_buf(),
        env.clone(),
        root,
    );
    let Some(verdict) = guards::memory::check(&inv) else {
        return Check::new(
            ID,
            Status::Warn,
            "not checked: the memory guard did not answer",
        );
    };
    Check::from_verdict(ID, verdict)
}

/// Variables exported in this shell that change what Mastodon does.
fn shell_env(env: &Env, root: Option<&Root>) -> Check {
    const ID: &str = "shell-env";
    let mut problems = Vec::new();
    let mut unset = Vec::new();
    if let Some(value) = env.get(SKIP_POST) {
        problems.push(format!(
            "{SKIP_POST} is exported (as {:?}): Mastodon skips the post-deployment \
             migrations whenever it is set, whatever its value, even `false` \
             (lib/mastodon/database.rb), so a later `rails db:migrate` leaves them undone",
            value.to_string_lossy()
        ));
        unset.push(SKIP_POST);
    }
    let development = root.is_some_and(|r| !r.production);
    if let Some(value) = env.get("RAILS_ENV")
        && !value.is_empty()
        && value != "production"
        && !development
    {
        problems.push(format!(
            "RAILS_ENV is exported as {:?}: commands run without tootguard (`bundle exec \
             rails …`, the upgrade's bundle and yarn) see it, and Rails loads that \
             environment instead of production",
            value.to_string_lossy()
        ));
        unset.push("RAILS_ENV");
    }
    if problems.is_empty() {
        return Check::new(
            ID,
            Status::Ok,
            format!("no {SKIP_POST} and no stray RAILS_ENV exported"),
        );
    }
    Check::new(ID, Status::Warn, format!("{}.", problems.join("; "))).fix(format!(
        "`unset {}`, and remove the export from ~/.bashrc or ~/.profile if it is there.",
        unset.join(" ")
    ))
}

/// The first line a version command prints, run in `dir` with `env`, within
/// [`VERSION_TIMEOUT`]; the error says what went wrong.
fn version_output(mut cmd: Command, env: &Env, dir: &Path) -> Result<String, String> {
    cmd.env_clear()
        .envs(env.all().iter())
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let (status, stdout, stderr) = run_with_timeout(cmd, VERSION_TIMEOUT)?;
    let first = |bytes: &[u8]| {
        String::from_utf8_lossy(bytes)
            .lines()
            .map(str::trim)
            .find(|l| !l.is_empty())
            .map(str::to_owned)
    };
    if !status.success() {
        return Err(format!(
            "failed ({status}){}",
            first(&stderr).map(|l| format!(": {l}")).unwrap_or_default()
        ));
    }
    first(&stdout).ok_or_else(|| "printed nothing".to_owned())
}

pub(crate) fn run_with_timeout(
    mut cmd: Command,
    timeout: Duration,
) -> Result<(ExitStatus, Vec<u8>, Vec<u8>), String> {
    let mut child = cmd.spawn().map_err(|e| format!("cannot start: {e}"))?;
    let deadline = Instant::now() + timeout;
    // Read both pipes in threads, so a chatty child cannot block on a full
    // pipe while we wait; a grandchild keeping a pipe open cannot hang us.
    let collect = |pipe: Option<Box<dyn Read + Send>>| {
        let (tx, rx) = mpsc::channel();
        if let Some(mut pipe) = pipe {
            std::thread::spawn(move || {
                let mut buf = Vec::new();
                let _ = pipe.read_to_end(&mut buf);
                let _ = tx.send(buf);
            });
        }
        rx
    };
    let out = collect(
        child
            .stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let err = collect(
        child
            .stderr
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("did not answer within {} s", timeout.as_secs()));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(5)),
            Err(e) => return Err(e.to_string()),
        }
    };
    let take = |rx: mpsc::Receiver<Vec<u8>>| {
        let left = deadline.saturating_duration_since(Instant::now());
        rx.recv_timeout(left.max(Duration::from_millis(100)))
            .unwrap_or_default()
    };
    Ok((status, take(out), take(err)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engines_ranges_of_every_supported_shape() {
        let v = |s| parse_full_version(s).unwrap();
        let cases: &[(&str, &str, bool)] = &[
            (">=20", "20.0.0", true),
            (">=20", "18.19.1", false),
            ("^20", "20.11.0", true),
            ("^20", "21.0.0", false),
            ("20", "20.3.1", true),
            ("20.x", "21.1.0", false),
            ("18 || 20 || >=22", "20.1.0", true),
            ("18 || 20 || >=22", "21.1.0", false),
            (">=20 <23", "22.9.0", true),
            (">=20 <23", "23.0.0", false),
            (">= 20", "20.1.0", true),
            ("^20.19.0 || >=22.12.0", "20.18.3", false),
            ("^20.19.0 || >=22.12.0", "22.12.0", true),
            (">20", "20.9.0", false),
            ("<=20", "20.9.0", true),
            ("~20.1", "20.2.0", false),
            ("20 - 22", "22.5.0", true),
            ("20 - 22", "23.0.0", false),
            ("*", "1.2.3", true),
        ];
        for (range, version, want) in cases {
            assert_eq!(
                satisfies(range, v(version)),
                Some(*want),
                "{range} vs {version}"
            );
        }
    }

    #[test]
    fn unknown_range_syntax_is_none_not_a_panic() {
        for range in [
            "latest",
            ">=",
            "20.1.2.3",
            "node >= 20",
            ">= >= 20",
            "~>20",
            "\u{fffd}",
        ] {
            assert_eq!(satisfies(range, (20, 0, 0)), None, "{range}");
        }
    }

    #[test]
    fn ruby_version_prefixes_match_on_a_dot() {
        assert!(version_matches("3.3.5", "3.3.5"));
        assert!(version_matches("3.3", "3.3.5"));
        assert!(!version_matches("3.3", "3.33.0"));
        assert!(!version_matches("3.4.1", "3.3.5"));
    }
}
