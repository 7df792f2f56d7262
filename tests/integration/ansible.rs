//! `contrib/ansible`: `upgrade.yml` across three hosts, and the role.
//!
//! The hosts are `ansible_connection=local`, told apart by their own
//! Mastodon root (`mastodon_root`) and `TG_HOST` in their environment
//! (`mastodon_environment`): web1 and web2 in `mastodon_web`, worker1 in
//! `mastodon_sidekiq` and `mastodon_streaming`. Each root is a clone of one
//! bare repository with the tags v4.3.2 (checked out) and v4.3.3 (deployed),
//! owned by a real unprivileged user, the Mastodon user the tasks become.
//! `bundle`, `yarn`, `systemctl` and each root's `bin/rails` are one
//! recorder (`ansible/recorder.sh`) writing every call to one shared log:
//! the log is the order the play ran things in. PostgreSQL is the suite's
//! own (doctor and the backup step ask it). The play runs as root, as an
//! admin's does; only the restarts stay root. They find the recording
//! `systemctl` first on the PATH `mastodon_environment` gives every task:
//! Ansible sets it after sudo, so sudo's `secure_path` does not hide it.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::harness::{Outcome, TestUser, World, chown_tree, tootguard, write_executable};

const RECORDER: &str = include_str!("ansible/recorder.sh");
const HOSTS: [&str; 3] = ["web1", "web2", "worker1"];
const SKIP: &str = "SKIP_POST_DEPLOYMENT_MIGRATIONS";
/// An `ansible-playbook` run takes seconds; on a loaded machine, more.
const LIMIT: Duration = Duration::from_secs(120);

/// `contrib/ansible` in this checkout.
fn contrib() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("contrib/ansible")
}

struct Fleet {
    w: World,
    user: TestUser,
    /// The shared log of every recorded call.
    log: PathBuf,
    inventory: PathBuf,
    backups: PathBuf,
    /// Commits of the two tags.
    old: String,
    new: String,
}

impl Fleet {
    fn new() -> Fleet {
        let w = World::bare();
        let base = w.base();
        fs::set_permissions(&base, fs::Permissions::from_mode(0o755)).unwrap();
        let user = TestUser::create(&base.join("home"));

        let fake = base.join("fake");
        for name in ["bundle", "yarn", "systemctl"] {
            write_executable(&fake.join(name), RECORDER);
        }
        write_executable(&fake.join("ruby"), "#!/bin/sh\nprintf %s 3.3.5\n");
        write_executable(&fake.join("node"), "#!/bin/sh\necho v22.11.0\n");
        write_executable(
            &fake.join("crontab"),
            "#!/bin/sh\necho 'no crontab for you' >&2\nexit 1\n",
        );
        crate::doctor::write_meminfo(&base.join("meminfo"), 8192, 2048);

        let (bare, old, new) = release_repository(&base);

        let log = base.join("calls.log");
        fs::write(&log, "").unwrap();
        fs::set_permissions(&log, fs::Permissions::from_mode(0o666)).unwrap();
        let backups = base.join("backups");
        fs::create_dir(&backups).unwrap();
        chown_tree(&backups, user.uid, user.gid);

        let servers = crate::e2e_support::Servers::shared();
        let db_dir = base.join("pg");
        fs::create_dir(&db_dir).unwrap();
        std::os::unix::fs::symlink(
            servers.mastodon_socket(),
            db_dir.join(format!(".s.PGSQL.{}", servers.pg_port())),
        )
        .unwrap();

        for host in HOSTS {
            let root = base.join(host).join("live");
            git(&base, &["clone", "-q", path(&bare), path(&root)]);
            git(&root, &["checkout", "-q", "v4.3.2"]);
            fs::write(root.join(".env.production"), "LOCAL_DOMAIN=example.test\n").unwrap();
            chown_tree(&root, user.uid, user.gid);
        }
        // The user fetches from it: theirs, or git finds it dubious.
        chown_tree(&bare, user.uid, user.gid);

        let fleet = Fleet {
            inventory: base.join("inventory.yml"),
            w,
            user,
            log,
            backups,
            old,
            new,
        };
        fleet.write_inventory(None);
        fleet
    }

