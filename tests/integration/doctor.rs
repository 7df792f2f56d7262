//! `tootguard doctor`: every check on a good setup, and each broken one.
//!
//! [`Setup::good`] is a server where every check passes: a production root
//! with a version file and package.json, fake `ruby`/`node` (and the
//! `bundle`/`yarn`/`systemctl`/`sudo` loggers `upgrade` tests use) on PATH
//! after the shims, a listening PostgreSQL socket and plenty of memory.

use std::fs;
use std::path::PathBuf;

use serde_json::Value;

use crate::harness::{Cmd, Normaliser, NotPostgres, World, unindent, write_executable};

/// Records each call, in order, as a line `name args…` in
/// `$TG_RECORD/calls.log`, with its environment and directory in
/// `call-<n>.env` / `call-<n>.pwd`; then fails, dies by SIGKILL or prints
/// the heap message when the call is the one `TG_FAIL_CALL`,
/// `TG_KILL_CALL` or `TG_OOM_CALL` names.
pub const LOGGER: &str = r#"#!/bin/sh
name=$(basename "$0")
log="$TG_RECORD/calls.log"
n=1
if [ -f "$log" ]; then n=$(( $(wc -l < "$log") + 1 )); fi
printf '%s\n' "$name $*" >> "$log"
env > "$TG_RECORD/call-$n.env"
pwd > "$TG_RECORD/call-$n.pwd"
echo "$name says hello"
case "$name $*" in
  "$TG_FAIL_CALL") echo "$name: failing as told" >&2; exit 7 ;;
  "$TG_KILL_CALL") kill -s KILL $$; sleep 5 ;;
  "$TG_OOM_CALL") echo "FATAL ERROR: Reached heap limit Allocation failed - JavaScript heap out of memory" >&2; exit 134 ;;
esac
exit 0
"#;

pub const VERSION_RB: &str = "# frozen_string_literal: true\n\nmodule Mastodon\n  module Version\n    \
    module_function\n\n    def major\n      4\n    end\n\n    def minor\n      3\n    end\n\n    \
    def patch\n      2\n    end\n\n    def default_prerelease\n      ''\n    end\n\n    \
    def prerelease\n      version_configuration[:prerelease].presence || default_prerelease\n    \
    end\n  end\nend\n";

pub struct Setup {
    pub w: World,
    /// Fake programs: ruby, node, bundle, yarn, systemctl, sudo.
    pub fake: PathBuf,
    /// The directory holding PostgreSQL's socket `.s.PGSQL.<db_port>` (a
    /// link to the test cluster's: role `mastodon`, database
    /// `mastodon_production`).
    pub db_dir: PathBuf,
    /// The test cluster's port: `DB_PORT` of [`Setup::tootguard`].
    pub db_port: u16,
    pub meminfo: PathBuf,
}

impl Setup {
    pub fn good() -> Setup {
        let w = World::production();
        for tool in ["rails", "rake", "tootctl"] {
            write_executable(&w.root.join("bin").join(tool), LOGGER);
        }
        fs::create_dir_all(w.root.join("lib/mastodon")).unwrap();
        fs::write(w.root.join("lib/mastodon/version.rb"), VERSION_RB).unwrap();
        // A git checkout as the docs make it: cloned, then a release
        // checked out (nothing ran before it).
        fake_fresh_clone(&w.root);
        // tootctl's own commands, for completion: upstream 4.5.0's.
        crate::harness::copy_tree(
            &std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/upstream/mastodon-v4.5.0/lib/mastodon/cli"),
            &w.root.join("lib/mastodon/cli"),
        );
        fs::write(
            w.root.join("package.json"),
            r#"{"name": "@mastodon/mastodon", "engines": {"node": ">=20"}}"#,
        )
        .unwrap();
        let fake = w.base().join("fake");
        write_executable(
            &fake.join("ruby"),
            "#!/bin/sh\nprintf %s \"${TG_RUBY_VERSION:-3.3.5}\"\n",
        );
        write_executable(
            &fake.join("node"),
            "#!/bin/sh\necho \"v${TG_NODE_VERSION:-22.11.0}\"\n",
        );
        for name in ["bundle", "yarn", "systemctl", "sudo"] {
            write_executable(&fake.join(name), LOGGER);
        }
        // This user's crontab, as `crontab -l` prints it: the file
        // `crontab` in the base directory, or none (status 1, as cron's).
        write_executable(
            &fake.join("crontab"),
            &format!(
                "#!/bin/sh\ncat '{}' 2>/dev/null || {{ echo 'no crontab for you' >&2; exit 1; }}\n",
                w.base().join("crontab").display()
            ),
        );
        let db_dir = w.base().join("pg");
        fs::create_dir_all(&db_dir).unwrap();
        // PostgreSQL itself answers there (the test cluster's socket).
        // The socket's name carries the server's own port: a socket of
        // another port would be a pooler's.
        let servers = crate::e2e_support::Servers::shared();
        let db_port = servers.pg_port();
        std::os::unix::fs::symlink(
            servers.mastodon_socket(),
            db_dir.join(format!(".s.PGSQL.{db_port}")),
        )
        .unwrap();
        let meminfo = w.base().join("meminfo");
        write_meminfo(&meminfo, 8192, 2048);
        Setup {
            w,
            fake,
            db_dir,
            db_port,
            meminfo,
        }
    }

