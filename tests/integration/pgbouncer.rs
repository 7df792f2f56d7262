//! The PgBouncer bypass on a fake root: detection, the environment the child
//! gets, DATABASE_URL rewriting, refusals. The real PostgreSQL + PgBouncer +
//! Rails proof is in `e2e_pgbouncer.rs`.

use std::fs;

use crate::harness::{ClosedPort, NotPostgres, RAILS_ENV_NOTICE, World};

/// A port something answers on, kept open for the test's life.
fn listener() -> (NotPostgres, u16) {
    let l = NotPostgres::tcp();
    let port = l.port;
    (l, port)
}

/// A port nothing answers on (for as long as the test runs: the guard is
/// leaked on purpose, so no parallel test takes the port).
fn closed_port() -> u16 {
    let closed = ClosedPort::new();
    let port = closed.port;
    std::mem::forget(closed);
    port
}

fn env_production(w: &World, text: &str) {
    fs::write(w.root.join(".env.production"), text).unwrap();
}

fn check(json: &serde_json::Value, id: &str) -> serde_json::Value {
    crate::harness::row(&json["checks"], id)
}

#[test]
fn a_migration_behind_pgbouncer_goes_to_the_configured_direct_endpoint() {
    let w = World::production();
    let (_pg, port) = listener();
    env_production(
        &w,
        &format!(
            "DB_HOST=127.0.0.1\nDB_PORT=6432\nPREPARED_STATEMENTS=false\n\
             TOOTGUARD_DIRECT_DB_PORT={port}\n"
        ),
    );
    let out = w.cmd(w.shim("rails")).arg("db:migrate").run();
    out.expect_code(0).expect_stderr_is(
        &w.normaliser().with(port, "[PORT]"),
        &format!(
            "{RAILS_ENV_NOTICE}tootguard: migrating directly to PostgreSQL at 127.0.0.1:[PORT], \
             skipping PgBouncer at 127.0.0.1:6432\n"
        ),
    );
    assert_eq!(w.recorded_env("rails", "DB_PORT"), Some(port.to_string()));
    assert_eq!(
        w.recorded_env("rails", "RAILS_ENV").as_deref(),
        Some("production")
    );
}

#[test]
fn every_migration_task_is_guarded_wherever_it_appears() {
    for task in [
        "db:migrate:up",
        "db:migrate:down",
        "db:migrate:redo",
        "db:rollback",
        "db:forward",
        "db:prepare",
        "db:setup",
        "db:schema:load",
        "mastodon:setup",
    ] {
        let w = World::production();
        let (_pg, port) = listener();
        env_production(
            &w,
            &format!("DB_PORT=6432\nTOOTGUARD_DIRECT_DB_PORT={port}\n"),
        );
        w.cmd(w.shim("rake"))
            .args(["tmp:cache:clear", task, "VERSION=1"])
            .run()
            .expect_code(0);
        assert_eq!(
            w.recorded_env("rake", "DB_PORT"),
            Some(port.to_string()),
            "{task}"
        );
    }
}

#[test]
fn port_6432_means_pgbouncer_in_front_of_postgresql_on_5432() {
    let w = World::production();
    env_production(&w, "DB_HOST=127.0.0.1\nDB_PORT=6432\n");
    let json = w
        .tootguard()
        .args(["explain", "--json", "rails", "db:migrate"])
        .run()
        .json();
    assert_eq!(
        json["database"],
        serde_json::json!({"host": "127.0.0.1", "port": 6432, "name": "mastodon_production",
                           "user": "mastodon", "via_url": false})
    );
    // Nothing answers on 6432 here, so the port decided, unverified.
    assert_eq!(
        json["direct"],
        serde_json::json!({"host": "127.0.0.1", "port": 5432, "found_by": "port",
                           "verified": false})
    );
}

