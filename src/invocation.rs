//! One command as typed: which tool and its arguments byte for byte, in a
//! [`Site`] (the working directory, the environment, the Mastodon root and
//! its configuration). Every guard looks at this and nothing else, which is
//! what lets `explain` and `upgrade` ask the guards about a command without
//! running it; what only needs the install (the PgBouncer route, the
//! memory verdict) takes the [`Site`].

use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};

use crate::resolve::Root;
use crate::settings::Env;
use crate::site::Site;

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

/// A Mastodon command as the guards see it, whatever spelling carried it:
/// the tool and its arguments, in a [`Site`] (the place, the environment
/// and the install it runs in), which it derefs to.
pub struct Invocation {
    pub tool: Tool,
    /// The tool's own arguments (after `bundle exec rails`, `ruby bin/rails`).
    pub args: Vec<OsString>,
    site: Site,
}

impl Invocation {
    pub fn new(
        tool: Tool,
        args: Vec<OsString>,
        cwd: PathBuf,
        env: Env,
        root: Option<Root>,
    ) -> Self {
        let assignments = rake_assignments(tool, &args);
        Invocation {
            tool,
            args,
            site: Site::with_assignments(cwd, env, root, assignments),
        }
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

    /// Rake-style `KEY=VALUE` arguments (`rails db:migrate DB_PORT=5432`).
    pub fn rake_assignments(&self) -> Vec<(String, String)> {
        rake_assignments(self.tool, &self.args)
    }
}

impl std::ops::Deref for Invocation {
    type Target = Site;

    fn deref(&self) -> &Site {
        &self.site
    }
}

/// Rake copies `KEY=VALUE` arguments into ENV before any task runs, so they
/// count as environment and win over the `.env*` files; other tools take
/// none.
fn rake_assignments(tool: Tool, args: &[OsString]) -> Vec<(String, String)> {
    if !tool.runs_tasks() {
        return Vec::new();
    }
    args.iter()
        .filter_map(|arg| {
            let (key, value) = rake_assignment(arg.to_str()?)?;
            Some((key.to_owned(), value.to_owned()))
        })
        .collect()
}
