//! tootguard asking PostgreSQL itself, on real parts (PostgreSQL 15 and
//! PgBouncer 1.18 in transaction mode, the Rails 6.1 app): a pooler found
//! on any port or socket, Rails' migration lock leaked through PgBouncer the
//! way it happens, a migration running, pending migrations, and databases
//! that cannot be asked.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::e2e_support::{
    MIGRATION_VERSIONS, POST_DEPLOY_INITIALIZER, POST_VERSION, RAILS_TIMEOUT, RailsApp, Servers,
    assert_all_direct, combined, post_migration, run, through_shim, through_tootguard,
    tootguard_in,
};

/// Rails' lock key for `db`, computed the way Rails does
/// (`ActiveRecord::Migrator#generate_migrator_advisory_lock_id`:
/// `MIGRATOR_SALT * Zlib.crc32(database_name)`), by Ruby's own Zlib.
fn rails_lock_key(db: &str) -> String {
    let out = run(
        std::process::Command::new("ruby")
            .args(["-rzlib", "-e", "print 2053462845 * Zlib.crc32(ARGV[0])"])
            .arg(db),
        Duration::from_secs(30),
    );
    assert!(out.status.success(), "{}", combined(&out));
    String::from_utf8(out.stdout).unwrap()
}

/// The pids holding an advisory lock in `db`, asked of PostgreSQL directly.
fn lock_pids(servers: &Servers, db: &str) -> Vec<String> {
    servers
        .psql(
            "postgres",
            &format!(
                "SELECT l.pid FROM pg_locks l JOIN pg_database d ON d.oid = l.database \
                 WHERE l.locktype = 'advisory' AND l.granted AND d.datname = '{db}' ORDER BY 1"
            ),
        )
        .lines()
        .map(str::to_owned)
        .collect()
}

/// Leaks Rails' lock the way a failed migration through PgBouncer does:
/// taken in a session through PgBouncer in transaction mode, which then
/// disconnects; the pooled server connection keeps it. Returns its pid.
fn leak_lock_through_pgbouncer(servers: &Servers, db: &str) -> String {
    servers.psql_via_bouncer(
        db,
        &format!("SELECT pg_advisory_lock({})", rails_lock_key(db)),
    );
    let pids = lock_pids(servers, db);
    assert_eq!(pids.len(), 1, "the lock stays on the server connection");
    pids[0].clone()
}

fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    crate::harness::wait_until(Duration::from_secs(20), Duration::from_millis(100), || {
        Ok(done())
    })
    .unwrap_or_else(|_| panic!("waited for {what}"));
}

/// `tootguard doctor --json` in the app: the rows by id.
fn doctor(app: &RailsApp) -> Vec<Value> {
    let mut cmd = tootguard_in(app);
    cmd.args(["doctor", "--json"]);
    let out = run(&mut cmd, RAILS_TIMEOUT);
    serde_json::from_slice::<Value>(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", combined(&out)))
        .as_array()
        .unwrap()
        .clone()
}

fn row<'a>(rows: &'a [Value], id: &str) -> &'a Value {
    rows.iter()
        .find(|r| r["id"] == id)
        .unwrap_or_else(|| panic!("no {id} row: {rows:#?}"))
}

#[track_caller]
fn assert_row(rows: &[Value], id: &str, level: &str, words: &[&str]) {
    let r = row(rows, id);
    assert_eq!(r["level"], level, "{r:#}");
    let message = r["message"].as_str().unwrap();
    for word in words {
        assert!(message.contains(word), "{word:?} not in {r:#}");
    }
}

fn explain_json(app: &RailsApp, args: &[&str]) -> (Value, Duration) {
    let mut cmd = tootguard_in(app);
    cmd.args(["explain", "--json", "rails"]).args(args);
    let started = Instant::now();
    let out = run(&mut cmd, RAILS_TIMEOUT);
    let took = started.elapsed();
    let json =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", combined(&out)));
    (json, took)
}

