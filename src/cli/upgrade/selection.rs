//! Which steps run: `--from`, `--skip` and `--only` applied to the steps'
//! order, the rules that refuse a choice running the post-deployment
//! migrations before the restart, the backup no migration goes without,
//! and the command that makes the same choice again to resume.

use crate::exit::{Failure, USAGE};
use crate::quote::word as quote;

use super::Args;
use super::steps::Step;

/// Refuses the choices that would run the post-deployment migrations while
/// the old code still runs: they would drop columns it uses.
pub(super) fn check(args: &Args) -> anyhow::Result<()> {
    if args.skip.contains(&Step::Restart)
        && !args.skip.contains(&Step::PostMigrate)
        && args.from.unwrap_or(Step::Preflight) < Step::Restart
    {
        return Err(Failure::error(
            USAGE,
            "--skip restart would run the post-deployment migrations while the old code still \
             runs. Restart the services yourself and use `--from post-migrate` for them, or \
             also `--skip post-migrate`.",
        ));
    }
    // The same rule for --only: post-deployment migrations in one run with
    // a step before the restart, but not the restart itself, would run
    // while the old code does (post-migrate alone is for after it).
    if args.only.contains(&Step::PostMigrate)
        && !args.only.contains(&Step::Restart)
        && args.only.iter().any(|s| *s < Step::Restart)
    {
        return Err(Failure::error(
            USAGE,
            "--only post-migrate with a step before the restart but not --only restart would \
             run the post-deployment migrations while the old code still runs. Run the steps \
             before the restart, restart the services, then `--only post-migrate`.",
        ));
    }
    Ok(())
}

/// The steps this run runs, in order.
pub(super) struct Selection {
    steps: Vec<Step>,
    from: Step,
    only: bool,
    skip: Vec<Step>,
    /// The backup step was added: a migration runs and this upgrade has no
    /// backup yet.
    pub backup_added: bool,
    /// A migration runs without a backup of this upgrade, by `--skip backup`.
    pub unbacked: bool,
}

/// Why a step is left out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Left {
    NotInOnly,
    Skipped,
    BeforeFrom,
}

impl Selection {
    /// `backed_up`: this upgrade has a backup, still there, whole.
    pub fn new(args: &Args, backed_up: bool) -> Selection {
        let from = args.from.unwrap_or(Step::Preflight);
        let mut steps: Vec<Step> = Step::ALL
            .into_iter()
            .filter(|s| {
                if args.only.is_empty() {
                    *s >= from && !args.skip.contains(s)
                } else {
                    args.only.contains(s)
                }
            })
            .collect();
        // No migration runs without a backup of this upgrade, resumed or
        // not, unless the backup is skipped on purpose.
        let migrates = steps.iter().any(|s| s.migrates()) && !backed_up;
        let skip_backup = args.skip.contains(&Step::Backup);
        let backup_added = migrates && !steps.contains(&Step::Backup) && !skip_backup;
        if backup_added {
            let at = steps
                .iter()
                .position(|s| *s > Step::Backup)
                .unwrap_or(steps.len());
            steps.insert(at, Step::Backup);
        }
        Selection {
            steps,
            from,
            only: !args.only.is_empty(),
            skip: args.skip.clone(),
            backup_added,
            unbacked: migrates && skip_backup,
        }
    }

    pub fn runs(&self, step: Step) -> bool {
        self.steps.contains(&step)
    }

    /// `None` for a step that runs.
    pub fn left_out(&self, step: Step) -> Option<Left> {
        if self.runs(step) {
            None
        } else if self.only {
            Some(Left::NotInOnly)
        } else if self.skip.contains(&step) {
            Some(Left::Skipped)
        } else {
            Some(Left::BeforeFrom)
        }
    }

    /// The first step of the run, as `--from` says.
    pub fn from(&self) -> Step {
        self.from
    }
}

