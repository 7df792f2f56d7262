//! `tootguard explain`: what the shim would do for one exact invocation, in
//! this directory and environment, without running anything.
//!
//! It builds the same [`Invocation`] and asks the same guard list as the
//! shim, so what it shows is what would happen. Values of secret variables
//! are shown as `***`; `DATABASE_URL` with its password masked. The JSON form
//! is a stable interface: fields are added, never removed or renamed.

use std::ffi::OsString;
use std::io::Write;

use anyhow::Context;

use serde_json::{Map, Value, json};

use crate::exec::Plan;
use crate::guards::{self, Level, Verdict, pgbouncer};
use crate::invocation::{Invocation, Tool};
use crate::resolve::{self, SelfId};
use crate::{redact, settings};

/// Show what `rails`, `rake` or `tootctl` would do here, without running it
///
/// Everything after the tool name is taken as the tool's arguments, unparsed:
/// `tootguard explain tootctl --help` explains `tootctl --help`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Print JSON (a stable interface, see the README)
    #[arg(long)]
    pub json: bool,
    /// The tool (rails, rake or tootctl), then its arguments exactly as typed
    #[arg(
        value_name = "TOOL [ARGS]",
        required = true,
        trailing_var_arg = true,
        allow_hyphen_values = true
    )]
    pub command: Vec<OsString>,
}

/// The whole story of one invocation, shared by the text and JSON printers.
pub struct Explanation {
    pub inv: Invocation,
    pub program: Result<Plan, String>,
    pub verdicts: Vec<Verdict>,
    pub bypass: bool,
    /// For migration tasks: the database Mastodon would use, and the direct
    /// endpoint the PgBouncer bypass would send the migration to.
    pub route: Option<Result<pgbouncer::Route, String>>,
}

impl Explanation {
    pub fn new(inv: Invocation) -> anyhow::Result<Explanation> {
        let me = SelfId::current()?;
        let bypass = settings::bypass(&inv.env);
        // The shim's own decision; without a program the guards are still
        // asked, so the explanation shows everything that would be wrong.
        let (program, verdicts) =
            match resolve::find_program(inv.tool, inv.root.as_ref(), &inv.env, &inv.cwd, &me) {
                Ok(program) => {
                    let (plan, verdicts) = Plan::decide(&inv, program, false);
                    (Ok(plan), verdicts)
                }
                Err(e) => (Err(format!("{e:#}")), crate::exec::verdicts(&inv, false)),
            };
        let route = pgbouncer::applies(&inv).then(|| pgbouncer::route(&inv));
        Ok(Explanation {
            inv,
            program,
            verdicts,
            bypass,
            route,
        })
    }

    pub fn would_exec(&self) -> bool {
        self.program.is_ok() && self.verdicts.iter().all(|v| v.level != Level::Block)
    }

    /// Every environment change, in order: name → new value (None: removed).
    pub fn env_changes(&self) -> Vec<(&'static str, Option<String>)> {
        guards::shown_env_changes(self.verdicts.iter().flat_map(|v| &v.changes))
    }

    /// An argument as it may be shown, masked *before* any escaping (a
    /// secret with a quote in it no longer matches once escaped): for rails
    /// and rake, `KEY=VALUE` is an assignment whose value is hidden when KEY
    /// names a secret; anything else is scrubbed of known secrets.
    fn shown_arg(&self, arg: &std::ffi::OsStr) -> String {
        let text = arg.to_string_lossy();
        if self.inv.tool.runs_tasks()
            && let Some((key, value)) = crate::invocation::rake_assignment(&text)
        {
            return format!("{key}={}", redact::value(key, value));
        }
        redact::scrub(&text)
    }

    /// The user the program would run as, when not the invoking one.
    pub fn run_as(&self) -> Option<&str> {
        self.program
            .as_ref()
            .ok()
            .and_then(|p| p.run_as.as_ref())
            .map(|u| u.name.as_str())
    }

