//! The user guard: as root on an install owned by someone else, the program
//! runs as the owner; `TOOTGUARD_ALLOW_ROOT=1` keeps root; other users are
//! warned. These tests need root (as CI and the dev machines run them).

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Command;

use crate::harness::{World, chown_tree, tootguard};

const NOBODY: u32 = 65534;

/// Hands the world's root to `uid:gid` and opens the directories the child
/// must reach once it is no longer root.
fn give_root_to(w: &World, uid: u32, gid: u32) {
    for dir in [w.base(), w.shims.clone()] {
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).unwrap();
    }
    fs::set_permissions(&w.record, fs::Permissions::from_mode(0o777)).unwrap();
    chown_tree(&w.root, uid, gid);
}

fn recorded_id(w: &World, tool: &str) -> String {
    fs::read_to_string(w.record.join(format!("{tool}.id")))
        .unwrap()
        .trim()
        .to_owned()
}

#[test]
#[cfg_attr(
    not(tests_as_root),
    ignore = "needs root (run the suite as root, as CI does)"
)]
fn as_root_the_program_runs_as_the_owner_of_the_install() {
    let w = World::production();
    give_root_to(&w, NOBODY, NOBODY);
    let out = w.cmd(w.shim("tootctl")).arg("version").run();
    out.expect_code(0)
        .expect_stderr("running as nobody (the owner of");
    assert_eq!(recorded_id(&w, "tootctl"), "65534 65534 65534");
    assert_eq!(w.recorded_env("tootctl", "USER").as_deref(), Some("nobody"));
    assert_eq!(
        w.recorded_env("tootctl", "LOGNAME").as_deref(),
        Some("nobody")
    );
    assert_eq!(
        w.recorded_env("tootctl", "HOME").as_deref(),
        Some("/nonexistent")
    );
    assert_eq!(
        w.recorded_env("tootctl", "RAILS_ENV").as_deref(),
        Some("production")
    );
}

#[test]
#[cfg_attr(
    not(tests_as_root),
    ignore = "needs root (run the suite as root, as CI does)"
)]
fn allow_root_keeps_root_with_a_warning() {
    let w = World::production();
    give_root_to(&w, NOBODY, NOBODY);
    let out = w
        .cmd(w.shim("tootctl"))
        .env("TOOTGUARD_ALLOW_ROOT", "1")
        .run();
    out.expect_code(0)
        .expect_stderr("warning:")
        .expect_stderr("Errno::EACCES");
    assert!(recorded_id(&w, "tootctl").starts_with("0 0"));
}

#[test]
#[cfg_attr(
    not(tests_as_root),
    ignore = "needs root (run the suite as root, as CI does)"
)]
fn explain_shows_the_user_the_program_would_run_as() {
    let w = World::production();
    give_root_to(&w, NOBODY, NOBODY);
    let json = w
        .tootguard()
        .args(["explain", "--json", "tootctl"])
        .run()
        .json();
    assert_eq!(json["run_as"], "nobody");
    assert_eq!(json["env"]["USER"], "nobody");
    assert!(!w.ran("tootctl"));
}

#[test]
#[cfg_attr(
    not(tests_as_root),
    ignore = "needs root (run the suite as root, as CI does)"
)]
fn another_user_than_the_owner_is_warned_that_files_will_be_theirs() {
    let w = World::production();
    give_root_to(&w, 0, 0);
    // A copy of tootguard that `nobody` can reach wherever the checkout is.
    let bin = w.base().join("bin");
    fs::create_dir_all(&bin).unwrap();
    fs::copy(tootguard(), bin.join("tootguard")).unwrap();
    fs::set_permissions(&bin, fs::Permissions::from_mode(0o755)).unwrap();
    fs::set_permissions(&w.root, fs::Permissions::from_mode(0o755)).unwrap();
    let mut cmd = Command::new(bin.join("tootguard"));
    cmd.arg("tootctl")
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("TG_RECORD", &w.record)
        .env("NO_COLOR", "1")
        .current_dir(&w.root)
        .uid(NOBODY)
        .gid(NOBODY);
    let out = crate::harness::Cmd { command: cmd }.run();
    out.expect_code(0)
        .expect_stderr("you are nobody, but")
        .expect_stderr("belongs to root");
    assert!(recorded_id(&w, "tootctl").starts_with("65534"));
}

