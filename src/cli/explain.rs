//! `tootguard explain`: what the shim would do for one exact invocation, in
//! this directory and environment, without running anything.
//!
//! It builds the same [`Invocation`] and asks the same guard list as the
//! shim, so what it shows is what would happen. Values of secret variables
//! are shown as `***`; `DATABASE_URL` with its password masked. The JSON form
//! is a stable interface: fields are added, never removed or renamed.

use std::ffi::OsString;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;

use serde_json::{Map, Value, json};

use crate::guards::{self, Level, Verdict, pgbouncer};
use crate::invocation::{Invocation, Shim};
use crate::launch::{self, Guarding, Launch, Start};
use crate::marker::{Markers, Origin};
use crate::redact;
use crate::resolve::{self, SelfId};
use crate::settings::Env;
use crate::spelling::Spelling;

/// Show what a command would do here, without running it
///
/// The command as typed: `rails`, `rake`, `tootctl`, `ruby` or `bundle`, or
/// a path such as `bin/tootctl`, then its arguments, unparsed: `tootguard
/// explain tootctl --help` explains `tootctl --help`, `tootguard explain
/// bundle exec rails db:migrate` what the bundle shim would do.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Print JSON (a stable interface, see the README)
    #[arg(long)]
    pub json: bool,
    /// The command (rails, rake, tootctl, ruby, bundle or a bin/ path), then its arguments exactly as typed
    #[arg(
        value_name = "COMMAND [ARGS]",
        required = true,
        trailing_var_arg = true,
        allow_hyphen_values = true
    )]
    pub command: Vec<OsString>,
}

/// The whole story of one shim start, shared by the text and JSON printers.
pub struct Explanation {
    /// The command as given, for the `command` line.
    pub command: Vec<OsString>,
    /// The working directory explain ran in.
    pub cwd: PathBuf,
    pub launch: Launch,
    /// How the spelling reaches the shim: what a `bin/` path's `#!` line
    /// runs, and the first program of that name on PATH.
    pub reach: Reach,
    /// For migration tasks: the database Mastodon would use, and the direct
    /// endpoint the PgBouncer bypass would send the migration to.
    pub route: Option<Result<pgbouncer::Route, String>>,
}

/// What typing the command reaches first.
pub struct Reach {
    /// The shim name the spelling goes through.
    pub shim: Shim,
    /// `bin/tootctl` and its kin: how the kernel gets from the script to `ruby`.
    pub via: Option<String>,
    /// The first `shim.name()` on PATH, tootguard or not.
    pub first: Option<PathBuf>,
    pub is_tootguard: bool,
}

impl Reach {
    fn of(shim: Shim, via: Option<String>, env: &Env, cwd: &Path, me: &SelfId) -> Reach {
        let path = env.get("PATH").unwrap_or_default();
        let first = resolve::first_on_path(shim.name(), &path, cwd);
        let is_tootguard = first.as_deref().is_some_and(|p| me.is(p));
        Reach {
            shim,
            via,
            first,
            is_tootguard,
        }
    }

    /// One line: is the shim reached, and if not, why.
    fn text(&self) -> String {
        let name = self.shim.name();
        match (&self.first, self.is_tootguard) {
            (Some(first), true) => {
                format!("yes: PATH finds tootguard's {name} ({})", first.display())
            }
            (Some(first), false) => format!(
                "no: PATH finds {} before any tootguard {name}, so none of this happens; put \
                 the directory of tootguard's shims before {} on PATH",
                first.display(),
                first
                    .parent()
                    .map_or_else(String::new, |d| d.display().to_string())
            ),
            (None, _) => format!("no: there is no {name} on PATH"),
        }
    }
}

impl Explanation {
    pub fn new(command: Vec<OsString>) -> anyhow::Result<Explanation> {
        let me = SelfId::current()?;
        let env = Env::process();
        let cwd = std::env::current_dir().context("cannot read the working directory")?;
        let (start, via) = start_of(&command, &cwd, env.clone())?;
        let reach = Reach::of(start.shim, via, &env, &cwd, &me);
        // explain is no layer of anything: it looks at a fresh command.
        let markers = Markers::read(&Env::from_iter(std::iter::empty::<(OsString, OsString)>()));
        let launch = launch::decide(start, &me, &markers, Origin::this_process(), false)?;
        let route = launch
            .inv
            .as_ref()
            .filter(|inv| pgbouncer::applies(inv))
            .map(|inv| pgbouncer::route(inv));
        Ok(Explanation {
            command,
            cwd,
            launch,
            reach,
            route,
        })
    }

