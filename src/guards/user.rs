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
    for_root(inv.root.as_ref()?, &inv.env)
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
        return Some(Verdict::new(
            ID,
            Level::Ok,
            "running as the owner of the install",
        ));
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
                root.dir.display()
            ),
        ));
    };
    let groups = CString::new(user.name.clone())
        .ok()
        .and_then(|name| nix::unistd::getgrouplist(&name, user.gid).ok())
        .unwrap_or_else(|| vec![user.gid]);
    let mut verdict = Verdict::new(
        ID,
        Level::Notice,
        format!(
            "running as {} (the owner of {}), not as root",
            user.name,
            root.dir.display()
        ),
    )
    .change(Change::RunAs(RunAs {
        name: user.name.clone(),
        uid: user.uid,
        gid: user.gid,
        groups,
    }))
    .change(Change::SetEnv("HOME", user.dir.clone().into()))
    .change(Change::SetEnv("USER", user.name.clone().into()))
    .change(Change::SetEnv("LOGNAME", user.name.clone().into()));
    let shims = user.dir.join(".rbenv/shims");
    if shims.is_dir() {
        verdict = verdict.change(Change::SetEnv("PATH", prepend(&shims, env)));
    }
    Some(verdict)
}

fn prepend(dir: &Path, env: &Env) -> OsString {
    let mut path = OsString::from(dir.as_os_str());
    if let Some(old) = env.get("PATH").filter(|p| !p.is_empty()) {
        path.push(":");
        path.push(old);
    }
    path
}
