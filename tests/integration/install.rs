//! `tootguard install`: shims, idempotence, refusal, shadowing report.

use std::fs;

use crate::harness::{SHIMS, World, shim_binary, tootguard, write_executable};

/// The links `install --dir [BASE]/bin` makes, one per shim, as it prints them.
const FIVE_LINKS: &str = "\
[BASE]/bin/rails -> [BIN]/tootguard-shim
[BASE]/bin/rake -> [BIN]/tootguard-shim
[BASE]/bin/tootctl -> [BIN]/tootguard-shim
[BASE]/bin/ruby -> [BIN]/tootguard-shim
[BASE]/bin/bundle -> [BIN]/tootguard-shim
";

/// What `install --dir [BASE]/bin` prints after the links, with HOME at
/// [BASE] and [BASE]/bin not on PATH: where the completions went, and the
/// PATH line.
const COMPLETIONS_AND_PATH: &str = "\
bash completions: [BASE]/.local/share/bash-completion/completions (tootguard, tootctl, rails, rake)
zsh completions: [BASE]/.local/share/zsh/site-functions (_tootguard)
  zsh: add to ~/.zshrc, before compinit: fpath=(~/.local/share/zsh/site-functions $fpath)
fish completions: [BASE]/.config/fish/completions (tootguard.fish, tootctl.fish, rails.fish)
Add this line to ~/.bashrc (or ~/.profile, ~/.zshrc), then open a new shell:
  export PATH=\"[BASE]/bin:$PATH\"
";

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
    first.expect_code(0).expect_stdout_is(
        &w.normaliser(),
        r#"
            [BASE]/bin/rails -> [BIN]/tootguard-shim
            [BASE]/bin/rake -> [BIN]/tootguard-shim
            [BASE]/bin/tootctl -> [BIN]/tootguard-shim
            [BASE]/bin/ruby -> [BIN]/tootguard-shim
            [BASE]/bin/bundle -> [BIN]/tootguard-shim
            bash completions: [BASE]/.local/share/bash-completion/completions (tootguard, tootctl, rails, rake)
            zsh completions: [BASE]/.local/share/zsh/site-functions (_tootguard)
              zsh: add to ~/.zshrc, before compinit: fpath=(~/.local/share/zsh/site-functions $fpath)
            fish completions: [BASE]/.config/fish/completions (tootguard.fish, tootctl.fish, rails.fish)
            "#,
    );
    assert_eq!(first.stderr, "");
    for tool in SHIMS {
        let link = dir.join(tool);
        assert_eq!(
            fs::read_link(&link).unwrap(),
            shim_binary().canonicalize().unwrap(),
            "shims link to tootguard-shim, the binary with the shim path alone"
        );
    }
    let second = w
        .tootguard()
        .args(["install", "--dir"])
        .arg(&dir)
        .env("PATH", &path)
        .run();
    second.expect_code(0).expect_stdout_is(
        &w.normaliser(),
        r#"
            [BASE]/bin/rails already links to tootguard
            [BASE]/bin/rake already links to tootguard
            [BASE]/bin/tootctl already links to tootguard
            [BASE]/bin/ruby already links to tootguard
            [BASE]/bin/bundle already links to tootguard
            bash completions: [BASE]/.local/share/bash-completion/completions (tootguard, tootctl, rails, rake)
            zsh completions: [BASE]/.local/share/zsh/site-functions (_tootguard)
              zsh: add to ~/.zshrc, before compinit: fpath=(~/.local/share/zsh/site-functions $fpath)
            fish completions: [BASE]/.config/fish/completions (tootguard.fish, tootctl.fish, rails.fish)
            "#,
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
    out.expect_code(1).expect_stderr_is(
        &w.normaliser(),
        "tootguard: error: [BASE]/alone/tootguard-shim is not next to [BASE]/alone/tootguard, and \
         the shims link to it. Install both binaries together: `cargo install --path .` in the \
         tootguard checkout.\n",
    );
    assert_eq!(out.stdout, "");
    assert!(!dir.join("tootctl").exists(), "no link to a missing binary");
}

#[test]
fn install_names_every_foreign_file_it_leaves_in_one_error() {
    let w = World::bare();
    let dir = w.base().join("bin");
    write_executable(&dir.join("rails"), "#!/bin/sh\necho mine\n");
    write_executable(&dir.join("rake"), "#!/bin/sh\necho mine too\n");
    let out = w.tootguard().args(["install", "--dir"]).arg(&dir).run();
    out.expect_code(1).expect_stderr_is(
        &w.normaliser(),
        &format!(
            "{}tootguard: error: not replacing [BASE]/bin/rails, [BASE]/bin/rake: they are not \
             links to tootguard. Move them away, or run `tootguard install --force` to replace \
             them.\n",
            "tootguard: warning: [BASE]/bin is not on PATH: typing `rails`, `rake`, `tootctl`, `ruby` \
         or `bundle` will not find the shims.\n"
        ),
    );
    assert_eq!(
        fs::read_to_string(dir.join("rake")).unwrap(),
        "#!/bin/sh\necho mine too\n"
    );
}

