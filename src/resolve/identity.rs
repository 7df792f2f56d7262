//! Whether a file is tootguard itself.
//!
//! The real program is never tootguard itself. "Itself" is decided by
//! identity — same (device, inode) as `current_exe()`, which covers symlinks,
//! chains of symlinks and hard links — and, for a file of exactly our size,
//! by content, which covers a copy. A copy built from other sources is not
//! caught that way: the loop marker catches it (`marker.rs`).

use std::cell::OnceCell;
use std::ffi::OsStr;
use std::fs::{self, File};
use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use anyhow::Context;

/// The two binaries of an install, side by side in one directory: the
/// command line, and the shim path alone that `tootguard install` links
/// `rails`, `rake` and `tootctl` to (see `lib.rs`). Either one is
/// "tootguard itself" to the other.
pub const CLI_BINARY: &str = "tootguard";
pub const SHIM_BINARY: &str = "tootguard-shim";

/// This binary (and the other binary of its pair), as identity for "is this
/// candidate tootguard itself?".
pub struct SelfId {
    pub path: PathBuf,
    own: FileId,
    /// The files named `tootguard` and `tootguard-shim` next to this binary
    /// that are not this binary, looked up when first needed.
    pair: OnceCell<Vec<(PathBuf, FileId)>>,
}

#[derive(Clone, Copy)]
struct FileId {
    dev: u64,
    ino: u64,
    size: u64,
}

impl FileId {
    fn of(meta: &fs::Metadata) -> FileId {
        FileId {
            dev: meta.dev(),
            ino: meta.ino(),
            size: meta.size(),
        }
    }

    fn same_inode(self, meta: &fs::Metadata) -> bool {
        meta.dev() == self.dev && meta.ino() == self.ino
    }

    /// `candidate` (with metadata `meta`) is the file at `path`: the same
    /// inode (a link), or a byte-identical copy. Content is compared only
    /// for a file of the same size.
    fn matches(self, path: &Path, meta: &fs::Metadata, candidate: &Path) -> bool {
        self.same_inode(meta)
            || (meta.size() == self.size && meta.is_file() && same_content(path, candidate))
    }
}

impl SelfId {
    pub fn current() -> anyhow::Result<SelfId> {
        let path = std::env::current_exe().context("cannot find tootguard's own binary")?;
        let meta = fs::metadata(&path)
            .with_context(|| format!("cannot read tootguard's own binary {}", path.display()))?;
        Ok(SelfId {
            own: FileId::of(&meta),
            path,
            pair: OnceCell::new(),
        })
    }

    /// True when `candidate` is tootguard: this binary or the other one of
    /// its pair (a link to one of them, or a byte-identical copy), or a link
    /// into another directory's pair of which this binary is a copy (a
    /// renamed copy of `tootguard-shim` meeting a link to the `tootguard`
    /// it was copied from).
    pub fn is(&self, candidate: &Path) -> bool {
        fs::metadata(candidate).is_ok_and(|meta| self.is_file_with(candidate, &meta))
    }

    /// [`SelfId::is`] for a candidate whose metadata is already at hand.
    pub(super) fn is_file_with(&self, candidate: &Path, meta: &fs::Metadata) -> bool {
        self.own.matches(&self.path, meta, candidate)
            || self
                .pair()
                .iter()
                .any(|(path, id)| id.matches(path, meta, candidate))
            || self.is_linked_pair(candidate)
    }

    /// `candidate` is a symlink to a file named `tootguard` or
    /// `tootguard-shim` whose partner in its directory is this binary.
    fn is_linked_pair(&self, candidate: &Path) -> bool {
        let is_link = fs::symlink_metadata(candidate).is_ok_and(|m| m.file_type().is_symlink());
        let Some(target) = is_link.then(|| fs::canonicalize(candidate).ok()).flatten() else {
            return false;
        };
        let partner = match target.file_name().and_then(OsStr::to_str) {
            Some(CLI_BINARY) => SHIM_BINARY,
            Some(SHIM_BINARY) => CLI_BINARY,
            _ => return false,
        };
        let partner = target.with_file_name(partner);
        fs::metadata(&partner).is_ok_and(|meta| self.own.matches(&self.path, &meta, &partner))
            && is_elf(&target)
    }

