//! Never run Mastodon's commands as root when the install belongs to a user.
//!
//! Files a root run creates (under `public/system`, `tmp/cache`) belong to
//! root and break the mastodon user's later runs with `Errno::EACCES`; the
//! NixOS packaging's tootctl wrapper re-runs itself as the mastodon user for
//! this reason. So, as root on an install owned by another user, the program
//! runs as that user — supplementary groups, then gid, then uid dropped in
//! that order in the child just before exec — with `HOME`, `USER` and
//! `LOGNAME` from the password database and the user's `~/.rbenv/shims`
//! first on PATH (the `#!/usr/bin/env ruby` scripts need their `ruby`).
//! `TOOTGUARD_ALLOW_ROOT=1` keeps root, with a warning. An install owned by
//! root (containers) runs as is; another non-root user gets a warning.

use std::ffi::{CString, OsString};
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use nix::unistd::{Gid, Uid, User};

use super::{Change, Level, Verdict};
use crate::invocation::Invocation;
use crate::resolve::Root;
use crate::settings::{self, Env};

pub const ID: &str = "user";

/// Who the program runs as, when not as the invoking user.
#[derive(Debug, Clone, PartialEq)]
pub struct RunAs {
    pub name: String,
    pub uid: Uid,
    pub gid: Gid,
    pub groups: Vec<Gid>,
}

impl RunAs {
    /// `user`, with the groups the password and group databases give it.
    pub fn from_user(user: &User) -> RunAs {
        let groups = CString::new(user.name.clone())
            .ok()
            .and_then(|name| nix::unistd::getgrouplist(&name, user.gid).ok())
            .unwrap_or_else(|| vec![user.gid]);
        RunAs {
            name: user.name.clone(),
            uid: user.uid,
            gid: user.gid,
            groups,
        }
    }

    /// Drops privileges in this process: groups, then gid, then uid (after
    /// setuid the others are no longer allowed). Called in the child between
    /// fork and exec, or in the shim right before exec.
    pub fn drop_privileges(&self) -> std::io::Result<()> {
        nix::unistd::setgroups(&self.groups)?;
        nix::unistd::setgid(self.gid)?;
        nix::unistd::setuid(self.uid)?;
        Ok(())
    }
}

pub fn check(inv: &Invocation) -> Option<Verdict> {
    let verdict = for_root(inv.root.as_ref()?, &inv.env)?;
    Some(match handed(&verdict).cloned() {
        Some(user) if inv.tool == crate::invocation::Tool::Tootctl => {
            unreadable_arguments(inv, &user, verdict)
        }
        _ => verdict,
    })
}

/// The user a verdict hands the command to, if it does.
fn handed(verdict: &Verdict) -> Option<&RunAs> {
    verdict.changes.iter().find_map(|c| match c {
        Change::RunAs(user) => Some(user),
        _ => None,
    })
}

/// `tootctl emoji import ./pack.tar.gz` typed by root in a directory only
/// root can read: once the command runs as the install's owner, the owner
/// cannot open the file. Say so before Rails boots to fail on it.
fn unreadable_arguments(inv: &Invocation, user: &RunAs, verdict: Verdict) -> Verdict {
    let reader = crate::config::Reader {
        name: user.name.clone(),
        uid: user.uid.as_raw(),
        gids: user.groups.iter().map(|g| g.as_raw()).collect(),
    };
    let blocked: Vec<std::path::PathBuf> = inv
        .args
        .iter()
        // `./pack.tar.gz` shown as the path it is.
        .map(|arg| {
            inv.cwd
                .join(arg)
                .components()
                .collect::<std::path::PathBuf>()
        })
        .filter(|path| std::fs::metadata(path).is_ok_and(|m| m.is_file()))
        .filter(|path| !reader.can_reach(path))
        .collect();
    if blocked.is_empty() {
        return verdict;
    }
    let shown: Vec<String> = blocked.iter().map(|p| p.display().to_string()).collect();
    let quoted: Vec<String> = blocked
        .iter()
        .map(|p| crate::quote::word(p.as_os_str()))
        .collect();
    let home = crate::quote::word(
        User::from_uid(user.uid)
            .ok()
            .flatten()
            .map_or_else(std::path::PathBuf::new, |u| u.dir)
            .as_os_str(),
    );
    Verdict {
        level: Level::Warn,
        message: format!(
            "{}; {} cannot read {} (it or a directory above it is closed to them), so \
             tootctl will fail to open it.",
            verdict.message,
            user.name,
            shown.join(", ")
        ),
        fix: Some(format!(
            "Put it where {name} can read it, for example `install -o {name} -m 600 {} {home}/`, \
             and give that path instead.",
            quoted.join(" "),
            name = user.name,
        )),
        ..verdict
    }
}

