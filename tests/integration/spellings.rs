//! Every spelling of Mastodon's commands that its docs, release notes and
//! cron examples use is guarded — once — on an install laid out as the
//! docs set it up, with nothing but the shim directory first on PATH.
//!
//! The install belongs to a real unprivileged user. Its `bin/rails`,
//! `bin/rake` and `bin/tootctl` are Ruby scripts starting with
//! `#!/usr/bin/env ruby`, as upstream's are, and `vendor/bundle` holds
//! Ruby `rails` and `rake` executables, as a deployment install
//! (`BUNDLE_PATH: vendor/bundle`) has: real Bundler puts that directory
//! first on PATH and loads them in its own process. Each of these
//! recorders writes one JSON line (its own path, argv, environment, uid,
//! working directory). `.env.production` points the database at a port
//! where nothing listens (the "PgBouncer") and names a direct port where
//! the test listens (the "PostgreSQL"): a migration recorded with the
//! direct port went around the pooler. These tests need root, to make
//! the user.

use std::ffi::OsStr;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use serde_json::Value;
use tempfile::TempDir;

use crate::harness::{
    ClosedPort, Outcome, SHIMS, TestUser, chown_tree, shim_binary, write_executable,
};

/// Stands in for Mastodon's bin/ scripts and the gems' rails and rake.
/// `RECORD_DIR` is replaced by the directory the log goes to (sudo
/// clears the environment, so it cannot come from there).
const RECORDER: &str = r#"#!/usr/bin/env ruby
# A tootguard test recorder: what it was started with, as one JSON line.
require 'json'
keys = %w[RAILS_ENV DB_HOST DB_PORT SKIP_POST_DEPLOYMENT_MIGRATIONS HOME PATH]
File.open(File.join('RECORD_DIR', 'log.jsonl'), 'a') do |f|
  f.puts JSON.generate('file' => File.expand_path(__FILE__), 'argv' => ARGV,
                       'env' => ENV.to_h.slice(*keys), 'uid' => Process.uid,
                       'pwd' => Dir.pwd)
end
"#;

/// An install as the docs lay it out, owned by a user of its own.
pub struct Install {
    _tmp: TempDir,
    pub base: PathBuf,
    pub user: TestUser,
    pub root: PathBuf,
    pub shims: PathBuf,
    record: PathBuf,
    /// `vendor/bundle/ruby/<version>/bin`: Bundler's bin directory.
    pub gem_bin: PathBuf,
    /// Where "PostgreSQL" listens: the port a migration must get.
    _direct: crate::harness::NotPostgres,
    pub direct_port: u16,
    /// The "PgBouncer" of `.env.production`: nothing answers there.
    _pooled: ClosedPort,
    pub pooled_port: u16,
}

/// What one recorder run saw.
#[derive(Debug)]
pub struct Record {
    pub file: PathBuf,
    pub argv: Vec<String>,
    pub env: Value,
    pub uid: u32,
    pub pwd: PathBuf,
}

impl Record {
    pub fn var(&self, name: &str) -> Option<&str> {
        self.env[name].as_str()
    }
}

