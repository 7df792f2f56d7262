//! An install is run only when nobody but root and its owner can write it,
//! any directory above it, its `bin/` or the program: otherwise anyone could
//! have planted it, and root would run their program.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use crate::harness::{RECORDER, TestUser, World, chown_tree, write_executable};

/// A directory like `/tmp`: owned by root, writable by anyone, sticky.
fn sticky_dir(w: &World) -> std::path::PathBuf {
    let dir = w.base().join("tmp");
    fs::create_dir_all(&dir).unwrap();
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o1777)).unwrap();
    fs::set_permissions(w.base(), fs::Permissions::from_mode(0o755)).unwrap();
    dir
}

/// The attack of the issue, step by step: an unprivileged user plants an
/// "install" in a sticky world-writable directory; root, in a directory
/// below it, types `tootctl`. Refused twice over: it is another user's, and
/// below a directory anyone can write.
#[test]
#[cfg_attr(
    not(tests_as_root),
    ignore = "needs root (run the suite as root, as CI does)"
)]
fn root_never_runs_an_install_planted_below_a_world_writable_directory() {
    let w = World::bare();
    let tmp = sticky_dir(&w);
    let attacker = TestUser::create(&w.base().join("attacker"));
    let x = tmp.join("x");
    w.make_root(&x);
    chown_tree(&x, attacker.uid, attacker.gid);
    let dl = x.join("dl");
    fs::create_dir(&dl).unwrap();
    let out = w
        .cmd(w.shim("tootctl"))
        .args(["emoji", "import", "./pack.tar.gz"])
        .dir(&dl)
        .run();
    out.expect_code(3);
    assert_eq!(
        out.stderr,
        format!(
            "tootguard: error: tootguard will not run {program}: the install at {x} (found by \
             working directory) belongs to {name}, who is neither root, nor you, nor the owner \
             of the default Mastodon install, and anyone can make a directory that looks like \
             one. If it is the install you mean, name it: `MASTODON_ROOT={x}` before the command \
             (or TOOTGUARD_DEFAULT_ROOT for good). Otherwise run the command from your Mastodon \
             install (usually `cd /home/mastodon/live`).\n",
            program = x.join("bin/tootctl").display(),
            name = attacker.name,
            x = x.display(),
        )
    );
    assert!(!w.ran("tootctl"), "the planted program did not run");

    // Not under TOOTGUARD_BYPASS or TOOTGUARD_ALLOW_ROOT either, and
    // explain shows why.
    for (name, value) in [("TOOTGUARD_BYPASS", "1"), ("TOOTGUARD_ALLOW_ROOT", "1")] {
        let out = w.cmd(w.shim("tootctl")).env(name, value).dir(&dl).run();
        out.expect_code(3).expect_stderr("tootguard will not run");
        assert!(!w.ran("tootctl"), "{name}");
    }
    let json = w
        .tootguard()
        .args(["explain", "--json", "tootctl", "version"])
        .dir(&dl)
        .run()
        .json();
    assert_eq!(json["would_exec"], false);
    assert!(
        json["checks"]
            .to_string()
            .contains("tootguard will not run")
    );

    // Named on purpose, it is the directory above that refuses it — with
    // advice to move it, never to chmod a shared directory.
    let out = w
        .cmd(w.shim("tootctl"))
        .env("MASTODON_ROOT", &x)
        .dir(&dl)
        .run();
    out.expect_code(3).expect_stderr(&format!(
        "{tmp} can be written by its group and anyone (mode 1777), so someone other than root \
         and {name} could have put it there (the install at {x}, found by MASTODON_ROOT, \
         belongs to {name}). If this is not your Mastodon install, run the command from the \
         real one (usually `cd /home/mastodon/live`). If it is, move it — and anything its links \
         point to — where only root and its owner can write, not below {tmp}.",
        tmp = tmp.display(),
        name = attacker.name,
        x = x.display(),
    ));
    assert!(!w.ran("tootctl"));
}

