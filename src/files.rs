//! Reading the small text files tootguard looks at (`version.rb`, a
//! reflog, `lib/mastodon/cli/*.rb`, its own records) safely: they may sit
//! in a directory someone else controls, so a FIFO must not block, a
//! device must not even be opened, and a huge file must not be read.

use std::fs;
use std::io::Read;
use std::path::Path;

/// Files read this way are small; anything larger is not what is expected.
const MAX_READ: u64 = 1024 * 1024;

/// Reads a small text file without blocking on a FIFO or device and
/// without reading past [`MAX_READ`] bytes. A device is never even opened
/// (opening some acts: a watchdog arms, a tape rewinds): the path must name
/// a regular file before it is opened, and still after.
pub fn read_small(path: &Path) -> std::io::Result<String> {
    use std::os::unix::fs::OpenOptionsExt;
    if !fs::metadata(path)?.is_file() {
        return Err(std::io::Error::other("not a regular file"));
    }
    let file = fs::OpenOptions::new()
        .read(true)
        .custom_flags(nix::libc::O_NONBLOCK | nix::libc::O_NOCTTY)
        .open(path)?;
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(std::io::Error::other("not a regular file"));
    }
    if meta.len() > MAX_READ {
        return Err(std::io::Error::other(format!(
            "larger than {} KiB",
            MAX_READ / 1024
        )));
    }
    let mut text = Vec::new();
    file.take(MAX_READ).read_to_end(&mut text)?;
    Ok(String::from_utf8_lossy(&text).into_owned())
}