impl Install {
    pub fn new() -> Install {
        let tmp = tempfile::Builder::new()
            .prefix("tootguard-spell")
            .tempdir_in(crate::harness::test_base())
            .unwrap();
        let base = tmp.path().canonicalize().unwrap();
        fs::set_permissions(&base, fs::Permissions::from_mode(0o755)).unwrap();
        let user = TestUser::create(&base.join("home"));
        let record = base.join("record");
        fs::create_dir_all(&record).unwrap();
        fs::set_permissions(&record, fs::Permissions::from_mode(0o777)).unwrap();
        let recorder = RECORDER.replace("RECORD_DIR", &record.display().to_string());
        let root = base.join("live");
        for tool in ["rails", "rake", "tootctl"] {
            write_executable(&root.join("bin").join(tool), &recorder);
        }
        // Upstream kept a Bundler binstub in bin/ until 4.5.
        write_executable(
            &root.join("bin/bundle"),
            "#!/usr/bin/env ruby\nload Gem.bin_path('bundler', 'bundle')\n",
        );
        fs::create_dir_all(root.join("config")).unwrap();
        fs::write(root.join("config/application.rb"), "# the test's\n").unwrap();
        // Bundler, as a deployment install configures it; an empty bundle.
        fs::write(root.join("Gemfile"), "").unwrap();
        fs::write(
            root.join("Gemfile.lock"),
            "GEM\n  specs:\n\nPLATFORMS\n  ruby\n\nDEPENDENCIES\n",
        )
        .unwrap();
        fs::create_dir_all(root.join(".bundle")).unwrap();
        fs::write(
            root.join(".bundle/config"),
            "---\nBUNDLE_PATH: \"vendor/bundle\"\nBUNDLE_DEPLOYMENT: \"true\"\n",
        )
        .unwrap();
        let gem_bin = root
            .join("vendor/bundle/ruby")
            .join(ruby_api_version())
            .join("bin");
        for tool in ["rails", "rake"] {
            write_executable(&gem_bin.join(tool), &recorder);
        }
        let direct = crate::harness::NotPostgres::tcp();
        let direct_port = direct.port;
        let pooled = ClosedPort::new();
        let pooled_port = pooled.port;
        fs::write(
            root.join(".env.production"),
            format!(
                "LOCAL_DOMAIN=example.test\nDB_HOST=127.0.0.1\nDB_PORT={pooled_port}\n\
                 PREPARED_STATEMENTS=false\nTOOTGUARD_DIRECT_DB_PORT={direct_port}\n"
            ),
        )
        .unwrap();
        chown_tree(&root, user.uid, user.gid);

        let shims = base.join("shims");
        fs::create_dir_all(&shims).unwrap();
        for name in SHIMS {
            std::os::unix::fs::symlink(shim_binary(), shims.join(name)).unwrap();
        }
        Install {
            _tmp: tmp,
            base,
            user,
            root,
            shims,
            record,
            gem_bin,
            _direct: direct,
            direct_port,
            _pooled: pooled,
            pooled_port,
        }
    }

    /// The PATH of a login shell with tootguard's directory first.
    pub fn guarded_path(&self) -> String {
        format!("{}:/usr/bin:/bin", self.shims.display())
    }

    /// `bash -c SCRIPT` as the install's owner in `dir`, with only PATH,
    /// HOME and the recorders' directory in the environment (as cron runs
    /// a job: `env -i`). Returns the outcome and what the recorders saw.
    pub fn run(&self, script: &str, dir: &Path, path: &str) -> (Outcome, Vec<Record>) {
        let _ = fs::remove_file(self.record.join("log.jsonl"));
        let out = self
            .user
            .command(
                &[
                    ("PATH", OsStr::new(path)),
                    ("HOME", self.user.home.as_os_str()),
                    ("NO_COLOR", OsStr::new("1")),
                    ("TOOTGUARD_DEFAULT_ROOT", OsStr::new("")),
                ],
                "/bin/bash",
            )
            .args(["-c", script])
            .dir(dir)
            .run();
        (out, self.records())
    }

    /// What the recorders saw since the log was last cleared.
    pub fn records(&self) -> Vec<Record> {
        fs::read_to_string(self.record.join("log.jsonl"))
            .unwrap_or_default()
            .lines()
            .map(|line| {
                let json: Value = serde_json::from_str(line).unwrap();
                Record {
                    file: PathBuf::from(json["file"].as_str().unwrap()),
                    argv: json["argv"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|a| a.as_str().unwrap().to_owned())
                        .collect(),
                    env: json["env"].clone(),
                    uid: u32::try_from(json["uid"].as_u64().unwrap()).unwrap(),
                    pwd: PathBuf::from(json["pwd"].as_str().unwrap()),
                }
            })
            .collect()
    }

    /// A recorder of this install's kind at `path`, writing to its log.
    pub fn write_recorder(&self, path: &Path) {
        let recorder = RECORDER.replace("RECORD_DIR", &self.record.display().to_string());
        write_executable(path, &recorder);
    }
}

/// Ruby's API version (`3.1.0`), which names Bundler's directory.
fn ruby_api_version() -> String {
    // Debian package ruby.
    let out = crate::harness::output(
        std::process::Command::new("ruby").args(["-e", "print RbConfig::CONFIG['ruby_version']"]),
        std::time::Duration::from_secs(20),
    );
    String::from_utf8(out.stdout).unwrap()
}

