//! The install itself: where it is (`root`), which release it is
//! (`version`) and who should run its commands (`user`). The other checks
//! read the install these find.

use std::fs;
use std::path::Path;

use super::{Check, from_verdict};
use crate::guards::{self, Level};
use crate::invocation::Tool;
use crate::resolve::Root;
use crate::settings::Env;
use crate::site::Site;

/// The name of the user who owns the install, for a fix that says whom to
/// run a command as; `None` when that is this user (or cannot be told).
pub fn owner_name(root: &Path) -> Option<String> {
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

pub fn root_check(base: &anyhow::Result<Site>) -> Check {
    const ID: &str = "root";
    let site = match base {
        Ok(site) => site,
        Err(e) => {
            return Check::new(ID, Level::Block, format!("{e:#}")).fix(
                "Unset MASTODON_ROOT, or set it to the Mastodon directory (usually \
                 /home/mastodon/live).",
            );
        }
    };
    if let Some(root) = &site.root
        && let Err(untrusted) = crate::resolve::untrusted(root, Tool::Tootctl, &site.env)
    {
        return Check::new(ID, Level::Block, untrusted.message).fix(untrusted.fix);
    }
    match &site.root {
        Some(Root {
            dir,
            production: true,
            found_by,
        }) => Check::new(
            ID,
            Level::Ok,
            format!(
                "Mastodon production install at {} (found by {found_by})",
                dir.display()
            ),
        ),
        Some(root) => Check::new(
            ID,
            Level::Warn,
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
            Level::Block,
            format!(
                "found no Mastodon install: MASTODON_ROOT is unset, none in {} or its \
                 parents (a directory with bin/tootctl and config/application.rb), no \
                 ~mastodon/live",
                site.cwd.display()
            ),
        )
        .fix("`cd /home/mastodon/live` (or wherever Mastodon lives), or set MASTODON_ROOT to it."),
    }
}

/// The version the install is on, from `lib/mastodon/version.rb`.
pub fn version(root: &Path) -> Check {
    const ID: &str = "version";
    let file = root.join("lib/mastodon/version.rb");
    let fix = "Check that the checkout is complete: `git status` in the install, and \
               `git checkout vX.Y.Z` of the release you mean to run.";
    match crate::files::read_small(&file) {
        Err(e) => Check::new(
            ID,
            Level::Warn,
            format!(
                "cannot tell the version: cannot read {} ({e})",
                file.display()
            ),
        )
        .fix(fix),
        Ok(text) => match crate::release::parse_version_rb(&text) {
            Some(v) => Check::new(
                ID,
                Level::Ok,
                format!("Mastodon {v} (lib/mastodon/version.rb)"),
            ),
            None => Check::new(
                ID,
                Level::Warn,
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
pub fn user(root: &Root, env: &Env) -> (Check, Env) {
    const ID: &str = "user";
    let mut owner_env = env.clone();
    let Some(verdict) = guards::user::for_root(root, env) else {
        return (
            Check::new(
                ID,
                Level::Warn,
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
            Level::Warn,
            format!(
                "you are root; tootguard runs Mastodon's commands as {owner}, the owner of {}",
                root.dir.display()
            ),
        )
        .fix(format!(
            "Work as the owner: `su - {owner}` (anything run as root without tootguard \
             leaves root-owned files that break {owner}'s runs with Errno::EACCES)."
        )),
        _ => from_verdict(ID, verdict),
    };
    (check, owner_env)
}