    pub fn path(&self) -> String {
        format!(
            "{}:{}:/usr/bin:/bin",
            self.w.shims.display(),
            self.fake.display()
        )
    }

    /// `tootguard ARGS` in the root, with this setup's PATH, database and memory.
    pub fn tootguard(&self) -> Cmd {
        self.tootguard_port_from_files()
            .env("DB_PORT", self.db_port.to_string())
    }

    /// The same, with the database port left to the `.env*` files.
    pub fn tootguard_port_from_files(&self) -> Cmd {
        self.w
            .tootguard()
            .env("PATH", self.path())
            .env("DB_HOST", &self.db_dir)
            .env("TOOTGUARD_MEMINFO", &self.meminfo)
    }

    /// [`World::normaliser`] for doctor's and upgrade's output: the fake
    /// programs' directory `[FAKE]`, the test cluster's port `[PGPORT]` and
    /// version `[PGVERSION]`, the step timings `[TIME]`; and the two checks
    /// whose words depend on the machine and on who runs the suite (sudo's
    /// secure_path in /etc/sudoers, root or not), `[SUDO]` and `[OWNER]`,
    /// as this setup's `doctor --json` words them.
    pub fn normaliser(&self) -> Normaliser {
        let (_, checks) = self.doctor_json(self.tootguard());
        let version = crate::e2e_support::Servers::shared().psql(
            "postgres",
            "SELECT split_part(current_setting('server_version'), ' ', 1)",
        );
        self.w
            .normaliser()
            .with(self.fake.display(), "[FAKE]")
            .with(format!(".s.PGSQL.{}", self.db_port), ".s.PGSQL.[PGPORT]")
            .with(format!("-p {} ", self.db_port), "-p [PGPORT] ")
            .with(format!(" is {version}"), " is [PGVERSION]")
            .with(message(&checks, "sudo"), "[SUDO]")
            .with(crate::harness::owner_check_message(), "[OWNER]")
            .timings()
    }

    pub fn doctor_json(&self, cmd: Cmd) -> (Option<i32>, Vec<Value>) {
        let out = cmd.args(["doctor", "--json"]).run();
        let json = out.json();
        (out.code(), json.as_array().unwrap().clone())
    }
}

/// `.git` as `git clone` then `git checkout v…` leave it: HEAD detached at
/// a release, and the reflog of both (read as files; no git needed).
pub fn fake_fresh_clone(root: &std::path::Path) {
    let (main, release) = ("1".repeat(40), "2".repeat(40));
    fs::create_dir_all(root.join(".git/logs")).unwrap();
    fs::write(root.join(".git/HEAD"), format!("{release}\n")).unwrap();
    fs::write(
        root.join(".git/logs/HEAD"),
        format!(
            "{zero} {main} A <a@example.test> 1700000000 +0000\tclone: from \
             https://github.com/mastodon/mastodon.git\n\
             {main} {release} A <a@example.test> 1700000001 +0000\tcheckout: moving from main \
             to v4.3.2\n",
            zero = "0".repeat(40)
        ),
    )
    .unwrap();
}

pub fn write_meminfo(path: &std::path::Path, available_mb: u64, swap_mb: u64) {
    fs::write(
        path,
        format!(
            "MemTotal: 16000000 kB\nMemAvailable: {} kB\nSwapTotal: {} kB\nSwapFree: {} kB\n",
            available_mb * 1024,
            swap_mb * 1024,
            swap_mb * 1024
        ),
    )
    .unwrap();
}

/// The check with this id.
#[track_caller]
pub fn check<'a>(checks: &'a [Value], id: &str) -> &'a Value {
    checks
        .iter()
        .find(|c| c["id"] == id)
        .unwrap_or_else(|| panic!("no {id} check in {checks:#?}"))
}

