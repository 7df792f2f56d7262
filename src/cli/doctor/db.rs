//! doctor's database rows, from one look at the route a migration would
//! take (the PgBouncer guard's, which asks PostgreSQL itself when it can):
//!
//! * `database`: does anything answer where Mastodon is configured to
//!   connect, and where migrations would go;
//! * `postgresql-version`: the server's version against the minimum the
//!   checkout's `lib/tasks/db.rake` states (`db:migrate` aborts below it);
//! * `pooler`: what stands between Mastodon and PostgreSQL, and how
//!   tootguard found out (asked, set, or guessed from the port);
//! * `migration-lock`: Rails' migration lock, free or held — by a running
//!   migration (wait) or by a leftover (the fix);
//! * `migrations`: pending pre- and post-deployment migrations, and
//!   versions this checkout does not know (a checkout older than the
//!   database).

use std::path::Path;

use super::Check;
use super::requirements::{self, DB_RAKE};
use crate::database::{Pooler, lock, migrations};
use crate::guards::pgbouncer::{self, FoundBy, Route, endpoint};
use crate::guards::{Level, lock as lock_guard};
use crate::site::Site;

/// The ids, in order.
pub const IDS: [&str; 5] = [
    "database",
    "postgresql-version",
    "pooler",
    "migration-lock",
    "migrations",
];

/// The rows for `site`, an install at `root`.
pub fn checks(site: &Site, root: &Path) -> Vec<Check> {
    let route = match pgbouncer::route(site) {
        Ok(route) => route,
        Err(e) => {
            let mut out = vec![
                Check::new("database", Level::Block, e)
                    .fix("Fix the database settings in .env.production (see the `config` check)."),
            ];
            out.extend(not_checked("the database settings cannot be read"));
            return out;
        }
    };
    let db = &route.database;
    if let Err(why) = pgbouncer::probe(&db.host, db.port) {
        let configured = endpoint(&db.host, db.port);
        let via = db.url_variable.unwrap_or("DB_HOST/DB_PORT");
        let mut out = vec![
            Check::new(
                "database",
                Level::Block,
                format!("nothing answers at {configured} (from {via}): {why}"),
            )
            .fix(
                "Start PostgreSQL (or PgBouncer) — `systemctl start postgresql` as root — or \
                 correct the database settings in .env.production.",
            ),
        ];
        out.extend(not_checked("nothing answers where the database should be"));
        return out;
    }
    vec![
        database(&route),
        postgresql_version(&route, root),
        pooler(&route),
        migration_lock(&route),
        pending(&route, root),
    ]
}

/// Rows after `database` that cannot be checked, and why.
fn not_checked(why: &str) -> Vec<Check> {
    IDS[1..]
        .iter()
        .map(|id| {
            Check::new(
                id,
                Level::Warn,
                format!("not checked: {why} (see the `database` check)"),
            )
            .fix("Fix what the `database` check names, then run `tootguard doctor` again.")
        })
        .collect()
}

fn database(route: &Route) -> Check {
    const ID: &str = "database";
    let db = &route.database;
    let configured = endpoint(&db.host, db.port);
    let via = db.url_variable.unwrap_or("DB_HOST/DB_PORT");
    let Some(direct) = &route.direct else {
        return Check::new(
            ID,
            Level::Ok,
            format!("the database answers at {configured} (from {via})"),
        );
    };
    let target = endpoint(&direct.host, direct.port);
    let answered = if direct.verified {
        Ok(())
    } else {
        pgbouncer::probe(&direct.host, direct.port)
    };
    let front = match route.found_by {
        FoundBy::Server => "a connection pooler",
        FoundBy::Setting | FoundBy::Port => "PgBouncer",
    };
    match answered {
        Ok(()) => Check::new(
            ID,
            Level::Ok,
            format!(
                "{front} answers at {configured}, and PostgreSQL answers directly at {target} \
                 (where migrations will go)"
            ),
        ),
        Err(why) => Check::new(
            ID,
            Level::Block,
            format!(
                "{front} answers at {configured}, but PostgreSQL's direct endpoint {target}, \
                 where migrations must go, does not: {why}"
            ),
        )
        .fix(
            "Set TOOTGUARD_DIRECT_DB_HOST and TOOTGUARD_DIRECT_DB_PORT (and \
             TOOTGUARD_DIRECT_DB_USER/TOOTGUARD_DIRECT_DB_PASS when PgBouncer's users are not \
             PostgreSQL roles) in .env.production to where PostgreSQL itself listens.",
        ),
    }
}

