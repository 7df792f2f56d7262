//! The backup directory: where it is (never inside the install), that it
//! and every directory on the way to it are private to this user, that its
//! filesystem has room, and the private files written in it.

use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use super::{DIR_VARIABLE, Error, Options, human};
use crate::environment::Env;
use crate::quote::word as quote;
use crate::site::Site;

/// The directory in the home of the user taking the backup, when neither
/// `--dir` nor `TOOTGUARD_BACKUP_DIR` names one.
const DEFAULT_DIR: &str = "tootguard-backups";
/// Room kept free beyond the database's size.
const MARGIN: u64 = 64 * 1024 * 1024;

/// `dir/name` (0700), made new: a second backup in the same second gets
/// `name-2` when the name was tootguard's choice.
pub(super) fn make_backup_dir(dir: &Path, name: &str, numbered: bool) -> Result<PathBuf, Error> {
    for n in 1..=99 {
        let backup = if n == 1 {
            dir.join(name)
        } else {
            dir.join(format!("{name}-{n}"))
        };
        match std::fs::DirBuilder::new().mode(0o700).create(&backup) {
            Ok(()) => return Ok(backup),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && numbered => continue,
            Err(e) => return Err(format!("cannot create {}: {e}", backup.display())),
        }
    }
    Err(format!(
        "cannot find a free name for a backup in {}",
        dir.display()
    ))
}

/// `--dir`, else `TOOTGUARD_BACKUP_DIR` (environment or `.env*`), else
/// `~/tootguard-backups` of the user taking it; never inside the install.
pub(super) fn backup_dir(
    site: &Site,
    env: &Env,
    cwd: &Path,
    options: &Options,
) -> Result<PathBuf, Error> {
    let given = match &options.dir {
        Some(dir) => Some(dir.clone()),
        None => site
            .setting(DIR_VARIABLE)?
            .map(|(v, _)| v)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from),
    };
    let dir = match given {
        Some(dir) if dir.is_absolute() => dir,
        Some(dir) => cwd.join(dir),
        None => {
            let home = env
                .get("HOME")
                .map(PathBuf::from)
                .filter(|d| d.is_absolute())
                .or_else(|| {
                    nix::unistd::User::from_uid(nix::unistd::Uid::effective())
                        .ok()
                        .flatten()
                        .map(|u| u.dir)
                        .filter(|d| d.is_absolute())
                })
                .ok_or_else(|| {
                    format!(
                        "this user has no home directory to keep backups in; give one with \
                         --dir or {DIR_VARIABLE}."
                    )
                })?;
            home.join(DEFAULT_DIR)
        }
    };
    let dir = normalize(&dir);
    let root = root_canonical(&site.cwd);
    if dir.starts_with(&root) {
        return Err(format!(
            "{} is inside the Mastodon checkout {}: a backup there can be served to the web \
             (public/), removed by `git clean`, or lost with the checkout. Give a directory \
             outside it (--dir or {DIR_VARIABLE}).",
            dir.display(),
            root.display()
        ));
    }
    Ok(dir)
}

fn root_canonical(root: &Path) -> PathBuf {
    root.canonicalize().unwrap_or_else(|_| root.to_path_buf())
}

/// `dir` without `.` and `..` parts, and through the links of the part
/// that exists (so "inside the checkout" is judged on real paths).
fn normalize(dir: &Path) -> PathBuf {
    let mut existing = dir.to_path_buf();
    let mut rest = Vec::new();
    while !existing.exists() {
        match (existing.file_name(), existing.parent()) {
            (Some(name), Some(parent)) => {
                rest.push(name.to_owned());
                existing = parent.to_path_buf();
            }
            _ => break,
        }
    }
    let mut out = existing.canonicalize().unwrap_or(existing);
    for part in rest.into_iter().rev() {
        if part == ".." {
            out.pop();
        } else if part != "." {
            out.push(part);
        }
    }
    out
}

