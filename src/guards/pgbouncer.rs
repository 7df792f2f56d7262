//! Migrations go to PostgreSQL directly, never through PgBouncer.
//!
//! Rails takes a session-level `pg_advisory_lock` for a migration; in
//! PgBouncer's transaction pooling the unlock can reach another server
//! connection (`WARNING: you don't own a lock of type ExclusiveLock`, then
//! `ActiveRecord::ConcurrentMigrationError … Failed to release advisory
//! lock`), and the lock can stay held on a pooled connection. Mastodon's docs
//! say to run every migration with `DB_PORT=5432`; this guard does it for the
//! child only, after checking that the direct endpoint answers — it never
//! falls back to PgBouncer. With `DATABASE_URL` in effect `DB_PORT` does
//! nothing (Rails merges the URL over `DB_*`), so the URL's host and port are
//! rewritten instead, every other byte kept.

use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use super::{Change, Level, Verdict};
use crate::config::database_url;
use crate::config::{Database, Source};
use crate::database::{self, Endpoint, Pooler, Report, Request, SslMode};
use crate::invocation::Invocation;

pub const ID: &str = "pgbouncer";
pub const POST_DEPLOY_ID: &str = "post-deploy";

/// Tasks that take Rails' migration lock or run DDL, which Mastodon's docs say
/// to run against PostgreSQL directly, not through PgBouncer
/// (<https://docs.joinmastodon.org/admin/scaling/#pgbouncer>).
pub const MIGRATION_TASKS: &[&str] = &[
    "db:migrate",
    "db:migrate:up",
    "db:migrate:down",
    "db:migrate:redo",
    "db:rollback",
    "db:forward",
    "db:prepare",
    "db:setup",
    "db:schema:load",
    "mastodon:setup",
];

/// PgBouncer's default port; PostgreSQL's.
const PGBOUNCER_PORT: u16 = 6432;
const POSTGRES_PORT: u16 = 5432;
const CONNECT_TIMEOUT: Duration = Duration::from_millis(1500);
const RESOLVE_TIMEOUT: Duration = Duration::from_secs(3);

const DIRECT_HOST: &str = "TOOTGUARD_DIRECT_DB_HOST";
const DIRECT_PORT: &str = "TOOTGUARD_DIRECT_DB_PORT";
const DIRECT_USER: &str = "TOOTGUARD_DIRECT_DB_USER";
const DIRECT_PASS: &str = "TOOTGUARD_DIRECT_DB_PASS";

/// Where a migration would go, and where tootguard sends it instead.
#[derive(Debug)]
pub struct Route {
    /// The connection Mastodon would use, before tootguard's changes.
    pub database: Database,
    /// The direct PostgreSQL endpoint, when the bypass applies.
    pub direct: Option<Direct>,
    /// Why there is no bypass, or a warning to give.
    pub note: Option<(Level, String)>,
    /// How the decision was made.
    pub found_by: FoundBy,
    /// The install the migration belongs to.
    pub root: Option<std::path::PathBuf>,
    /// What PostgreSQL was asked, and what it said, when it was asked.
    pub request: Option<Request>,
    pub report: Option<Report>,
    /// Why the database was not asked, or its answer could not decide.
    pub unasked: Option<String>,
    /// A reason not to migrate at all, found by asking: a pooler whose
    /// server cannot be reached or is not the same one.
    pub refusal: Option<(String, String)>,
}

/// How the direct endpoint (or its absence) was decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FoundBy {
    /// `TOOTGUARD_DIRECT_DB_*`.
    Setting,
    /// PostgreSQL said where its session is (`inet_server_addr()`).
    Server,
    /// The port: 6432 is PgBouncer's, as in Mastodon's scaling guide.
    Port,
}

impl FoundBy {
    pub fn as_str(self) -> &'static str {
        match self {
            FoundBy::Setting => "setting",
            FoundBy::Server => "server",
            FoundBy::Port => "port",
        }
    }
}

