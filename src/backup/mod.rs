//! A verified backup of an install's database and `.env*` files, taken
//! before anything can change them: `tootguard backup`, and the upgrade's
//! `backup` step before the migrations.
//!
//! The database is dumped with PostgreSQL's own `pg_dump -Fc` (Mastodon's
//! docs, "Backups"), at PostgreSQL itself — the direct endpoint the
//! migration guard finds, never a pooler — with the credentials Mastodon
//! uses, the password handed over in `PGPASSWORD`, never on a command line
//! (where `ps` shows it). Nothing is written before the free space is known
//! to hold a dump of the database's size; a dump that `pg_restore --list`
//! cannot read, or that lacks Rails' `schema_migrations`, is removed and
//! the backup fails: a backup that cannot be restored is worse than none,
//! because it is trusted. Everything is private (directories 0700, files
//! 0600), and each backup gets a directory of its own with a manifest
//! (`tootguard-backup.json`), which is what `--keep` looks for: it removes
//! older backups tootguard made of the same database, never anything else.
//!
//! Here the backup is taken, step by step; where it goes and how it is
//! kept private is `dir`, the dump and its check `dump`, the manifest and
//! the restore it describes `manifest`, `--keep` `prune`.

mod dir;
mod dump;
mod manifest;
mod prune;

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use crate::database::{Endpoint, client};
use crate::environment::Env;
use crate::guards::pgbouncer::endpoint as show_endpoint;
use crate::resolve::Root;
use crate::site::Site;
use dir::{backup_dir, check_space, make_backup_dir, make_private_dir, write_private};
use dump::{run_pg_dump, target, tool, verify};
use manifest::MANIFEST;
use prune::prune;

pub use manifest::Manifest;

/// Backups of the same database kept when `--keep` is not given.
pub const DEFAULT_KEEP: usize = 3;
/// Where backups go when neither `--dir` nor this is given: the owner's
/// `~/tootguard-backups`.
pub const DIR_VARIABLE: &str = "TOOTGUARD_BACKUP_DIR";

/// What to back up where.
#[derive(Debug, Clone, Default)]
pub struct Options {
    pub dir: Option<PathBuf>,
    pub keep: Option<usize>,
    /// The backup directory's own name (the upgrade chooses it, to know it).
    pub name: Option<String>,
}

/// A backup just taken.
#[derive(Debug)]
pub struct Taken {
    pub dir: PathBuf,
    pub manifest: Manifest,
    /// Older backups `--keep` removed.
    pub removed: Vec<PathBuf>,
    /// Warnings to give (a pooler that could not be ruled out).
    pub warnings: Vec<String>,
}

/// Why a backup was not taken: one paragraph, cause and fix.
pub type Error = String;

/// Takes a backup of `root`'s database and `.env*` files.
pub fn take(root: &Root, env: &Env, cwd: &Path, options: &Options) -> Result<Taken, Error> {
    let keep = options.keep.unwrap_or(DEFAULT_KEEP);
    if keep == 0 {
        return Err("--keep 0 would remove the backup just taken; give 1 or more.".into());
    }
    let site = Site::new(root.dir.clone(), env.clone(), Some(root.clone()));
    let dir = backup_dir(&site, env, cwd, options)?;
    let (target, sslmode, warnings) = target(&site)?;
    let shown = show_endpoint(&target.host, target.port);
    let database = target.dbname.clone().unwrap_or_default();
    let pg_dump = tool(env, "pg_dump")?;
    let pg_restore = tool(env, "pg_restore")?;
    let size = client::database_size(&target).map_err(|e| {
        format!(
            "cannot ask PostgreSQL at {shown} for the size of {database}, so tootguard cannot \
             tell whether a backup fits: {e}. pg_dump would log in the same way; fix the \
             database settings (see `tootguard doctor`), or run this as the install's owner."
        )
    })?;
    check_space(&dir, size)?;
    make_private_dir(&dir)?;
    let name = options.name.clone().unwrap_or_else(|| {
        format!(
            "tootguard-{}-{}",
            database.replace(|c: char| !c.is_ascii_alphanumeric() && c != '_', "-"),
            timestamp(SystemTime::now())
        )
    });
    if name.contains('/') || name.starts_with('.') || name.is_empty() {
        return Err(format!("{name:?} is not a name for a backup directory."));
    }
    let backup = make_backup_dir(&dir, &name, options.name.is_none())?;
    // From here on, a failure leaves nothing behind.
    let outcome = fill(
        root,
        &backup,
        &target,
        sslmode.as_deref(),
        &pg_dump,
        &pg_restore,
        env,
    );
    let manifest = match outcome {
        Ok(manifest) => manifest,
        Err(e) => {
            let _ = std::fs::remove_dir_all(&backup);
            return Err(e);
        }
    };
    let removed = prune(&dir, &backup, &manifest, keep, &root.dir);
    Ok(Taken {
        dir: backup,
        manifest,
        removed,
        warnings,
    })
}

