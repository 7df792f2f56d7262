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

use std::ffi::OsString;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime};

use crate::database::{Endpoint, SslMode, client};
use crate::environment::Env;
use crate::guards::Level;
use crate::guards::pgbouncer::{self, endpoint as show_endpoint};
use crate::invocation::{Invocation, Tool};
use crate::quote::{word as quote, word_str as quote_str};
use crate::resolve::Root;

/// The manifest's name in each backup directory.
pub const MANIFEST: &str = "tootguard-backup.json";
/// Backups of the same database kept when `--keep` is not given.
pub const DEFAULT_KEEP: usize = 3;
/// Where backups go when neither `--dir` nor this is given: the owner's
/// `~/tootguard-backups`.
pub const DIR_VARIABLE: &str = "TOOTGUARD_BACKUP_DIR";
const DEFAULT_DIR: &str = "tootguard-backups";
/// Room kept free beyond the database's size.
const MARGIN: u64 = 64 * 1024 * 1024;

/// What to back up where.
#[derive(Debug, Clone, Default)]
pub struct Options {
    pub dir: Option<PathBuf>,
    pub keep: Option<usize>,
    /// The backup directory's own name (the upgrade chooses it, to know it).
    pub name: Option<String>,
}

/// What a backup holds, as its manifest records it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Manifest {
    /// Seconds since the epoch.
    pub created: u64,
    pub root: PathBuf,
    pub database: String,
    pub host: String,
    pub port: u16,
    pub user: String,
    /// The dump's file name, in the backup directory.
    pub dump: String,
    pub dump_bytes: u64,
    /// Tables whose data the dump holds.
    pub tables: usize,
    /// Copies of the install's `.env*` files, by their own names.
    pub env_files: Vec<String>,
    /// The Mastodon version checked out when it was taken.
    pub version: Option<String>,
    pub commit: Option<String>,
    /// The install's owner, who the `.env*` files belong to.
    #[serde(default)]
    pub owner: Option<String>,
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
    let inv = Invocation::new(
        Tool::Rails,
        vec!["db:migrate".into()],
        root.dir.clone(),
        env.clone(),
        Some(root.clone()),
    );
    let dir = backup_dir(&inv, env, cwd, options)?;
    let (target, sslmode, warnings) = target(&inv)?;
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