#[track_caller]
pub fn assert_level(checks: &[Value], id: &str, level: &str) {
    let c = check(checks, id);
    assert_eq!(c["level"], level, "{id}: {c:#}");
    if level == "ok" {
        assert!(c["fix"].is_null(), "{c:#}");
    } else {
        assert!(c["fix"].is_string(), "a {level} needs a fix: {c:#}");
    }
}

/// The check with this id, whole, as JSON text normalised by `n`.
#[track_caller]
pub fn assert_check(n: &Normaliser, checks: &[Value], id: &str, expected: &str) {
    let text = serde_json::to_string_pretty(check(checks, id)).unwrap();
    crate::harness::assert_text(&(n.apply(&text) + "\n"), expected);
}

pub fn message(checks: &[Value], id: &str) -> String {
    check(checks, id)["message"].as_str().unwrap().to_owned()
}

const IDS: [&str; 20] = [
    "shims",
    "sudo",
    "cron",
    "root",
    "version",
    "upgrade-path",
    "user",
    "ruby",
    "node",
    "config",
    "encryption-keys",
    "database",
    "postgresql-version",
    "pooler",
    "migration-lock",
    "migrations",
    "db-password",
    "memory",
    "shell-env",
    "completion",
];

#[test]
fn doctor_passes_every_check_on_a_good_setup() {
    let s = Setup::good();
    let (code, checks) = s.doctor_json(s.tootguard());
    assert_eq!(code, Some(0), "{checks:#?}");
    let ids: Vec<&str> = checks.iter().map(|c| c["id"].as_str().unwrap()).collect();
    assert_eq!(ids, IDS);
    for id in IDS {
        assert_level(&checks, id, "ok");
    }
    assert!(message(&checks, "pooler").contains("over a Unix socket"));
    assert!(message(&checks, "migration-lock").contains("is free"));
    assert!(message(&checks, "migrations").contains("every migration"));
    assert!(message(&checks, "version").contains("Mastodon 4.3.2"));
    assert!(message(&checks, "ruby").contains("3.3.5"));
    assert!(message(&checks, "node").contains("22.11.0"));
    assert!(message(&checks, "node").contains(">=20"));
    assert!(message(&checks, "database").contains(&format!(".s.PGSQL.{}", s.db_port)));
    assert!(message(&checks, "memory").contains("8192 MB available RAM"));
    assert!(message(&checks, "user").contains("belongs to root"));
}

