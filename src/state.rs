//! tootguard's record of an install's upgrades: what ran after the last
//! finished one, and how far the latest one got (from, to, steps done, the
//! backup taken). `upgrade` resumes from it after an interruption and
//! names its backup when a migration fails; doctor's `upgrade-path` row
//! takes the running version from it.
//!
//! It lives in the install owner's home (`~/.local/state/tootguard/`), not
//! in the git checkout (where `git clean` or a checkout could lose it), and
//! belongs to the owner. Root, running `upgrade` on an install another user
//! owns, reads and writes it as that user (effective ids switched for the
//! moment): a root process writing by path into a directory another user
//! controls could be led by a symlink anywhere.

use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use nix::unistd::{Gid, Uid, User};

use crate::release::Release;

/// The record for one install.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct State {
    pub root: PathBuf,
    /// What runs since the last finished upgrade.
    pub running: Option<Release>,
    /// The latest upgrade, finished or not.
    pub upgrade: Option<Upgrade>,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Upgrade {
    /// What ran before it, when known.
    pub from: Option<Release>,
    pub to: Release,
    /// Seconds since the epoch.
    pub started: u64,
    /// The steps that finished, by name, in order.
    pub done: Vec<String>,
    /// The backup taken for it: the directory `tootguard backup` made.
    pub backup: Option<PathBuf>,
    pub finished: bool,
}

impl State {
    /// The record for `root`; an empty one when there is none yet.
    pub fn load(root: &Path) -> Result<State, String> {
        let owner = AsOwner::of(root)?;
        let file = file_for(root, &owner)?;
        // Regular files only, bounded, never blocking (the owner could put
        // a FIFO there for root's doctor to hang on).
        let text = match crate::files::read_small(&file) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(State {
                    root: root.to_path_buf(),
                    ..State::default()
                });
            }
            Err(e) => return Err(format!("cannot read {}: {e}", file.display())),
        };
        let state: State = serde_json::from_str(&text).map_err(|e| {
            format!(
                "{} is not a record tootguard can read ({e}). Move it aside; tootguard starts \
                 a new one.",
                file.display()
            )
        })?;
        if state.root != root {
            return Err(format!(
                "{} records {}, not {}. Move it aside; tootguard starts a new one.",
                file.display(),
                state.root.display(),
                root.display()
            ));
        }
        Ok(state)
    }

    /// Writes the record (a new file renamed over the old one, mode 0600).
    pub fn save(&self) -> Result<(), String> {
        let owner = AsOwner::of(&self.root)?;
        let file = file_for(&self.root, &owner)?;
        let dir = file.parent().expect("a file in a directory");
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        let text = serde_json::to_string_pretty(self).expect("a record serialises");
        let temp = dir.join(format!(
            ".{}.{}",
            file.file_name().unwrap_or_default().to_string_lossy(),
            std::process::id()
        ));
        let write = || -> std::io::Result<()> {
            let mut out = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .custom_flags(nix::libc::O_NOFOLLOW)
                .open(&temp)?;
            out.write_all(text.as_bytes())?;
            out.write_all(b"\n")?;
            out.sync_all()?;
            std::fs::rename(&temp, &file)
        };
        write().map_err(|e| {
            let _ = std::fs::remove_file(&temp);
            format!("cannot write {}: {e}", file.display())
        })
    }
}

/// `~/.local/state/tootguard/upgrade-home-mastodon-live.json`, in the home
/// of the user acting: `HOME`, or for root acting as the owner, the owner's.
fn file_for(root: &Path, owner: &AsOwner) -> Result<PathBuf, String> {
    let home = match std::env::var_os("HOME").map(PathBuf::from) {
        Some(home) if owner.restore.is_none() && home.is_absolute() => home,
        _ => home_of(Uid::effective())?,
    };
    let slug: String = root
        .to_string_lossy()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    Ok(home
        .join(".local/state/tootguard")
        .join(format!("upgrade-{}.json", slug.trim_matches('-'))))
}

fn home_of(uid: Uid) -> Result<PathBuf, String> {
    User::from_uid(uid)
        .ok()
        .flatten()
        .map(|u| u.dir)
        .filter(|d| d.is_absolute())
        .ok_or_else(|| format!("uid {uid} has no home directory in the password database"))
}

/// While it lives, this process's effective ids are the install owner's
/// (when it runs as root on an install another user owns).
struct AsOwner {
    restore: Option<(Gid, Vec<Gid>)>,
}

impl AsOwner {
    fn of(root: &Path) -> Result<AsOwner, String> {
        let owner = std::fs::metadata(root)
            .map_err(|e| format!("cannot read {}: {e}", root.display()))?
            .uid();
        if !Uid::effective().is_root() || owner == 0 {
            return Ok(AsOwner { restore: None });
        }
        let user = User::from_uid(Uid::from_raw(owner))
            .ok()
            .flatten()
            .ok_or_else(|| {
                format!(
                    "{} belongs to uid {owner}, which has no user entry",
                    root.display()
                )
            })?;
        let groups = crate::guards::user::RunAs::from_user(&user).groups;
        let saved = (
            Gid::effective(),
            nix::unistd::getgroups()
                .map_err(|e| format!("cannot read this process's groups: {e}"))?,
        );
        let switch = || -> nix::Result<()> {
            nix::unistd::setgroups(&groups)?;
            nix::unistd::setegid(user.gid)?;
            nix::unistd::seteuid(user.uid)
        };
        let guard = AsOwner {
            restore: Some(saved),
        };
        switch().map_err(|e| format!("cannot act as {}: {e}", user.name))?;
        Ok(guard)
    }
}

impl Drop for AsOwner {
    fn drop(&mut self) {
        if let Some((gid, groups)) = self.restore.take() {
            // Back to root first: only root may set the groups again.
            let _ = nix::unistd::seteuid(Uid::from_raw(0));
            let _ = nix::unistd::setegid(gid);
            let _ = nix::unistd::setgroups(&groups);
        }
    }
}
