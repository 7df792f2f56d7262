//! The one loop over the steps, for the dry run and the real run: each
//! step left out, described or run in the steps' order, through the
//! printer. A real run records every step done and stops at the first
//! failure with the command that resumes it.

use std::time::Instant;

use owo_colors::Stream;

use crate::cli::doctor;
use crate::config::SKIP_POST;
use crate::guards::{Level, Verdict};
use crate::report;

use super::Upgrade;
use super::child;
use super::prepare::Prepared;
use super::print::{Printer, command_line};
use super::prompt;
use super::record::Record;
use super::selection::{Selection, resume_command};
use super::steps::{Action, Step, Stop, restart_lines};

impl Upgrade {
    pub(super) fn run_steps(
        &self,
        selection: &Selection,
        record: &mut Record,
    ) -> anyhow::Result<u8> {
        let mut printer = if self.args.dry_run {
            Printer::plan(&self.root)
        } else {
            Printer::progress(self.args.json)
        };
        // Asked once, for the migrate steps of a dry run.
        let mut pending = None;
        for step in Step::ALL {
            if let Some(left) = selection.left_out(step) {
                printer.left_out(step, left, selection.from());
                continue;
            }
            printer.started(step);
            if self.args.dry_run {
                let prepared = self.prepare(step);
                let pending = step
                    .migrates()
                    .then(|| &*pending.get_or_insert_with(|| self.pending()));
                let pre_ran = selection.runs(Step::PreMigrate);
                printer.describe(step, &prepared, pending, pre_ran, self.args.restart);
                continue;
            }
            let started = Instant::now();
            let outcome = self.step(step);
            let took = started.elapsed();
            match outcome {
                Ok(()) => {
                    printer.ok(step, took);
                    record.done(step);
                }
                Err(stop) => {
                    let resume = resume_command(&self.args, stop.resume, stop.add_yes);
                    let recovery = if step.migrates() {
                        record.recovery(&self.root.dir)
                    } else {
                        String::new()
                    };
                    return Err(printer.failed(step, took, stop, &resume, &recovery));
                }
            }
        }
        printer.finish()
    }

    fn step(&self, step: Step) -> Result<(), Stop> {
        match step.action() {
            Action::Doctor => return self.preflight(),
            Action::Restart if !self.args.restart => return prompt::services_restarted(),
            _ => {}
        }
        for prepared in self.prepare(step) {
            let Prepared {
                plan,
                verdicts,
                user,
                skip_post_in_file,
            } = prepared.inspect_err(|stop| {
                if let Some(user) = &stop.user {
                    report::verdict(user.level, &user.text());
                }
            })?;
            if step == Step::PostMigrate
                && let Some(source) = skip_post_in_file
            {
                return Err(
                    Stop::new(format!("{SKIP_POST} is set in {source}"), step).detail(
                        "Mastodon would read it from there and skip the post-deployment \
                         migrations, whatever tootguard removes from the environment. Delete \
                         that line.",
                    ),
                );
            }
            say(step, user.iter().chain(&verdicts))?;
            match step {
                Step::Precompile => self.precompile(&plan)?,
                Step::Restart => {
                    report::notice(&format!("running {}", command_line(&plan)));
                    child::run(step, &plan, self.args.json).map_err(|s| self.restart_failed(s))?;
                }
                _ => {
                    if step == Step::PostMigrate && self.env.contains(SKIP_POST) {
                        report::notice(&format!(
                            "{SKIP_POST} is exported in this shell; the post-deployment \
                             migrations run without it"
                        ));
                    }
                    child::run(step, &plan, self.args.json)?;
                }
            }
        }
        Ok(())
    }

    fn preflight(&self) -> Result<(), Stop> {
        let step = Step::Preflight;
        let mut checks = doctor::checks(&self.env, &self.root.dir);
        // How tootctl completes is no matter for the upgrade.
        checks.retain(|c| c.id != doctor::COMPLETION);
        eprint!("{}", doctor::table(&checks, Stream::Stderr));
        let count = |status| checks.iter().filter(|c| c.level == status).count();
        let (fails, warns) = (count(Level::Block), count(Level::Warn));
        if fails > 0 {
            return Err(
                Stop::new(format!("{fails} check(s) failed"), step).detail("Fix what fails above.")
            );
        }
        if warns == 0 {
            return Ok(());
        }
        prompt::despite_warnings(&self.args, warns)
    }

    /// A `systemctl` of `--restart` failed: the admin restarts the services.
    fn restart_failed(&self, stop: Stop) -> Stop {
        let detail = if Self::as_root() {
            String::new()
        } else {
            "`sudo -n` runs only what sudo allows without a password. ".to_owned()
        };
        stop.detail(format!(
            "{detail}Restart the services yourself as root ({}), then resume with `{}`.",
            restart_lines().join("; "),
            resume_command(&self.args, Step::PostMigrate, false)
        ))
    }
}

/// Says the verdicts as the shim does; a block stops the step.
pub(super) fn say<'a>(
    step: Step,
    verdicts: impl IntoIterator<Item = &'a Verdict>,
) -> Result<(), Stop> {
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