/// Its `Debug` leaves the password out.
#[derive(Clone)]
pub struct Direct {
    pub host: String,
    pub port: u16,
    pub user: Option<String>,
    pub password: Option<String>,
    /// True when explicit TOOTGUARD_DIRECT_DB_* settings chose it.
    pub configured: bool,
    /// True when tootguard connected to it and found the same database.
    pub verified: bool,
}

impl std::fmt::Debug for Direct {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Direct")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("user", &self.user)
            .field("password", &self.password.as_ref().map(|_| "(hidden)"))
            .field("configured", &self.configured)
            .field("verified", &self.verified)
            .finish()
    }
}

pub fn applies(inv: &Invocation) -> bool {
    inv.runs_any_task(MIGRATION_TASKS)
}

/// The `TOOTGUARD_DIRECT_DB_*` settings.
struct Settings {
    host: Option<String>,
    port: Option<u16>,
    user: Option<String>,
    password: Option<String>,
}

impl Settings {
    fn read(inv: &Invocation) -> Result<Settings, String> {
        let text = |name: &str| -> Result<Option<String>, String> {
            Ok(inv.setting(name)?.map(|(v, _)| v).filter(|v| !v.is_empty()))
        };
        let port = match inv.setting(DIRECT_PORT)? {
            Some((v, _)) if v.is_empty() => None,
            Some((v, source)) => Some(v.trim().parse::<u16>().map_err(|_| {
                format!(
                    "{DIRECT_PORT} is {v:?} ({source}), not a port number. Set it to the port \
                     PostgreSQL itself listens on, usually 5432."
                )
            })?),
            None => None,
        };
        Ok(Settings {
            host: text(DIRECT_HOST)?,
            port,
            user: text(DIRECT_USER)?,
            password: text(DIRECT_PASS)?,
        })
    }

    /// They name where PostgreSQL is (not only credentials for it).
    fn names_endpoint(&self) -> bool {
        self.host.is_some() || self.port.is_some()
    }

    fn any(&self) -> bool {
        self.host.is_some() || self.port.is_some() || self.user.is_some() || self.password.is_some()
    }

    /// The direct endpoint they name. A direct host defaults to port 5432;
    /// credentials alone keep the configured endpoint unless it is
    /// PgBouncer's 6432.
    fn direct(&self, database: &Database) -> Direct {
        let default_port = if self.host.is_none() && database.port != PGBOUNCER_PORT {
            database.port
        } else {
            POSTGRES_PORT
        };
        Direct {
            host: self.host.clone().unwrap_or_else(|| database.host.clone()),
            port: self.port.unwrap_or(default_port),
            user: self.user.clone(),
            password: self.password.clone(),
            configured: true,
            verified: false,
        }
    }
}