fn check_message(explained: &Value, id: &str) -> String {
    explained["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == id)
        .unwrap_or_else(|| panic!("no {id} check: {explained:#}"))["message"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[test]
fn a_pooler_on_any_port_or_socket_is_found_by_asking_and_the_migration_goes_direct() {
    let servers = Servers::shared();
    // PgBouncer on a port of its own (not 6432), and nothing in the
    // configuration that hints at it (no PREPARED_STATEMENTS=false).
    for (prefix, host) in [
        ("tg_ask_tcp", "127.0.0.1".to_owned()),
        ("tg_ask_sock", servers.socket_dir().display().to_string()),
    ] {
        let db = servers.fresh_database(prefix);
        let app = RailsApp::behind_bouncer(servers, &db);
        app.write_env_production(&format!(
            "DB_HOST={host}\nDB_PORT={}\nDB_NAME={db}\nDB_USER=postgres\n",
            servers.bouncer_port()
        ));
        let (explained, _) = explain_json(&app, &["db:migrate"]);
        assert_eq!(explained["direct"]["found_by"], "server", "{explained:#}");
        assert_eq!(
            explained["direct"]["port"],
            servers.pg_port(),
            "{explained:#}"
        );
        assert_eq!(explained["direct"]["verified"], true, "{explained:#}");

        // Through the shim, which hands migrations to `tootguard`.
        // The same way there as the configured one: by TCP to PostgreSQL's
        // port, or by its socket in the same directory.
        let direct = if host.starts_with('/') {
            format!("{host} (socket .s.PGSQL.{})", servers.pg_port())
        } else {
            format!("{host}:{}", servers.pg_port())
        };
        assert_eq!(explained["direct"]["host"], host.as_str(), "{explained:#}");
        let out = through_shim(&app, &["db:migrate"]);
        assert_all_direct(&app, servers, &out);
        assert!(
            combined(&out).contains(&format!(
                "migrating directly to PostgreSQL at {direct}, skipping the pooler at"
            )),
            "{}",
            combined(&out)
        );
        assert!(combined(&out).contains("PostgreSQL said where its session is"));

        let rows = doctor(&app);
        assert_row(
            &rows,
            "pooler",
            "ok",
            &[
                "a connection pooler answers at",
                &format!("PostgreSQL itself is at {direct}"),
            ],
        );
        assert_row(&rows, "migration-lock", "ok", &["is free"]);
    }
}

#[test]
fn postgresql_itself_on_an_unusual_port_is_asked_and_left_as_configured() {
    let servers = Servers::shared();
    let db = servers.fresh_database("tg_nopool");
    let app = RailsApp::behind_bouncer(servers, &db);
    app.write_env_production(&format!(
        "DB_HOST=127.0.0.1\nDB_PORT={}\nDB_NAME={db}\nDB_USER=postgres\nPREPARED_STATEMENTS=false\n",
        servers.pg_port()
    ));
    let out = through_tootguard(&app, &["db:migrate"], &[]);
    assert_all_direct(&app, servers, &out);
    // Asked, so no "a pooler is likely" warning for PREPARED_STATEMENTS.
    assert!(!combined(&out).contains("suggests a connection pooler"));
    assert_row(&doctor(&app), "pooler", "ok", &["nothing stands between"]);
}

#[test]
fn a_lock_leaked_through_pgbouncer_is_named_blocks_the_migration_and_reconnect_clears_it() {
    let servers = Servers::shared();
    let db = servers.fresh_database("tg_leak");
    let app = RailsApp::behind_bouncer(servers, &db);
    let pid = leak_lock_through_pgbouncer(servers, &db);

    let rows = doctor(&app);
    assert_row(
        &rows,
        "migration-lock",
        "fail",
        &[
            &format!("pid {pid}"),
            "a PgBouncer server connection whose client no longer owns it",
        ],
    );
    let fix = row(&rows, "migration-lock")["fix"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(fix.contains(&format!("RECONNECT {db}")), "{fix}");

    let out = through_tootguard(&app, &["db:migrate"], &[]);
    assert_eq!(out.status.code(), Some(3), "{}", combined(&out));
    let text = combined(&out);
    assert!(text.contains(&format!("pid {pid}")), "{text}");
    assert!(text.contains(&format!("RECONNECT {db}")), "{text}");
    assert!(!text.contains("Migrating to"), "Rails ran: {text}");
    assert!(app.applied_versions(servers).is_empty());

    // The fix, as given: PgBouncer closes its server connections.
    servers.bouncer_console(&format!("RECONNECT {db}"));
    wait_for("the lock to go with its connection", || {
        lock_pids(servers, &db).is_empty()
    });
    let out = through_tootguard(&app, &["db:migrate"], &[]);
    assert_all_direct(&app, servers, &out);
}

#[test]
fn release_lock_ends_a_pooled_leftover_and_nothing_that_may_be_a_running_migration() {
    let servers = Servers::shared();
    let db = servers.fresh_database("tg_rel");
    let app = RailsApp::behind_bouncer(servers, &db);
    let pid = leak_lock_through_pgbouncer(servers, &db);

    // Without a terminal it asks for --yes, and ends nothing.
    let out = run(tootguard_in(&app).arg("release-lock"), RAILS_TIMEOUT);
    assert_eq!(out.status.code(), Some(2), "{}", combined(&out));
    assert!(combined(&out).contains("--yes"), "{}", combined(&out));
    assert_eq!(lock_pids(servers, &db), std::slice::from_ref(&pid));

    let out = run(
        tootguard_in(&app).args(["release-lock", "--yes"]),
        RAILS_TIMEOUT,
    );
    assert_eq!(out.status.code(), Some(0), "{}", combined(&out));
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.contains(&format!("Ended session {pid}")), "{said}");
    assert!(said.contains("is free"), "{said}");
    assert!(lock_pids(servers, &db).is_empty());
    let out = run(
        tootguard_in(&app).args(["release-lock", "--yes"]),
        RAILS_TIMEOUT,
    );
    assert_eq!(out.status.code(), Some(0), "{}", combined(&out));
    assert!(combined(&out).contains("nothing to release"));

    // A session of its own holding the lock while idle: what a running
    // Rails migration looks like (its lock connection idles while another
    // does the work), so it is never ended, however long it idles.
    let console = servers.idle_psql(
        &db,
        &format!("SELECT pg_advisory_lock({})", rails_lock_key(&db)),
    );
    wait_for("the console to take the lock", || {
        lock_pids(servers, &db).len() == 1
    });
    let idle = lock_pids(servers, &db)[0].clone();
    assert_row(
        &doctor(&app),
        "migration-lock",
        "warn",
        &[
            &format!("pid {idle}"),
            "an idle session",
            "may be a migration running now",
        ],
    );
    let out = run(
        tootguard_in(&app).args(["release-lock", "--yes"]),
        RAILS_TIMEOUT,
    );
    assert_eq!(out.status.code(), Some(3), "{}", combined(&out));
    assert!(
        combined(&out).contains("ends only a lock it can tell is left over"),
        "{}",
        combined(&out)
    );
    assert_eq!(lock_pids(servers, &db), std::slice::from_ref(&idle));
    drop(console);
    wait_for("the console's lock to go with it", || {
        lock_pids(servers, &db).is_empty()
    });

    // A migration running: the lock held by a session busy in a transaction.
    let running = servers.background_psql(
        &db,
        &format!(
            "BEGIN; SELECT pg_advisory_lock({}); SELECT pg_sleep(60)",
            rails_lock_key(&db)
        ),
    );
    wait_for("the running session to take the lock", || {
        lock_pids(servers, &db).len() == 1
    });
    let busy = lock_pids(servers, &db)[0].clone();
    assert_row(
        &doctor(&app),
        "migration-lock",
        "warn",
        &[
            &format!("pid {busy}"),
            "a migration looks to be running now",
        ],
    );
    let out = through_tootguard(&app, &["db:migrate"], &[]);
    assert_eq!(out.status.code(), Some(3), "{}", combined(&out));
    assert!(combined(&out).contains("Wait for it to finish"));
    let out = run(
        tootguard_in(&app).args(["release-lock", "--yes"]),
        RAILS_TIMEOUT,
    );
    assert_eq!(out.status.code(), Some(3), "{}", combined(&out));
    assert!(
        combined(&out).contains("Not ending it"),
        "{}",
        combined(&out)
    );
    assert_eq!(lock_pids(servers, &db), [busy], "the running one was ended");
    drop(running);
}

#[test]
fn pending_migrations_are_counted_on_an_empty_database_after_pre_deployment_and_after_all() {
    let servers = Servers::shared();
    let db = servers.fresh_database("tg_pend");
    let app = RailsApp::behind_bouncer(servers, &db);
    app.write_file(
        "config/initializers/0_post_deployment_migrations.rb",
        POST_DEPLOY_INITIALIZER,
    );
    let post_file = format!("{POST_VERSION}_drop_things_1.rb");
    app.write_file(&format!("db/post_migrate/{post_file}"), &post_migration());
    let pre = MIGRATION_VERSIONS.len();
    let dry_run = || {
        let out = run(
            tootguard_in(&app).args([
                "upgrade",
                "--dry-run",
                "--from",
                "pre-migrate",
                "--skip",
                "precompile",
            ]),
            RAILS_TIMEOUT,
        );
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        // The post-migrate step starts at its header line.
        let at = text
            .find(" post-migrate\n")
            .unwrap_or_else(|| panic!("{text}"));
        let (pre_part, post_part) = text.split_at(at);
        (pre_part.to_owned(), post_part.to_owned())
    };

    assert_row(
        &doctor(&app),
        "migrations",
        "warn",
        &[
            "no migrations applied",
            &format!("{pre} pre-deployment (db/migrate) and 1 post-deployment"),
        ],
    );
    let (pre_step, post_step) = dry_run();
    assert!(
        pre_step.contains(&format!(
            "applies {pre} migrations: {}_create_things_1.rb",
            MIGRATION_VERSIONS[0]
        )),
        "{pre_step}"
    );
    assert!(
        post_step.contains(&format!("applies 1 migration: {post_file}")),
        "{post_step}"
    );

    let out = through_tootguard(
        &app,
        &["db:migrate"],
        &[("SKIP_POST_DEPLOYMENT_MIGRATIONS", "true")],
    );
    assert!(out.status.success(), "{}", combined(&out));
    let rows = doctor(&app);
    assert_row(
        &rows,
        "migrations",
        "warn",
        &[
            "post-deployment migrations never ran",
            "0 pre-deployment (db/migrate) and 1 post-deployment",
        ],
    );
    let fix = row(&rows, "migrations")["fix"].as_str().unwrap().to_owned();
    assert!(
        fix.contains("tootguard upgrade --from post-migrate"),
        "{fix}"
    );
    let (pre_step, post_step) = dry_run();
    assert!(pre_step.contains("applies nothing"), "{pre_step}");
    assert!(
        post_step.contains(&format!("applies 1 migration: {post_file}")),
        "{post_step}"
    );

    let out = through_tootguard(&app, &["db:migrate"], &[]);
    assert!(out.status.success(), "{}", combined(&out));
    assert_row(
        &doctor(&app),
        "migrations",
        "ok",
        &[&format!(
            "every migration of this checkout is applied ({pre} pre-deployment, 1 post-deployment)"
        )],
    );

    // A database migrated by a newer release than this checkout.
    servers.psql(
        &db,
        "INSERT INTO schema_migrations (version) VALUES ('29990101000000')",
    );
    assert_row(
        &doctor(&app),
        "migrations",
        "warn",
        &["newer than any in this checkout (newest 29990101000000)"],
    );
}

const RIGHT_PASSWORD: &str = "right-horse-battery-0123456789";
const WRONG_PASSWORD: &str = "wrong-horse-battery-0123456789";

/// A role that must give a password (the test cluster trusts every other
/// one), made once per test process.
fn password_role(servers: &Servers) -> &'static str {
    static MADE: OnceLock<()> = OnceLock::new();
    MADE.get_or_init(|| {
        servers.psql(
            "postgres",
            &format!(
                "DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'tg_pw') \
                 THEN CREATE ROLE tg_pw LOGIN PASSWORD '{RIGHT_PASSWORD}'; END IF; END $$"
            ),
        );
        let hba = servers.base_dir().join("data/pg_hba.conf");
        let rules = std::fs::read_to_string(&hba).unwrap();
        std::fs::write(
            &hba,
            format!("host all tg_pw 127.0.0.1/32 scram-sha-256\n{rules}"),
        )
        .unwrap();
        servers.psql("postgres", "SELECT pg_reload_conf()");
    });
    "tg_pw"
}

#[test]
fn a_database_that_cannot_be_asked_leaves_the_decision_to_the_port_and_says_why() {
    let servers = Servers::shared();
    let db = servers.fresh_database("tg_noask");
    let app = RailsApp::behind_bouncer(servers, &db);
    let user = password_role(servers);
    let setup = |port: u16, password: &str| {
        app.write_env_production(&format!(
            "DB_HOST=127.0.0.1\nDB_PORT={port}\nDB_NAME={db}\nDB_USER={user}\nDB_PASS={password}\n\
             PREPARED_STATEMENTS=false\n"
        ));
    };
    // Connections wait in its backlog, unanswered.
    let (_silent, silent_port) = crate::harness::tcp_listener();
    let closed = crate::harness::ClosedPort::new();
    let cases: [(u16, &str, &str); 4] = [
        (
            servers.pg_port(),
            WRONG_PASSWORD,
            "password authentication failed",
        ),
        (
            servers.pg_port(),
            "$(cat /etc/mastodon-db-password)",
            "computed by a shell command",
        ),
        (closed.port, WRONG_PASSWORD, "cannot connect"),
        (
            silent_port,
            WRONG_PASSWORD,
            "no PostgreSQL answer within 5 s",
        ),
    ];
    for (port, password, why) in cases {
        setup(port, password);
        let (explained, took) = explain_json(&app, &["db:migrate"]);
        let text = explained.to_string();
        assert!(took < Duration::from_secs(15), "explain took {took:?}");
        let message = check_message(&explained, "pgbouncer");
        assert!(
            message.contains("the database could not be asked") && message.contains(why),
            "{why:?}: {message}"
        );
        // The port decided: not PgBouncer's, so a pooler is only suspected.
        assert!(
            message.contains("suggests a connection pooler"),
            "{message}"
        );
        assert!(explained["direct"].is_null(), "{explained:#}");
        assert!(!text.contains(WRONG_PASSWORD), "a password in {text}");

        let started = Instant::now();
        let mut cmd = tootguard_in(&app);
        cmd.args(["doctor", "--json"]);
        let out = run(&mut cmd, RAILS_TIMEOUT);
        assert!(started.elapsed() < Duration::from_secs(15));
        let all = combined(&out);
        assert!(!all.contains(WRONG_PASSWORD), "a password in {all}");
        let rows: Vec<Value> = serde_json::from_slice::<Value>(&out.stdout)
            .unwrap()
            .as_array()
            .unwrap()
            .clone();
        if port == closed.port {
            assert_row(&rows, "database", "fail", &["nothing answers"]);
            continue;
        }
        assert_row(&rows, "pooler", "warn", &["by the port", why]);
        assert_row(
            &rows,
            "migration-lock",
            "warn",
            &["could not be asked", why],
        );
        assert_row(&rows, "migrations", "warn", &["could not be asked"]);
    }

    // With the right password it asks, and finds PostgreSQL itself.
    setup(servers.pg_port(), RIGHT_PASSWORD);
    let (explained, _) = explain_json(&app, &["db:migrate"]);
    let message = check_message(&explained, "pgbouncer");
    assert!(message.contains("PostgreSQL itself answers"), "{message}");
    assert!(!explained.to_string().contains(RIGHT_PASSWORD));
    // A role that is no superuser gets every answer too.
    let rows = doctor(&app);
    assert_row(&rows, "pooler", "ok", &["nothing stands between"]);
    assert_row(&rows, "migration-lock", "ok", &["is free"]);
    assert_row(&rows, "migrations", "warn", &["no migrations applied"]);
    assert!(
        !serde_json::to_string(&rows)
            .unwrap()
            .contains(RIGHT_PASSWORD)
    );
}

/// A migration that takes `seconds`, as the app's seventh.
const SLOW_VERSION: &str = "20240101000007";

fn slow_migration(seconds: u32) -> String {
    format!(
        "class Slow < ActiveRecord::Migration[6.1]\n  def up\n    execute 'SELECT pg_sleep({seconds})'\n  end\nend\n"
    )
}

#[test]
fn a_real_rails_migration_running_is_reported_as_running_and_never_ended() {
    let servers = Servers::shared();
    let db = servers.fresh_database("tg_run");
    let app = RailsApp::behind_bouncer(servers, &db);
    app.write_file(
        &format!("db/migrate/{SLOW_VERSION}_slow.rb"),
        &slow_migration(20),
    );
    // Rails 6.1 takes its lock on a connection of its own, idle while the
    // migration runs on another.
    let mut migration = tootguard_in(&app);
    migration
        .args(["rails", "db:migrate"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    let mut migration = migration.spawn().unwrap();
    wait_for("Rails to take its lock", || {
        lock_pids(servers, &db).len() == 1
    });
    let holder = lock_pids(servers, &db)[0].clone();
    let state = servers.psql(
        "postgres",
        &format!("SELECT state FROM pg_stat_activity WHERE pid = {holder}"),
    );
    assert_eq!(
        state, "idle",
        "Rails' lock connection idles while it migrates"
    );

    assert_row(
        &doctor(&app),
        "migration-lock",
        "warn",
        &[
            &format!("pid {holder}"),
            "a migration looks to be running now",
            "A migration runs on this machine",
        ],
    );
    let out = through_tootguard(&app, &["db:migrate"], &[]);
    assert_eq!(out.status.code(), Some(3), "{}", combined(&out));
    assert!(combined(&out).contains("Wait for it to finish"));
    let out = run(
        tootguard_in(&app).args(["release-lock", "--yes"]),
        RAILS_TIMEOUT,
    );
    assert_eq!(out.status.code(), Some(3), "{}", combined(&out));
    assert!(
        combined(&out).contains("Not ending it"),
        "{}",
        combined(&out)
    );
    assert_eq!(lock_pids(servers, &db), std::slice::from_ref(&holder));

    // Left alone, it completes.
    let status = migration.wait().unwrap();
    assert!(status.success(), "the running migration failed: {status}");
    let mut applied: Vec<String> = MIGRATION_VERSIONS.iter().map(|v| v.to_string()).collect();
    applied.push(SLOW_VERSION.to_owned());
    assert_eq!(app.applied_versions(servers), applied);
    assert!(lock_pids(servers, &db).is_empty());
}

#[test]
fn direct_settings_that_name_the_pooler_are_refused_and_credentials_alone_go_to_the_server_found() {
    let servers = Servers::shared();
    let db = servers.fresh_database("tg_setpool");
    let app = RailsApp::behind_bouncer(servers, &db);
    let base = app.default_env_production();

    // The "direct" port is PgBouncer's own.
    app.write_env_production(&format!(
        "{base}TOOTGUARD_DIRECT_DB_PORT={}\n",
        servers.bouncer_port()
    ));
    let out = through_tootguard(&app, &["db:migrate"], &[]);
    assert_eq!(out.status.code(), Some(3), "{}", combined(&out));
    assert!(
        combined(&out).contains("is a connection pooler too"),
        "{}",
        combined(&out)
    );
    assert!(app.applied_versions(servers).is_empty());

    // Credentials alone: the endpoint is the one PostgreSQL names.
    app.write_env_production(&format!("{base}TOOTGUARD_DIRECT_DB_USER=postgres\n"));
    let (explained, _) = explain_json(&app, &["db:migrate"]);
    assert_eq!(explained["direct"]["found_by"], "server", "{explained:#}");
    assert_eq!(
        explained["direct"]["port"],
        servers.pg_port(),
        "{explained:#}"
    );
    let out = through_tootguard(&app, &["db:migrate"], &[]);
    assert_all_direct(&app, servers, &out);
}