#[test]
fn an_unreachable_direct_endpoint_blocks_the_migration_before_it_starts() {
    let w = World::production();
    let port = closed_port();
    env_production(
        &w,
        &format!("DB_PORT=6432\nTOOTGUARD_DIRECT_DB_PORT={port}\n"),
    );
    let out = w.cmd(w.shim("rails")).arg("db:migrate").run();
    out.expect_code(3).expect_stderr_is(
        &w.normaliser().with(port, "[PORT]"),
        &format!(
            "{RAILS_ENV_NOTICE}tootguard: error: the migration must not go through PgBouncer \
             (localhost:6432), and PostgreSQL's direct endpoint localhost:[PORT] does not answer \
             (tried TCP 127.0.0.1:[PORT]: Connection refused (os error 111)). Not running the \
             migration. Start PostgreSQL, or tell tootguard where it listens: set \
             TOOTGUARD_DIRECT_DB_HOST and TOOTGUARD_DIRECT_DB_PORT (and \
             TOOTGUARD_DIRECT_DB_USER/TOOTGUARD_DIRECT_DB_PASS when PgBouncer's users are not \
             PostgreSQL roles) in the environment or in .env.production.\n"
        ),
    );
    assert!(!w.ran("rails"), "never fall back to PgBouncer");
}

#[test]
fn a_socket_directory_is_checked_by_its_socket_file() {
    let w = World::production();
    let dir = w.base().join("run");
    fs::create_dir_all(&dir).unwrap();
    let _socket = crate::harness::unix_listener(&dir.join(".s.PGSQL.5432"));
    env_production(&w, &format!("DB_HOST={}\nDB_PORT=6432\n", dir.display()));
    w.cmd(w.shim("rails"))
        .arg("db:migrate")
        .run()
        .expect_code(0);
    assert_eq!(w.recorded_env("rails", "DB_PORT").as_deref(), Some("5432"));
    assert_eq!(
        w.recorded_env("rails", "DB_HOST"),
        None,
        "the host is unchanged"
    );

    let other = w.base().join("empty");
    fs::create_dir_all(&other).unwrap();
    env_production(&w, &format!("DB_HOST={}\nDB_PORT=6432\n", other.display()));
    w.cmd(w.shim("rails"))
        .arg("db:migrate")
        .run()
        .expect_code(3)
        .expect_stderr(".s.PGSQL.5432");
}

#[test]
fn database_url_gets_only_its_host_and_port_rewritten_and_no_password_is_shown() {
    let w = World::production();
    let (_pg, port) = listener();
    let url = "postgres://mastodon:s%3Acr%40t%2Fpw@localhost:6432/mastodon_production?sslmode=disable&application_name=web";
    env_production(
        &w,
        &format!(
            "DATABASE_URL={url}\nTOOTGUARD_DIRECT_DB_HOST=127.0.0.1\nTOOTGUARD_DIRECT_DB_PORT={port}\n"
        ),
    );
    let out = w.cmd(w.shim("rails")).arg("db:migrate").run();
    out.expect_code(0);
    assert_eq!(
        w.recorded_env("rails", "DATABASE_URL"),
        Some(format!(
            "postgres://mastodon:s%3Acr%40t%2Fpw@127.0.0.1:{port}/mastodon_production?sslmode=disable&application_name=web"
        ))
    );
    assert!(!out.stderr.contains("s%3Acr") && !out.stderr.contains("s:cr@t/pw"));

    let explain = w
        .tootguard()
        .args(["explain", "--json", "rails", "db:migrate"])
        .run();
    assert!(
        !explain.stdout.contains("s%3Acr") && !explain.stdout.contains("s:cr@t/pw"),
        "{}",
        explain.stdout
    );
    let json = explain.json();
    assert_eq!(json["database"]["via_url"], true);
    assert_eq!(json["database"]["port"], 6432);
    assert!(
        json["env"]["DATABASE_URL"]
            .as_str()
            .unwrap()
            .contains("***")
    );
}

#[test]
fn a_direct_user_and_password_are_given_to_the_child_but_never_printed() {
    let w = World::production();
    let (_pg, port) = listener();
    env_production(
        &w,
        &format!(
            "DB_PORT=6432\nDB_USER=bouncer\nDB_PASS=pooled-secret\nTOOTGUARD_DIRECT_DB_PORT={port}\n\
             TOOTGUARD_DIRECT_DB_USER=mastodon\nTOOTGUARD_DIRECT_DB_PASS=direct-secret\n"
        ),
    );
    let out = w.cmd(w.shim("rails")).arg("db:migrate").run();
    out.expect_code(0);
    assert_eq!(
        w.recorded_env("rails", "DB_USER").as_deref(),
        Some("mastodon")
    );
    assert_eq!(
        w.recorded_env("rails", "DB_PASS").as_deref(),
        Some("direct-secret")
    );
    let explain = w.tootguard().args(["explain", "rails", "db:migrate"]).run();
    let json = w
        .tootguard()
        .args(["explain", "--json", "rails", "db:migrate"])
        .run();
    for text in [&out.stderr, &explain.stdout, &json.stdout] {
        assert!(
            !text.contains("direct-secret") && !text.contains("pooled-secret"),
            "{text}"
        );
    }
    assert_eq!(json.json()["env"]["DB_PASS"], "***");
}

