//! `tootguard upgrade`: the order of the steps, each step's environment,
//! stopping and resuming, and the memory rescue after a killed precompile.
//! Every program is a logger ([`crate::doctor::LOGGER`]) that writes each
//! call, its environment and directory to the record directory, in order.

use std::fs;
use std::path::PathBuf;

use crate::doctor::{RUBY_OK, Setup, good_rows, write_meminfo};
use crate::harness::{Outcome, unindent};

const SKIP: &str = "SKIP_POST_DEPLOYMENT_MIGRATIONS";

const ALL_CALLS: [&str; 7] = [
    "bundle install",
    "yarn install --immutable",
    "rails db:migrate",
    "rails assets:precompile",
    "systemctl reload mastodon-web",
    "systemctl restart mastodon-sidekiq mastodon-streaming",
    "rails db:migrate",
];

/// The preflight step of a good setup on stderr, as [`Setup::normaliser`]
/// names its parts, up to its result line; `ruby` is the ruby row.
fn preflight(ruby: &str) -> String {
    format!(
        "[1/8] preflight …\n{}ok    shell-env  no SKIP_POST_DEPLOYMENT_MIGRATIONS and no stray RAILS_ENV exported\n",
        good_rows(ruby)
    )
}

/// The steps of a good setup's run up to the start of precompile and its
/// RAILS_ENV notice, after [`preflight`].
const THROUGH_PRE_MIGRATE: &str = "\
[1/8] preflight ✓ [TIME]
[2/8] bundle …
[2/8] bundle ✓ [TIME]
[3/8] yarn …
[3/8] yarn ✓ [TIME]
[4/8] backup …
[4/8] backup ✓ [TIME]
[5/8] pre-migrate …
tootguard: RAILS_ENV was not set; running with RAILS_ENV=production (production install)
[5/8] pre-migrate ✓ [TIME]
[6/8] precompile …
tootguard: RAILS_ENV was not set; running with RAILS_ENV=production (production install)
";

impl Setup {
    /// The calls the loggers saw, in order.
    fn calls(&self) -> Vec<String> {
        fs::read_to_string(self.w.record.join("calls.log"))
            .map(|s| s.lines().map(str::to_owned).collect())
            .unwrap_or_default()
    }

    /// `name` in the environment of call number `n` (1-based).
    fn call_env(&self, n: usize, name: &str) -> Option<String> {
        let env = fs::read_to_string(self.w.record.join(format!("call-{n}.env"))).unwrap();
        env.lines()
            .find_map(|l| l.strip_prefix(&format!("{name}=")).map(str::to_owned))
    }

    fn call_pwd(&self, n: usize) -> PathBuf {
        let pwd = fs::read_to_string(self.w.record.join(format!("call-{n}.pwd"))).unwrap();
        PathBuf::from(pwd.trim_end())
    }

    fn upgrade<const N: usize>(&self, args: [&str; N]) -> Outcome {
        self.tootguard().arg("upgrade").args(args).run()
    }
}

#[test]
fn upgrade_runs_the_eight_steps_in_the_documented_order_in_the_root() {
    let s = Setup::good();
    let out = s.upgrade(["--restart"]);
    out.expect_code(0);
    assert_eq!(s.calls(), ALL_CALLS);
    for n in 1..=ALL_CALLS.len() {
        assert_eq!(s.call_pwd(n), s.w.root, "call {n}");
    }
    for (i, name) in [
        "preflight",
        "bundle",
        "yarn",
        "backup",
        "pre-migrate",
        "precompile",
        "restart",
        "post-migrate",
    ]
    .iter()
    .enumerate()
    {
        out.expect_stderr(&format!("[{}/8] {name} …", i + 1))
            .expect_stderr(&format!("[{}/8] {name} ✓", i + 1));
    }
    // The backup went to the default place, the home of the user running.
    assert!(
        out.stdout.contains("Backed up mastodon_production"),
        "{}",
        out.stdout
    );
    assert!(s.w.base().join("tootguard-backups").is_dir());
    // Output is streamed, precompile's through the tee.
    assert_eq!(out.stdout.matches("rails says hello").count(), 3);
}

#[test]
fn only_pre_migrate_gets_skip_post_deployment_migrations_and_rails_steps_get_production() {
    let s = Setup::good();
    s.upgrade(["--restart"]).expect_code(0);
    let calls = s.calls();
    for (n, call) in calls.iter().enumerate() {
        let n = n + 1;
        let skip = s.call_env(n, SKIP);
        if n == 3 {
            assert_eq!(skip.as_deref(), Some("true"), "{call}");
        } else {
            assert_eq!(skip, None, "call {n} {call}");
        }
        if call.starts_with("rails") {
            assert_eq!(
                s.call_env(n, "RAILS_ENV").as_deref(),
                Some("production"),
                "{call}"
            );
        }
    }
}

#[test]
fn post_migrate_runs_without_skip_post_deployment_migrations_even_when_the_shell_exports_it() {
    let s = Setup::good();
    let out = s
        .tootguard()
        .args(["upgrade", "--restart", "--yes"])
        .env(SKIP, "false")
        .run();
    out.expect_code(0).expect_stderr("--yes");
    assert_eq!(s.calls(), ALL_CALLS);
    assert_eq!(s.call_env(3, SKIP).as_deref(), Some("true"));
    assert_eq!(s.call_env(7, SKIP), None, "post-migrate must not skip");
    // The other steps keep the admin's environment.
    assert_eq!(s.call_env(1, SKIP).as_deref(), Some("false"));
}