/// The dump, its check, the `.env*` copies and the manifest, in `backup`.
fn fill(
    root: &Root,
    backup: &Path,
    target: &Endpoint,
    sslmode: Option<&str>,
    pg_dump: &Path,
    pg_restore: &Path,
    env: &Env,
) -> Result<Manifest, Error> {
    let database = target.dbname.clone().unwrap_or_default();
    let dump_name = format!("{database}.dump");
    let dump = backup.join(&dump_name);
    run_pg_dump(pg_dump, target, sslmode, &dump, env)?;
    let tables = verify(pg_restore, &dump, env)?;
    let dump_bytes = std::fs::metadata(&dump).map(|m| m.len()).unwrap_or(0);
    let mut env_files = Vec::new();
    for name in crate::config::DOTENV_FILES.iter().rev() {
        let from = root.dir.join(name);
        let bytes = match std::fs::read(&from) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(format!("cannot read {} to copy it: {e}", from.display())),
        };
        write_private(&backup.join(name), &bytes)?;
        env_files.push((*name).to_owned());
    }
    let manifest = Manifest {
        created: SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
        root: root.dir.clone(),
        database,
        host: target.host.clone(),
        port: target.port,
        user: target.user.clone().unwrap_or_else(|| "mastodon".into()),
        dump: dump_name,
        dump_bytes,
        tables,
        env_files,
        version: crate::release::checked_out(&root.dir)
            .ok()
            .map(|v| v.to_string()),
        commit: crate::release::head_commit(&root.dir),
        owner: std::fs::metadata(&root.dir)
            .ok()
            .and_then(|m| nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(m.uid())).ok())
            .flatten()
            .map(|u| u.name),
    };
    let mut restore = manifest.restore_commands(backup).join("\n");
    restore.push('\n');
    write_private(&backup.join("RESTORE.txt"), restore.as_bytes())?;
    let json = serde_json::to_string_pretty(&manifest).expect("a manifest serialises");
    write_private(&backup.join(MANIFEST), json.as_bytes())?;
    Ok(manifest)
}

/// Whether `backup` still holds a verified dump (its manifest and its dump
/// file): a backup removed or replaced since it was recorded is none.
pub fn usable(backup: &Path) -> bool {
    Manifest::read(backup).is_some_and(|m| backup.join(&m.dump).is_file())
}

/// `20261202-134501`, in UTC.
fn timestamp(at: SystemTime) -> String {
    let secs = at
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let (days, rest) = (secs / 86_400, secs % 86_400);
    // Howard Hinnant's days-to-civil.
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}{month:02}{day:02}-{:02}{:02}{:02}",
        rest / 3600,
        rest / 60 % 60,
        rest % 60
    )
}

/// `1.5 GB`, `12 MB`, `512 bytes`.
pub fn human(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["KB", "MB", "GB", "TB"];
    if bytes < 1024 {
        return format!("{bytes} bytes");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if value < 10.0 {
        format!("{value:.1} {}", UNITS[unit])
    } else {
        format!("{value:.0} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn timestamps_are_utc_calendar_dates() {
        let at = |secs| SystemTime::UNIX_EPOCH + Duration::from_secs(secs);
        assert_eq!(timestamp(at(0)), "19700101-000000");
        // 2026-12-02 13:45:01 UTC
        assert_eq!(timestamp(at(1_796_219_101)), "20261202-134501");
        // 2024-02-29 23:59:59 UTC, a leap day
        assert_eq!(timestamp(at(1_709_251_199)), "20240229-235959");
    }

    #[test]
    fn sizes_read_as_people_write_them() {
        assert_eq!(human(512), "512 bytes");
        assert_eq!(human(1536), "1.5 KB");
        assert_eq!(human(64 * 1024 * 1024), "64 MB");
        assert_eq!(human(3 * 1024 * 1024 * 1024), "3.0 GB");
    }
}
