//! doctor's rows for what the checked-out version requires, read from the
//! checkout itself: `postgresql-version` (the minimum `lib/tasks/db.rake`
//! states, against the test cluster's real `server_version_num`). The
//! upstream files come from `tests/upstream/` (see its README for their
//! tags and paths).

use std::fs;
use std::path::Path;

use serde_json::json;

use crate::doctor::{Setup, assert_level, check, message};

fn upstream(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/upstream")
        .join(name);
    fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

impl Setup {
    fn write_db_rake(&self, text: &str) {
        let dir = self.w.root.join("lib/tasks");
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join("db.rake"), text).unwrap();
    }
}

/// The test cluster's `server_version_num`, as doctor prints it.
fn live_version() -> (u32, String) {
    let servers = crate::e2e_support::Servers::shared();
    let num: u32 = servers
        .psql("postgres", "SHOW server_version_num")
        .parse()
        .unwrap();
    let text = if num >= 100_000 {
        format!("{}.{}", num / 10_000, num % 10_000)
    } else {
        format!("{}.{}.{}", num / 10_000, num / 100 % 100, num % 100)
    };
    (num, text)
}

fn at(s: &Setup) -> String {
    format!("{} (socket .s.PGSQL.{})", s.db_dir.display(), s.db_port)
}

#[test]
fn a_db_rake_minimum_above_the_live_server_fails() {
    let s = Setup::good();
    let (_, live) = live_version();
    s.write_db_rake(
        &upstream("db.rake.v4.5.0")
            .replace("PostgreSQL 14.0 or newer", "PostgreSQL 99.0 or newer")
            .replace("pg_version < 140_000", "pg_version < 990_000"),
    );
    let (code, checks) = s.doctor_json(s.tootguard());
    assert_eq!(code, Some(1));
    assert_eq!(
        check(&checks, "postgresql-version"),
        &json!({
            "id": "postgresql-version",
            "level": "fail",
            "message": format!(
                "PostgreSQL at {} is {live}, older than the 99.0 this version's lib/tasks/db.rake \
                 requires: its `db:migrate` aborts before migrating anything",
                at(&s)
            ),
            "fix": "Upgrade PostgreSQL to 99.0 or newer (back up the database first: `pg_dump -Fc \
                    mastodon_production -f backup.dump`) before deploying this version, or check \
                    out the release this server ran before.",
        })
    );
}

#[test]
fn upstreams_db_rake_minimum_below_the_live_server_passes_naming_both() {
    let s = Setup::good();
    let (num, live) = live_version();
    assert!(
        num >= 140_000,
        "the test cluster must be PostgreSQL 14 or newer"
    );
    s.write_db_rake(&upstream("db.rake.v4.5.0"));
    let (code, checks) = s.doctor_json(s.tootguard());
    assert_eq!(code, Some(0), "{checks:#?}");
    assert_level(&checks, "postgresql-version", "ok");
    assert_eq!(
        message(&checks, "postgresql-version"),
        format!(
            "PostgreSQL at {} is {live}; this version's lib/tasks/db.rake requires 14.0 or newer",
            at(&s)
        )
    );
}

#[test]
fn a_db_rake_that_states_no_minimum_or_none_at_all_passes_as_not_stated() {
    let s = Setup::good();
    let (_, live) = live_version();
    let expected = format!(
        "no minimum PostgreSQL version stated in lib/tasks/db.rake; PostgreSQL at {} is {live}",
        at(&s)
    );
    for text in [
        None,
        Some("namespace :db do\nend\n".to_owned()),
        // A form tootguard cannot read: neither a number nor a message.
        Some(upstream("db.rake.v4.5.0").replace(
            "abort 'This version of Mastodon requires PostgreSQL 14.0 or newer. Please update \
             PostgreSQL before updating Mastodon.' if pg_version < 140_000",
            "abort I18n.t('postgresql.too_old') if too_old?(pg_version)",
        )),
    ] {
        if let Some(text) = &text {
            assert!(!text.contains("140_000"), "the test's edit did not apply");
            s.write_db_rake(text);
        }
        let (_, checks) = s.doctor_json(s.tootguard());
        assert_level(&checks, "postgresql-version", "ok");
        assert_eq!(message(&checks, "postgresql-version"), expected, "{text:?}");
    }
}

#[test]
fn a_stated_minimum_with_a_server_that_cannot_be_asked_warns_and_never_guesses() {
    let s = Setup::good();
    s.write_db_rake(&upstream("db.rake.v4.5.0"));
    let (_, checks) = s.doctor_json(s.tootguard().env("DB_USER", "no_such_role"));
    assert_level(&checks, "postgresql-version", "warn");
    let text = message(&checks, "postgresql-version");
    assert!(
        text.starts_with(
            "this version needs PostgreSQL 14.0 or newer (lib/tasks/db.rake), but the server's \
             version is unknown: the database could not be asked ("
        ),
        "{text}"
    );
}
