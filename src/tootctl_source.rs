//! Which tootctl tree to complete: the one of the install the command
//! would run in — found as the shim finds it (`MASTODON_ROOT`, the working
//! directory's install, `~mastodon/live`) and read from its own
//! `lib/mastodon/cli/*.rb` (`src/thor/`) — else the embedded one, with the
//! reason, which `tootguard doctor` reports.
//!
//! A tab press must feel instant, so a parsed tree is cached per install in
//! `$XDG_CACHE_HOME/tootguard` (default `~/.cache/tootguard`), keyed on the
//! install's path and on the size and modification time of every file the
//! tree is read from: a `git checkout` of another version changes them. A
//! cache entry names its install and key and is used only when both match,
//! so no install's tree is taken for another's. Entries are written to a
//! temporary file and renamed into place, so two shells writing at once
//! leave one whole entry, never a torn one.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use crate::environment::Env;
use crate::invocation::Tool;
use crate::tootctl_tree::Tree;

/// Where the tree came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// Read from this install's `lib/mastodon/cli` (now or from the cache).
    Installed { root: PathBuf, cached: bool },
    /// The embedded tree, and why the install's could not be used.
    Embedded(String),
}

/// The tree for a `tootctl` run with `env` in `cwd`.
pub fn here(env: &Env, cwd: &Path) -> (Tree, Source) {
    let root = match crate::resolve::find_root(env, Some(cwd), Tool::Tootctl) {
        Ok(Some(root)) => root,
        Ok(None) => return embedded("no Mastodon install here".into()),
        Err(e) => return embedded(format!("no Mastodon install here ({e:#})")),
    };
    // The shim's rule: nothing of an install others could have planted is
    // read either (a tab press may be root's).
    if let Err(untrusted) = crate::resolve::untrusted(&root, Tool::Tootctl, env) {
        return embedded(format!(
            "the install at {} is not one tootguard trusts ({})",
            root.dir.display(),
            untrusted.into_error()
        ));
    }
    match installed(&root.dir, env) {
        Ok((tree, cached)) => (
            tree,
            Source::Installed {
                root: root.dir,
                cached,
            },
        ),
        Err(why) => embedded(format!(
            "{}/lib/mastodon/cli cannot be read: {why}",
            root.dir.display()
        )),
    }
}

fn embedded(why: String) -> (Tree, Source) {
    match Tree::load() {
        Ok(tree) => (tree, Source::Embedded(why)),
        // The embedded data is checked by the tests; should it ever not
        // parse, an empty tree completes nothing rather than failing.
        Err(e) => (
            Tree::empty(),
            Source::Embedded(format!("{why}; the embedded tree too: {e:#}")),
        ),
    }
}

/// The install's tree, from the cache when its key still matches.
fn installed(root: &Path, env: &Env) -> Result<(Tree, bool), String> {
    let key = key(root)?;
    let file = cache_dir(env).map(|dir| dir.join(format!("tootctl-tree-{key:016x}.json")));
    if let Some(file) = &file
        && let Some(tree) = read_cache(file, root, key)
    {
        return Ok((tree, true));
    }
    let tree = crate::thor::read(root)?;
    if let Some(file) = &file {
        write_cache(file, root, key, &tree);
    }
    Ok((tree, false))
}

/// A file's inode, size, modification and change times.
type Stamp = (u64, u64, i64, i64, i64, i64);

/// What a change of the CLI files changes: every `cli/*.rb`, `version.rb`
/// and `ip_block.rb` by name, size and modification time, the install's
/// path, and tootguard's own version (a newer parser reads more).
fn key(root: &Path) -> Result<u64, String> {
    let dir = root.join("lib/mastodon/cli");
    // What the parser reads, through links as it does: a file replaced
    // (another inode, a new ctime) counts even with the same size and mtime.
    let stamp = |path: &Path| {
        std::fs::metadata(path)
            .map(|m| {
                (
                    m.ino(),
                    m.len(),
                    m.mtime(),
                    m.mtime_nsec(),
                    m.ctime(),
                    m.ctime_nsec(),
                )
            })
            .ok()
    };
    let mut entries: Vec<(String, Option<Stamp>)> = std::fs::read_dir(&dir)
        .map_err(|e| format!("cannot list {}: {e}", dir.display()))?
        .filter_map(Result::ok)
        .map(|entry| {
            (
                entry.file_name().to_string_lossy().into_owned(),
                stamp(&entry.path()),
            )
        })
        .collect();
    entries.sort();
    // version.rb names the version; ip_block.rb holds the values of
    // `ip_blocks add --severity` from 4.4 on (`IpBlock.severities.keys`).
    let others: Vec<_> = ["lib/mastodon/version.rb", "app/models/ip_block.rb"]
        .iter()
        .map(|file| stamp(&root.join(file)))
        .collect();
    let mut hasher = DefaultHasher::new();
    (root, entries, others, env!("CARGO_PKG_VERSION")).hash(&mut hasher);
    Ok(hasher.finish())
}

/// `$XDG_CACHE_HOME/tootguard`, else `~/.cache/tootguard` (absolute only).
fn cache_dir(env: &Env) -> Option<PathBuf> {
    let absolute = |name| env.get(name).map(PathBuf::from).filter(|p| p.is_absolute());
    absolute("XDG_CACHE_HOME")
        .or_else(|| absolute("HOME").map(|home| home.join(".cache")))
        .map(|dir| dir.join("tootguard"))
}

#[derive(serde::Serialize, serde::Deserialize)]
struct Entry {
    root: PathBuf,
    key: String,
    /// The tree in the data file's shape.
    tree: String,
}

/// Whether `path` is a directory of this user's that no one else can
/// write, reached by no link: the only place a cache may be read or
/// written (root's HOME may point into another user's home).
fn private_dir(path: &Path) -> bool {
    std::fs::symlink_metadata(path).is_ok_and(|m| {
        m.is_dir() && m.uid() == nix::unistd::Uid::effective().as_raw() && m.mode() & 0o022 == 0
    })
}

fn read_cache(file: &Path, root: &Path, key: u64) -> Option<Tree> {
    if !file.parent().is_some_and(private_dir) {
        return None;
    }
    // This user's own entry, and no link.
    let meta = std::fs::symlink_metadata(file).ok()?;
    if !meta.is_file() || meta.uid() != nix::unistd::Uid::effective().as_raw() {
        return None;
    }
    let text = crate::files::read_small(file).ok()?;
    let entry: Entry = serde_json::from_str(&text).ok()?;
    if entry.root != root || entry.key != format!("{key:016x}") {
        return None;
    }
    Tree::from_json(&entry.tree).ok()
}

/// Best effort: a cache that cannot be written only costs a parse.
fn write_cache(file: &Path, root: &Path, key: u64, tree: &Tree) {
    let Some(dir) = file.parent() else { return };
    if std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .is_err()
        || !private_dir(dir)
    {
        return;
    }
    let entry = Entry {
        root: root.to_path_buf(),
        key: format!("{key:016x}"),
        tree: tree.to_json(),
    };
    let Ok(text) = serde_json::to_string(&entry) else {
        return;
    };
    let temp = dir.join(format!(".tootctl-tree.{}.tmp", std::process::id()));
    let written = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(nix::libc::O_NOFOLLOW)
        .open(&temp)
        .and_then(|mut out| out.write_all(text.as_bytes()));
    if written.is_err() || std::fs::rename(&temp, file).is_err() {
        let _ = std::fs::remove_file(&temp);
    }
}
