//! doctor's rows for what the checked-out version requires, read from the
//! checkout itself: `encryption-keys` (upstream's
//! `config/initializers/active_record_encryption.rb`) and
//! `postgresql-version` (the minimum `lib/tasks/db.rake` states, against
//! the test cluster's real `server_version_num`). The upstream files come
//! from `tests/upstream/` (see its README for their tags and paths).

use std::fs;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use crate::doctor::{Setup, assert_level, check, message};

const DETERMINISTIC: &str = "ACTIVE_RECORD_ENCRYPTION_DETERMINISTIC_KEY";
const SALT: &str = "ACTIVE_RECORD_ENCRYPTION_KEY_DERIVATION_SALT";
const PRIMARY: &str = "ACTIVE_RECORD_ENCRYPTION_PRIMARY_KEY";

/// Values shaped like the generator's (`SecureRandom.alphanumeric(32)`),
/// and one short enough that the redaction net (12 bytes and up) would
/// not catch it: doctor must not print it in the first place.
const VALUES: [&str; 3] = [
    "Gq7rT2vLx9WmB4nZc8KpY3sHd6FjA1eQ",
    "zQ9vXk2W",
    "Rm5Nw8Tb2Lc7Vx4Kp9Hs3Jd6Fg1Qa0Ze",
];

fn upstream(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/upstream")
        .join(name);
    fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

impl Setup {
    /// Puts upstream's v4.5.0 initializer into the checkout.
    fn with_upstream_initializer(&self) -> &Setup {
        let dir = self.w.root.join("config/initializers");
        fs::create_dir_all(&dir).unwrap();
        fs::write(
            dir.join("active_record_encryption.rb"),
            upstream("active_record_encryption.rb.v4.5.0"),
        )
        .unwrap();
        self
    }

    fn write_db_rake(&self, text: &str) {
        let dir = self.w.root.join("lib/tasks");
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join("db.rake"), text).unwrap();
    }

    fn env_production(&self) -> PathBuf {
        self.w.root.join(".env.production")
    }
}

/// Every key line, as `.env.production` lines.
fn key_lines(keys: &[&str]) -> String {
    [DETERMINISTIC, SALT, PRIMARY]
        .iter()
        .zip(VALUES)
        .filter(|(k, _)| keys.contains(k))
        .map(|(k, v)| format!("{k}={v}\n"))
        .collect()
}

#[track_caller]
fn assert_no_value(text: &str) {
    for value in VALUES {
        assert!(!text.contains(value), "a key's value is shown:\n{text}");
    }
}

#[test]
fn upstreams_initializer_with_the_keys_missing_fails_with_the_generator_run_once() {
    let s = Setup::good();
    s.with_upstream_initializer();
    let (code, checks) = s.doctor_json(s.tootguard());
    assert_eq!(code, Some(1), "{checks:#?}");
    let root = s.w.root.display().to_string();
    assert_eq!(
        check(&checks, "encryption-keys"),
        &json!({
            "id": "encryption-keys",
            "level": "fail",
            "message": format!(
                "this version's config/initializers/active_record_encryption.rb aborts at boot \
                 unless {DETERMINISTIC}, {SALT}, {PRIMARY} are set in the environment or the \
                 .env* files; none is: {DETERMINISTIC} (unset), {SALT} (unset), {PRIMARY} (unset)"
            ),
            "fix": format!(
                "Generate them once: as the install's owner, run `cd {root} && RAILS_ENV=production \
                 bin/rails db:encryption:init` and add the 3 lines it prints to \
                 {root}/.env.production (the same on every server of this instance; keep a copy \
                 with your backups). Never generate them again once they are set: new keys make \
                 what the old ones encrypted (users' two-factor settings) unreadable."
            ),
        })
    );
    // The rest of a good setup is untouched.
    assert_level(&checks, "config", "ok");
}

#[test]
fn a_key_set_empty_counts_as_missing_and_is_named_with_its_line() {
    let s = Setup::good();
    s.with_upstream_initializer();
    fs::write(
        s.env_production(),
        format!(
            "LOCAL_DOMAIN=example.test\n{}{PRIMARY}=\n",
            key_lines(&[DETERMINISTIC, SALT])
        ),
    )
    .unwrap();
    let (code, checks) = s.doctor_json(s.tootguard());
    assert_eq!(code, Some(1));
    assert_level(&checks, "encryption-keys", "fail");
    let text = message(&checks, "encryption-keys");
    assert!(
        text.contains(&format!(
            "one is missing: {PRIMARY} (empty, {} line 4)",
            s.env_production().display()
        )),
        "{text}"
    );
}

#[test]
fn partly_set_keys_fail_without_suggesting_to_regenerate_the_ones_that_are_set() {
    let s = Setup::good();
    s.with_upstream_initializer();
    // The generator of 4.4 and later refuses while a key is set, unless
    // overridden: the fix says not to override it.
    s.write_db_rake(&upstream("db.rake.v4.5.0"));
    fs::write(
        s.env_production(),
        format!(
            "LOCAL_DOMAIN=example.test\n{}",
            key_lines(&[DETERMINISTIC, PRIMARY])
        ),
    )
    .unwrap();
    let (code, checks) = s.doctor_json(s.tootguard());
    assert_eq!(code, Some(1));
    assert_eq!(
        check(&checks, "encryption-keys"),
        &json!({
            "id": "encryption-keys",
            "level": "fail",
            "message": format!(
                "this version's config/initializers/active_record_encryption.rb aborts at boot \
                 unless {DETERMINISTIC}, {SALT}, {PRIMARY} are set in the environment or the \
                 .env* files; one is missing: {SALT} (unset) (set: {DETERMINISTIC}, {PRIMARY}, \
                 not shown)"
            ),
            "fix": format!(
                "Do not run db:encryption:init to fill the gap, and do not change the keys that \
                 are set ({DETERMINISTIC}, {PRIMARY}): they may already encrypt data (users' \
                 two-factor settings), which new keys would make unreadable; this version's \
                 generator refuses while any key is set — do not override it with \
                 IGNORE_ALREADY_SET_SECRETS=true. Find the missing value(s) where the keys were \
                 first put — a backup of .env.production, another server of this instance — and \
                 add only those lines to {}.",
                s.env_production().display()
            ),
        })
    );
    let fix = check(&checks, "encryption-keys")["fix"].to_string();
    assert!(!fix.contains("bin/rails db:encryption:init"), "{fix}");
    assert_no_value(&serde_json::to_string(&checks).unwrap());
}

