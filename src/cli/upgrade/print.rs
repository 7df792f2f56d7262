//! What the upgrade says about its steps, for the dry run and the real
//! run alike: the same step headers, the same reasons a step is left out,
//! the same command lines. A dry run collects each step's plan (directory,
//! user, environment changes, command, the guards' warnings) and writes it
//! to stdout in one piece; a real run writes a progress line per event to
//! stderr and, with `--json`, a JSON object per event to stdout.

use std::ffi::OsString;
use std::io::Write;
use std::time::Duration;

use anyhow::Context;
use owo_colors::{OwoColorize, Stream};

use crate::config::SKIP_POST;
use crate::database::migrations::Pending;
use crate::environment::EnvChanges;
use crate::exec::Plan;
use crate::exit::{FAILURE, Failure, OK};
use crate::guards::Level;
use crate::quote::{word as quote, word_str as quote_str};
use crate::redact;
use crate::resolve::Root;

use super::prepare::Prepared;
use super::selection::Left;
use super::steps::{Step, Stop, restart_lines};

pub(super) enum Printer {
    /// `--dry-run`: the plan so far, and whether a step could not run as
    /// things stand (no program, a guard's block).
    Plan {
        out: String,
        dir: String,
        trouble: bool,
    },
    /// A real run.
    Progress { json: bool },
}

impl Printer {
    pub fn plan(root: &Root) -> Printer {
        Printer::Plan {
            out: format!(
                "tootguard upgrade --dry-run: nothing runs. Mastodon {} install at {}.\n",
                root.kind(),
                root.dir.display()
            ),
            dir: format!("  dir  {}\n", root.dir.display()),
            trouble: false,
        }
    }

    pub fn progress(json: bool) -> Printer {
        Printer::Progress { json }
    }

    /// A step that does not run; a real run names only those left out by
    /// `--skip` from its first step on.
    pub fn left_out(&mut self, step: Step, left: Left, from: Step) {
        let why = match left {
            Left::NotInOnly => "skipped (not in --only)",
            Left::Skipped => "skipped (--skip)",
            Left::BeforeFrom => "skipped (before --from)",
        };
        match self {
            Printer::Plan { out, .. } => {
                out.push_str(&format!("{}  {why}\n", header(step)));
            }
            Printer::Progress { json } => {
                if left == Left::Skipped && step >= from {
                    progress(&format!("{} {why}", header(step)));
                    json_line(*json, step, "skipped", None, None);
                }
            }
        }
    }

    /// A step that runs begins.
    pub fn started(&mut self, step: Step) {
        match self {
            Printer::Plan { out, .. } => {
                out.push_str(&header(step));
                out.push('\n');
            }
            Printer::Progress { json } => {
                progress(&format!("{} …", header(step)));
                json_line(*json, step, "started", None, None);
            }
        }
    }

    /// The dry run's description of a step that runs: each of its
    /// commands, then what the step does besides. `pending`: the
    /// migrations the database lacks, for a migrate step; `pre_ran`: the
    /// pre-deployment migrations run before it; `restart`: `--restart`.
    pub fn describe(
        &mut self,
        step: Step,
        prepared: &[Result<Prepared, Stop>],
        pending: Option<&Result<Pending, String>>,
        pre_ran: bool,
        restart: bool,
    ) {
        let Printer::Plan { out, dir, trouble } = self else {
            return;
        };
        if step == Step::Preflight {
            out.push_str(
                "  the `tootguard doctor` checks: a fail stops, warnings need --yes or a yes\n",
            );
        }
        for prepared in prepared {
            *trouble |= show(out, dir, prepared);
        }
        match step {
            Step::Backup => out.push_str(
                "  pg_dump -Fc at PostgreSQL itself, read back with pg_restore --list, and the \
                 .env files, as the install's owner; refused before writing when the database's \
                 size does not fit\n",
            ),
            Step::Precompile => out.push_str(
                "  if it runs out of memory: the swap advice, then bin/rake tmp:cache:clear, and \
                 stop\n",
            ),
            Step::Restart if !restart => {
                out.push_str("  you, as root:\n");
                for line in restart_lines() {
                    out.push_str(&format!("    {line}\n"));
                }
                out.push_str(
                    "  then confirm on the terminal (without one: stop here, resume with \
                     --from post-migrate)\n",
                );
            }
            _ => {}
        }
        if let Some(pending) = pending {
            out.push_str(&applies(step, pending, pre_ran));
        }
        let in_file = prepared
            .first()
            .and_then(|p| p.as_ref().ok())
            .and_then(|p| p.skip_post_in_file.as_deref());
        if let Some(source) = in_file.filter(|_| step == Step::PostMigrate) {
            *trouble = true;
            out.push_str(&format!(
                "  stop {SKIP_POST} is set in {source}: Mastodon would skip the post-deployment \
                 migrations\n"
            ));
        }
    }