/// Why the database could not be asked, when it could not.
fn unasked(route: &Route) -> Option<String> {
    match &route.report {
        None => Some(
            route
                .unasked
                .clone()
                .unwrap_or_else(|| "it was not asked".into()),
        ),
        Some(report) => report.configured.as_ref().err().cloned(),
    }
}

/// The way to let tootguard ask, for a fix.
fn let_it_ask(route: &Route) -> String {
    let user = route.database.user.as_deref().unwrap_or("mastodon");
    format!(
        "Let tootguard log in as Mastodon does: run doctor as the user Mastodon runs as (for \
         example `sudo -u {user} -i tootguard doctor` when PostgreSQL uses peer \
         authentication), and keep DB_PASS a plain value in .env.production rather than a \
         command substitution."
    )
}

/// The server's `server_version_num` against the minimum the checkout's
/// `lib/tasks/db.rake` states. The version is the one PostgreSQL itself
/// reported: the verified direct endpoint's when there is one, else the
/// configured endpoint's (through PgBouncer, `current_setting` runs on the
/// server behind it). Never a guess: a server that was not asked warns.
fn postgresql_version(route: &Route, root: &Path) -> Check {
    const ID: &str = "postgresql-version";
    let file = root.join(DB_RAKE);
    let minimum = match crate::files::read_small(&file) {
        Ok(text) => requirements::postgresql_minimum(&text),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => {
            return Check::new(
                ID,
                Level::Warn,
                format!(
                    "cannot tell which PostgreSQL this version needs: cannot read {DB_RAKE} ({e})"
                ),
            )
            .fix(format!(
                "Make {} readable by this user, or restore it from the checkout (`git checkout \
                 -- {DB_RAKE}`).",
                file.display()
            ));
        }
    };
    let server = server_version(route);
    let Some(minimum) = minimum else {
        let live = match &server {
            Ok((num, at)) => format!(
                "; PostgreSQL at {at} is {}",
                requirements::postgresql_version(*num)
            ),
            Err(_) => String::new(),
        };
        return Check::new(
            ID,
            Level::Ok,
            format!("no minimum PostgreSQL version stated in {DB_RAKE}{live}"),
        );
    };
    let wanted = requirements::postgresql_version(minimum);
    let (num, at) = match server {
        Ok(found) => found,
        Err(why) => {
            return Check::new(
                ID,
                Level::Warn,
                format!(
                    "this version needs PostgreSQL {wanted} or newer ({DB_RAKE}), but the \
                     server's version is unknown: {why}"
                ),
            )
            .fix(let_it_ask(route));
        }
    };
    let live = requirements::postgresql_version(num);
    if num < minimum {
        return Check::new(
            ID,
            Level::Block,
            format!(
                "PostgreSQL at {at} is {live}, older than the {wanted} this version's {DB_RAKE} \
                 requires: its `db:migrate` aborts before migrating anything"
            ),
        )
        .fix(format!(
            "Upgrade PostgreSQL to {wanted} or newer (back up the database first: `pg_dump -Fc \
             {} -f backup.dump`) before deploying this version, or check out the release this \
             server ran before.",
            crate::quote::word_str(&route.database_name())
        ));
    }
    Check::new(
        ID,
        Level::Ok,
        format!(
            "PostgreSQL at {at} is {live}; this version's {DB_RAKE} requires {wanted} or newer"
        ),
    )
}