/// The good setup's doctor rows from `shims` to `memory`, as
/// [`Setup::normaliser`] names their parts; `ruby` is the ruby row (upgrade's
/// preflight prints them too).
pub fn good_rows(ruby: &str) -> String {
    unindent(
        r#"
        ok    shims      rails, rake, tootctl, ruby and bundle on PATH are tootguard's shims ([BASE]/shims): every spelling of the docs is guarded
        ok    sudo       [SUDO]
        ok    cron       no crontab for this user
        ok    root       Mastodon production install at [BASE]/live (found by working directory)
        ok    version    Mastodon 4.3.2 (lib/mastodon/version.rb)
        ok    upgrade-path  4.3.2, the first version checked out since the clone
        ok    user       [OWNER]
        RUBY-ROW
        ok    node       node 22.11.0 ([FAKE]/node) satisfies package.json's engines.node ">=20"
        ok    config     .env.production read cleanly
        ok    encryption-keys  no config/initializers/active_record_encryption.rb in this checkout: this version does not need the Active Record encryption keys
        ok    database   the database answers at [BASE]/pg (socket .s.PGSQL.[PGPORT]) (from DB_HOST/DB_PORT)
        ok    postgresql-version  no minimum PostgreSQL version stated in lib/tasks/db.rake; PostgreSQL at [BASE]/pg (socket .s.PGSQL.[PGPORT]) is [PGVERSION]
        ok    pooler     no PgBouncer assumed: migrations go to [BASE]/pg (socket .s.PGSQL.[PGPORT]) (by the port: over a Unix socket the server cannot say whether a pooler is in between)
        ok    migration-lock  Rails' migration lock on mastodon_production is free (advisory lock 78736240045650285)
        ok    migrations  every migration of this checkout is applied (0 pre-deployment, 0 post-deployment)
        ok    db-password  no database password is set (PostgreSQL's peer or trust authentication)
        ok    memory     8192 MB available RAM + 2048 MB free swap = 10240 MB; assets:precompile needs about 2560 MB: enough
        "#,
    )
    .replace("RUBY-ROW", ruby)
}

/// The good setup's ruby row.
pub const RUBY_OK: &str = "ok    ruby       ruby 3.3.5 ([FAKE]/ruby)";

#[test]
fn doctor_text_is_a_table_of_levels_ids_and_fixes() {
    let s = Setup::good();
    let out = s
        .tootguard()
        .arg("doctor")
        .env("SKIP_POST_DEPLOYMENT_MIGRATIONS", "false")
        .run();
    out.expect_code(0)
        .expect_stdout_is(
            &s.normaliser(),
            &(good_rows(RUBY_OK)
                + &unindent(
                    r#"
            warn  shell-env  SKIP_POST_DEPLOYMENT_MIGRATIONS is exported (as "false"): Mastodon skips the post-deployment migrations whenever it is set, whatever its value, even `false` (lib/mastodon/database.rb), so a later `rails db:migrate` leaves them undone.
                             fix: `unset SKIP_POST_DEPLOYMENT_MIGRATIONS`, and remove the export from ~/.bashrc or ~/.profile if it is there.
            ok    completion  tootctl completion reads [BASE]/live/lib/mastodon/cli (Mastodon 4.3.2, read from [BASE]/live/lib/mastodon/cli)
            "#,
                )),
        )
        .expect_stderr_is(&s.normaliser(), "");
    for id in IDS {
        assert!(
            out.stdout
                .lines()
                .any(|l| l.split_whitespace().nth(1) == Some(id)),
            "no line for {id}:\n{}",
            out.stdout
        );
    }
    let warn = out
        .stdout
        .lines()
        .position(|l| l.starts_with("warn") && l.contains("shell-env"))
        .expect("a shell-env warning line");
    let fix = out.stdout.lines().nth(warn + 1).unwrap();
    assert!(
        fix.trim_start()
            .starts_with("fix: `unset SKIP_POST_DEPLOYMENT_MIGRATIONS`"),
        "{}",
        out.stdout
    );
}

#[test]
fn doctor_fails_without_a_mastodon_root() {
    let s = Setup::good();
    let elsewhere = s.w.base().join("elsewhere");
    fs::create_dir_all(&elsewhere).unwrap();
    let (code, checks) = s.doctor_json(
        s.tootguard()
            .dir(&elsewhere)
            .env("TOOTGUARD_DEFAULT_ROOT", ""),
    );
    assert_eq!(code, Some(1));
    assert_level(&checks, "root", "fail");
    let n = s.w.normaliser();
    assert_check(
        &n,
        &checks,
        "root",
        r#"
        {
          "fix": "`cd /home/mastodon/live` (or wherever Mastodon lives), or set MASTODON_ROOT to it.",
          "id": "root",
          "level": "fail",
          "message": "found no Mastodon install: MASTODON_ROOT is unset, none in [BASE]/elsewhere or its parents (a directory with bin/tootctl and config/application.rb), no ~mastodon/live"
        }
        "#,
    );
    // The checks that need a root say so; the others still run.
    assert_check(
        &n,
        &checks,
        "version",
        r#"
        {
          "fix": null,
          "id": "version",
          "level": "warn",
          "message": "not checked: no Mastodon install (see the `root` check)"
        }
        "#,
    );
    assert_level(&checks, "ruby", "ok");
}

#[test]
fn doctor_fails_on_a_mastodon_root_setting_that_is_not_one() {
    let s = Setup::good();
    let (code, checks) = s.doctor_json(s.tootguard().env("MASTODON_ROOT", s.w.base()));
    assert_eq!(code, Some(1));
    assert_level(&checks, "root", "fail");
    assert_check(
        &s.w.normaliser(),
        &checks,
        "root",
        r#"
        {
          "fix": "Unset MASTODON_ROOT, or set it to the Mastodon directory (usually /home/mastodon/live).",
          "id": "root",
          "level": "fail",
          "message": "MASTODON_ROOT is [BASE], which is not a Mastodon install (it has no config/application.rb). Set MASTODON_ROOT to the directory you run Mastodon from (usually /home/mastodon/live), or unset it to let tootguard find the install from the working directory."
        }
        "#,
    );
}

#[test]
fn doctor_warns_on_a_development_checkout() {
    let s = Setup::good();
    fs::remove_file(s.w.root.join(".env.production")).unwrap();
    let (code, checks) = s.doctor_json(s.tootguard());
    assert_eq!(code, Some(0));
    assert_level(&checks, "root", "warn");
    assert!(message(&checks, "root").contains("development checkout"));
}

#[test]
fn doctor_warns_when_the_version_file_is_missing_or_unreadable() {
    let s = Setup::good();
    fs::remove_file(s.w.root.join("lib/mastodon/version.rb")).unwrap();
    let (code, checks) = s.doctor_json(s.tootguard());
    assert_eq!(code, Some(0));
    assert_level(&checks, "version", "warn");
    fs::write(
        s.w.root.join("lib/mastodon/version.rb"),
        b"module Mastodon \xff\xfe\n  def major\n    four\n  end\n",
    )
    .unwrap();
    let (_, checks) = s.doctor_json(s.tootguard());
    assert_level(&checks, "version", "warn");
    assert!(message(&checks, "version").contains("def major"));
}

// Needs the configuration reader (src/config/) in place of config_stub.rs,
// which reads no file and so never fails.
#[test]
fn doctor_fails_when_an_env_file_cannot_be_read() {
    let s = Setup::good();
    let env = s.w.root.join(".env.production");
    fs::remove_file(&env).unwrap();
    // A directory: unreadable as a file even for root, who runs these tests.
    fs::create_dir(&env).unwrap();
    let (code, checks) = s.doctor_json(s.tootguard());
    assert_eq!(code, Some(1));
    assert_level(&checks, "config", "fail");
    assert!(message(&checks, "config").contains(".env.production"));
}

#[test]
fn doctor_warns_when_an_env_file_sets_skip_post_deployment_migrations() {
    let s = Setup::good();
    fs::write(
        s.w.root.join(".env.production"),
        "LOCAL_DOMAIN=example.test\nSKIP_POST_DEPLOYMENT_MIGRATIONS=false\n",
    )
    .unwrap();
    let (code, checks) = s.doctor_json(s.tootguard());
    assert_eq!(code, Some(0));
    assert_level(&checks, "config", "warn");
    assert!(message(&checks, "config").contains(".env.production"));
}

#[test]
fn doctor_fails_when_ruby_is_not_the_version_ruby_version_names() {
    let s = Setup::good();
    fs::write(s.w.root.join(".ruby-version"), "3.4.1\n").unwrap();
    let (code, checks) = s.doctor_json(s.tootguard());
    assert_eq!(code, Some(1));
    assert_level(&checks, "ruby", "fail");
    let n = s.w.normaliser().with(s.fake.display(), "[FAKE]");
    assert_check(
        &n,
        &checks,
        "ruby",
        r#"
        {
          "fix": "Install Ruby 3.4.1 (`rbenv install` in the install directory) and with rbenv, add `eval \"$(rbenv init -)\"` to ~/.bashrc so ~/.rbenv/shims comes first on PATH, then open a new shell.",
          "id": "ruby",
          "level": "fail",
          "message": "ruby on PATH ([FAKE]/ruby) is 3.3.5, but .ruby-version asks for 3.4.1"
        }
        "#,
    );
}

#[test]
fn doctor_accepts_the_ruby_version_ruby_version_names_with_or_without_prefix() {
    let s = Setup::good();
    fs::write(s.w.root.join(".ruby-version"), "ruby-3.3.5\n").unwrap();
    let (code, checks) = s.doctor_json(s.tootguard());
    assert_eq!(code, Some(0));
    assert_level(&checks, "ruby", "ok");
    fs::write(s.w.root.join(".ruby-version"), "3.3\n").unwrap();
    let (_, checks) = s.doctor_json(s.tootguard());
    assert_level(&checks, "ruby", "ok");
}

#[test]
fn doctor_fails_when_ruby_is_not_on_path() {
    let s = Setup::good();
    fs::remove_file(s.fake.join("ruby")).unwrap();
    let bare_path = format!("{}:{}", s.w.shims.display(), s.fake.display());
    let (code, checks) = s.doctor_json(s.tootguard().env("PATH", bare_path));
    assert_eq!(code, Some(1));
    assert_level(&checks, "ruby", "fail");
    assert!(message(&checks, "ruby").contains("#!/usr/bin/env ruby"));
}

#[test]
fn doctor_fails_when_node_does_not_satisfy_package_json_engines() {
    let s = Setup::good();
    let (code, checks) = s.doctor_json(s.tootguard().env("TG_NODE_VERSION", "18.19.1"));
    assert_eq!(code, Some(1));
    assert_level(&checks, "node", "fail");
    let n = s.w.normaliser().with(s.fake.display(), "[FAKE]");
    assert_check(
        &n,
        &checks,
        "node",
        r#"
        {
          "fix": "Install a Node.js whose version satisfies \">=20\" (Mastodon's docs use the NodeSource packages), then `corepack enable` for yarn.",
          "id": "node",
          "level": "fail",
          "message": "node 18.19.1 ([FAKE]/node) does not satisfy package.json's engines.node \">=20\""
        }
        "#,
    );
}

#[test]
fn doctor_reads_alternatives_and_ranges_in_engines_and_warns_on_unknown_syntax() {
    let s = Setup::good();
    let engines = |range: &str| {
        fs::write(
            s.w.root.join("package.json"),
            format!(r#"{{"engines": {{"node": "{range}"}}}}"#),
        )
        .unwrap();
    };
    engines("^20.19.0 || >=22.12.0");
    let (_, checks) = s.doctor_json(s.tootguard().env("TG_NODE_VERSION", "20.19.2"));
    assert_level(&checks, "node", "ok");
    engines(">=20 <22");
    let (_, checks) = s.doctor_json(s.tootguard());
    assert_level(&checks, "node", "fail");
    engines("lts/jod");
    let (code, checks) = s.doctor_json(s.tootguard());
    assert_eq!(code, Some(0));
    assert_level(&checks, "node", "warn");
    fs::write(s.w.root.join("package.json"), b"{not json\xff").unwrap();
    let (_, checks) = s.doctor_json(s.tootguard());
    assert_level(&checks, "node", "warn");
}

#[test]
fn doctor_accepts_a_root_owned_install_when_running_as_root() {
    let s = Setup::good();
    let (_, checks) = s.doctor_json(s.tootguard());
    assert_level(&checks, "user", "ok");
}

#[test]
#[cfg_attr(
    not(tests_as_root),
    ignore = "needs root to give the install away (run the suite as root, as CI does)"
)]
fn doctor_warns_as_root_in_an_install_owned_by_another_user_and_names_them() {
    let s = Setup::good();
    std::os::unix::fs::chown(&s.w.root, Some(65534), Some(65534)).unwrap();
    let owner = nix::unistd::User::from_uid(65534.into())
        .unwrap()
        .map_or_else(|| "65534".to_owned(), |u| u.name);
    let (_, checks) = s.doctor_json(s.tootguard());
    // The user guard runs the commands as the owner: a warning to work as
    // the owner, not a failure that would stop `upgrade` as root.
    assert_level(&checks, "user", "warn");
    assert!(message(&checks, "user").contains(&format!("as {owner}, the owner of")));
    assert!(
        check(&checks, "user")["fix"]
            .as_str()
            .unwrap()
            .contains(&format!("su - {owner}"))
    );
}

