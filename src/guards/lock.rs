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
use crate::database::{Holder, Pooler};

pub const ID: &str = "migration-lock";

/// What a holder of the lock is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A pooled server connection tootguard's own question reached through
    /// the pooler: whoever took the lock on it no longer holds that
    /// connection, so the lock protects nothing — a leftover (or the lock of
    /// a migration through transaction pooling, which fails anyway).
    OursPooled,
    /// Busy (a query, or inside a transaction), or a migration process
    /// runs on this machine: a migration looks to be running.
    Running,
    /// This database user cannot see the session's state.
    Hidden,
    /// Idle: Rails holds its lock on a connection of its own that stays
    /// idle while the migration runs on another, so this may be a running
    /// migration, a client that hung, or a pooled leftover.
    Idle,
}

pub fn kind(route: &Route, holder: &Holder) -> Kind {
    if holder.ours {
        Kind::OursPooled
    } else if holder.is_busy() || !migrating_here(route.root.as_deref()).is_empty() {
        Kind::Running
    } else if holder.state.is_none() {
        Kind::Hidden
    } else {
        Kind::Idle
    }
}

/// Processes on this machine that run a migration of the install at
/// `root` (a `rails`, `rake` or `bundle` command line with a migration
/// task, working in that directory — or in one this user cannot see),
/// other than this one and its parents: `(pid, command line)`.
pub fn migrating_here(root: Option<&std::path::Path>) -> Vec<(u32, String)> {
    let root = root.and_then(|r| std::fs::canonicalize(r).ok());
    let mine = ancestors();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut found = Vec::new();
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        if mine.contains(&pid) {
            continue;
        }
        let Ok(bytes) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        let args: Vec<&[u8]> = bytes.split(|b| *b == 0).filter(|a| !a.is_empty()).collect();
        let runs_tool = args.iter().take(4).any(|a| {
            let name = a.rsplit(|b| *b == b'/').next().unwrap_or(a);
            matches!(name, b"rails" | b"rake" | b"bundle" | b"tootguard")
        });
        let migrates = args.iter().any(|a| {
            super::pgbouncer::MIGRATION_TASKS
                .iter()
                .any(|t| t.as_bytes() == *a)
        });
        let elsewhere = root.as_ref().is_some_and(|root| {
            std::fs::read_link(entry.path().join("cwd")).is_ok_and(|cwd| !cwd.starts_with(root))
        });
        if runs_tool && migrates && !elsewhere {
            let line: Vec<String> = args
                .iter()
                .map(|a| String::from_utf8_lossy(a).into_owned())
                .collect();
            found.push((pid, line.join(" ")));
        }
    }
    found.sort();
    found
}

/// This process and its parents, up to init.
fn ancestors() -> Vec<u32> {
    let mut out = vec![std::process::id()];
    let mut pid = std::process::id();
    for _ in 0..64 {
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            break;
        };
        // The command name, in parentheses, may hold anything: the fields
        // after the last `)` are the state, then the parent.
        let parent = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(1))
            .and_then(|p| p.parse::<u32>().ok());
        match parent {
            Some(parent) if parent > 1 => {
                out.push(parent);
                pid = parent;
            }
            _ => break,
        }
    }
    out
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
    let command = format!("RECONNECT {db}");
    if pooler_in_front(route) {
        format!(
            "`psql -h {} -p {} -U pgbouncer pgbouncer -c {}`",
            crate::quote::word_str(&d.host),
            d.port,
            crate::quote::word_str(&command)
        )
    } else {
        format!("`{command}`")
    }
}

/// The message and the fix for a held lock.
pub fn describe(route: &Route, holder: &Holder) -> (String, String) {
    let db = route.database_name();
    let who = who(holder);
    let pid = holder.pid;
    let pooler = endpoint(&route.database.host, route.database.port);
    let console = format!(
        "on PgBouncer's admin console, as one of its admin_users, {} (PgBouncer closes each \
         server connection once it is released, never inside a transaction)",
        reconnect(route, &db)
    );
    let see = format!(
        "`psql -c {}` as the postgres user",
        crate::quote::word_readable(&format!(
            "SELECT pid, state, client_addr, client_port, query FROM pg_stat_activity WHERE \
             datname = {}",
            crate::quote::sql_literal(&db)
        ))
    );
    match kind(route, holder) {
        Kind::OursPooled => (
            format!(
                "Rails' migration lock on {db} is held by {who}, a PgBouncer server connection \
                 whose client no longer owns it: a migration through PgBouncer ({pooler}) left \
                 the lock there, and every migration fails until that connection closes."
            ),
            if route.asked_at_direct() {
                format!(
                    "Make PgBouncer open fresh server connections: {console}; or end that one \
                     session: `tootguard release-lock` (it asks first)."
                )
            } else {
                format!("Make PgBouncer open fresh server connections: {console}.")
            },
        ),
        Kind::Running => {
            let here = migrating_here(route.root.as_deref());
            let local = if here.is_empty() {
                String::new()
            } else {
                format!(
                    " A migration runs on this machine: {}.",
                    here.iter()
                        .map(|(pid, line)| format!("pid {pid} ({line})"))
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            };
            (
                format!(
                    "Rails' migration lock on {db} is held by {who}: a migration looks to be \
                     running now.{local}"
                ),
                format!(
                    "Wait for it to finish, and do not end it (that would break the migration \
                     halfway). To see what runs: {see}."
                ),
            )
        }
        Kind::Hidden => (
            format!("Rails' migration lock on {db} is held by {who}."),
            format!(
                "See what it is: {see}. Rails keeps the lock on an idle connection of its own \
                 while a migration runs, so make sure none runs before ending it."
            ),
        ),
        Kind::Idle => {
            let pooled = pooler_in_front(route) || marked(holder);
            let perhaps = if pooled {
                ", or a PgBouncer server connection a failed migration left it on"
            } else {
                ""
            };
            let or_reconnect = if pooled {
                format!(" If it is PgBouncer's, {console}.")
            } else {
                String::new()
            };
            (
                format!(
                    "Rails' migration lock on {db} is held by {who}, an idle session. Rails \
                     takes the lock on a connection of its own that stays idle while the \
                     migration runs on another, so this may be a migration running now (from \
                     another machine: none runs on this one), a client that hung{perhaps}."
                ),
                format!(
                    "First make sure no migration runs: look for `db:migrate` in `ps` on every \
                     Mastodon machine, and at the busy sessions: {see}. If one runs, wait.{} \
                     If none runs: stop the program that holds it (its client_addr and \
                     client_port name it), or, as a last resort, as the postgres user `psql -c \
                     \"SELECT pg_terminate_backend({pid})\"`.",
                    or_reconnect
                ),
            )
        }
    }
}