    fn inv(&self) -> Option<&Invocation> {
        self.launch.inv.as_ref()
    }

    fn bypass(&self) -> bool {
        self.launch.guarding == Guarding::Bypass
    }

    pub fn would_exec(&self) -> bool {
        self.launch.plan.is_ok() && self.launch.verdicts.iter().all(|v| v.level != Level::Block)
    }

    /// Every environment change, in order: name → new value (None: removed).
    pub fn env_changes(&self) -> Vec<(&'static str, Option<String>)> {
        guards::shown_env_changes(self.launch.verdicts.iter().flat_map(|v| &v.changes))
    }

    /// An argument as it may be shown, masked *before* any escaping (a
    /// secret with a quote in it no longer matches once escaped): for rails
    /// and rake, `KEY=VALUE` is an assignment whose value is hidden when KEY
    /// names a secret; anything else is scrubbed of known secrets.
    fn shown_arg(&self, arg: &std::ffi::OsStr) -> String {
        let text = arg.to_string_lossy();
        if self.inv().is_some_and(|inv| inv.tool.runs_tasks())
            && let Some((key, value)) = crate::invocation::rake_assignment(&text)
        {
            return format!("{key}={}", redact::value(key, value));
        }
        redact::scrub(&text)
    }

    /// Where the tool's own arguments start among the shim's.
    fn tool_args_from(&self) -> usize {
        match (&self.launch.spelling, &self.launch.inv) {
            (Spelling::Carries(c), Some(_)) => c.args_from,
            _ => 0,
        }
    }

    /// The arguments the guards see: the tool's own, or all of them.
    fn shown_args(&self) -> Vec<String> {
        match self.inv() {
            Some(inv) => inv.args.iter().map(|a| self.shown_arg(a)).collect(),
            None => self.command[1..]
                .iter()
                .map(|a| self.shown_arg(a))
                .collect(),
        }
    }

    /// The user the program would run as, when not the invoking one.
    pub fn run_as(&self) -> Option<&str> {
        self.launch
            .plan
            .as_ref()
            .ok()
            .and_then(|p| p.run_as.as_ref())
            .map(|u| u.name.as_str())
    }

    /// Which layer guards the command, in words.
    fn layer(&self) -> String {
        let shim = self.launch.shim.name();
        match (&self.launch.spelling, self.launch.guarding) {
            (Spelling::PassThrough(why), _) => {
                format!("{shim}: passes through untouched ({why})")
            }
            (Spelling::Carries(_), Guarding::PassThrough) => {
                format!("{shim}: passes through untouched (not in a Mastodon install)")
            }
            (Spelling::Carries(c), _) => {
                let tool = c.tool.name();
                match self.launch.shim {
                    Shim::Tool(_) => format!("{shim}: the {tool} shim guards it"),
                    Shim::Ruby => format!("ruby: the ruby shim guards {tool}, the script it runs"),
                    Shim::Bundle => format!(
                        "bundle: the bundle shim guards {tool}, which Bundler runs inside its \
                         own process"
                    ),
                }
            }
        }
    }

    /// Where the program would run: a guard's new directory, or the tool's.
    fn cwd(&self) -> PathBuf {
        let plan_cwd = self.launch.plan.as_ref().ok().and_then(|p| p.cwd.clone());
        plan_cwd
            .or_else(|| self.inv().map(|inv| inv.cwd.clone()))
            .unwrap_or_else(|| self.cwd.clone())
    }

