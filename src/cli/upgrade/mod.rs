//! `tootguard upgrade`: Mastodon's zero-downtime upgrade, step by step,
//! after the admin checked out the new version (docs `admin/upgrading.md`).
//!
//! The order is the point: pre-deployment migrations run with
//! `SKIP_POST_DEPLOYMENT_MIGRATIONS=true`, the services restart on the new
//! code, and only then do the post-deployment migrations run — with that
//! variable removed from the child's environment even when the shell exports
//! it, because any value, even `false`, skips them (`lib/mastodon/database.rb`).
//! Rails steps go through the same guard list as the shims (RAILS_ENV,
//! PgBouncer, memory); the preflight is `doctor`. Every step is a child
//! process with its output streamed; the first failure stops the run and
//! prints the exact command that resumes it. Nothing ever prompts without a
//! terminal on stdin.
//!
//! The parts: `steps` is the table of steps, `selection` which of them
//! run, `prepare` what each would run (computed, never printed), `runner`
//! the one loop for the dry run and the real run, `print` everything said
//! about the steps, `prompt` the questions, `child` the child processes,
//! `oom` the rescue of a precompile out of memory, `record` this upgrade's
//! record.

mod child;
mod oom;
mod prepare;
mod print;
mod prompt;
mod record;
mod runner;
mod selection;
mod steps;

pub use steps::Step;

use std::path::PathBuf;

use anyhow::Context;

use crate::exit::{FAILURE, Failure};
use crate::invocation::Tool;
use crate::release::{self, Release};
use crate::report;
use crate::resolve::{self, Root, SelfId};
use crate::settings::{self, Env};

use record::Record;
use selection::Selection;

/// Run Mastodon's upgrade steps after checking out the new version
///
/// Run in the Mastodon directory after `git checkout vX.Y.Z`. Steps, by
/// name: preflight (the doctor checks), bundle, yarn, backup (the database
/// and .env files, see `tootguard backup`), pre-migrate (with
/// SKIP_POST_DEPLOYMENT_MIGRATIONS=true), precompile, restart (the
/// services), post-migrate. The first failure stops the run and prints the
/// `tootguard upgrade --from STEP` that resumes it; an upgrade interrupted
/// otherwise is offered to resume where it stopped.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Print each step's command, directory and environment changes; run nothing
    #[arg(long)]
    pub dry_run: bool,
    /// Continue despite the preflight's warnings (needed without a terminal)
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// Start at this step (to resume after a failure)
    #[arg(long, value_name = "STEP", conflicts_with = "only")]
    pub from: Option<Step>,
    /// Leave this step out (repeatable)
    #[arg(long, value_name = "STEP", conflicts_with = "only")]
    pub skip: Vec<Step>,
    /// Run only this step (repeatable; in the steps' order), for a playbook
    /// that runs each step on the hosts it belongs to. A migration still
    /// gets a backup first when this upgrade has none
    #[arg(long, value_name = "STEP")]
    pub only: Vec<Step>,
    /// Progress as one JSON object a line on stdout (step, status, seconds,
    /// resume); the steps' own output goes to stderr
    #[arg(long, conflicts_with = "dry_run")]
    pub json: bool,
    /// Restart the services with systemctl (through `sudo -n` unless root)
    /// instead of asking you to
    #[arg(long)]
    pub restart: bool,
    /// Where the backup step puts its backup (as `tootguard backup --dir`)
    #[arg(long, value_name = "DIR")]
    pub backup_dir: Option<PathBuf>,
}

/// The upgrade of one install, as asked.
struct Upgrade {
    args: Args,
    env: Env,
    root: Root,
    me: SelfId,
}

pub fn run(args: Args) -> anyhow::Result<u8> {
    selection::check(&args)?;
    let mut env: Env = std::env::vars_os().collect();
    let cwd = std::env::current_dir().context("cannot read the working directory")?;
    // The install here is the one `tootctl` would run: the widest search.
    let Some(root) = resolve::find_root(&env, Some(&cwd), Tool::Tootctl)? else {
        return Err(Failure::error(
            FAILURE,
            format!(
                "found no Mastodon install (MASTODON_ROOT is unset, none in {} or its parents, \
                 no ~mastodon/live). Run `tootguard upgrade` in the Mastodon directory \
                 (usually /home/mastodon/live), or set MASTODON_ROOT.",
                cwd.display()
            ),
        ));
    };
    // Nothing of an install others could have planted runs, whatever the
    // step (bundle and yarn run from it too).
    if let Err(untrusted) = resolve::untrusted(&root, Tool::Tootctl, &env) {
        return Err(untrusted.into_error());
    }
    // Every step runs in the root: a relative MASTODON_ROOT would name
    // another directory there, for the guards and for the steps' children.
    if let Some(absolute) = resolve::absolute_root_var(&env, &root) {
        // SAFETY: no other thread exists yet.
        unsafe { std::env::set_var("MASTODON_ROOT", &absolute) };
        env.insert("MASTODON_ROOT", absolute);
    }
    let me = SelfId::current()?;
    let mut args = args;
    if let Some(dir) = args.backup_dir.take() {
        args.backup_dir = Some(cwd.join(dir));
    }
    let to = Release {
        version: release::checked_out(&root.dir)
            .map_or_else(|_| "unknown".into(), |v| v.to_string()),
        commit: release::head_commit(&root.dir),
    };
    let mut record = Record::open(&root.dir, &to, args.dry_run);
    if args.from.is_none()
        && args.only.is_empty()
        && !args.dry_run
        && let Some(resume) = prompt::resume(&args, &record)?
    {
        args.from = Some(resume);
    }
    let selection = Selection::new(&args, record.backed_up());
    let upgrade = Upgrade {
        me,
        env,
        root,
        args,
    };
    if !upgrade.args.dry_run {
        if selection.backup_added {
            report::notice(
                "no backup of this upgrade yet: taking one before the migrations (--skip backup \
                 to go on without)",
            );
        }
        if settings::bypass(&upgrade.env) {
            report::warn("TOOTGUARD_BYPASS=1: the Rails steps run without any guard.");
        }
        if selection.unbacked {
            report::warn(
                "--skip backup: the migrations run without a backup taken for them; if one \
                 fails halfway, nothing here gives the database back.",
            );
        }
        record.save();
    }
    upgrade.run_steps(&selection, &mut record)
}
