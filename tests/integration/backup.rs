//! `tootguard backup` on the real PostgreSQL of the e2e harness: a dump
//! that reads back and restores, private files, the restore commands, a
//! filesystem too small (refused before anything is written), PgBouncer in
//! front (the dump goes to PostgreSQL itself), `--keep`, and bad input.

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::doctor::Setup;
use crate::e2e_support::{Servers, run};
use crate::harness::*;

/// A database owned by `mastodon` with Rails' `schema_migrations` and an
/// `accounts` table holding three rows.
pub fn mastodon_database(servers: &Servers) -> String {
    // The role, made once, as the docs make it (`CREATE USER mastodon
    // CREATEDB`).
    servers.mastodon_socket();
    let db = servers.fresh_database("backup");
    servers.psql(
        "postgres",
        &format!("ALTER DATABASE \"{db}\" OWNER TO mastodon"),
    );
    servers.psql(
        &db,
        "SET ROLE mastodon; \
         CREATE TABLE schema_migrations (version varchar PRIMARY KEY); \
         INSERT INTO schema_migrations VALUES ('20240101000000'); \
         CREATE TABLE accounts (id bigint PRIMARY KEY, username text); \
         INSERT INTO accounts VALUES (1, 'alice'), (2, 'bob'), (3, 'carol')",
    );
    db
}

/// A long secret that must appear in no output and no file but the copy
/// of `.env.production`.
const SECRET: &str = "s3cret-db-password-never-shown-4821";

struct Backup {
    setup: Setup,
    db: String,
    dir: PathBuf,
}

impl Backup {
    fn new() -> Backup {
        let setup = Setup::good();
        let servers = Servers::shared();
        let db = mastodon_database(servers);
        fs::write(
            setup.w.root.join(".env.production"),
            format!(
                "LOCAL_DOMAIN=example.test\nDB_NAME={db}\nDB_USER=mastodon\nDB_PASS={SECRET}\n"
            ),
        )
        .unwrap();
        let dir = setup.w.base().join("backups");
        Backup { setup, db, dir }
    }

    fn backup(&self) -> Cmd {
        self.setup
            .tootguard()
            .arg("backup")
            .arg("--dir")
            .arg(&self.dir)
    }

    /// The backup directories made so far.
    fn made(&self) -> Vec<PathBuf> {
        let mut out: Vec<PathBuf> = fs::read_dir(&self.dir)
            .map(|d| d.map(|e| e.unwrap().path()).collect())
            .unwrap_or_default();
        out.sort();
        out
    }
}

fn mode(path: &Path) -> u32 {
    fs::metadata(path).unwrap().permissions().mode() & 0o7777
}