#[test]
fn install_never_replaces_a_foreign_file_without_force() {
    let w = World::bare();
    let dir = w.base().join("bin");
    write_executable(&dir.join("rails"), "#!/bin/sh\necho mine\n");
    let out = w.tootguard().args(["install", "--dir"]).arg(&dir).run();
    out.expect_code(1).expect_stderr_is(
        &w.normaliser(),
        &format!(
            "{}tootguard: error: not replacing [BASE]/bin/rails: it is not a link to tootguard. Move \
             it away, or run `tootguard install --force` to replace it.\n",
            "tootguard: warning: [BASE]/bin is not on PATH: typing `rails`, `rake`, `tootctl`, `ruby` \
         or `bundle` will not find the shims.\n"
        ),
    );
    out.expect_stdout_is(
        &w.normaliser(),
        &format!(
            "[BASE]/bin/rake -> [BIN]/tootguard-shim\n\
             [BASE]/bin/tootctl -> [BIN]/tootguard-shim\n\
             [BASE]/bin/ruby -> [BIN]/tootguard-shim\n\
             [BASE]/bin/bundle -> [BIN]/tootguard-shim\n{COMPLETIONS_AND_PATH}"
        ),
    );
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
        .expect_stderr_is(
            &w.normaliser(),
            "tootguard: warning: PATH finds [BASE]/earlier/tootctl before the shim \
             [BASE]/bin/tootctl: typing `tootctl` will not be guarded.\n",
        )
        .expect_stdout_is(
            &w.normaliser(),
            &format!("{FIVE_LINKS}{COMPLETIONS_AND_PATH}"),
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
    out.expect_code(0)
        .expect_stderr_is(&w.normaliser(), "tootguard: warning: [BASE]/bin is not on PATH: typing `rails`, `rake`, `tootctl`, `ruby` \
         or `bundle` will not find the shims.\n")
        .expect_stdout_is(
            &w.normaliser(),
            &format!("{FIVE_LINKS}{COMPLETIONS_AND_PATH}"),
        );
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
    out.expect_code(0).expect_stdout_is(
        &w.normaliser(),
        &format!("{FIVE_LINKS}{COMPLETIONS_AND_PATH}"),
    );
    for file in [
        ".local/share/bash-completion/completions/tootctl",
        ".config/fish/completions/tootctl.fish",
    ] {
        assert!(home.join(file).is_file(), "no {file}");
    }
    // Another home (HOME is the world's base), the same shim directory:
    // [BASE] is the first world's.
    let n = w.normaliser();
    let w = World::bare();
    let out = w
        .tootguard()
        .args(["install", "--no-completions", "--dir"])
        .arg(&dir)
        .run();
    out.expect_code(0).expect_stdout_is(
        &n,
        r#"
            [BASE]/bin/rails already links to tootguard
            [BASE]/bin/rake already links to tootguard
            [BASE]/bin/tootctl already links to tootguard
            [BASE]/bin/ruby already links to tootguard
            [BASE]/bin/bundle already links to tootguard
            shell completions: not installed (--no-completions)
            Add this line to ~/.bashrc (or ~/.profile, ~/.zshrc), then open a new shell:
              export PATH="[BASE]/bin:$PATH"
            "#,
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
    out.expect_code(0).expect_stdout_is(
        &w.normaliser(),
        r#"
            [BASE]/bin/rails -> [BIN]/tootguard-shim
            [BASE]/bin/rake -> [BIN]/tootguard-shim
            [BASE]/bin/tootctl -> [BIN]/tootguard-shim
            [BASE]/bin/ruby moved to [BASE]/bin/ruby.tootguard-orig
            [BASE]/bin/ruby -> [BIN]/tootguard-shim
            [BASE]/bin/bundle -> [BIN]/tootguard-shim
            shell completions: not installed (--no-completions)
            Add this line to ~/.bashrc (or ~/.profile, ~/.zshrc), then open a new shell:
              export PATH="[BASE]/bin:$PATH"
            "#,
    );
    let kept = dir.join("ruby.tootguard-orig");
    assert_eq!(fs::read_to_string(&kept).unwrap(), "#!/bin/sh\necho mine\n");
    let out = w.tootguard().args(["uninstall", "--dir"]).arg(&dir).run();
    out.expect_code(0).expect_stdout_is(
        &w.normaliser(),
        r#"
            removed [BASE]/bin/rails
            removed [BASE]/bin/rake
            removed [BASE]/bin/tootctl
            removed [BASE]/bin/ruby
            put back [BASE]/bin/ruby.tootguard-orig as [BASE]/bin/ruby
            removed [BASE]/bin/bundle
            "#,
    );
    assert_eq!(
        fs::read_to_string(dir.join("ruby")).unwrap(),
        "#!/bin/sh\necho mine\n"
    );
    assert!(!kept.exists());
}
