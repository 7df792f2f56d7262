//! doctor's `completion` row: whether tootctl's completion offers what the
//! installed tootctl takes (read from the install) or falls back to the
//! embedded tree of another version, and why.

use std::path::Path;

use super::Check;
use crate::environment::Env;
use crate::guards::Level;
use crate::tootctl_source::{self, Source};

pub const ID: &str = "completion";

pub fn check(env: &Env, dir: &Path) -> Check {
    let (tree, source) = tootctl_source::here(env, dir);
    match source {
        Source::Installed { root, .. } => Check::new(
            ID,
            Level::Ok,
            format!(
                "tootctl completion reads {}/lib/mastodon/cli ({})",
                root.display(),
                tree.source
            ),
        ),
        Source::Embedded(why) => Check::new(
            ID,
            Level::Warn,
            format!(
                "tootctl completion falls back to the tree embedded in tootguard ({}), \
                 because {why}: it may offer options this server's tootctl does not take",
                tree.source
            ),
        )
        .fix(
            "Complete tootctl inside the Mastodon directory, or set MASTODON_ROOT; if the \
             install's lib/mastodon/cli cannot be read, restore it from the checkout (`git \
             checkout -- lib/mastodon/cli`).",
        ),
    }
}
