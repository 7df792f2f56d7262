//! Which spellings of Mastodon's commands reach tootguard on this server,
//! and why not where they do not: the `shims`, `sudo` and `cron` rows.
//!
//! A spelling is guarded when the program it starts first is a tootguard
//! shim: `rails`, `rake`, `tootctl` themselves; `ruby` for `bin/tootctl`,
//! `bin/rails` and `ruby bin/rails` (their `#!/usr/bin/env ruby` line);
//! `bundle` for `bundle exec …`. What finds that program is PATH — the
//! login shell's (where `rbenv init` puts rbenv's shims first), sudo's
//! `secure_path`, or the crontab's `PATH=` line (cron's default is
//! `/usr/bin:/bin`).

use std::ffi::OsStr;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use super::Check;
use crate::cli::install::{self, SYSTEM_DIR, export_path_line, is_rbenv_shims, spellings_of};
use crate::guards::Level;
use crate::invocation::{Shim, Tool};
use crate::process::run_with_timeout;
use crate::quote::word as quote;
use crate::resolve::{self, SelfId};
use crate::settings::Env;

/// Debian's sudoers default, used when `/etc/sudoers` cannot be read.
const DEBIAN_SECURE_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
/// What cron gives a job that sets no PATH (Debian's cron, `crontab(5)`).
const CRON_DEFAULT_PATH: &str = "/usr/bin:/bin";

/// Every shim name on PATH is tootguard.
pub fn shims(env: &Env, cwd: &Path) -> Check {
    const ID: &str = "shims";
    let me = match SelfId::current() {
        Ok(me) => me,
        Err(e) => return Check::new(ID, Level::Block, format!("{e:#}")),
    };
    let path = env.get("PATH").unwrap_or_default();
    let mut found_dirs: Vec<PathBuf> = Vec::new();
    let mut problems = Vec::new();
    let mut rbenv_first = false;
    // Shims that reach tootguard but not tootguard-shim: guarded, but slower.
    let mut not_shim_binary = Vec::new();
    for shim in Shim::ALL {
        let name = shim.name();
        match resolve::first_on_path(name, &path, cwd) {
            Some(p) if me.is(&p) => {
                if me.shim_binary().is_some() && !me.is_shim_binary(&p) {
                    not_shim_binary.push(p.clone());
                }
                let dir = p.parent().map(Path::to_path_buf).unwrap_or_default();
                if !found_dirs.contains(&dir) {
                    found_dirs.push(dir);
                }
            }
            Some(p) => {
                rbenv_first |= is_rbenv_shims(p.parent());
                problems.push(format!(
                    "PATH finds {} before any tootguard shim, so `{name}`{} is not guarded",
                    p.display(),
                    spellings_of(shim)
                ));
            }
            None => problems.push(format!("no `{name}` on PATH")),
        }
    }
    if problems.is_empty() {
        let dirs: Vec<String> = found_dirs.iter().map(|d| d.display().to_string()).collect();
        // Not a warning: the commands are guarded, and `upgrade` stops to
        // ask about every warning.
        let slower = match me.shim_binary() {
            Some(shim) if !not_shim_binary.is_empty() => format!(
                "; {} run tootguard, not tootguard-shim, so they start slower (the whole \
                 command line loads before every command); to relink them: {}",
                not_shim_binary
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", "),
                relink_commands(&not_shim_binary, shim).join(", then ")
            ),
            _ => String::new(),
        };
        return Check::new(
            ID,
            Level::Ok,
            format!(
                "rails, rake, tootctl, ruby and bundle on PATH are tootguard's shims ({}): \
                 every spelling of the docs is guarded{slower}",
                dirs.join(", ")
            ),
        );
    }
    // A directory of ours on PATH: the order is wrong, or links are missing.
    let shim_dir = std::env::split_paths(&path).find(|dir| {
        !dir.as_os_str().is_empty() && Shim::ALL.iter().any(|s| me.is(&dir.join(s.name())))
    });
    let fix = match shim_dir {
        Some(dir) => {
            let missing: Vec<&str> = Shim::ALL
                .iter()
                .map(|s| s.name())
                .filter(|name| !me.is(&dir.join(name)))
                .collect();
            let add = if missing.is_empty() {
                String::new()
            } else {
                format!(
                    "Add the missing shims ({}) with `tootguard install --dir {}`. ",
                    missing.join(", "),
                    quote(dir.as_os_str())
                )
            };
            let after = if rbenv_first {
                " after the `eval \"$(rbenv init -)\"` line (it puts rbenv's ruby and bundle \
                 first)"
            } else {
                " (or ~/.profile)"
            };
            format!(
                "{add}Put the shims first on PATH: add `{}` to ~/.bashrc{after}, then open a \
                 new shell.",
                export_path_line(&dir)
            )
        }
        None => "Run `tootguard install`, then add the `export PATH=…` line it prints to \
                 ~/.bashrc (or ~/.profile) and open a new shell."
            .to_owned(),
    };
    Check::new(ID, Level::Warn, format!("{}.", problems.join("; "))).fix(fix)
}