#[test]
fn post_migrate_refuses_to_run_when_an_env_file_sets_skip_post_deployment_migrations() {
    let s = Setup::good();
    fs::write(
        s.w.root.join(".env.production"),
        "LOCAL_DOMAIN=example.test\nSKIP_POST_DEPLOYMENT_MIGRATIONS=true\n",
    )
    .unwrap();
    let out = s.upgrade(["--from", "post-migrate"]);
    let made = backups(&s);
    assert_eq!(made.len(), 1, "{made:?}");
    let n = s.normaliser().with(made[0].display(), "[BACKUP]");
    out.expect_code(1).expect_stderr_is(
        &n,
        r#"
        tootguard: no backup of this upgrade yet: taking one before the migrations (--skip backup to go on without)
        [4/8] backup …
        [4/8] backup ✓ [TIME]
        [8/8] post-migrate …
        [8/8] post-migrate ✗ [TIME] (SKIP_POST_DEPLOYMENT_MIGRATIONS is set in [BASE]/live/.env.production line 2)
        tootguard: error: step [8/8] post-migrate stopped the upgrade (SKIP_POST_DEPLOYMENT_MIGRATIONS is set in [BASE]/live/.env.production line 2). Mastodon would read it from there and skip the post-deployment migrations, whatever tootguard removes from the environment. Delete that line.
        The database was backed up before the migrations, in [BACKUP]. To go back to it:
          # 1. As root, stop Mastodon:
          systemctl stop mastodon-web mastodon-sidekiq mastodon-streaming
          # 2. As mastodon, keep the current database aside (drop it once the restore is good), make an empty one and restore into it:
          psql -h [BASE]/pg -p [PGPORT] -U mastodon -d postgres -c 'ALTER DATABASE "mastodon_production" RENAME TO "mastodon_production_before_restore"'
          createdb -h [BASE]/pg -p [PGPORT] -U mastodon -T template0 mastodon_production
          pg_restore -h [BASE]/pg -p [PGPORT] -U mastodon -n public --no-owner --role=mastodon -j 2 -d mastodon_production [BACKUP]/mastodon_production.dump
          # 3. As root, if they changed since, put the configuration back:
          install -m 600 [BACKUP]/.env.production [BASE]/live/.env.production
          # Then check out the code that matches this database, and start Mastodon again (systemctl start mastodon-web mastodon-sidekiq mastodon-streaming).
        The code can go back with `git checkout` of the version that ran before (git reflog shows it).
        Resume with: tootguard upgrade --from post-migrate
        "#,
    );
    assert!(s.calls().is_empty());
}

#[test]
fn a_failing_step_stops_the_run_with_its_status_and_the_command_that_resumes() {
    let s = Setup::good();
    let out = s
        .tootguard()
        .args(["upgrade", "--restart"])
        .env("TG_FAIL_CALL", "yarn install --immutable")
        .run();
    out.expect_code(1).expect_stderr_is(
        &s.normaliser(),
        &(preflight(RUBY_OK)
            + &unindent(
                r#"
                [1/8] preflight ✓ [TIME]
                [2/8] bundle …
                [2/8] bundle ✓ [TIME]
                [3/8] yarn …
                yarn: failing as told
                [3/8] yarn ✗ [TIME] (exit status 7)
                tootguard: error: step [3/8] yarn stopped the upgrade (exit status 7).
                Resume with: tootguard upgrade --from yarn --restart
                "#,
            )),
    );
    out.expect_stdout_is(&s.normaliser(), "bundle says hello\nyarn says hello\n");
    assert_eq!(s.calls(), ALL_CALLS[..2]);
    assert!(!out.stderr.contains("[5/8]"), "{}", out.stderr);

    // Resuming starts at yarn: no preflight, no second bundle.
    let out = s.upgrade(["--from", "yarn", "--restart"]);
    out.expect_code(0);
    assert!(!out.stderr.contains("preflight"), "{}", out.stderr);
    let calls = s.calls();
    assert_eq!(calls[..2], ALL_CALLS[..2]);
    assert_eq!(calls[2..], ALL_CALLS[1..]);
}

#[test]
fn skip_leaves_out_the_named_steps_and_the_resume_command_keeps_them_out() {
    let s = Setup::good();
    let out = s
        .tootguard()
        .args([
            "upgrade",
            "--skip",
            "bundle",
            "--skip",
            "precompile",
            "--restart",
        ])
        .env("TG_FAIL_CALL", "systemctl reload mastodon-web")
        .run();
    out.expect_code(1)
        .expect_stderr("[2/8] bundle skipped")
        .expect_stderr("[6/8] precompile skipped")
        .expect_stderr("tootguard upgrade --from restart --restart");
    assert_eq!(
        s.calls(),
        [
            "yarn install --immutable",
            "rails db:migrate",
            "systemctl reload mastodon-web"
        ]
    );
    // Started again from the top (an interrupted upgrade is not started
    // over unasked: see the resume tests).
    let out = s.upgrade([
        "--from",
        "preflight",
        "--skip",
        "bundle",
        "--skip",
        "yarn",
        "--restart",
    ]);
    out.expect_code(0);
}

#[test]
fn skipping_the_restart_while_running_post_migrate_is_refused() {
    let s = Setup::good();
    let out = s.upgrade(["--skip", "restart"]);
    out.expect_code(2)
        .expect_stderr_is(&s.w.normaliser(), "tootguard: error: --skip restart would run the post-deployment migrations while the old \
             code still runs. Restart the services yourself and use `--from post-migrate` for \
             them, or also `--skip post-migrate`.\n")
        .expect_stdout_is(&s.w.normaliser(), "");
    assert!(s.calls().is_empty());
}

#[test]
fn unknown_step_names_are_a_usage_error_listing_the_names() {
    let s = Setup::good();
    for flag in ["--from", "--skip"] {
        let out = s.upgrade([flag, "deploy"]);
        out.expect_code(2)
            .expect_stderr_is(
                &s.w.normaliser(),
                &format!(
                    "error: invalid value 'deploy' for '{flag} <STEP>'\n  [possible values: \
                 preflight, bundle, yarn, backup, pre-migrate, precompile, restart, \
                 post-migrate]\n\nFor more information, try '--help'.\n"
                ),
            )
            .expect_stdout_is(&s.w.normaliser(), "");
    }
    assert!(s.calls().is_empty());
}