    fn root(&self, host: &str) -> PathBuf {
        self.w.base().join(host).join("live")
    }

    /// The inventory (JSON is YAML): every host's root and environment,
    /// the failure to inject, if any.
    fn write_inventory(&self, fail: Option<&str>) {
        let base = self.w.base();
        let host = |name: &str| {
            let mut env = serde_json::json!({
                "TG_HOST": name,
                "TG_LOG": self.log,
                // The shims first, as `tootguard install` asks; then the
                // recorders; git lives in /usr/local/bin on some machines.
                "PATH": format!(
                    "{}:{}:/usr/local/bin:/usr/bin:/bin",
                    self.w.shims.display(),
                    base.join("fake").display()
                ),
                "DB_HOST": base.join("pg"),
                "DB_PORT": crate::e2e_support::Servers::shared().pg_port().to_string(),
                "TOOTGUARD_MEMINFO": base.join("meminfo"),
                "TOOTGUARD_DEFAULT_ROOT": self.root(name),
                "NO_COLOR": "1",
            });
            if let Some(fail) = fail {
                env["TG_FAIL"] = fail.into();
            }
            serde_json::json!({
                "mastodon_root": self.root(name),
                "mastodon_environment": env,
            })
        };
        let inventory = serde_json::json!({
            "all": {
                "vars": {
                    "ansible_connection": "local",
                    "ansible_python_interpreter": "/usr/bin/python3",
                    "mastodon_user": self.user.name,
                    "tootguard_bin": tootguard(),
                    "tootguard_backup_dir": self.backups,
                },
                "children": {
                    "mastodon_web": {"hosts": {"web1": host("web1"), "web2": host("web2")}},
                    "mastodon_sidekiq": {"hosts": {"worker1": host("worker1")}},
                    "mastodon_streaming": {"hosts": {"worker1": {}}},
                },
            },
        });
        fs::write(&self.inventory, inventory.to_string()).unwrap();
    }

    /// `program` (`ansible-playbook`, or a shell running it) as an admin
    /// runs it, with the repository's ansible.cfg and nothing of this
    /// machine's Ansible setup.
    fn ansible(&self, program: &str) -> crate::harness::Cmd {
        let home = self.w.base().join("ansible-home");
        // Where modules unpack on the "hosts": by default ~/.ansible/tmp of
        // the user they run as, and root's home is the machine's.
        let remote_tmp = self.w.base().join("ansible-remote-tmp");
        for dir in [&home, &remote_tmp] {
            fs::create_dir_all(dir).unwrap();
        }
        fs::set_permissions(&remote_tmp, fs::Permissions::from_mode(0o1777)).unwrap();
        self.w
            .cmd(program)
            .env("PATH", "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin")
            .env("HOME", &home)
            .env("ANSIBLE_REMOTE_TEMP", &remote_tmp)
            .env("LC_ALL", "C.UTF-8")
            .env("ANSIBLE_CONFIG", contrib().join("ansible.cfg"))
            .env("ANSIBLE_NOCOLOR", "1")
            .dir(self.w.base())
    }

    /// `ansible-playbook -i INVENTORY upgrade.yml -e mastodon_version=v4.3.3 ARGS`.
    fn upgrade(&self, args: &[&str]) -> Outcome {
        ensure_ansible();
        self.ansible("ansible-playbook")
            .arg("-i")
            .arg(&self.inventory)
            .arg(contrib().join("upgrade.yml"))
            .args(["-e", "mastodon_version=v4.3.3"])
            .args(args)
            .run_for(LIMIT)
    }

