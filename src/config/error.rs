//! Why a configuration is refused: one message per cause, naming the file
//! (and line) and the fix, never a value.

use std::fmt;
use std::io;
use std::path::PathBuf;

use super::database_url::UrlError;
use super::load::MAX_DOTENV_BYTES;
use super::{Source, dotenv};

/// Why a value tootguard needs cannot be known exactly.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Unknowable {
    /// It depends on a `$(command)` at `at`.
    Computed { at: Source },
    /// The environment holds bytes that are not UTF-8.
    NotUtf8,
}

/// A configuration tootguard will not act on. Each message names the file
/// (and line) and the fix, and never includes a value.
#[derive(Debug)]
pub enum ConfigError {
    Unreadable {
        path: PathBuf,
        source: io::Error,
    },
    /// Permission denied, for this process or for the user it hands the
    /// command to.
    Denied {
        path: PathBuf,
        reader: String,
        file_owner: Option<String>,
        mode: Option<u32>,
        install_owner: Option<String>,
    },
    Dangling {
        path: PathBuf,
        target: PathBuf,
    },
    Directory {
        path: PathBuf,
    },
    NotAFile {
        path: PathBuf,
    },
    TooLarge {
        path: PathBuf,
        size: u64,
    },
    Syntax {
        path: PathBuf,
        error: dotenv::ParseError,
    },
    Malformed {
        path: PathBuf,
        line: usize,
        key: String,
    },
    Unknowable {
        key: String,
        source: Source,
        kind: Unknowable,
    },
    Empty {
        key: String,
        source: Source,
        default: String,
    },
    EmptyUrl {
        key: String,
        source: Source,
    },
    BadPort {
        key: String,
        source: Source,
    },
    BadUrl {
        key: String,
        source: Source,
        error: UrlError,
    },
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::Unreadable { path, source } => write!(
                f,
                "cannot read {}: {source}. Mastodon reads this file at boot and would stop too; \
                 make it readable by the user that runs Mastodon (usually `mastodon`).",
                path.display()
            ),
            ConfigError::Denied {
                path,
                reader,
                file_owner,
                mode,
                install_owner,
            } => {
                let what = match (file_owner, mode) {
                    (Some(owner), Some(mode)) => {
                        format!(" (it belongs to {owner}, mode {mode:o})")
                    }
                    _ => String::new(),
                };
                let quoted = crate::quote::word(path.as_os_str());
                let owner = install_owner.as_deref().unwrap_or("mastodon");
                write!(
                    f,
                    "{reader} cannot read {}{what}, and Mastodon reads it at boot as the user \
                     that runs it. Give it to the install's owner and keep it private, as root: \
                     `chown {owner}: {quoted} && chmod 600 {quoted}`.",
                    path.display()
                )
            }
            ConfigError::Dangling { path, target } => write!(
                f,
                "{} is a link to {}, which does not exist: Mastodon's dotenv skips it without a \
                 word, so Mastodon would run without this configuration. Restore {}, or remove \
                 the link if it is not needed.",
                path.display(),
                target.display(),
                target.display()
            ),
            ConfigError::Directory { path } => write!(
                f,
                "{} is a directory, not a dotenv file. Mastodon's dotenv skips it without a word, \
                 which hides whatever you meant to configure there; remove or rename it.",
                path.display()
            ),
            ConfigError::NotAFile { path } => write!(
                f,
                "{} is not a regular file (a FIFO, socket or device); replace it with a regular \
                 file or remove it.",
                path.display()
            ),
            ConfigError::TooLarge { path, size } => write!(
                f,
                "{} is {size} bytes, over tootguard's limit of {} MiB for a dotenv file; a real \
                 one is a few kilobytes, so check that this is the file you meant and shrink it.",
                path.display(),
                MAX_DOTENV_BYTES / (1024 * 1024)
            ),
            ConfigError::Syntax { path, error } => {
                let fix = match error {
                    dotenv::ParseError::InvalidUtf8 { .. } => {
                        "Mastodon's dotenv stops at boot with \"invalid byte sequence in UTF-8\"; \
                         save the file as UTF-8"
                    }
                    dotenv::ParseError::UnsetExport { .. } => {
                        "dotenv stops at boot with \"has an unset variable\"; give it a value \
                         (`export KEY=value`) or remove the line"
                    }
                    dotenv::ParseError::NulByte { .. } => {
                        "Ruby refuses to put it in the environment, so Mastodon would not boot; \
                         remove the NUL byte"
                    }
                };
                write!(f, "{} {error}: {fix}.", path.display())
            }
            ConfigError::Malformed { path, line, key } => write!(
                f,
                "{} line {line} looks like a setting for {key} but is not in a form dotenv reads \
                 (`{key}=value`), so Mastodon would silently ignore it; tootguard will not guess \
                 what you meant. Fix the line, or comment it out with `#`.",
                path.display()
            ),
            ConfigError::Unknowable { key, source, kind } => match kind {
                Unknowable::Computed { at } if *at == *source => write!(
                    f,
                    "{key} ({source}) is computed by a shell command `$(…)`; tootguard never runs \
                     commands from .env files, so it cannot know the value Mastodon would use. \
                     Write the value literally, or set {key} in the environment for this command."
                ),
                Unknowable::Computed { at } => write!(
                    f,
                    "{key} ({source}) is built from a value computed by a shell command `$(…)` at \
                     {at}; tootguard never runs commands from .env files, so it cannot know the \
                     value Mastodon would use. Write the value literally, or set {key} in the \
                     environment for this command."
                ),
                Unknowable::NotUtf8 => write!(
                    f,
                    "{key} (from {source}) is not valid UTF-8, so tootguard cannot pass it on \
                     faithfully; set it to a UTF-8 value."
                ),
            },
            ConfigError::EmptyUrl { key, source } => write!(
                f,
                "{key} ({source}) is set but empty, and Rails stops with \"Database URL cannot be \
                 empty\"; remove it or give it a postgres:// URL."
            ),
            ConfigError::Empty {
                key,
                source,
                default,
            } => write!(
                f,
                "{key} ({source}) is set but empty: config/database.yml then leaves it to libpq's \
                 own defaults (PGHOST, PGPORT, the login name…), which tootguard does not guess. \
                 Set {key} to the value you mean, or remove it to get Mastodon's default \
                 ({default})."
            ),
            ConfigError::BadPort { key, source } => write!(
                f,
                "{key} ({source}) is not a port number: write it in plain decimal, 1 to 65535 (the \
                 YAML in config/database.yml reads a leading zero as octal)."
            ),
            ConfigError::BadUrl { key, source, error } => write!(
                f,
                "{key} ({source}) cannot be used: {error}. Fix the URL (percent-encode special \
                 characters in the user and password)."
            ),
        }
    }
}

impl std::error::Error for ConfigError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ConfigError::Unreadable { source, .. } => Some(source),
            ConfigError::Syntax { error, .. } => Some(error),
            ConfigError::BadUrl { error, .. } => Some(error),
            _ => None,
        }
    }
}
