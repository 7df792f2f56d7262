//! Where a command runs, as Mastodon would see it: the working directory,
//! the environment, the install (root) and, read only when asked, the
//! configuration from the environment and the root's `.env*` files and
//! PostgreSQL's answers. A command ([`crate::invocation::Invocation`])
//! carries one; `doctor`, `upgrade`, `backup` and `release-lock` make one
//! for an install directly, so reading a setting never needs a made-up
//! command.

use std::cell::OnceCell;
use std::path::PathBuf;

use crate::config::MastodonConfig;
use crate::database::{Report, Request};
use crate::resolve::Root;
use crate::settings::Env;

pub struct Site {
    pub cwd: PathBuf,
    pub env: Env,
    pub root: Option<Root>,
    /// The command's Rake-style `KEY=VALUE` arguments, which Mastodon reads
    /// as environment (none outside a command).
    assignments: Vec<(String, String)>,
    config: OnceCell<Result<MastodonConfig, String>>,
    /// PostgreSQL's answers, asked once (explain and the guards ask the
    /// same question).
    report: OnceCell<(Request, Report)>,
}

impl Site {
    /// `root` as a process with `env` in `cwd` sees it.
    pub fn new(cwd: PathBuf, env: Env, root: Option<Root>) -> Site {
        Site::with_assignments(cwd, env, root, Vec::new())
    }

    /// The same, for a command whose `KEY=VALUE` arguments count as environment.
    pub fn with_assignments(
        cwd: PathBuf,
        env: Env,
        root: Option<Root>,
        assignments: Vec<(String, String)>,
    ) -> Site {
        Site {
            cwd,
            env,
            root,
            assignments,
            config: OnceCell::new(),
            report: OnceCell::new(),
        }
    }

    pub fn var(&self, name: &str) -> Option<std::ffi::OsString> {
        self.env.get(name)
    }

    pub fn is_production(&self) -> bool {
        self.root.as_ref().is_some_and(|r| r.production)
    }

    /// PostgreSQL's answer to `request`, asked at most once here (again
    /// only if the request differs).
    pub fn ask_database(&self, request: &Request) -> Report {
        let (asked, report) = self
            .report
            .get_or_init(|| (request.clone(), crate::database::ask(request)));
        if asked == request {
            report.clone()
        } else {
            crate::database::ask(request)
        }
    }

    /// What Mastodon would see: environment, `KEY=VALUE` arguments and the
    /// root's `.env*` files. Read once, and only when asked.
    pub fn config(&self) -> Result<&MastodonConfig, &str> {
        self.config
            .get_or_init(|| {
                // Root hands the command to the install's owner: the files
                // must be readable by them, not just by root.
                let reader = self
                    .root
                    .as_ref()
                    .and_then(|root| crate::guards::user::handed_to(root, &self.env))
                    .map(|user| crate::config::Reader {
                        name: user.name,
                        uid: user.uid.as_raw(),
                        gids: user.groups.iter().map(|g| g.as_raw()).collect(),
                    });
                let config = crate::config::load(
                    self.root.as_ref().map(|r| r.dir.as_path()),
                    &self.env.all(),
                    &self.assignments,
                    reader.as_ref(),
                )
                .map_err(|e| format!("{e:#}"))?;
                register_secrets(&config);
                Ok(config)
            })
            .as_ref()
            .map_err(String::as_str)
    }

    /// One setting as Mastodon would see it, with where it came from
    /// ("environment", ".env.production line 12"). Errors are the reader's.
    pub fn setting(&self, name: &str) -> Result<Option<(String, String)>, String> {
        let config = self.config().map_err(str::to_owned)?;
        match config.known(name) {
            Ok(found) => {
                Ok(found.map(|(value, setting)| (value.to_owned(), setting.source.to_string())))
            }
            Err(e) => Err(format!("{e:#}")),
        }
    }
}

/// Every secret Mastodon would see — secret-named variables and the password
/// inside a database URL — goes to the redactor before anything is printed.
///
/// A secret that is also the value of a setting that is not secret (a
/// password equal to `DB_USER` or `DB_NAME`) is not registered: cutting it
/// out of the text that shows that setting would only point at it.
fn register_secrets(config: &MastodonConfig) {
    let plain: std::collections::BTreeSet<&str> = config
        .iter()
        .filter(|(key, _)| {
            !crate::redact::is_secret_name(key) && !crate::redact::is_database_url_name(key)
        })
        .filter_map(|(_, setting)| setting.value.known())
        .collect();
    let register = |secret: &str| {
        if !plain.contains(secret) {
            crate::redact::register(secret);
        }
    };
    for (key, setting) in config.iter() {
        let Some(value) = setting.value.known() else {
            continue;
        };
        if crate::redact::is_secret_name(key) {
            register(value);
        }
        if crate::redact::is_database_url_name(key)
            && let Ok(Some(password)) =
                crate::config::database_url::parse(value).and_then(|url| url.password())
        {
            register(&password);
        }
    }
}