    /// The log's lines, in order.
    fn calls(&self) -> Vec<String> {
        fs::read_to_string(&self.log)
            .unwrap()
            .lines()
            .map(str::to_owned)
            .collect()
    }

    fn head(&self, host: &str) -> String {
        git_output(&self.root(host), &["rev-parse", "HEAD"])
    }

    fn backups_made(&self) -> usize {
        fs::read_dir(&self.backups).unwrap().count()
    }
}

/// A bare repository `mastodon.git` whose two annotated tags differ in
/// `lib/mastodon/version.rb`, with recording `bin/` scripts; and the
/// commits of v4.3.2 and v4.3.3.
fn release_repository(base: &Path) -> (PathBuf, String, String) {
    let src = base.join("src");
    fs::create_dir(&src).unwrap();
    git(&src, &["init", "-q"]);
    for tool in ["rails", "rake", "tootctl"] {
        write_executable(&src.join("bin").join(tool), RECORDER);
    }
    fs::create_dir_all(src.join("config")).unwrap();
    fs::write(src.join("config/application.rb"), "# fake\n").unwrap();
    fs::write(
        src.join("package.json"),
        r#"{"name": "@mastodon/mastodon", "engines": {"node": ">=20"}}"#,
    )
    .unwrap();
    fs::create_dir_all(src.join("lib/mastodon")).unwrap();
    let mut commits = Vec::new();
    for patch in ["2", "3"] {
        fs::write(
            src.join("lib/mastodon/version.rb"),
            crate::doctor::VERSION_RB.replace("patch\n      2", &format!("patch\n      {patch}")),
        )
        .unwrap();
        git(&src, &["add", "-A"]);
        git(&src, &["commit", "-qm", &format!("Mastodon 4.3.{patch}")]);
        git(
            &src,
            &["tag", "-a", "-m", "release", &format!("v4.3.{patch}")],
        );
        commits.push(git_output(&src, &["rev-parse", "HEAD"]));
    }
    let bare = base.join("mastodon.git");
    git(base, &["clone", "-q", "--bare", path(&src), path(&bare)]);
    let new = commits.pop().unwrap();
    (bare, commits.pop().unwrap(), new)
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn git(dir: &Path, args: &[&str]) {
    git_output(dir, args);
}

fn git_output(dir: &Path, args: &[&str]) -> String {
    let out = crate::harness::output(
        Command::new("git")
            .args(["-c", "user.name=t", "-c", "user.email=t@example.test"])
            .args(["-c", "safe.directory=*"])
            .args(args)
            .current_dir(dir)
            .env("GIT_CONFIG_GLOBAL", "/dev/null"),
        Duration::from_secs(60),
    );
    assert!(out.status.success(), "git {args:?}: {out:?}");
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// Looked for, not run: `ansible-playbook --version` would make
/// ~/.ansible in this user's (root's) home.
fn ensure_ansible() {
    let found = ["/usr/local/bin", "/usr/bin"]
        .iter()
        .any(|dir| Path::new(dir).join("ansible-playbook").is_file());
    assert!(
        found,
        "no ansible-playbook: run scripts/install-test-deps as root (Debian's ansible-core)"
    );
}

/// `changed=N` of each host in the play recap.
fn changed(out: &Outcome) -> Vec<(String, u32)> {
    let recap = out
        .stdout
        .split("PLAY RECAP")
        .nth(1)
        .unwrap_or_else(|| panic!("no recap:\n{}", out.stdout));
    recap
        .lines()
        .filter_map(|line| {
            let (host, counts) = line.split_once(" : ")?;
            let n = counts
                .split_whitespace()
                .find_map(|c| c.strip_prefix("changed="))?;
            Some((host.trim().to_owned(), n.parse().unwrap()))
        })
        .collect()
}

#[track_caller]
fn expect_code(out: &Outcome, code: i32) {
    assert_eq!(
        out.code(),
        Some(code),
        "ansible-playbook: status {:?}\n{}\n{}",
        out.code(),
        out.stdout,
        out.stderr
    );
}

#[test]
#[cfg_attr(
    not(tests_as_root),
    ignore = "needs root (run the suite as root, as CI does)"
)]
fn upgrade_yml_runs_each_step_on_its_hosts_in_mastodons_order_and_a_second_run_changes_nothing() {
    let f = Fleet::new();
    let out = f.upgrade(&[]);
    expect_code(&out, 0);
    let calls = f.calls();
    eprintln!(
        "first run: {:.1?}, the log:\n{}",
        out.elapsed,
        calls.join("\n")
    );

    // bundle then yarn on every host, in any order between hosts, before
    // anything else.
    let (prepare, rest) = calls.split_at(6);
    for host in HOSTS {
        let mine: Vec<&String> = prepare
            .iter()
            .filter(|c| c.starts_with(&format!("{host} ")))
            .collect();
        assert_eq!(
            mine,
            [
                &format!("{host} bundle install"),
                &format!("{host} yarn install --immutable")
            ],
            "{calls:#?}"
        );
    }
    // Then: one pre-deployment migration on web1, assets on both web hosts,
    // the web hosts reloaded one after the other, Sidekiq, streaming, and
    // one post-deployment migration on web1.
    let mut precompiles: Vec<&str> = rest[1..3].iter().map(String::as_str).collect();
    precompiles.sort();
    assert_eq!(
        precompiles,
        [
            "web1 rails assets:precompile",
            "web2 rails assets:precompile"
        ],
        "{calls:#?}"
    );
    assert_eq!(
        [&rest[..1], &rest[3..]].concat(),
        [
            format!("web1 rails db:migrate {SKIP}=true"),
            "web1 systemctl reload mastodon-web".into(),
            "web1 systemctl done".into(),
            "web2 systemctl reload mastodon-web".into(),
            "web2 systemctl done".into(),
            "worker1 systemctl restart mastodon-sidekiq".into(),
            "worker1 systemctl done".into(),
            "worker1 systemctl restart mastodon-streaming".into(),
            "worker1 systemctl done".into(),
            "web1 rails db:migrate".into(),
        ],
        "{calls:#?}"
    );
    for host in HOSTS {
        assert_eq!(f.head(host), f.new, "{host}");
    }
    assert_eq!(f.backups_made(), 1);
    assert!(
        out.stdout
            .contains("Mastodon v4.3.3 runs on every host; its upgrade is finished."),
        "{}",
        out.stdout
    );

    let again = f.upgrade(&[]);
    expect_code(&again, 0);
    eprintln!("second run: {:.1?}", again.elapsed);
    assert_eq!(f.calls(), calls, "the second run ran something");
    assert_eq!(
        changed(&again),
        HOSTS.map(|h| (h.to_owned(), 0)),
        "{}",
        again.stdout
    );
    assert!(
        again.stdout.contains(
            "Mastodon v4.3.3 is checked out on every host, and its upgrade finished on web1 \
             (tootguard's record).\n        Nothing to do; nothing changed.\n"
        ),
        "{}",
        again.stdout
    );
    assert_eq!(f.backups_made(), 1);
}