/// The commands that point `shims` at `shim_binary`: `tootguard install
/// --dir DIR` for a directory of links (it replaces its own links and
/// leaves every other file alone), and `ln -sf` for a copy, file by file —
/// never `install --force`, which would also replace an unrelated `rake`
/// or `rails` in the same directory.
fn relink_commands(shims: &[PathBuf], shim_binary: &Path) -> Vec<String> {
    let mut dirs: Vec<&Path> = Vec::new();
    let mut copies = Vec::new();
    for shim in shims {
        if fs::symlink_metadata(shim).is_ok_and(|m| m.file_type().is_symlink()) {
            let dir = shim.parent().unwrap_or(Path::new("."));
            if !dirs.contains(&dir) {
                dirs.push(dir);
            }
        } else {
            copies.push(format!(
                "`ln -sf {} {}`",
                quote(shim_binary.as_os_str()),
                quote(shim.as_os_str())
            ));
        }
    }
    dirs.iter()
        .map(|dir| format!("`tootguard install --dir {}`", quote(dir.as_os_str())))
        .chain(copies)
        .collect()
}

/// `sudo tootctl …` and `sudo -u mastodon tootctl …`: sudo runs what its
/// `secure_path` finds, not what the user's PATH finds.
pub fn sudo() -> Check {
    const ID: &str = "sudo";
    let Some(_sudo) =
        resolve::first_on_path("sudo", OsStr::new(DEBIAN_SECURE_PATH), Path::new("/"))
    else {
        return Check::new(ID, Level::Ok, "sudo is not installed");
    };
    let (secure_path, from) = secure_path();
    let Some(secure_path) = secure_path else {
        return Check::new(
            ID,
            Level::Ok,
            format!("{from} sets no secure_path: sudo keeps the caller's PATH (see `shims`)"),
        );
    };
    let me = match SelfId::current() {
        Ok(me) => me,
        Err(e) => return Check::new(ID, Level::Block, format!("{e:#}")),
    };
    let found = resolve::first_on_path("tootctl", OsStr::new(&secure_path), Path::new("/"));
    if found.as_deref().is_some_and(|p| me.is(p)) {
        return Check::new(
            ID,
            Level::Ok,
            format!(
                "`sudo tootctl …` and `sudo -u mastodon …` are guarded: sudo's secure_path \
                 ({from}) finds tootguard's shims"
            ),
        );
    }
    let why = match &found {
        Some(p) => format!("finds {} first", p.display()),
        None => "finds no tootctl (`sudo: tootctl: command not found`)".to_owned(),
    };
    let message = format!(
        "`sudo tootctl …` and `sudo -u mastodon tootctl …` are not guarded: sudo resets PATH \
         to its secure_path ({secure_path}, {from}), which {why}"
    );
    let fix = format!(
        "`sudo {} install --system` puts the shims in {SYSTEM_DIR}, which is in secure_path.",
        quote(me.path.as_os_str())
    );
    // Only those who may use sudo are told to act on it; root is the one
    // who can, for the admins who do.
    if nix::unistd::geteuid().is_root() {
        Check::new(
            ID,
            Level::Ok,
            format!(
                "{message}; you are root, who needs no sudo — for the admins who use it: {fix}"
            ),
        )
    } else if may_use_sudo() {
        Check::new(ID, Level::Warn, message).fix(fix)
    } else {
        Check::new(
            ID,
            Level::Ok,
            format!(
                "{message}; you are not in the sudo group, so this concerns other admins: {fix}"
            ),
        )
    }
}