#[test]
fn keys_set_in_env_production_pass_and_no_output_shows_a_value() {
    let s = Setup::good();
    s.with_upstream_initializer();
    fs::write(
        s.env_production(),
        format!(
            "LOCAL_DOMAIN=example.test\n{}",
            key_lines(&[DETERMINISTIC, SALT, PRIMARY])
        ),
    )
    .unwrap();
    let (code, checks) = s.doctor_json(s.tootguard());
    assert_eq!(code, Some(0), "{checks:#?}");
    assert_level(&checks, "encryption-keys", "ok");
    assert_eq!(
        message(&checks, "encryption-keys"),
        format!(
            "the 3 Active Record encryption keys config/initializers/active_record_encryption.rb \
             requires are set, in {} (lines 2, 3, 4) (values not shown)",
            s.env_production().display()
        )
    );
    // Every byte doctor prints, as text and as JSON, on both streams.
    for args in [&["doctor"][..], &["doctor", "--json"][..]] {
        let out = s.tootguard().args(args).run();
        out.expect_code(0);
        assert!(out.stdout.contains("encryption-keys"), "{}", out.stdout);
        assert_no_value(&out.stdout);
        assert_no_value(&out.stderr);
    }
}

#[test]
fn keys_set_in_the_environment_pass_and_are_not_shown() {
    let s = Setup::good();
    s.with_upstream_initializer();
    let cmd = [DETERMINISTIC, SALT, PRIMARY]
        .iter()
        .zip(VALUES)
        .fold(s.tootguard(), |cmd, (k, v)| cmd.env(k, v));
    let out = cmd.args(["doctor", "--json"]).run();
    out.expect_code(0);
    assert_no_value(&out.stdout);
    assert_no_value(&out.stderr);
    let checks: Vec<Value> = out.json().as_array().unwrap().clone();
    assert_eq!(
        message(&checks, "encryption-keys"),
        "the 3 Active Record encryption keys config/initializers/active_record_encryption.rb \
         requires are set, in the environment (values not shown)"
    );
}

#[test]
fn a_test_environment_key_fails_as_upstream_refuses_it_in_production() {
    let s = Setup::good();
    s.with_upstream_initializer();
    fs::write(
        s.env_production(),
        format!(
            "{}{PRIMARY}=abc_DO_NOT_USE_IN_PRODUCTION\n",
            key_lines(&[DETERMINISTIC, SALT])
        ),
    )
    .unwrap();
    let (code, checks) = s.doctor_json(s.tootguard());
    assert_eq!(code, Some(1));
    assert_level(&checks, "encryption-keys", "fail");
    assert!(
        message(&checks, "encryption-keys").starts_with(&format!(
            "{PRIMARY} ({} line 3) end(s) with DO_NOT_USE_IN_PRODUCTION",
            s.env_production().display()
        )),
        "{checks:#?}"
    );
}

#[test]
fn an_initializer_that_names_no_key_variable_warns_rather_than_guessing() {
    let s = Setup::good();
    let dir = s.w.root.join("config/initializers");
    fs::create_dir_all(&dir).unwrap();
    fs::write(
        dir.join("active_record_encryption.rb"),
        "Rails.application.configure do\n  config.active_record.encryption.primary_key = \
         Rails.application.credentials.dig(:ar, :primary)\nend\n",
    )
    .unwrap();
    let (code, checks) = s.doctor_json(s.tootguard());
    assert_eq!(code, Some(0));
    assert_level(&checks, "encryption-keys", "warn");
    assert!(
        message(&checks, "encryption-keys")
            .contains("names no ACTIVE_RECORD_ENCRYPTION_* variable"),
        "{checks:#?}"
    );
}

#[test]
fn a_checkout_without_the_initializer_needs_no_keys() {
    let s = Setup::good();
    let (code, checks) = s.doctor_json(s.tootguard());
    assert_eq!(code, Some(0));
    assert_level(&checks, "encryption-keys", "ok");
    assert_eq!(
        message(&checks, "encryption-keys"),
        "no config/initializers/active_record_encryption.rb in this checkout: this version does \
         not need the Active Record encryption keys"
    );
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

#[test]
fn upgrade_stops_at_preflight_when_the_encryption_keys_are_missing() {
    let s = Setup::good();
    s.with_upstream_initializer();
    let out = s.tootguard().args(["upgrade", "--restart", "--yes"]).run();
    out.expect_code(1)
        .expect_stderr("[1/8] preflight ✗")
        .expect_stderr("encryption-keys")
        .expect_stderr("bin/rails db:encryption:init")
        .expect_stderr("--from preflight");
    assert!(
        !s.w.record.join("calls.log").exists(),
        "a step ran after a failed preflight"
    );
}