/// The exact command that resumes at `from` with the same choices: the
/// steps, and the options that shape them (a resumed backup goes to the
/// same `--backup-dir`; a run that asked for `--json` resumes with it).
pub(super) fn resume_command(args: &Args, from: Step, add_yes: bool) -> String {
    let mut parts = vec!["tootguard upgrade".to_owned()];
    if args.only.is_empty() {
        parts.push(format!("--from {}", from.name()));
        let mut skips: Vec<Step> = args.skip.iter().copied().filter(|s| *s > from).collect();
        skips.sort();
        skips.dedup();
        parts.extend(skips.iter().map(|s| format!("--skip {}", s.name())));
    } else {
        let mut only: Vec<Step> = args.only.iter().copied().filter(|s| *s >= from).collect();
        if !only.contains(&from) {
            only.insert(0, from);
        }
        only.sort();
        only.dedup();
        parts.extend(only.iter().map(|s| format!("--only {}", s.name())));
    }
    if args.restart {
        parts.push("--restart".to_owned());
    }
    if let Some(dir) = &args.backup_dir {
        parts.push(format!("--backup-dir {}", quote(dir.as_os_str())));
    }
    if args.yes || add_yes {
        parts.push("--yes".to_owned());
    }
    if args.json {
        parts.push("--json".to_owned());
    }
    parts.join(" ")
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    fn args() -> Args {
        Args {
            dry_run: false,
            yes: false,
            from: None,
            skip: Vec::new(),
            only: Vec::new(),
            json: false,
            restart: false,
            backup_dir: None,
        }
    }

    fn steps(selection: &Selection) -> Vec<&'static str> {
        Step::ALL
            .into_iter()
            .filter(|s| selection.runs(*s))
            .map(Step::name)
            .collect()
    }

    #[test]
    fn a_resumed_migration_gets_a_backup_first_unless_one_is_there_or_skipped() {
        let resumed = Args {
            from: Some(Step::PreMigrate),
            ..args()
        };
        let selection = Selection::new(&resumed, false);
        assert!(selection.backup_added && !selection.unbacked);
        assert_eq!(
            steps(&selection),
            [
                "backup",
                "pre-migrate",
                "precompile",
                "restart",
                "post-migrate"
            ]
        );
        assert!(!Selection::new(&resumed, true).backup_added);
        let skipped = Args {
            skip: vec![Step::Backup],
            ..resumed
        };
        let selection = Selection::new(&skipped, false);
        assert!(!selection.backup_added && selection.unbacked);
        assert_eq!(selection.left_out(Step::Backup), Some(Left::Skipped));
        assert_eq!(selection.left_out(Step::Yarn), Some(Left::BeforeFrom));
    }

    #[test]
    fn only_runs_the_named_steps_in_order() {
        let only = Args {
            only: vec![Step::Precompile, Step::Bundle],
            ..args()
        };
        let selection = Selection::new(&only, false);
        assert_eq!(steps(&selection), ["bundle", "precompile"]);
        assert_eq!(selection.left_out(Step::Yarn), Some(Left::NotInOnly));
    }

    #[test]
    fn the_resume_command_keeps_the_choices_that_shape_the_rest() {
        let skip = Args {
            skip: vec![Step::Yarn, Step::Precompile, Step::Precompile],
            restart: true,
            backup_dir: Some(PathBuf::from("/srv/my backups")),
            json: true,
            ..args()
        };
        assert_eq!(
            resume_command(&skip, Step::Backup, true),
            "tootguard upgrade --from backup --skip precompile --restart --backup-dir \
             '/srv/my backups' --yes --json"
        );
        let only = Args {
            only: vec![Step::PostMigrate, Step::Restart],
            ..args()
        };
        assert_eq!(
            resume_command(&only, Step::PostMigrate, false),
            "tootguard upgrade --only post-migrate"
        );
        assert_eq!(
            resume_command(&only, Step::Backup, false),
            "tootguard upgrade --only backup --only restart --only post-migrate"
        );
    }
}