/// Works out the route for `inv` from what Mastodon would see and, where
/// it can, from what PostgreSQL itself says. Errors are one-paragraph
/// messages (file and line where a value came from a file).
pub fn route(inv: &Invocation) -> Result<Route, String> {
    let config = inv
        .config()
        .map_err(|e| format!("cannot read Mastodon's configuration to find the database: {e}"))?;
    let database = config.database().map_err(|e| format!("{e:#}"))?;
    let settings = Settings::read(inv)?;
    let (request, report, unasked) = match request(&database, &settings) {
        Ok(request) => {
            let report = inv.ask_database(&request);
            (Some(request), Some(report), None)
        }
        Err(why) => (None, None, Some(why)),
    };
    let mut route = Route {
        direct: None,
        note: None,
        found_by: FoundBy::Port,
        root: inv.root.as_ref().map(|r| r.dir.clone()),
        request,
        report,
        unasked,
        refusal: None,
        database,
    };
    let (db_host, db_port) = (route.database.host.clone(), route.database.port);
    let pooler = route.report.as_ref().map(|r| r.pooler.clone());
    let answer = route.report.as_ref().and_then(|r| r.direct.clone());
    let behind_pooler = matches!(pooler, Some(Pooler::Between { .. }));
    if settings.names_endpoint() || (settings.any() && !behind_pooler) {
        // The settings name the direct endpoint (or give credentials for
        // an endpoint no pooler was found in front of).
        let mut direct = settings.direct(&route.database);
        match answer {
            Some((_, database::Answer::Verified(_))) => direct.verified = true,
            Some((_, database::Answer::Other(why))) => {
                route.refusal = Some((
                    format!(
                        "TOOTGUARD_DIRECT_DB_* name {} as PostgreSQL's direct endpoint, but \
                         {why}.",
                        endpoint(&direct.host, direct.port)
                    ),
                    "Point TOOTGUARD_DIRECT_DB_HOST and TOOTGUARD_DIRECT_DB_PORT at the \
                     PostgreSQL server that holds Mastodon's database (the one behind the \
                     configured DB_HOST/DB_PORT), not at a pooler."
                        .into(),
                ));
            }
            // Not reachable, or not asked: the probe before the migration
            // decides, as without asking.
            Some((_, database::Answer::Failed(_))) | None => {}
        }
        route.found_by = FoundBy::Setting;
        route.direct = Some(direct);
    } else {
        match pooler {
            Some(Pooler::None) => {
                route.found_by = FoundBy::Server;
                route.note = Some((
                    Level::Ok,
                    format!(
                        "PostgreSQL itself answers at {} (asked: no pooler in between): the \
                         migration goes there as configured",
                        endpoint(&db_host, db_port)
                    ),
                ));
            }
            Some(Pooler::Between { server }) => {
                let seen = match &server {
                    Some((addr, port)) => format!(
                        " (the server says the pooler's session with it is at {})",
                        endpoint(addr, *port)
                    ),
                    None => " (it reaches PostgreSQL by a Unix socket)".to_owned(),
                };
                match answer {
                    Some((found, database::Answer::Verified(_))) => {
                        route.found_by = FoundBy::Server;
                        route.direct = Some(Direct {
                            host: found.host,
                            port: found.port,
                            // Credentials the settings give for the
                            // direct connection, if any.
                            user: settings.user.clone(),
                            password: settings.password.clone(),
                            configured: false,
                            verified: true,
                        });
                    }
                    Some((_, database::Answer::Other(why) | database::Answer::Failed(why))) => {
                        route.found_by = FoundBy::Server;
                        route.refusal = Some((
                            format!(
                                "a connection pooler stands between {} and PostgreSQL{seen}, so \
                                 the migration must not go through it, but PostgreSQL itself \
                                 was not found: {why}.",
                                endpoint(&db_host, db_port)
                            ),
                            set_direct_fix(),
                        ));
                    }
                    None => {
                        route.unasked = Some(format!(
                            "a pooler stands in front of PostgreSQL{seen}, and where \
                             PostgreSQL listens cannot be asked"
                        ));
                        by_port(&mut route, config)?;
                        if route.direct.is_none() {
                            route.refusal = Some((
                                format!(
                                    "a connection pooler stands between {} and \
                                     PostgreSQL{seen}, and tootguard cannot tell where \
                                     PostgreSQL listens; the migration must not go through the \
                                     pooler.",
                                    endpoint(&db_host, db_port)
                                ),
                                set_direct_fix(),
                            ));
                        }
                    }
                }
            }
            Some(Pooler::Unknown) | None => {
                if route.unasked.is_none() {
                    route.unasked = Some(match route.report.as_ref().map(|r| &r.configured) {
                        Some(Err(why)) => why.clone(),
                        _ => "the server cannot tell (a Unix socket on both sides)".into(),
                    });
                }
                by_port(&mut route, config)?;
            }
        }
    }
    // Already direct: nothing to change.
    if let Some(d) = &route.direct
        && d.host == route.database.host
        && d.port == route.database.port
        && d.user.is_none()
        && d.password.is_none()
    {
        route.note = Some((
            Level::Ok,
            format!(
                "the migration already goes to the direct endpoint {}",
                endpoint(&d.host, d.port)
            ),
        ));
        route.direct = None;
    }
    Ok(route)
}

