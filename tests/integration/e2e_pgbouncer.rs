//! The PgBouncer bypass, proven on real parts: PostgreSQL 15, PgBouncer 1.18
//! in transaction mode and a Rails 6.1 app from Debian's packages, with
//! pgbench-driven load on the pool. Each migration records the route it took
//! (PgBouncer's `application_name_add_host = 1` marks its sessions), so the
//! tests prove where a migration went, not only that it succeeded.

use std::process::Command;
use std::time::Duration;

use crate::e2e_support::{
    Load, MIGRATION_VERSIONS, POST_DEPLOY_INITIALIZER, POST_VERSION, RAILS_TIMEOUT, RailsApp,
    Servers, assert_all_direct, combined, migrate_through_pgbouncer_until_it_fails,
    passed_through_pgbouncer, post_migration, run, scrub_env, through_tootguard,
};
use crate::harness::{tootguard, write_executable};

const LOAD_CLIENTS: u32 = 8;

/// PgBouncer in front, on its random port, and the direct endpoint named in
/// `.env.production` the way an admin would (the test's PostgreSQL is not on
/// 5432, so the 6432 → 5432 default does not apply here).
fn app_with_direct_setting(servers: &Servers, db: &str) -> RailsApp {
    let app = RailsApp::behind_bouncer(servers, db);
    app.write_env_production(&format!(
        "{}TOOTGUARD_DIRECT_DB_HOST=127.0.0.1\nTOOTGUARD_DIRECT_DB_PORT={}\n",
        app.default_env_production(),
        servers.pg_port()
    ));
    app
}

#[test]
fn under_pgbouncer_load_tootguard_sends_every_migration_directly_and_without_it_they_fail() {
    let servers = Servers::shared();

    // The control: the same app, the same load, no tootguard.
    match migrate_through_pgbouncer_until_it_fails(servers, "tg_ctl", 3, LOAD_CLIENTS) {
        Ok(without) => assert!(
            combined(&without).contains("advisory lock"),
            "without tootguard the migration failed, but not on the advisory lock:\n{}",
            combined(&without)
        ),
        Err(outputs) => panic!(
            "without tootguard {} migrations under load all succeeded; the last:\n{}",
            outputs.len(),
            combined(outputs.last().unwrap())
        ),
    }

    let db = servers.fresh_database("tg_env");
    let app = app_with_direct_setting(servers, &db);
    let mut load = Load::holding_lock_server(servers, &db, LOAD_CLIENTS);
    let out = through_tootguard(&app, &["db:migrate"], &[]);
    assert!(load.is_running(), "the load ended before the migration did");
    drop(load);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("RAILS_ENV was not set"), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "migrating directly to PostgreSQL at 127.0.0.1:{}, skipping PgBouncer at 127.0.0.1:{}",
            servers.pg_port(),
            servers.bouncer_port()
        )),
        "{stderr}"
    );
    assert_all_direct(&app, servers, &out);
}

#[test]
fn under_pgbouncer_load_a_database_url_is_rewritten_to_the_direct_endpoint() {
    let servers = Servers::shared();
    let db = servers.fresh_database("tg_url");
    let app = RailsApp::behind_bouncer(servers, &db);
    app.write_env_production(&format!(
        "DATABASE_URL=postgresql://postgres@127.0.0.1:{}/{db}?prepared_statements=false\n\
         PREPARED_STATEMENTS=false\nTOOTGUARD_DIRECT_DB_PORT={}\n",
        servers.bouncer_port(),
        servers.pg_port()
    ));
    let mut load = Load::holding_lock_server(servers, &db, LOAD_CLIENTS);
    let out = through_tootguard(&app, &["db:migrate"], &[]);
    assert!(load.is_running(), "the load ended before the migration did");
    drop(load);
    assert_all_direct(&app, servers, &out);
}

#[test]
fn a_closed_direct_port_blocks_before_any_migration_runs() {
    let servers = Servers::shared();
    let db = servers.fresh_database("tg_blk");
    let app = RailsApp::behind_bouncer(servers, &db);
    let closed = crate::harness::ClosedPort::new();
    app.write_env_production(&format!(
        "{}TOOTGUARD_DIRECT_DB_PORT={}\n",
        app.default_env_production(),
        closed.port
    ));
    let out = through_tootguard(&app, &["db:migrate"], &[]);
    assert_eq!(out.status.code(), Some(3), "{}", combined(&out));
    assert!(combined(&out).contains("does not answer"));
    assert!(app.applied_versions(servers).is_empty(), "a migration ran");
}

