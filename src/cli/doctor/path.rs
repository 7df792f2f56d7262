//! doctor's `upgrade-path` row: the version that ran before the checkout
//! against the one checked out, by Mastodon's rule (docs, "Upgrading"):
//! every minor series deployed, patch releases skippable, never back.

use std::path::Path;

use super::Check;
use crate::guards::Level;
use crate::release::{self, Jump, Running};

pub const ID: &str = "upgrade-path";

pub fn check(root: &Path) -> Check {
    let to = match release::checked_out(root) {
        Ok(to) => to,
        Err(why) => {
            return Check::new(
                ID,
                Level::Warn,
                format!("cannot tell the version checked out: {why}"),
            )
            .fix("Restore lib/mastodon/version.rb from the Mastodon checkout.");
        }
    };
    let (from, source) = match release::running(root) {
        Running::Known {
            version, source, ..
        } => (version, source),
        Running::Fresh => {
            return Check::new(
                ID,
                Level::Ok,
                format!("{to}, the first version checked out since the clone"),
            );
        }
        Running::Unknown(why) => {
            return Check::new(
                ID,
                Level::Warn,
                format!(
                    "{to} is checked out, and the version that ran before is unknown ({why}), \
                     so tootguard cannot check the upgrade path"
                ),
            )
            .fix(format!(
                "Make sure the version running now is {} or {to} itself (Mastodon \
                 supports skipping patch releases, not minor series), and read the release \
                 notes of every release between.",
                prior_series(&to)
            ));
        }
    };
    match release::path(&from, &to) {
        Jump::Same => Check::new(
            ID,
            Level::Ok,
            format!("{to} runs and is checked out: nothing to upgrade ({source})"),
        ),
        Jump::Step => Check::new(
            ID,
            Level::Ok,
            format!("{from} → {to}: a supported step ({source})"),
        ),
        Jump::Skips(series) => {
            let first = &series[0];
            Check::new(
                ID,
                Level::Block,
                format!(
                    "{from} → {to} skips the {} series ({source}): Mastodon supports \
                     upgrades through at least one release of every minor series",
                    series.join(", ")
                ),
            )
            .fix(format!(
                "Check out the latest {first}.x release first (`git checkout v{first}.<latest \
                 patch>`), upgrade to it, then to {to}. Release notes: {}",
                series
                    .iter()
                    .map(|s| release::release_notes(s))
                    .collect::<Vec<_>>()
                    .join(" ")
            ))
        }
        Jump::Downgrade => Check::new(
            ID,
            Level::Block,
            format!(
                "{from} → {to} is a downgrade ({source}): the database has {from}'s \
                 migrations, which {to}'s code does not know"
            ),
        )
        .fix(format!(
            "Check out {from} again (`git checkout v{from}`). Going back needs the database \
             backup taken before the upgrade to {from}."
        )),
        Jump::NewMajor => Check::new(
            ID,
            Level::Warn,
            format!(
                "{from} → {to} is a new major version ({source}): tootguard cannot tell which \
                 {}.x release it must come from",
                from.major
            ),
        )
        .fix(format!(
            "Read {}'s release notes for the supported path: {}",
            to,
            release::release_notes(&to.series())
        )),
    }
}

/// `4.4.x` for 4.5.0: the series an upgrade to `to` may come from.
fn prior_series(to: &release::Version) -> String {
    if to.minor == 0 {
        format!("{}.x", to.major.saturating_sub(1))
    } else {
        format!("{}.{}.x", to.major, to.minor - 1)
    }
}
