//! No output of tootguard carries a secret: not the shim's notices, warnings,
//! errors and refusals, not `explain` (text or JSON), not `doctor` (text or
//! JSON), not `upgrade --dry-run` nor a failing upgrade's messages.
//!
//! A secret is the password of `DB_PASS`, `TOOTGUARD_DIRECT_DB_PASS` or the
//! userinfo of `DATABASE_URL` (raw and percent-decoded), or the value of any
//! variable named like a password, secret, key or token — from the process
//! environment or from `.env.production`. Each one is looked for in every
//! form a printer could give it: raw, percent-encoded (either hex case),
//! percent-decoded, JSON-escaped and Rust-`{:?}`-escaped; JSON output is
//! also parsed and every string in it checked.
//!
//! Arguments are the admin's own text and are shown as typed, with one
//! exception: a Rake-style `KEY=VALUE` argument to `rails` or `rake` whose
//! KEY is secret-named (`rails db:migrate DB_PASS=…`) is a secret like the
//! variable it sets, and shows as `KEY=***`. A `tootctl` argument is never
//! a secret, even when it happens to equal one (`tootctl` reads no `.env`).

use std::fs;

use serde_json::Value;

use crate::doctor::{Setup, write_meminfo};
use crate::harness::{Cmd, NotPostgres, Outcome};

/// `DB_PASS`: URL-special characters, a literal `%20`, both quotes.
const DB_PASS: &str = "p@ss:w/rd%20 \"q'";
/// `TOOTGUARD_DIRECT_DB_PASS`: non-ASCII, `#` (a comment unquoted) and `$`.
const DIRECT_PASS: &str = "dïrect-пароль-🔑#1$x";
/// `DATABASE_URL`'s password as written in the URL (lower-case hex, which
/// the redactor's own encoding would not produce) …
const URL_PASS_RAW: &str = "u%24er%23pw%3a%c3%a4%2fx%40y";
/// … and as Rails decodes it.
const URL_PASS: &str = "u$er#pw:ä/x@y";
/// A rake argument on the command line (`rails db:migrate DB_PASS=…`).
const ARG_PASS: &str = "hunter2hunter2";

/// Secret-named variables other than the database passwords.
const OTHERS: [(&str, &str); 6] = [
    ("SECRET_KEY_BASE", "skb-4f1c9e0d7a6b5c3e2f1a0b9c8d7e6f5a"),
    ("OTP_SECRET", "otp-9a8b7c6d5e4f3a2b1c0d"),
    ("VAPID_PRIVATE_KEY", "vapid-Kx3_Pq9+Zr/Ww=="),
    (
        "AWS_SECRET_ACCESS_KEY",
        "aws-wJalrXUtnFEMI/K7MDENG/bPxRfiCY",
    ),
    ("SMTP_PASSWORD", "smtp pass with spaces & ümlauts"),
    ("S3_TOKEN", "s3tok-$HOME-not-expanded"),
];

/// Where the secrets live.
#[derive(Clone, Copy, Debug)]
enum Placement {
    Environment,
    EnvFile,
}

/// How the database is configured: `DB_*` variables (host from the
/// environment: the setup's socket directory) or a `DATABASE_URL`.
#[derive(Clone, Copy, Debug)]
enum Database {
    Variables,
    Url,
}

/// Every form a secret could take in printed text.
fn forms(secret: &str) -> Vec<String> {
    let json = serde_json::to_string(secret).unwrap();
    let debug = format!("{secret:?}");
    let mut forms = vec![
        secret.to_owned(),
        percent_encode(secret, false),
        percent_encode(secret, true),
        percent_decode(secret),
        json[1..json.len() - 1].to_owned(),
        debug[1..debug.len() - 1].to_owned(),
    ];
    forms.sort();
    forms.dedup();
    forms
}

fn percent_encode(s: &str, lower: bool) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                char::from(b).to_string()
            } else if lower {
                format!("%{b:02x}")
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .filter(|h| h.bytes().all(|b| b.is_ascii_hexdigit()))
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Every secret of a scenario.
fn all_secrets() -> Vec<&'static str> {
    let mut all = vec![DB_PASS, DIRECT_PASS, URL_PASS_RAW, URL_PASS, ARG_PASS];
    all.extend(OTHERS.iter().map(|(_, v)| *v));
    all
}