#[test]
#[cfg_attr(
    not(tests_as_root),
    ignore = "needs root (run the suite as root, as CI does)"
)]
fn a_doctor_failure_on_one_host_stops_the_play_before_anything_changes_on_any_host() {
    let f = Fleet::new();
    // A directory where the file should be: doctor's `config` row fails.
    let env = f.root("worker1").join(".env.production");
    fs::remove_file(&env).unwrap();
    fs::create_dir(&env).unwrap();
    let out = f.upgrade(&[]);
    expect_code(&out, 2);
    let config = f.root("worker1").join(".env.production");
    for line in [
        "worker1: tootguard doctor failed `config`, `database`; nothing changed on any host.\n"
            .to_owned(),
        format!(
            "- config: {} is a directory, not a dotenv file.",
            config.display()
        ),
        "Fix it on worker1, then run the same ansible-playbook command again.\n".into(),
    ] {
        assert!(
            out.stdout.contains(&line),
            "no {line:?} in:\n{}",
            out.stdout
        );
    }
    assert!(!out.stdout.contains("web1: tootguard doctor failed"));
    assert!(f.calls().is_empty(), "{:#?}", f.calls());
    for host in HOSTS {
        assert_eq!(f.head(host), f.old, "{host} was checked out");
    }
    assert_eq!(f.backups_made(), 0);
}