#[test]
fn the_environment_beats_the_env_file_like_in_mastodon() {
    let w = World::production();
    env_production(&w, "DB_PORT=6432\n");
    let json = w
        .tootguard()
        .args(["explain", "--json", "rails", "db:migrate"])
        .env("DB_PORT", "5433")
        .run()
        .json();
    assert_eq!(json["database"]["port"], 5433);
    assert_eq!(json["direct"], serde_json::Value::Null);
}

#[test]
fn a_rake_argument_pointing_at_pgbouncer_is_refused() {
    let w = World::production();
    let (_pg, port) = listener();
    env_production(&w, &format!("TOOTGUARD_DIRECT_DB_PORT={port}\n"));
    let out = w
        .cmd(w.shim("rails"))
        .args(["db:migrate", "DB_PORT=6432"])
        .run();
    out.expect_code(3).expect_stderr_is(
        &w.normaliser().with(port, "[PORT]"),
        &format!(
            "{RAILS_ENV_NOTICE}tootguard: error: the argument DB_PORT=6432 points the migration \
             at PgBouncer (localhost:6432); Rake applies it after tootguard's changes, so the \
             migration would go through PgBouncer. Not running it. Drop the argument (tootguard \
             sends the migration to localhost:[PORT]), or give the direct endpoint instead.\n"
        ),
    );
    assert!(!w.ran("rails"));
}

#[test]
fn a_rake_argument_with_the_direct_port_needs_no_bypass() {
    let w = World::production();
    env_production(&w, "DB_PORT=6432\n");
    let out = w
        .cmd(w.shim("rails"))
        .args(["db:migrate", "DB_PORT=5432"])
        .run();
    out.expect_code(0);
    assert_eq!(
        w.recorded_args("rails").unwrap(),
        vec![b"db:migrate".to_vec(), b"DB_PORT=5432".to_vec()]
    );
    assert_eq!(w.recorded_env("rails", "DB_PORT"), None);
}

#[test]
fn a_database_port_computed_by_a_shell_command_is_not_guessed() {
    let w = World::production();
    let marker = w.base().join("executed");
    env_production(
        &w,
        &format!(
            "DB_HOST=localhost\nDB_PORT=$(touch {} && echo 6432)\n",
            marker.display()
        ),
    );
    let out = w.cmd(w.shim("rails")).arg("db:migrate").run();
    out.expect_code(3).expect_stderr_is(
        &w.normaliser(),
        &format!(
            "{RAILS_ENV_NOTICE}tootguard: error: DB_PORT ([BASE]/live/.env.production line 2) is \
             computed by a shell command `$(…)`; tootguard never runs commands from .env files, \
             so it cannot know the value Mastodon would use. Write the value literally, or set \
             DB_PORT in the environment for this command. Not running the migration. tootguard does not guess where a migration should go: fix what the message names, then run the command again.\n"
        ),
    );
    assert!(!marker.exists(), "$(command) must never run");
    assert!(!w.ran("rails"));
}

#[test]
fn a_malformed_database_line_blocks_with_file_and_line() {
    let w = World::production();
    env_production(&w, "LOCAL_DOMAIN=example.test\nDB_PORT 6432\n");
    let out = w.cmd(w.shim("rails")).arg("db:migrate").run();
    out.expect_code(3).expect_stderr_is(
        &w.normaliser(),
        &format!(
            "{RAILS_ENV_NOTICE}tootguard: error: cannot read Mastodon's configuration to find the \
             database: [BASE]/live/.env.production line 2 looks like a setting for DB_PORT but is \
             not in a form dotenv reads (`DB_PORT=value`), so Mastodon would silently ignore it; \
             tootguard will not guess what you meant. Fix the line, or comment it out with \
             `#`. Not running the migration. tootguard does not guess where a migration should go: fix what the message names, then run the command again.\n"
        ),
    );
    assert!(!w.ran("rails"));
}

