//! The dump: where `pg_dump` connects (PostgreSQL itself, as the migration
//! guard finds it), the libpq environment it gets, and `pg_restore --list`
//! reading it back before it is trusted.

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use super::{Error, human};
use crate::database::{Endpoint, SslMode};
use crate::environment::Env;
use crate::guards::Level;
use crate::guards::pgbouncer::{self, endpoint as show_endpoint};
use crate::site::Site;

/// Where `pg_dump` must connect: PostgreSQL itself, as the migration guard
/// finds it, with Mastodon's credentials. Refused where a migration would
/// be (a pooler whose server cannot be found).
pub(super) fn target(site: &Site) -> Result<(Endpoint, Option<String>, Vec<String>), Error> {
    let route = pgbouncer::route(site)?;
    if let Some((message, fix)) = &route.refusal {
        return Err(format!(
            "not backing up through a connection pooler: {message} {fix}"
        ));
    }
    let mut warnings = Vec::new();
    if let Some((Level::Warn, note)) = &route.note {
        warnings.push(note.replace("the migration", "the backup"));
    }
    let db = &route.database;
    let sslmode = SslMode::parse(db.sslmode.as_deref())?;
    let dbname = Some(route.database_name());
    let endpoint = match &route.direct {
        Some(direct) => Endpoint {
            host: direct.host.clone(),
            port: direct.port,
            user: direct.user.clone().or_else(|| db.user.clone()),
            password: direct.password.clone().or_else(|| db.password.clone()),
            dbname,
            sslmode,
        },
        None => Endpoint {
            host: db.host.clone(),
            port: db.port,
            user: db.user.clone(),
            password: db.password.clone(),
            dbname,
            sslmode,
        },
    };
    Ok((endpoint, db.sslmode.clone(), warnings))
}

/// `name` on PATH (by the rule every PATH search here uses), or why it is
/// needed and how to get it.
pub(super) fn tool(env: &Env, name: &str) -> Result<PathBuf, Error> {
    let path = env.get("PATH").unwrap_or_default();
    crate::resolve::first_on_path(name, &path, Path::new("/")).ok_or_else(|| {
        format!(
            "{name} is not on PATH ({}): tootguard backs up with PostgreSQL's own tools. \
             Install them (`apt install postgresql-client` as root), then run the backup again.",
            path.to_string_lossy()
        )
    })
}

/// Runs `pg_dump -Fc` to `dump`, with progress on a terminal.
pub(super) fn run_pg_dump(
    pg_dump: &Path,
    target: &Endpoint,
    sslmode: Option<&str>,
    dump: &Path,
    env: &Env,
) -> Result<(), Error> {
    let mut cmd = Command::new(pg_dump);
    cmd.arg("--format=custom")
        .arg("--no-password")
        // A lock left by an interrupted migration must not hold the backup
        // (and the upgrade) silently.
        .arg("--lock-wait-timeout=60s")
        .arg("--file")
        .arg(dump)
        .arg("--host")
        .arg(&target.host)
        .arg("--port")
        .arg(target.port.to_string())
        .arg("--username")
        .arg(target.user.as_deref().unwrap_or("mastodon"))
        .arg("--dbname")
        .arg(target.dbname.as_deref().unwrap_or("mastodon_production"));
    pg_env(&mut cmd, env, target, sslmode);
    cmd.stdin(Stdio::null());
    let started = Instant::now();
    let done = Arc::new(AtomicBool::new(false));
    let progress = std::io::IsTerminal::is_terminal(&std::io::stderr()).then(|| {
        let done = done.clone();
        let dump = dump.to_path_buf();
        std::thread::spawn(move || {
            while !done.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(500));
                let written = std::fs::metadata(&dump).map_or(0, |m| m.len());
                let _ = write!(
                    std::io::stderr(),
                    "\r  pg_dump: {} written, {}   ",
                    human(written),
                    elapsed(started.elapsed())
                );
            }
            let _ = writeln!(std::io::stderr());
        })
    });
    let status = {
        let _interrupt = crate::exec::InterruptGuard::install();
        cmd.status()
    };
    done.store(true, Ordering::Relaxed);
    if let Some(thread) = progress {
        let _ = thread.join();
    }
    let status = status.map_err(|e| format!("cannot run {}: {e}", pg_dump.display()))?;
    if !status.success() {
        return Err(format!(
            "pg_dump failed ({status}; its message is above) dumping {} at {}. Nothing was \
             kept. Check that PostgreSQL answers there as {} (`tootguard doctor`), and that \
             pg_dump is not older than the server (`pg_dump --version`).",
            target.dbname.as_deref().unwrap_or_default(),
            show_endpoint(&target.host, target.port),
            target.user.as_deref().unwrap_or("mastodon")
        ));
    }
    std::fs::set_permissions(dump, std::fs::Permissions::from_mode(0o600))
        .map_err(|e| format!("cannot make {} private: {e}", dump.display()))?;
    Ok(())
}

