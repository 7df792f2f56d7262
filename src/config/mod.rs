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

pub mod database_url;
pub mod dotenv;

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsString;
use std::fmt;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use database_url::UrlError;
pub use dotenv::Value;

/// The files dotenv's Rails integration reads in production, highest
/// precedence first (`Dotenv::Rails#files`: `.env.#{env}.local`,
/// `.env.local`, `.env.#{env}`, `.env`).
pub const DOTENV_FILES: [&str; 4] = [
    ".env.production.local",
    ".env.local",
    ".env.production",
    ".env",
];

/// Larger files are refused: a real `.env.production` is a few kilobytes,
/// and the whole file is held in memory while it is scanned.
pub const MAX_DOTENV_BYTES: u64 = 16 * 1024 * 1024;

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

/// The keys whose broken lines are errors rather than skipped.
fn matters(key: &str) -> bool {
    key == "DATABASE_URL"
        || key == "PRIMARY_DATABASE_URL"
        || key == "PREPARED_STATEMENTS"
        || key == SKIP_POST
        || key.starts_with("DB_")
        || key.starts_with("TOOTGUARD_")
}

/// The user who will read the files, when not this process's: root hands
/// a command to the install's owner, who must be able to read them too.
#[derive(Clone, Debug)]
pub struct Reader {
    pub name: String,
    pub uid: u32,
    pub gids: Vec<u32>,
}

impl Reader {
    /// Whether the mode bits of a file with `meta` let this user read it.
    fn can_read(&self, meta: &std::fs::Metadata) -> bool {
        self.may(meta, 0o4)
    }

    /// Whether this user may `want` (4 read, 1 search) what `meta` is of.
    fn may(&self, meta: &std::fs::Metadata, want: u32) -> bool {
        use std::os::unix::fs::MetadataExt;
        let mode = meta.mode();
        let bits = if meta.uid() == self.uid {
            mode >> 6
        } else if self.gids.contains(&meta.gid()) {
            mode >> 3
        } else {
            mode
        };
        bits & want == want
    }

    /// Whether this user can open `path` for reading: read permission on
    /// the file, search permission on every directory above it.
    pub fn can_reach(&self, path: &Path) -> bool {
        let Ok(meta) = std::fs::metadata(path) else {
            return false;
        };
        self.can_read(&meta)
            && path.ancestors().skip(1).all(|dir| {
                dir.as_os_str().is_empty()
                    || std::fs::metadata(dir).is_ok_and(|m| self.may(&m, 0o1))
            })
    }
}

