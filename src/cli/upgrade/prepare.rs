//! What each step would run, computed and returned, never printed: the
//! program, its arguments, directory, user and environment changes, and
//! the guards' verdicts about it. The real run runs it and the dry run
//! prints it, so what the dry run shows is what runs.

use std::ffi::OsString;
use std::path::PathBuf;

use crate::database::migrations;
use crate::exec::Plan;
use crate::guards::{self, Level, Verdict};
use crate::invocation::{Shim, Tool};
use crate::launch::{self, Start};
use crate::marker::{Markers, Origin};
use crate::resolve;
use crate::site::Site;

use super::Upgrade;
use super::steps::{Action, RESTART, Step, Stop};

/// A step's command, ready to print or run.
pub(super) struct Prepared {
    pub plan: Plan,
    /// The guards' verdicts (the Rails steps): said before it runs, where
    /// a block stops it; the dry run shows the warnings and blocks.
    pub verdicts: Vec<Verdict>,
    /// The user guard's verdict for a program from PATH run as the owner:
    /// said before it runs, as the shim says it; the dry run shows what
    /// it changes (the `user` and `env` lines), not its text.
    pub user: Option<Verdict>,
    /// Where a `.env*` file sets `SKIP_POST_DEPLOYMENT_MIGRATIONS`, if one does.
    pub skip_post_in_file: Option<String>,
}

impl Prepared {
    fn plain(plan: Plan) -> Prepared {
        Prepared {
            plan,
            verdicts: Vec::new(),
            user: None,
            skip_post_in_file: None,
        }
    }
}

impl Upgrade {
    /// The commands `step` runs, in order: none for the preflight (it runs
    /// in this process) and for a restart left to the admin, the two
    /// `systemctl` commands for `--restart`, one for the others.
    pub(super) fn prepare(&self, step: Step) -> Vec<Result<Prepared, Stop>> {
        match step.action() {
            Action::Doctor => Vec::new(),
            Action::OnPath(name, args) => vec![self.on_path(step, name, args, true)],
            Action::Guarded(tool, args) => vec![self.guarded(step, tool, args)],
            Action::Backup => vec![self.backup_plan(step)],
            Action::Restart if self.args.restart => {
                RESTART.iter().map(|args| self.restart_plan(args)).collect()
            }
            Action::Restart => Vec::new(),
        }
    }

    /// `tool args` as the shim would run it: the install's `bin/<tool>`,
    /// every guard's changes, then the step's own, in the root. A dry run
    /// asks every guard without stopping at a block, as `explain` does.
    pub(super) fn guarded(&self, step: Step, tool: Tool, args: &[&str]) -> Result<Prepared, Stop> {
        let own = step.own_changes();
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
            !self.args.dry_run,
        )
        .map_err(|e| Stop::new("cannot start", step).detail(format!("{e:#}")))?;
        let mut plan = launch
            .plan
            .map_err(|e| Stop::new(format!("no {}", tool.name()), step).detail(format!("{e:#}")))?;
        let skip_post_in_file = launch
            .inv
            .as_ref()
            .and_then(|inv| guards::pgbouncer::skip_post_in_file(inv));
        plan.cwd = Some(self.root.dir.clone());
        // Last, so no guard can undo them.
        plan.apply(&own);
        Ok(Prepared {
            plan,
            verdicts: launch.verdicts,
            user: None,
            skip_post_in_file,
        })
    }

    /// `tootguard backup --for-upgrade`: it runs itself as the install's
    /// owner, and records the backup in this upgrade's record.
    fn backup_plan(&self, step: Step) -> Result<Prepared, Stop> {
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
        Ok(Prepared::plain(plan))
    }

    /// `systemctl args`, through `sudo -n` unless this is root.
    fn restart_plan(&self, args: &[&str]) -> Result<Prepared, Stop> {
        if Self::as_root() {
            self.on_path(Step::Restart, "systemctl", args, false)
        } else {
            let mut sudo_args = vec!["-n", "systemctl"];
            sudo_args.extend_from_slice(args);
            self.on_path(Step::Restart, "sudo", &sudo_args, false)
        }
    }

    pub(super) fn as_root() -> bool {
        nix::unistd::geteuid().is_root()
    }

    /// A program found on PATH (`bundle`, `yarn`, `systemctl`, `sudo`), run
    /// in the root with this process's environment — and, with `as_owner`,
    /// as the install's owner when the user guard says so (`bundle` and
    /// `yarn` write into the install; `systemctl` needs root).
    fn on_path(
        &self,
        step: Step,
        name: &str,
        args: &[&str],
        as_owner: bool,
    ) -> Result<Prepared, Stop> {
        let mut plan = Plan::new(
            PathBuf::new(),
            name.into(),
            args.iter().map(OsString::from).collect(),
        );
        plan.cwd = Some(self.root.dir.clone());
        let user = as_owner
            .then(|| guards::user::for_root(&self.root, &self.env))
            .flatten();
        if let Some(verdict) = &user {
            if verdict.level == Level::Block {
                return Err(Stop::new("blocked by the user guard", step).detail(verdict.text()));
            }
            plan.apply(&verdict.changes);
        }
        // Found on the PATH the step will run with (the owner's rbenv shims
        // first, when it runs as the owner), and never tootguard's own shim.
        let path = plan.var(&self.env, "PATH").unwrap_or_default();
        plan.program = resolve::search_path(name, &path, &self.root.dir, &self.me, None)
            .found
            .ok_or_else(|| Stop {
                user: user.clone().map(Box::new),
                ..Stop::new(format!("no {name}"), step).detail(format!(
                    "`{name}` is not on PATH ({}). Run the upgrade as the user who installed \
                     Mastodon, in a login shell (`su - mastodon`), so PATH has {name}.",
                    path.to_string_lossy()
                ))
            })?;
        Ok(Prepared {
            plan,
            verdicts: Vec::new(),
            user,
            skip_post_in_file: None,
        })
    }

    /// The migrations this checkout has and the database lacks, asked as
    /// the migrate steps would connect.
    pub(super) fn pending(&self) -> Result<migrations::Pending, String> {
        let route = guards::pgbouncer::route(&self.site())?;
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

    /// The install as a command run in its root sees it: its configuration
    /// and PostgreSQL's answers.
    pub(super) fn site(&self) -> Site {
        Site::new(
            self.root.dir.clone(),
            self.env.clone(),
            Some(self.root.clone()),
        )
    }
}
