//! Proves the end-to-end harness and the phenomenon tootguard exists for:
//! `db:migrate` through PgBouncer in transaction mode under load fails on
//! Rails' advisory lock, and the same migration straight to PostgreSQL works.
//! No tootguard here: these are the controls for the tootguard e2e tests.

use std::time::Instant;

use crate::e2e_support::{
    Load, MIGRATION_VERSIONS, RailsApp, Servers, assert_all_direct, combined,
    migrate_through_pgbouncer_until_it_fails, passed_through_pgbouncer,
};

const LOAD_CLIENTS: u32 = 8;

/// Rails' release-time failure (not the acquire-time "another migration
/// process is currently running", which a fresh database rules out).
fn lock_failure_in(output: &str) -> bool {
    output.contains("ConcurrentMigrationError")
        && output.contains("Failed to release advisory lock")
}

#[test]
fn migration_through_pgbouncer_under_load_fails_with_advisory_lock_error() {
    let servers = Servers::shared();
    let t = Instant::now();
    let out = match migrate_through_pgbouncer_until_it_fails(servers, "e2e_fail", 3, LOAD_CLIENTS) {
        Ok(out) => out,
        Err(outputs) => panic!(
            "db:migrate through PgBouncer under load succeeded {} times; the tootguard e2e \
             tests could never fail:\n{}\nPgBouncer log:\n{}",
            outputs.len(),
            combined(outputs.last().unwrap()),
            servers.bouncer_log_tail(30)
        ),
    };
    let took = t.elapsed();
    let text = combined(&out);
    assert!(
        lock_failure_in(&text),
        "db:migrate failed ({}), but not on the advisory lock:\n{text}",
        out.status
    );
    eprintln!(
        "e2e: through PgBouncer under load: {} after {took:.1?} (PostgreSQL warning {})",
        out.status,
        if text.contains("you don't own a lock of type ExclusiveLock") {
            "present"
        } else {
            "absent"
        }
    );
}

#[test]
fn direct_migration_under_load_applies_every_migration_and_records_no_pgbouncer_route() {
    let servers = Servers::shared();

    // Under the same load, DB_PORT=<PostgreSQL> in the environment beats
    // .env.production's PgBouncer port.
    let db = servers.fresh_database("e2e_direct");
    let app = RailsApp::behind_bouncer(servers, &db);
    let mut load = Load::holding_lock_server(servers, &db, LOAD_CLIENTS);
    let pg_port = servers.pg_port().to_string();
    let out = app.migrate(&[("DB_PORT", &pg_port)]);
    assert!(
        load.is_running(),
        "the load stopped before the migration ended"
    );
    drop(load);
    assert_all_direct(&app, servers, &out);

    // The marker works: through PgBouncer with no load, every row carries
    // PgBouncer's ` - host:port` suffix.
    let db = servers.fresh_database("e2e_marker");
    let app = RailsApp::behind_bouncer(servers, &db);
    let out = app.migrate(&[]);
    assert!(
        out.status.success(),
        "db:migrate through an idle PgBouncer failed ({}):\n{}",
        out.status,
        combined(&out)
    );
    assert_eq!(app.applied_versions(servers), MIGRATION_VERSIONS);
    let routes = app.routes(servers);
    assert_eq!(routes.len(), MIGRATION_VERSIONS.len(), "{routes:?}");
    for (version, app_name) in &routes {
        assert!(
            passed_through_pgbouncer(app_name),
            "migration {version} through PgBouncer has no PgBouncer suffix: {app_name:?}"
        );
    }
}

#[test]
fn database_url_in_the_environment_beats_env_production_like_in_mastodon() {
    let servers = Servers::shared();
    let db = servers.fresh_database("e2e_url");
    let app = RailsApp::behind_bouncer(servers, &db);
    let url = format!("postgres://postgres@127.0.0.1:{}/{db}", servers.pg_port());
    let out = app.migrate(&[("DATABASE_URL", &url)]);
    assert_all_direct(&app, servers, &out);
}

/// Not a control, a measurement: with a plain `SELECT 1` load the failure is
/// likely, not certain (the unlock lands on the lock's own server connection
/// about once per pool-size runs). Run with `--ignored` to see the rate.
#[test]
#[ignore = "measurement, ~40 s"]
fn plain_select_load_makes_most_migrations_through_pgbouncer_fail() {
    const RUNS: usize = 10;
    let servers = Servers::shared();
    let mut failures = 0;
    for run in 0..RUNS {
        let db = servers.fresh_database("e2e_rate");
        let app = RailsApp::behind_bouncer(servers, &db);
        let load = Load::start(servers, &db, LOAD_CLIENTS);
        let t = Instant::now();
        let out = app.migrate(&[]);
        drop(load);
        let failed = !out.status.success() && lock_failure_in(&combined(&out));
        failures += usize::from(failed);
        eprintln!(
            "e2e: plain load run {run}: {} in {:.1?}",
            if failed { "lock error" } else { "succeeded" },
            t.elapsed()
        );
    }
    eprintln!("e2e: plain SELECT 1 load: {failures}/{RUNS} migrations failed");
    assert!(
        failures * 2 >= RUNS,
        "only {failures}/{RUNS} failed under plain load"
    );
}