#[test]
fn dry_run_prints_each_command_directory_and_env_change_and_runs_nothing() {
    let s = Setup::good();
    let out = s.upgrade(["--dry-run", "--restart"]);
    out.expect_code(0)
        .expect_stdout_is(
            &s.normaliser(),
            r#"
            tootguard upgrade --dry-run: nothing runs. Mastodon production install at [BASE]/live.
            [1/8] preflight
              the `tootguard doctor` checks: a fail stops, warnings need --yes or a yes
            [2/8] bundle
              dir  [BASE]/live
              run  [FAKE]/bundle install
            [3/8] yarn
              dir  [BASE]/live
              run  [FAKE]/yarn install --immutable
            [4/8] backup
              dir  [BASE]/live
              run  [BIN]/tootguard backup --for-upgrade
              pg_dump -Fc at PostgreSQL itself, read back with pg_restore --list, and the .env files, as the install's owner; refused before writing when the database's size does not fit
            [5/8] pre-migrate
              dir  [BASE]/live
              env  RAILS_ENV=production SKIP_POST_DEPLOYMENT_MIGRATIONS=true
              run  [BASE]/live/bin/rails db:migrate
              applies nothing: no migration of this kind is pending
            [6/8] precompile
              dir  [BASE]/live
              env  RAILS_ENV=production
              run  [BASE]/live/bin/rails assets:precompile
              if it runs out of memory: the swap advice, then bin/rake tmp:cache:clear, and stop
            [7/8] restart
              dir  [BASE]/live
              run  [FAKE]/systemctl reload mastodon-web
              dir  [BASE]/live
              run  [FAKE]/systemctl restart mastodon-sidekiq mastodon-streaming
            [8/8] post-migrate
              dir  [BASE]/live
              env  RAILS_ENV=production unset SKIP_POST_DEPLOYMENT_MIGRATIONS
              run  [BASE]/live/bin/rails db:migrate
              applies nothing: no migration of this kind is pending
            "#,
        )
        .expect_stderr_is(&s.normaliser(), "");
    assert!(s.calls().is_empty(), "dry run ran {:?}", s.calls());
    let root = s.w.root.display().to_string();
    let text = &out.stdout;
    for needle in [
        format!("{}/bundle install", s.fake.display()),
        format!("{}/yarn install --immutable", s.fake.display()),
        format!("{root}/bin/rails db:migrate"),
        format!("{root}/bin/rails assets:precompile"),
        format!("{}/systemctl reload mastodon-web", s.fake.display()),
        format!("dir  {root}"),
        "env  RAILS_ENV=production SKIP_POST_DEPLOYMENT_MIGRATIONS=true".to_owned(),
        "env  RAILS_ENV=production unset SKIP_POST_DEPLOYMENT_MIGRATIONS".to_owned(),
        "tmp:cache:clear".to_owned(),
    ] {
        assert!(text.contains(&needle), "no {needle:?} in:\n{text}");
    }
    let pre = text.find("[5/8] pre-migrate").unwrap();
    let post = text.find("[8/8] post-migrate").unwrap();
    assert!(text[pre..post].contains("SKIP_POST_DEPLOYMENT_MIGRATIONS=true"));
    assert!(!text[post..].contains("SKIP_POST_DEPLOYMENT_MIGRATIONS=true"));
}

#[test]
fn without_a_terminal_or_restart_the_run_stops_before_post_migrate_with_the_commands() {
    let s = Setup::good();
    let out = s.upgrade([]);
    out.expect_code(1).expect_stderr_is(
        &s.normaliser(),
        &(preflight(RUBY_OK)
            + THROUGH_PRE_MIGRATE
            + &unindent(
                r#"
                [6/8] precompile ✓ [TIME]
                [7/8] restart …
                [7/8] restart ✗ [TIME] (the services must restart first)
                tootguard: error: step [7/8] restart stopped the upgrade (the services must restart first). The post-deployment migrations must wait until the new code runs, and there is no terminal to ask whether it does. As root, run:
                  systemctl reload mastodon-web
                  systemctl restart mastodon-sidekiq mastodon-streaming
                then run the post-deployment migrations (or rerun with --restart to let tootguard restart the services).
                Resume with: tootguard upgrade --from post-migrate
                "#,
            )),
    );
    assert_eq!(s.calls(), ALL_CALLS[..4], "post-migrate must wait");

    let out = s.upgrade(["--from", "post-migrate"]);
    out.expect_code(0);
    assert_eq!(s.calls().last().unwrap(), "rails db:migrate");
    assert_eq!(s.call_env(5, SKIP), None);
}

#[test]
fn restart_runs_systemctl_as_root_before_the_post_deployment_migrations() {
    let s = Setup::good();
    s.upgrade(["--from", "restart", "--restart"])
        .expect_code(0)
        .expect_stderr("running ");
    assert_eq!(s.calls(), ALL_CALLS[4..]);
}