/// sudo's `secure_path` from `/etc/sudoers` and `/etc/sudoers.d/*` (the
/// last setting wins), or Debian's default when they cannot be read; and
/// where it came from.
fn secure_path() -> (Option<String>, String) {
    let mut files = vec![PathBuf::from("/etc/sudoers")];
    if let Ok(entries) = fs::read_dir("/etc/sudoers.d") {
        let mut names: Vec<PathBuf> = entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            // sudo skips names with a dot or ending in `~`.
            .filter(|p| {
                p.file_name()
                    .and_then(OsStr::to_str)
                    .is_some_and(|n| !n.contains('.') && !n.ends_with('~'))
            })
            .collect();
        names.sort();
        files.extend(names);
    }
    let Ok(main) = crate::files::read_small("/etc/sudoers".as_ref()) else {
        return (
            Some(DEBIAN_SECURE_PATH.to_owned()),
            "Debian's default; /etc/sudoers is readable by root only".to_owned(),
        );
    };
    let mut found = None;
    for (i, file) in files.iter().enumerate() {
        let text = if i == 0 {
            main.clone()
        } else {
            crate::files::read_small(file).unwrap_or_default()
        };
        for line in text.lines() {
            let words: Vec<&str> = line.split_whitespace().collect();
            if words.first() != Some(&"Defaults") {
                continue;
            }
            let rest = line.trim_start().trim_start_matches("Defaults").trim();
            if let Some(value) = rest.strip_prefix("secure_path").map(str::trim_start)
                && let Some(value) = value.strip_prefix('=')
            {
                let value = value.trim().trim_matches('"').to_owned();
                found = Some((value, file.display().to_string()));
            }
        }
    }
    match found {
        Some((value, file)) => (Some(value), format!("from {file}")),
        None => (None, "/etc/sudoers".to_owned()),
    }
}

/// Whether this user is in a group that Debian's and Ubuntu's sudoers let
/// use sudo (`sudo`, `admin`, `wheel`).
fn may_use_sudo() -> bool {
    let Ok(groups) = nix::unistd::getgroups() else {
        return false;
    };
    groups.iter().any(|gid| {
        nix::unistd::Group::from_gid(*gid)
            .ok()
            .flatten()
            .is_some_and(|g| matches!(g.name.as_str(), "sudo" | "admin" | "wheel"))
    })
}