/// Fails when `text` holds any form of any of `secrets`.
#[track_caller]
fn assert_no_secret(label: &str, text: &str, secrets: &[&str]) {
    for secret in secrets {
        for form in forms(secret) {
            assert!(
                !text.contains(&form),
                "{label}: the secret {secret:?} shows as {form:?} in:\n{text}"
            );
        }
    }
}

/// Every string in a JSON document, keys included.
fn json_strings(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::String(s) => out.push(s.clone()),
        Value::Array(items) => items.iter().for_each(|v| json_strings(v, out)),
        Value::Object(map) => {
            for (k, v) in map {
                out.push(k.clone());
                json_strings(v, out);
            }
        }
        _ => {}
    }
}

/// Checks one run: both streams, and the strings of its JSON when it is JSON.
#[track_caller]
fn assert_clean(label: &str, out: &Outcome, secrets: &[&str]) {
    assert!(
        !out.stderr.contains("panicked") && !out.stdout.contains("panicked"),
        "{label} panicked:\n{}",
        out.stderr
    );
    assert_no_secret(&format!("{label} (stdout)"), &out.stdout, secrets);
    assert_no_secret(&format!("{label} (stderr)"), &out.stderr, secrets);
    if let Ok(json) = serde_json::from_str::<Value>(&out.stdout) {
        let mut strings = Vec::new();
        json_strings(&json, &mut strings);
        for s in strings {
            assert_no_secret(&format!("{label} (a JSON string)"), &s, secrets);
        }
    }
}