/// Reads what Mastodon would see, in its order. The first value wins: the
/// environment, then `KEY=VALUE` arguments (which replace an environment
/// value, as Rake's `ENV[k] = v` does), then each `.env*` file in
/// [`DOTENV_FILES`] order, which only adds keys not set yet (dotenv's
/// `overwrite: false`). Each file is parsed with the previous ones
/// already applied, as `Dotenv.load` updates ENV file by file.
///
/// With a `reader`, a file that user could not read is an error too, even
/// when this process (root) can.
pub fn load(
    root: Option<&Path>,
    env: &BTreeMap<OsString, OsString>,
    rake_args: &[(String, String)],
    reader: Option<&Reader>,
) -> Result<MastodonConfig, ConfigError> {
    let mut settings = BTreeMap::new();
    let mut not_utf8 = BTreeSet::new();
    for (key, value) in env {
        // A key that is not UTF-8 can never be one a .env file names.
        let Some(key) = key.to_str() else { continue };
        let value = match value.to_str() {
            Some(v) => v.to_owned(),
            None => {
                not_utf8.insert(key.to_owned());
                value.to_string_lossy().into_owned()
            }
        };
        settings.insert(
            key.to_owned(),
            Setting {
                value: Value::Known(value),
                source: Source::Environment,
            },
        );
    }
    for (key, value) in rake_args {
        not_utf8.remove(key);
        settings.insert(
            key.clone(),
            Setting {
                value: Value::Known(value.clone()),
                source: Source::Argument,
            },
        );
    }

    #[cfg(test)]
    let mut files_read = Vec::new();
    // Without a Mastodon root there are no files: the environment alone.
    for path in root
        .into_iter()
        .flat_map(|r| DOTENV_FILES.map(|name| r.join(name)))
    {
        let Some(bytes) = read_dotenv_file(&path, reader)? else {
            continue;
        };
        let lookup = |key: &str| settings.get(key).map(|s: &Setting| s.value.clone());
        let parsed = dotenv::parse(&bytes, &lookup).map_err(|error| ConfigError::Syntax {
            path: path.clone(),
            error,
        })?;
        if let Some(bad) = parsed
            .malformed
            .iter()
            .find(|m| m.key_guess.as_deref().is_some_and(matters))
        {
            return Err(ConfigError::Malformed {
                path,
                line: bad.line,
                key: bad.key_guess.clone().unwrap_or_default(),
            });
        }
        for assignment in parsed.assignments {
            let value = match assignment.value {
                Value::Computed { file: None, line } => Value::Computed {
                    file: Some(path.clone()),
                    line,
                },
                value => value,
            };
            settings.entry(assignment.key).or_insert(Setting {
                value,
                source: Source::File {
                    path: path.clone(),
                    line: assignment.line,
                },
            });
        }
        #[cfg(test)]
        files_read.push(path);
    }
    Ok(MastodonConfig {
        settings,
        not_utf8,
        #[cfg(test)]
        files_read,
    })
}

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

    /// A `DB_*` value as `config/database.yml` (production) renders it:
    /// `ENV['DB_HOST'] || 'localhost'`. An empty value is not the default:
    /// the ERB writes `host: `, which YAML reads as null, and libpq then
    /// picks its own default; that is refused rather than guessed.
    fn yaml_value(&self, key: &str, default: &str) -> Result<String, ConfigError> {
        match self.known(key)? {
            None => Ok(default.to_owned()),
            Some((value, setting)) if value.trim().is_empty() => Err(ConfigError::Empty {
                key: key.to_owned(),
                source: setting.source.clone(),
                default: default.to_owned(),
            }),
            Some((value, _)) => Ok(value.to_owned()),
        }
    }

    /// `port: <%= ENV['DB_PORT'] || 5432 %>`, read by YAML: plain decimal.
    fn yaml_port(&self) -> Result<u16, ConfigError> {
        let Some((text, setting)) = self.known("DB_PORT")? else {
            return Ok(5432);
        };
        let text = text.trim_matches([' ', '\t']);
        if text.is_empty() {
            return Err(ConfigError::Empty {
                key: "DB_PORT".to_owned(),
                source: setting.source.clone(),
                default: "5432".to_owned(),
            });
        }
        // YAML 1.1 reads a leading zero as octal and allows `_` and `0x`;
        // only plain decimal means what it says.
        let plain = text.bytes().all(|b| b.is_ascii_digit()) && !text.starts_with('0');
        match text.parse::<u16>() {
            Ok(port) if plain => Ok(port),
            _ => Err(ConfigError::BadPort {
                key: "DB_PORT".to_owned(),
                source: setting.source.clone(),
            }),
        }
    }

    /// The connection Mastodon's primary database would use.
    ///
    /// Rails looks for `PRIMARY_DATABASE_URL`, then `DATABASE_URL`
    /// (`DatabaseConfigurations#environment_value_for("primary")`) and merges
    /// the URL's parts over `config/database.yml`: a part the URL lacks
    /// (no port, no user, …) keeps its `DB_*` value or default. Only the
    /// variables that end up in use must be knowable.
    pub fn database(&self) -> Result<Database, ConfigError> {
        let url = ["PRIMARY_DATABASE_URL", "DATABASE_URL"]
            .into_iter()
            .find_map(|key| Some(self.known(key).transpose()?.map(|found| (key, found))))
            .transpose()?
            .map(|(key, (text, setting))| UrlParts::read(key, text, &setting.source))
            .transpose()?;

        let host = match url.as_ref().and_then(|u| u.host.clone()) {
            Some(host) => host,
            None => self.yaml_value("DB_HOST", "localhost")?,
        };
        let port = match url.as_ref().and_then(|u| u.port) {
            Some(port) => port,
            None => self.yaml_port()?,
        };
        // Name, user and password do not decide where a migration goes: one
        // that cannot be known (a `$(command)`, an empty value) is `None`,
        // not an error that would block every migration.
        let name = match url.as_ref().and_then(|u| u.name.clone()) {
            Some(name) => Some(name),
            None => self.yaml_value("DB_NAME", "mastodon_production").ok(),
        };
        let user = match url.as_ref().and_then(|u| u.user.clone()) {
            Some(user) => Some(user),
            None => self.yaml_value("DB_USER", "mastodon").ok(),
        };
        let password_known =
            url.as_ref().is_some_and(|u| u.password.is_some()) || self.known("DB_PASS").is_ok();
        let sslmode = match url.as_ref().and_then(|u| u.sslmode.clone()) {
            Some(mode) => Some(mode),
            None => self
                .known("DB_SSLMODE")
                .ok()
                .flatten()
                .map(|(m, _)| m.to_owned()),
        };
        let password = match url.as_ref().and_then(|u| u.password.clone()) {
            Some(password) => Some(password),
            // `password: <%= (ENV['DB_PASS'] || '').to_json %>`: always a
            // string, so an empty one is simply no password.
            None => self
                .known("DB_PASS")
                .ok()
                .flatten()
                .map(|(p, _)| p.to_owned())
                .filter(|p| !p.is_empty()),
        };
        Ok(Database {
            host,
            port,
            name,
            user,
            password,
            password_known,
            sslmode,
            via_url: url.is_some(),
            url_variable: url.as_ref().map(|u| u.key),
            url: url.map(|u| u.url),
        })
    }
}