/// One spelling: what to type, where, which recorder must run with which
/// arguments and in which directory, and whether it is a migration.
struct Case {
    script: String,
    dir: PathBuf,
    recorder: PathBuf,
    argv: &'static [&'static str],
    pwd: PathBuf,
    migration: bool,
    /// RAILS_ENV=production was typed: no notice for it.
    env_given: bool,
}

fn cases(i: &Install) -> Vec<Case> {
    let root = &i.root;
    let bin = |tool: &str| root.join("bin").join(tool);
    let gem = |tool: &str| i.gem_bin.join(tool);
    let case = |script: &str, recorder: PathBuf, argv: &'static [&'static str]| Case {
        script: script.to_owned(),
        dir: root.clone(),
        recorder,
        argv,
        pwd: root.clone(),
        migration: argv.first() == Some(&"db:migrate"),
        env_given: script.contains("RAILS_ENV=production"),
    };
    let migrate: &[&str] = &["db:migrate"];
    let absolute = format!("{}", bin("tootctl").display());
    vec![
        case("rails db:migrate", bin("rails"), migrate),
        case("rake db:migrate", bin("rake"), migrate),
        case(
            "tootctl accounts list",
            bin("tootctl"),
            &["accounts", "list"],
        ),
        case("bin/rails db:migrate", bin("rails"), migrate),
        case("./bin/rails db:migrate", bin("rails"), migrate),
        case("bin/rake db:migrate", bin("rake"), migrate),
        case(
            "bin/tootctl accounts list",
            bin("tootctl"),
            &["accounts", "list"],
        ),
        case(
            "./bin/tootctl accounts list",
            bin("tootctl"),
            &["accounts", "list"],
        ),
        case(
            "RAILS_ENV=production bin/rails db:migrate",
            bin("rails"),
            migrate,
        ),
        case(
            "RAILS_ENV=production bin/tootctl media remove",
            bin("tootctl"),
            &["media", "remove"],
        ),
        case("bundle exec rails db:migrate", gem("rails"), migrate),
        case("bundle exec rake db:migrate", gem("rake"), migrate),
        case(
            "SKIP_POST_DEPLOYMENT_MIGRATIONS=true RAILS_ENV=production bundle exec rails db:migrate",
            gem("rails"),
            migrate,
        ),
        case(
            "RAILS_ENV=production bundle exec rails assets:precompile",
            gem("rails"),
            &["assets:precompile"],
        ),
        case(
            "bundle exec tootctl accounts list",
            bin("tootctl"),
            &["accounts", "list"],
        ),
        case("bundle exec bin/rails db:migrate", bin("rails"), migrate),
        case(
            "bundle exec bin/tootctl accounts list",
            bin("tootctl"),
            &["accounts", "list"],
        ),
        case("ruby bin/rails db:migrate", bin("rails"), migrate),
        case("bin/bundle exec rails db:migrate", gem("rails"), migrate),
        // As cron runs it: an absolute path, from the home directory.
        Case {
            dir: i.user.home.clone(),
            pwd: i.user.home.clone(),
            ..case(
                &format!("RAILS_ENV=production {absolute} media remove"),
                bin("tootctl"),
                &["media", "remove"],
            )
        },
        Case {
            dir: i.user.home.clone(),
            pwd: i.user.home.clone(),
            ..case(
                &format!("{absolute} media remove"),
                bin("tootctl"),
                &["media", "remove"],
            )
        },
        // Rails needs its Rakefile: moved into the install, the relative
        // script path with it.
        Case {
            dir: i.base.clone(),
            ..case("live/bin/rails db:migrate", bin("rails"), migrate)
        },
    ]
}