/// A value written for a `.env` file so that dotenv 3 reads back exactly
/// `value`: double quotes, with `"`, `\` and `$` escaped.
fn dotenv_quote(value: &str) -> String {
    let mut out = String::from("\"");
    for c in value.chars() {
        if matches!(c, '"' | '\\' | '$') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

/// A port something answers on, and one nothing answers on.
fn listener() -> (NotPostgres, u16) {
    let l = NotPostgres::tcp();
    let port = l.port;
    (l, port)
}

/// Nothing answers there while the test runs (leaked on purpose).
fn closed_port() -> u16 {
    let closed = crate::harness::ClosedPort::new();
    let port = closed.port;
    std::mem::forget(closed);
    port
}

/// A doctor/upgrade setup whose configuration is full of secrets.
struct Scenario {
    s: Setup,
    placement: Placement,
    database: Database,
    /// The variables that hold secrets, and the settings around them.
    vars: Vec<(String, String)>,
    _direct: Option<NotPostgres>,
    _bouncer: NotPostgres,
}

impl Scenario {
    fn new(placement: Placement, database: Database, direct_answers: bool) -> Scenario {
        let s = Setup::good();
        // PgBouncer answers on the setup's socket directory, port 6432.
        let bouncer = NotPostgres::unix(&s.db_dir.join(".s.PGSQL.6432"));
        let (direct, direct_port) = if direct_answers {
            let (l, port) = listener();
            (Some(l), port)
        } else {
            (None, closed_port())
        };
        let mut vars: Vec<(String, String)> = vec![
            ("DB_PASS".into(), DB_PASS.into()),
            ("TOOTGUARD_DIRECT_DB_HOST".into(), "127.0.0.1".into()),
            ("TOOTGUARD_DIRECT_DB_PORT".into(), direct_port.to_string()),
            ("TOOTGUARD_DIRECT_DB_USER".into(), "migrator".into()),
            ("TOOTGUARD_DIRECT_DB_PASS".into(), DIRECT_PASS.into()),
        ];
        match database {
            Database::Variables => vars.push(("DB_PORT".into(), "6432".into())),
            Database::Url => vars.push((
                "DATABASE_URL".into(),
                format!(
                    "postgres://mastodon:{URL_PASS_RAW}@127.0.0.1:6432/mastodon_production\
                     ?sslmode=disable"
                ),
            )),
        }
        vars.extend(OTHERS.iter().map(|(k, v)| ((*k).into(), (*v).into())));
        if let Placement::EnvFile = placement {
            let mut file = String::from("LOCAL_DOMAIN=example.test\n");
            for (k, v) in &vars {
                file.push_str(&format!("{k}={}\n", dotenv_quote(v)));
            }
            fs::write(s.w.root.join(".env.production"), file).unwrap();
        }
        Scenario {
            s,
            placement,
            database,
            vars,
            _direct: direct,
            _bouncer: bouncer,
        }
    }

    /// `program` with the setup's environment, plus the secrets when they
    /// live in the environment.
    fn cmd(&self, program: impl AsRef<std::ffi::OsStr>) -> Cmd {
        let mut cmd = self
            .s
            .w
            .cmd(program)
            .env("PATH", self.s.path())
            .env("DB_HOST", &self.s.db_dir)
            .env("TOOTGUARD_MEMINFO", &self.s.meminfo);
        if let Placement::Environment = self.placement {
            for (k, v) in &self.vars {
                cmd = cmd.env(k, v);
            }
        }
        cmd
    }

    fn shim(&self, tool: &str) -> Cmd {
        self.cmd(self.s.w.shim(tool))
    }

    fn tootguard(&self) -> Cmd {
        self.cmd(crate::harness::tootguard())
    }

    fn label(&self, what: &str) -> String {
        format!("{:?}/{:?}: {what}", self.placement, self.database)
    }

    /// Runs every path through tootguard and checks each output.
    fn run_every_path(&self) -> Vec<(String, Outcome)> {
        let mut runs: Vec<(String, Outcome)> = Vec::new();
        let mut record = |what: &str, out: Outcome| runs.push((self.label(what), out));

        // The shim: the bypass notice or the refusal, a rake argument, a
        // wrong RAILS_ENV (warned, then refused), precompile, plain tootctl.
        record(
            "rails db:migrate",
            self.shim("rails").arg("db:migrate").run(),
        );
        record(
            "rails db:migrate DB_PASS=…",
            self.shim("rails")
                .args(["db:migrate", &format!("DB_PASS={ARG_PASS}")])
                .run(),
        );
        record(
            "RAILS_ENV=development rake db:migrate",
            self.shim("rake")
                .arg("db:migrate")
                .env("RAILS_ENV", "development")
                .run(),
        );
        record(
            "strict RAILS_ENV=development rails db:migrate",
            self.shim("rails")
                .arg("db:migrate")
                .env("RAILS_ENV", "development")
                .env("TOOTGUARD_STRICT", "1")
                .run(),
        );
        let low = self.s.w.base().join("meminfo-low");
        write_meminfo(&low, 512, 0);
        record(
            "rails assets:precompile, too little memory",
            self.shim("rails")
                .arg("assets:precompile")
                .env("TOOTGUARD_MEMINFO", &low)
                .run(),
        );
        record("tootctl version", self.shim("tootctl").arg("version").run());

        // explain, text and JSON, for the same commands.
        let arg = format!("DB_PASS={ARG_PASS}");
        let commands: [&[&str]; 5] = [
            &["rails", "db:migrate"],
            &["rails", "db:migrate", &arg],
            &["rake", "db:migrate:up", "VERSION=1", &arg],
            &["rails", "assets:precompile"],
            &["tootctl", "version"],
        ];
        for command in commands {
            for json in [false, true] {
                let mut cmd = self.tootguard().arg("explain");
                if json {
                    cmd = cmd.arg("--json");
                }
                record(
                    &format!("explain {}{command:?}", if json { "--json " } else { "" }),
                    cmd.args(command).run(),
                );
            }
        }
        record(
            "explain RAILS_ENV=development",
            self.tootguard()
                .args(["explain", "rails", "db:migrate"])
                .env("RAILS_ENV", "development")
                .run(),
        );

        // doctor, upgrade --dry-run, and upgrades that stop.
        record("doctor", self.tootguard().arg("doctor").run());
        record(
            "doctor --json",
            self.tootguard().args(["doctor", "--json"]).run(),
        );
        record(
            "upgrade --dry-run",
            self.tootguard().args(["upgrade", "--dry-run"]).run(),
        );
        record(
            "upgrade --dry-run --restart",
            self.tootguard()
                .args(["upgrade", "--dry-run", "--restart"])
                .run(),
        );
        record(
            "upgrade --yes (preflight, then a step fails)",
            self.tootguard()
                .args(["upgrade", "--yes", "--restart"])
                .env("TG_FAIL_CALL", "rails db:migrate")
                .run(),
        );
        record(
            "upgrade --from pre-migrate (the migration fails or is blocked)",
            self.tootguard()
                .args(["upgrade", "--yes", "--restart", "--from", "pre-migrate"])
                .env("TG_FAIL_CALL", "rails db:migrate")
                .run(),
        );

        // Last: a missing program.
        fs::rename(
            self.s.w.root.join("bin/rails"),
            self.s.w.root.join("bin/rails.gone"),
        )
        .unwrap();
        record(
            "rails db:migrate, bin/rails missing",
            self.shim("rails").arg("db:migrate").run(),
        );
        record(
            "explain --json, bin/rails missing",
            self.tootguard()
                .args(["explain", "--json", "rails", "db:migrate", &arg])
                .run(),
        );
        record(
            "upgrade --dry-run, bin/rails missing",
            self.tootguard().args(["upgrade", "--dry-run"]).run(),
        );
        runs
    }
}

/// Runs every path of one scenario and checks every output.
fn check_scenario(placement: Placement, database: Database, direct_answers: bool) {
    let scenario = Scenario::new(placement, database, direct_answers);
    let secrets = all_secrets();
    let runs = scenario.run_every_path();
    for (label, out) in &runs {
        assert_clean(label, out, &secrets);
    }

    // Not vacuous: the secrets were in play, and were shown masked.
    let find = |what: &str| {
        &runs
            .iter()
            .find(|(label, _)| label.ends_with(what))
            .unwrap_or_else(|| panic!("no run {what}"))
            .1
    };
    let explain =
        find(r#"explain --json ["rails", "db:migrate", "DB_PASS=hunter2hunter2"]"#).json();
    assert_eq!(explain["args"][1], "DB_PASS=***", "{explain:#}");
    let migrate = find("rails db:migrate");
    if direct_answers {
        migrate.expect_code(0).expect_stderr("migrating directly");
        let env = &find(r#"explain --json ["rails", "db:migrate"]"#).json()["env"];
        match database {
            Database::Variables => assert_eq!(env["DB_PASS"], "***", "{env:#}"),
            Database::Url => {
                let url = env["DATABASE_URL"].as_str().unwrap();
                assert!(url.contains("***") && url.contains("127.0.0.1"), "{url}");
            }
        }
        // The child (the first program run) got the direct password, exactly.
        let env = fs::read_to_string(scenario.s.w.record.join("call-1.env")).unwrap();
        match database {
            Database::Variables => {
                assert!(env.contains(&format!("DB_PASS={DIRECT_PASS}\n")), "{env}")
            }
            Database::Url => assert!(
                env.contains(&format!(
                    "DATABASE_URL=postgres://migrator:{}@127.0.0.1:",
                    percent_encode(DIRECT_PASS, false)
                )),
                "{env}"
            ),
        }
    } else {
        migrate.expect_code(3).expect_stderr("does not answer");
    }
}

#[test]
fn no_output_shows_a_secret_from_the_environment_with_db_variables() {
    check_scenario(Placement::Environment, Database::Variables, true);
}

#[test]
fn no_output_shows_a_secret_from_the_env_file_with_db_variables() {
    check_scenario(Placement::EnvFile, Database::Variables, true);
}

#[test]
fn no_output_shows_a_secret_from_the_environment_with_a_database_url() {
    check_scenario(Placement::Environment, Database::Url, true);
}

#[test]
fn no_output_shows_a_secret_from_the_env_file_with_a_database_url() {
    check_scenario(Placement::EnvFile, Database::Url, true);
}

#[test]
fn no_output_shows_a_secret_when_the_direct_endpoint_does_not_answer() {
    check_scenario(Placement::EnvFile, Database::Variables, false);
    check_scenario(Placement::Environment, Database::Url, false);
}

/// A production setup whose `.env.production` is `lines` plus every
/// secret-named variable.
fn file_scenario(lines: &str) -> Setup {
    let s = Setup::good();
    let mut file = format!("LOCAL_DOMAIN=example.test\n{lines}");
    for (k, v) in OTHERS {
        file.push_str(&format!("{k}={}\n", dotenv_quote(v)));
    }
    file.push_str(&format!(
        "TOOTGUARD_DIRECT_DB_PASS={}\n",
        dotenv_quote(DIRECT_PASS)
    ));
    fs::write(s.w.root.join(".env.production"), file).unwrap();
    s
}

/// The outputs of the shim, explain, doctor and upgrade for a migration.
fn migration_outputs(s: &Setup) -> Vec<(&'static str, Outcome)> {
    let shim = |tool: &str| {
        s.w.cmd(s.w.shim(tool))
            .env("PATH", s.path())
            .env("DB_HOST", &s.db_dir)
            .env("TOOTGUARD_MEMINFO", &s.meminfo)
    };
    vec![
        ("rails db:migrate", shim("rails").arg("db:migrate").run()),
        (
            "rails assets:precompile",
            shim("rails").arg("assets:precompile").run(),
        ),
        (
            "explain",
            s.tootguard_port_from_files()
                .args(["explain", "rails", "db:migrate"])
                .run(),
        ),
        (
            "explain --json",
            s.tootguard_port_from_files()
                .args(["explain", "--json", "rails", "db:migrate"])
                .run(),
        ),
        ("doctor", s.tootguard_port_from_files().arg("doctor").run()),
        (
            "doctor --json",
            s.tootguard_port_from_files()
                .args(["doctor", "--json"])
                .run(),
        ),
        (
            "upgrade --dry-run",
            s.tootguard_port_from_files()
                .args(["upgrade", "--dry-run"])
                .run(),
        ),
        (
            "upgrade --from pre-migrate",
            s.tootguard_port_from_files()
                .args(["upgrade", "--yes", "--restart", "--from", "pre-migrate"])
                .run(),
        ),
    ]
}

/// Whether any program saw `rails db:migrate`.
fn ran_migration(s: &Setup) -> bool {
    fs::read_to_string(s.w.record.join("calls.log"))
        .unwrap_or_default()
        .lines()
        .any(|l| l == "rails db:migrate")
}

#[test]
fn a_port_computed_by_a_command_is_refused_without_showing_any_secret() {
    let s = file_scenario("DB_PORT=$(cat /etc/mastodon/db-port)\n");
    let outputs = migration_outputs(&s);
    for (label, out) in &outputs {
        assert_clean(label, out, &all_secrets());
    }
    outputs[0]
        .1
        .expect_code(3)
        .expect_stderr("DB_PORT")
        .expect_stderr("$(…)");
    assert!(!ran_migration(&s), "the migration ran");
}

#[test]
fn a_malformed_database_line_is_refused_without_showing_any_secret() {
    // The broken line holds a secret: the error names the line, never quotes it.
    let s = file_scenario(&format!("DB_PORT=6432\nDB_PASS {ARG_PASS}\n"));
    let outputs = migration_outputs(&s);
    for (label, out) in &outputs {
        assert_clean(label, out, &all_secrets());
    }
    outputs[0]
        .1
        .expect_code(3)
        .expect_stderr(".env.production line 3");
    assert!(!ran_migration(&s), "the migration ran");
}

/// A short password that is part of the host name is hidden where it is a
/// value — the URL's password — and the host name stays intact: cutting
/// `ocalhos` out of `localhost` (`l***t`) would only point at it.
#[test]
fn a_short_database_url_password_inside_the_host_name_is_masked_as_a_value_only() {
    let (_pg, port) = listener();
    let s = file_scenario(&format!(
        "DATABASE_URL=postgres://mastodon:ocalhos@localhost:6432/mastodon_production\n\
         TOOTGUARD_DIRECT_DB_HOST=127.0.0.1\nTOOTGUARD_DIRECT_DB_PORT={port}\n"
    ));
    let outputs = migration_outputs(&s);
    for (label, out) in &outputs {
        assert_clean(label, out, &all_secrets());
        let text = format!("{}{}", out.stdout, out.stderr);
        assert!(!text.contains(":ocalhos@"), "{label}: {text}");
        assert!(!text.contains("l***t"), "{label}: {text}");
    }
    outputs[0]
        .1
        .expect_code(0)
        .expect_stderr("migrating directly");
    let json = s
        .tootguard()
        .args(["explain", "--json", "rails", "db:migrate"])
        .run()
        .json();
    assert_eq!(json["database"]["host"], "localhost");
}

/// `DB_PASS=mastodon` on `mastodon`'s install: paths and names are shown
/// as they are, the password nowhere as a value, and doctor calls it weak.
#[test]
fn a_password_equal_to_a_name_leaves_paths_and_names_intact_and_doctor_calls_it_weak() {
    let (_pg, port) = listener();
    let s = file_scenario(&format!(
        "DB_HOST=127.0.0.1\nDB_PORT={port}\nDB_USER=mastodon\nDB_NAME=mastodon\nDB_PASS=mastodon\n"
    ));
    let out = s.tootguard().args(["explain", "rails", "db:migrate"]).run();
    out.expect_code(0);
    assert!(
        out.stdout.contains("database mastodon as mastodon"),
        "{}",
        out.stdout
    );
    let json = s.tootguard().args(["doctor", "--json"]).run().json();
    let row = crate::harness::row(&json, "db-password");
    assert_eq!(row["level"], "warn", "{row:#}");
    assert_eq!(
        row["message"],
        "DB_PASS is weak: it is shorter than 12 characters, or the same as the database user \
         or name"
    );
}

#[test]
fn a_secret_assignment_argument_is_masked_by_explain_for_a_migration() {
    let s = Setup::good();
    for json in [false, true] {
        let mut cmd = s.tootguard().arg("explain");
        if json {
            cmd = cmd.arg("--json");
        }
        let out = cmd
            .args(["rails", "db:migrate", "DB_PASS=hunter2hunter2"])
            .run();
        out.expect_code(0);
        assert_clean("explain", &out, &[ARG_PASS]);
        assert!(out.stdout.contains("DB_PASS=***"), "{}", out.stdout);
    }
}

#[test]
fn tootctl_arguments_are_the_admins_own_text_and_shown_as_typed() {
    // tootctl reads no .env file and its arguments are not KEY=VALUE
    // settings: `explain` shows what would run, even when an argument
    // happens to equal a secret's value. Nothing else shows the secret.
    let s = Setup::good();
    let out = s
        .tootguard()
        .args([
            "explain", "tootctl", "accounts", "create", "alice", ARG_PASS,
        ])
        .env("DB_PASS", ARG_PASS)
        .env("SECRET_KEY_BASE", OTHERS[0].1)
        .run();
    out.expect_code(0);
    assert!(out.stdout.contains(ARG_PASS), "{}", out.stdout);
    assert_clean("explain tootctl", &out, &[OTHERS[0].1]);
}

/// `explain` (text and JSON) of `args`, with `DB_PASS` set in the environment.
fn explain_both(s: &Setup, args: &[&str]) -> Vec<(&'static str, Outcome)> {
    let text = s.tootguard().arg("explain").args(args).run();
    let json = s.tootguard().args(["explain", "--json"]).args(args).run();
    vec![("explain", text), ("explain --json", json)]
}

#[test]
fn explain_masks_a_secret_assignment_argument_for_any_rails_or_rake_task() {
    let s = Setup::good();
    for args in [
        &[
            "rails",
            "about",
            "SECRET_KEY_BASE=skb-4f1c9e0d7a6b5c3e2f1a0b9c8d7e6f5a",
        ][..],
        &[
            "rake",
            "mastodon:webpush:generate_vapid_key",
            "OTP_SECRET=otp-9a8b7c6d5e4f3a2b1c0d",
        ],
    ] {
        for (label, out) in explain_both(&s, args) {
            out.expect_code(0);
            assert_clean(label, &out, &all_secrets());
            assert!(out.stdout.contains("=***"), "{label}: {}", out.stdout);
        }
    }
}

#[test]
fn explain_masks_a_secret_assignment_argument_when_the_env_file_is_broken() {
    for broken in [
        "DB_HOST localhost\n",
        "DB_PORT=6432\nDB_PASS=$(cat /x)\nexport NOPE\n",
    ] {
        let s = Setup::good();
        fs::write(s.w.root.join(".env.production"), broken).unwrap();
        for (label, out) in explain_both(&s, &["rails", "db:migrate", "DB_PASS=hunter2hunter2"]) {
            out.expect_code(0);
            assert_clean(label, &out, &[ARG_PASS]);
            assert!(
                out.stdout.contains("DB_PASS=***"),
                "{label}: {}",
                out.stdout
            );
        }
    }
}

#[test]
fn explain_masks_a_secret_assignment_argument_with_quotes_or_backslashes() {
    let s = Setup::good();
    for secret in [DB_PASS, "back\\slash\\pw"] {
        let arg = format!("DB_PASS={secret}");
        for (label, out) in explain_both(&s, &["rails", "db:migrate", &arg]) {
            out.expect_code(0);
            assert_clean(label, &out, &[secret]);
        }
    }
}
