//! `tootguard install`: shims, idempotence, refusal, shadowing report.

use std::fs;

use crate::harness::{SHIMS, World, shim_binary, tootguard, write_executable};

#[test]
fn install_creates_the_five_links_and_is_idempotent() {
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
    for tool in SHIMS {
        let link = dir.join(tool);
        assert_eq!(
            fs::read_link(&link).unwrap(),
            shim_binary().canonicalize().unwrap(),
            "shims link to tootguard-shim, the binary with the shim path alone"
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
        5
    );
}

#[test]
fn install_turns_links_to_tootguard_itself_into_links_to_the_shim_binary() {
    let w = World::bare();
    let dir = w.base().join("bin");
    fs::create_dir_all(&dir).unwrap();
    for tool in ["rails", "rake", "tootctl"] {
        std::os::unix::fs::symlink(tootguard(), dir.join(tool)).unwrap();
    }
    w.tootguard()
        .args(["install", "--dir"])
        .arg(&dir)
        .run()
        .expect_code(0);
    for tool in ["rails", "rake", "tootctl"] {
        assert_eq!(
            fs::read_link(dir.join(tool)).unwrap(),
            shim_binary().canonicalize().unwrap()
        );
    }
}

#[test]
fn install_without_the_shim_binary_beside_it_says_how_to_install_both() {
    let w = World::bare();
    let alone = w.base().join("alone");
    fs::create_dir_all(&alone).unwrap();
    fs::copy(tootguard(), alone.join("tootguard")).unwrap();
    let dir = w.base().join("bin");
    let out = w
        .cmd(alone.join("tootguard"))
        .args(["install", "--dir"])
        .arg(&dir)
        .run();
    out.expect_code(1)
        .expect_stderr(&alone.join("tootguard-shim").display().to_string())
        .expect_stderr("cargo install --path .");
    assert!(!dir.join("tootctl").exists(), "no link to a missing binary");
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

#[test]
fn install_says_plainly_when_its_directory_is_not_on_path_and_nothing_when_it_is_first() {
    let w = World::bare();
    let dir = w.base().join("bin");
    let out = w
        .tootguard()
        .args(["install", "--no-completions", "--dir"])
        .arg(&dir)
        .env("PATH", "/usr/bin:/bin")
        .run();
    out.expect_code(0);
    assert_eq!(
        out.stderr,
        format!(
            "tootguard: warning: {} is not on PATH: typing `rails`, `rake`, `tootctl`, `ruby` \
             or `bundle` will not find the shims.\n",
            dir.display()
        )
    );
    assert!(!out.stderr.contains("PATH finds"));
    // First on PATH: no warning, no line to add.
    let out = w
        .tootguard()
        .args(["install", "--no-completions", "--dir"])
        .arg(&dir)
        .env("PATH", format!("{}:/usr/bin:/bin", dir.display()))
        .run();
    out.expect_code(0);
    assert_eq!(out.stderr, "");
    assert!(!out.stdout.contains("export PATH"), "{}", out.stdout);
}

#[test]
fn install_names_a_foreign_file_it_left_in_its_directory() {
    let w = World::bare();
    let dir = w.base().join("bin");
    write_executable(&dir.join("rake"), "#!/bin/sh\necho mine\n");
    let out = w
        .tootguard()
        .args(["install", "--no-completions", "--dir"])
        .arg(&dir)
        .env("PATH", format!("{}:/usr/bin:/bin", dir.display()))
        .run();
    out.expect_code(1).expect_stderr(&format!(
        "tootguard: warning: {} is not tootguard's and was left in place: typing `rake` runs \
         it, not tootguard.",
        dir.join("rake").display()
    ));
}

#[test]
fn install_says_where_it_writes_completions_and_writes_none_when_asked() {
    let w = World::bare();
    let dir = w.base().join("bin");
    let home = w.base();
    let out = w.tootguard().args(["install", "--dir"]).arg(&dir).run();
    out.expect_code(0);
    for line in [
        format!(
            "bash completions: {} (tootguard, tootctl, rails, rake)",
            home.join(".local/share/bash-completion/completions")
                .display()
        ),
        format!(
            "fish completions: {} (tootguard.fish, tootctl.fish, rails.fish)",
            home.join(".config/fish/completions").display()
        ),
    ] {
        assert!(out.stdout.contains(&line), "{line}\n{}", out.stdout);
    }
    let w = World::bare();
    let out = w
        .tootguard()
        .args(["install", "--no-completions", "--dir"])
        .arg(&dir)
        .run();
    out.expect_code(0);
    assert!(
        out.stdout
            .contains("shell completions: not installed (--no-completions)")
    );
    assert!(!w.base().join(".local/share").exists());
    assert!(!w.base().join(".config").exists());
}

#[test]
fn install_force_keeps_the_file_it_replaces_and_uninstall_puts_it_back() {
    let w = World::bare();
    let dir = w.base().join("bin");
    write_executable(&dir.join("ruby"), "#!/bin/sh\necho mine\n");
    let out = w
        .tootguard()
        .args(["install", "--force", "--no-completions", "--dir"])
        .arg(&dir)
        .run();
    out.expect_code(0);
    let kept = dir.join("ruby.tootguard-orig");
    assert!(
        out.stdout.contains(&format!(
            "{} moved to {}\n",
            dir.join("ruby").display(),
            kept.display()
        )),
        "{}",
        out.stdout
    );
    assert_eq!(fs::read_to_string(&kept).unwrap(), "#!/bin/sh\necho mine\n");
    let out = w.tootguard().args(["uninstall", "--dir"]).arg(&dir).run();
    out.expect_code(0);
    assert!(
        out.stdout.contains(&format!(
            "put back {} as {}\n",
            kept.display(),
            dir.join("ruby").display()
        )),
        "{}",
        out.stdout
    );
    assert_eq!(
        fs::read_to_string(dir.join("ruby")).unwrap(),
        "#!/bin/sh\necho mine\n"
    );
    assert!(!kept.exists());
}