/// The crontab's Mastodon jobs reach tootguard with the PATH cron gives them.
pub fn cron(env: &Env, cwd: &Path) -> Check {
    const ID: &str = "cron";
    let path = env.get("PATH").unwrap_or_default();
    let Some(crontab) = resolve::first_on_path("crontab", &path, cwd) else {
        return Check::new(ID, Level::Ok, "no crontab command: cron is not installed");
    };
    let mut cmd = Command::new(crontab);
    cmd.arg("-l")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let text = match run_with_timeout(cmd, Duration::from_secs(5)) {
        Ok((status, stdout, _)) if status.success() => {
            String::from_utf8_lossy(&stdout).into_owned()
        }
        // `no crontab for <user>`: exit status 1.
        Ok(_) => return Check::new(ID, Level::Ok, "no crontab for this user"),
        Err(why) => {
            return Check::new(ID, Level::Warn, format!("`crontab -l` {why}"))
                .fix("Check the crontab by hand: `crontab -l`.");
        }
    };
    let me = match SelfId::current() {
        Ok(me) => me,
        Err(e) => return Check::new(ID, Level::Block, format!("{e:#}")),
    };
    let mut cron_path = CRON_DEFAULT_PATH.to_owned();
    let mut jobs = 0;
    let mut unguarded = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some(value) = line
            .strip_prefix("PATH")
            .map(str::trim_start)
            .and_then(|l| l.strip_prefix('='))
        {
            cron_path = value
                .trim()
                .trim_matches(|c| c == '"' || c == '\'')
                .to_owned();
            continue;
        }
        let Some(shim) = job_shim(line) else {
            continue;
        };
        jobs += 1;
        let reached = resolve::first_on_path(shim.name(), OsStr::new(&cron_path), Path::new("/"));
        if !reached.as_deref().is_some_and(|p| me.is(p)) {
            unguarded.push(format!("line {} (`{}`)", n + 1, shim.name()));
        }
    }
    if jobs == 0 {
        return Check::new(ID, Level::Ok, "no Mastodon command in this user's crontab");
    }
    if unguarded.is_empty() {
        return Check::new(
            ID,
            Level::Ok,
            format!("the crontab's {jobs} Mastodon job(s) reach tootguard (PATH={cron_path})"),
        );
    }
    let dir = std::env::split_paths(&path)
        .find(|dir| !dir.as_os_str().is_empty() && me.is(&dir.join("tootctl")))
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".local/bin")))
        .unwrap_or_else(|| PathBuf::from(install::SYSTEM_DIR));
    Check::new(
        ID,
        Level::Warn,
        format!(
            "crontab jobs run with PATH={cron_path}, which does not reach tootguard for {}",
            unguarded.join(", ")
        ),
    )
    .fix(format!(
        "Put `PATH={}:{CRON_DEFAULT_PATH}` above the jobs in the crontab (`crontab -e`).",
        dir.display()
    ))
}

/// The shim a crontab job's command reaches first, when it runs one of
/// Mastodon's commands: `bundle exec …` → bundle, a `…/bin/tootctl` path
/// → ruby (its `#!/usr/bin/env ruby` line), `tootctl` → itself.
fn job_shim(line: &str) -> Option<Shim> {
    // Five time fields, or one `@reboot`-style word, before the command.
    let fields = if line.starts_with('@') { 1 } else { 5 };
    let command: Vec<&str> = line.split_whitespace().skip(fields).collect();
    // Each command of a list (`cd ~/live && bin/tootctl …`).
    command
        .split(|w| matches!(*w, "&&" | "||" | ";" | "|"))
        .find_map(|words| {
            let mut words = words
                .iter()
                .skip_while(|w| w.contains('=') && !w.starts_with('/'));
            let first = words.next()?;
            let name = Path::new(first).file_name()?;
            if let Some(tool) = Tool::from_name(name) {
                return Some(if first.contains('/') {
                    Shim::Ruby
                } else {
                    Shim::Tool(tool)
                });
            }
            (name == "bundle" && words.next().is_some_and(|w| *w == "exec")).then_some(Shim::Bundle)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crontab_jobs_are_read_as_the_shim_they_reach_first() {
        for (line, shim) in [
            (
                "0 4 * * * RAILS_ENV=production /home/mastodon/live/bin/tootctl media remove",
                Some(Shim::Ruby),
            ),
            (
                "@daily tootctl preview_cards remove",
                Some(Shim::Tool(Tool::Tootctl)),
            ),
            (
                "*/5 * * * * cd /home/mastodon/live && bundle exec rake x",
                Some(Shim::Bundle),
            ),
            (
                "*/5 * * * * cd /home/mastodon/live && RAILS_ENV=production bin/tootctl x",
                Some(Shim::Ruby),
            ),
            (
                "15 3 * * 0 bundle exec rails db:migrate",
                Some(Shim::Bundle),
            ),
            ("15 3 * * 0 /usr/bin/backup.sh", None),
            ("15 3 * * 0 bin/rails runner x", Some(Shim::Ruby)),
        ] {
            assert_eq!(job_shim(line), shim, "{line}");
        }
    }
}