#[test]
#[cfg_attr(
    not(tests_as_root),
    ignore = "needs root (run the suite as root, as CI does)"
)]
fn a_failing_precompile_on_web2_stops_before_any_restart_and_the_resume_it_names_finishes() {
    let f = Fleet::new();
    f.write_inventory(Some("web2 rails assets:precompile"));
    let out = f.upgrade(&[]);
    expect_code(&out, 2);
    let calls = f.calls();
    assert!(
        !calls.iter().any(|c| c.contains("systemctl")),
        "restarted after a failed precompile: {calls:#?}"
    );
    assert_eq!(calls.iter().filter(|c| c.contains("db:migrate")).count(), 1);
    for needle in [
        "web2: precompile failed (tootguard's step precompile): exit status 1\n",
        "  tootguard: error: step [6/8] precompile stopped the upgrade (exit status 7).\n",
        "  Resume with: tootguard upgrade --only precompile --yes --json\n",
        "No service was restarted: the old code still runs everywhere.\n",
        "Fix the cause, then resume the play where it stopped:\n",
        " --tags precompile,restart,post-migrate\n",
        "or finish the step on web2 alone, as ",
        "  tootguard upgrade --only precompile --yes --json\n",
        "then resume the play with --tags restart,post-migrate\n",
    ] {
        assert!(
            out.stdout.contains(needle),
            "no {needle:?} in:\n{}",
            out.stdout
        );
    }

    // The play's resume, exactly as printed, once the cause is gone.
    let resume = out
        .stdout
        .lines()
        .map(str::trim)
        .find(|l| l.starts_with("ansible-playbook "))
        .unwrap_or_else(|| panic!("no resume command in:\n{}", out.stdout));
    assert_eq!(
        resume,
        format!(
            "ansible-playbook -i {} {} -e mastodon_version=v4.3.3 --tags \
             precompile,restart,post-migrate",
            f.inventory.display(),
            contrib().join("upgrade.yml").display()
        )
    );
    f.write_inventory(None);
    let before = calls.len();
    let out = f.ansible("sh").args(["-c", resume]).run_for(LIMIT);
    expect_code(&out, 0);
    let calls = f.calls();
    let mut resumed = calls[before..].to_vec();
    resumed[..2].sort();
    assert_eq!(
        resumed,
        [
            "web1 rails assets:precompile",
            "web2 rails assets:precompile",
            "web1 systemctl reload mastodon-web",
            "web1 systemctl done",
            "web2 systemctl reload mastodon-web",
            "web2 systemctl done",
            "worker1 systemctl restart mastodon-sidekiq",
            "worker1 systemctl done",
            "worker1 systemctl restart mastodon-streaming",
            "worker1 systemctl done",
            "web1 rails db:migrate",
        ],
        "{calls:#?}"
    );
    assert_eq!(f.backups_made(), 1, "the resume took a second backup");
}

