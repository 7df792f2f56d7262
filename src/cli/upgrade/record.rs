//! This upgrade's record (`state.rs`): which upgrade this is, the steps
//! done, the backup taken before its migrations. It is what offers to
//! resume an interrupted upgrade, what keeps a second backup from being
//! taken, and what a failed migration's message names to go back.

use std::path::Path;

use crate::quote::{word as quote, word_str as quote_str};
use crate::release::{self, Release};
use crate::state::{self, State};
use crate::{backup, report};

use super::steps::Step;

/// Opened at the start, written after every step. When it cannot be read
/// or written, the upgrade goes on without it, after one warning.
pub(super) struct Record {
    state: Option<State>,
    warned: bool,
}

impl Record {
    /// The record of the upgrade to `to`: the one interrupted, or a new one
    /// that starts from what runs now. A dry run changes nothing.
    pub fn open(root: &Path, to: &Release, dry_run: bool) -> Record {
        let mut state = match State::load(root) {
            Ok(state) => state,
            Err(why) => {
                if !dry_run {
                    report::warn(&format!("{why} This upgrade's progress is not recorded."));
                }
                return Record {
                    state: None,
                    warned: true,
                };
            }
        };
        let continues = state
            .upgrade
            .as_ref()
            .is_some_and(|u| !u.finished && u.to == *to);
        if !continues {
            let from = match release::running(root) {
                release::Running::Known {
                    version, commit, ..
                } => Some(Release {
                    version: version.to_string(),
                    commit,
                }),
                _ => None,
            };
            // An unfinished upgrade to another checkout (a retry with a
            // newer release): its backup is still the one from before its
            // first migration, so it carries over; `running` already gave
            // the version that runs.
            let carried = state
                .upgrade
                .as_ref()
                .filter(|u| !u.finished)
                .and_then(|u| u.backup.clone())
                .filter(|b| backup::usable(b));
            state.upgrade = Some(state::Upgrade {
                from,
                to: to.clone(),
                started: now(),
                done: Vec::new(),
                backup: carried,
                finished: false,
            });
        }
        Record {
            state: Some(state),
            warned: false,
        }
    }

    pub fn current(&self) -> Option<&state::Upgrade> {
        self.state.as_ref()?.upgrade.as_ref()
    }

    /// The recorded backup, when it is still there, whole.
    pub fn backed_up(&self) -> bool {
        self.current()
            .and_then(|u| u.backup.as_deref())
            .is_some_and(backup::usable)
    }

    /// An unfinished upgrade to this same checkout: the last step it did,
    /// and the one to resume at (the next not skipped now).
    pub fn interrupted(&self, skip: &[Step]) -> Option<(&state::Upgrade, Step, Step)> {
        let upgrade = self.current().filter(|u| !u.finished)?;
        let last = Step::ALL
            .into_iter()
            .rev()
            .find(|s| upgrade.done.iter().any(|d| d == s.name()))?;
        let next = Step::ALL
            .into_iter()
            .find(|s| *s > last && !skip.contains(s))?;
        Some((upgrade, last, next))
    }

    pub fn save(&mut self) {
        let Some(state) = &self.state else { return };
        if let Err(why) = state.save()
            && !self.warned
        {
            self.warned = true;
            report::warn(&format!("{why} This upgrade's progress is not recorded."));
        }
    }

    /// `step` finished: recorded, with the backup the step made, and the
    /// upgrade finished after the post-deployment migrations.
    pub fn done(&mut self, step: Step) {
        let Some(state) = self.state.as_mut() else {
            return;
        };
        if step == Step::Backup {
            // `tootguard backup --for-upgrade` (run as the owner) wrote it.
            let made = State::load(&state.root)
                .ok()
                .and_then(|s| s.upgrade)
                .and_then(|u| u.backup);
            if let Some(upgrade) = state.upgrade.as_mut() {
                upgrade.backup = made;
            }
        }
        if let Some(upgrade) = state.upgrade.as_mut() {
            upgrade.done.retain(|d| d != step.name());
            upgrade.done.push(step.name().to_owned());
            // From the restart on, the new code runs.
            if step == Step::Restart {
                state.running = Some(upgrade.to.clone());
            }
            if step == Step::PostMigrate {
                upgrade.finished = true;
                state.running = Some(upgrade.to.clone());
            }
        }
        self.save();
    }

    /// For a failed migration: the backup of this upgrade and how to
    /// restore it, and the commit the code can go back to.
    pub fn recovery(&self, root: &Path) -> String {
        let Some(upgrade) = self.current() else {
            return String::new();
        };
        let mut out = String::new();
        match upgrade.backup.as_deref() {
            Some(backup) => {
                out.push_str(&format!(
                    "\nThe database was backed up before the migrations, in {}. To go back to \
                     it:\n",
                    backup.display()
                ));
                match backup::Manifest::read(backup) {
                    Some(manifest) => {
                        for line in manifest.restore_commands(backup) {
                            out.push_str(&format!("  {line}\n"));
                        }
                    }
                    None => out.push_str(&format!(
                        "  (its manifest cannot be read: see {}/RESTORE.txt)\n",
                        backup.display()
                    )),
                }
            }
            None => out.push_str(
                "\nNo backup is recorded for this upgrade (--skip backup, or its record could \
                 not be written): restore your own, if the migration left the database \
                 half-changed.\n",
            ),
        }
        // The record is the owner's file: only a commit id goes into a
        // command to paste, quoted.
        let commit = upgrade.from.as_ref().and_then(|from| {
            from.commit
                .as_deref()
                .filter(|c| c.len() == 40 && c.bytes().all(|b| b.is_ascii_hexdigit()))
                .map(|c| (c, from.version.as_str()))
        });
        if let Some((commit, version)) = commit {
            let owner = std::fs::metadata(root)
                .ok()
                .and_then(|m| {
                    nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(
                        std::os::unix::fs::MetadataExt::uid(&m),
                    ))
                    .ok()
                })
                .flatten()
                .map_or_else(|| "the install's owner".to_owned(), |u| u.name);
            out.push_str(&format!(
                "The code can go back, as {owner}, with `git -C {} checkout {commit}` (Mastodon \
                 {}), then bundle install and yarn install again.",
                quote(root.as_os_str()),
                quote_str(version)
            ));
        } else {
            out.push_str(
                "The code can go back with `git checkout` of the version that ran before (git \
                 reflog shows it).",
            );
        }
        out
    }
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