    pub fn to_json(&self) -> Value {
        let env: Map<String, Value> = self
            .env_changes()
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.map_or(Value::Null, Value::String)))
            .collect();
        let mut checks: Vec<Value> = self.launch.verdicts.iter().map(check_json).collect();
        if self.bypass() {
            checks.push(json!({"id": "bypass", "level": "warn",
                "message": "TOOTGUARD_BYPASS=1: no guard runs", "fix": null}));
        }
        if let Err(e) = &self.launch.plan {
            checks.push(json!({"id": "program", "level": "block",
                "message": redact::scrub(&format!("{e:#}")), "fix": null}));
        }
        let plan = self.launch.plan.as_ref().ok();
        let route = self.route.as_ref().and_then(|r| r.as_ref().ok());
        let database = route.map_or(Value::Null, |r| {
            let db = &r.database;
            json!({"host": db.host, "port": db.port, "name": db.name, "user": db.user,
                   "via_url": db.via_url})
        });
        let direct = route
            .and_then(|r| r.direct.as_ref().map(|d| (r, d)))
            .map_or(Value::Null, |(r, d)| {
                json!({"host": d.host, "port": d.port, "found_by": r.found_by.as_str(),
                       "verified": d.verified})
            });
        let root = self.inv().and_then(|inv| inv.root.as_ref());
        json!({
            "tool": self.inv().map(|inv| inv.tool.name()),
            "shim": self.launch.shim.name(),
            "guarded": match self.launch.guarding {
                Guarding::Here => "here",
                Guarding::Outer => "outer",
                Guarding::Bypass => "bypass",
                Guarding::PassThrough => "pass-through",
            },
            "passes_through": match &self.launch.spelling {
                Spelling::PassThrough(why) => Value::String((*why).to_owned()),
                Spelling::Carries(_) if self.launch.guarding == Guarding::PassThrough =>
                    Value::String("not in a Mastodon install".to_owned()),
                Spelling::Carries(_) => Value::Null,
            },
            "reached": self.reach.is_tootguard,
            "first_on_path": self.reach.first.as_ref().map(|p| p.to_string_lossy().into_owned()),
            "program": plan.map(|p| p.program.to_string_lossy().into_owned()),
            "interpreter": plan.and_then(|p| p.interpreter.as_ref())
                .map(|p| p.to_string_lossy().into_owned()),
            "args": self.shown_args(),
            "mastodon_root": root.map(|r| r.dir.to_string_lossy().into_owned()),
            "production": self.inv().is_some_and(|inv| inv.is_production()),
            "cwd": self.cwd().to_string_lossy(),
            "env": env,
            "checks": checks,
            "would_exec": self.would_exec(),
            "run_as": self.run_as(),
            "database": database,
            "direct": direct,
        })
    }

    pub fn to_text(&self) -> String {
        let mut out = String::new();
        let mut line = |label: &str, value: String| {
            out.push_str(&format!("{label:<12} {value}\n"));
        };
        line(
            "command",
            self.command
                .iter()
                .map(|a| crate::quote::word_str(&self.shown_arg(a)))
                .collect::<Vec<_>>()
                .join(" "),
        );
        if let Some(via) = &self.reach.via {
            line("runs", via.clone());
        }
        line("reaches", self.reach.text());
        line("layer", self.layer());
        line(
            "tool",
            self.inv()
                .map_or_else(|| "(none)".to_owned(), |inv| inv.tool.name().to_owned()),
        );
        line(
            "program",
            match &self.launch.plan {
                Ok(plan) => match &plan.interpreter {
                    Some(ruby) => format!(
                        "{} (run by {}, as its #!/usr/bin/env ruby line asks)",
                        plan.program.display(),
                        ruby.display()
                    ),
                    // `bundle exec rails`, `ruby bin/rails`: the program,
                    // then its own arguments up to the tool's.
                    None => std::iter::once(plan.program.display().to_string())
                        .chain(
                            plan.args[..self.tool_args_from().min(plan.args.len())]
                                .iter()
                                .map(|a| crate::quote::word_str(&self.shown_arg(a))),
                        )
                        .collect::<Vec<_>>()
                        .join(" "),
                },
                Err(_) => "(none: see the `program` check)".to_owned(),
            },
        );
        line(
            "arguments",
            self.shown_args()
                .iter()
                .map(|a| format!("{a:?}"))
                .collect::<Vec<_>>()
                .join(" "),
        );
        line(
            "root",
            match self.inv().and_then(|inv| inv.root.as_ref()) {
                Some(r) => format!(
                    "{} ({}, found by {})",
                    r.dir.display(),
                    r.kind(),
                    r.found_by
                ),
                None => "(none found)".to_owned(),
            },
        );
        line("directory", self.cwd().display().to_string());
        if let Some(user) = self.run_as() {
            line("user", user.to_owned());
        }
        let changes = self.env_changes();
        if changes.is_empty() {
            line("environment", "(unchanged)".to_owned());
        }
        for (i, (name, value)) in changes.iter().enumerate() {
            let label = if i == 0 { "environment" } else { "" };
            line(
                label,
                match value {
                    Some(v) => format!("{name}={v}"),
                    None => format!("{name} removed"),
                },
            );
        }
        if let Some(Ok(route)) = &self.route {
            let db = &route.database;
            line(
                "database",
                format!(
                    "{} database {} as {}{}",
                    pgbouncer::endpoint(&db.host, db.port),
                    db.name.as_deref().unwrap_or("(unknown)"),
                    db.user.as_deref().unwrap_or("(unknown)"),
                    db.url_variable
                        .map(|v| format!(" (from {v})"))
                        .unwrap_or_default()
                ),
            );
            if let Some(direct) = &route.direct {
                line(
                    "direct",
                    format!(
                        "{} (found by {}{})",
                        pgbouncer::endpoint(&direct.host, direct.port),
                        route.found_by.as_str(),
                        if direct.verified {
                            "; asked: the same database"
                        } else {
                            ""
                        }
                    ),
                );
            }
        }
        out.push_str("checks\n");
        if self.bypass() {
            out.push_str("  warn    bypass       TOOTGUARD_BYPASS=1: no guard runs\n");
        }
        for v in &self.launch.verdicts {
            out.push_str(&format!(
                "  {:<7} {:<12} {}\n",
                v.level.as_str(),
                v.id,
                v.text()
            ));
        }
        if let Err(e) = &self.launch.plan {
            out.push_str(&format!("  {:<7} {:<12} {e:#}\n", "block", "program"));
        }
        out.push_str(&format!(
            "{:<12} {}\n",
            "would exec",
            if self.would_exec() { "yes" } else { "no" }
        ));
        redact::scrub(&out)
    }
}