/// What to ask PostgreSQL, when it can be asked as Mastodon would log in.
fn request(database: &Database, settings: &Settings) -> Result<Request, String> {
    if !database.password_known {
        return Err(
            "the database password is computed by a shell command, which tootguard \
                    never runs, so it cannot log in to ask"
                .into(),
        );
    }
    let Some(dbname) = database.name.clone() else {
        return Err("the database name cannot be known".into());
    };
    let sslmode = SslMode::parse(database.sslmode.as_deref())?;
    let configured = Endpoint {
        host: database.host.clone(),
        port: database.port,
        user: database.user.clone(),
        password: database.password.clone(),
        dbname: Some(dbname),
        sslmode,
    };
    let direct = settings.names_endpoint().then(|| {
        let d = settings.direct(database);
        Endpoint {
            host: d.host,
            port: d.port,
            user: settings.user.clone().or_else(|| database.user.clone()),
            password: settings
                .password
                .clone()
                .or_else(|| database.password.clone()),
            ..configured.clone()
        }
    });
    Ok(Request {
        configured,
        direct,
        direct_user: settings.user.clone(),
        direct_password: settings.password.clone(),
    })
}

fn set_direct_fix() -> String {
    "Tell tootguard where PostgreSQL itself listens: set TOOTGUARD_DIRECT_DB_HOST and \
     TOOTGUARD_DIRECT_DB_PORT (and TOOTGUARD_DIRECT_DB_USER/TOOTGUARD_DIRECT_DB_PASS when the \
     pooler's users are not PostgreSQL roles) in .env.production."
        .into()
}

/// The decision when PostgreSQL could not say: a database port of 6432
/// (PgBouncer's default, as in Mastodon's scaling guide) means PostgreSQL
/// on 5432 of the same host; `PREPARED_STATEMENTS=false` on another port
/// gets a warning that a pooler is likely.
fn by_port(route: &mut Route, config: &crate::config::MastodonConfig) -> Result<(), String> {
    route.found_by = FoundBy::Port;
    let db = &route.database;
    if db.port == PGBOUNCER_PORT {
        route.direct = Some(Direct {
            host: db.host.clone(),
            port: POSTGRES_PORT,
            user: None,
            password: None,
            configured: false,
            verified: false,
        });
        return Ok(());
    }
    let prepared = config
        .known("PREPARED_STATEMENTS")
        .map_err(|e| format!("{e:#}"))?
        .map(|(v, _)| v.to_owned());
    // `DB_PORT=5432 rails db:migrate`, as Mastodon's docs say: the admin
    // chose the endpoint for this command; no warning.
    let port_key = db.url_variable.unwrap_or("DB_PORT");
    let chosen_here = config
        .get(port_key)
        .is_some_and(|s| matches!(s.source, Source::Environment | Source::Argument));
    route.note = Some(if prepared.as_deref() == Some("false") && !chosen_here {
        (
            Level::Warn,
            format!(
                "PREPARED_STATEMENTS=false suggests a connection pooler in front of \
                 PostgreSQL, but the database port is {} (not PgBouncer's 6432), so tootguard \
                 cannot tell where PostgreSQL itself listens; the migration goes to {} as \
                 configured{}. If that is PgBouncer, set TOOTGUARD_DIRECT_DB_HOST and \
                 TOOTGUARD_DIRECT_DB_PORT (and TOOTGUARD_DIRECT_DB_USER/TOOTGUARD_DIRECT_DB_PASS \
                 if PgBouncer's users are not PostgreSQL roles) in .env.production.",
                db.port,
                endpoint(&db.host, db.port),
                unasked_clause(route.unasked.as_deref())
            ),
        )
    } else {
        (
            Level::Ok,
            format!(
                "no PgBouncer detected: the migration goes to {} as configured{}",
                endpoint(&db.host, db.port),
                unasked_clause(route.unasked.as_deref())
            ),
        )
    });
    Ok(())
}

/// `" (the database could not be asked: …)"`.
fn unasked_clause(why: Option<&str>) -> String {
    why.map(|why| format!(" (the database could not be asked: {why})"))
        .unwrap_or_default()
}