impl Case {
    /// Everything tootguard says for this spelling, line by line.
    fn expected_stderr(&self, i: &Install) -> String {
        let mut lines = Vec::new();
        if !self.env_given {
            lines.push(
                "tootguard: RAILS_ENV was not set; running with RAILS_ENV=production \
                 (production install)"
                    .to_owned(),
            );
        }
        if self.pwd == i.root && self.dir != i.root {
            let tool = self.recorder.file_name().unwrap().to_string_lossy();
            lines.push(format!(
                "tootguard: running {tool} in {} (Rails needs the install's Rakefile)",
                i.root.display()
            ));
        }
        if self.migration {
            lines.push(format!(
                "tootguard: migrating directly to PostgreSQL at 127.0.0.1:{}, skipping \
                 PgBouncer at 127.0.0.1:{}",
                i.direct_port, i.pooled_port
            ));
        }
        lines.iter().map(|l| format!("{l}\n")).collect()
    }
}

#[test]
#[cfg_attr(
    not(tests_as_root),
    ignore = "needs root to create the install's user (run the suite as root, as CI does)"
)]
fn every_spelling_of_the_docs_is_guarded_once_with_only_the_shims_first_on_path() {
    let i = Install::new();
    // Memory is not what this test is about: plenty of it.
    let meminfo = i.base.join("meminfo");
    fs::write(
        &meminfo,
        "MemAvailable: 8388608 kB\nSwapTotal: 1048576 kB\nSwapFree: 1048576 kB\n",
    )
    .unwrap();
    for case in cases(&i) {
        let script = format!(
            "export TOOTGUARD_MEMINFO={}; {}",
            meminfo.display(),
            case.script
        );
        let (out, records) = i.run(&script, &case.dir, &i.guarded_path());
        let label = &case.script;
        out.expect_code(0);
        assert_eq!(out.stderr, case.expected_stderr(&i), "{label}");
        assert_eq!(records.len(), 1, "{label}: ran once: {records:#?}");
        let r = &records[0];
        assert_eq!(r.file, case.recorder, "{label}");
        assert_eq!(r.argv, case.argv, "{label}");
        assert_eq!(r.pwd, case.pwd, "{label}");
        assert_eq!(r.uid, i.user.uid, "{label}");
        assert_eq!(r.var("RAILS_ENV"), Some("production"), "{label}");
        let port = i.direct_port.to_string();
        if case.migration {
            assert_eq!(r.var("DB_PORT"), Some(port.as_str()), "{label}");
        } else {
            assert_eq!(r.var("DB_PORT"), None, "{label}");
        }
        if case.script.contains("SKIP_POST") {
            assert_eq!(
                r.var("SKIP_POST_DEPLOYMENT_MIGRATIONS"),
                Some("true"),
                "{label}"
            );
        }
    }
}

/// The control: the same spellings without tootguard on PATH run with no
/// RAILS_ENV, and a migration would read PgBouncer's port from
/// `.env.production` (nothing puts the direct one in its environment).
#[test]
#[cfg_attr(
    not(tests_as_root),
    ignore = "needs root to create the install's user (run the suite as root, as CI does)"
)]
fn without_tootguard_the_spellings_run_unguarded() {
    let i = Install::new();
    for case in cases(&i).into_iter().filter(|c| !c.env_given) {
        // Bare `rails`/`rake`/`tootctl` exist only as tootguard's shims here.
        if !case.script.contains('/') && !case.script.starts_with("bundle") {
            continue;
        }
        let (out, records) = i.run(&case.script, &case.dir, "/usr/bin:/bin");
        if case.script.starts_with("bundle exec tootctl") {
            // tootctl is no gem executable: only tootguard's shim is found.
            out.expect_code(127)
                .expect_stderr("bundler: command not found: tootctl");
            continue;
        }
        out.expect_code(0);
        assert_eq!(out.stderr, "", "{}", case.script);
        assert_eq!(records.len(), 1, "{}", case.script);
        assert_eq!(records[0].var("RAILS_ENV"), None, "{}", case.script);
        assert_eq!(records[0].var("DB_PORT"), None, "{}", case.script);
    }
}

