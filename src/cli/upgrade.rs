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

use std::ffi::OsString;
use std::io::{IsTerminal, Read, Write};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::ValueEnum;
use nix::sys::signal::Signal;
use owo_colors::{OwoColorize, Stream};

use crate::cli::confirm as ask;
use crate::cli::doctor::{self, Status};
use crate::config::SKIP_POST;
use crate::database::migrations;
use crate::exec::Plan;
use crate::exit::{FAILURE, Failure, OK, USAGE};
use crate::guards::{self, Change, Level, Verdict, memory};
use crate::invocation::{Invocation, Shim, Tool};
use crate::launch::{self, Start};
use crate::marker::{Markers, Origin};
use crate::quote::{word as quote, word_str as quote_str};
use crate::release::{self, Release};
use crate::resolve::{self, Root, SelfId};
use crate::settings::{self, Env};
use crate::state::{self, State};
use crate::{backup, redact, report};

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

impl Step {
    const ALL: [Step; 8] = [
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

    /// `[4/7]`
    fn counter(self) -> String {
        format!("[{}/{}]", self as usize + 1, Step::ALL.len())
    }
}

/// The restart commands of the docs, run as root.
const RESTART: [&[&str]; 2] = [
    &["reload", "mastodon-web"],
    &["restart", "mastodon-sidekiq", "mastodon-streaming"],
];

/// Signs in the output of `assets:precompile` that it ran out of memory.
const OOM_SIGNS: [&str; 2] = ["heap out of memory", "ENOMEM"];

pub fn run(args: Args) -> anyhow::Result<u8> {
    // Post-deployment migrations never run before the restart: skipping the
    // restart while running them would drop columns the old code still uses.
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
    let mut args = args;
    if let Some(dir) = args.backup_dir.take() {
        args.backup_dir = Some(cwd.join(dir));
    }
    let mut upgrade = Upgrade {
        me: SelfId::current()?,
        bypass: settings::bypass(&env),
        env,
        root,
        args,
        dry_run: false,
    };
    let to = Release {
        version: release::checked_out(&upgrade.root.dir)
            .map_or_else(|_| "unknown".into(), |v| v.to_string()),
        commit: release::head_commit(&upgrade.root.dir),
    };
    let mut record = Record::open(&upgrade.root.dir, &to, upgrade.args.dry_run);
    if upgrade.args.from.is_none()
        && upgrade.args.only.is_empty()
        && !upgrade.args.dry_run
        && let Some(resume) = upgrade.interrupted(&record)?
    {
        upgrade.args.from = Some(resume);
    }
    let from = upgrade.args.from.unwrap_or(Step::Preflight);
    let only = &upgrade.args.only;
    let mut selected: Vec<Step> = Step::ALL
        .into_iter()
        .filter(|s| {
            if only.is_empty() {
                *s >= from && !upgrade.args.skip.contains(s)
            } else {
                only.contains(s)
            }
        })
        .collect();
    // No migration runs without a backup of this upgrade, resumed or not,
    // unless the backup is skipped on purpose.
    let migrates = selected
        .iter()
        .any(|s| matches!(s, Step::PreMigrate | Step::PostMigrate));
    // A recorded backup counts only while it is still there, whole.
    let backed_up = record
        .current()
        .and_then(|u| u.backup.as_deref())
        .is_some_and(backup::usable);
    if migrates
        && !backed_up
        && !selected.contains(&Step::Backup)
        && !upgrade.args.skip.contains(&Step::Backup)
    {
        let at = selected
            .iter()
            .position(|s| *s > Step::Backup)
            .unwrap_or(selected.len());
        selected.insert(at, Step::Backup);
        if !upgrade.args.dry_run {
            report::notice(
                "no backup of this upgrade yet: taking one before the migrations (--skip backup \
                 to go on without)",
            );
        }
    }
    if upgrade.args.dry_run {
        return upgrade.dry_run(&selected);
    }
    if upgrade.bypass {
        report::warn("TOOTGUARD_BYPASS=1: the Rails steps run without any guard.");
    }
    if upgrade.args.skip.contains(&Step::Backup) && migrates && !backed_up {
        report::warn(
            "--skip backup: the migrations run without a backup taken for them; if one fails \
             halfway, nothing here gives the database back.",
        );
    }
    record.save();
    let json = upgrade.args.json;
    for step in Step::ALL {
        if !selected.contains(&step) {
            if upgrade.args.skip.contains(&step) && step >= from {
                progress(&format!(
                    "{} {} skipped (--skip)",
                    step.counter(),
                    step.name()
                ));
                json_line(json, step, "skipped", None, None);
            }
            continue;
        }
        progress(&format!("{} {} …", step.counter(), step.name()));
        json_line(json, step, "started", None, None);
        let started = Instant::now();
        let outcome = upgrade.step(step);
        let elapsed = started.elapsed();
        let took = duration(elapsed);
        match outcome {
            Ok(()) => {
                progress(&format!(
                    "{} {} {} {took}",
                    step.counter(),
                    step.name(),
                    "✓".if_supports_color(Stream::Stderr, |t| t.green().to_string())
                ));
                json_line(json, step, "ok", Some(elapsed), None);
                record.done(step);
            }
            Err(stop) => {
                progress(&format!(
                    "{} {} {} {took} ({})",
                    step.counter(),
                    step.name(),
                    "✗".if_supports_color(Stream::Stderr, |t| t.red().to_string()),
                    stop.status
                ));
                json_line(
                    json,
                    step,
                    "failed",
                    Some(elapsed),
                    Some(&upgrade.resume_command(stop.resume, stop.add_yes)),
                );
                let mut detail = stop.detail.map(|d| format!(" {d}")).unwrap_or_default();
                if matches!(step, Step::PreMigrate | Step::PostMigrate) {
                    detail.push_str(&record.recovery(&upgrade.root.dir));
                }
                return Err(Failure::error(
                    FAILURE,
                    format!(
                        "step {} {} stopped the upgrade ({}).{detail}\nResume with: {}",
                        step.counter(),
                        step.name(),
                        stop.status,
                        upgrade.resume_command(stop.resume, stop.add_yes)
                    ),
                ));
            }
        }
    }
    Ok(OK)
}

/// This upgrade's record (`state.rs`): opened at the start, written after
/// every step. When it cannot be read or written, the upgrade goes on
/// without it, after one warning.
struct Record {
    state: Option<State>,
    warned: bool,
}

impl Record {
    /// The record of the upgrade to `to`: the one interrupted, or a new one
    /// that starts from what runs now. A dry run changes nothing.
    fn open(root: &Path, to: &Release, dry_run: bool) -> Record {
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

    fn current(&self) -> Option<&state::Upgrade> {
        self.state.as_ref()?.upgrade.as_ref()
    }

    fn save(&mut self) {
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
    fn done(&mut self, step: Step) {
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
    fn recovery(&self, root: &Path) -> String {
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

/// Why a step stopped the run, and where to resume.
struct Stop {
    /// "exit status 1", "killed by SIGKILL, signal 9", "blocked by the memory guard"
    status: String,
    detail: Option<String>,
    resume: Step,
    /// The resume command needs `--yes` (preflight warnings, no terminal).
    add_yes: bool,
}

impl Stop {
    fn new(status: impl Into<String>, resume: Step) -> Stop {
        Stop {
            status: status.into(),
            detail: None,
            resume,
            add_yes: false,
        }
    }

    fn detail(mut self, detail: impl Into<String>) -> Stop {
        self.detail = Some(detail.into());
        self
    }
}

/// A step's command, ready to print or run.
struct Prepared {
    plan: Plan,
    verdicts: Vec<Verdict>,
    /// Where a `.env*` file sets `SKIP_POST_DEPLOYMENT_MIGRATIONS`, if one does.
    skip_post_in_file: Option<String>,
}

struct Upgrade {
    args: Args,
    env: Env,
    root: Root,
    me: SelfId,
    bypass: bool,
    /// Set while planning a dry run: guards are asked without stopping at a
    /// block, as `explain` does.
    dry_run: bool,
}

impl Prepared {
    /// A command no guard is asked about (bundle, yarn).
    fn plain(plan: Plan) -> Prepared {
        Prepared {
            plan,
            verdicts: Vec::new(),
            skip_post_in_file: None,
        }
    }
}

impl Upgrade {
    /// The command a step runs, planned as it will run: one place for the
    /// run and the dry run, so what the dry run shows is what runs.
    /// `None` for the steps that are not one command (preflight, restart).
    fn prepare(&self, step: Step) -> Option<Result<Prepared, Stop>> {
        Some(match step {
            Step::Bundle => self
                .on_path(step, "bundle", &["install"], true)
                .map(Prepared::plain),
            Step::Yarn => self
                .on_path(step, "yarn", &["install", "--immutable"], true)
                .map(Prepared::plain),
            Step::PreMigrate | Step::PostMigrate => {
                self.guarded(step, Tool::Rails, &["db:migrate"])
            }
            Step::Precompile => self.guarded(step, Tool::Rails, &["assets:precompile"]),
            Step::Backup => self.backup_plan(step).map(Prepared::plain),
            Step::Preflight | Step::Restart => return None,
        })
    }

    fn step(&self, step: Step) -> Result<(), Stop> {
        let prepared = self.prepare(step).transpose()?;
        match (step, prepared) {
            (Step::Preflight, _) => self.preflight(),
            (Step::Restart, _) => self.restart(),
            (Step::Precompile, Some(prepared)) => self.precompile(prepared),
            (Step::PreMigrate | Step::PostMigrate, Some(prepared)) => {
                if step == Step::PostMigrate
                    && let Some(source) = prepared.skip_post_in_file.as_deref()
                {
                    return Err(
                        Stop::new(format!("{SKIP_POST} is set in {source}"), step).detail(
                            "Mastodon would read it from there and skip the post-deployment \
                             migrations, whatever tootguard removes from the environment. \
                             Delete that line.",
                        ),
                    );
                }
                self.check_verdicts(step, &prepared.verdicts)?;
                if step == Step::PostMigrate && self.env.contains(SKIP_POST) {
                    report::notice(&format!(
                        "{SKIP_POST} is exported in this shell; the post-deployment migrations \
                         run without it"
                    ));
                }
                self.run_plain(step, prepared.plan)
            }
            (_, Some(prepared)) => self.run_plain(step, prepared.plan),
            (_, None) => Ok(()),
        }
    }

    /// The step's own environment change.
    fn step_changes(step: Step) -> Vec<Change> {
        match step {
            Step::PreMigrate => vec![Change::SetEnv(SKIP_POST, "true".into())],
            // Removed even when the shell exports it: any value skips them.
            Step::PostMigrate => vec![Change::UnsetEnv(SKIP_POST)],
            _ => Vec::new(),
        }
    }

    /// `tool args` as the shim would run it: the install's `bin/<tool>`,
    /// every guard's changes, then the step's own, in the root.
    fn guarded(&self, step: Step, tool: Tool, args: &[&str]) -> Result<Prepared, Stop> {
        let own = Self::step_changes(step);
        // The guards see the environment the child will get.
        let mut env = self.env.clone();
        crate::exec::apply_env(&mut env, &own);
        let start = Start {
            shim: Shim::Tool(tool),
            argv0: tool.name().into(),
            args: args.iter().map(OsString::from).collect(),
            cwd: Some(self.root.dir.clone()),
            env,
        };
        let markers = Markers::read(&start.env);
        let launch = launch::decide(
            start,
            &self.me,
            &markers,
            Origin::children_of_this_process(),
            !self.dry_run,
        )
        .map_err(|e| Stop::new("cannot start", step).detail(format!("{e:#}")))?;
        let mut plan = launch
            .plan
            .map_err(|e| Stop::new(format!("no {}", tool.name()), step).detail(format!("{e:#}")))?;
        let verdicts = launch.verdicts;
        let skip_post_in_file = launch
            .inv
            .as_ref()
            .and_then(guards::pgbouncer::skip_post_in_file);
        plan.cwd = Some(self.root.dir.clone());
        // Last, so no guard can undo them.
        plan.apply(&own);
        Ok(Prepared {
            plan,
            verdicts,
            skip_post_in_file,
        })
    }

    /// `tootguard backup --for-upgrade`: it runs itself as the install's
    /// owner, and records the backup in this upgrade's record.
    fn backup_plan(&self, step: Step) -> Result<Plan, Stop> {
        let me = std::env::current_exe().map_err(|e| {
            Stop::new("cannot start", step).detail(format!("cannot find tootguard itself: {e}"))
        })?;
        let mut args: Vec<OsString> = vec!["backup".into(), "--for-upgrade".into()];
        if let Some(dir) = &self.args.backup_dir {
            args.push("--dir".into());
            args.push(dir.clone().into_os_string());
        }
        let mut plan = Plan::new(me, "tootguard".into(), args);
        plan.cwd = Some(self.root.dir.clone());
        Ok(plan)
    }

    /// An upgrade to this same checkout that stopped part-way, offered to
    /// resume where it stopped: asked on a terminal, taken with --yes,
    /// otherwise a stop that names the command.
    fn interrupted(&self, record: &Record) -> anyhow::Result<Option<Step>> {
        let Some(upgrade) = record.current().filter(|u| !u.finished) else {
            return Ok(None);
        };
        let Some(last) = Step::ALL
            .into_iter()
            .rev()
            .find(|s| upgrade.done.iter().any(|d| d == s.name()))
        else {
            return Ok(None);
        };
        let Some(next) = Step::ALL
            .into_iter()
            .find(|s| *s > last && !self.args.skip.contains(s))
        else {
            return Ok(None);
        };
        let backup = upgrade
            .backup
            .as_ref()
            .map(|b| format!("; its backup: {}", b.display()))
            .unwrap_or_default();
        let what = format!(
            "An upgrade to Mastodon {} stopped after {} (done: {}{backup}).",
            upgrade.to.version,
            last.name(),
            upgrade.done.join(", ")
        );
        if self.args.yes {
            report::notice(&format!("{what} Resuming at {} (--yes).", next.name()));
            return Ok(Some(next));
        }
        if !std::io::stdin().is_terminal() {
            return Err(Failure::error(
                FAILURE,
                format!(
                    "{what} Resume it with `{}`, or start it again with `tootguard upgrade \
                     --from preflight`.",
                    self.resume_command(next, false)
                ),
            ));
        }
        eprintln!("{what}");
        if ask(&format!("Resume at {}? [y/N] ", next.name())) {
            Ok(Some(next))
        } else {
            Err(Failure::error(
                FAILURE,
                "stopped at your answer. To start the upgrade again from the beginning: \
                 `tootguard upgrade --from preflight`.",
            ))
        }
    }

    /// A program found on PATH (`bundle`, `yarn`, `systemctl`, `sudo`), run
    /// in the root with this process's environment — and, with `as_owner`,
    /// as the install's owner when the user guard says so (`bundle` and
    /// `yarn` write into the install; `systemctl` needs root).
    fn on_path(&self, step: Step, name: &str, args: &[&str], as_owner: bool) -> Result<Plan, Stop> {
        let mut plan = Plan::new(
            PathBuf::new(),
            name.into(),
            args.iter().map(OsString::from).collect(),
        );
        plan.cwd = Some(self.root.dir.clone());
        if let Some(verdict) = as_owner
            .then(|| guards::user::for_root(&self.root, &self.env))
            .flatten()
        {
            if verdict.level == Level::Block {
                return Err(Stop::new("blocked by the user guard", step).detail(verdict.text()));
            }
            if !self.dry_run {
                report::verdict(verdict.level, &verdict.text());
            }
            plan.apply(&verdict.changes);
        }
        // Found on the PATH the step will run with (the owner's rbenv shims
        // first, when it runs as the owner), and never tootguard's own shim.
        let path = plan.var(&self.env, "PATH").unwrap_or_default();
        plan.program = resolve::search_path(name, &path, &self.root.dir, &self.me, None)
            .found
            .ok_or_else(|| {
                Stop::new(format!("no {name}"), step).detail(format!(
                    "`{name}` is not on PATH ({}). Run the upgrade as the user who installed \
                     Mastodon, in a login shell (`su - mastodon`), so PATH has {name}.",
                    path.to_string_lossy()
                ))
            })?;
        Ok(plan)
    }

    /// Prints the verdicts as the shim does; a block stops the step.
    fn check_verdicts(&self, step: Step, verdicts: &[Verdict]) -> Result<(), Stop> {
        for verdict in verdicts {
            report::verdict(verdict.level, &verdict.text());
            if verdict.level == Level::Block {
                return Err(Stop::new(
                    format!("blocked by the {} guard", verdict.id),
                    step,
                ));
            }
        }
        Ok(())
    }

    fn run_plain(&self, step: Step, plan: Plan) -> Result<(), Stop> {
        let status = {
            let _interrupt = crate::exec::InterruptGuard::install();
            let mut cmd = plan.command();
            if self.args.json {
                // stdout carries the JSON lines alone.
                cmd.stdout(std::io::stderr());
            }
            cmd.status()
        }
        .map_err(|e| cannot_run(step, &plan, &e))?;
        if status.success() {
            Ok(())
        } else {
            Err(Stop::new(describe(status), step))
        }
    }

    fn preflight(&self) -> Result<(), Stop> {
        let step = Step::Preflight;
        let mut checks = doctor::checks(&self.env, &self.root.dir);
        // How tootctl completes is no matter for the upgrade.
        checks.retain(|c| c.id != doctor::COMPLETION);
        eprint!("{}", doctor::table(&checks, Stream::Stderr));
        let count = |status| checks.iter().filter(|c| c.status == status).count();
        let (fails, warns) = (count(Status::Fail), count(Status::Warn));
        if fails > 0 {
            return Err(
                Stop::new(format!("{fails} check(s) failed"), step).detail("Fix what fails above.")
            );
        }
        if warns == 0 {
            return Ok(());
        }
        if self.args.yes {
            report::notice(&format!("continuing despite {warns} warning(s) (--yes)"));
            return Ok(());
        }
        if !std::io::stdin().is_terminal() {
            let mut stop = Stop::new(format!("{warns} warning(s), no terminal to ask"), step)
                .detail("Read the warnings above; to continue despite them, rerun with --yes.");
            stop.add_yes = true;
            return Err(stop);
        }
        if ask(&format!("Continue despite {warns} warning(s)? [y/N] ")) {
            Ok(())
        } else {
            Err(Stop::new("stopped at your answer", step))
        }
    }

    fn precompile(&self, prepared: Prepared) -> Result<(), Stop> {
        let step = Step::Precompile;
        self.check_verdicts(step, &prepared.verdicts)?;
        let plan = prepared.plan;
        let (status, sign) = {
            let _interrupt = crate::exec::InterruptGuard::install();
            run_teed(&plan, self.args.json)
        }
        .map_err(|e| cannot_run(step, &plan, &e))?;
        if status.success() {
            return Ok(());
        }
        let why = if status.signal() == Some(Signal::SIGKILL as i32) {
            "it was killed by SIGKILL, the signal of the kernel's out-of-memory killer".to_owned()
        } else if let Some(sign) = sign {
            format!("it printed `{sign}`")
        } else {
            return Err(Stop::new(describe(status), step));
        };
        report::error(&self.memory_advice(&why));
        let cleared = self.clear_cache();
        Err(Stop::new(describe(status), step).detail(match cleared {
            Ok(()) => "The asset cache is cleared; add the swap, then resume.".to_owned(),
            Err(e) => format!(
                "Clearing the asset cache failed too ({e}): run `cd {} && RAILS_ENV=production \
                 bin/rake tmp:cache:clear` before retrying, or the retry reports success and \
                 keeps the old assets.",
                quote(self.root.dir.as_os_str())
            ),
        }))
    }

    /// The memory guard's figures and swap commands, for a precompile that died.
    fn memory_advice(&self, why: &str) -> String {
        let inv = Invocation::new(
            Tool::Rails,
            vec!["assets:precompile".into()],
            self.root.dir.clone(),
            self.env.clone(),
            Some(self.root.clone()),
        );
        let required = memory::required_mb(&inv)
            .ok()
            .map_or(memory::DEFAULT_MIN_MB, |(mb, _)| mb);
        let (figures, missing) = match memory::measure(&self.env) {
            Ok(m) => (
                format!(
                    " Now: {} MB available RAM + {} MB free swap; it needs about {required} MB.",
                    m.available, m.swap_free
                ),
                required.saturating_sub(m.available + m.swap_free),
            ),
            Err(_) => (String::new(), 0),
        };
        // It died with what the guard counted as enough: more than the
        // shortfall, and at least the 2 GB whose absence is reported to fail.
        let size_gb = missing.div_ceil(1024).max(2);
        format!(
            "assets:precompile ran out of memory: {why}.{figures} {} Clearing the asset cache \
             now (bin/rake tmp:cache:clear), so the retry really rebuilds the assets.",
            memory::swap_fix(size_gb)
        )
    }

    /// `bin/rake tmp:cache:clear` through the guards: after a failed
    /// precompile the next one otherwise reports success with stale assets.
    fn clear_cache(&self) -> Result<(), String> {
        let prepared = self
            .guarded(Step::Precompile, Tool::Rake, &["tmp:cache:clear"])
            .map_err(|s| s.detail.unwrap_or(s.status))?;
        self.check_verdicts(Step::Precompile, &prepared.verdicts)
            .map_err(|s| s.status)?;
        self.run_plain(Step::Precompile, prepared.plan)
            .map_err(|s| s.status)
    }

    fn restart(&self) -> Result<(), Stop> {
        let step = Step::Restart;
        if self.args.restart {
            let as_root = nix::unistd::geteuid().is_root();
            for args in RESTART {
                let plan = self.restart_plan(args, as_root)?;
                report::notice(&format!("running {}", command_line(&plan)));
                self.run_plain(step, plan).map_err(|stop| {
                    let detail = if as_root {
                        String::new()
                    } else {
                        "`sudo -n` runs only what sudo allows without a password. ".to_owned()
                    };
                    stop.detail(format!(
                        "{detail}Restart the services yourself as root ({}), then resume \
                         with `{}`.",
                        restart_lines().join("; "),
                        self.resume_command(Step::PostMigrate, false)
                    ))
                })?;
            }
            return Ok(());
        }
        let lines: Vec<String> = restart_lines().iter().map(|l| format!("  {l}")).collect();
        if !std::io::stdin().is_terminal() {
            return Err(
                Stop::new("the services must restart first", Step::PostMigrate).detail(format!(
                    "The post-deployment migrations must wait until the new code runs, and \
                     there is no terminal to ask whether it does. As root, run:\n{}\nthen run \
                     the post-deployment migrations (or rerun with --restart to let tootguard \
                     restart the services).",
                    lines.join("\n")
                )),
            );
        }
        eprintln!(
            "Restart the services now, as root (in another terminal):\n{}\nThe \
             post-deployment migrations run only once the new code is running.",
            lines.join("\n")
        );
        if ask("Have the services restarted? [y/N] ") {
            Ok(())
        } else {
            Err(
                Stop::new("stopped at your answer", Step::PostMigrate).detail(format!(
                    "Restart the services as root ({}); once they run the new code, run the \
                     post-deployment migrations.",
                    restart_lines().join("; ")
                )),
            )
        }
    }

    fn restart_plan(&self, args: &[&str], as_root: bool) -> Result<Plan, Stop> {
        if as_root {
            self.on_path(Step::Restart, "systemctl", args, false)
        } else {
            let mut sudo_args = vec!["-n", "systemctl"];
            sudo_args.extend_from_slice(args);
            self.on_path(Step::Restart, "sudo", &sudo_args, false)
        }
    }

    /// The exact command that resumes at `from` with the same choices:
    /// the steps, and the options that shape them (a resumed backup goes
    /// to the same `--backup-dir`; a run that asked for `--json` resumes
    /// with it).
    fn resume_command(&self, from: Step, add_yes: bool) -> String {
        let mut parts = vec!["tootguard upgrade".to_owned()];
        if self.args.only.is_empty() {
            parts.push(format!("--from {}", from.name()));
            let mut skips: Vec<Step> = self
                .args
                .skip
                .iter()
                .copied()
                .filter(|s| *s > from)
                .collect();
            skips.sort();
            skips.dedup();
            parts.extend(skips.iter().map(|s| format!("--skip {}", s.name())));
        } else {
            let mut only: Vec<Step> = self
                .args
                .only
                .iter()
                .copied()
                .filter(|s| *s >= from)
                .collect();
            if !only.contains(&from) {
                only.insert(0, from);
            }
            only.sort();
            only.dedup();
            parts.extend(only.iter().map(|s| format!("--only {}", s.name())));
        }
        if self.args.restart {
            parts.push("--restart".to_owned());
        }
        if let Some(dir) = &self.args.backup_dir {
            parts.push(format!("--backup-dir {}", quote(dir.as_os_str())));
        }
        if self.args.yes || add_yes {
            parts.push("--yes".to_owned());
        }
        if self.args.json {
            parts.push("--json".to_owned());
        }
        parts.join(" ")
    }

    /// `--dry-run`: every selected step's command line, directory and
    /// environment changes. Guards are asked (as `explain` does) so their
    /// changes show; nothing runs. Exits 1 when a step could not run as
    /// things stand (no program, a guard's block).
    fn dry_run(mut self, selected: &[Step]) -> anyhow::Result<u8> {
        self.dry_run = true;
        let mut out = format!(
            "tootguard upgrade --dry-run: nothing runs. Mastodon {} install at {}.\n",
            self.root.kind(),
            self.root.dir.display()
        );
        let mut trouble = false;
        let mut pending = None;
        let dir = format!("  dir  {}\n", self.root.dir.display());
        for step in Step::ALL {
            let header = format!("{} {}", step.counter(), step.name());
            if !selected.contains(&step) {
                let why = if !self.args.only.is_empty() {
                    "skipped (not in --only)"
                } else if self.args.skip.contains(&step) {
                    "skipped (--skip)"
                } else {
                    "skipped (before --from)"
                };
                out.push_str(&format!("{header}  {why}\n"));
                continue;
            }
            out.push_str(&header);
            out.push('\n');
            match step {
                Step::Preflight => out.push_str(
                    "  the `tootguard doctor` checks: a fail stops, warnings need --yes or a yes\n",
                ),
                Step::Bundle | Step::Yarn => {
                    trouble |= show(&mut out, &dir, self.prepare(step));
                }
                Step::Backup => {
                    trouble |= show(&mut out, &dir, self.prepare(step));
                    out.push_str(
                        "  pg_dump -Fc at PostgreSQL itself, read back with pg_restore --list, \
                         and the .env files, as the install's owner; refused before writing \
                         when the database's size does not fit\n",
                    );
                }
                Step::PreMigrate | Step::PostMigrate => {
                    let prepared = self.prepare(step);
                    let in_file = prepared
                        .as_ref()
                        .and_then(|p| p.as_ref().ok())
                        .and_then(|p| p.skip_post_in_file.clone());
                    trouble |= show(&mut out, &dir, prepared);
                    let pending = pending.get_or_insert_with(|| self.pending());
                    // Without pre-migrate before it, post-migrate's
                    // db:migrate also applies what db/migrate has pending.
                    let pre_ran = selected.contains(&Step::PreMigrate);
                    out.push_str(&applies(step, pending, pre_ran));
                    if let Some(source) = in_file.filter(|_| step == Step::PostMigrate) {
                        trouble = true;
                        out.push_str(&format!(
                            "  stop {SKIP_POST} is set in {source}: Mastodon would skip the \
                             post-deployment migrations\n"
                        ));
                    }
                }
                Step::Precompile => {
                    trouble |= show(&mut out, &dir, self.prepare(step));
                    out.push_str(
                        "  if it runs out of memory: the swap advice, then bin/rake \
                         tmp:cache:clear, and stop\n",
                    );
                }
                Step::Restart if self.args.restart => {
                    let as_root = nix::unistd::geteuid().is_root();
                    for args in RESTART {
                        let plan = self.restart_plan(args, as_root).map(Prepared::plain);
                        trouble |= show(&mut out, &dir, Some(plan));
                    }
                }
                Step::Restart => {
                    out.push_str("  you, as root:\n");
                    for line in restart_lines() {
                        out.push_str(&format!("    {line}\n"));
                    }
                    out.push_str(
                        "  then confirm on the terminal (without one: stop here, resume with \
                         --from post-migrate)\n",
                    );
                }
            }
        }
        std::io::stdout()
            .write_all(redact::scrub(&out).as_bytes())
            .context("cannot write the plan to standard output")?;
        Ok(if trouble { FAILURE } else { OK })
    }
}

impl Upgrade {
    /// The migrations this checkout has and the database lacks, asked as
    /// the migrate steps would connect.
    fn pending(&self) -> Result<migrations::Pending, String> {
        let inv = Invocation::new(
            Tool::Rails,
            vec!["db:migrate".into()],
            self.root.dir.clone(),
            self.env.clone(),
            Some(self.root.clone()),
        );
        let route = guards::pgbouncer::route(&inv)?;
        let versions = match (&route.report, &route.unasked) {
            (Some(report), _) => match (&report.configured, &report.versions) {
                (_, Ok(versions)) => versions.clone(),
                (Err(why), _) | (_, Err(why)) => return Err(why.clone()),
            },
            (None, Some(why)) => return Err(why.clone()),
            (None, None) => return Err("the database was not asked".into()),
        };
        let files = migrations::files(&self.root.dir)?;
        Ok(migrations::pending(&files, &versions))
    }
}

/// A migrate step's line of what it would apply.
fn applies(step: Step, pending: &Result<migrations::Pending, String>, pre_ran: bool) -> String {
    let pending = match pending {
        Ok(pending) => pending,
        Err(why) => {
            return format!("  applies (unknown: the database could not be asked: {why})\n");
        }
    };
    let names: Vec<&String> = match step {
        Step::PreMigrate => pending.pre.iter().collect(),
        _ if pre_ran => pending.post.iter().collect(),
        _ => pending.pre.iter().chain(&pending.post).collect(),
    };
    if names.is_empty() {
        return "  applies nothing: no migration of this kind is pending\n".into();
    }
    const SHOWN: usize = 20;
    let mut line = format!(
        "  applies {} migration{}: {}",
        names.len(),
        if names.len() == 1 { "" } else { "s" },
        names
            .iter()
            .take(SHOWN)
            .map(|n| n.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    );
    if names.len() > SHOWN {
        line.push_str(&format!(" and {} more", names.len() - SHOWN));
    }
    line.push('\n');
    line
}

/// One step of a dry run: directory, environment changes, command line and
/// the guards' warnings; true when it could not run as things stand.
fn show(out: &mut String, dir: &str, prepared: Option<Result<Prepared, Stop>>) -> bool {
    let Some(prepared) = prepared else {
        return false;
    };
    match prepared {
        Ok(Prepared { plan, verdicts, .. }) => {
            out.push_str(dir);
            if let Some(user) = &plan.run_as {
                out.push_str(&format!("  user {}\n", user.name));
            }
            // What the step's program gets: the guards' changes and the
            // step's own (HOME and PATH of the owner it runs as), not the
            // markers for tootguard's own next layer.
            let changes: Vec<Change> = plan
                .env
                .iter()
                .filter(|(name, _)| !name.starts_with("TOOTGUARD_"))
                .map(|(name, value)| match value {
                    Some(value) => Change::SetEnv(name, value.clone()),
                    None => Change::UnsetEnv(name),
                })
                .collect();
            if let Some(env) = env_line(&changes) {
                out.push_str(&format!("  env  {env}\n"));
            }
            out.push_str(&format!("  run  {}\n", command_line(&plan)));
            let mut blocked = false;
            for v in verdicts.iter().filter(|v| v.level >= Level::Warn) {
                blocked |= v.level == Level::Block;
                out.push_str(&format!("  {}  {}: {}\n", v.level.as_str(), v.id, v.text()));
            }
            blocked
        }
        Err(stop) => {
            out.push_str(&format!(
                "  cannot run: {}{}\n",
                stop.status,
                stop.detail.map(|d| format!(": {d}")).unwrap_or_default()
            ));
            true
        }
    }
}

/// Runs `plan` with both output streams teed to ours while looking for
/// [`OOM_SIGNS`]; returns the status and the first sign seen.
fn run_teed(plan: &Plan, json: bool) -> std::io::Result<(ExitStatus, Option<&'static str>)> {
    let mut child = plan
        .command()
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let stdout = child.stdout.take();
    let stderr = child.stderr.take();
    let out = std::thread::spawn(move || {
        stdout.and_then(|p| {
            if json {
                tee(p, std::io::stderr())
            } else {
                tee(p, std::io::stdout())
            }
        })
    });
    let err = std::thread::spawn(move || stderr.and_then(|p| tee(p, std::io::stderr())));
    let status = child.wait()?;
    let seen_out = out.join().ok().flatten();
    let seen_err = err.join().ok().flatten();
    Ok((status, seen_out.or(seen_err)))
}

/// Copies `from` to `to` as it comes, and reports the first OOM sign seen,
/// also across read boundaries. Works on bytes: output need not be UTF-8.
fn tee(mut from: impl Read, mut to: impl Write) -> Option<&'static str> {
    let keep = OOM_SIGNS.iter().map(|s| s.len()).max().unwrap_or(1) - 1;
    let mut buf = [0u8; 8192];
    let mut window: Vec<u8> = Vec::new();
    let mut seen = None;
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(_) => break,
        };
        let _ = to.write_all(&buf[..n]);
        let _ = to.flush();
        if seen.is_none() {
            window.extend_from_slice(&buf[..n]);
            seen = OOM_SIGNS
                .into_iter()
                .find(|sign| window.windows(sign.len()).any(|w| w == sign.as_bytes()));
            let cut = window.len().saturating_sub(keep);
            window.drain(..cut);
        }
    }
    seen
}

fn restart_lines() -> Vec<String> {
    RESTART
        .iter()
        .map(|args| format!("systemctl {}", args.join(" ")))
        .collect()
}

/// `NAME=value` and `unset NAME`, last change per name, secrets masked.
fn env_line(changes: &[Change]) -> Option<String> {
    let last = guards::shown_env_changes(changes);
    (!last.is_empty()).then(|| {
        last.iter()
            .map(|(name, value)| match value {
                Some(v) => format!("{name}={}", quote_str(v)),
                None => format!("unset {name}"),
            })
            .collect::<Vec<_>>()
            .join(" ")
    })
}

/// The program and its arguments, quoted for a POSIX shell.
fn command_line(plan: &Plan) -> String {
    plan.interpreter
        .iter()
        .map(|ruby| ruby.as_os_str())
        .chain(std::iter::once(plan.program.as_os_str()))
        .chain(plan.args.iter().map(OsString::as_os_str))
        .map(quote)
        .collect::<Vec<_>>()
        .join(" ")
}

/// "exit status 7", "killed by SIGKILL, signal 9".
fn describe(status: ExitStatus) -> String {
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exit status {code}"),
        (None, Some(sig)) => match Signal::try_from(sig) {
            Ok(signal) => format!("killed by {}, signal {sig}", signal.as_str()),
            Err(_) => format!("killed by signal {sig}"),
        },
        _ => status.to_string(),
    }
}

fn cannot_run(step: Step, plan: &Plan, err: &std::io::Error) -> Stop {
    let program = plan.program.display();
    let hint = match err.raw_os_error() {
        Some(code) if code == nix::errno::Errno::ENOENT as i32 => {
            " It, or the interpreter on its #! line, does not exist; Mastodon's bin/ scripts \
             need `ruby` on PATH (with rbenv, ~/.rbenv/shims)."
        }
        Some(code) if code == nix::errno::Errno::EACCES as i32 => {
            " This user may not execute it: check its permissions."
        }
        _ => "",
    };
    Stop::new("could not start", step).detail(format!("cannot run {program}: {err}.{hint}"))
}

/// With `--json`: one object a line on stdout, in one write.
fn json_line(json: bool, step: Step, status: &str, took: Option<Duration>, resume: Option<&str>) {
    if !json {
        return;
    }
    let mut line = serde_json::json!({ "step": step.name(), "status": status });
    if let Some(took) = took {
        line["seconds"] = serde_json::json!((took.as_secs_f64() * 10.0).round() / 10.0);
    }
    if let Some(resume) = resume {
        line["resume"] = serde_json::json!(resume);
    }
    let _ = std::io::stdout().write_all(format!("{line}\n").as_bytes());
}

/// A progress line on stderr, in one write.
fn progress(line: &str) {
    let _ = std::io::stderr().write_all(format!("{line}\n").as_bytes());
}

fn duration(d: Duration) -> String {
    let secs = d.as_secs_f64();
    if secs < 60.0 {
        format!("{secs:.1}s")
    } else {
        let whole = d.as_secs();
        format!("{}m {:02}s", whole / 60, whole % 60)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tee_finds_a_sign_split_across_reads() {
        struct Chunks(Vec<&'static [u8]>);
        impl Read for Chunks {
            fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
                if self.0.is_empty() {
                    return Ok(0);
                }
                let chunk = self.0.remove(0);
                buf[..chunk.len()].copy_from_slice(chunk);
                Ok(chunk.len())
            }
        }
        let mut copy = Vec::new();
        let input = Chunks(vec![b"\xff<--- JavaScript heap out ", b"of memory\n"]);
        assert_eq!(tee(input, &mut copy), Some("heap out of memory"));
        assert_eq!(copy, b"\xff<--- JavaScript heap out of memory\n");
        assert_eq!(tee(Chunks(vec![b"all fine\n"]), Vec::new()), None);
    }

    #[test]
    fn step_names_are_the_stable_kebab_case_ones() {
        for step in Step::ALL {
            let value = step.to_possible_value().unwrap();
            assert_eq!(value.get_name(), step.name());
        }
    }
}
