//! What Mastodon would see: the process environment, Rake-style `KEY=VALUE`
//! arguments and the root's `.env*` files, merged in Mastodon's order, and
//! the database connection `config/database.yml` would build from them.
//!
//! Guards decide on these values (is `DB_PORT` PgBouncer's 6432?) and the
//! PgBouncer bypass rewrites them, so a wrong answer here sends migrations
//! to the wrong server. Hence the strictness: a value that comes from a
//! `$(command)` is reported, not guessed; a broken line for a key that
//! matters is an error although dotenv would skip it; and files dotenv
//! would choke on fail here first, naming the file and line. No error text
//! carries a value.
//!
//! This file holds what is read: a [`Setting`] per variable, with its
//! [`Source`]. `load` reads it (checking that the user in `reader` may read
//! the files too), `database` builds the connection from it, and `error`
//! says why a configuration is refused.

pub mod database_url;
pub mod dotenv;

mod database;
mod error;
mod load;
mod reader;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::PathBuf;

use error::{ConfigError, Unknowable};

pub use database::{Database, socket_file};
pub use dotenv::Value;
pub use load::{DOTENV_FILES, load};
pub use reader::Reader;

/// Where a value came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    /// The process environment tootguard was started with.
    Environment,
    /// A `KEY=VALUE` argument, which Rake copies into ENV before the app
    /// (and so dotenv) loads.
    Argument,
    /// A line of one of the `.env*` files.
    File { path: PathBuf, line: usize },
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Environment => f.write_str("the environment"),
            Source::Argument => f.write_str("a KEY=VALUE argument on the command line"),
            Source::File { path, line } => write!(f, "{} line {line}", path.display()),
        }
    }
}

/// One variable as Mastodon would see it, and where it came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Setting {
    pub value: Value,
    pub source: Source,
}

/// Every variable Mastodon would see.
#[derive(Clone, Debug)]
pub struct MastodonConfig {
    settings: BTreeMap<String, Setting>,
    /// Environment variables whose value is not UTF-8; they are stored
    /// lossily and refused where a database setting depends on them.
    not_utf8: BTreeSet<String>,
    /// The `.env*` files that existed and were read, for the tests.
    #[cfg(test)]
    files_read: Vec<PathBuf>,
}

/// Any value, even `false`, skips post-deployment migrations
/// (`lib/mastodon/database.rb` tests presence).
pub const SKIP_POST: &str = "SKIP_POST_DEPLOYMENT_MIGRATIONS";

impl MastodonConfig {
    pub fn get(&self, key: &str) -> Option<&Setting> {
        self.settings.get(key)
    }

    /// Every variable, in key order (for registering secrets to redact).
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Setting)> {
        self.settings.iter().map(|(k, s)| (k.as_str(), s))
    }

    /// The `.env*` files that existed and were read, in reading order.
    #[cfg(test)]
    pub fn files_read(&self) -> &[PathBuf] {
        &self.files_read
    }

    /// A variable's exact value and its setting; `Ok(None)` when unset. A
    /// value from a `$(command)`, or an environment value that is not UTF-8,
    /// is an error that says so rather than a guess.
    pub fn known(&self, key: &str) -> Result<Option<(&str, &Setting)>, ConfigError> {
        let Some(setting) = self.settings.get(key) else {
            return Ok(None);
        };
        let fail = |kind| ConfigError::Unknowable {
            key: key.to_owned(),
            source: setting.source.clone(),
            kind,
        };
        match &setting.value {
            Value::Computed { file, line } => Err(fail(Unknowable::Computed {
                at: Source::File {
                    path: file.clone().unwrap_or_default(),
                    line: *line,
                },
            })),
            Value::Known(_) if self.not_utf8.contains(key) => Err(fail(Unknowable::NotUtf8)),
            Value::Known(value) => Ok(Some((value, setting))),
        }
    }
}

/// Helpers for the tests of the loader and of the database.
#[cfg(test)]
mod testing {
    use super::*;
    use std::ffi::OsString;
    use std::fs;

    pub(super) fn env(pairs: &[(&str, &str)]) -> BTreeMap<OsString, OsString> {
        pairs
            .iter()
            .map(|(k, v)| (OsString::from(k), OsString::from(v)))
            .collect()
    }

    pub(super) fn args(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    /// A Mastodon root with the given `.env*` files.
    pub(super) fn root(files: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for (name, text) in files {
            fs::write(dir.path().join(name), text).unwrap();
        }
        dir
    }

    pub(super) fn value<'a>(config: &'a MastodonConfig, key: &str) -> &'a str {
        config.get(key).unwrap().value.known().unwrap()
    }
}