pub fn check(inv: &Invocation) -> Option<Verdict> {
    if !applies(inv) {
        return None;
    }
    let route = match route(inv) {
        Ok(route) => route,
        Err(message) => {
            return Some(
                Verdict::new(
                    ID,
                    Level::Block,
                    format!("{message} Not running the migration."),
                )
                .fix(
                    "tootguard does not guess where a migration should go: fix what the \
                     message names, then run the command again.",
                ),
            );
        }
    };
    if let Some((message, fix)) = &route.refusal {
        return Some(
            Verdict::new(
                ID,
                Level::Block,
                format!("{message} Not running the migration."),
            )
            .fix(fix.clone()),
        );
    }
    if let Some(verdict) = lock_verdict(&route) {
        return Some(verdict);
    }
    let Some(direct) = &route.direct else {
        let (level, message) = route.note.unwrap_or((Level::Ok, String::new()));
        return Some(Verdict::new(ID, level, message));
    };
    let db = &route.database;
    let pooled = endpoint(&db.host, db.port);
    let target = endpoint(&direct.host, direct.port);

    // What tootguard connected to and checked needs no knock on the door.
    if !direct.verified
        && let Err(tried) = probe(&direct.host, direct.port)
    {
        return Some(
            Verdict::new(
                ID,
                Level::Block,
                format!(
                    "the migration must not go through PgBouncer ({pooled}), and PostgreSQL's \
                     direct endpoint {target} does not answer ({tried}). Not running the \
                     migration."
                ),
            )
            .fix(format!(
                "Start PostgreSQL, or tell tootguard where it listens: set \
                 TOOTGUARD_DIRECT_DB_HOST and TOOTGUARD_DIRECT_DB_PORT (and \
                 TOOTGUARD_DIRECT_DB_USER/TOOTGUARD_DIRECT_DB_PASS when PgBouncer's users are \
                 not PostgreSQL roles) in the environment or in .env.production.{}",
                if direct.configured {
                    String::new()
                } else {
                    format!(
                        " tootguard assumed PostgreSQL on port 5432 of the same host because \
                         the configured port is PgBouncer's default, 6432{}.",
                        unasked_clause(route.unasked.as_deref())
                    )
                }
            )),
        );
    }

    let message = if target == pooled {
        format!(
            "migrating at {target} with the direct credentials (TOOTGUARD_DIRECT_DB_USER/\
             TOOTGUARD_DIRECT_DB_PASS)"
        )
    } else {
        match route.found_by {
            FoundBy::Setting => format!(
                "migrating directly to PostgreSQL at {target}, skipping PgBouncer at {pooled}"
            ),
            FoundBy::Server => format!(
                "migrating directly to PostgreSQL at {target}, skipping the pooler at {pooled} \
                 (PostgreSQL said where its session is)"
            ),
            FoundBy::Port => format!(
                "migrating directly to PostgreSQL at {target}, skipping PgBouncer at {pooled} \
                 (by PgBouncer's usual port, 6432{})",
                route
                    .unasked
                    .as_deref()
                    .map(|why| format!("; the database could not be asked: {why}"))
                    .unwrap_or_default()
            ),
        }
    };
    let mut verdict = Verdict::new(ID, Level::Notice, message);
    if db.via_url {
        let url = db.url.as_deref().unwrap_or_default();
        let host = (direct.host != db.host).then_some(direct.host.as_str());
        match database_url::rewrite(
            url,
            host,
            Some(direct.port),
            direct.user.as_deref(),
            direct.password.as_deref(),
        ) {
            Ok(new_url) => {
                let variable = db.url_variable.unwrap_or("DATABASE_URL");
                verdict = verdict.change(Change::SetEnv(variable, new_url.into()));
            }
            Err(e) => {
                return Some(Verdict::new(
                    ID,
                    Level::Block,
                    format!(
                        "cannot point DATABASE_URL at the direct endpoint {target}: {e}. Not \
                         running the migration."
                    ),
                ));
            }
        }
    } else {
        if direct.host != db.host {
            verdict = verdict.change(Change::SetEnv("DB_HOST", direct.host.clone().into()));
        }
        verdict = verdict.change(Change::SetEnv("DB_PORT", direct.port.to_string().into()));
        if let Some(user) = &direct.user {
            verdict = verdict.change(Change::SetEnv("DB_USER", user.clone().into()));
        }
        if let Some(password) = &direct.password {
            verdict = verdict.change(Change::SetEnv("DB_PASS", password.clone().into()));
        }
    }
    // A rake-style argument (`rails db:migrate DB_PORT=6432`) is copied into
    // ENV by Rake after tootguard's changes, so it would undo the bypass.
    for (key, value) in inv.rake_assignments() {
        let overridden = verdict
            .changes
            .iter()
            .any(|c| matches!(c, Change::SetEnv(name, _) if *name == key));
        if overridden {
            return Some(
                Verdict::new(
                    ID,
                    Level::Block,
                    format!(
                        "the argument {key}={} points the migration at PgBouncer ({pooled}); \
                         Rake applies it after tootguard's changes, so the migration would go \
                         through PgBouncer. Not running it.",
                        crate::redact::value(&key, &value)
                    ),
                )
                .fix(format!(
                    "Drop the argument (tootguard sends the migration to {target}), or give \
                     the direct endpoint instead."
                )),
            );
        }
    }
    Some(verdict)
}