fn pg_restore_list(dump: &Path) -> String {
    let out = run(
        Command::new("pg_restore").arg("--list").arg(dump),
        Duration::from_secs(30),
    );
    assert!(out.status.success(), "{out:?}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn a_backup_is_a_private_dump_that_reads_back_with_the_env_files_and_the_restore_commands() {
    let b = Backup::new();
    let out = b.backup().run();
    out.expect_code(0);
    let made = b.made();
    assert_eq!(made.len(), 1, "{made:?}");
    let backup = &made[0];
    assert_eq!(mode(backup), 0o700);
    assert_eq!(mode(&b.dir), 0o700);
    let dump = backup.join(format!("{}.dump", b.db));
    assert_eq!(mode(&dump), 0o600);
    let listing = pg_restore_list(&dump);
    assert!(listing.contains("TABLE DATA public accounts"), "{listing}");
    assert!(
        listing.contains("TABLE DATA public schema_migrations"),
        "{listing}"
    );
    let env_copy = backup.join(".env.production");
    assert_eq!(mode(&env_copy), 0o600);
    assert_eq!(
        fs::read(&env_copy).unwrap(),
        fs::read(b.setup.w.root.join(".env.production")).unwrap()
    );
    let restore = fs::read_to_string(backup.join("RESTORE.txt")).unwrap();
    for file in fs::read_dir(backup).unwrap() {
        let path = file.unwrap().path();
        assert_eq!(mode(&path), 0o600, "{}", path.display());
    }
    let stdout = out.stdout.clone();
    let expected = format!(
        "pg_restore -h {} -p {} -U mastodon -n public --no-owner --role=mastodon -j 2 -d {} {}",
        b.setup.db_dir.display(),
        b.setup.db_port,
        b.db,
        dump.display()
    );
    assert!(stdout.contains(&expected), "{stdout}");
    assert!(restore.contains(&expected), "{restore}");
    assert!(stdout.contains(&dump.display().to_string()), "{stdout}");
    assert!(stdout.contains("Redis"), "{stdout}");
    assert!(stdout.contains("public/system"), "{stdout}");
    let all = format!("{stdout}{}", out.stderr);
    assert!(!all.contains(SECRET), "{all}");
    assert!(!restore.contains(SECRET));
    let manifest = fs::read_to_string(backup.join("tootguard-backup.json")).unwrap();
    assert!(!manifest.contains(SECRET), "{manifest}");
}

#[test]
fn the_printed_restore_gives_back_the_rows_in_a_fresh_database() {
    let b = Backup::new();
    b.backup().run().expect_code(0);
    let backup = &b.made()[0];
    let restore = fs::read_to_string(backup.join("RESTORE.txt")).unwrap();
    let servers = Servers::shared();
    let fresh = format!("{}_restored", b.db);
    // The printed createdb and pg_restore, into another database name.
    let rename = |line: &str| line.replace(&format!(" {}", b.db), &format!(" {fresh}"));
    let createdb = restore
        .lines()
        .find(|l| l.starts_with("createdb "))
        .unwrap();
    let pg_restore = restore
        .lines()
        .find(|l| l.starts_with("pg_restore "))
        .unwrap();
    let pg_restore =
        rename(pg_restore).replace(&format!("{fresh}.dump"), &format!("{}.dump", b.db));
    for line in [rename(createdb), pg_restore] {
        let out = run(
            Command::new("sh").arg("-c").arg(&line),
            Duration::from_secs(60),
        );
        assert!(out.status.success(), "{line}: {out:?}");
    }
    assert_eq!(
        servers.psql(
            &fresh,
            "SELECT string_agg(username, ',' ORDER BY id) FROM accounts"
        ),
        "alice,bob,carol"
    );
}

#[test]
fn a_filesystem_too_small_is_refused_before_anything_is_written() {
    let b = Backup::new();
    let tiny = b.setup.w.base().join("tiny");
    fs::create_dir_all(&tiny).unwrap();
    // A 64 KiB tmpfs in a mount namespace of the test's own; what is left
    // in it is listed after tootguard ends.
    let script = "mount -t tmpfs -o size=64k tmpfs \"$TINY\" || exit 99; \"$@\"; status=$?; \
                  ls -A \"$TINY\"; exit $status";
    let out = b
        .setup
        .tootguard()
        .args(["backup", "--dir"])
        .arg(tiny.join("backups"))
        .env("TINY", &tiny)
        .wrapped_in("unshare", ["-m", "sh", "-c", script, "sh"])
        .run();
    out.expect_code(1);
    out.expect_stderr("not enough room");
    out.expect_stderr("Nothing was written");
    assert_eq!(out.stdout, "", "the tmpfs is not empty");
}

#[test]
fn behind_pgbouncer_the_dump_is_taken_at_postgresql_itself() {
    let b = Backup::new();
    let servers = Servers::shared();
    let out = b
        .setup
        .tootguard()
        .env("DB_HOST", "127.0.0.1")
        .env("DB_PORT", servers.bouncer_port().to_string())
        // The one user the test PgBouncer knows.
        .env("DB_USER", "postgres")
        .args(["backup", "--dir"])
        .arg(&b.dir)
        .run();
    out.expect_code(0);
    let manifest: serde_json::Value = serde_json::from_str(
        &fs::read_to_string(b.made()[0].join("tootguard-backup.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(manifest["port"], servers.pg_port(), "{manifest:#}");
    assert_ne!(manifest["port"], servers.bouncer_port());
}

#[test]
fn keep_removes_older_backups_of_this_database_and_nothing_else() {
    let b = Backup::new();
    fs::create_dir_all(b.dir.join("tootguard-mine")).unwrap();
    fs::write(b.dir.join("notes.txt"), "mine").unwrap();
    for _ in 0..3 {
        b.backup().args(["--keep", "2"]).run().expect_code(0);
    }
    let made: Vec<String> = b
        .made()
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    let backups: Vec<&String> = made
        .iter()
        .filter(|n| n.starts_with(&format!("tootguard-{}", b.db)))
        .collect();
    assert_eq!(backups.len(), 2, "{made:?}");
    assert!(made.contains(&"tootguard-mine".to_owned()), "{made:?}");
    assert!(made.contains(&"notes.txt".to_owned()), "{made:?}");
}

#[test]
fn an_unreachable_database_leaves_nothing_and_says_why() {
    let b = Backup::new();
    let closed = ClosedPort::new();
    let out = b
        .setup
        .tootguard()
        .env("DB_HOST", "127.0.0.1")
        .env("DB_PORT", closed.port.to_string())
        .args(["backup", "--dir"])
        .arg(&b.dir)
        .run();
    out.expect_code(1);
    out.expect_stderr("no backup taken");
    out.expect_stderr("cannot ask PostgreSQL");
    assert!(!b.dir.exists());
}

#[test]
fn without_pg_dump_the_fix_is_named() {
    let b = Backup::new();
    let out = b
        .backup()
        .env("PATH", b.setup.fake.to_string_lossy().as_ref())
        .run();
    out.expect_code(1);
    out.expect_stderr("pg_dump is not on PATH");
    out.expect_stderr("apt install postgresql-client");
    assert!(!b.dir.exists());
}

#[test]
fn a_backup_inside_the_checkout_is_refused() {
    let b = Backup::new();
    let inside = b.setup.w.root.join("public/backups");
    let out = b
        .setup
        .tootguard()
        .args(["backup", "--dir"])
        .arg(&inside)
        .run();
    out.expect_code(1);
    out.expect_stderr("inside the Mastodon checkout");
    assert!(!inside.exists());
}

#[test]
fn a_dump_without_schema_migrations_is_not_kept() {
    let b = Backup::new();
    let servers = Servers::shared();
    servers.psql(&b.db, "DROP TABLE schema_migrations");
    let out = b.backup().run();
    out.expect_code(1);
    out.expect_stderr("no schema_migrations");
    assert!(b.made().is_empty(), "{:?}", b.made());
}

#[test]
fn root_backs_up_an_install_another_user_owns_as_that_user() {
    let b = Backup::new();
    let user = TestUser::create(&b.setup.w.base().join("home"));
    b.setup.w.give_to(&user);
    for dir in [b.setup.fake.clone(), b.setup.db_dir.clone()] {
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).unwrap();
    }
    let dir = user.home.join("backups");
    let out = b
        .setup
        .tootguard()
        .args(["backup", "--dir"])
        .arg(&dir)
        .run();
    out.expect_code(0);
    out.expect_stderr(&format!("running as {}", user.name));
    let backup = fs::read_dir(&dir).unwrap().next().unwrap().unwrap().path();
    for path in [
        dir.clone(),
        backup.clone(),
        backup.join(format!("{}.dump", b.db)),
    ] {
        assert_eq!(
            fs::metadata(&path).unwrap().uid(),
            user.uid,
            "{}",
            path.display()
        );
    }
}

#[test]
fn a_backup_directory_others_can_write_is_refused_and_a_link_is_followed_once_to_its_real_path() {
    let b = Backup::new();
    let open = b.setup.w.base().join("open");
    fs::create_dir_all(&open).unwrap();
    fs::set_permissions(&open, fs::Permissions::from_mode(0o777)).unwrap();
    let out = b
        .setup
        .tootguard()
        .args(["backup", "--dir"])
        .arg(open.join("backups"))
        .run();
    out.expect_code(1).expect_stderr("can be changed by others");
    assert!(!open.join("backups").exists());
    let mine = b.setup.w.base().join("mine");
    fs::create_dir_all(&mine).unwrap();
    let link = b.setup.w.base().join("link");
    std::os::unix::fs::symlink(&mine, &link).unwrap();
    // The link is resolved once, before anything is written: the backup
    // goes to the real path, which no one else can change.
    let out = b
        .setup
        .tootguard()
        .args(["backup", "--dir"])
        .arg(link.join("backups"))
        .run();
    out.expect_code(0);
    assert!(
        out.stdout
            .contains(&mine.join("backups").display().to_string()),
        "{}",
        out.stdout
    );
    assert!(mine.join("backups").is_dir());
}

#[test]
fn keep_leaves_the_backups_of_another_database_alone() {
    let b = Backup::new();
    b.backup().run().expect_code(0);
    // A backup of another database, in the same place.
    let theirs = b.dir.join("tootguard-other-20200101-000000");
    fs::create_dir_all(&theirs).unwrap();
    let manifest = fs::read_to_string(b.made()[0].join("tootguard-backup.json"))
        .unwrap()
        .replace(
            &format!("\"database\": \"{}\"", b.db),
            "\"database\": \"other\"",
        );
    fs::write(theirs.join("tootguard-backup.json"), manifest).unwrap();
    for _ in 0..2 {
        b.backup().args(["--keep", "1"]).run().expect_code(0);
    }
    assert!(theirs.is_dir(), "another database's backup was removed");
    let newest = b.made();
    assert_eq!(newest.len(), 2, "{newest:?}");
}