    pub fn to_json(&self) -> Value {
        let env: Map<String, Value> = self
            .env_changes()
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.map_or(Value::Null, Value::String)))
            .collect();
        let mut checks: Vec<Value> = self.verdicts.iter().map(check_json).collect();
        if self.bypass {
            checks.push(json!({"id": "bypass", "level": "warn",
                "message": "TOOTGUARD_BYPASS=1: no guard runs", "fix": null}));
        }
        if let Err(e) = &self.program {
            checks.push(json!({"id": "program", "level": "block",
                "message": redact::scrub(e), "fix": null}));
        }
        let plan = self.program.as_ref().ok();
        let route = self.route.as_ref().and_then(|r| r.as_ref().ok());
        let database = route.map_or(Value::Null, |r| {
            let db = &r.database;
            json!({"host": db.host, "port": db.port, "name": db.name, "user": db.user,
                   "via_url": db.via_url})
        });
        let direct = route
            .and_then(|r| r.direct.as_ref())
            .map_or(Value::Null, |d| json!({"host": d.host, "port": d.port}));
        json!({
            "tool": self.inv.tool.name(),
            "program": plan.map(|p| p.program.to_string_lossy().into_owned()),
            "args": self.inv.args.iter().map(|a| self.shown_arg(a)).collect::<Vec<_>>(),
            "mastodon_root": self.inv.root.as_ref().map(|r| r.dir.to_string_lossy().into_owned()),
            "production": self.inv.is_production(),
            "cwd": plan
                .and_then(|p| p.cwd.clone())
                .unwrap_or_else(|| self.inv.cwd.clone())
                .to_string_lossy(),
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
        line("tool", self.inv.tool.name().to_owned());
        line(
            "program",
            match &self.program {
                Ok(plan) => plan.program.display().to_string(),
                Err(_) => "(none: see the `program` check)".to_owned(),
            },
        );
        line(
            "arguments",
            self.inv
                .args
                .iter()
                .map(|a| format!("{:?}", self.shown_arg(a)))
                .collect::<Vec<_>>()
                .join(" "),
        );
        line(
            "root",
            match &self.inv.root {
                Some(r) => format!(
                    "{} ({}, found by {})",
                    r.dir.display(),
                    r.kind(),
                    r.found_by
                ),
                None => "(none found)".to_owned(),
            },
        );
        let cwd = self
            .program
            .as_ref()
            .ok()
            .and_then(|p| p.cwd.clone())
            .unwrap_or_else(|| self.inv.cwd.clone());
        line("directory", cwd.display().to_string());
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
                line("direct", pgbouncer::endpoint(&direct.host, direct.port));
            }
        }
        out.push_str("checks\n");
        if self.bypass {
            out.push_str("  warn    bypass       TOOTGUARD_BYPASS=1: no guard runs\n");
        }
        for v in &self.verdicts {
            out.push_str(&format!(
                "  {:<7} {:<12} {}\n",
                v.level.as_str(),
                v.id,
                v.text()
            ));
        }
        if let Err(e) = &self.program {
            out.push_str(&format!("  {:<7} {:<12} {}\n", "block", "program", e));
        }
        out.push_str(&format!(
            "{:<12} {}\n",
            "would exec",
            if self.would_exec() { "yes" } else { "no" }
        ));
        redact::scrub(&out)
    }
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
    let mut command = args.command.into_iter();
    let name = command.next().unwrap_or_default();
    let Some(tool) = Tool::from_name(&name) else {
        return Err(crate::exit::Failure::error(
            crate::exit::USAGE,
            format!(
                "explain needs rails, rake or tootctl as its first argument, not {:?}. \
                 Example: `tootguard explain rails db:migrate`.",
                name.to_string_lossy()
            ),
        ));
    };
    let inv = Invocation::from_process(tool, name, command.collect())?;
    let explanation = Explanation::new(inv)?;
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