/// Refuses, before writing anything, when `dir`'s filesystem has less
/// room than the database's size plus a margin. A custom-format dump is
/// compressed and usually much smaller; how much smaller cannot be known
/// before it is made, so the size itself is the bound.
pub(super) fn check_space(dir: &Path, size: u64) -> Result<(), Error> {
    let existing = dir
        .ancestors()
        .find(|d| d.exists())
        .unwrap_or(Path::new("/"));
    let stat = nix::sys::statvfs::statvfs(existing)
        .map_err(|e| format!("cannot read the free space of {}: {e}", existing.display()))?;
    let free = stat.blocks_available() as u64 * stat.fragment_size() as u64;
    let need = size.saturating_add(MARGIN);
    if free < need {
        return Err(format!(
            "not enough room for the backup: {} has {} free, and the database is {} (a backup \
             needs its size plus {} to be sure it fits). Nothing was written. Free some space, \
             or back up to a larger filesystem with --dir (or {DIR_VARIABLE}).",
            existing.display(),
            human(free),
            human(size),
            human(MARGIN)
        ));
    }
    Ok(())
}

/// Creates `dir` (0700) when missing; an existing one must be this user's
/// (or root's) and writable by no one else, since a backup holds every
/// secret of the install.
pub(super) fn make_private_dir(dir: &Path) -> Result<(), Error> {
    trusted_path(dir)?;
    if !dir.exists() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    let meta = std::fs::metadata(dir).map_err(|e| format!("cannot read {}: {e}", dir.display()))?;
    if !meta.is_dir() {
        return Err(format!("{} is not a directory.", dir.display()));
    }
    let me = nix::unistd::Uid::effective().as_raw();
    if meta.uid() != me && meta.uid() != 0 {
        return Err(format!(
            "{} belongs to uid {}, not to you: a backup holds every secret of the install. \
             Use a directory of your own with --dir (or {DIR_VARIABLE}).",
            dir.display(),
            meta.uid()
        ));
    }
    if meta.mode() & 0o022 != 0 {
        return Err(format!(
            "{} (mode {:o}) can be written by others than you: a backup holds every secret \
             of the install. `chmod go-w {}`, or use another directory with --dir.",
            dir.display(),
            meta.mode() & 0o7777,
            quote(dir.as_os_str())
        ));
    }
    Ok(())
}

/// Every existing directory on the way to `dir`, and `dir` itself, is no
/// link and is writable by no one but root and this user: otherwise
/// someone else could swap a part of the path between the checks and the
/// writes (and root would write, or remove, where they point).
fn trusted_path(dir: &Path) -> Result<(), Error> {
    let me = nix::unistd::Uid::effective().as_raw();
    let mut at = PathBuf::from("/");
    for part in dir.components().skip(1) {
        at.push(part);
        let meta = match std::fs::symlink_metadata(&at) {
            Ok(meta) => meta,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(format!("cannot read {}: {e}", at.display())),
        };
        if meta.file_type().is_symlink() {
            return Err(format!(
                "{} is a symbolic link: the backup directory must be named by its real path \
                 ({}), so that no one can point it elsewhere. Give that path with --dir.",
                at.display(),
                at.canonicalize()
                    .map_or_else(|_| "unknown".into(), |p| p.display().to_string())
            ));
        }
        let owner_ok = meta.uid() == me || meta.uid() == 0;
        let writable_by_others = meta.mode() & 0o022 != 0;
        // A sticky directory of root's (/tmp) on the way: others cannot
        // rename or remove what is ours in it.
        let sticky_root = meta.mode() & 0o1000 != 0 && meta.uid() == 0 && at != dir;
        if !owner_ok || (writable_by_others && !sticky_root) {
            return Err(format!(
                "{} (mode {:o}, uid {}) is on the way to the backup directory and can be \
                 changed by others than root and you: they could swap it for a link while the \
                 backup is written. Use a directory whose every part is yours or root's, not \
                 writable by others (for example ~/tootguard-backups), with --dir.",
                at.display(),
                meta.mode() & 0o7777,
                meta.uid()
            ));
        }
    }
    Ok(())
}

pub(super) fn write_private(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(nix::libc::O_NOFOLLOW)
        .open(path)
        .map_err(|e| format!("cannot create {}: {e}", path.display()))?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .map_err(|e| format!("cannot write {}: {e}", path.display()))
}
