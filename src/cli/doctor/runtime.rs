//! What Mastodon's commands run on: the `ruby` and `node` found on PATH
//! against the versions the install asks for (`.ruby-version`,
//! `package.json`'s `engines.node`), and the memory
//! `rails assets:precompile` needs.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::Value;

use super::engines::{parse_full_version, satisfies};
use super::{Check, from_verdict};
use crate::guards;
use crate::guards::Level;
use crate::invocation::Tool;
use crate::process::run_with_timeout;
use crate::resolve::SelfId;
use crate::settings::Env;
use crate::site::Site;

/// How long `ruby` or `node` may take to print its version.
const VERSION_TIMEOUT: Duration = Duration::from_secs(10);

/// `ruby` on PATH (`bin/*` start with `#!/usr/bin/env ruby`), and the one
/// `.ruby-version` names. Run in the root: rbenv picks by `.ruby-version`.
pub fn ruby(env: &Env, dir: &Path, root: Option<&Path>) -> Check {
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
            Level::Warn,
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
            Level::Block,
            format!(
                "ruby on PATH ({}) is {found}, but .ruby-version asks for {w}",
                program.display()
            ),
        )
        .fix(install),
        Some(w) => Check::new(
            ID,
            Level::Ok,
            format!(
                "ruby {found} ({}), as .ruby-version asks ({w})",
                program.display()
            ),
        ),
        None => Check::new(
            ID,
            Level::Ok,
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
        return Err(Check::new(id, Level::Block, missing).fix(install));
    };
    let mut cmd = Command::new(&program);
    cmd.args(args);
    match version_output(cmd, env, dir) {
        Ok(found) => Ok((program, found)),
        Err(why) => {
            let shown: Vec<String> = args.iter().map(|a| crate::quote::word_str(a)).collect();
            Err(Check::new(
                id,
                Level::Block,
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
pub fn node(env: &Env, dir: &Path, root: Option<&Path>) -> Check {
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
                Level::Warn,
                format!("{shown}; {why}, so its engines.node is not checked"),
            )
            .fix(
                "Restore package.json from the Mastodon checkout (`git checkout -- package.json`).",
            );
        }
        Ok(None) => {
            return Check::new(
                ID,
                Level::Ok,
                format!("{shown}; package.json names no engines.node"),
            );
        }
        Ok(Some(range)) => range,
    };
    let Some(version) = parse_full_version(&found) else {
        return Check::new(
            ID,
            Level::Warn,
            format!("{shown}: cannot read that version to compare it with engines.node {range:?}"),
        )
        .fix(format!("Check by hand that it satisfies {range:?}."));
    };
    match satisfies(&range, version) {
        Some(true) => Check::new(
            ID,
            Level::Ok,
            format!("{shown} satisfies package.json's engines.node {range:?}"),
        ),
        Some(false) => Check::new(
            ID,
            Level::Block,
            format!("{shown} does not satisfy package.json's engines.node {range:?}"),
        )
        .fix(install),
        None => Check::new(
            ID,
            Level::Warn,
            format!(
                "{shown}; package.json's engines.node {range:?} is a range tootguard cannot read"
            ),
        )
        .fix(format!(
            "Check by hand that node {found} satisfies {range:?}."
        )),
    }
}

/// The memory guard's verdict for `rails assets:precompile`.
pub fn memory(env: &Env, dir: &Path) -> Check {
    const ID: &str = "memory";
    let root = match crate::resolve::find_root(env, Some(dir), Tool::Tootctl) {
        Ok(root) => root,
        Err(e) => return Check::new(ID, Level::Warn, format!("not checked: {e:#}")),
    };
    let site = Site::new(dir.to_path_buf(), env.clone(), root);
    from_verdict(ID, guards::memory::verdict(&site))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ruby_version_prefixes_match_on_a_dot() {
        assert!(version_matches("3.3.5", "3.3.5"));
        assert!(version_matches("3.3", "3.3.5"));
        assert!(!version_matches("3.3", "3.33.0"));
        assert!(!version_matches("3.4.1", "3.3.5"));
    }
}