/// Root standing in another user's own directory, which nobody else can
/// write: that user's "install" is still not run, not even as them (their
/// program would get root's terminal), nor as root when asked to keep it.
#[test]
#[cfg_attr(
    not(tests_as_root),
    ignore = "needs root (run the suite as root, as CI does)"
)]
fn root_never_runs_an_install_found_in_another_users_home() {
    let w = World::bare();
    let attacker = TestUser::create(&w.base().join("attacker"));
    fs::set_permissions(w.base(), fs::Permissions::from_mode(0o755)).unwrap();
    let x = attacker.home.join("x");
    w.make_root(&x);
    chown_tree(&attacker.home, attacker.uid, attacker.gid);
    for env in [None, Some("TOOTGUARD_ALLOW_ROOT"), Some("TOOTGUARD_BYPASS")] {
        let mut cmd = w.cmd(w.shim("tootctl")).dir(&x);
        if let Some(name) = env {
            cmd = cmd.env(name, "1");
        }
        cmd.run().expect_code(3).expect_stderr(&format!(
            "belongs to {}, who is neither root",
            attacker.name
        ));
        assert!(!w.ran("tootctl"), "{env:?}");
    }
    // The attacker's own run of their own install is theirs to make.
    fs::set_permissions(&w.record, fs::Permissions::from_mode(0o777)).unwrap();
    let out = w.cmd_as(&attacker, w.shim("tootctl")).dir(&x).run();
    out.expect_code(0);
    assert!(w.ran("tootctl"));
}

/// A link on the way to the program that another user controls — here in
/// a world-writable directory, pointing back at a good script — could be
/// swapped between the check and the exec: every hop is judged.
#[test]
#[cfg_attr(
    not(tests_as_root),
    ignore = "needs root (run the suite as root, as CI does)"
)]
fn a_link_chain_through_a_directory_others_can_write_is_refused() {
    let w = World::production();
    let tmp = sticky_dir(&w);
    let attacker = TestUser::create(&w.base().join("attacker"));
    let good = w.base().join("good/tootctl");
    write_executable(&good, RECORDER);
    let hop = tmp.join("hop");
    std::os::unix::fs::symlink(&good, &hop).unwrap();
    std::os::unix::fs::lchown(&hop, Some(attacker.uid), Some(attacker.gid)).unwrap();
    let program = w.root.join("bin/tootctl");
    fs::remove_file(&program).unwrap();
    std::os::unix::fs::symlink(&hop, &program).unwrap();
    let out = w.cmd(w.shim("tootctl")).run();
    out.expect_code(3).expect_stderr(&format!(
        "tootguard will not run {}: {} can be written by its group and anyone (mode 1777)",
        program.display(),
        tmp.display()
    ));
    assert!(!w.ran("tootctl"));
}

/// The same planted by root itself, straight in the world-writable
/// directory (`/tmp/bin/tootctl`): the directory decides, not the owner,
/// and the advice is never to chmod a shared directory.
#[test]
fn an_install_in_a_world_writable_directory_is_refused_whoever_owns_it() {
    let w = World::bare();
    let tmp = sticky_dir(&w);
    w.make_root(&tmp);
    let out = w.cmd(w.shim("tootctl")).dir(&tmp).run();
    out.expect_code(3)
        .expect_stderr(&format!(
            "{} can be written by its group and anyone (mode 1777)",
            tmp.display()
        ))
        .expect_stderr(&format!("not below {}.", tmp.display()));
    assert!(!out.stderr.contains("chmod"), "{}", out.stderr);
    assert!(!w.ran("tootctl"));
}