/// What a database URL sets; `None` parts are left to `config/database.yml`.
struct UrlParts {
    key: &'static str,
    url: String,
    host: Option<String>,
    port: Option<u16>,
    name: Option<String>,
    user: Option<String>,
    password: Option<String>,
    sslmode: Option<String>,
}

impl UrlParts {
    fn read(key: &'static str, url: &str, source: &Source) -> Result<UrlParts, ConfigError> {
        if url.trim().is_empty() {
            // ConnectionUrlResolver: "Database URL cannot be empty".
            return Err(ConfigError::EmptyUrl {
                key: key.to_owned(),
                source: source.clone(),
            });
        }
        let bad = |error| ConfigError::BadUrl {
            key: key.to_owned(),
            source: source.clone(),
            error,
        };
        let parsed = database_url::parse(url).map_err(bad)?;
        Ok(UrlParts {
            key,
            url: url.to_owned(),
            host: parsed.host().map_err(bad)?,
            port: parsed.port().map_err(bad)?,
            name: parsed.database().map_err(bad)?,
            user: parsed.user().map_err(bad)?,
            password: parsed.password().map_err(bad)?,
            sslmode: parsed.sslmode().map_err(bad)?,
        })
    }
}

/// Reads one `.env*` file; `None` when it does not exist (dotenv skips
/// `Errno::ENOENT`, a dangling symlink included).
fn read_dotenv_file(path: &Path, reader: Option<&Reader>) -> Result<Option<Vec<u8>>, ConfigError> {
    let unreadable = |source: io::Error| {
        if source.kind() == io::ErrorKind::PermissionDenied {
            denied(path, None)
        } else {
            ConfigError::Unreadable {
                path: path.to_owned(),
                source,
            }
        }
    };
    let meta = match std::fs::metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            // A link to nothing is a file someone meant to be there, which
            // dotenv skips without a word: Mastodon would run without it.
            return match std::fs::read_link(path) {
                Ok(target) => Err(ConfigError::Dangling {
                    path: path.to_owned(),
                    target,
                }),
                Err(_) => Ok(None),
            };
        }
        Err(e) => return Err(unreadable(e)),
    };
    if meta.is_dir() {
        return Err(ConfigError::Directory {
            path: path.to_owned(),
        });
    }
    // A FIFO would block the shim forever; a device is not a config file.
    if !meta.is_file() {
        return Err(ConfigError::NotAFile {
            path: path.to_owned(),
        });
    }
    if meta.len() > MAX_DOTENV_BYTES {
        return Err(ConfigError::TooLarge {
            path: path.to_owned(),
            size: meta.len(),
        });
    }
    if let Some(reader) = reader
        && !reader.can_read(&meta)
    {
        return Err(denied(path, Some(reader)));
    }
    let file = match std::fs::File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(unreadable(e)),
    };
    let mut bytes = Vec::new();
    // The file may grow between metadata and read: read one byte past the cap.
    file.take(MAX_DOTENV_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(unreadable)?;
    if bytes.len() as u64 > MAX_DOTENV_BYTES {
        return Err(ConfigError::TooLarge {
            path: path.to_owned(),
            size: bytes.len() as u64,
        });
    }
    Ok(Some(bytes))
}

