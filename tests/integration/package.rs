//! The release (issue 16): the README's reference tables are the code's,
//! and the Debian package `scripts/release` builds installs, works — man
//! pages, completions from the system directories, the shims under sudo —
//! and goes away without a trace, while the archive holds the same files.
//!
//! The package test builds the release once (a release build: minutes, run
//! at the lowest priority so the tests around it keep their pace) and does
//! everything with dpkg inside a mount namespace whose /usr, /etc and /var
//! are overlays (`package.sh`): no other test, and not the machine, ever
//! sees the package, whatever happens to the test.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use crate::harness::{self, World, unindent};

const REPO: &str = env!("CARGO_MANIFEST_DIR");

/// The rows of the README table under `header`, as Markdown lines.
fn readme_table(readme: &str, header: &str) -> Vec<String> {
    let mut lines = readme.lines().skip_while(|l| *l != header).skip(2);
    let mut rows = Vec::new();
    for line in lines.by_ref() {
        if !line.starts_with("| ") {
            break;
        }
        rows.push(line.to_owned());
    }
    assert!(!rows.is_empty(), "the README has no table {header:?}");
    rows
}

#[test]
fn the_readmes_settings_and_exit_status_tables_are_the_codes() {
    let readme = fs::read_to_string(Path::new(REPO).join("README.md")).unwrap();
    let (settings, statuses) = tootguard::reference::readme_rows();
    assert_eq!(
        readme_table(&readme, "| variable | effect |"),
        settings,
        "README \"Settings\" differs from SETTINGS in src/settings.rs (the man page and --help \
         are made from that one)"
    );
    assert_eq!(
        readme_table(&readme, "| status | meaning |"),
        statuses,
        "README \"Exit statuses\" differs from STATUSES in src/exit.rs (the man page and --help \
         are made from that one)"
    );
}

/// `tootguard --help` up to its tables of settings and exit statuses.
const HELP_HEAD: &str = r#"
    Makes `rails`, `rake` and `tootctl` safe to type on a Mastodon server.

    Installed as `rails`, `rake` and `tootctl` ahead of the real programs on PATH (see `tootguard install`), it sets RAILS_ENV=production on a production install, sends migrations around PgBouncer, checks memory before assets:precompile, then execs the real program.

    Usage: tootguard <COMMAND>

    Commands:
      explain       Show what a command would do here, without running it
      install       Create the shims (rails, rake, tootctl, ruby, bundle) and check that PATH finds them
      uninstall     Remove the shims and completions `tootguard install` made
      completions   Print a shell completion script for tootguard and tootctl
      doctor        Check that this server is ready for the shims and for an upgrade
      upgrade       Run Mastodon's upgrade steps after checking out the new version
      backup        Back up the database and the .env files before an upgrade
      release-lock  End a PgBouncer server connection left holding Rails' migration lock
      rails         Run Mastodon's bin/rails through the guards (same as the `rails` shim)
      rake          Run Mastodon's bin/rake through the guards (same as the `rake` shim)
      tootctl       Run Mastodon's bin/tootctl through the guards (same as the `tootctl` shim)
      ruby          Run ruby, guarding `ruby bin/rails …` (same as the `ruby` shim)
      bundle        Run bundle, guarding `bundle exec rails …` (same as the `bundle` shim)
      help          Print this message or the help of the given subcommand(s)

    Options:
      -h, --help
              Print help (see a summary with '-h')

      -V, --version
              Print version
    "#;

#[test]
fn help_ends_with_the_settings_and_the_exit_statuses() {
    let out = World::bare().tootguard().arg("--help").run();
    let tail = tootguard::reference::long_help_tail();
    out.expect_code(0).expect_stdout_is(
        &harness::Normaliser::new(),
        &format!("{}\n{tail}\n", unindent(HELP_HEAD)),
    );
    assert!(
        tail.contains("\n  TOOTGUARD_BYPASS=1\n          exec the real program with no guard\n")
    );
    assert!(tail.contains("\n  3\n          a guard blocked the command"));
}

/// The limit for a step of the package test, and for the release build
/// (a release build with LTO at the lowest priority on a busy machine).
const STEP: Duration = Duration::from_secs(300);
const RELEASE_BUILD: Duration = Duration::from_secs(3600);

