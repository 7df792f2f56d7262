//! Rails' migration lock, held before the migration starts.
//!
//! After a migration through PgBouncer in transaction mode fails, Rails'
//! session advisory lock stays on a pooled server connection (PgBouncer
//! does not `DISCARD ALL` in that mode), and from then on every migration,
//! direct ones too, fails with "Cannot run migrations because another
//! migration process is currently running" until that connection closes.
//! The PgBouncer guard asks PostgreSQL who holds the lock
//! ([`crate::database::lock`]); this module says it: who, whether it looks
//! like a migration still running (never to be ended) or a leftover, and
//! the exact way out — PgBouncer's `RECONNECT` for a pooled connection,
//! `pg_terminate_backend` or `tootguard release-lock` for an idle session.

use super::pgbouncer::{FoundBy, Route, endpoint};
use crate::database::{Holder, LEFTOVER_AFTER_SECONDS, Pooler};

pub const ID: &str = "migration-lock";

/// What a holder of the lock is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A pooled server connection tootguard's own question landed on: a
    /// leftover for certain, idle apart from that question.
    OursPooled,
    /// Busy (a query, a transaction, or idle for only a moment): a
    /// migration looks to be running.
    Running,
    /// This database user cannot see the session's state.
    Hidden,
    /// Idle for a while, and named as PgBouncer names its server
    /// connections.
    IdlePooled,
    /// Idle for a while: a leftover (a session of its own, or a pooler's
    /// server connection that cannot be told apart from one).
    Idle,
}

pub fn kind(holder: &Holder) -> Kind {
    if holder.ours {
        Kind::OursPooled
    } else if holder.is_busy() {
        Kind::Running
    } else if holder.state.is_none() {
        Kind::Hidden
    } else if marked(holder) {
        Kind::IdlePooled
    } else {
        Kind::Idle
    }
}

/// The holder, in words: pid, user, application, client, state and since.
pub fn who(holder: &Holder) -> String {
    let mut parts = Vec::new();
    if let Some(user) = &holder.user {
        parts.push(format!("user {user}"));
    }
    if let Some(app) = holder.application_name.as_deref().filter(|a| !a.is_empty()) {
        parts.push(format!("application {app:?}"));
    }
    if let Some(client) = &holder.client_addr {
        parts.push(format!("from {client}"));
    }
    if holder.ours {
        parts.push("the pooled server connection tootguard's own question reached".to_owned());
    } else {
        match (&holder.state, &holder.since, holder.idle_seconds) {
            (Some(state), _, Some(idle)) if state == "idle" => {
                parts.push(format!("idle for {idle} s"));
            }
            (Some(state), Some(since), _) => parts.push(format!("{state} since {since}")),
            (Some(state), None, _) => parts.push(state.clone()),
            _ => parts.push("state hidden from this database user".to_owned()),
        }
    }
    format!("pid {} ({})", holder.pid, parts.join(", "))
}

/// The session's name carries PgBouncer's ` - host:port` mark
/// (`application_name_add_host`).
fn marked(holder: &Holder) -> bool {
    holder
        .application_name
        .as_deref()
        .and_then(|a| a.rsplit_once(" - "))
        .is_some_and(|(_, host)| host.contains(':'))
}

/// Whether a pooler stands in front of this database: then a holder may
/// be one of its server connections (PostgreSQL cannot tell those from
/// sessions of their own).
fn pooler_in_front(route: &Route) -> bool {
    match route.report.as_ref().map(|r| &r.pooler) {
        Some(Pooler::Between { .. }) => true,
        _ => route.found_by == FoundBy::Port && route.direct.is_some(),
    }
}

/// PgBouncer's `RECONNECT` for this database, as a command line when the
/// console's address is known.
fn reconnect(route: &Route, db: &str) -> String {
    let d = &route.database;
    if pooler_in_front(route) {
        format!(
            "`psql -h {} -p {} -U pgbouncer pgbouncer -c 'RECONNECT {db}'`",
            crate::quote::word_str(&d.host),
            d.port
        )
    } else {
        format!("`RECONNECT {db}`")
    }
}

/// The message and the fix for a held lock.
pub fn describe(route: &Route, holder: &Holder) -> (String, String) {
    let db = route
        .database
        .name
        .as_deref()
        .unwrap_or("mastodon_production");
    let who = who(holder);
    let pid = holder.pid;
    let pooler = endpoint(&route.database.host, route.database.port);
    let console = format!(
        "Make PgBouncer open fresh server connections (it closes each one once it is \
         released, never inside a transaction): on its admin console, as one of its \
         admin_users, {}",
        reconnect(route, db)
    );
    match kind(holder) {
        Kind::OursPooled => (
            format!(
                "Rails' migration lock on {db} is held by {who}, an idle PgBouncer server \
                 connection: a migration through PgBouncer ({pooler}) failed and left it there, \
                 and every migration fails until that connection closes."
            ),
            if route.asked_at_direct() {
                format!(
                    "{console}; or end that one session: `tootguard release-lock` (it asks first)."
                )
            } else {
                format!("{console}.")
            },
        ),
        Kind::Running => {
            let between = if holder.state.as_deref() == Some("idle") {
                format!(
                    " (idle for only {} s: a running migration is idle between its steps; idle \
                     for {LEFTOVER_AFTER_SECONDS} s or more, it counts as a leftover)",
                    holder.idle_seconds.unwrap_or(0)
                )
            } else {
                String::new()
            };
            let pooled_too = if pooler_in_front(route) || marked(holder) {
                format!(
                    " If it is a PgBouncer server connection busy with the application's \
                     queries, and no migration runs, the lock is a leftover: {}.",
                    reconnect(route, db)
                )
            } else {
                String::new()
            };
            (
                format!(
                    "Rails' migration lock on {db} is held by {who}: a migration looks to be \
                     running now{between}."
                ),
                format!(
                    "Wait for it to finish, and do not end it (that would break the migration \
                     halfway). To see what it runs, as the postgres user: `psql -c \"SELECT \
                     query FROM pg_stat_activity WHERE pid = {pid}\"`.{pooled_too}"
                ),
            )
        }
        Kind::Hidden => (
            format!("Rails' migration lock on {db} is held by {who}."),
            format!(
                "As the postgres user, see what it is: `psql -c \"SELECT state, query FROM \
                 pg_stat_activity WHERE pid = {pid}\"`; if it is idle, a failed migration left \
                 it: `psql -c \"SELECT pg_terminate_backend({pid})\"`."
            ),
        ),
        Kind::IdlePooled => (
            format!(
                "Rails' migration lock on {db} is held by {who}, an idle PgBouncer server \
                 connection: a migration through PgBouncer ({pooler}) failed and left it there, \
                 and every migration fails until that connection closes."
            ),
            format!(
                "{console}; or end that one session: `tootguard release-lock` (it asks first)."
            ),
        ),
        Kind::Idle => {
            let (perhaps, or_reconnect) = if pooler_in_front(route) {
                (
                    " (a session of its own, or one of PgBouncer's server connections)",
                    format!(
                        ". If it is PgBouncer's, {} clears it too",
                        reconnect(route, db)
                    ),
                )
            } else {
                (Default::default(), String::new())
            };
            (
                format!(
                    "Rails' migration lock on {db} is held by {who}, an idle session{perhaps}: \
                     a migration that ended badly left it, and every migration fails until it \
                     closes."
                ),
                format!(
                    "End that session: `tootguard release-lock` (it asks first), or as the \
                     postgres user `psql -c \"SELECT pg_terminate_backend({pid})\"`{or_reconnect}."
                ),
            )
        }
    }
}
