//! Where a migration would go, and where tootguard sends it instead:
//! decided from the `TOOTGUARD_DIRECT_DB_*` settings, from what PostgreSQL
//! says about the session it is asked through (a pooler in between, and
//! where PostgreSQL itself listens), or, when it cannot be asked, from the
//! port (PgBouncer's 6432).

use super::settings::Settings;
use super::{PGBOUNCER_PORT, POSTGRES_PORT, endpoint, unasked_clause};
use crate::config::{Database, Source};
use crate::database::{self, Endpoint, Pooler, Report, Request, SslMode};
use crate::guards::Level;
use crate::site::Site;

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

/// Works out the route for `site` from what Mastodon would see and, where
/// it can, from what PostgreSQL itself says. Errors are one-paragraph
/// messages (file and line where a value came from a file).
pub fn route(site: &Site) -> Result<Route, String> {
    let config = site
        .config()
        .map_err(|e| format!("cannot read Mastodon's configuration to find the database: {e}"))?;
    let database = config.database().map_err(|e| format!("{e:#}"))?;
    let settings = Settings::read(site)?;
    let (request, report, unasked) = match request(&database, &settings) {
        Ok(request) => {
            let report = site.ask_database(&request);
            (Some(request), Some(report), None)
        }
        Err(why) => (None, None, Some(why)),
    };
    let mut route = Route {
        direct: None,
        note: None,
        found_by: FoundBy::Port,
        root: site.root.as_ref().map(|r| r.dir.clone()),
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
