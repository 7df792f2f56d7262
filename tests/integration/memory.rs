//! The memory guard before `assets:precompile`, on fake meminfo contents.

use std::fs;

use crate::harness::{RAILS_ENV_NOTICE, World};

fn meminfo(w: &World, available_mb: u64, swap_total_mb: u64, swap_free_mb: u64) -> String {
    let path = w.base().join("meminfo");
    fs::write(
        &path,
        format!(
            "MemTotal: 999999999 kB\nMemAvailable: {} kB\nSwapTotal: {} kB\nSwapFree: {} kB\n",
            available_mb * 1024,
            swap_total_mb * 1024,
            swap_free_mb * 1024
        ),
    )
    .unwrap();
    path.display().to_string()
}

#[test]
fn precompile_runs_when_there_is_plenty_of_memory() {
    let w = World::production();
    let info = meminfo(&w, 8192, 2048, 2048);
    let out = w
        .cmd(w.shim("rails"))
        .arg("assets:precompile")
        .env("TOOTGUARD_MEMINFO", &info)
        .run();
    out.expect_code(0);
    assert!(w.ran("rails"));
    assert!(!out.stderr.contains("memory"), "{}", out.stderr);
}

#[test]
fn precompile_runs_with_a_notice_when_ram_is_enough_but_there_is_no_swap() {
    let w = World::production();
    let info = meminfo(&w, 4096, 0, 0);
    let out = w
        .cmd(w.shim("rake"))
        .arg("assets:precompile")
        .env("TOOTGUARD_MEMINFO", &info)
        .run();
    out.expect_code(0).expect_stderr_is(
        &w.normaliser(),
        &format!(
            "{RAILS_ENV_NOTICE}tootguard: 4096 MB available RAM + 0 MB free swap = 4096 MB; \
             assets:precompile needs about 2560 MB: enough, but there is no swap at all, so a \
             spike is fatal\n"
        ),
    );
    assert!(w.ran("rake"));
}

#[test]
fn precompile_is_blocked_and_not_run_when_memory_is_too_low() {
    let w = World::production();
    let info = meminfo(&w, 1024, 0, 0);
    let out = w
        .cmd(w.shim("rails"))
        .args(["assets:precompile"])
        .env("TOOTGUARD_MEMINFO", &info)
        .run();
    out.expect_code(3).expect_stderr_is(
        &w.normaliser(),
        &format!(
            "{RAILS_ENV_NOTICE}tootguard: error: 1024 MB available RAM + 0 MB free swap = 1024 MB; \
             assets:precompile needs about 2560 MB: too little, so it would likely be killed \
             (`Killed`, `JavaScript heap out of memory`). Not running it. Add 2 GB of swap (as root): `fallocate -l 2G /swapfile && chmod 600 /swapfile && mkswap /swapfile && swapon /swapfile`, and keep it across reboots with the /etc/fstab line `/swapfile none swap sw 0 0` (use another file name if /swapfile exists). If a precompile already failed, run `RAILS_ENV=production bundle exec rake tmp:cache:clear` before retrying, or the next run reports success and keeps the old assets. To run anyway: TOOTGUARD_FORCE=1.\n"
        ),
    );
    assert!(!w.ran("rails"), "a blocked precompile must not start");
}

#[test]
fn precompile_is_blocked_when_ram_and_swap_together_are_too_low() {
    let w = World::production();
    let info = meminfo(&w, 1024, 1024, 512);
    let out = w
        .cmd(w.shim("rails"))
        .args(["assets:precompile"])
        .env("TOOTGUARD_MEMINFO", &info)
        .run();
    out.expect_code(3).expect_stderr_is(
        &w.normaliser(),
        &format!(
            "{RAILS_ENV_NOTICE}tootguard: error: 1024 MB available RAM + 512 MB free swap = 1536 MB; \
             assets:precompile needs about 2560 MB: too little, so it would likely be killed \
             (`Killed`, `JavaScript heap out of memory`). Not running it. Add 1 GB of swap (as root): `fallocate -l 1G /swapfile && chmod 600 /swapfile && mkswap /swapfile && swapon /swapfile`, and keep it across reboots with the /etc/fstab line `/swapfile none swap sw 0 0` (use another file name if /swapfile exists). If a precompile already failed, run `RAILS_ENV=production bundle exec rake tmp:cache:clear` before retrying, or the next run reports success and keeps the old assets. To run anyway: TOOTGUARD_FORCE=1.\n"
        ),
    );
    assert!(!w.ran("rails"));
}

#[test]
fn force_runs_a_low_memory_precompile_with_a_warning() {
    let w = World::production();
    let info = meminfo(&w, 1024, 0, 0);
    let out = w
        .cmd(w.shim("rails"))
        .arg("assets:precompile")
        .env("TOOTGUARD_MEMINFO", &info)
        .env("TOOTGUARD_FORCE", "1")
        .run();
    out.expect_code(0).expect_stderr_is(
        &w.normaliser(),
        &format!(
            "{RAILS_ENV_NOTICE}tootguard: warning: 1024 MB available RAM + 0 MB free swap = 1024 MB; \
             assets:precompile needs about 2560 MB: too little, running anyway \
             (TOOTGUARD_FORCE=1). Add 2 GB of swap (as root): `fallocate -l 2G /swapfile && chmod 600 /swapfile && mkswap /swapfile && swapon /swapfile`, and keep it across reboots with the /etc/fstab line `/swapfile none swap sw 0 0` (use another file name if /swapfile exists). If a precompile already failed, run `RAILS_ENV=production bundle exec rake tmp:cache:clear` before retrying, or the next run reports success and keeps the old assets. To run anyway: TOOTGUARD_FORCE=1.\n"
        ),
    );
    assert!(w.ran("rails"));
}

