//! RAILS_ENV must be `production` on a production install.
//!
//! Mastodon ≥ 3.3 aborts in `config/boot.rb` when the variable is absent
//! ("The RAILS_ENV environment variable is not set."); an empty value passes
//! boot but Rails then falls back to `development`; any other value loads the
//! development gems a production install lacks (`NameError: uninitialized
//! constant …`). `RAILS_ENV` cannot come from `.env` files — it is needed
//! before they are read — so only the process environment counts here.
//! A development checkout (no `.env.production`) is left alone.

use std::ffi::OsStr;

use super::{Change, Level, Verdict};
use crate::invocation::Invocation;

pub const ID: &str = "rails-env";

pub fn check(inv: &Invocation) -> Option<Verdict> {
    let root = inv.root.as_ref()?;
    if !root.production {
        return Some(Verdict::new(
            ID,
            Level::Ok,
            format!(
                "{} has no .env.production: a development checkout, RAILS_ENV left as it is",
                root.dir.display()
            ),
        ));
    }
    let value = inv.var("RAILS_ENV");
    let set_production = Change::SetEnv("RAILS_ENV", "production".into());
    // `rails db:migrate RAILS_ENV=development`: Rake copies the argument into
    // ENV before the application loads, so it wins over the environment;
    // `rails console -e development` likewise (Rails sets RAILS_ENV from
    // the option, after config/boot.rb has checked that it is present).
    let option = environment_option(inv);
    let argument = option.clone().or_else(|| {
        inv.rake_assignments()
            .into_iter()
            .rev()
            .find_map(|(key, value)| {
                (key == "RAILS_ENV").then(|| (format!("RAILS_ENV={value}"), value))
            })
    });
    if let Some((spelled, arg)) = argument.as_ref().filter(|(_, a)| a != "production") {
        let what = if option.is_some() {
            format!("the option {spelled}")
        } else {
            format!("the argument {spelled}")
        };
        let verdict = wrong(inv, root, &what, arg);
        // config/boot.rb aborts without RAILS_ENV before Rails reads the
        // option or Rake the argument: set it, and let them win as they do.
        let unset = value.as_ref().is_none_or(|v| v.is_empty());
        return Some(if unset && verdict.level != Level::Block {
            Verdict {
                message: format!(
                    "{} (RAILS_ENV, which was not set, is set to production so that \
                     config/boot.rb lets it start; {what} then wins.)",
                    verdict.message
                ),
                ..verdict
            }
            .change(set_production)
        } else {
            verdict
        });
    }
    let argument = argument.map(|(_, value)| value);
    match value.as_deref().map(OsStr::to_string_lossy) {
        None => Some(
            Verdict::new(
                ID,
                Level::Notice,
                "RAILS_ENV was not set; running with RAILS_ENV=production (production install)",
            )
            .change(set_production),
        ),
        Some(v) if v.is_empty() => Some(
            Verdict::new(
                ID,
                Level::Notice,
                "RAILS_ENV was empty; running with RAILS_ENV=production (production install)",
            )
            .change(set_production),
        ),
        Some(v) if v == "production" => Some(Verdict::new(ID, Level::Ok, "RAILS_ENV=production")),
        // config/boot.rb only checks presence; Rake then applies the argument.
        Some(_) if argument.is_some() => Some(Verdict::new(
            ID,
            Level::Ok,
            "production, given on the command line, wins over the environment",
        )),
        Some(other) => Some(wrong(inv, root, &format!("RAILS_ENV is {other:?}"), &other)),
    }
}

/// `rails … -e ENV` / `--environment ENV` (also `-eENV`, `-e=ENV`,
/// `--environment=ENV`): how it was spelled and the environment it names.
/// Rails' own commands (console, runner, server, dbconsole) take it.
fn environment_option(inv: &Invocation) -> Option<(String, String)> {
    if inv.tool != crate::invocation::Tool::Rails {
        return None;
    }
    let args: Vec<&str> = inv
        .args
        .iter()
        .map(|a| a.to_str().unwrap_or(""))
        .take_while(|a| *a != "--")
        .collect();
    let mut found = None;
    for (i, arg) in args.iter().enumerate() {
        let next = || args.get(i + 1).map(|v| (*v).to_owned());
        let value = match *arg {
            "-e" | "--environment" => next(),
            _ => arg
                .strip_prefix("--environment=")
                .or_else(|| arg.strip_prefix("-e="))
                .or_else(|| arg.strip_prefix("-e"))
                .filter(|v| !v.is_empty())
                .map(str::to_owned),
        };
        if let Some(value) = value {
            let spelled = if arg.starts_with("--") || *arg == "-e" {
                format!("{} {value}", arg.split('=').next().unwrap_or(arg))
            } else {
                (*arg).to_owned()
            };
            found = Some((spelled, value));
        }
    }
    found
}

/// A value other than `production` on a production install: a warning, or a
/// refusal under `TOOTGUARD_STRICT=1`. `what` names where the value is set.
fn wrong(inv: &Invocation, root: &crate::resolve::Root, what: &str, value: &str) -> Verdict {
    let strict = crate::settings::strict(&inv.env);
    let message = format!(
        "{what} on a production install ({}): Rails will load the {value:?} environment, \
         which fails with `NameError: uninitialized constant …` where its gems are not \
         installed, or acts on another database.{}",
        root.dir.display(),
        if strict {
            " Refusing to run it (TOOTGUARD_STRICT=1)."
        } else {
            " Running it anyway."
        }
    );
    let level = if strict { Level::Block } else { Level::Warn };
    Verdict::new(ID, level, message).fix(
        "Unset it (`unset RAILS_ENV`, and drop any RAILS_ENV=… argument; tootguard then sets \
         production) or use RAILS_ENV=production.",
    )
}