/// `dir/name` (0700), made new: a second backup in the same second gets
/// `name-2` when the name was tootguard's choice.
fn make_backup_dir(dir: &Path, name: &str, numbered: bool) -> Result<PathBuf, Error> {
    for n in 1..=99 {
        let backup = if n == 1 {
            dir.join(name)
        } else {
            dir.join(format!("{name}-{n}"))
        };
        match std::fs::DirBuilder::new().mode(0o700).create(&backup) {
            Ok(()) => return Ok(backup),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && numbered => continue,
            Err(e) => return Err(format!("cannot create {}: {e}", backup.display())),
        }
    }
    Err(format!(
        "cannot find a free name for a backup in {}",
        dir.display()
    ))
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

impl Manifest {
    /// Reads the manifest in a backup directory.
    pub fn read(backup: &Path) -> Option<Manifest> {
        let text = crate::files::read_small(&backup.join(MANIFEST)).ok()?;
        serde_json::from_str(&text).ok()
    }

    /// The docs' restore, for this database, user and host, step by step:
    /// the failed database is renamed aside, not dropped.
    pub fn restore_commands(&self, backup: &Path) -> Vec<String> {
        let conn = format!(
            "-h {} -p {} -U {}",
            quote_str(&self.host),
            self.port,
            quote_str(&self.user)
        );
        let db = quote_str(&self.database);
        let aside = format!("{}_before_restore", self.database);
        let ident = |name: &str| format!("\"{}\"", name.replace('"', "\"\""));
        let rename = format!(
            "ALTER DATABASE {} RENAME TO {}",
            ident(&self.database),
            ident(&aside)
        );
        let mut lines = vec![
            "# 1. As root, stop Mastodon:".to_owned(),
            "systemctl stop mastodon-web mastodon-sidekiq mastodon-streaming".to_owned(),
            format!(
                "# 2. As {}, keep the current database aside (drop it once the restore is \
                 good), make an empty one and restore into it:",
                self.user
            ),
            format!("psql {conn} -d postgres -c {}", quote_str(&rename)),
            format!("createdb {conn} -T template0 {db}"),
            format!(
                "pg_restore {conn} -n public --no-owner --role={} -j 2 -d {db} {}",
                quote_str(&self.user),
                quote(backup.join(&self.dump).as_os_str())
            ),
        ];
        if !self.env_files.is_empty() {
            lines.push(format!(
                "# 3. As {}, if they changed since, put the configuration back:",
                self.owner.as_deref().unwrap_or("the install's owner")
            ));
            for name in &self.env_files {
                lines.push(format!(
                    "install -m 600 {} {}",
                    quote(backup.join(name).as_os_str()),
                    quote(self.root.join(name).as_os_str())
                ));
            }
        }
        lines.push(
            "# Then check out the code that matches this database, and start Mastodon again \
             (systemctl start mastodon-web mastodon-sidekiq mastodon-streaming)."
                .to_owned(),
        );
        lines
    }
}

/// `--dir`, else `TOOTGUARD_BACKUP_DIR` (environment or `.env*`), else
/// `~/tootguard-backups` of the user taking it; never inside the install.
fn backup_dir(
    inv: &Invocation,
    env: &Env,
    cwd: &Path,
    options: &Options,
) -> Result<PathBuf, Error> {
    let given = match &options.dir {
        Some(dir) => Some(dir.clone()),
        None => inv
            .setting(DIR_VARIABLE)?
            .map(|(v, _)| v)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from),
    };
    let dir = match given {
        Some(dir) if dir.is_absolute() => dir,
        Some(dir) => cwd.join(dir),
        None => {
            let home = env
                .get("HOME")
                .map(PathBuf::from)
                .filter(|d| d.is_absolute())
                .or_else(|| {
                    nix::unistd::User::from_uid(nix::unistd::Uid::effective())
                        .ok()
                        .flatten()
                        .map(|u| u.dir)
                        .filter(|d| d.is_absolute())
                })
                .ok_or_else(|| {
                    format!(
                        "this user has no home directory to keep backups in; give one with \
                         --dir or {DIR_VARIABLE}."
                    )
                })?;
            home.join(DEFAULT_DIR)
        }
    };
    let dir = normalize(&dir);
    let root = root_canonical(&inv.cwd);
    if dir.starts_with(&root) {
        return Err(format!(
            "{} is inside the Mastodon checkout {}: a backup there can be served to the web \
             (public/), removed by `git clean`, or lost with the checkout. Give a directory \
             outside it (--dir or {DIR_VARIABLE}).",
            dir.display(),
            root.display()
        ));
    }
    Ok(dir)
}

fn root_canonical(root: &Path) -> PathBuf {
    root.canonicalize().unwrap_or_else(|_| root.to_path_buf())
}

/// `dir` without `.` and `..` parts, and through the links of the part
/// that exists (so "inside the checkout" is judged on real paths).
fn normalize(dir: &Path) -> PathBuf {
    let mut existing = dir.to_path_buf();
    let mut rest = Vec::new();
    while !existing.exists() {
        match (existing.file_name(), existing.parent()) {
            (Some(name), Some(parent)) => {
                rest.push(name.to_owned());
                existing = parent.to_path_buf();
            }
            _ => break,
        }
    }
    let mut out = existing.canonicalize().unwrap_or(existing);
    for part in rest.into_iter().rev() {
        if part == ".." {
            out.pop();
        } else if part != "." {
            out.push(part);
        }
    }
    out
}