impl Route {
    /// Whether PostgreSQL itself was asked at the direct endpoint (not
    /// through the configured one), and found to be the one.
    pub fn asked_at_direct(&self) -> bool {
        self.report
            .as_ref()
            .is_some_and(|r| matches!(&r.direct, Some((_, database::Answer::Verified(_)))))
    }

    /// Where PostgreSQL itself was asked, credentials included: the direct
    /// endpoint when it was found and verified, else the configured one
    /// when it answered.
    pub fn asked_at(&self) -> Option<&Endpoint> {
        let report = self.report.as_ref()?;
        match &report.direct {
            Some((endpoint, database::Answer::Verified(_))) => Some(endpoint),
            _ => report
                .configured
                .is_ok()
                .then(|| self.request.as_ref().map(|r| &r.configured))
                .flatten(),
        }
    }

    /// The database's own name, as the server that was asked gives it
    /// (a pooler may call it something else), else the configured one.
    pub fn database_name(&self) -> String {
        let asked = self.report.as_ref().and_then(|r| match &r.direct {
            Some((_, database::Answer::Verified(server))) => Some(server.database.clone()),
            _ => r.configured.as_ref().ok().map(|s| s.database.clone()),
        });
        asked
            .filter(|name| !name.is_empty())
            .or_else(|| self.database.name.clone())
            .unwrap_or_else(|| "mastodon_production".into())
    }
}

/// Rails' migration lock already held: the migration would fail with
/// "another migration process is currently running". Blocked before Rails
/// boots, with who holds it and what to do.
fn lock_verdict(route: &Route) -> Option<Verdict> {
    let holders = route.report.as_ref()?.lock.as_ref().ok()?;
    let holder = holders.first()?;
    let (message, fix) = super::lock::describe(route, holder);
    Some(
        Verdict::new(
            super::lock::ID,
            Level::Block,
            format!("{message} Not running the migration."),
        )
        .fix(fix),
    )
}

/// `SKIP_POST_DEPLOYMENT_MIGRATIONS` set to a value that reads like "no".
///
/// Mastodon tests presence only (`lib/mastodon/database.rb`): any value —
/// `false`, `0`, `no`, empty — skips the post-deployment migrations.
pub fn check_post_deploy(inv: &Invocation) -> Option<Verdict> {
    if !applies(inv) {
        return None;
    }
    const NAME: &str = crate::config::SKIP_POST;
    let (value, source) = match inv.setting(NAME) {
        Ok(Some(found)) => found,
        Ok(None) | Err(_) => return None, // config errors are the pgbouncer check's
    };
    let lowered = value.trim().to_ascii_lowercase();
    if matches!(lowered.as_str(), "false" | "0" | "no" | "off" | "") {
        Some(
            Verdict::new(
                POST_DEPLOY_ID,
                Level::Warn,
                format!(
                    "{NAME} is set to {value:?} ({source}), but Mastodon treats any value as \
                     \"skip\": the post-deployment migrations will not run."
                ),
            )
            .fix(format!(
                "To run them, remove the variable (`unset {NAME}`, or delete it from the file)."
            )),
        )
    } else {
        Some(Verdict::new(
            POST_DEPLOY_ID,
            Level::Ok,
            format!("{NAME} is set ({source}): post-deployment migrations are skipped"),
        ))
    }
}

