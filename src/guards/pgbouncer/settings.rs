//! The `TOOTGUARD_DIRECT_DB_*` settings: where PostgreSQL itself listens,
//! and the credentials for it when the pooler's users are not PostgreSQL
//! roles.

use super::route::Direct;
use super::{PGBOUNCER_PORT, POSTGRES_PORT};
use crate::config::Database;
use crate::site::Site;

const DIRECT_HOST: &str = "TOOTGUARD_DIRECT_DB_HOST";
const DIRECT_PORT: &str = "TOOTGUARD_DIRECT_DB_PORT";
const DIRECT_USER: &str = "TOOTGUARD_DIRECT_DB_USER";
const DIRECT_PASS: &str = "TOOTGUARD_DIRECT_DB_PASS";

/// The `TOOTGUARD_DIRECT_DB_*` settings.
pub(super) struct Settings {
    pub(super) host: Option<String>,
    pub(super) port: Option<u16>,
    pub(super) user: Option<String>,
    pub(super) password: Option<String>,
}

impl Settings {
    pub(super) fn read(site: &Site) -> Result<Settings, String> {
        let text = |name: &str| -> Result<Option<String>, String> {
            Ok(site
                .setting(name)?
                .map(|(v, _)| v)
                .filter(|v| !v.is_empty()))
        };
        let port = match site.setting(DIRECT_PORT)? {
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
    pub(super) fn names_endpoint(&self) -> bool {
        self.host.is_some() || self.port.is_some()
    }

    pub(super) fn any(&self) -> bool {
        self.host.is_some() || self.port.is_some() || self.user.is_some() || self.password.is_some()
    }

    /// The direct endpoint they name. A direct host defaults to port 5432;
    /// credentials alone keep the configured endpoint unless it is
    /// PgBouncer's 6432.
    pub(super) fn direct(&self, database: &Database) -> Direct {
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
