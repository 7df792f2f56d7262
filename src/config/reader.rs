//! The user who will read the configuration, when it is not this
//! process's: whether the mode bits let them read a file and reach it.

use std::path::Path;

/// The user who will read the files, when not this process's: root hands
/// a command to the install's owner, who must be able to read them too.
#[derive(Clone, Debug)]
pub struct Reader {
    pub name: String,
    pub uid: u32,
    pub gids: Vec<u32>,
}

impl Reader {
    /// Whether the mode bits of a file with `meta` let this user read it.
    pub(super) fn can_read(&self, meta: &std::fs::Metadata) -> bool {
        self.may(meta, 0o4)
    }

    /// Whether this user may `want` (4 read, 1 search) what `meta` is of.
    fn may(&self, meta: &std::fs::Metadata, want: u32) -> bool {
        use std::os::unix::fs::MetadataExt;
        let mode = meta.mode();
        let bits = if meta.uid() == self.uid {
            mode >> 6
        } else if self.gids.contains(&meta.gid()) {
            mode >> 3
        } else {
            mode
        };
        bits & want == want
    }

    /// Whether this user can open `path` for reading: read permission on
    /// the file, search permission on every directory above it.
    pub fn can_reach(&self, path: &Path) -> bool {
        let Ok(meta) = std::fs::metadata(path) else {
            return false;
        };
        self.can_read(&meta)
            && path.ancestors().skip(1).all(|dir| {
                dir.as_os_str().is_empty()
                    || std::fs::metadata(dir).is_ok_and(|m| self.may(&m, 0o1))
            })
    }
}