#[test]
fn a_precompile_killed_by_sigkill_gets_the_swap_advice_and_a_cache_clear() {
    let s = Setup::good();
    let out = s
        .tootguard()
        .args(["upgrade", "--restart"])
        .env("TG_KILL_CALL", "rails assets:precompile")
        .run();
    out.expect_code(1).expect_stderr_is(
        &s.normaliser(),
        &(preflight(RUBY_OK)
            + THROUGH_PRE_MIGRATE
            + &unindent(
                r#"
                tootguard: error: assets:precompile ran out of memory: it was killed by SIGKILL, the signal of the kernel's out-of-memory killer. Now: 8192 MB available RAM + 2048 MB free swap; it needs about 2560 MB. Add 2 GB of swap (as root): `fallocate -l 2G /swapfile && chmod 600 /swapfile && mkswap /swapfile && swapon /swapfile`, and keep it across reboots with the /etc/fstab line `/swapfile none swap sw 0 0` (use another file name if /swapfile exists). Clearing the asset cache now (bin/rake tmp:cache:clear), so the retry really rebuilds the assets.
                tootguard: RAILS_ENV was not set; running with RAILS_ENV=production (production install)
                [6/8] precompile ✗ [TIME] (killed by SIGKILL, signal 9)
                tootguard: error: step [6/8] precompile stopped the upgrade (killed by SIGKILL, signal 9). The asset cache is cleared; add the swap, then resume.
                Resume with: tootguard upgrade --from precompile --restart
                "#,
            )),
    );
    let calls = s.calls();
    assert_eq!(calls[..4], ALL_CALLS[..4]);
    assert_eq!(calls[4..], ["rake tmp:cache:clear"]);
    assert_eq!(s.call_env(5, "RAILS_ENV").as_deref(), Some("production"));
}

#[test]
fn a_precompile_that_runs_out_of_heap_is_recognised_in_its_teed_output() {
    let s = Setup::good();
    let out = s
        .tootguard()
        .args(["upgrade", "--from", "precompile"])
        .env("TG_OOM_CALL", "rails assets:precompile")
        .run();
    out.expect_code(1)
        .expect_stderr("JavaScript heap out of memory")
        .expect_stderr("it printed `heap out of memory`")
        .expect_stderr("swapon")
        .expect_stderr("exit status 134");
    assert!(out.stdout.contains("rails says hello"), "{}", out.stdout);
    assert_eq!(
        s.calls(),
        ["rails assets:precompile", "rake tmp:cache:clear"]
    );
}

#[test]
fn an_ordinary_precompile_failure_gets_no_memory_advice() {
    let s = Setup::good();
    let out = s
        .tootguard()
        .args(["upgrade", "--from", "precompile"])
        .env("TG_FAIL_CALL", "rails assets:precompile")
        .run();
    out.expect_code(1).expect_stderr("exit status 7");
    assert!(!out.stderr.contains("swap"), "{}", out.stderr);
    assert_eq!(s.calls(), ["rails assets:precompile"]);
}

#[test]
fn a_guard_block_fails_the_step_without_running_it() {
    let s = Setup::good();
    write_meminfo(&s.meminfo, 1024, 0);
    let out = s.upgrade(["--from", "precompile"]);
    out.expect_code(1).expect_stderr_is(
        &s.normaliser(),
        r#"
        tootguard: no backup of this upgrade yet: taking one before the migrations (--skip backup to go on without)
        [4/8] backup …
        [4/8] backup ✓ [TIME]
        [6/8] precompile …
        tootguard: RAILS_ENV was not set; running with RAILS_ENV=production (production install)
        tootguard: error: 1024 MB available RAM + 0 MB free swap = 1024 MB; assets:precompile needs about 2560 MB: too little, so it would likely be killed (`Killed`, `JavaScript heap out of memory`). Not running it. Add 2 GB of swap (as root): `fallocate -l 2G /swapfile && chmod 600 /swapfile && mkswap /swapfile && swapon /swapfile`, and keep it across reboots with the /etc/fstab line `/swapfile none swap sw 0 0` (use another file name if /swapfile exists). If a precompile already failed, run `RAILS_ENV=production bundle exec rake tmp:cache:clear` before retrying, or the next run reports success and keeps the old assets. To run anyway: TOOTGUARD_FORCE=1.
        [6/8] precompile ✗ [TIME] (blocked by the memory guard)
        tootguard: error: step [6/8] precompile stopped the upgrade (blocked by the memory guard).
        Resume with: tootguard upgrade --from precompile
        "#,
    );
    assert!(s.calls().is_empty());
}

#[test]
fn a_failing_preflight_check_stops_before_any_step() {
    let s = Setup::good();
    fs::write(s.w.root.join(".ruby-version"), "3.4.1\n").unwrap();
    let out = s.upgrade(["--restart", "--yes"]);
    out.expect_code(1).expect_stderr_is(
        &s.normaliser(),
        &(preflight(
            "fail  ruby       ruby on PATH ([FAKE]/ruby) is 3.3.5, but .ruby-version asks for 3.4.1\n\
             \x20                fix: Install Ruby 3.4.1 (`rbenv install` in the install directory) \
             and with rbenv, add `eval \"$(rbenv init -)\"` to ~/.bashrc so ~/.rbenv/shims comes \
             first on PATH, then open a new shell.",
        ) + &unindent(
            r#"
            [1/8] preflight ✗ [TIME] (1 check(s) failed)
            tootguard: error: step [1/8] preflight stopped the upgrade (1 check(s) failed). Fix what fails above.
            Resume with: tootguard upgrade --from preflight --restart --yes
            "#,
        )),
    );
    assert_eq!(out.stdout, "");
    assert!(s.calls().is_empty());
}

#[test]
fn preflight_warnings_without_a_terminal_stop_and_name_yes() {
    let s = Setup::good();
    let out = s
        .tootguard()
        .args(["upgrade", "--restart"])
        .env(SKIP, "1")
        .run();
    out.expect_code(1)
        .expect_stderr("no terminal")
        .expect_stderr("tootguard upgrade --from preflight --restart --yes");
    assert!(s.calls().is_empty());
}