#[test]
fn a_group_writable_install_or_bin_or_program_is_refused_with_the_chmod_that_fixes_it() {
    for (what, mode) in [("", 0o775), ("bin", 0o775), ("bin/rails", 0o775)] {
        let w = World::production();
        let path = if what.is_empty() {
            w.root.clone()
        } else {
            w.root.join(what)
        };
        fs::set_permissions(&path, fs::Permissions::from_mode(mode)).unwrap();
        let out = w.cmd(w.shim("rails")).arg("db:version").run();
        out.expect_code(3)
            .expect_stderr(&format!(
                "{} can be written by its group (mode {mode:o})",
                path.display()
            ))
            .expect_stderr(&format!("`chmod go-w {}`", path.display()));
        assert!(!w.ran("rails"), "{what}");
        fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).unwrap();
        w.cmd(w.shim("rails"))
            .arg("db:version")
            .run()
            .expect_code(0);
        assert!(w.ran("rails"), "{what}: runs once fixed");
    }
}

/// A program that belongs to a third user, in an install of root's.
#[test]
#[cfg_attr(
    not(tests_as_root),
    ignore = "needs root (run the suite as root, as CI does)"
)]
fn a_program_owned_by_someone_else_is_refused_with_the_chown_that_fixes_it() {
    let w = World::production();
    let other = TestUser::create(&w.base().join("other"));
    let program = w.root.join("bin/tootctl");
    std::os::unix::fs::chown(&program, Some(other.uid), Some(other.gid)).unwrap();
    let out = w.cmd(w.shim("tootctl")).run();
    out.expect_code(3)
        .expect_stderr(&format!("{} belongs to {}", program.display(), other.name))
        .expect_stderr(&format!("`chown root {}`", program.display()));
    assert!(!w.ran("tootctl"));
}

/// A bin/ script that links out of the install is judged where it really
/// lives.
#[test]
fn a_program_linked_into_a_world_writable_directory_is_refused() {
    let w = World::production();
    let tmp = sticky_dir(&w);
    let planted = tmp.join("tootctl");
    write_executable(&planted, RECORDER);
    let program = w.root.join("bin/tootctl");
    fs::remove_file(&program).unwrap();
    std::os::unix::fs::symlink(&planted, &program).unwrap();
    let out = w.cmd(w.shim("tootctl")).run();
    out.expect_code(3)
        .expect_stderr(&format!("{} can be written", tmp.display()));
    assert!(!w.ran("tootctl"));
    assert!(Path::new(&planted).exists());
}

#[test]
fn doctor_fails_the_root_check_of_an_install_others_can_write() {
    let w = World::production();
    fs::set_permissions(&w.root, fs::Permissions::from_mode(0o777)).unwrap();
    let out = w.tootguard().args(["doctor", "--json"]).run();
    out.expect_code(1);
    let root = out
        .json()
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "root")
        .cloned()
        .unwrap();
    assert_eq!(root["level"], "fail");
    assert_eq!(
        root["message"],
        format!(
            "tootguard will not run {}: {} can be written by its group and anyone (mode 777), \
             so someone other than root could have put it there (the install at {}, found by \
             working directory, belongs to root).",
            w.root.join("bin/tootctl").display(),
            w.root.display(),
            w.root.display()
        )
    );
    assert_eq!(
        root["fix"],
        format!(
            "If this is not your Mastodon install, run the command from the real one (usually \
             `cd /home/mastodon/live`). If it is, let only root and its owner write it: `chmod \
             go-w {}`.",
            w.root.display()
        )
    );
}

/// `upgrade` refuses such an install before any step, `--from bundle`
/// (which skips the preflight) included.
#[test]
fn upgrade_refuses_an_install_others_can_write_before_any_step() {
    let w = World::production();
    fs::set_permissions(&w.root, fs::Permissions::from_mode(0o775)).unwrap();
    for args in [
        &["upgrade", "--from", "bundle", "--dry-run"][..],
        &["upgrade", "--from", "bundle", "--yes"],
    ] {
        let out = w.tootguard().args(args).run();
        out.expect_code(3).expect_stderr(&format!(
            "tootguard will not run {}: {} can be written by its group (mode 775)",
            w.root.join("bin/tootctl").display(),
            w.root.display()
        ));
        assert_eq!(out.stdout, "", "{args:?}");
    }
}