#[test]
fn doctor_fails_when_nothing_answers_at_the_database_socket() {
    let s = Setup::good();
    let empty = s.w.base().join("no-postgres-here");
    fs::create_dir_all(&empty).unwrap();
    let (code, checks) = s.doctor_json(s.tootguard().env("DB_HOST", &empty));
    assert_eq!(code, Some(1));
    assert_level(&checks, "database", "fail");
    assert!(message(&checks, "database").contains(&format!(".s.PGSQL.{}", s.db_port)));
}

#[test]
fn doctor_reaches_a_database_over_tcp_and_fails_on_a_closed_port() {
    let s = Setup::good();
    let listener = NotPostgres::tcp();
    let port = listener.port;
    let tcp = || {
        s.tootguard()
            .env("DB_HOST", "127.0.0.1")
            .env("DB_PORT", port.to_string())
    };
    let (_, checks) = s.doctor_json(tcp());
    assert_level(&checks, "database", "ok");
    assert!(message(&checks, "database").contains(&format!("127.0.0.1:{port}")));
    drop(listener);
    let (code, checks) = s.doctor_json(tcp());
    assert_eq!(code, Some(1));
    assert_level(&checks, "database", "fail");
}

#[test]
fn doctor_fails_when_memory_is_too_low_for_precompile_and_gives_the_figures() {
    let s = Setup::good();
    write_meminfo(&s.meminfo, 1024, 0);
    let (code, checks) = s.doctor_json(s.tootguard());
    assert_eq!(code, Some(1));
    assert_level(&checks, "memory", "fail");
    assert!(message(&checks, "memory").contains("1024 MB available RAM + 0 MB free swap"));
    assert!(
        check(&checks, "memory")["fix"]
            .as_str()
            .unwrap()
            .contains("fallocate -l 2G")
    );
}