#[test]
#[cfg_attr(
    not(tests_as_root),
    ignore = "needs root (run the suite as root, as CI does)"
)]
fn the_owners_rbenv_shims_come_first_on_path() {
    let name = "tootguard-rbenv";
    let home = Path::new("/tmp/tootguard-rbenv-home");
    fs::create_dir_all(home.join(".rbenv/shims")).unwrap();
    if nix::unistd::User::from_name(name).ok().flatten().is_none() {
        let status = Command::new("useradd")
            .args(["--system", "--no-create-home", "--home-dir"])
            .arg(home)
            .arg(name)
            .status()
            .expect("useradd");
        assert!(status.success(), "useradd {name} failed");
    }
    let user = nix::unistd::User::from_name(name).unwrap().unwrap();
    let w = World::production();
    give_root_to(&w, user.uid.as_raw(), user.gid.as_raw());
    let out = w.cmd(w.shim("tootctl")).run();
    out.expect_code(0);
    let path = w.recorded_env("tootctl", "PATH").unwrap();
    assert!(
        path.starts_with("/tmp/tootguard-rbenv-home/.rbenv/shims:"),
        "{path}"
    );
    assert_eq!(w.recorded_env("tootctl", "USER").as_deref(), Some(name));
}

// ---------------------------------------------------------------------------
// What the owner can read, and the Ruby they run with

/// As root, `.env.production` readable by root only (root-owned, 600): the
/// migration would run as the owner, who cannot read it. Root's checks
/// judge what the owner will read, and give a permission fix.
#[test]
#[cfg_attr(
    not(tests_as_root),
    ignore = "needs root (run the suite as root, as CI does)"
)]
fn root_judges_the_env_files_by_what_the_owner_will_be_able_to_read() {
    let (w, user) = World::production_owned_by_a_user();
    let env = w.root.join(".env.production");
    fs::write(&env, "DB_PORT=5432\n").unwrap();
    std::os::unix::fs::chown(&env, Some(0), Some(0)).unwrap();
    fs::set_permissions(&env, fs::Permissions::from_mode(0o600)).unwrap();
    let expected = format!(
        "{} cannot read {} (it belongs to root, mode 600), and Mastodon reads it at boot as the \
         user that runs it. Give it to the install's owner and keep it private, as root: `chown \
         {}: {} && chmod 600 {}`.",
        user.name,
        env.display(),
        user.name,
        env.display(),
        env.display()
    );
    let out = w.cmd(w.shim("rails")).arg("db:migrate").run();
    out.expect_code(3).expect_stderr(&expected);
    assert!(!w.ran("rails"));
    let json = w.tootguard().args(["doctor", "--json"]).run().json();
    let config = crate::harness::row(&json, "config");
    assert_eq!(config["level"], "fail");
    assert_eq!(config["message"], expected);

    // The owner, on their own, is told the same about themselves.
    let out = w.cmd_as(&user, w.shim("rails")).arg("db:migrate").run();
    out.expect_code(3).expect_stderr(&expected);

    // Fixed as the message says: the migration runs.
    std::os::unix::fs::chown(&env, Some(user.uid), Some(user.gid)).unwrap();
    w.cmd(w.shim("rails"))
        .arg("db:migrate")
        .run()
        .expect_code(0);
}