/// A file that `reader` (else this process's user) may not read: who owns
/// it, its mode, and the owner of the install it belongs to, for the fix.
fn denied(path: &Path, reader: Option<&Reader>) -> ConfigError {
    use std::os::unix::fs::MetadataExt;
    let name = |uid: u32| {
        nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(uid))
            .ok()
            .flatten()
            .map_or_else(|| format!("uid {uid}"), |u| u.name)
    };
    let meta = std::fs::symlink_metadata(path).ok();
    let install_owner = path
        .parent()
        .and_then(|dir| std::fs::metadata(dir).ok())
        .map(|m| name(m.uid()));
    ConfigError::Denied {
        path: path.to_owned(),
        reader: reader.map_or_else(|| name(nix::unistd::geteuid().as_raw()), |r| r.name.clone()),
        file_owner: meta.as_ref().map(|m| name(m.uid())),
        mode: meta.as_ref().map(|m| m.mode() & 0o7777),
        install_owner,
    }
}

/// The database connection Mastodon would open. A `host` starting with `/`
/// is a Unix socket directory.
#[derive(Clone, PartialEq, Eq)]
pub struct Database {
    pub host: String,
    pub port: u16,
    /// `None` when it cannot be known (computed by a shell command, empty).
    pub name: Option<String>,
    pub user: Option<String>,
    pub password: Option<String>,
    /// False when the password is computed by a shell command: then nobody
    /// can log in as Mastodon would to ask the database.
    pub password_known: bool,
    /// `DB_SSLMODE`, or the URL's `sslmode`; unset means libpq's `prefer`.
    pub sslmode: Option<String>,
    /// The connection comes (at least in part) from a URL variable.
    pub via_url: bool,
    /// Which one: `PRIMARY_DATABASE_URL` or `DATABASE_URL`. A bypass must
    /// rewrite this variable; `DB_*` does not override what it sets.
    pub url_variable: Option<&'static str>,
    pub url: Option<String>,
}

#[cfg(test)]
impl Database {
    pub fn is_socket(&self) -> bool {
        self.host.starts_with('/')
    }

    pub fn socket_path(&self) -> Option<PathBuf> {
        socket_file(&self.host, self.port)
    }
}

/// `<dir>/.s.PGSQL.<port>`, the socket file libpq opens, when `host` is a
/// socket directory (starts with `/`).
pub fn socket_file(host: &str, port: u16) -> Option<PathBuf> {
    host.starts_with('/')
        .then(|| Path::new(host).join(format!(".s.PGSQL.{port}")))
}

