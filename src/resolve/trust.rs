//! Whether an install may be run at all.
//!
//! Nobody but root and the install's owner may be able to write the
//! install's directory, any directory above it, its `bin/`, or the program
//! run from it — the checks sudo makes of its sudoers files and OpenSSH's
//! StrictModes of a home directory. Otherwise anyone could have planted it:
//! a user who makes `/tmp/x/bin/tootctl` and `/tmp/x/config/application.rb`
//! would have root, standing in `/tmp/x/dl`, run their program — where
//! without tootguard root would have got "command not found". The owner of
//! the program must be root or the install's owner too. A world-writable
//! directory with the sticky bit (`/tmp`) is no exception: anyone may
//! create an install in it.

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use super::Root;
use crate::exit::{BLOCKED, Failure};
use crate::invocation::Tool;

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

/// Ok when nobody but root and the owner of `root` can change what `tool`
/// would run from it; otherwise the problem, naming the path and why, and
/// the fix.
pub fn untrusted(root: &Root, tool: Tool) -> Result<(), Untrusted> {
    let program = root.dir.join("bin").join(tool.name());
    let Ok(meta) = fs::metadata(&root.dir) else {
        // Gone since it was found: the program lookup reports that.
        return Ok(());
    };
    let owner = meta.uid();
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
            let Ok(mut meta) = fs::symlink_metadata(p) else {
                continue;
            };
            if meta.file_type().is_symlink() {
                // Judge the link's target where it really lives, too.
                if let Ok(real) = fs::canonicalize(p) {
                    pending.push(real);
                }
                match fs::metadata(p) {
                    Ok(target) => meta = target,
                    Err(_) => continue,
                }
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
                return Err(refusal(root, &program, p, &problem, owner, &meta));
            }
        }
    }
    Ok(())
}

fn refusal(
    root: &Root,
    program: &Path,
    path: &Path,
    problem: &str,
    owner: u32,
    meta: &fs::Metadata,
) -> Untrusted {
    let quoted = crate::quote::word(path.as_os_str());
    let fix = if meta.uid() != 0 && meta.uid() != owner {
        format!("`chown {} {quoted}`", user_name(owner))
    } else {
        format!("`chmod go-w {quoted}`")
    };
    Untrusted {
        message: format!(
            "tootguard will not run {}: {} {problem}, so someone other than root and {} (the \
             owner of the install at {}, found by {}) could have put it there.",
            program.display(),
            path.display(),
            user_name(owner),
            root.dir.display(),
            root.found_by
        ),
        fix: format!(
            "If this is not your Mastodon install, run the command from the real one (usually \
             `cd /home/mastodon/live`). If it is, let only root and its owner write it: {fix}."
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
