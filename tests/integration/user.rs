//! The user guard: as root on an install owned by someone else, the program
//! runs as the owner; `TOOTGUARD_ALLOW_ROOT=1` keeps root; other users are
//! warned. These tests need root (as CI and the dev machines run them).

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Command;

use crate::harness::{World, tootguard};

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

fn chown_tree(path: &Path, uid: u32, gid: u32) {
    std::os::unix::fs::lchown(path, Some(uid), Some(gid)).unwrap();
    if path.is_dir() && !path.is_symlink() {
        for entry in fs::read_dir(path).unwrap() {
            chown_tree(&entry.unwrap().path(), uid, gid);
        }
    }
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