/// Where a `.env*` file sets `SKIP_POST_DEPLOYMENT_MIGRATIONS`, if one does.
/// `inv`'s environment must not have the variable (callers remove it): an
/// exported value hides the files' (the first value wins), and removing it
/// from a child's environment does not help when dotenv sets it again.
pub fn skip_post_in_file(inv: &Invocation) -> Option<String> {
    let config = inv.config().ok()?;
    let setting = config.get(crate::config::SKIP_POST)?;
    matches!(setting.source, crate::config::Source::File { .. }).then(|| setting.source.to_string())
}

/// `host:port`, bracketing IPv6 addresses; a socket directory as its path.
pub fn endpoint(host: &str, port: u16) -> String {
    if host.starts_with('/') {
        format!("{host} (socket .s.PGSQL.{port})")
    } else if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// Does anything answer at `host:port`? A host starting with `/` is a Unix
/// socket directory: the socket `<dir>/.s.PGSQL.<port>` must accept a
/// connection (a stale socket file left by a stopped server does not).
/// Otherwise a TCP connect to each resolved address, with a short timeout.
pub fn probe(host: &str, port: u16) -> Result<(), String> {
    if let Some(socket) = crate::config::socket_file(host, port) {
        return std::os::unix::net::UnixStream::connect(&socket)
            .map(|_| ())
            .map_err(|e| format!("cannot connect to the socket {}: {e}", socket.display()));
    }
    let addresses = resolve_with_timeout(host, port)?;
    let mut tried = Vec::new();
    for address in &addresses {
        match TcpStream::connect_timeout(address, CONNECT_TIMEOUT) {
            Ok(_) => return Ok(()),
            Err(e) => tried.push(format!("{address}: {e}")),
        }
    }
    if tried.is_empty() {
        return Err(format!("{host} resolves to no address"));
    }
    Err(format!("tried TCP {}", tried.join("; ")))
}

/// Resolves `host` in a thread, so a resolver that hangs cannot hang the
/// shim: after the timeout the answer is "cannot resolve", and the thread is
/// left to finish on its own.
pub fn resolve_with_timeout(host: &str, port: u16) -> Result<Vec<std::net::SocketAddr>, String> {
    // An address needs no resolver.
    if let Ok(ip) = host.parse::<std::net::IpAddr>() {
        return Ok(vec![std::net::SocketAddr::new(ip, port)]);
    }
    let (tx, rx) = std::sync::mpsc::channel();
    let name = host.to_owned();
    let spawned = std::thread::Builder::new().spawn(move || {
        let _ = tx.send(
            (name.as_str(), port)
                .to_socket_addrs()
                .map(Iterator::collect),
        );
    });
    // No thread to be had (a user at its process limit): resolve here.
    let Ok(thread) = spawned else {
        return (host, port)
            .to_socket_addrs()
            .map(Iterator::collect)
            .map_err(|e| format!("cannot resolve {host}: {e}"));
    };
    let answer = rx.recv_timeout(RESOLVE_TIMEOUT);
    if answer.is_ok() {
        // It has answered, so it ends at once: no thread outlives the probe
        // (the shim later changes its own environment before exec).
        let _ = thread.join();
    }
    match answer {
        Ok(Ok(addresses)) => Ok(addresses),
        Ok(Err(e)) => Err(format!("cannot resolve {host}: {e}")),
        Err(_) => Err(format!(
            "cannot resolve {host}: no answer from the resolver within {} s",
            RESOLVE_TIMEOUT.as_secs()
        )),
    }
}