/// `tootctl emoji import ./pack.tar.gz` from a directory only root can
/// read: the owner it runs as could not open the file.
#[test]
#[cfg_attr(
    not(tests_as_root),
    ignore = "needs root (run the suite as root, as CI does)"
)]
fn root_is_told_when_the_owner_cannot_read_a_file_argument() {
    let (w, user) = World::production_owned_by_a_user();
    let private = w.base().join("root-only");
    fs::create_dir_all(&private).unwrap();
    fs::set_permissions(&private, fs::Permissions::from_mode(0o700)).unwrap();
    fs::write(private.join("pack.tar.gz"), "x").unwrap();
    let out = w
        .cmd(w.shim("tootctl"))
        .args(["emoji", "import", "./pack.tar.gz"])
        .env("MASTODON_ROOT", &w.root)
        .env("RAILS_ENV", "production")
        .dir(&private)
        .run();
    out.expect_code(0);
    let file = private.join("pack.tar.gz");
    assert_eq!(
        out.stderr,
        format!(
            "tootguard: warning: running as {name} (the owner of {root}), not as root; {name} \
             cannot read {file} (it or a directory above it is closed to them), so tootctl will \
             fail to open it. Put it where {name} can read it, for example `install -o {name} -m \
             600 {file} {home}/`, and give that path instead.\n",
            name = user.name,
            root = w.root.display(),
            file = file.display(),
            home = user.home.display(),
        )
    );
    // Readable by the owner: just the notice.
    fs::set_permissions(&private, fs::Permissions::from_mode(0o755)).unwrap();
    fs::set_permissions(
        private.join("pack.tar.gz"),
        fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    let out = w
        .cmd(w.shim("tootctl"))
        .args(["emoji", "import", "./pack.tar.gz"])
        .env("MASTODON_ROOT", &w.root)
        .env("RAILS_ENV", "production")
        .dir(&private)
        .run();
    assert_eq!(
        out.stderr,
        format!(
            "tootguard: running as {} (the owner of {}), not as root\n",
            user.name,
            w.root.display()
        )
    );
}

/// The owner's cron job (`env -i PATH=/usr/bin:/bin`) gets the owner's
/// rbenv Ruby, as root's handing over does; root with no PATH at all gets
/// a usable one.
#[test]
#[cfg_attr(
    not(tests_as_root),
    ignore = "needs root (run the suite as root, as CI does)"
)]
fn the_owner_gets_their_rbenv_shims_on_their_own_and_through_root_and_root_without_path_a_usable_path()
 {
    let w = World::production();
    let user = crate::harness::TestUser::create(&w.base().join("home"));
    let shims = user.home.join(".rbenv/shims");
    fs::create_dir_all(&shims).unwrap();
    chown_tree(&user.home, user.uid, user.gid);
    w.give_to(&user);
    let path = "/usr/bin:/bin";
    let expected = format!("{}:{path}", shims.display());
    // The owner's own run.
    let out = user
        .command(
            &[
                ("PATH", std::ffi::OsStr::new(path)),
                ("HOME", user.home.as_os_str()),
                ("TG_RECORD", w.record.as_os_str()),
            ],
            w.shim("tootctl"),
        )
        .arg("media")
        .dir(&w.root)
        .run();
    out.expect_code(0);
    assert_eq!(w.recorded_env("tootctl", "PATH"), Some(expected.clone()));
    // Root's run, handed to the owner.
    w.cmd(w.shim("tootctl"))
        .env("PATH", path)
        .run()
        .expect_code(0);
    assert_eq!(w.recorded_env("tootctl", "PATH"), Some(expected));
    // Already on PATH: left alone.
    let listed = format!("{path}:{}", shims.display());
    w.cmd(w.shim("tootctl"))
        .env("PATH", &listed)
        .run()
        .expect_code(0);
    assert_eq!(w.recorded_env("tootctl", "PATH"), Some(listed));
    // Root with no PATH at all.
    let out = w.cmd(w.shim("tootctl")).env_remove_path().run();
    out.expect_code(0);
    assert_eq!(
        w.recorded_env("tootctl", "PATH"),
        Some(format!(
            "{}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            shims.display()
        ))
    );
}
