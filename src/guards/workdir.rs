//! Where the command runs, and where its install is.
//!
//! `rails` and `rake` need the root's `Rakefile` and `config/`, so when the
//! working directory is outside the root they run from the root (and say so).
//! `tootctl` keeps the working directory: its arguments may be relative paths
//! (`tootctl emoji import ./emoji.tar.gz`), and `bin/tootctl` finds
//! `config/boot.rb` relative to itself. With no root at all the shim still
//! runs the next program on PATH, and says it found no install.

use super::{Change, Level, Verdict};
use crate::invocation::Invocation;

pub const ID: &str = "workdir";
pub const ROOT_ID: &str = "root";

/// Says which install the command belongs to, or that there is none.
pub fn check_root(inv: &Invocation) -> Option<Verdict> {
    Some(match &inv.root {
        Some(root) => {
            let verdict = Verdict::new(
                ROOT_ID,
                Level::Ok,
                format!(
                    "Mastodon {} install at {} (found by {})",
                    root.kind(),
                    root.dir.display(),
                    root.found_by
                ),
            );
            match crate::resolve::absolute_root_var(&inv.env, root) {
                Some(absolute) => verdict.change(Change::SetEnv("MASTODON_ROOT", absolute)),
                None => verdict,
            }
        }
        None => Verdict::new(
            ROOT_ID,
            Level::Notice,
            format!(
                "found no Mastodon install (MASTODON_ROOT is unset, none in {} or its parents, \
                 no ~mastodon/live); running the next {} on PATH",
                inv.cwd.display(),
                inv.tool.name()
            ),
        ),
    })
}

/// Moves `rails`/`rake` into the root when run from outside it.
pub fn check(inv: &Invocation) -> Option<Verdict> {
    let root = inv.root.as_ref()?;
    if !inv.tool.runs_tasks() || inside(&inv.cwd, &root.dir) {
        return None;
    }
    Some(
        Verdict::new(
            ID,
            Level::Notice,
            format!(
                "running {} in {} (Rails needs the install's Rakefile)",
                inv.tool.name(),
                root.dir.display()
            ),
        )
        .change(Change::Chdir(root.dir.clone())),
    )
}

fn inside(cwd: &std::path::Path, root: &std::path::Path) -> bool {
    if cwd.starts_with(root) {
        return true;
    }
    // The root may have been named through a symlink (MASTODON_ROOT).
    match (cwd.canonicalize(), root.canonicalize()) {
        (Ok(cwd), Ok(root)) => cwd.starts_with(root),
        _ => false,
    }
}