#[test]
fn an_env_file_that_is_not_utf8_blocks_with_file_and_line() {
    let w = World::production();
    fs::write(w.root.join(".env.production"), b"A=1\nDB_PORT=64\xff32\n").unwrap();
    let out = w.cmd(w.shim("rails")).arg("db:migrate").run();
    out.expect_code(3).expect_stderr_is(
        &w.normaliser(),
        &format!(
            "{RAILS_ENV_NOTICE}tootguard: error: cannot read Mastodon's configuration to find the \
             database: [BASE]/live/.env.production line 2 is not valid UTF-8: Mastodon's dotenv \
             stops at boot with \"invalid byte sequence in UTF-8\"; save the file as \
             UTF-8. Not running the migration. tootguard does not guess where a migration should go: fix what the message names, then run the command again.\n"
        ),
    );
}

#[test]
fn an_env_file_that_is_a_directory_blocks_with_its_name() {
    let w = World::production();
    fs::create_dir_all(w.root.join(".env.production.local")).unwrap();
    let out = w.cmd(w.shim("rails")).arg("db:migrate").run();
    out.expect_code(3).expect_stderr_is(
        &w.normaliser(),
        &format!(
            "{RAILS_ENV_NOTICE}tootguard: error: cannot read Mastodon's configuration to find the \
             database: [BASE]/live/.env.production.local is a directory, not a dotenv file. \
             Mastodon's dotenv skips it without a word, which hides whatever you meant to \
             configure there; remove or rename it. Not running the migration. tootguard does not guess where a migration should go: fix what the message names, then run the command again.\n"
        ),
    );
}

#[test]
fn commands_that_need_no_database_do_not_read_the_env_files() {
    let w = World::production();
    fs::write(w.root.join(".env.production"), b"DB_PORT=\xff\n").unwrap();
    w.cmd(w.shim("tootctl")).arg("version").run().expect_code(0);
    w.cmd(w.shim("rails"))
        .arg("db:version")
        .run()
        .expect_code(0);
}

#[test]
fn prepared_statements_false_on_another_port_warns_that_a_pooler_is_likely() {
    let w = World::production();
    env_production(
        &w,
        "DB_HOST=127.0.0.1\nDB_PORT=5433\nPREPARED_STATEMENTS=false\n",
    );
    let out = w.cmd(w.shim("rails")).arg("db:migrate").run();
    out.expect_code(0)
        .expect_stderr("warning:")
        .expect_stderr("TOOTGUARD_DIRECT_DB_PORT");
    assert_eq!(w.recorded_env("rails", "DB_PORT"), None);
}

#[test]
fn skip_post_deployment_migrations_false_warns_that_it_still_skips() {
    for value in ["false", "0", "no", ""] {
        let w = World::production();
        env_production(&w, "DB_PORT=5432\n");
        let out = w
            .cmd(w.shim("rails"))
            .arg("db:migrate")
            .env("SKIP_POST_DEPLOYMENT_MIGRATIONS", value)
            .run();
        out.expect_code(0).expect_stderr_is(
            &w.normaliser(),
            &format!(
                "{RAILS_ENV_NOTICE}tootguard: warning: SKIP_POST_DEPLOYMENT_MIGRATIONS is set to \
                 \"{value}\" (the environment), but Mastodon treats any value as \"skip\": the \
                 post-deployment migrations will not run. To run them, remove the variable \
                 (`unset SKIP_POST_DEPLOYMENT_MIGRATIONS`, or delete it from the file).\n"
            ),
        );
    }
    let w = World::production();
    let out = w
        .cmd(w.shim("rails"))
        .arg("db:migrate")
        .env("SKIP_POST_DEPLOYMENT_MIGRATIONS", "true")
        .run();
    assert!(!out.stderr.contains("warning"), "{}", out.stderr);
}

#[test]
fn explain_shows_the_pgbouncer_check_and_the_change() {
    let w = World::production();
    let (_pg, port) = listener();
    env_production(
        &w,
        &format!("DB_PORT=6432\nTOOTGUARD_DIRECT_DB_PORT={port}\n"),
    );
    let json = w
        .tootguard()
        .args(["explain", "--json", "rails", "db:migrate"])
        .run()
        .json();
    assert_eq!(check(&json, "pgbouncer")["level"], "notice");
    assert_eq!(json["env"]["DB_PORT"], port.to_string());
    assert_eq!(json["direct"]["port"], port);
    assert!(!w.ran("rails"));
}