#[test]
fn doctor_warns_about_skip_post_deployment_migrations_exported_even_as_false() {
    let s = Setup::good();
    let (code, checks) = s.doctor_json(
        s.tootguard()
            .env("SKIP_POST_DEPLOYMENT_MIGRATIONS", "false"),
    );
    assert_eq!(code, Some(0), "a warning does not fail");
    assert_level(&checks, "shell-env", "warn");
    assert!(message(&checks, "shell-env").contains("even `false`"));
    assert!(
        check(&checks, "shell-env")["fix"]
            .as_str()
            .unwrap()
            .contains("unset SKIP_POST_DEPLOYMENT_MIGRATIONS")
    );
}

#[test]
fn doctor_warns_about_a_non_production_rails_env_exported() {
    let s = Setup::good();
    let (_, checks) = s.doctor_json(s.tootguard().env("RAILS_ENV", "development"));
    assert_level(&checks, "shell-env", "warn");
    assert!(
        check(&checks, "shell-env")["fix"]
            .as_str()
            .unwrap()
            .contains("unset RAILS_ENV")
    );
}

#[test]
fn doctor_warns_when_path_finds_another_rails_before_the_shim() {
    let s = Setup::good();
    let other = s.w.base().join("other");
    write_executable(&other.join("rails"), "#!/bin/sh\nexit 0\n");
    let path = format!("{}:{}", other.display(), s.path());
    let (code, checks) = s.doctor_json(s.tootguard().env("PATH", path));
    assert_eq!(code, Some(0));
    assert_level(&checks, "shims", "warn");
    assert!(message(&checks, "shims").contains(&other.join("rails").display().to_string()));
    assert!(
        check(&checks, "shims")["fix"]
            .as_str()
            .unwrap()
            .contains(&format!("export PATH=\"{}:$PATH\"", s.w.shims.display()))
    );
}

