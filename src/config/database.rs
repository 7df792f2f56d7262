//! The connection `config/database.yml` (production) would build from
//! the configuration: `PRIMARY_DATABASE_URL` or `DATABASE_URL` merged
//! over the `DB_*` values and their defaults.

use std::fmt;
use std::path::{Path, PathBuf};

use super::{ConfigError, MastodonConfig, Source, database_url};

impl MastodonConfig {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::load;
    use crate::config::testing::{env, root};

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