#[test]
#[cfg_attr(
    not(tests_as_root),
    ignore = "needs root to create the install's user (run the suite as root, as CI does)"
)]
fn unrelated_ruby_bundle_and_rake_commands_pass_through_unchanged() {
    let i = Install::new();
    let elsewhere = i.user.home.clone();
    for (script, stdout, dirs) in [
        (
            "ruby -e 'print 6*7'",
            "42".to_owned(),
            &[&i.root, &elsewhere][..],
        ),
        (
            "ruby -we 'print :ok'",
            "ok".to_owned(),
            &[&i.root, &elsewhere],
        ),
        (
            "echo 'print 1+1' | ruby",
            "2".to_owned(),
            &[&i.root, &elsewhere],
        ),
        ("bundle --version", bundle_version(), &[&i.root, &elsewhere]),
        // In the install, `rake` is Mastodon's bin/rake.
        (
            "rake --version | head -c 4",
            "rake".to_owned(),
            &[&elsewhere],
        ),
    ] {
        for dir in dirs {
            let (out, records) = i.run(script, dir, &i.guarded_path());
            out.expect_code(0);
            assert_eq!(
                out.stdout.trim_end(),
                stdout,
                "{script} in {}",
                dir.display()
            );
            assert_eq!(out.stderr, "", "{script} in {}", dir.display());
            assert!(records.is_empty(), "{script}");
        }
    }
    // Another project's Bundler: its own commands, untouched.
    let other = i.user.home.join("other");
    i.write_recorder(&other.join("bin/rails"));
    fs::write(other.join("Gemfile"), "").unwrap();
    chown_tree(&other, i.user.uid, i.user.gid);
    let (out, records) = i.run("ruby bin/rails db:migrate", &other, &i.guarded_path());
    out.expect_code(0);
    assert_eq!(out.stderr, "");
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].file, other.join("bin/rails"));
    assert_eq!(records[0].var("RAILS_ENV"), None);
}

fn bundle_version() -> String {
    // Debian package ruby-bundler.
    let out = crate::harness::output(
        std::process::Command::new("bundle").arg("--version"),
        std::time::Duration::from_secs(20),
    );
    String::from_utf8(out.stdout).unwrap().trim_end().to_owned()
}

// ---------------------------------------------------------------------------
// rbenv

impl Install {
    /// rbenv as Mastodon's docs set it up, from Debian's package: a Ruby
    /// "version" in `~/.rbenv/versions` (here: the system's Ruby, linked),
    /// `rbenv global`, and the shims (bash scripts running `rbenv exec`)
    /// made by `rbenv rehash`. Returns the shim directory.
    fn with_rbenv(&self, version: &str) -> PathBuf {
        let bin = self.user.home.join(".rbenv/versions/3.1.2/bin");
        fs::create_dir_all(&bin).unwrap();
        for program in ["ruby", "bundle", "gem"] {
            std::os::unix::fs::symlink(Path::new("/usr/bin").join(program), bin.join(program))
                .unwrap();
        }
        chown_tree(&self.user.home, self.user.uid, self.user.gid);
        let (out, _) = self.run(
            &format!("rbenv global {version} && rbenv rehash"),
            &self.user.home,
            "/usr/bin:/bin",
        );
        out.expect_code(0);
        let shims = self.user.home.join(".rbenv/shims");
        assert!(shims.join("ruby").is_file(), "rbenv rehash made no shims");
        shims
    }
}

#[test]
#[cfg_attr(
    not(tests_as_root),
    ignore = "needs root to create the install's user (run the suite as root, as CI does)"
)]
fn with_the_shims_before_rbenvs_every_spelling_is_guarded_through_rbenv() {
    let i = Install::new();
    let rbenv = i.with_rbenv("3.1.2");
    let path = format!("{}:{}:/usr/bin:/bin", i.shims.display(), rbenv.display());
    for (script, recorder) in [
        ("bin/tootctl accounts list", i.root.join("bin/tootctl")),
        ("bundle exec rails db:migrate", i.gem_bin.join("rails")),
        ("tootctl accounts list", i.root.join("bin/tootctl")),
    ] {
        let (out, records) = i.run(script, &i.root, &path);
        out.expect_code(0);
        assert_eq!(records.len(), 1, "{script}: {records:#?}");
        assert_eq!(records[0].file, recorder, "{script}");
        assert_eq!(records[0].var("RAILS_ENV"), Some("production"), "{script}");
        // The Ruby that ran is rbenv's: `rbenv exec` put its version on PATH.
        assert!(
            records[0].var("PATH").unwrap().contains(&format!(
                "{}:",
                i.user.home.join(".rbenv/versions/3.1.2/bin").display()
            )),
            "{script}: {:?}",
            records[0].var("PATH")
        );
        assert_eq!(
            out.stderr.matches("RAILS_ENV was not set").count(),
            1,
            "{script}: {}",
            out.stderr
        );
    }
}