#[test]
fn doctor_advises_relinking_shims_that_run_tootguard_instead_of_the_shim_binary() {
    let s = Setup::good();
    let (_, checks) = s.doctor_json(s.tootguard());
    assert_level(&checks, "shims", "ok");
    assert!(!message(&checks, "shims").contains("tootguard-shim"));
    for tool in ["rails", "rake", "tootctl"] {
        let link = s.w.shims.join(tool);
        std::fs::remove_file(&link).unwrap();
        std::os::unix::fs::symlink(crate::harness::tootguard(), &link).unwrap();
    }
    let (code, checks) = s.doctor_json(s.tootguard());
    assert_eq!(code, Some(0));
    // Guarded all the same: advice, not a warning (upgrade stops on those).
    assert_level(&checks, "shims", "ok");
    let text = message(&checks, "shims");
    assert!(text.contains("not tootguard-shim"), "{text}");
    assert!(text.contains(&s.w.shims.join("tootctl").display().to_string()));
    assert!(
        text.contains(&format!(
            "to relink them: `tootguard install --dir {}`",
            s.w.shims.display()
        )),
        "{text}"
    );
}

#[test]
fn doctor_advises_ln_for_a_shim_that_is_a_copy_and_never_install_force() {
    let s = Setup::good();
    // `tootctl` is found as a copy of tootguard, in a directory that also
    // holds a real `rake` (behind the shim's) that a directory-wide
    // `install --force` would replace.
    let copies = s.w.base().join("copies dir");
    std::fs::create_dir_all(&copies).unwrap();
    std::fs::copy(crate::harness::tootguard(), copies.join("tootctl")).unwrap();
    write_executable(&copies.join("rake"), "#!/bin/sh\necho real rake\n");
    std::fs::remove_file(s.w.shims.join("tootctl")).unwrap();
    let path = format!("{}:{}", s.path(), copies.display());
    let (_, checks) = s.doctor_json(s.tootguard().env("PATH", path));
    assert_level(&checks, "shims", "ok");
    let text = message(&checks, "shims");
    let expected = format!(
        "`ln -sf {} '{}'`",
        crate::harness::shim_binary()
            .canonicalize()
            .unwrap()
            .display(),
        copies.join("tootctl").display()
    );
    assert!(text.contains(&expected), "{text}\nexpected {expected}");
    assert!(!text.contains("--force"), "{text}");
}

#[test]
fn doctor_says_to_install_the_shims_when_none_is_on_path() {
    let s = Setup::good();
    let path = format!("{}:/usr/bin:/bin", s.fake.display());
    let (_, checks) = s.doctor_json(s.tootguard().env("PATH", path));
    assert_level(&checks, "shims", "warn");
    assert!(
        check(&checks, "shims")["fix"]
            .as_str()
            .unwrap()
            .contains("tootguard install")
    );
}