#[test]
fn upgrade_runs_pre_and_post_deployment_migrations_directly_around_the_restart() {
    let servers = Servers::shared();
    let db = servers.fresh_database("tg_upg");
    let app = app_with_direct_setting(servers, &db);
    app.write_file(
        "config/initializers/0_post_deployment_migrations.rb",
        POST_DEPLOY_INITIALIZER,
    );
    app.write_file(
        &format!("db/post_migrate/{POST_VERSION}_drop_things_1.rb"),
        &post_migration(),
    );
    let fake = tempfile::tempdir_in(crate::harness::test_base()).unwrap();
    let log = fake.path().join("systemctl.log");
    write_executable(
        &fake.path().join("systemctl"),
        &format!("#!/bin/sh\necho \"$*\" >> '{}'\n", log.display()),
    );
    let path = format!(
        "{}:{}",
        fake.path().display(),
        std::env::var("PATH").unwrap()
    );

    let mut load = Load::holding_lock_server(servers, &db, LOAD_CLIENTS);
    let mut cmd = Command::new(tootguard());
    scrub_env(&mut cmd)
        .env_remove("RAILS_ENV")
        // The backup before the migrations goes to ~/tootguard-backups.
        .env("HOME", fake.path())
        .env("PATH", path)
        .env("NO_COLOR", "1")
        .current_dir(app.dir())
        .args([
            "upgrade",
            "--from",
            "pre-migrate",
            "--skip",
            "precompile",
            "--restart",
            "--yes",
        ]);
    let out = run(&mut cmd, RAILS_TIMEOUT * 2);
    assert!(load.is_running(), "the load ended before the upgrade did");
    drop(load);
    let text = combined(&out);
    assert!(out.status.success(), "upgrade failed:\n{text}");

    let mut expected: Vec<String> = MIGRATION_VERSIONS.iter().map(|v| v.to_string()).collect();
    expected.push(POST_VERSION.to_owned());
    assert_eq!(app.applied_versions(servers), expected, "{text}");
    let routes = app.routes(servers);
    for (version, application_name) in &routes {
        assert!(
            !passed_through_pgbouncer(application_name),
            "migration {version} went through PgBouncer ({application_name:?})"
        );
    }
    let restarts = std::fs::read_to_string(&log).unwrap();
    assert!(restarts.contains("reload mastodon-web"), "{restarts}");
    // The post-deployment migration ran after the restart, not before.
    let stderr = String::from_utf8_lossy(&out.stderr);
    let at = |needle: &str| {
        stderr
            .find(needle)
            .unwrap_or_else(|| panic!("{needle:?} not in:\n{stderr}"))
    };
    assert!(
        at("[7/8] restart ✓") < at("[8/8] post-migrate …"),
        "{stderr}"
    );
    assert!(
        at("[8/8] post-migrate …") < at("Migrating to DropThings1"),
        "{stderr}"
    );
    // Resumed past the backup step, it still took one before migrating,
    // of the database as it was (empty: nothing migrated yet).
    assert!(at("[4/8] backup ✓") < at("[5/8] pre-migrate …"), "{stderr}");
    assert!(fake.path().join("tootguard-backups").is_dir());
}

#[test]
fn a_migration_that_raises_stops_the_upgrade_naming_the_backup_taken_before_it() {
    let servers = Servers::shared();
    let db = servers.fresh_database("tg_boom");
    let app = app_with_direct_setting(servers, &db);
    let first = app.migrate(&[("DB_PORT", &servers.pg_port().to_string())]);
    assert!(first.status.success(), "{}", combined(&first));
    app.write_file(
        "db/migrate/20240301000001_boom.rb",
        "class Boom < ActiveRecord::Migration[6.1]\n  def up\n    raise 'boom'\n  end\nend\n",
    );
    let home = tempfile::tempdir_in(crate::harness::test_base()).unwrap();
    let mut cmd = Command::new(tootguard());
    scrub_env(&mut cmd)
        .env_remove("RAILS_ENV")
        .env("HOME", home.path())
        .env("NO_COLOR", "1")
        .current_dir(app.dir())
        .args([
            "upgrade",
            "--from",
            "backup",
            "--skip",
            "precompile",
            "--restart",
            "--yes",
        ]);
    let out = run(&mut cmd, RAILS_TIMEOUT * 2);
    let text = combined(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("[5/8] pre-migrate ✗"), "{text}");
    assert!(text.contains("boom"), "{text}");
    let backups = home.path().join("tootguard-backups");
    let backup = std::fs::read_dir(&backups)
        .unwrap()
        .next()
        .expect("a backup")
        .unwrap()
        .path();
    let dump = backup.join(format!("{db}.dump"));
    assert!(
        text.contains(&format!(
            "backed up before the migrations, in {}",
            backup.display()
        )),
        "{text}"
    );
    assert!(text.contains(&dump.display().to_string()), "{text}");
    assert!(text.contains("pg_restore -h 127.0.0.1"), "{text}");
    assert!(
        text.contains("Resume with: tootguard upgrade --from pre-migrate"),
        "{text}"
    );
    // The dump holds what was there before the failed migration.
    let listing = run(
        Command::new("pg_restore").arg("--list").arg(&dump),
        Duration::from_secs(30),
    );
    let listing = String::from_utf8_lossy(&listing.stdout);
    assert!(
        listing.contains("TABLE DATA public schema_migrations"),
        "{listing}"
    );
    assert!(listing.contains("TABLE DATA public things_1"), "{listing}");
}