#[test]
#[cfg_attr(
    not(tests_as_root),
    ignore = "needs root (run the suite as root, as CI does)"
)]
fn check_mode_shows_tootguards_dry_run_of_each_step_and_changes_nothing() {
    let f = Fleet::new();
    let out = f.upgrade(&["--check"]);
    expect_code(&out, 0);
    assert!(f.calls().is_empty(), "{:#?}", f.calls());
    for host in HOSTS {
        assert_eq!(f.head(host), f.old, "{host} was checked out");
    }
    assert_eq!(f.backups_made(), 0);
    let web1 = f.root("web1");
    for needle in [
        "tootguard upgrade --dry-run: nothing runs.".to_owned(),
        format!("  run  {}/bin/rails db:migrate", web1.display()),
        "  env  RAILS_ENV=production SKIP_POST_DEPLOYMENT_MIGRATIONS=true".into(),
        format!("  run  {}/bin/rails assets:precompile", web1.display()),
    ] {
        assert!(
            out.stdout.contains(&needle),
            "no {needle:?} in:\n{}",
            out.stdout
        );
    }
    assert!(!out.stdout.contains("its upgrade is finished"));
}

/// install.yml with the binaries of this build: copied as root, then
/// `tootguard install` as the Mastodon user; again, nothing changes. On
/// web1 alone: the "hosts" share one machine, and three copies racing to
/// one place would change it once or thrice.
#[test]
#[cfg_attr(
    not(tests_as_root),
    ignore = "needs root (run the suite as root, as CI does)"
)]
fn the_role_installs_the_binaries_and_links_the_shims_for_the_mastodon_user() {
    let f = Fleet::new();
    let bin = f.w.base().join("bin");
    let built = tootguard();
    let run = || {
        ensure_ansible();
        f.ansible("ansible-playbook")
            .arg("-i")
            .arg(&f.inventory)
            .arg(contrib().join("install.yml"))
            .args(["-e", "tootguard_bin=", "-e"])
            .arg(format!(
                "tootguard_binary_dir={}",
                built.parent().unwrap().display()
            ))
            .arg("-e")
            .arg(format!("tootguard_install_dir={}", bin.display()))
            .args(["--limit", "web1"])
            .run_for(LIMIT)
    };
    let out = run();
    expect_code(&out, 0);
    // The directory, the binaries, the links.
    assert_eq!(changed(&out), [("web1".to_owned(), 3)], "{}", out.stdout);
    for name in ["tootguard", "tootguard-shim"] {
        let installed = bin.join(name);
        assert_eq!(
            fs::read(&installed).unwrap(),
            fs::read(built.with_file_name(name)).unwrap()
        );
        assert_eq!(
            fs::metadata(&installed).unwrap().permissions().mode() & 0o7777,
            0o755
        );
    }
    for shim in ["rails", "rake", "tootctl", "ruby", "bundle"] {
        let link = f.user.home.join(".local/bin").join(shim);
        assert_eq!(
            fs::read_link(&link).unwrap(),
            bin.join("tootguard-shim"),
            "{}",
            link.display()
        );
    }
    let again = run();
    expect_code(&again, 0);
    assert_eq!(
        changed(&again),
        [("web1".to_owned(), 0)],
        "{}",
        again.stdout
    );
}

/// ansible-lint (Debian's) on contrib/ansible, with its production
/// profile: nothing to report.
#[test]
fn ansible_lint_finds_nothing_in_contrib_ansible() {
    let w = World::bare();
    let home = w.base().join("home");
    fs::create_dir_all(&home).unwrap();
    let out = crate::harness::Cmd {
        command: {
            let mut c = Command::new("ansible-lint");
            c.args(["--offline", "--nocolor", "-p", "--profile", "production"])
                .current_dir(contrib())
                .env_clear()
                .env("PATH", "/usr/local/bin:/usr/bin:/bin")
                .env("HOME", &home)
                .env("LC_ALL", "C.UTF-8");
            c
        },
    }
    .run_for(LIMIT);
    assert_eq!(
        (out.code(), out.stdout.as_str()),
        (Some(0), ""),
        "ansible-lint (scripts/install-test-deps installs it):\n{}\n{}",
        out.stdout,
        out.stderr
    );
}