/// The version PostgreSQL reported, and where; or why there is none.
fn server_version(route: &Route) -> Result<(u32, String), String> {
    if let Some(why) = unasked(route) {
        return Err(format!("the database could not be asked ({why})"));
    }
    let report = route.report.as_ref().ok_or("the database was not asked")?;
    if let Some((ep, crate::database::Answer::Verified(server))) = &report.direct
        && let Some(num) = server.version_num
    {
        return Ok((num, endpoint(&ep.host, ep.port)));
    }
    let db = &route.database;
    match &report.configured {
        Ok(server) => server
            .version_num
            .map(|num| (num, endpoint(&db.host, db.port)))
            .ok_or_else(|| "the server did not say (server_version_num)".to_owned()),
        Err(why) => Err(format!("the database could not be asked ({why})")),
    }
}

fn pooler(route: &Route) -> Check {
    const ID: &str = "pooler";
    let db = &route.database;
    let configured = endpoint(&db.host, db.port);
    if let Some((message, fix)) = &route.refusal {
        return Check::new(ID, Level::Block, message.clone()).fix(fix.clone());
    }
    let direct = route.direct.as_ref().map(|d| endpoint(&d.host, d.port));
    let pooler = route.report.as_ref().map(|r| &r.pooler);
    match route.found_by {
        FoundBy::Setting => {
            let target = direct.unwrap_or_else(|| configured.clone());
            let asked = match route.direct.as_ref().map(|d| d.verified) {
                Some(true) => " (asked: it answers as the same database)".to_owned(),
                _ => route
                    .report
                    .as_ref()
                    .and_then(|r| r.direct.as_ref())
                    .and_then(|(_, answer)| match answer {
                        crate::database::Answer::Failed(why)
                        | crate::database::Answer::Other(why) => Some(why),
                        crate::database::Answer::Verified(_) => None,
                    })
                    .map(|why| format!(" (not verified: {why})"))
                    .unwrap_or_default(),
            };
            Check::new(
                ID,
                Level::Ok,
                format!(
                    "TOOTGUARD_DIRECT_DB_* set: migrations go to PostgreSQL at {target}{asked}, \
                     everything else to {configured}"
                ),
            )
        }
        FoundBy::Server => match (&route.direct, pooler) {
            (Some(_), _) => Check::new(
                ID,
                Level::Ok,
                format!(
                    "a connection pooler answers at {configured}; PostgreSQL itself is at {} \
                     (asked: the server said where its session is, and answers there as the \
                     same database), where migrations go",
                    direct.unwrap_or_default()
                ),
            ),
            (None, _) => Check::new(
                ID,
                Level::Ok,
                format!(
                    "nothing stands between Mastodon and PostgreSQL: PostgreSQL itself answers \
                     at {configured} (asked)"
                ),
            ),
        },
        FoundBy::Port => {
            let why = unasked(route);
            let socket_only = matches!(pooler, Some(Pooler::Unknown)) && why.is_none();
            let decided = match &direct {
                Some(direct) => format!(
                    "PgBouncer assumed at {configured} (PgBouncer's port, 6432), PostgreSQL at \
                     {direct}, where migrations go"
                ),
                None => format!("no PgBouncer assumed: migrations go to {configured}"),
            };
            let warned = matches!(route.note, Some((Level::Warn, _)));
            if socket_only && !warned {
                return Check::new(
                    ID,
                    Level::Ok,
                    format!(
                        "{decided} (by the port: over a Unix socket the server cannot say \
                         whether a pooler is in between)"
                    ),
                );
            }
            let mut message = format!("{decided}, by the port");
            if let Some(why) = &why {
                message.push_str(&format!(" (the database could not be asked: {why})"));
            }
            if let Some((Level::Warn, note)) = &route.note {
                message.push_str(&format!("; {note}"));
            }
            let fix = if why.is_some() {
                format!(
                    "{} Or name PostgreSQL's own endpoint: TOOTGUARD_DIRECT_DB_HOST and \
                     TOOTGUARD_DIRECT_DB_PORT in .env.production.",
                    let_it_ask(route)
                )
            } else {
                "Name PostgreSQL's own endpoint: TOOTGUARD_DIRECT_DB_HOST and \
                 TOOTGUARD_DIRECT_DB_PORT in .env.production."
                    .to_owned()
            };
            Check::new(ID, Level::Warn, message).fix(fix)
        }
    }
}