#[test]
fn upgrade_outside_any_mastodon_install_fails_before_doing_anything() {
    let s = Setup::good();
    let elsewhere = s.w.base().join("elsewhere");
    fs::create_dir_all(&elsewhere).unwrap();
    let out = s
        .tootguard()
        .args(["upgrade", "--restart"])
        .dir(&elsewhere)
        .env("TOOTGUARD_DEFAULT_ROOT", "")
        .run();
    out.expect_code(1).expect_stderr_is(
        &s.normaliser(),
        "tootguard: error: found no Mastodon install (MASTODON_ROOT is unset, none in \
         [BASE]/elsewhere or its parents, no ~mastodon/live). Run `tootguard upgrade` in the \
         Mastodon directory (usually /home/mastodon/live), or set MASTODON_ROOT.\n",
    );
    out.expect_stdout_is(&s.normaliser(), "");
    assert!(s.calls().is_empty());
}

#[test]
fn a_relative_mastodon_root_still_names_the_install_for_every_step() {
    let s = Setup::good();
    let out = s
        .tootguard()
        .args(["upgrade", "--from", "post-migrate"])
        .env("MASTODON_ROOT", "live")
        .dir(s.w.base())
        .run();
    out.expect_code(0);
    assert_eq!(s.calls(), ["rails db:migrate"]);
    assert_eq!(s.call_pwd(1), s.w.root);
    assert_eq!(
        s.call_env(1, "MASTODON_ROOT"),
        Some(s.w.root.display().to_string())
    );
}

