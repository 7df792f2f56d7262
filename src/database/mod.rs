//! Asking PostgreSQL itself, instead of guessing from configuration: where
//! the server behind the configured endpoint really is (a pooler in
//! between shows as another address), whether Rails' migration lock is
//! held and by whom, and which migrations the database has applied.
//!
//! The client (`tokio-postgres`, rustls for TLS) is linked into the
//! `tootguard` binary only: the shim binary, which starts before every
//! admin command, hands migrations to `tootguard` (see `guards`), so it
//! stays as small and quick as it was.

pub mod client;
pub mod lock;
pub mod migrations;

use std::time::Duration;

/// How long one question may take, connecting included: a database that
/// does not answer must not hold an admin's command for long.
pub const TIMEOUT: Duration = Duration::from_secs(5);

/// `DB_SSLMODE`, as Mastodon's `config/database.yml` passes it to libpq.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SslMode {
    Disable,
    Allow,
    Prefer,
    Require,
    /// `verify-ca` and `verify-full`: tootguard cannot check certificates
    /// the way libpq does (`~/.postgresql/root.crt`), so it does not ask.
    Verify,
}

impl SslMode {
    /// The mode for a `DB_SSLMODE` value; `prefer` when unset, as in
    /// Mastodon's `database.yml`.
    pub fn parse(value: Option<&str>) -> Result<SslMode, String> {
        Ok(match value.unwrap_or("prefer") {
            "" | "prefer" => SslMode::Prefer,
            "disable" => SslMode::Disable,
            "allow" => SslMode::Allow,
            "require" => SslMode::Require,
            "verify-ca" | "verify-full" => SslMode::Verify,
            other => {
                return Err(format!(
                    "DB_SSLMODE is {other:?}, which libpq does not know"
                ));
            }
        })
    }
}

/// Where to connect, and as whom. A `host` starting with `/` is a Unix
/// socket directory. Its `Debug` leaves the password out.
#[derive(Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub host: String,
    pub port: u16,
    pub user: Option<String>,
    pub password: Option<String>,
    pub dbname: Option<String>,
    pub sslmode: SslMode,
}

impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Endpoint")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("user", &self.user)
            .field("password", &self.password.as_ref().map(|_| "(hidden)"))
            .field("dbname", &self.dbname)
            .field("sslmode", &self.sslmode)
            .finish()
    }
}

/// What to ask. Its `Debug` leaves the passwords out.
#[derive(Clone, PartialEq, Eq)]
pub struct Request {
    /// The endpoint Mastodon is configured with (maybe a pooler).
    pub configured: Endpoint,
    /// The direct endpoint `TOOTGUARD_DIRECT_DB_*` name, if they do.
    pub direct: Option<Endpoint>,
    /// The direct endpoint's credentials when the server itself is found
    /// behind a pooler (the direct settings' user and password, else the
    /// configured ones).
    pub direct_user: Option<String>,
    pub direct_password: Option<String>,
}

impl std::fmt::Debug for Request {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Request")
            .field("configured", &self.configured)
            .field("direct", &self.direct)
            .field("direct_user", &self.direct_user)
            .field(
                "direct_password",
                &self.direct_password.as_ref().map(|_| "(hidden)"),
            )
            .finish()
    }
}

/// What one PostgreSQL server says about itself.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Server {
    /// `inet_server_addr()` and `inet_server_port()`: NULL over a socket.
    pub addr: Option<String>,
    pub port: Option<u16>,
    pub database: String,
    /// `pg_postmaster_start_time()`, in seconds since the epoch (text, so
    /// no time zone of the session changes it).
    pub started: String,
    /// From `pg_control_system()`, when this role may read it.
    pub system_identifier: Option<String>,
    /// `server_version_num`.
    pub version_num: Option<u32>,
    /// `pg_backend_pid()`: through a pooler, the pooled server connection
    /// the question landed on.
    pub backend_pid: Option<u32>,
    /// `current_setting('port')`: the port the server itself listens on
    /// (TCP and its socket), which a pooler's port is not.
    pub port_setting: Option<u16>,
}

impl Server {
    /// Whether `other` is this server: the same database in the same
    /// cluster (the system identifier when both could read it, else the
    /// postmaster's start time).
    pub fn is_same_as(&self, other: &Server) -> bool {
        let same_cluster = match (&self.system_identifier, &other.system_identifier) {
            (Some(a), Some(b)) => a == b,
            _ => self.started == other.started,
        };
        self.database == other.database && same_cluster
    }
}

/// A session holding Rails' migration lock.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Holder {
    pub pid: u32,
    pub user: Option<String>,
    pub application_name: Option<String>,
    pub client_addr: Option<String>,
    /// `pg_stat_activity.state`: `active`, `idle`, `idle in transaction`…;
    /// `None` when this role may not see it.
    pub state: Option<String>,
    /// Since when it is in that state.
    pub since: Option<String>,
    /// For how long it has been idle, in seconds, when it is (shown only).
    pub idle_seconds: Option<u64>,
    /// It is a pooled server connection tootguard's own question landed
    /// on through the pooler: certainly a pooler's, and a leftover (busy,
    /// if at all, with that question only).
    pub ours: bool,
}

impl Holder {
    /// Busy now: running a query, or inside a transaction. An idle holder
    /// is not therefore a leftover: Rails (6.1 and later) takes its lock
    /// on a connection of its own, which stays idle while the migration
    /// runs on another.
    pub fn is_busy(&self) -> bool {
        !self.ours && self.state.as_deref().is_some_and(|s| s != "idle")
    }
}

/// What stands between the configured endpoint and PostgreSQL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pooler {
    /// Nothing: the session is on the endpoint connected to.
    None,
    /// Something (PgBouncer): the session is elsewhere — on the server's
    /// `(address, port)`, or on a Unix socket (`None`).
    Between { server: Option<(String, u16)> },
    /// Cannot be told: no answer, or sockets on both sides.
    Unknown,
}

/// What the direct endpoint answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// PostgreSQL itself, the same database on the same cluster as the
    /// one behind the configured endpoint (or the configured endpoint could
    /// not say, and this one answered for the database).
    Verified(Server),
    /// It answers, but as another database or cluster, or as a pooler.
    Other(String),
    /// It does not answer: connection, login or question failed.
    Failed(String),
}

/// The answers. Each part may have failed on its own, with a message that
/// names the endpoint but never a password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// What the configured endpoint's server says.
    pub configured: Result<Server, String>,
    pub pooler: Pooler,
    /// The direct endpoint tried: the settings', or the server found
    /// behind a pooler (the first candidate that is the one, else the last
    /// tried, with every candidate's answer); `None` when the configured
    /// endpoint is PostgreSQL itself (or cannot be told apart from it).
    pub direct: Option<(Endpoint, Answer)>,
    /// Sessions holding Rails' migration lock on the target database.
    pub lock: Result<Vec<Holder>, String>,
    /// Versions in `schema_migrations` (none when the table is missing).
    pub versions: Result<Vec<String>, String>,
}

/// Asks the database (unit tests ask none).
pub fn ask(request: &Request) -> Report {
    if cfg!(test) {
        Report::unavailable("unit tests ask no database")
    } else {
        client::report(request)
    }
}

impl Report {
    /// Every part failed for the same reason.
    pub fn unavailable(why: &str) -> Report {
        Report {
            configured: Err(why.to_owned()),
            pooler: Pooler::Unknown,
            direct: None,
            lock: Err(why.to_owned()),
            versions: Err(why.to_owned()),
        }
    }
}
