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
//!
//! This file holds the verdicts; where the migration goes is worked out in
//! `route` (with the `TOOTGUARD_DIRECT_DB_*` settings in `settings`), and
//! whether an endpoint answers in `probe`.

mod probe;
mod route;
mod settings;

use super::{Change, Level, Verdict};
use crate::config::database_url;
use crate::invocation::Invocation;
use crate::site::Site;

pub use probe::{endpoint, probe, resolve_with_timeout};
pub use route::{FoundBy, Route, route};

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

pub fn applies(inv: &Invocation) -> bool {
    inv.runs_any_task(MIGRATION_TASKS)
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
/// `site`'s environment must not have the variable (callers remove it):
/// an exported value hides the files' (the first value wins), and removing
/// it from a child's environment does not help when dotenv sets it again.
pub fn skip_post_in_file(site: &Site) -> Option<String> {
    let config = site.config().ok()?;
    let setting = config.get(crate::config::SKIP_POST)?;
    matches!(setting.source, crate::config::Source::File { .. }).then(|| setting.source.to_string())
}