#[test]
fn doctor_finds_a_skip_setting_in_a_file_whatever_the_install_path_says() {
    // The source is told by its kind, not by the words in its path.
    let s = Setup::good();
    let odd = s.w.base().join("argument environment");
    s.w.make_root(&odd);
    for tool in ["rails", "rake", "tootctl"] {
        write_executable(&odd.join("bin").join(tool), LOGGER);
    }
    fs::write(
        odd.join(".env.production"),
        "SKIP_POST_DEPLOYMENT_MIGRATIONS=true\n",
    )
    .unwrap();
    let (_, checks) = s.doctor_json(s.tootguard().env("MASTODON_ROOT", &odd));
    assert_level(&checks, "config", "warn");
}

#[test]
fn doctor_reads_the_crontab_and_names_mastodon_jobs_that_do_not_reach_tootguard() {
    let s = Setup::good();
    let crontab = s.w.base().join("crontab");
    fs::write(
        &crontab,
        format!(
            "MAILTO=admin@example.test\n\
             # media cleanup, as the docs suggest\n\
             0 4 * * * RAILS_ENV=production {root}/bin/tootctl media remove\n\
             @daily cd {root} && bundle exec rake mastodon:daily\n\
             5 * * * * /usr/local/bin/backup\n",
            root = s.w.root.display()
        ),
    )
    .unwrap();
    let (code, checks) = s.doctor_json(s.tootguard());
    assert_eq!(code, Some(0));
    assert_eq!(
        check(&checks, "cron"),
        &serde_json::json!({
            "id": "cron",
            "level": "warn",
            "message": "crontab jobs run with PATH=/usr/bin:/bin, which does not reach tootguard \
                        for line 3 (`ruby`), line 4 (`bundle`)",
            "fix": format!(
                "Put `PATH={}:/usr/bin:/bin` above the jobs in the crontab (`crontab -e`).",
                s.w.shims.display()
            ),
        })
    );

    // With that line, both jobs reach the shims.
    let text = fs::read_to_string(&crontab).unwrap();
    fs::write(
        &crontab,
        format!("PATH={}:/usr/bin:/bin\n{text}", s.w.shims.display()),
    )
    .unwrap();
    let (_, checks) = s.doctor_json(s.tootguard());
    assert_level(&checks, "cron", "ok");
    assert_eq!(
        message(&checks, "cron"),
        format!(
            "the crontab's 2 Mastodon job(s) reach tootguard (PATH={}:/usr/bin:/bin)",
            s.w.shims.display()
        )
    );

    fs::remove_file(&crontab).unwrap();
    let (_, checks) = s.doctor_json(s.tootguard());
    assert_eq!(message(&checks, "cron"), "no crontab for this user");
}

/// An admin in the sudo group is told that `sudo tootctl` bypasses a
/// per-user install, with the command that fixes it.
#[test]
#[cfg_attr(
    not(tests_as_root),
    ignore = "needs root to create a user in the sudo group (run the suite as root, as CI does)"
)]
fn doctor_tells_a_sudoer_that_sudo_runs_are_not_guarded_without_a_system_install() {
    let s = Setup::good();
    let user = crate::harness::TestUser::create(&s.w.base().join("admin"));
    let add = crate::harness::output(
        std::process::Command::new("gpasswd").args(["-a", &user.name, "sudo"]),
        std::time::Duration::from_secs(20),
    );
    assert!(add.status.success(), "{add:?}");
    for dir in [s.w.base(), s.w.shims.clone()] {
        std::fs::set_permissions(&dir, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .unwrap();
    }
    let out = user
        .command(
            &[("PATH", std::ffi::OsStr::new(&s.path()))],
            crate::harness::tootguard(),
        )
        .args(["doctor", "--json"])
        .dir(&s.w.root)
        .run();
    let checks: Value = serde_json::from_str(&out.stdout).unwrap();
    let sudo = crate::harness::row(&checks, "sudo");
    // /usr/local/bin has no tootguard on this machine (the system install
    // is proven in spellings.rs, in a mount namespace of its own).
    assert_eq!(sudo["level"], "warn", "{sudo:#}");
    assert_eq!(
        sudo["message"],
        "`sudo tootctl …` and `sudo -u mastodon tootctl …` are not guarded: sudo resets PATH \
         to its secure_path (/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin, \
         Debian's default; /etc/sudoers is readable by root only), which finds no tootctl \
         (`sudo: tootctl: command not found`)"
    );
    assert_eq!(
        sudo["fix"],
        format!(
            "`sudo {} install --system` puts the shims in /usr/local/bin, which is in \
             secure_path.",
            crate::harness::tootguard().display()
        )
    );
}
