//! `tootguard install`: the shims, and whether PATH finds them first.
//!
//! A shim is a symlink named `rails`, `rake` or `tootctl` to the
//! `tootguard-shim` binary next to `tootguard` (the shim path alone, which
//! starts faster; see `lib.rs`). Installing is idempotent, turns an older
//! link to `tootguard` itself into one to `tootguard-shim`, and never
//! replaces a file that is not already our link unless `--force`: an admin's
//! own wrapper may live there.
//! A shim that PATH does not find first does nothing, so the last step names
//! whatever shadows it and prints the line that fixes PATH.

use std::ffi::OsStr;
use std::fmt::Write as _;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::exit::{FAILURE, Failure, OK};
use crate::invocation::Tool;
use crate::resolve::SelfId;

/// Create the rails, rake and tootctl shims and check that PATH finds them
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Where to create the shims [default: ~/.local/bin]
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// Replace files of these names that are not tootguard links
    #[arg(long)]
    pub force: bool,
}

pub fn run(args: Args) -> anyhow::Result<u8> {
    let home = std::env::var_os("HOME").filter(|h| !h.is_empty());
    let dir = match (args.dir, &home) {
        (Some(dir), _) => dir,
        (None, Some(home)) => Path::new(home).join(".local/bin"),
        (None, None) => {
            return Err(Failure::error(
                FAILURE,
                "HOME is not set, so there is no default shim directory. Pass one: \
                 `tootguard install --dir ~/.local/bin`.",
            ));
        }
    };
    let dir = if dir.is_absolute() {
        dir
    } else {
        std::env::current_dir()?.join(dir)
    };
    let me = SelfId::current()?;
    let target = me.shim_binary().map(Path::to_path_buf).ok_or_else(|| {
        Failure::error(
            FAILURE,
            format!(
                "{} is not next to {}, and the shims link to it. Install both binaries \
                 together: `cargo install --path .` in the tootguard checkout.",
                me.path
                    .with_file_name(crate::resolve::SHIM_BINARY)
                    .display(),
                me.path.display()
            ),
        )
    })?;
    // What was done is printed once it is all done: a reader that goes away
    // early (`tootguard install | head -1`) must not stop the work halfway.
    let mut done = String::new();
    fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;

    let mut refused = Vec::new();
    for tool in Tool::ALL {
        let link = dir.join(tool.name());
        match link_state(&link, &me, &target) {
            LinkState::Ours => writeln!(done, "{} already links to tootguard", link.display())?,
            LinkState::Other if !args.force => {
                refused.push(link);
                continue;
            }
            state => {
                if state != LinkState::Missing {
                    fs::remove_file(&link)
                        .with_context(|| format!("cannot replace {}", link.display()))?;
                }
                std::os::unix::fs::symlink(&target, &link)
                    .with_context(|| format!("cannot create the link {}", link.display()))?;
                writeln!(done, "{} -> {}", link.display(), target.display())?;
            }
        }
    }

    if let Some(home) = &home {
        let xdg = std::env::var_os("XDG_DATA_HOME").filter(|x| !x.is_empty());
        for line in
            crate::cli::completions::install(Path::new(home), xdg.as_deref().map(Path::new))?
        {
            writeln!(done, "{line}")?;
        }
    }
    let mut out = std::io::stdout().lock();
    out.write_all(done.as_bytes())
        .context("cannot write to standard output")?;

    let path = std::env::var_os("PATH").unwrap_or_default();
    let cwd = std::env::current_dir()?;
    let mut shadowed = false;
    for tool in Tool::ALL {
        match first_on_path(tool.name(), &path, &cwd) {
            Some(found) if same_dir(found.parent(), &dir) => {}
            Some(found) => {
                shadowed = true;
                crate::report::warn(&format!(
                    "PATH finds {} before the shim {}: typing `{}` will not be guarded.",
                    found.display(),
                    dir.join(tool.name()).display(),
                    tool.name()
                ));
            }
            None => {
                shadowed = true;
                crate::report::warn(&format!(
                    "{} is not on PATH: typing `{}` will not find the shim.",
                    dir.display(),
                    tool.name()
                ));
            }
        }
    }
    if shadowed {
        writeln!(
            out,
            "Add this line to ~/.bashrc (or ~/.profile, ~/.zshrc), then open a new shell:\n  \
             export PATH=\"{}:$PATH\"",
            dir.display()
        )?;
    }

    if !refused.is_empty() {
        return Err(Failure::error(
            FAILURE,
            format!(
                "not replacing {}: not links to tootguard. Move them away, or run `tootguard \
                 install --force` to replace them.",
                refused
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ));
    }
    Ok(OK)
}

#[derive(Debug, PartialEq, Eq)]
enum LinkState {
    Missing,
    /// A symlink to `target`, the shim binary.
    Ours,
    /// A symlink to tootguard that is not `target`: `tootguard` itself, or
    /// a copy elsewhere. Ours to replace.
    Stale,
    /// A dangling or foreign symlink, or a file.
    Other,
}

fn link_state(link: &Path, me: &SelfId, target: &Path) -> LinkState {
    match fs::symlink_metadata(link) {
        Err(_) => LinkState::Missing,
        Ok(meta) if meta.file_type().is_symlink() && me.is(link) => {
            if crate::resolve::same_file(link, target) {
                LinkState::Ours
            } else {
                LinkState::Stale
            }
        }
        Ok(_) => LinkState::Other,
    }
}

/// The first executable `name` on `path`, as the shell would find it.
pub fn first_on_path(name: &str, path: &OsStr, cwd: &Path) -> Option<PathBuf> {
    which::which_in(name, Some(path), cwd).ok()
}

fn same_dir(a: Option<&Path>, b: &Path) -> bool {
    match (a.and_then(|a| a.canonicalize().ok()), b.canonicalize().ok()) {
        (Some(a), Some(b)) => a == b,
        _ => false,
    }
}