/// The shim start a command as typed makes: its first word is a shim name
/// (`rails`, `bundle`, …) or the path of a `#!/usr/bin/env ruby` script
/// (`bin/tootctl`, which the kernel hands to `env`, and `env` to `ruby`).
fn start_of(command: &[OsString], cwd: &Path, env: Env) -> anyhow::Result<(Start, Option<String>)> {
    let first = command.first().cloned().unwrap_or_default();
    let rest = command.get(1..).unwrap_or_default().to_vec();
    if let Some(shim) = Shim::from_name(&first) {
        let start = Start {
            shim,
            argv0: first,
            args: rest,
            cwd: Some(cwd.to_path_buf()),
            env,
        };
        return Ok((start, None));
    }
    let is_path = first.as_encoded_bytes().contains(&b'/');
    if is_path && crate::exec::runs_on_env_ruby(&cwd.join(&first)) {
        let via = format!(
            "{} starts with #!/usr/bin/env ruby: the kernel runs env, which runs the first \
             ruby on PATH with the script",
            first.to_string_lossy()
        );
        let start = Start {
            shim: Shim::Ruby,
            argv0: "ruby".into(),
            args: std::iter::once(first).chain(rest).collect(),
            cwd: Some(cwd.to_path_buf()),
            env,
        };
        return Ok((start, Some(via)));
    }
    let why = if is_path {
        format!(
            "{} does not start with #!/usr/bin/env ruby (or cannot be read), so no tootguard \
             shim is on its way when it runs",
            first.to_string_lossy()
        )
    } else {
        format!("{:?} is not one of them", first.to_string_lossy())
    };
    Err(crate::exit::Failure::error(
        crate::exit::USAGE,
        format!(
            "explain needs a command as typed: rails, rake, tootctl, ruby or bundle, or a path \
             such as bin/tootctl; {why}. Example: `tootguard explain bundle exec rails \
             db:migrate`."
        ),
    ))
}

fn check_json(v: &Verdict) -> Value {
    json!({
        "id": v.id,
        "level": v.level.as_str(),
        "message": redact::scrub(&v.message),
        "fix": v.fix.as_deref().map(redact::scrub),
    })
}

pub fn run(args: Args) -> anyhow::Result<u8> {
    let explanation = Explanation::new(args.command)?;
    let text = if args.json {
        let mut s = redact::scrub(&serde_json::to_string_pretty(&explanation.to_json())?);
        s.push('\n');
        s
    } else {
        explanation.to_text()
    };
    std::io::stdout()
        .write_all(text.as_bytes())
        .context("cannot write to standard output")?;
    Ok(crate::exit::OK)
}