/// With rbenv's version `system`, `rbenv exec` looks `ruby` up on PATH
/// again and finds tootguard's: the shim goes on past rbenv, no loop.
#[test]
#[cfg_attr(
    not(tests_as_root),
    ignore = "needs root to create the install's user (run the suite as root, as CI does)"
)]
fn rbenvs_system_ruby_leads_back_to_the_shim_without_a_loop() {
    let i = Install::new();
    let rbenv = i.with_rbenv("system");
    let path = format!("{}:{}:/usr/bin:/bin", i.shims.display(), rbenv.display());
    let (out, records) = i.run("bin/tootctl accounts list", &i.root, &path);
    out.expect_code(0);
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].var("RAILS_ENV"), Some("production"));
    assert!(out.elapsed < std::time::Duration::from_secs(10));
    let (out, _) = i.run("ruby -e 'print 6*7'", &i.user.home, &path);
    out.expect_code(0);
    assert_eq!(out.stdout, "42");
    assert_eq!(out.stderr, "");
}

#[test]
#[cfg_attr(
    not(tests_as_root),
    ignore = "needs root to create the install's user (run the suite as root, as CI does)"
)]
fn rbenvs_shims_first_on_path_are_named_by_install_doctor_and_explain_with_the_line_for_after_rbenv_init()
 {
    let i = Install::new();
    let rbenv = i.with_rbenv("3.1.2");
    let path = format!("{}:{}:/usr/bin:/bin", rbenv.display(), i.shims.display());
    // Not guarded: rbenv's ruby runs bin/tootctl.
    let (out, records) = i.run("bin/tootctl accounts list", &i.root, &path);
    out.expect_code(0);
    assert_eq!(records[0].var("RAILS_ENV"), None);

    let tootguard = crate::harness::tootguard();
    let tootguard = tootguard.display();
    let (out, _) = i.run(
        &format!(
            "{tootguard} install --no-completions --dir {}",
            i.shims.display()
        ),
        &i.root,
        &path,
    );
    out.expect_code(0);
    for name in ["ruby", "bundle"] {
        out.expect_stderr(&format!(
            "tootguard: warning: PATH finds {} before the shim {}",
            rbenv.join(name).display(),
            i.shims.join(name).display()
        ));
    }
    assert!(
        out.stdout.ends_with(&format!(
            "Add this line to ~/.bashrc after the `eval \"$(rbenv init -)\"` line (which puts \
             rbenv's ruby and bundle first), then open a new shell:\n  export PATH=\"{}:$PATH\"\n",
            i.shims.display()
        )),
        "{}",
        out.stdout
    );

    let (out, _) = i.run(&format!("{tootguard} doctor --json"), &i.root, &path);
    let checks: Value = serde_json::from_str(&out.stdout).unwrap();
    let shims = crate::harness::row(&checks, "shims");
    assert_eq!(shims["level"], "warn");
    assert_eq!(
        shims["message"],
        format!(
            "PATH finds {} before any tootguard shim, so `ruby` (nor `bin/tootctl`, \
             `bin/rails`, `ruby bin/rails`) is not guarded; PATH finds {} before any tootguard \
             shim, so `bundle` (nor `bundle exec rails|rake|tootctl`) is not guarded.",
            rbenv.join("ruby").display(),
            rbenv.join("bundle").display()
        )
    );
    assert_eq!(
        shims["fix"],
        format!(
            "Put the shims first on PATH: add `export PATH=\"{}:$PATH\"` to ~/.bashrc after the \
             `eval \"$(rbenv init -)\"` line (it puts rbenv's ruby and bundle first), then open \
             a new shell.",
            i.shims.display()
        )
    );

    let (out, _) = i.run(
        &format!("{tootguard} explain bin/tootctl accounts list"),
        &i.root,
        &path,
    );
    out.expect_code(0);
    assert!(
        out.stdout.contains(&format!(
            "reaches      no: PATH finds {} before any tootguard ruby",
            rbenv.join("ruby").display()
        )),
        "{}",
        out.stdout
    );
}

