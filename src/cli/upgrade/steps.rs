//! The steps as data: their order and names (a stable interface: `--from`,
//! `--skip`, `--only`, the record and the JSON lines use them), what each
//! one runs and the environment change that is its own. The runner and
//! the printer read this table; neither keeps its own list.

use clap::ValueEnum;

use crate::config::SKIP_POST;
use crate::guards::{Change, Verdict};
use crate::invocation::Tool;

/// The steps, in the order they run. Their names are a stable interface.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, ValueEnum)]
pub enum Step {
    /// The doctor checks: a failure stops, warnings need a yes
    Preflight,
    /// bundle install
    Bundle,
    /// yarn install --immutable
    Yarn,
    /// tootguard backup: the database (pg_dump, verified) and the .env files
    Backup,
    /// rails db:migrate with SKIP_POST_DEPLOYMENT_MIGRATIONS=true
    PreMigrate,
    /// rails assets:precompile
    Precompile,
    /// systemctl reload mastodon-web; restart mastodon-sidekiq mastodon-streaming
    Restart,
    /// rails db:migrate, the post-deployment migrations
    PostMigrate,
}

/// What a step runs.
pub(super) enum Action {
    /// The `tootguard doctor` checks, in this process.
    Doctor,
    /// A program found on PATH, run in the root as the install's owner
    /// (it writes into the install).
    OnPath(&'static str, &'static [&'static str]),
    /// `bin/<tool> args` through the guards, as the shim runs it.
    Guarded(Tool, &'static [&'static str]),
    /// `tootguard backup --for-upgrade`, which runs itself as the owner.
    Backup,
    /// The [`RESTART`] commands: run with `--restart`, otherwise asked of
    /// the admin.
    Restart,
}

/// The restart commands of the docs, run as root.
pub(super) const RESTART: [&[&str]; 2] = [
    &["reload", "mastodon-web"],
    &["restart", "mastodon-sidekiq", "mastodon-streaming"],
];

/// The [`RESTART`] commands as the admin types them.
pub(super) fn restart_lines() -> Vec<String> {
    RESTART
        .iter()
        .map(|args| format!("systemctl {}", args.join(" ")))
        .collect()
}

impl Step {
    pub(super) const ALL: [Step; 8] = [
        Step::Preflight,
        Step::Bundle,
        Step::Yarn,
        Step::Backup,
        Step::PreMigrate,
        Step::Precompile,
        Step::Restart,
        Step::PostMigrate,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Step::Preflight => "preflight",
            Step::Bundle => "bundle",
            Step::Yarn => "yarn",
            Step::Backup => "backup",
            Step::PreMigrate => "pre-migrate",
            Step::Precompile => "precompile",
            Step::Restart => "restart",
            Step::PostMigrate => "post-migrate",
        }
    }

    /// `[4/8]`
    pub(super) fn counter(self) -> String {
        format!("[{}/{}]", self as usize + 1, Step::ALL.len())
    }

    pub(super) fn action(self) -> Action {
        match self {
            Step::Preflight => Action::Doctor,
            Step::Bundle => Action::OnPath("bundle", &["install"]),
            Step::Yarn => Action::OnPath("yarn", &["install", "--immutable"]),
            Step::Backup => Action::Backup,
            Step::PreMigrate | Step::PostMigrate => Action::Guarded(Tool::Rails, &["db:migrate"]),
            Step::Precompile => Action::Guarded(Tool::Rails, &["assets:precompile"]),
            Step::Restart => Action::Restart,
        }
    }

    /// The step's own environment change, applied after every guard's.
    pub(super) fn own_changes(self) -> Vec<Change> {
        match self {
            Step::PreMigrate => vec![Change::SetEnv(SKIP_POST, "true".into())],
            // Removed even when the shell exports it: any value, even
            // `false`, skips them (`lib/mastodon/database.rb`).
            Step::PostMigrate => vec![Change::UnsetEnv(SKIP_POST)],
            _ => Vec::new(),
        }
    }

    /// It changes the database: no migration runs without a backup.
    pub(super) fn migrates(self) -> bool {
        matches!(self, Step::PreMigrate | Step::PostMigrate)
    }
}

/// Why a step stopped the run, and where to resume.
pub(super) struct Stop {
    /// "exit status 1", "killed by SIGKILL, signal 9", "blocked by the memory guard"
    pub status: String,
    pub detail: Option<String>,
    pub resume: Step,
    /// The resume command needs `--yes` (preflight warnings, no terminal).
    pub add_yes: bool,
    /// The user guard's verdict for a command that was to run as the
    /// install's owner, said before the stop as it would have been before
    /// the command.
    pub user: Option<Box<Verdict>>,
}

impl Stop {
    pub fn new(status: impl Into<String>, resume: Step) -> Stop {
        Stop {
            status: status.into(),
            detail: None,
            resume,
            add_yes: false,
            user: None,
        }
    }

    pub fn detail(mut self, detail: impl Into<String>) -> Stop {
        self.detail = Some(detail.into());
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn step_names_are_the_stable_kebab_case_ones() {
        for step in Step::ALL {
            let value = step.to_possible_value().unwrap();
            assert_eq!(value.get_name(), step.name());
        }
    }
}