/// The verdict for running anything of `root`'s as this process's user.
pub fn for_root(root: &Root, env: &Env) -> Option<Verdict> {
    let owner = std::fs::metadata(&root.dir).ok()?.uid();
    let me = Uid::effective();
    if me.is_root() && owner == 0 {
        return Some(Verdict::new(
            ID,
            Level::Ok,
            "running as root on an install that belongs to root (a container?)",
        ));
    }
    if me.as_raw() == owner {
        let verdict = Verdict::new(ID, Level::Ok, "running as the owner of the install");
        // The owner's own cron job or `env -i` run gets the owner's Ruby,
        // as a run that root hands over does.
        let home = User::from_uid(me).ok().flatten().map(|u| u.dir);
        return Some(match home.and_then(|home| owner_path(&home, env)) {
            Some(path) => verdict.change(Change::SetEnv("PATH", path)),
            None => verdict,
        });
    }
    let owner_name = User::from_uid(Uid::from_raw(owner)).ok().flatten();
    let shown = owner_name
        .as_ref()
        .map_or_else(|| format!("uid {owner}"), |u| u.name.clone());
    if !me.is_root() {
        let who = User::from_uid(me)
            .ok()
            .flatten()
            .map_or_else(|| format!("uid {me}"), |u| u.name);
        return Some(
            Verdict::new(
                ID,
                Level::Warn,
                format!(
                    "you are {who}, but {} belongs to {shown}: files this command creates will \
                     belong to {who}, and may break {shown}'s later runs.",
                    root.dir.display()
                ),
            )
            .fix(format!(
                "Run it as {shown}: `sudo -iu {shown}`, then the command again."
            )),
        );
    }
    if settings::allow_root(env) {
        return Some(
            Verdict::new(
                ID,
                Level::Warn,
                format!(
                    "running as root (TOOTGUARD_ALLOW_ROOT=1) although {} belongs to {shown}: \
                     files it creates (public/system, tmp/cache) will belong to root and break \
                     {shown}'s later runs with Errno::EACCES.",
                    root.dir.display()
                ),
            )
            .fix(format!(
                "Run it as {shown} (`su - {shown}`), or unset TOOTGUARD_ALLOW_ROOT."
            )),
        );
    }
    let Some(user) = owner_name else {
        return Some(Verdict::new(
            ID,
            Level::Block,
            format!(
                "{} belongs to uid {owner}, which has no entry in the password database, so \
                 tootguard cannot run the command as the install's owner, and will not run it \
                 as root. Fix the ownership (`chown -R mastodon:mastodon {}`), or set \
                 TOOTGUARD_ALLOW_ROOT=1 to run as root anyway.",
                root.dir.display(),
                crate::quote::word(root.dir.as_os_str())
            ),
        ));
    };
    let mut verdict = Verdict::new(
        ID,
        Level::Notice,
        format!(
            "running as {} (the owner of {}), not as root",
            user.name,
            root.dir.display()
        ),
    )
    .change(Change::RunAs(RunAs::from_user(&user)))
    .change(Change::SetEnv("HOME", user.dir.clone().into()))
    .change(Change::SetEnv("USER", user.name.clone().into()))
    .change(Change::SetEnv("LOGNAME", user.name.clone().into()));
    if let Some(path) = owner_path(&user.dir, env) {
        verdict = verdict.change(Change::SetEnv("PATH", path));
    }
    Some(verdict)
}

/// Debian's PATH for a login without one (`/etc/profile`, sudo's
/// `secure_path`): what a command started with no PATH at all gets.
const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// The PATH a command of the install's owner needs, when it is not the one
/// it has: the owner's `~/.rbenv/shims` first when that exists and is not
/// on PATH yet (Mastodon's scripts run `/usr/bin/env ruby`, and its docs
/// install Ruby with rbenv), and a usable PATH when there is none at all.
fn owner_path(home: &Path, env: &Env) -> Option<OsString> {
    let shims = home.join(".rbenv/shims");
    let path = env.get("PATH").filter(|p| !p.is_empty());
    let has_shims = path
        .as_ref()
        .is_some_and(|p| std::env::split_paths(p).any(|d| d == shims));
    let add_shims = shims.is_dir() && !has_shims;
    if !add_shims && path.is_some() {
        return None;
    }
    let mut new = OsString::new();
    if add_shims {
        new.push(shims.as_os_str());
        new.push(":");
    }
    new.push(path.unwrap_or_else(|| DEFAULT_PATH.into()));
    Some(new)
}

/// The user root hands a command on `root` to, when it does: the owner of
/// an install that root does not own (unless `TOOTGUARD_ALLOW_ROOT=1`).
pub fn handed_to(root: &Root, env: &Env) -> Option<RunAs> {
    let verdict = for_root(root, env)?;
    verdict.changes.into_iter().find_map(|c| match c {
        Change::RunAs(user) => Some(user),
        _ => None,
    })
}
