//! `tootguard uninstall`: removes exactly what `tootguard install` made —
//! the shim links that point at tootguard and the completion files it
//! wrote — and leaves every other file in those directories alone.

use std::fmt::Write as _;
use std::fs;
use std::io::Write;

use anyhow::Context;

use crate::cli::completions;
use crate::cli::install::{LinkState, Place, kept_aside, link_state};
use crate::exit::OK;
use crate::invocation::Shim;
use crate::resolve::SelfId;

/// Remove the shims and completions `tootguard install` made
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub place: Place,
}

pub fn run(args: Args) -> anyhow::Result<u8> {
    let (dir, completion_dirs) = args.place.resolve("uninstall")?;
    let me = SelfId::current()?;
    let target = me
        .shim_binary()
        .map_or_else(|| me.path.clone(), |p| p.to_path_buf());
    let mut done = String::new();
    for shim in Shim::ALL {
        let link = dir.join(shim.name());
        match link_state(&link, &me, &target) {
            LinkState::Ours | LinkState::Stale => {
                fs::remove_file(&link)
                    .with_context(|| format!("cannot remove {}", link.display()))?;
                writeln!(done, "removed {}", link.display())?;
                // What `install --force` kept aside goes back.
                let kept = kept_aside(&link);
                if fs::symlink_metadata(&kept).is_ok() {
                    fs::rename(&kept, &link)
                        .with_context(|| format!("cannot put back {}", kept.display()))?;
                    writeln!(done, "put back {} as {}", kept.display(), link.display())?;
                }
            }
            LinkState::Other => {
                writeln!(done, "left {}: not a link to tootguard", link.display())?;
            }
            LinkState::Missing => {}
        }
    }
    let home_known = completion_dirs
        .home
        .as_ref()
        .is_none_or(|h| !h.as_os_str().is_empty());
    if home_known {
        for line in completions::uninstall(&completion_dirs) {
            writeln!(done, "{line}")?;
        }
    }
    if done.is_empty() {
        writeln!(done, "nothing of tootguard's in {}", dir.display())?;
    }
    std::io::stdout()
        .write_all(done.as_bytes())
        .context("cannot write to standard output")?;
    Ok(OK)
}