fn migration_lock(route: &Route) -> Check {
    const ID: &str = "migration-lock";
    let name = route.database_name();
    if let Some(why) = unasked(route) {
        return Check::new(
            ID,
            Level::Warn,
            format!("not checked: the database could not be asked ({why})"),
        )
        .fix(let_it_ask(route));
    }
    let holders = match route.report.as_ref().map(|r| &r.lock) {
        Some(Ok(holders)) => holders,
        Some(Err(why)) => {
            return Check::new(
                ID,
                Level::Warn,
                format!("cannot read Rails' migration lock on {name}: {why}"),
            )
            .fix(let_it_ask(route));
        }
        None => unreachable!("asked, so there is a report"),
    };
    let Some(holder) = holders.first() else {
        return Check::new(
            ID,
            Level::Ok,
            format!(
                "Rails' migration lock on {name} is free (advisory lock {})",
                lock::key(&name)
            ),
        );
    };
    let (message, fix) = lock_guard::describe(route, holder);
    // A certain leftover fails; what may be a running migration warns.
    let level = match lock_guard::kind(route, holder) {
        lock_guard::Kind::OursPooled => Level::Block,
        lock_guard::Kind::Running | lock_guard::Kind::Hidden | lock_guard::Kind::Idle => {
            Level::Warn
        }
    };
    Check::new(ID, level, message).fix(fix)
}

fn pending(route: &Route, root: &Path) -> Check {
    const ID: &str = "migrations";
    if let Some(why) = unasked(route) {
        return Check::new(
            ID,
            Level::Warn,
            format!("not checked: the database could not be asked ({why})"),
        )
        .fix(let_it_ask(route));
    }
    let applied = match route.report.as_ref().map(|r| &r.versions) {
        Some(Ok(versions)) => versions,
        Some(Err(why)) => {
            return Check::new(
                ID,
                Level::Warn,
                format!("cannot read the applied migrations (schema_migrations): {why}"),
            )
            .fix(let_it_ask(route));
        }
        None => unreachable!("asked, so there is a report"),
    };
    let files = match migrations::files(root) {
        Ok(files) => files,
        Err(why) => {
            return Check::new(
                ID,
                Level::Warn,
                format!("cannot list the migrations: {why}"),
            )
            .fix(format!(
                "Make db/migrate and db/post_migrate in {} readable by this user.",
                root.display()
            ));
        }
    };
    let p = migrations::pending(&files, applied);
    let (pre, post) = (p.pre.len(), p.post.len());
    let counts = format!(
        "{pre} pre-deployment (db/migrate) and {post} post-deployment (db/post_migrate) \
         migrations pending"
    );
    if applied.is_empty() && files.pre.len() + files.post.len() > 0 {
        return Check::new(
            ID,
            Level::Warn,
            format!("the database has no migrations applied: {counts}"),
        )
        .fix(
            "A new database: set it up with `RAILS_ENV=production bin/rails db:setup` (or \
             `bin/rails mastodon:setup`); an existing one: check DB_NAME in .env.production.",
        );
    }
    if let Some(newest) = p.unknown.last() {
        return Check::new(
            ID,
            Level::Warn,
            format!(
                "the database has {} migration(s) newer than any in this checkout (newest {newest}): \
                 the checkout is older than the database; {counts}",
                p.unknown.len()
            ),
        )
        .fix(
            "Check out the Mastodon release the database was migrated with (or a newer one) \
             before running anything against it: an older release does not know its tables.",
        );
    }
    if pre > 0 {
        return Check::new(ID, Level::Warn, counts).fix(
            "Finish the upgrade: `tootguard upgrade` (or `tootguard upgrade --from pre-migrate` \
             once bundle and yarn have run).",
        );
    }
    if post > 0 {
        return Check::new(
            ID,
            Level::Warn,
            format!("the last upgrade's post-deployment migrations never ran: {counts}"),
        )
        .fix(
            "Once the services run the new code, run them: `tootguard upgrade --from \
             post-migrate`.",
        );
    }
    Check::new(
        ID,
        Level::Ok,
        format!(
            "every migration of this checkout is applied ({} pre-deployment, {} \
             post-deployment)",
            files.pre.len(),
            files.post.len()
        ),
    )
}
