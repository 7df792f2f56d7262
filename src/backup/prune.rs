//! `--keep`: older backups of the same install and database go, and
//! nothing else does (not the one an unfinished upgrade would restore).

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use super::Manifest;

/// Removes older backups of the same database in `dir` beyond `keep`
/// (counting the one just made): only directories holding a manifest
/// tootguard wrote for this install and database.
pub(super) fn prune(
    dir: &Path,
    just_made: &Path,
    manifest: &Manifest,
    keep: usize,
    root: &Path,
) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    // Never the backup an upgrade under way would restore.
    let upgrade_backup = crate::state::State::load(root)
        .ok()
        .and_then(|s| s.upgrade)
        .filter(|u| !u.finished)
        .and_then(|u| u.backup);
    let mut ours: Vec<(u64, OsString, PathBuf)> = entries
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .map(|e| e.path())
        .filter(|p| p != just_made && Some(p) != upgrade_backup.as_ref())
        .filter_map(|p| {
            let other = Manifest::read(&p)?;
            let name = p.file_name()?.to_owned();
            (other.root == manifest.root && other.database == manifest.database).then_some((
                other.created,
                name,
                p,
            ))
        })
        .collect();
    ours.sort();
    let excess = ours.len().saturating_sub(keep - 1);
    ours.into_iter()
        .take(excess)
        .filter_map(|(_, _, path)| std::fs::remove_dir_all(&path).ok().map(|()| path))
        .collect()
}