// ---------------------------------------------------------------------------
// sudo and the system-wide install

/// Runs `script` as root in a mount namespace of its own whose
/// `/usr/local/bin`, `/usr/local/share` and `/etc/fish` are empty tmpfs:
/// `install --system` writes there without touching the machine. Its
/// `/etc/sudoers.d` keeps `TOOTGUARD_DEFAULT_ROOT` through sudo, as an
/// admin whose install is not `~mastodon/live` would configure it, and
/// the script names `default` as that install.
fn in_private_system_dirs(script: &str, dir: &Path, default: &Path) -> Outcome {
    let script = format!(
        "set -e\nfor d in /usr/local/bin /usr/local/share /etc/fish /etc/sudoers.d; do \
         mkdir -p \"$d\" && mount -t tmpfs -o mode=755 tootguard-test \"$d\"; done\n\
         echo 'Defaults env_keep += \"TOOTGUARD_DEFAULT_ROOT\"' > /etc/sudoers.d/tootguard\n\
         chmod 440 /etc/sudoers.d/tootguard\n\
         export TOOTGUARD_DEFAULT_ROOT={}\nset +e\n{script}",
        default.display()
    );
    crate::harness::Cmd {
        command: {
            let mut c = std::process::Command::new("unshare");
            c.args([
                "--mount",
                "--propagation",
                "private",
                "/bin/bash",
                "-c",
                &script,
            ])
            .current_dir(dir)
            .env("NO_COLOR", "1")
            .stdin(std::process::Stdio::null());
            c
        },
    }
    .run()
}

#[test]
#[cfg_attr(
    not(tests_as_root),
    ignore = "needs root for sudo, the user and a mount namespace (run the suite as root, as CI does)"
)]
fn after_a_system_install_sudo_and_login_shells_are_guarded_and_uninstall_removes_it_all() {
    let i = Install::new();
    let user = &i.user.name;
    let login = i.base.join("login.sh");
    fs::write(
        &login,
        format!("cd {} && tootctl login-shell\n", i.root.display()),
    )
    .unwrap();
    let tootguard = crate::harness::tootguard();
    let out = in_private_system_dirs(
        &format!(
            "{tg} install --system\n\
             echo \"== sudo\"\n\
             sudo tootctl as-root\n\
             sudo -u {user} tootctl as-user\n\
             sudo -u {user} bin/tootctl bin-as-user\n\
             sudo -u {user} bundle exec rails db:migrate\n\
             sudo -i -u {user} /bin/sh {login}\n\
             echo \"== other\"\n\
             cd /tmp && sudo -u {user} rake --version | head -c 4 && echo\n\
             sudo -u {user} ruby -e 'print 6*7' && echo\n\
             echo \"completions: $(ls /usr/local/share/bash-completion/completions | tr '\\n' ' ')\"\n\
             echo \"== uninstall\"\n\
             {tg} uninstall --system\n\
             echo \"left: $(ls -A /usr/local/bin /usr/local/share/bash-completion/completions \
             /usr/local/share/zsh/site-functions /etc/fish/completions 2>/dev/null | grep -v : | \
             grep -v '^$' | tr '\\n' ' ')\"\n",
            tg = tootguard.display(),
            login = login.display()
        ),
        &i.root,
        &i.root,
    );
    out.expect_code(0);
    let records = i.records();
    let by_arg = |arg: &str| {
        records
            .iter()
            .find(|r| r.argv.first().map(String::as_str) == Some(arg))
            .unwrap_or_else(|| panic!("nothing ran {arg}: {records:#?}\n{}", out.stderr))
    };
    for arg in [
        "as-root",
        "as-user",
        "bin-as-user",
        "db:migrate",
        "login-shell",
    ] {
        let r = by_arg(arg);
        assert_eq!(r.var("RAILS_ENV"), Some("production"), "{arg}");
        // `sudo tootctl` as root runs as the install's owner.
        assert_eq!(r.uid, i.user.uid, "{arg}");
    }
    assert_eq!(
        by_arg("db:migrate").var("DB_PORT"),
        Some(i.direct_port.to_string().as_str())
    );
    assert_eq!(records.len(), 5, "each ran once: {records:#?}");
    let other = out
        .stdout
        .split("== other\n")
        .nth(1)
        .and_then(|s| s.split("== uninstall\n").next())
        .unwrap();
    assert_eq!(
        other, "rake\n42\ncompletions: tootctl tootguard \n",
        "system-wide, no rails or rake completion to shadow Debian's: {}",
        out.stdout
    );
    assert!(
        out.stdout.ends_with("left: \n"),
        "uninstall leaves nothing: {}",
        out.stdout
    );
    for name in SHIMS {
        assert!(
            out.stdout.contains(&format!("/usr/local/bin/{name} -> ")),
            "{name}: {}",
            out.stdout
        );
        assert!(
            out.stdout
                .contains(&format!("removed /usr/local/bin/{name}\n")),
            "{}",
            out.stdout
        );
    }
}