    /// The binary shims link to: this one when it is `tootguard-shim`,
    /// otherwise the `tootguard-shim` next to it, if there is one.
    pub fn shim_binary(&self) -> Option<&Path> {
        if self.path.file_name() == Some(OsStr::new(SHIM_BINARY)) {
            return Some(&self.path);
        }
        self.pair()
            .iter()
            .map(|(path, _)| path.as_path())
            .find(|path| path.file_name() == Some(OsStr::new(SHIM_BINARY)))
    }

    /// The command line beside this binary (`tootguard`), to which the
    /// shim binary hands migrations (`launch.rs`).
    pub fn cli_binary(&self) -> Option<&Path> {
        self.pair()
            .iter()
            .map(|(path, _)| path.as_path())
            .find(|path| path.file_name() == Some(OsStr::new(CLI_BINARY)))
    }

    /// True when `candidate` is the shim binary: a link to it or a copy.
    pub fn is_shim_binary(&self, candidate: &Path) -> bool {
        let (Some(shim), Ok(meta)) = (self.shim_binary(), fs::metadata(candidate)) else {
            return false;
        };
        match fs::metadata(shim) {
            Ok(shim_meta) => FileId::of(&shim_meta).matches(shim, &meta, candidate),
            Err(_) => false,
        }
    }

    /// `tootguard` and `tootguard-shim` in this binary's directory, but not
    /// this binary itself, decided by inode rather than by name: a hard link
    /// or renamed copy (`rails`) of one finds the other all the same.
    fn pair(&self) -> &[(PathBuf, FileId)] {
        self.pair.get_or_init(|| {
            let own_name = self.path.file_name();
            [CLI_BINARY, SHIM_BINARY]
                .into_iter()
                // current_exe is this inode's own path: no need to stat it.
                .filter(|name| own_name != Some(OsStr::new(name)))
                .filter_map(|name| {
                    let path = self.path.with_file_name(name);
                    let meta = fs::metadata(&path).ok().filter(fs::Metadata::is_file)?;
                    (!self.own.same_inode(&meta)).then(|| (path, FileId::of(&meta)))
                })
                .collect()
        })
    }
}

/// A regular file that starts like an executable: a script that happens to
/// be named `tootguard` is not taken for one.
fn is_elf(path: &Path) -> bool {
    let mut magic = [0u8; 4];
    fs::metadata(path).is_ok_and(|m| m.is_file())
        && File::open(path).is_ok_and(|mut f| f.read_exact(&mut magic).is_ok())
        && magic == *b"\x7fELF"
}

/// `a` and `b` (after symlinks) are one file: same device and inode.
pub fn same_file(a: &Path, b: &Path) -> bool {
    match (fs::metadata(a), fs::metadata(b)) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
}

fn same_content(a: &Path, b: &Path) -> bool {
    let (Ok(mut a), Ok(mut b)) = (File::open(a), File::open(b)) else {
        return false;
    };
    let mut buf_a = vec![0u8; 64 * 1024];
    let mut buf_b = vec![0u8; 64 * 1024];
    loop {
        let (Ok(n), Ok(m)) = (fill(&mut a, &mut buf_a), fill(&mut b, &mut buf_b)) else {
            return false;
        };
        if n != m || buf_a[..n] != buf_b[..m] {
            return false;
        }
        if n == 0 {
            return true;
        }
    }
}

/// Reads until `buf` is full or the file ends.
fn fill(file: &mut File, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut total = 0;
    while total < buf.len() {
        match file.read(&mut buf[total..])? {
            0 => break,
            n => total += n,
        }
    }
    Ok(total)
}