/// As root on an install another user owns, `bundle install` and `yarn
/// install` run as that user with that user's rbenv shims first on PATH —
/// not root's `bundle` — and the dry run says so.
#[test]
#[cfg_attr(
    not(tests_as_root),
    ignore = "needs root (run the suite as root, as CI does)"
)]
fn as_root_every_step_runs_as_the_owner_with_the_owners_ruby_and_the_dry_run_shows_it() {
    let s = Setup::good();
    let user = crate::harness::TestUser::create(&s.w.base().join("home"));
    let shims = user.home.join(".rbenv/shims");
    for name in ["bundle", "yarn"] {
        crate::harness::write_executable(
            &shims.join(name),
            &crate::doctor::LOGGER
                .replace("name=$(basename \"$0\")", "name=rbenv-$(basename \"$0\")"),
        );
    }
    crate::harness::chown_tree(&user.home, user.uid, user.gid);
    s.w.give_to(&user);
    std::fs::set_permissions(&s.fake, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();

    let out = s.upgrade(["--dry-run"]);
    out.expect_code(0);
    let path = format!("{}:{}", shims.display(), s.path());
    for step in ["[2/8] bundle", "[3/8] yarn"] {
        let block: String = out
            .stdout
            .split(&format!("{step}\n"))
            .nth(1)
            .unwrap()
            .lines()
            .take(4)
            .map(|l| format!("{l}\n"))
            .collect();
        assert_eq!(
            block,
            format!(
                "  dir  {root}\n  user {name}\n  env  HOME={home} USER={name} LOGNAME={name} \
                 PATH={path}\n  run  {shims}/{program} {args}\n",
                root = s.w.root.display(),
                name = user.name,
                home = user.home.display(),
                shims = shims.display(),
                program = if step.ends_with("bundle") {
                    "bundle"
                } else {
                    "yarn"
                },
                args = if step.ends_with("bundle") {
                    "install"
                } else {
                    "install --immutable"
                },
            ),
            "{}",
            out.stdout
        );
    }

    let out = s.upgrade([
        "--yes",
        "--from",
        "bundle",
        "--skip",
        "pre-migrate",
        "--skip",
        "precompile",
        "--skip",
        "restart",
        "--skip",
        "post-migrate",
    ]);
    out.expect_code(0);
    assert_eq!(
        s.calls(),
        ["rbenv-bundle install", "rbenv-yarn install --immutable"]
    );

    // A program missing from the owner's PATH stops the step, after the
    // notice that it was to run as the owner.
    for dir in [&shims, &s.fake] {
        std::fs::remove_file(dir.join("yarn")).unwrap();
    }
    let out = s.upgrade(["--yes", "--only", "yarn"]);
    out.expect_code(1);
    let notice = format!(
        "tootguard: running as {} (the owner of {}), not as root",
        user.name,
        s.w.root.display()
    );
    let (Some(said), Some(stopped)) = (
        out.stderr.find(&notice),
        out.stderr.find("`yarn` is not on PATH"),
    ) else {
        panic!("no notice or no stop:\n{}", out.stderr);
    };
    assert!(said < stopped, "{}", out.stderr);
}

// ---------------------------------------------------------------------------
// Backups, the record of an upgrade, resuming, the version path
// ---------------------------------------------------------------------------

/// The backup directories in the default place.
fn backups(s: &Setup) -> Vec<PathBuf> {
    let dir = s.w.base().join("tootguard-backups");
    let mut out: Vec<PathBuf> = fs::read_dir(&dir)
        .map(|d| d.map(|e| e.unwrap().path()).collect())
        .unwrap_or_default();
    out.sort();
    out
}

#[test]
fn the_dry_run_shows_the_backup_before_the_pre_deployment_migrations() {
    let s = Setup::good();
    let out = s.upgrade(["--dry-run"]);
    out.expect_code(0);
    let backup = out.stdout.find("[4/8] backup").expect(&out.stdout);
    let pre = out.stdout.find("[5/8] pre-migrate").expect(&out.stdout);
    assert!(backup < pre, "{}", out.stdout);
    assert!(
        out.stdout.contains("backup --for-upgrade"),
        "{}",
        out.stdout
    );
    assert!(backups(&s).is_empty(), "a dry run took a backup");
}

#[test]
fn a_failing_pre_migrate_names_the_backup_the_restore_and_the_way_back_for_the_code() {
    let s = Setup::good();
    let out = s
        .tootguard()
        .args(["upgrade", "--restart"])
        .env("TG_FAIL_CALL", "rails db:migrate")
        .run();
    out.expect_code(1).expect_stderr("[5/8] pre-migrate ✗");
    let made = backups(&s);
    assert_eq!(made.len(), 1, "{made:?}");
    let dump = made[0].join("mastodon_production.dump");
    assert!(dump.is_file());
    out.expect_stderr(&format!(
        "The database was backed up before the migrations, in {}",
        made[0].display()
    ))
    .expect_stderr("pg_restore -h ")
    .expect_stderr(&dump.display().to_string())
    .expect_stderr("git checkout")
    .expect_stderr("Resume with: tootguard upgrade --from pre-migrate");
}

#[test]
fn an_interrupted_upgrade_says_where_it_stopped_and_resumes_there_without_a_second_backup() {
    let s = Setup::good();
    s.tootguard()
        .args(["upgrade", "--restart"])
        .env("TG_FAIL_CALL", "rails assets:precompile")
        .run()
        .expect_code(1);
    assert_eq!(backups(&s).len(), 1);
    let before = s.calls().len();
    // No terminal, no --yes: it says where it stopped, and runs nothing.
    let out = s.upgrade(["--restart"]);
    out.expect_code(1)
        .expect_stderr("stopped after pre-migrate")
        .expect_stderr("done: preflight, bundle, yarn, backup, pre-migrate")
        .expect_stderr("tootguard upgrade --from precompile --restart");
    assert_eq!(s.calls().len(), before);
    // --yes is the confirmation: it resumes at precompile.
    let out = s.upgrade(["--restart", "--yes"]);
    out.expect_code(0).expect_stderr("Resuming at precompile");
    assert_eq!(
        s.calls()[before..],
        [
            "rails assets:precompile",
            "systemctl reload mastodon-web",
            "systemctl restart mastodon-sidekiq mastodon-streaming",
            "rails db:migrate",
        ]
    );
    assert_eq!(backups(&s).len(), 1, "a second backup was taken");
    // The upgrade is finished: doctor knows what runs now.
    let doctor = s.tootguard().arg("doctor").run();
    assert!(
        doctor
            .stdout
            .contains("4.3.2 runs and is checked out: nothing to upgrade"),
        "{}",
        doctor.stdout
    );
    // And a new run has nothing to resume.
    s.upgrade(["--restart"]).expect_code(0);
}

/// `upgrade --from pre-migrate` with no backup of this upgrade on disk
/// says so and takes one before the migration.
fn resuming_at_pre_migrate_takes_one_backup(s: &Setup) {
    let out = s.upgrade(["--from", "pre-migrate", "--restart"]);
    out.expect_code(0)
        .expect_stderr("no backup of this upgrade yet")
        .expect_stderr("[4/8] backup ✓");
    assert_eq!(backups(s).len(), 1);
}

#[test]
fn resuming_past_the_backup_step_still_takes_one_before_a_migration() {
    let s = Setup::good();
    resuming_at_pre_migrate_takes_one_backup(&s);
}

#[test]
fn skip_backup_is_allowed_on_purpose_with_a_warning() {
    let s = Setup::good();
    let out = s.upgrade(["--skip", "backup", "--restart"]);
    out.expect_code(0)
        .expect_stderr("--skip backup: the migrations run without a backup")
        .expect_stderr("[4/8] backup skipped");
    assert!(backups(&s).is_empty());
}

/// A git checkout of `root` with two tagged versions, `from` checked out,
/// then `to`: the reflog of an admin's upgrade.
fn git_checkout(root: &std::path::Path, from: (u32, u32, u32), to: (u32, u32, u32)) {
    let _ = fs::remove_dir_all(root.join(".git"));
    let git = |args: &[&str]| {
        // git: scripts/install-test-deps installs it.
        let out = crate::harness::output(
            std::process::Command::new("git")
                .args(["-c", "user.name=t", "-c", "user.email=t@example.test"])
                .args(args)
                .current_dir(root)
                .env("GIT_CONFIG_GLOBAL", "/dev/null"),
            std::time::Duration::from_secs(60),
        );
        assert!(out.status.success(), "git {args:?}: {out:?}");
    };
    git(&["init", "-q"]);
    for (major, minor, patch) in [from, to] {
        fs::write(
            root.join("lib/mastodon/version.rb"),
            crate::doctor::VERSION_RB
                .replace("major\n      4", &format!("major\n      {major}"))
                .replace("minor\n      3", &format!("minor\n      {minor}"))
                .replace("patch\n      2", &format!("patch\n      {patch}")),
        )
        .unwrap();
        git(&["add", "-A"]);
        git(&["commit", "-qm", "release"]);
        git(&["tag", &format!("v{major}.{minor}.{patch}")]);
    }
    let tag = |(a, b, c): (u32, u32, u32)| format!("v{a}.{b}.{c}");
    git(&["checkout", "-q", &tag(from)]);
    git(&["checkout", "-q", &tag(to)]);
}

fn upgrade_path(s: &Setup) -> serde_json::Value {
    let (_, checks) = s.doctor_json(s.tootguard());
    crate::doctor::check(&checks, "upgrade-path").clone()
}

#[test]
fn a_checkout_that_skips_a_minor_series_fails_naming_the_series_to_deploy_first() {
    let s = Setup::good();
    git_checkout(&s.w.root, (4, 3, 2), (4, 5, 0));
    let row = upgrade_path(&s);
    assert_eq!(row["level"], "fail", "{row:#}");
    let message = row["message"].as_str().unwrap();
    assert!(
        message.contains("4.3.2 → 4.5.0 skips the 4.4 series"),
        "{row:#}"
    );
    assert!(message.contains("git's reflog"), "{row:#}");
    let fix = row["fix"].as_str().unwrap();
    assert!(fix.contains("4.4.x"), "{row:#}");
    assert!(
        fix.contains("https://github.com/mastodon/mastodon/releases/tag/v4.4.0"),
        "{row:#}"
    );
    // The upgrade's preflight stops on it, before any step.
    let out = s.upgrade(["--yes"]);
    out.expect_code(1).expect_stderr("[1/8] preflight ✗");
    assert!(s.calls().is_empty());
}

#[test]
fn a_next_minor_step_passes_and_names_both_versions() {
    let s = Setup::good();
    git_checkout(&s.w.root, (4, 4, 3), (4, 5, 0));
    let row = upgrade_path(&s);
    assert_eq!(row["level"], "ok", "{row:#}");
    assert!(
        row["message"].as_str().unwrap().contains("4.4.3 → 4.5.0"),
        "{row:#}"
    );
}

#[test]
fn a_downgrade_fails() {
    let s = Setup::good();
    git_checkout(&s.w.root, (4, 5, 0), (4, 4, 3));
    let row = upgrade_path(&s);
    assert_eq!(row["level"], "fail", "{row:#}");
    assert!(
        row["message"]
            .as_str()
            .unwrap()
            .contains("4.5.0 → 4.4.3 is a downgrade"),
        "{row:#}"
    );
}

#[test]
fn as_root_the_version_before_is_read_with_git_run_as_the_checkouts_owner() {
    let s = Setup::good();
    git_checkout(&s.w.root, (4, 4, 3), (4, 5, 0));
    let user = crate::harness::TestUser::create(&s.w.base().join("home"));
    s.w.give_to(&user);
    let row = upgrade_path(&s);
    assert_eq!(row["level"], "ok", "{row:#}");
    assert!(
        row["message"].as_str().unwrap().contains("4.4.3 → 4.5.0"),
        "{row:#}"
    );
}

#[test]
fn the_record_of_a_finished_upgrade_is_the_running_version() {
    let s = Setup::good();
    git_checkout(&s.w.root, (4, 4, 3), (4, 5, 0));
    s.upgrade(["--restart"]).expect_code(0);
    let row = upgrade_path(&s);
    assert_eq!(row["level"], "ok", "{row:#}");
    let message = row["message"].as_str().unwrap();
    assert!(message.contains("4.5.0 runs and is checked out"), "{row:#}");
    assert!(message.contains("tootguard's record"), "{row:#}");
}

// Regressions from a review of the backup and the record.

#[test]
fn a_cloned_install_run_for_a_while_then_moved_two_series_on_fails_the_path_check() {
    let s = Setup::good();
    // A bare repository with two releases, cloned as the docs clone.
    let origin = s.w.base().join("origin");
    fs::create_dir_all(&origin).unwrap();
    fs::create_dir_all(origin.join("lib/mastodon")).unwrap();
    git_checkout(&origin, (4, 3, 2), (4, 5, 0));
    let git = |dir: &std::path::Path, args: &[&str]| {
        let out = crate::harness::output(
            std::process::Command::new("git")
                .args(args)
                .current_dir(dir)
                .env("GIT_CONFIG_GLOBAL", "/dev/null"),
            std::time::Duration::from_secs(60),
        );
        assert!(out.status.success(), "git {args:?}: {out:?}");
    };
    let clone = s.w.base().join("clone");
    git(
        &s.w.base(),
        &[
            "clone",
            "-q",
            origin.to_str().unwrap(),
            clone.to_str().unwrap(),
        ],
    );
    fs::remove_dir_all(s.w.root.join(".git")).unwrap();
    fs::rename(clone.join(".git"), s.w.root.join(".git")).unwrap();
    git(&s.w.root, &["checkout", "-q", "-f", "v4.3.2"]);
    git(&s.w.root, &["checkout", "-q", "-f", "v4.5.0"]);
    let row = upgrade_path(&s);
    assert_eq!(row["level"], "fail", "{row:#}");
    assert!(
        row["message"]
            .as_str()
            .unwrap()
            .contains("4.3.2 → 4.5.0 skips the 4.4 series"),
        "{row:#}"
    );
}

#[test]
fn reruns_after_a_failed_pre_migrate_keep_and_name_the_backup_from_before_it() {
    let s = Setup::good();
    let fail = |args: &[&str]| {
        s.tootguard()
            .arg("upgrade")
            .args(args)
            .env("TG_FAIL_CALL", "rails db:migrate")
            .run()
    };
    fail(&["--restart"]).expect_code(1);
    let first = backups(&s);
    assert_eq!(first.len(), 1);
    for _ in 0..3 {
        let out = fail(&["--from", "preflight", "--restart"]);
        out.expect_code(1).expect_stderr(&format!(
            "backed up before the migrations, in {}",
            first[0].display()
        ));
    }
    assert!(first[0].is_dir(), "the first backup was removed");
}

#[test]
fn a_recorded_backup_that_is_gone_is_taken_again_before_a_migration() {
    let s = Setup::good();
    s.tootguard()
        .args(["upgrade", "--restart"])
        .env("TG_FAIL_CALL", "rails assets:precompile")
        .run()
        .expect_code(1);
    let made = backups(&s);
    fs::remove_dir_all(&made[0]).unwrap();
    resuming_at_pre_migrate_takes_one_backup(&s);
}

#[test]
fn the_resume_command_keeps_the_backup_directory() {
    let s = Setup::good();
    let dir = s.w.base().join("elsewhere");
    let out = s
        .tootguard()
        .args(["upgrade", "--restart", "--backup-dir"])
        .arg(&dir)
        .env("TG_FAIL_CALL", "rails db:migrate")
        .run();
    out.expect_code(1).expect_stderr(&format!(
        "Resume with: tootguard upgrade --from pre-migrate --restart --backup-dir {}",
        dir.display()
    ));
    assert_eq!(fs::read_dir(&dir).unwrap().count(), 1);
}

#[test]
fn a_fifo_where_the_record_should_be_does_not_hang_doctor() {
    let s = Setup::good();
    let state = s.w.base().join(".local/state/tootguard");
    fs::create_dir_all(&state).unwrap();
    let slug: String =
        s.w.root
            .to_string_lossy()
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
            .collect();
    let fifo = state.join(format!("upgrade-{}.json", slug.trim_matches('-')));
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
    let out = s.tootguard().arg("doctor").run();
    assert!(
        out.elapsed < std::time::Duration::from_secs(15),
        "{:?}",
        out.elapsed
    );
    assert!(out.stdout.contains("upgrade-path"), "{}", out.stdout);
}

// ---------------------------------------------------------------------------
// --only and --json, for playbooks
// ---------------------------------------------------------------------------

#[test]
fn only_runs_just_the_named_steps_and_json_reports_each_on_a_line_of_its_own() {
    let s = Setup::good();
    let out = s.upgrade(["--only", "yarn", "--only", "bundle", "--json"]);
    out.expect_code(0);
    assert_eq!(s.calls(), ["bundle install", "yarn install --immutable"]);
    let lines: Vec<serde_json::Value> = out
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l:?}: {e}")))
        .collect();
    let seen: Vec<(String, String)> = lines
        .iter()
        .map(|l| {
            (
                l["step"].as_str().unwrap().to_owned(),
                l["status"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            ("bundle".to_owned(), "started".to_owned()),
            ("bundle".to_owned(), "ok".to_owned()),
            ("yarn".to_owned(), "started".to_owned()),
            ("yarn".to_owned(), "ok".to_owned()),
        ]
    );
    assert!(lines[1]["seconds"].is_number(), "{:#}", lines[1]);
    // The steps' own output went to stderr, and the human lines are there too.
    assert!(out.stderr.contains("bundle says hello"), "{}", out.stderr);
    out.expect_stderr("[2/8] bundle ✓");
}

#[test]
fn only_pre_migrate_backs_up_first_and_only_post_migrate_later_needs_no_second_backup() {
    let s = Setup::good();
    let out = s.upgrade(["--only", "pre-migrate"]);
    out.expect_code(0)
        .expect_stderr("no backup of this upgrade yet")
        .expect_stderr("[4/8] backup ✓");
    assert_eq!(s.calls(), ["rails db:migrate"]);
    assert_eq!(s.call_env(1, SKIP).as_deref(), Some("true"));
    let out = s.upgrade(["--only", "post-migrate"]);
    out.expect_code(0);
    assert!(!out.stderr.contains("backup …"), "{}", out.stderr);
    assert_eq!(s.calls(), ["rails db:migrate", "rails db:migrate"]);
    assert_eq!(s.call_env(2, SKIP), None);
    assert_eq!(backups(&s).len(), 1);
}

#[test]
fn a_failing_only_step_names_the_command_that_resumes_it_in_json_too() {
    let s = Setup::good();
    let out = s
        .tootguard()
        .args(["upgrade", "--only", "precompile", "--json"])
        .env("TG_FAIL_CALL", "rails assets:precompile")
        .run();
    out.expect_code(1)
        .expect_stderr("Resume with: tootguard upgrade --only precompile --json");
    let last: serde_json::Value = serde_json::from_str(out.stdout.lines().last().unwrap()).unwrap();
    assert_eq!(last["status"], "failed");
    assert_eq!(last["resume"], "tootguard upgrade --only precompile --json");
}

#[test]
fn only_does_not_mix_with_from_or_skip() {
    let s = Setup::good();
    s.upgrade(["--only", "bundle", "--from", "yarn"])
        .expect_code(2)
        .expect_stderr_is(
            &s.w.normaliser(),
            "error: the argument '--only <STEP>' cannot be used with '--from <STEP>'\n\n\
             Usage: tootguard upgrade --only <STEP>\n\n\
             For more information, try '--help'.\n",
        );
    s.upgrade(["--only", "bundle", "--skip", "yarn"])
        .expect_code(2)
        .expect_stderr_is(
            &s.w.normaliser(),
            "error: the argument '--only <STEP>' cannot be used with '--skip <STEP>'\n\n\
             Usage: tootguard upgrade --only <STEP>\n\n\
             For more information, try '--help'.\n",
        );
    assert!(s.calls().is_empty());
}

/// The resume a stop prints (and `--json` reports) is the same run again:
/// a resumed backup goes where the admin asked, and a machine that asked
/// for JSON gets JSON.
#[test]
fn the_resume_command_keeps_the_backup_dir_and_json() {
    let s = Setup::good();
    let dir = s.w.base().join("elsewhere");
    for (from, resume) in [
        (
            ["--only", "pre-migrate"],
            "tootguard upgrade --only pre-migrate",
        ),
        (
            ["--from", "pre-migrate"],
            "tootguard upgrade --from pre-migrate",
        ),
    ] {
        let out = s
            .tootguard()
            .arg("upgrade")
            .args(from)
            .args(["--json", "--backup-dir"])
            .arg(&dir)
            .env("TG_FAIL_CALL", "rails db:migrate")
            .run();
        out.expect_code(1);
        let resume = format!("{resume} --backup-dir {} --json", dir.display());
        out.expect_stderr(&format!("Resume with: {resume}\n"));
        let last: serde_json::Value =
            serde_json::from_str(out.stdout.lines().last().unwrap()).unwrap();
        assert_eq!(last["resume"], resume.as_str(), "{}", out.stdout);
    }
    // The first run's backup went there (the second had one already).
    assert_eq!(fs::read_dir(&dir).unwrap().count(), 1);
}

#[test]
fn only_post_migrate_with_earlier_steps_but_no_restart_is_refused() {
    let s = Setup::good();
    s.upgrade([
        "--only",
        "pre-migrate",
        "--only",
        "post-migrate",
        "--dry-run",
    ])
    .expect_code(2)
    .expect_stderr("--only post-migrate");
    // Alone it is what a playbook runs after its restarts.
    s.upgrade(["--only", "post-migrate", "--dry-run"])
        .expect_code(0);
    assert!(s.calls().is_empty());
}