// By hand, so the password never reaches a log or a panic message.
impl fmt::Debug for Database {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Database")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("name", &self.name)
            .field("user", &self.user)
            .field("password", &self.password.as_ref().map(|_| "***"))
            .field("password_known", &self.password_known)
            .field("sslmode", &self.sslmode)
            .field("via_url", &self.via_url)
            .field("url_variable", &self.url_variable)
            .field("url", &self.url.as_deref().map(database_url::redacted))
            .finish()
    }
}

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

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn env(pairs: &[(&str, &str)]) -> BTreeMap<OsString, OsString> {
        pairs
            .iter()
            .map(|(k, v)| (OsString::from(k), OsString::from(v)))
            .collect()
    }

    fn args(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    /// A Mastodon root with the given `.env*` files.
    fn root(files: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for (name, text) in files {
            fs::write(dir.path().join(name), text).unwrap();
        }
        dir
    }

    fn value<'a>(config: &'a MastodonConfig, key: &str) -> &'a str {
        config.get(key).unwrap().value.known().unwrap()
    }

    #[test]
    fn the_first_value_wins_across_environment_arguments_and_files() {
        let dir = root(&[
            (".env.production.local", "A=prod.local\n"),
            (".env.local", "A=local\nB=local\n"),
            (
                ".env.production",
                "A=production\nB=production\nC=production\nE=production\n",
            ),
            (".env", "A=dot\nB=dot\nC=dot\nD=dot\n"),
        ]);
        let config = load(
            Some(dir.path()),
            &env(&[("E", "environment"), ("F", "environment")]),
            &args(&[("F", "argument")]),
            None,
        )
        .unwrap();
        assert_eq!(value(&config, "A"), "prod.local");
        assert_eq!(value(&config, "B"), "local");
        assert_eq!(value(&config, "C"), "production");
        assert_eq!(value(&config, "D"), "dot");
        assert_eq!(value(&config, "E"), "environment");
        assert_eq!(value(&config, "F"), "argument");
        assert_eq!(config.get("F").unwrap().source, Source::Argument);
        assert_eq!(config.get("E").unwrap().source, Source::Environment);
        assert_eq!(
            config.get("C").unwrap().source,
            Source::File {
                path: dir.path().join(".env.production"),
                line: 3
            }
        );
        assert_eq!(config.files_read().len(), 4);
    }

    #[test]
    fn a_command_line_port_beats_the_files() {
        let dir = root(&[(".env.production", "DB_PORT=6432\n")]);
        let config = load(
            Some(dir.path()),
            &env(&[]),
            &args(&[("DB_PORT", "5432")]),
            None,
        )
        .unwrap();
        assert_eq!(config.database().unwrap().port, 5432);
    }

    #[test]
    fn each_file_sees_the_values_of_the_files_before_it() {
        let dir = root(&[
            (".env.production.local", "DB_HOST=db.internal\n"),
            (
                ".env.production",
                "DATABASE_URL=postgres://m@${DB_HOST}:$PORT/x\n",
            ),
        ]);
        let config = load(Some(dir.path()), &env(&[("PORT", "5433")]), &[], None).unwrap();
        assert_eq!(
            value(&config, "DATABASE_URL"),
            "postgres://m@db.internal:5433/x"
        );
    }

    #[test]
    fn missing_files_are_skipped() {
        let dir = root(&[]);
        let config = load(Some(dir.path()), &env(&[]), &[], None).unwrap();
        assert!(config.files_read().is_empty());
        assert_eq!(
            config.database().unwrap(),
            Database {
                host: "localhost".into(),
                port: 5432,
                name: Some("mastodon_production".into()),
                user: Some("mastodon".into()),
                password: None,
                password_known: true,
                sslmode: None,
                via_url: false,
                url_variable: None,
                url: None,
            }
        );
    }

    #[test]
    fn db_variables_override_the_defaults() {
        let dir = root(&[(
            ".env.production",
            "DB_HOST=/var/run/postgresql\nDB_PORT=6432\nDB_NAME=m\nDB_USER=u\nDB_PASS=s3cret\n",
        )]);
        let db = load(Some(dir.path()), &env(&[]), &[], None)
            .unwrap()
            .database()
            .unwrap();
        assert_eq!(db.host, "/var/run/postgresql");
        assert!(db.is_socket());
        assert_eq!(
            db.socket_path(),
            Some(PathBuf::from("/var/run/postgresql/.s.PGSQL.6432"))
        );
        assert_eq!(
            (
                db.port,
                db.name.as_deref().unwrap(),
                db.user.as_deref().unwrap()
            ),
            (6432, "m", "u")
        );
        assert_eq!(db.password.as_deref(), Some("s3cret"));
    }

    #[test]
    fn database_url_takes_precedence_over_db_variables() {
        let dir = root(&[(
            ".env.production",
            "DB_HOST=ignored\nDB_PORT=5432\nDB_USER=ignored\n\
             DATABASE_URL=postgresql://m:p%40ss@/mdb?host=/var/run/postgresql&port=6432\n",
        )]);
        let db = load(Some(dir.path()), &env(&[]), &[], None)
            .unwrap()
            .database()
            .unwrap();
        assert_eq!(db.host, "/var/run/postgresql");
        assert_eq!(db.port, 6432);
        assert_eq!(db.user.as_deref(), Some("m"));
        assert_eq!(db.name.as_deref(), Some("mdb"));
        assert_eq!(db.password.as_deref(), Some("p@ss"));
        assert!(db.via_url);
        assert_eq!(db.url_variable, Some("DATABASE_URL"));
    }

    #[test]
    fn parts_missing_from_database_url_keep_their_db_values() {
        let dir = root(&[(
            ".env.production",
            "DB_PORT=6432\nDB_PASS=frompass\nDATABASE_URL=postgres://db.internal/mastodon\n",
        )]);
        let db = load(Some(dir.path()), &env(&[]), &[], None)
            .unwrap()
            .database()
            .unwrap();
        assert_eq!(db.host, "db.internal");
        assert_eq!(db.port, 6432);
        assert_eq!(db.user.as_deref(), Some("mastodon"));
        assert_eq!(db.password.as_deref(), Some("frompass"));
    }

    #[test]
    fn primary_database_url_wins_over_database_url() {
        let config = load(
            Some(root(&[]).path()),
            &env(&[
                ("DATABASE_URL", "postgres://a/x"),
                ("PRIMARY_DATABASE_URL", "postgres://b/y"),
            ]),
            &[],
            None,
        )
        .unwrap();
        let db = config.database().unwrap();
        assert_eq!(
            (db.host.as_str(), db.url_variable),
            ("b", Some("PRIMARY_DATABASE_URL"))
        );
    }

    #[test]
    fn a_computed_db_value_is_an_error_naming_the_command_line() {
        let dir = root(&[(".env.production", "A=1\nDB_HOST=$(hostname)\n")]);
        let config = load(Some(dir.path()), &env(&[]), &[], None).unwrap();
        let message = config.database().unwrap_err().to_string();
        assert!(message.contains("computed by a shell command"), "{message}");
        assert!(message.contains(".env.production line 2"), "{message}");
    }

    #[test]
    fn a_value_built_from_a_computed_one_points_at_the_command() {
        let dir = root(&[
            (".env.production.local", "SECRET=$(pass db)\n"),
            (".env.production", "DB_PORT=${SECRET}\n"),
        ]);
        let config = load(Some(dir.path()), &env(&[]), &[], None).unwrap();
        let message = config.database().unwrap_err().to_string();
        assert!(message.contains(".env.production line 1"), "{message}");
        assert!(
            message.contains(".env.production.local line 1"),
            "{message}"
        );
    }

    #[test]
    fn a_computed_password_or_empty_name_leaves_the_endpoint_known() {
        let dir = root(&[(
            ".env.production",
            "DB_HOST=127.0.0.1\nDB_PORT=6432\nDB_PASS=$(pass db)\nDB_NAME=\n",
        )]);
        let config = load(Some(dir.path()), &env(&[]), &[], None).unwrap();
        let db = config.database().unwrap();
        assert_eq!((db.host.as_str(), db.port), ("127.0.0.1", 6432));
        assert_eq!(db.password, None);
        assert!(!db.password_known);
        assert_eq!(db.name, None);
    }

    #[test]
    fn a_computed_value_that_does_not_matter_is_not_an_error() {
        let dir = root(&[(".env.production", "DB_PORT=$(echo 6432)\n")]);
        let config = load(
            Some(dir.path()),
            &env(&[("DATABASE_URL", "postgres://h:5432/x")]),
            &[],
            None,
        )
        .unwrap();
        assert_eq!(config.database().unwrap().port, 5432);
    }

    #[test]
    fn a_db_port_that_is_not_a_port_names_its_line() {
        for bad in ["pgbouncer", "06432", "70000", "0", "6_432"] {
            let dir = root(&[(".env.production", &format!("# c\nDB_PORT={bad}\n"))]);
            let config = load(Some(dir.path()), &env(&[]), &[], None).unwrap();
            let message = config.database().unwrap_err().to_string();
            assert!(
                message.contains(".env.production line 2"),
                "{bad}: {message}"
            );
        }
    }

    #[test]
    fn an_empty_db_host_is_refused_rather_than_guessed() {
        let dir = root(&[(".env.production", "DB_HOST=\n")]);
        let config = load(Some(dir.path()), &env(&[]), &[], None).unwrap();
        let message = config.database().unwrap_err().to_string();
        assert!(message.contains("set but empty"), "{message}");
    }

    #[test]
    fn a_malformed_line_for_a_key_that_matters_is_an_error() {
        let dir = root(&[(".env.production", "LOCAL_DOMAIN=x\nDB_PORT 6432\n")]);
        let error = load(Some(dir.path()), &env(&[]), &[], None).unwrap_err();
        let message = error.to_string();
        assert!(message.contains(".env.production line 2"), "{message}");
        assert!(message.contains("DB_PORT"), "{message}");
    }

    #[test]
    fn a_malformed_line_for_other_keys_is_ignored_like_dotenv_does() {
        let dir = root(&[(
            ".env.production",
            "SMTP_SERVER smtp.example\nDB_PORT=6432\n",
        )]);
        let config = load(Some(dir.path()), &env(&[]), &[], None).unwrap();
        assert_eq!(config.database().unwrap().port, 6432);
        assert!(config.get("SMTP_SERVER").is_none());
    }

    #[test]
    fn invalid_utf8_names_the_file_and_line() {
        let dir = root(&[]);
        fs::write(dir.path().join(".env"), b"A=1\nB=\xc3\x28\n").unwrap();
        let message = load(Some(dir.path()), &env(&[]), &[], None)
            .unwrap_err()
            .to_string();
        assert!(message.contains(".env line 2"), "{message}");
        assert!(message.contains("UTF-8"), "{message}");
    }

    #[test]
    fn a_directory_in_place_of_a_dotenv_file_is_an_error() {
        let dir = root(&[]);
        fs::create_dir(dir.path().join(".env.production")).unwrap();
        let message = load(Some(dir.path()), &env(&[]), &[], None)
            .unwrap_err()
            .to_string();
        assert!(
            message.contains(".env.production is a directory"),
            "{message}"
        );
    }

    #[test]
    fn an_unreadable_dotenv_file_is_an_error_naming_it() {
        use std::os::unix::fs::PermissionsExt;
        let dir = root(&[(".env.production", "DB_PASS=s3cret\n")]);
        let path = dir.path().join(".env.production");
        fs::set_permissions(&path, fs::Permissions::from_mode(0o000)).unwrap();
        // Root reads it anyway; then only the case below is exercised.
        if fs::read(&path).is_err() {
            let message = load(Some(dir.path()), &env(&[]), &[], None)
                .unwrap_err()
                .to_string();
            assert!(message.contains("cannot read"), "{message}");
            assert!(message.contains(".env.production"), "{message}");
            assert!(!message.contains("s3cret"));
        }
        // A root that is a file: ENOTDIR, which dotenv does not rescue either.
        let message = load(Some(&path), &env(&[]), &[], None)
            .unwrap_err()
            .to_string();
        assert!(message.contains("cannot read"), "{message}");
        assert!(message.contains(".env.production.local"), "{message}");
    }

    #[test]
    fn an_oversized_dotenv_file_is_refused_with_the_limit() {
        let dir = root(&[]);
        let file = fs::File::create(dir.path().join(".env")).unwrap();
        file.set_len(MAX_DOTENV_BYTES + 1).unwrap();
        let message = load(Some(dir.path()), &env(&[]), &[], None)
            .unwrap_err()
            .to_string();
        assert!(message.contains("16 MiB"), "{message}");
    }

    #[test]
    fn an_unset_export_is_an_error_naming_file_and_line() {
        let dir = root(&[(".env.local", "\nexport DB_PASS\n")]);
        let message = load(Some(dir.path()), &env(&[]), &[], None)
            .unwrap_err()
            .to_string();
        assert!(message.contains(".env.local line 2"), "{message}");
    }

    #[test]
    fn debug_output_of_a_database_hides_the_password() {
        let config = load(
            Some(root(&[]).path()),
            &env(&[
                ("DATABASE_URL", "postgres://u:hunter2@h/x"),
                ("DB_PASS", "other"),
            ]),
            &[],
            None,
        )
        .unwrap();
        let shown = format!("{:?}", config.database().unwrap());
        assert!(!shown.contains("hunter2"), "{shown}");
        let shown = format!("{config:?}");
        assert!(
            !shown.contains("hunter2") && !shown.contains("other"),
            "{shown}"
        );
    }

    #[test]
    fn errors_never_contain_a_value() {
        let dir = root(&[(".env.production", "DB_PORT=secret-ish-port\n")]);
        let config = load(Some(dir.path()), &env(&[]), &[], None).unwrap();
        assert!(
            !config
                .database()
                .unwrap_err()
                .to_string()
                .contains("secret-ish")
        );
        let config = load(
            Some(root(&[]).path()),
            &env(&[("DATABASE_URL", "postgres://u:se/cret@h/x")]),
            &[],
            None,
        )
        .unwrap();
        assert!(!config.database().unwrap_err().to_string().contains("cret"));
    }
}
