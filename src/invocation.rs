//! One command as typed: which tool, its arguments byte for byte, the working
//! directory, the environment and the Mastodon root. Every guard looks at this
//! and nothing else, which is what lets `explain` and `upgrade` ask the guards
//! about a command without running it.

use std::cell::OnceCell;
use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};

use crate::config::MastodonConfig;
use crate::resolve::Root;
use crate::settings::Env;

/// Mastodon's three commands: what the guards look at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tool {
    Rails,
    Rake,
    Tootctl,
}

impl Tool {
    #[cfg(test)]
    pub const ALL: [Tool; 3] = [Tool::Rails, Tool::Rake, Tool::Tootctl];

    /// The tool of this name (`rails`, `rake`, `tootctl`).
    pub fn from_name(name: &OsStr) -> Option<Tool> {
        match name.as_encoded_bytes() {
            b"rails" => Some(Tool::Rails),
            b"rake" => Some(Tool::Rake),
            b"tootctl" => Some(Tool::Tootctl),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Tool::Rails => "rails",
            Tool::Rake => "rake",
            Tool::Tootctl => "tootctl",
        }
    }

    /// Rails and Rake run tasks (`db:migrate`) and take `KEY=VALUE` arguments.
    pub fn runs_tasks(self) -> bool {
        matches!(self, Tool::Rails | Tool::Rake)
    }
}

/// The names a shim runs under: Mastodon's three commands, and the two
/// programs the other spellings of them pass through — `ruby` (the
/// `#!/usr/bin/env ruby` line of `bin/tootctl`, `bin/rails`, `bin/rake`)
/// and `bundle` (`bundle exec rails …`, see [`crate::spelling`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shim {
    Tool(Tool),
    Ruby,
    Bundle,
}

impl Shim {
    pub const ALL: [Shim; 5] = [
        Shim::Tool(Tool::Rails),
        Shim::Tool(Tool::Rake),
        Shim::Tool(Tool::Tootctl),
        Shim::Ruby,
        Shim::Bundle,
    ];

    /// The shim of this name (`rails`, `rake`, `tootctl`, `ruby`, `bundle`).
    pub fn from_name(name: &OsStr) -> Option<Shim> {
        match name.as_encoded_bytes() {
            b"ruby" => Some(Shim::Ruby),
            b"bundle" => Some(Shim::Bundle),
            _ => Tool::from_name(name).map(Shim::Tool),
        }
    }

    /// The shim argv[0] names, by its basename (`/home/x/.local/bin/tootctl`).
    pub fn from_argv0(argv0: &OsStr) -> Option<Shim> {
        Path::new(argv0).file_name().and_then(Shim::from_name)
    }

    pub fn name(self) -> &'static str {
        match self {
            Shim::Tool(tool) => tool.name(),
            Shim::Ruby => "ruby",
            Shim::Bundle => "bundle",
        }
    }
}

/// `KEY=VALUE` as Rake reads an argument: KEY of word characters.
pub fn rake_assignment(arg: &str) -> Option<(&str, &str)> {
    let (key, value) = arg.split_once('=')?;
    let word = !key.is_empty() && key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    word.then_some((key, value))
}

/// A Mastodon command as the guards see it, whatever spelling carried it.
pub struct Invocation {
    pub tool: Tool,
    /// The tool's own arguments (after `bundle exec rails`, `ruby bin/rails`).
    pub args: Vec<OsString>,
    pub cwd: PathBuf,
    pub env: Env,
    pub root: Option<Root>,
    config: OnceCell<Result<MastodonConfig, String>>,
    /// PostgreSQL's answers, asked once per command (explain and the
    /// guards ask the same question).
    report: OnceCell<(crate::database::Request, crate::database::Report)>,
}

impl Invocation {
    pub fn new(
        tool: Tool,
        args: Vec<OsString>,
        cwd: PathBuf,
        env: Env,
        root: Option<Root>,
    ) -> Self {
        Invocation {
            tool,
            args,
            cwd,
            env,
            root,
            config: OnceCell::new(),
            report: OnceCell::new(),
        }
    }

    pub fn var(&self, name: &str) -> Option<OsString> {
        self.env.get(name)
    }

    pub fn is_production(&self) -> bool {
        self.root.as_ref().is_some_and(|r| r.production)
    }

    /// True when any of `tasks` is among the arguments of `rails` or `rake`
    /// (several tasks may be given: `rails db:migrate assets:precompile`).
    pub fn runs_any_task(&self, tasks: &[&str]) -> bool {
        self.tool.runs_tasks()
            && self
                .args
                .iter()
                .any(|arg| arg.to_str().is_some_and(|a| tasks.contains(&a)))
    }

    /// Rake-style `KEY=VALUE` arguments (`rails db:migrate DB_PORT=5432`):
    /// Rake copies them into ENV before any task runs, so they count as
    /// environment and win over the `.env*` files.
    pub fn rake_assignments(&self) -> Vec<(String, String)> {
        if !self.tool.runs_tasks() {
            return Vec::new();
        }
        self.args
            .iter()
            .filter_map(|arg| {
                let (key, value) = rake_assignment(arg.to_str()?)?;
                Some((key.to_owned(), value.to_owned()))
            })
            .collect()
    }

    /// PostgreSQL's answer to `request`, asked at most once for this
    /// command (again only if the request differs).
    pub fn ask_database(&self, request: &crate::database::Request) -> crate::database::Report {
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
    /// root's `.env*` files. Read once, and only when a guard asks.
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
                    &self.rake_assignments(),
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