/// Runs `command` for at most `limit`, killing it (and the process group it
/// leads, if any) then; it must succeed.
fn run(command: &mut Command, limit: Duration) -> Output {
    let out =
        harness::run_limited(command, limit).unwrap_or_else(|e| panic!("{}", e.explain(command)));
    assert!(
        out.status.success(),
        "{command:?}: {}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Every entry below `dir`: relative path → file bytes, link target or "dir".
fn tree(dir: &Path) -> BTreeMap<PathBuf, String> {
    let mut map = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(at) = stack.pop() {
        for entry in fs::read_dir(&at).unwrap() {
            let path = entry.unwrap().path();
            let meta = fs::symlink_metadata(&path).unwrap();
            let what = if meta.is_symlink() {
                format!("-> {}", fs::read_link(&path).unwrap().display())
            } else if meta.is_dir() {
                stack.push(path.clone());
                "dir".to_owned()
            } else {
                let bytes = fs::read(&path).unwrap();
                format!(
                    "{:o} {} bytes, {:x}",
                    meta.permissions().mode() & 0o7777,
                    bytes.len(),
                    bytes.iter().fold(0u64, |h, b| (h ^ u64::from(*b))
                        .wrapping_mul(0x100_0000_01b3))
                )
            };
            map.insert(path.strip_prefix(dir).unwrap().to_path_buf(), what);
        }
    }
    map
}

/// The lines of `out` between `== name` and the next section.
fn section<'a>(out: &'a str, name: &str) -> Vec<&'a str> {
    out.split(&format!("== {name}\n"))
        .nth(1)
        .unwrap_or_else(|| panic!("no section {name}:\n{out}"))
        .split("\n== ")
        .next()
        .unwrap()
        .lines()
        .collect()
}