/// libpq's variables that say where and as whom to connect: a shell that
/// exports them must not send the dump elsewhere.
const PG_ROUTING: [&str; 11] = [
    "PGHOST",
    "PGHOSTADDR",
    "PGPORT",
    "PGDATABASE",
    "PGUSER",
    "PGPASSWORD",
    "PGPASSFILE",
    "PGSERVICE",
    "PGSERVICEFILE",
    "PGOPTIONS",
    "PGSSLMODE",
];

/// The child's libpq environment: where and as whom is tootguard's choice.
fn pg_env(cmd: &mut Command, env: &Env, target: &Endpoint, sslmode: Option<&str>) {
    cmd.env_clear();
    for (name, value) in env.all().iter() {
        if !PG_ROUTING.iter().any(|v| name == std::ffi::OsStr::new(v)) {
            cmd.env(name, value);
        }
    }
    if let Some(password) = &target.password {
        cmd.env("PGPASSWORD", password);
    }

    // Mastodon's own DB_SSLMODE, as libpq takes it (verify-ca stays
    // verify-ca); the certificate variables an admin set stay too.
    let mode = match target.sslmode {
        SslMode::Disable => "disable".to_owned(),
        SslMode::Allow => "allow".to_owned(),
        SslMode::Prefer => "prefer".to_owned(),
        SslMode::Require => "require".to_owned(),
        SslMode::Verify => sslmode.unwrap_or("verify-full").to_owned(),
    };
    cmd.env("PGSSLMODE", mode)
        .env("PGCONNECT_TIMEOUT", "10")
        .env("PGAPPNAME", "tootguard-backup");
}

/// `pg_restore --list` reads the dump: the number of tables whose data it
/// holds. A dump without Rails' `schema_migrations` is not Mastodon's.
pub(super) fn verify(pg_restore: &Path, dump: &Path, env: &Env) -> Result<usize, Error> {
    let mut cmd = Command::new(pg_restore);
    cmd.arg("--list").arg(dump);
    cmd.env_clear().envs(env.all().iter()).stdin(Stdio::null());
    let output = cmd
        .output()
        .map_err(|e| format!("cannot run {}: {e}", pg_restore.display()))?;
    let listing = String::from_utf8_lossy(&output.stdout);
    let tables: Vec<&str> = listing
        .lines()
        .filter(|l| !l.starts_with(';') && l.contains(" TABLE DATA "))
        .collect();
    if !output.status.success() {
        return Err(format!(
            "the dump just made cannot be read back: pg_restore --list failed ({}: {}). It \
             was removed; nothing was kept. Run the backup again.",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        ));
    }

    // An empty database (nothing migrated yet) has nothing to lose, and
    // its dump is a good one.
    if !tables.is_empty() && !tables.iter().any(|l| l.contains(" schema_migrations ")) {
        return Err(format!(
            "the dump just made holds no schema_migrations table ({} tables): it is not the \
             dump of a Mastodon database. It was removed. Check DB_NAME in .env.production.",
            tables.len()
        ));
    }
    Ok(tables.len())
}

fn elapsed(d: Duration) -> String {
    let secs = d.as_secs();
    format!("{}:{:02}", secs / 60, secs % 60)
}
