//! Whether an install may be run at all.
//!
//! Two rules, because anyone can make a directory that looks like a
//! Mastodon install (`bin/tootctl` and `config/application.rb`):
//!
//! - **Nobody else can have changed it.** Nobody but root and the
//!   install's owner may be able to write the install's directory, any
//!   directory above it, its `bin/`, the program, or — where a symlink is
//!   on the way — the directory of each link and of its target, hop by
//!   hop: the checks sudo makes of its sudoers files and OpenSSH's
//!   StrictModes of a home directory. A world-writable directory with the
//!   sticky bit (`/tmp`) is no exception: anyone may create an install, or
//!   a link, in it. Every directory on the way being trusted, nobody else
//!   can swap a link between this check and the exec either.
//! - **It is somebody's you mean.** An install found without being named
//!   (from the working directory, a script's path, Bundler's Gemfile) must
//!   belong to root, to you, or to the owner of the default install
//!   (`~mastodon/live`): otherwise root standing in another user's
//!   directory would run that user's program (as that user, with root's
//!   terminal) where without tootguard it would have got "command not
//!   found". `MASTODON_ROOT` names an install on purpose.

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use super::Root;
use crate::exit::{BLOCKED, Failure};
use crate::invocation::Tool;
use crate::quote::word;
use crate::settings::Env;

/// Why an install is not trusted, and what to do about it.
#[derive(Debug)]
pub struct Untrusted {
    pub message: String,
    pub fix: String,
}

impl Untrusted {
    /// The refusal as an error ending the shim with status 3.
    pub fn into_error(self) -> anyhow::Error {
        Failure::error(BLOCKED, format!("{} {}", self.message, self.fix))
    }
}

/// Ok when `root` is one the user means and nobody but root and its owner
/// can change what `tool` would run from it; otherwise the problem, naming
/// the path and why, and the fix.
pub fn untrusted(root: &Root, tool: Tool, env: &Env) -> Result<(), Untrusted> {
    let program = root.dir.join("bin").join(tool.name());
    let Ok(meta) = fs::metadata(&root.dir) else {
        // Gone since it was found: the program lookup reports that.
        return Ok(());
    };
    let owner = meta.uid();
    if !owner_is_meant(root, owner, env) {
        return Err(Untrusted {
            message: format!(
                "tootguard will not run {}: the install at {} (found by {}) belongs to {}, who \
                 is neither root, nor you, nor the owner of the default Mastodon install, and \
                 anyone can make a directory that looks like one.",
                program.display(),
                root.dir.display(),
                root.found_by,
                user_name(owner)
            ),
            fix: format!(
                "If it is the install you mean, name it: `MASTODON_ROOT={}` before the command \
                 (or TOOTGUARD_DEFAULT_ROOT for good). Otherwise run the command from your \
                 Mastodon install (usually `cd /home/mastodon/live`).",
                word(root.dir.as_os_str())
            ),
        });
    }
    let inside = fs::canonicalize(&root.dir).unwrap_or_else(|_| root.dir.clone());
    // Each path once, each read once: this runs before every command.
    let mut seen: Vec<PathBuf> = Vec::new();
    let mut pending: Vec<PathBuf> = vec![program.clone(), root.dir.join("bin"), root.dir.clone()];
    while let Some(path) = pending.pop() {
        for p in path.ancestors() {
            if p.as_os_str().is_empty() || seen.iter().any(|known| known == p) {
                // Known, and so are all the directories above it.
                break;
            }
            seen.push(p.to_path_buf());
            let Ok(meta) = fs::symlink_metadata(p) else {
                continue;
            };
            if meta.file_type().is_symlink() {
                // Follow the link one hop: its target, and the directories
                // above that, are judged in turn (the link itself can only
                // be replaced by whoever may write the directory holding
                // it, which is judged as an ancestor of `p`).
                if let Ok(target) = fs::read_link(p) {
                    pending.push(p.parent().unwrap_or(Path::new("/")).join(target));
                }
                continue;
            }
            let problem = if meta.uid() != 0 && meta.uid() != owner {
                Some(format!("belongs to {}", user_name(meta.uid())))
            } else if meta.mode() & 0o022 != 0 {
                Some(format!(
                    "can be written by {} (mode {:o})",
                    match meta.mode() & 0o022 {
                        0o020 => "its group",
                        0o002 => "anyone",
                        _ => "its group and anyone",
                    },
                    meta.mode() & 0o7777
                ))
            } else {
                None
            };
            if let Some(problem) = problem {
                let in_install = fs::canonicalize(p).is_ok_and(|real| real.starts_with(&inside));
                return Err(refusal(
                    root, &program, p, &problem, owner, &meta, in_install,
                ));
            }
        }
    }
    Ok(())
}

/// Whether an install owned by `owner` is one the user means: named by
/// `MASTODON_ROOT` or as the default install, or found without a name
/// and owned by root, by this user, or by the default install's owner.
fn owner_is_meant(root: &Root, owner: u32, env: &Env) -> bool {
    let implicit = matches!(
        root.found_by,
        super::root::FOUND_BY_CWD | super::root::FOUND_BY_SCRIPT | super::root::FOUND_BY_GEMFILE
    );
    if !implicit || owner == 0 || owner == nix::unistd::geteuid().as_raw() {
        return true;
    }
    let same = |dir: &Path| {
        let real = |p: &Path| fs::canonicalize(p).ok();
        real(dir).is_some_and(|d| Some(d) == real(&root.dir))
    };
    if env
        .get("MASTODON_ROOT")
        .is_some_and(|named| !named.is_empty() && same(Path::new(&named)))
    {
        return true;
    }
    super::root::default_install(env)
        .and_then(|dir| fs::metadata(dir).ok())
        .is_some_and(|meta| meta.uid() == owner)
}

fn refusal(
    root: &Root,
    program: &Path,
    path: &Path,
    problem: &str,
    owner: u32,
    meta: &fs::Metadata,
    in_install: bool,
) -> Untrusted {
    let quoted = word(path.as_os_str());
    // A sticky world-writable directory (/tmp) is shared on purpose.
    let shared = meta.mode() & 0o1002 == 0o1002;
    let fix = if !in_install || shared {
        // /tmp, /srv, another user's home: not the admin's to chmod.
        format!(
            "If it is, move it — and anything its links point to — where only root and its \
             owner can write, not below {}.",
            path.display()
        )
    } else if meta.uid() != 0 && meta.uid() != owner {
        format!(
            "If it is, give it back to its owner: `chown {} {quoted}`.",
            user_name(owner)
        )
    } else {
        format!("If it is, let only root and its owner write it: `chmod go-w {quoted}`.")
    };
    let others = if owner == 0 {
        "someone other than root".to_owned()
    } else {
        format!("someone other than root and {}", user_name(owner))
    };
    Untrusted {
        message: format!(
            "tootguard will not run {}: {} {problem}, so {others} could have put it there (the \
             install at {}, found by {}, belongs to {}).",
            program.display(),
            path.display(),
            root.dir.display(),
            root.found_by,
            user_name(owner)
        ),
        fix: format!(
            "If this is not your Mastodon install, run the command from the real one (usually \
             `cd /home/mastodon/live`). {fix}"
        ),
    }
}

/// `mastodon`, or `uid 1234` for a uid without a name.
fn user_name(uid: u32) -> String {
    nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(uid))
        .ok()
        .flatten()
        .map_or_else(|| format!("uid {uid}"), |u| u.name)
}