#[test]
#[cfg_attr(
    not(tests_as_root),
    ignore = "needs root for dpkg, a user and a mount namespace (run the suite as root, as CI does)"
)]
fn the_package_installs_pages_completions_and_sudo_shims_and_removes_them_all() {
    let repo = Path::new(REPO);
    let dist = Path::new(env!("CARGO_TARGET_TMPDIR")).join("dist");
    let release = run(
        Command::new("nice")
            .args(["-n", "19"])
            .arg(repo.join("scripts/release"))
            .args(["--allow-dirty", "--out"])
            .arg(&dist)
            .current_dir(repo),
        RELEASE_BUILD,
    );
    println!("{}", String::from_utf8_lossy(&release.stdout));
    run(
        Command::new("sha256sum")
            .args(["--check", "--strict", "SHA256SUMS"])
            .current_dir(&dist),
        STEP,
    );
    let find = |prefix: &str| {
        fs::read_dir(&dist)
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| p.file_name().unwrap().to_string_lossy().starts_with(prefix))
            .unwrap_or_else(|| panic!("no {prefix}* in {}", dist.display()))
    };
    let deb = find("tootguard_");
    let archive = find("tootguard-");
    println!("package: {} bytes", fs::metadata(&deb).unwrap().len());

    // Lintian, in the test's output; every tag it still reports is
    // explained in packaging/debian/lintian-overrides.
    let lintian = run(
        Command::new("lintian")
            .args(["--pedantic", "-I", "-E", "--show-overrides"])
            .arg(&deb),
        STEP,
    );
    let lintian = String::from_utf8_lossy(&lintian.stdout).into_owned();
    println!("lintian:\n{lintian}");
    let unexplained: Vec<&str> = lintian
        .lines()
        .filter(|l| !l.starts_with("O: ") && !l.starts_with("N:"))
        .collect();
    assert!(unexplained.is_empty(), "lintian: {unexplained:#?}");

    // The archive unpacks to the files the package installs under /usr
    // (zsh's completion in site-functions, where zsh looks everywhere).
    let unpacked = tempfile::tempdir().unwrap();
    let (from_deb, from_tar) = (unpacked.path().join("deb"), unpacked.path().join("tar"));
    fs::create_dir_all(&from_tar).unwrap();
    run(
        Command::new("dpkg-deb").arg("-x").arg(&deb).arg(&from_deb),
        STEP,
    );
    run(
        Command::new("tar")
            .arg("-xzf")
            .arg(&archive)
            .arg("-C")
            .arg(&from_tar),
        STEP,
    );
    let top = fs::read_dir(&from_tar)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let mut expected = tree(&from_deb.join("usr"));
    let zsh = Path::new("share/zsh");
    for (from, to) in [
        ("vendor-completions", "site-functions"),
        ("vendor-completions/_tootguard", "site-functions/_tootguard"),
    ] {
        let what = expected.remove(&zsh.join(from)).unwrap();
        expected.insert(zsh.join(to), what);
    }
    assert_eq!(tree(&top), expected, "the archive and the package differ");

    // Inside the namespace: install, use, remove.
    let w = World::production();
    let shared = tempfile::Builder::new()
        .prefix("tootguard-package")
        .tempdir_in(harness::test_base())
        .unwrap();
    fs::set_permissions(shared.path(), fs::Permissions::from_mode(0o755)).unwrap();
    let drivers = shared.path().join("drivers");
    fs::create_dir(&drivers).unwrap();
    for (name, text) in [
        (
            "package-complete.bash",
            include_str!("package-complete.bash"),
        ),
        ("package-complete.zsh", include_str!("package-complete.zsh")),
        (
            "package-complete-setup.zsh",
            include_str!("package-complete-setup.zsh"),
        ),
        ("zsh-capture.zsh", include_str!("zsh-capture.zsh")),
    ] {
        fs::write(drivers.join(name), text).unwrap();
    }
    let user = harness::TestUser::create(&shared.path().join("home"));
    let scratch = w.base().join("scratch");
    fs::create_dir(&scratch).unwrap();
    // A group of its own: at the limit, everything the script started goes.
    let out = run(
        Command::new("unshare")
            .process_group(0)
            .args(["--mount", "--propagation", "private", "bash", "-c"])
            .arg(include_str!("package.sh"))
            .env("DEB", &deb)
            .env("SCRATCH", &scratch)
            .env("TESTUSER", &user.name)
            .env("DRIVERS", &drivers)
            .env("ROOT", &w.root)
            .env("RECORD", &w.record)
            .env("NO_COLOR", "1"),
        STEP,
    );
    let out = String::from_utf8_lossy(&out.stdout).into_owned();
    println!("{out}");

    assert_eq!(
        section(&out, "install"),
        [
            "tootguard: linked rails tootctl ruby bundle in /usr/local/bin to /usr/bin/tootguard-shim (for sudo and every user)",
            "tootguard: left alone, not tootguard's: /usr/local/bin/rake",
            "tootguard: as the user who runs Mastodon, run `tootguard install` (shims ahead of rbenv's ruby and bundle)",
            "rails -> /usr/bin/tootguard-shim",
            "rake -> (not a link)",
            "tootctl -> /usr/bin/tootguard-shim",
            "ruby -> /usr/bin/tootguard-shim",
            "bundle -> /usr/bin/tootguard-shim",
        ]
    );
    assert_eq!(
        section(&out, "man"),
        [
            "/usr/share/man/man1/tootguard.1.gz",
            "/usr/share/man/man1/tootguard-upgrade.1.gz",
            "/usr/share/man/man1/tootguard-shim.1.gz",
            "warnings: ",
        ]
    );
    let completion = section(&out, "completion");
    for line in [
        "home before: ",
        "bash: tootctl acc -> accounts",
        "zsh: tootctl acc -> accounts",
        "fish: accounts",
    ] {
        assert!(completion.contains(&line), "{line:?} in {completion:#?}");
    }
    assert!(
        completion
            .iter()
            .any(|l| l.starts_with("bash: rake -> complete -F _") && !l.contains("tootguard")),
        "bash-completion's own rake completion stays: {completion:#?}"
    );
    assert!(
        completion
            .iter()
            .any(|l| l.starts_with("zsh: tootctl -> _tootguard,")),
        "{completion:#?}"
    );
    assert_eq!(
        section(&out, "sudo"),
        [
            "sudo tootctl: 0",
            "/usr/bin/tootguard",
            "/usr/local/bin/tootctl"
        ]
    );
    assert_eq!(
        w.recorded_args("tootctl"),
        Some(vec![b"--version".to_vec()])
    );
    assert_eq!(
        w.recorded_env("tootctl", "RAILS_ENV").as_deref(),
        Some("production")
    );
    assert_eq!(
        section(&out, "remove"),
        ["left: ", "the admin rake", "purged: "],
        "after dpkg -r, only the admin's own rake is there; after dpkg -P, nothing changed"
    );
}