/// Where `pg_dump` must connect: PostgreSQL itself, as the migration guard
/// finds it, with Mastodon's credentials. Refused where a migration would
/// be (a pooler whose server cannot be found).
fn target(inv: &Invocation) -> Result<(Endpoint, Option<String>, Vec<String>), Error> {
    let route = pgbouncer::route(inv)?;
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

/// `name` on PATH, or why it is needed and how to get it.
fn tool(env: &Env, name: &str) -> Result<PathBuf, Error> {
    let path = env.get("PATH").unwrap_or_default();
    which::which_in(name, Some(&path), "/").map_err(|_| {
        format!(
            "{name} is not on PATH ({}): tootguard backs up with PostgreSQL's own tools. \
             Install them (`apt install postgresql-client` as root), then run the backup again.",
            path.to_string_lossy()
        )
    })
}

/// Refuses, before writing anything, when `dir`'s filesystem has less
/// room than the database's size plus a margin. A custom-format dump is
/// compressed and usually much smaller; how much smaller cannot be known
/// before it is made, so the size itself is the bound.
fn check_space(dir: &Path, size: u64) -> Result<(), Error> {
    let existing = dir
        .ancestors()
        .find(|d| d.exists())
        .unwrap_or(Path::new("/"));
    let stat = nix::sys::statvfs::statvfs(existing)
        .map_err(|e| format!("cannot read the free space of {}: {e}", existing.display()))?;
    let free = stat.blocks_available() as u64 * stat.fragment_size() as u64;
    let need = size.saturating_add(MARGIN);
    if free < need {
        return Err(format!(
            "not enough room for the backup: {} has {} free, and the database is {} (a backup \
             needs its size plus {} to be sure it fits). Nothing was written. Free some space, \
             or back up to a larger filesystem with --dir (or {DIR_VARIABLE}).",
            existing.display(),
            human(free),
            human(size),
            human(MARGIN)
        ));
    }
    Ok(())
}

/// Creates `dir` (0700) when missing; an existing one must be this user's
/// (or root's) and writable by no one else, since a backup holds every
/// secret of the install.
fn make_private_dir(dir: &Path) -> Result<(), Error> {
    trusted_path(dir)?;
    if !dir.exists() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    let meta = std::fs::metadata(dir).map_err(|e| format!("cannot read {}: {e}", dir.display()))?;
    if !meta.is_dir() {
        return Err(format!("{} is not a directory.", dir.display()));
    }
    let me = nix::unistd::Uid::effective().as_raw();
    if meta.uid() != me && meta.uid() != 0 {
        return Err(format!(
            "{} belongs to uid {}, not to you: a backup holds every secret of the install. \
             Use a directory of your own with --dir (or {DIR_VARIABLE}).",
            dir.display(),
            meta.uid()
        ));
    }
    if meta.mode() & 0o022 != 0 {
        return Err(format!(
            "{} (mode {:o}) can be written by others than you: a backup holds every secret \
             of the install. `chmod go-w {}`, or use another directory with --dir.",
            dir.display(),
            meta.mode() & 0o7777,
            quote(dir.as_os_str())
        ));
    }
    Ok(())
}

/// Every existing directory on the way to `dir`, and `dir` itself, is no
/// link and is writable by no one but root and this user: otherwise
/// someone else could swap a part of the path between the checks and the
/// writes (and root would write, or remove, where they point).
fn trusted_path(dir: &Path) -> Result<(), Error> {
    let me = nix::unistd::Uid::effective().as_raw();
    let mut at = PathBuf::from("/");
    for part in dir.components().skip(1) {
        at.push(part);
        let meta = match std::fs::symlink_metadata(&at) {
            Ok(meta) => meta,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(format!("cannot read {}: {e}", at.display())),
        };
        if meta.file_type().is_symlink() {
            return Err(format!(
                "{} is a symbolic link: the backup directory must be named by its real path \
                 ({}), so that no one can point it elsewhere. Give that path with --dir.",
                at.display(),
                at.canonicalize()
                    .map_or_else(|_| "unknown".into(), |p| p.display().to_string())
            ));
        }
        let owner_ok = meta.uid() == me || meta.uid() == 0;
        let writable_by_others = meta.mode() & 0o022 != 0;
        // A sticky directory of root's (/tmp) on the way: others cannot
        // rename or remove what is ours in it.
        let sticky_root = meta.mode() & 0o1000 != 0 && meta.uid() == 0 && at != dir;
        if !owner_ok || (writable_by_others && !sticky_root) {
            return Err(format!(
                "{} (mode {:o}, uid {}) is on the way to the backup directory and can be \
                 changed by others than root and you: they could swap it for a link while the \
                 backup is written. Use a directory whose every part is yours or root's, not \
                 writable by others (for example ~/tootguard-backups), with --dir.",
                at.display(),
                meta.mode() & 0o7777,
                meta.uid()
            ));
        }
    }
    Ok(())
}

/// Runs `pg_dump -Fc` to `dump`, with progress on a terminal.
fn run_pg_dump(
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
fn verify(pg_restore: &Path, dump: &Path, env: &Env) -> Result<usize, Error> {
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

fn write_private(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(nix::libc::O_NOFOLLOW)
        .open(path)
        .map_err(|e| format!("cannot create {}: {e}", path.display()))?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// Removes older backups of the same database in `dir` beyond `keep`
/// (counting the one just made): only directories holding a manifest
/// tootguard wrote for this install and database.
fn prune(
    dir: &Path,
    just_made: &Path,
    manifest: &Manifest,
    keep: usize,
    root: &Path,
) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    // Never the backup an upgrade under way would restore.
    let upgrade_backup = crate::state::State::load(root)
        .ok()
        .and_then(|s| s.upgrade)
        .filter(|u| !u.finished)
        .and_then(|u| u.backup);
    let mut ours: Vec<(u64, OsString, PathBuf)> = entries
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .map(|e| e.path())
        .filter(|p| p != just_made && Some(p) != upgrade_backup.as_ref())
        .filter_map(|p| {
            let other = Manifest::read(&p)?;
            let name = p.file_name()?.to_owned();
            (other.root == manifest.root && other.database == manifest.database).then_some((
                other.created,
                name,
                p,
            ))
        })
        .collect();
    ours.sort();
    let excess = ours.len().saturating_sub(keep - 1);
    ours.into_iter()
        .take(excess)
        .filter_map(|(_, _, path)| std::fs::remove_dir_all(&path).ok().map(|()| path))
        .collect()
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

fn elapsed(d: Duration) -> String {
    let secs = d.as_secs();
    format!("{}:{:02}", secs / 60, secs % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn restore_commands_name_this_database_user_and_host_and_rename_instead_of_drop() {
        let manifest = Manifest {
            created: 0,
            root: "/home/mastodon/live".into(),
            database: "mastodon_production".into(),
            host: "/var/run/postgresql".into(),
            port: 5432,
            user: "mastodon".into(),
            dump: "mastodon_production.dump".into(),
            dump_bytes: 1,
            tables: 1,
            env_files: vec![".env.production".into()],
            version: None,
            commit: None,
            owner: Some("mastodon".into()),
        };
        let text = manifest
            .restore_commands(Path::new("/home/mastodon/tootguard-backups/b"))
            .join("\n");
        assert!(text.contains(
            "pg_restore -h /var/run/postgresql -p 5432 -U mastodon -n public --no-owner \
             --role=mastodon -j 2 -d mastodon_production \
             /home/mastodon/tootguard-backups/b/mastodon_production.dump"
        ));
        assert!(text.contains(
            "ALTER DATABASE \"mastodon_production\" RENAME TO \"mastodon_production_before_restore\""
        ));
        assert!(text.contains("createdb -h /var/run/postgresql -p 5432 -U mastodon -T template0"));
        assert!(!text.contains("dropdb"));
        assert!(text.contains(
            "install -m 600 /home/mastodon/tootguard-backups/b/.env.production \
             /home/mastodon/live/.env.production"
        ));
    }
}
