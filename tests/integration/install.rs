//! `tootguard install`: shims, idempotence, refusal, shadowing report.

use std::fs;

use crate::harness::{World, tootguard, write_executable};

#[test]
fn install_creates_the_three_links_and_is_idempotent() {
    let w = World::bare();
    let dir = w.base().join("bin");
    let path = format!("{}:/usr/bin:/bin", dir.display());
    let first = w
        .tootguard()
        .args(["install", "--dir"])
        .arg(&dir)
        .env("PATH", &path)
        .run();
    first.expect_code(0);
    for tool in ["rails", "rake", "tootctl"] {
        let link = dir.join(tool);
        assert_eq!(
            fs::read_link(&link).unwrap(),
            tootguard().canonicalize().unwrap()
        );
    }
    assert!(!first.stdout.contains("export PATH"), "{}", first.stdout);
    let second = w
        .tootguard()
        .args(["install", "--dir"])
        .arg(&dir)
        .env("PATH", &path)
        .run();
    second.expect_code(0);
    assert_eq!(
        second.stdout.matches("already links to tootguard").count(),
        3
    );
}

#[test]
fn install_never_replaces_a_foreign_file_without_force() {
    let w = World::bare();
    let dir = w.base().join("bin");
    write_executable(&dir.join("rails"), "#!/bin/sh\necho mine\n");
    let out = w.tootguard().args(["install", "--dir"]).arg(&dir).run();
    out.expect_code(1)
        .expect_stderr("not replacing")
        .expect_stderr("--force");
    assert_eq!(
        fs::read_to_string(dir.join("rails")).unwrap(),
        "#!/bin/sh\necho mine\n"
    );
    assert!(
        dir.join("tootctl").exists(),
        "the others are still installed"
    );
    w.tootguard()
        .args(["install", "--force", "--dir"])
        .arg(&dir)
        .run()
        .expect_code(0);
    assert!(
        fs::symlink_metadata(dir.join("rails"))
            .unwrap()
            .file_type()
            .is_symlink()
    );
}

#[test]
fn install_names_what_shadows_a_shim_and_prints_the_path_line() {
    let w = World::bare();
    let dir = w.base().join("bin");
    let earlier = w.base().join("earlier");
    write_executable(&earlier.join("tootctl"), "#!/bin/sh\n");
    let out = w
        .tootguard()
        .args(["install", "--dir"])
        .arg(&dir)
        .env(
            "PATH",
            format!("{}:{}:/usr/bin:/bin", earlier.display(), dir.display()),
        )
        .run();
    out.expect_code(0)
        .expect_stderr(&format!("PATH finds {}", earlier.join("tootctl").display()));
    assert!(
        out.stdout
            .contains(&format!("export PATH=\"{}:$PATH\"", dir.display())),
        "{}",
        out.stdout
    );
}

#[test]
fn install_says_when_its_directory_is_not_on_path() {
    let w = World::bare();
    let dir = w.base().join("bin");
    let out = w
        .tootguard()
        .args(["install", "--dir"])
        .arg(&dir)
        .env("PATH", "/usr/bin:/bin")
        .run();
    out.expect_code(0).expect_stderr("is not on PATH");
    assert!(out.stdout.contains("export PATH="));
}