#[test]
fn uninstall_leaves_files_it_did_not_make() {
    let w = crate::harness::World::bare();
    let dir = w.base().join("bin");
    w.tootguard()
        .args(["install", "--dir"])
        .arg(&dir)
        .run()
        .expect_code(0);
    fs::remove_file(dir.join("rake")).unwrap();
    write_executable(&dir.join("rake"), "#!/bin/sh\necho mine\n");
    write_executable(&dir.join("other"), "#!/bin/sh\n");
    let out = w.tootguard().args(["uninstall", "--dir"]).arg(&dir).run();
    out.expect_code(0);
    let home = w.base();
    let mut expected = String::new();
    for name in ["rails", "rake", "tootctl", "ruby", "bundle"] {
        if name == "rake" {
            expected.push_str(&format!(
                "left {}: not a link to tootguard\n",
                dir.join(name).display()
            ));
        } else {
            expected.push_str(&format!("removed {}\n", dir.join(name).display()));
        }
    }
    for file in [
        ".local/share/bash-completion/completions/tootguard",
        ".local/share/bash-completion/completions/tootctl",
        ".local/share/bash-completion/completions/rails",
        ".local/share/bash-completion/completions/rake",
        ".local/share/zsh/site-functions/_tootguard",
        ".config/fish/completions/tootguard.fish",
        ".config/fish/completions/tootctl.fish",
        ".config/fish/completions/rails.fish",
    ] {
        expected.push_str(&format!("removed {}\n", home.join(file).display()));
    }
    assert_eq!(out.stdout, expected);
    let mut left: Vec<String> = fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    left.sort();
    assert_eq!(left, ["other", "rake"]);
}

/// Root typing the spellings itself (no sudo): each runs as the install's
/// owner, guarded, once. The install is named the default one, as
/// `~mastodon/live` is on a real server.
#[test]
#[cfg_attr(
    not(tests_as_root),
    ignore = "needs root to create the install's user (run the suite as root, as CI does)"
)]
fn root_typing_the_spellings_runs_them_as_the_owner() {
    let i = Install::new();
    for (script, dir) in [
        ("bin/tootctl accounts list".to_owned(), i.root.clone()),
        ("bundle exec rails db:migrate".to_owned(), i.root.clone()),
        (
            format!("{} media remove", i.root.join("bin/tootctl").display()),
            PathBuf::from("/"),
        ),
    ] {
        let out = crate::harness::Cmd {
            command: {
                let mut c = std::process::Command::new("/bin/bash");
                c.args(["-c", &script])
                    .env_clear()
                    .env("PATH", i.guarded_path())
                    .env("HOME", "/root")
                    .env("TOOTGUARD_DEFAULT_ROOT", &i.root)
                    .current_dir(&dir)
                    .stdin(std::process::Stdio::null());
                c
            },
        };
        let _ = fs::remove_file(i.record.join("log.jsonl"));
        let out = out.run();
        out.expect_code(0);
        let records = i.records();
        assert_eq!(records.len(), 1, "{script}: {}", out.stderr);
        assert_eq!(records[0].uid, i.user.uid, "{script}");
        assert_eq!(records[0].var("RAILS_ENV"), Some("production"), "{script}");
        out.expect_stderr(&format!("running as {} (the owner of", i.user.name));
    }
}
