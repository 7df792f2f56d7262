//! The questions the upgrade asks the admin: resume an interrupted
//! upgrade, continue despite the preflight's warnings, have the services
//! restarted. Each is asked only on a terminal; `--yes` answers the first
//! two, and without a terminal each stops with the command to go on.

use std::io::IsTerminal;

use crate::cli::confirm;
use crate::exit::{FAILURE, Failure};
use crate::report;

use super::Args;
use super::record::Record;
use super::selection::resume_command;
use super::steps::{Step, Stop, restart_lines};

enum Answer {
    Yes,
    No,
    NoTerminal,
}

/// `question` on the terminal, after `preamble`; nothing is asked, or
/// said, without a terminal on stdin.
fn ask(preamble: Option<&str>, question: &str) -> Answer {
    if !std::io::stdin().is_terminal() {
        return Answer::NoTerminal;
    }
    if let Some(preamble) = preamble {
        eprintln!("{preamble}");
    }
    if confirm(question) {
        Answer::Yes
    } else {
        Answer::No
    }
}

/// An upgrade to this same checkout that stopped part-way, offered to
/// resume where it stopped: asked on a terminal, taken with --yes,
/// otherwise a stop that names the command.
pub(super) fn resume(args: &Args, record: &Record) -> anyhow::Result<Option<Step>> {
    let Some((upgrade, last, next)) = record.interrupted(&args.skip) else {
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
    if args.yes {
        report::notice(&format!("{what} Resuming at {} (--yes).", next.name()));
        return Ok(Some(next));
    }
    match ask(Some(&what), &format!("Resume at {}? [y/N] ", next.name())) {
        Answer::Yes => Ok(Some(next)),
        Answer::NoTerminal => Err(Failure::error(
            FAILURE,
            format!(
                "{what} Resume it with `{}`, or start it again with `tootguard upgrade --from \
                 preflight`.",
                resume_command(args, next, false)
            ),
        )),
        Answer::No => Err(Failure::error(
            FAILURE,
            "stopped at your answer. To start the upgrade again from the beginning: \
             `tootguard upgrade --from preflight`.",
        )),
    }
}

/// The preflight's warnings need a yes: `--yes`, or the admin's.
pub(super) fn despite_warnings(args: &Args, warns: usize) -> Result<(), Stop> {
    let step = Step::Preflight;
    if args.yes {
        report::notice(&format!("continuing despite {warns} warning(s) (--yes)"));
        return Ok(());
    }
    match ask(
        None,
        &format!("Continue despite {warns} warning(s)? [y/N] "),
    ) {
        Answer::Yes => Ok(()),
        Answer::NoTerminal => {
            let mut stop = Stop::new(format!("{warns} warning(s), no terminal to ask"), step)
                .detail("Read the warnings above; to continue despite them, rerun with --yes.");
            stop.add_yes = true;
            Err(stop)
        }
        Answer::No => Err(Stop::new("stopped at your answer", step)),
    }
}

/// Without `--restart` the admin restarts the services, and says so before
/// the post-deployment migrations run; `--yes` does not say it.
pub(super) fn services_restarted() -> Result<(), Stop> {
    let lines: Vec<String> = restart_lines().iter().map(|l| format!("  {l}")).collect();
    let preamble = format!(
        "Restart the services now, as root (in another terminal):\n{}\nThe post-deployment \
         migrations run only once the new code is running.",
        lines.join("\n")
    );
    match ask(Some(&preamble), "Have the services restarted? [y/N] ") {
        Answer::Yes => Ok(()),
        Answer::NoTerminal => Err(
            Stop::new("the services must restart first", Step::PostMigrate).detail(format!(
                "The post-deployment migrations must wait until the new code runs, and there is \
                 no terminal to ask whether it does. As root, run:\n{}\nthen run the \
                 post-deployment migrations (or rerun with --restart to let tootguard restart \
                 the services).",
                lines.join("\n")
            )),
        ),
        Answer::No => Err(
            Stop::new("stopped at your answer", Step::PostMigrate).detail(format!(
                "Restart the services as root ({}); once they run the new code, run the \
                 post-deployment migrations.",
                restart_lines().join("; ")
            )),
        ),
    }
}