#[test]
fn the_requirement_can_be_lowered_in_the_environment() {
    let w = World::production();
    let info = meminfo(&w, 1024, 0, 0);
    w.cmd(w.shim("rails"))
        .arg("assets:precompile")
        .env("TOOTGUARD_MEMINFO", &info)
        .env("TOOTGUARD_PRECOMPILE_MIN_MB", "1000")
        .run()
        .expect_code(0);
    assert!(w.ran("rails"));
}

#[test]
fn a_requirement_that_is_not_a_number_blocks_with_its_name() {
    let w = World::production();
    let info = meminfo(&w, 8192, 0, 0);
    let out = w
        .cmd(w.shim("rails"))
        .arg("assets:precompile")
        .env("TOOTGUARD_MEMINFO", &info)
        .env("TOOTGUARD_PRECOMPILE_MIN_MB", "2G")
        .run();
    out.expect_code(3).expect_stderr_is(
        &w.normaliser(),
        &format!(
            "{RAILS_ENV_NOTICE}tootguard: error: TOOTGUARD_PRECOMPILE_MIN_MB is \"2G\" (the \
             environment), not a number of megabytes. Set it to a whole number such as 2560, or \
             remove it to use the default (2560).\n"
        ),
    );
    assert!(!w.ran("rails"));
}

#[test]
fn an_unreadable_meminfo_warns_that_it_cannot_judge_and_runs() {
    let w = World::production();
    let out = w
        .cmd(w.shim("rails"))
        .arg("assets:precompile")
        .env("TOOTGUARD_MEMINFO", w.base().join("no-such-file"))
        .run();
    out.expect_code(0).expect_stderr_is(
        &w.normaliser(),
        &format!(
            "{RAILS_ENV_NOTICE}tootguard: warning: cannot judge memory before assets:precompile: \
             [BASE]/no-such-file is unreadable (No such file or directory (os error 2)); running \
             it anyway. If it dies with `Killed` or `heap out of memory`, add swap and run \
             `RAILS_ENV=production bundle exec rake tmp:cache:clear` before retrying.\n"
        ),
    );
    assert!(w.ran("rails"));
}

#[test]
fn a_garbled_meminfo_warns_that_it_cannot_judge_and_runs() {
    let w = World::production();
    let path = w.base().join("meminfo");
    fs::write(&path, b"MemAvailable: \xff\xfe kB\nnonsense\n").unwrap();
    let out = w
        .cmd(w.shim("rails"))
        .arg("assets:precompile")
        .env("TOOTGUARD_MEMINFO", &path)
        .run();
    out.expect_code(0)
        .expect_stderr("cannot judge memory")
        .expect_stderr("MemAvailable");
    assert!(w.ran("rails"));
}

#[test]
fn other_tasks_do_not_read_meminfo() {
    let w = World::production();
    let out = w
        .cmd(w.shim("rails"))
        .arg("db:version")
        .env("TOOTGUARD_MEMINFO", w.base().join("no-such-file"))
        .run();
    out.expect_code(0);
    assert!(!out.stderr.contains("memory"));
}

#[test]
fn explain_reports_the_memory_check_with_its_figures() {
    let w = World::production();
    let info = meminfo(&w, 1024, 0, 0);
    let json = w
        .tootguard()
        .args(["explain", "--json", "rails", "assets:precompile"])
        .env("TOOTGUARD_MEMINFO", &info)
        .run()
        .json();
    let check = crate::harness::row(&json["checks"], "memory");
    assert_eq!(check["level"], "block");
    assert!(
        check["message"]
            .as_str()
            .unwrap()
            .contains("1024 MB available RAM")
    );
    assert_eq!(json["would_exec"], false);
}

#[test]
fn an_unrelated_broken_env_line_warns_but_does_not_stop_a_precompile() {
    let w = World::production();
    let info = meminfo(&w, 8192, 2048, 2048);
    fs::write(
        w.root.join(".env.production"),
        "DB_HOST:bad\nDB_PORT 6432\n",
    )
    .unwrap();
    let out = w
        .cmd(w.shim("rails"))
        .arg("assets:precompile")
        .env("TOOTGUARD_MEMINFO", &info)
        .run();
    out.expect_code(0)
        .expect_stderr("warning:")
        .expect_stderr("8192 MB available RAM")
        .expect_stderr(".env files could not be read");
    assert!(w.ran("rails"));
}

#[test]
fn the_requirement_can_live_in_the_env_file() {
    let w = World::production();
    let info = meminfo(&w, 1024, 0, 0);
    fs::write(
        w.root.join(".env.production"),
        "LOCAL_DOMAIN=example.test\nTOOTGUARD_PRECOMPILE_MIN_MB=512\n",
    )
    .unwrap();
    w.cmd(w.shim("rails"))
        .arg("assets:precompile")
        .env("TOOTGUARD_MEMINFO", &info)
        .run()
        .expect_code(0);
    assert!(w.ran("rails"));
}