    /// A step that ran to its end.
    pub fn ok(&mut self, step: Step, took: Duration) {
        if let Printer::Progress { json } = self {
            progress(&format!(
                "{} {} {}",
                header(step),
                "✓".if_supports_color(Stream::Stderr, |t| t.green().to_string()),
                duration(took)
            ));
            json_line(*json, step, "ok", Some(took), None);
        }
    }

    /// A step that stopped the run: its line, and the error that ends the
    /// run, naming `resume`; `recovery`, for a migration, says how to go
    /// back.
    pub fn failed(
        &mut self,
        step: Step,
        took: Duration,
        stop: Stop,
        resume: &str,
        recovery: &str,
    ) -> anyhow::Error {
        if let Printer::Progress { json } = self {
            progress(&format!(
                "{} {} {} ({})",
                header(step),
                "✗".if_supports_color(Stream::Stderr, |t| t.red().to_string()),
                duration(took),
                stop.status
            ));
            json_line(*json, step, "failed", Some(took), Some(resume));
        }
        let detail = stop.detail.map(|d| format!(" {d}")).unwrap_or_default();
        Failure::error(
            FAILURE,
            format!(
                "step {} stopped the upgrade ({}).{detail}{recovery}\nResume with: {resume}",
                header(step),
                stop.status,
            ),
        )
    }

    /// The end of the run: a dry run writes its plan, and exits 1 when a
    /// step could not run as things stand.
    pub fn finish(self) -> anyhow::Result<u8> {
        let Printer::Plan { out, trouble, .. } = self else {
            return Ok(OK);
        };
        std::io::stdout()
            .write_all(redact::scrub(&out).as_bytes())
            .context("cannot write the plan to standard output")?;
        Ok(if trouble { FAILURE } else { OK })
    }
}

/// `[4/8] backup`
fn header(step: Step) -> String {
    format!("{} {}", step.counter(), step.name())
}

/// One command of a dry run: directory, environment changes, command line
/// and the guards' warnings; true when it could not run as things stand.
fn show(out: &mut String, dir: &str, prepared: &Result<Prepared, Stop>) -> bool {
    match prepared {
        Ok(Prepared { plan, verdicts, .. }) => {
            out.push_str(dir);
            if let Some(user) = &plan.run_as {
                out.push_str(&format!("  user {}\n", user.name));
            }
            if let Some(env) = env_line(&plan.env) {
                out.push_str(&format!("  env  {env}\n"));
            }
            out.push_str(&format!("  run  {}\n", command_line(plan)));
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
                stop.detail
                    .as_ref()
                    .map(|d| format!(": {d}"))
                    .unwrap_or_default()
            ));
            true
        }
    }
}

/// A migrate step's line of what it would apply. Without pre-migrate
/// before it, post-migrate's db:migrate also applies what db/migrate has
/// pending.
fn applies(step: Step, pending: &Result<Pending, String>, pre_ran: bool) -> String {
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

/// `NAME=value` and `unset NAME`, last change per name, secrets masked —
/// what the step's program gets (the guards' changes and the step's own,
/// such as HOME and PATH of the owner it runs as), not the markers for
/// tootguard's own next layer (`TOOTGUARD_*`).
fn env_line(changes: &EnvChanges) -> Option<String> {
    let last: Vec<_> = changes
        .shown()
        .into_iter()
        .filter(|(name, _)| !name.starts_with("TOOTGUARD_"))
        .collect();
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
pub(super) fn command_line(plan: &Plan) -> String {
    plan.interpreter
        .iter()
        .map(|ruby| ruby.as_os_str())
        .chain(std::iter::once(plan.program.as_os_str()))
        .chain(plan.args.iter().map(OsString::as_os_str))
        .map(quote)
        .collect::<Vec<_>>()
        .join(" ")
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