#[test]
fn a_password_computed_by_a_command_does_not_stop_the_bypass() {
    // Only host and port decide where a migration goes.
    let w = World::production();
    let (_pg, port) = listener();
    env_production(
        &w,
        &format!(
            "DB_HOST=127.0.0.1\nDB_PORT=6432\nDB_PASS=$(cat /etc/pw)\nDB_NAME=\n\
             TOOTGUARD_DIRECT_DB_PORT={port}\n"
        ),
    );
    w.cmd(w.shim("rails"))
        .arg("db:migrate")
        .run()
        .expect_code(0);
    assert_eq!(w.recorded_env("rails", "DB_PORT"), Some(port.to_string()));
}

#[test]
fn a_direct_password_alone_is_given_to_the_child() {
    let w = World::production();
    let (_pg, port) = listener();
    env_production(
        &w,
        &format!("DB_PORT={port}\nTOOTGUARD_DIRECT_DB_PASS=direct-only-secret\n"),
    );
    let out = w.cmd(w.shim("rails")).arg("db:migrate").run();
    out.expect_code(0);
    assert_eq!(
        w.recorded_env("rails", "DB_PASS").as_deref(),
        Some("direct-only-secret")
    );
    assert!(!out.stderr.contains("direct-only-secret"));
}

#[test]
fn a_port_chosen_on_the_command_line_needs_no_pooler_warning() {
    // `DB_PORT=5432 rails db:migrate`, as Mastodon's docs say to do by hand.
    let w = World::production();
    env_production(
        &w,
        "DB_HOST=127.0.0.1\nDB_PORT=6432\nPREPARED_STATEMENTS=false\n",
    );
    let out = w
        .cmd(w.shim("rails"))
        .arg("db:migrate")
        .env("DB_PORT", "5433")
        .run();
    out.expect_code(0);
    assert!(!out.stderr.contains("warning"), "{}", out.stderr);
}

#[test]
fn an_empty_direct_password_leaves_the_database_password_alone() {
    let w = World::production();
    let (_pg, port) = listener();
    env_production(
        &w,
        &format!(
            "DB_PORT=6432\nDB_PASS=secretpw\nTOOTGUARD_DIRECT_DB_PORT={port}\nTOOTGUARD_DIRECT_DB_PASS=\n"
        ),
    );
    w.cmd(w.shim("rails"))
        .arg("db:migrate")
        .run()
        .expect_code(0);
    // Not in the child's environment: Mastodon's dotenv reads it from the file.
    assert_eq!(w.recorded_env("rails", "DB_PASS"), None);
    assert_eq!(w.recorded_env("rails", "DB_PORT"), Some(port.to_string()));
}

#[test]
fn a_shim_without_tootguard_beside_it_refuses_migrations_and_runs_the_rest() {
    let w = World::production();
    let (_pg, port) = listener();
    env_production(
        &w,
        &format!("DB_HOST=127.0.0.1\nDB_PORT=6432\nTOOTGUARD_DIRECT_DB_PORT={port}\n"),
    );
    // The shim binary alone: a copy in a directory of its own.
    let alone = w.base().join("alone");
    fs::create_dir_all(&alone).unwrap();
    fs::copy(crate::harness::shim_binary(), alone.join("tootguard-shim")).unwrap();
    std::os::unix::fs::symlink("tootguard-shim", alone.join("rails")).unwrap();
    let out = w.cmd(alone.join("rails")).arg("db:migrate").run();
    out.expect_code(127).expect_stderr_is(
        &w.normaliser(),
        "tootguard: error: a migration is guarded by the `tootguard` program (it asks PostgreSQL \
         where the migration may go), and there is none beside [BASE]/alone/tootguard-shim. Not \
         running the migration. Reinstall tootguard: both programs come together (`cargo install \
         --path .`, or the package).\n",
    );
    assert!(!w.ran("rails"), "a migration ran unguarded");
    // Everything else needs no database client.
    w.cmd(alone.join("rails"))
        .arg("db:version")
        .run()
        .expect_code(0);
    assert!(w.ran("rails"));
}
