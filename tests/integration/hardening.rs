//! Bad input and loops: tootguard ends every one of them quickly, with a
//! clear message and the documented status, and never panics.
//!
//! Bad input: `.env*` files that cannot be read (a symlink loop, a path
//! under a regular file, a directory, a FIFO, a device, no permission), that
//! are huge, binary, or not UTF-8; argv that is not UTF-8 on every path (the
//! shim, `explain`, `upgrade`); a garbage `MASTODON_ROOT`; a garbage loop
//! marker. Loops: two different builds of tootguard calling each other, a
//! `bin/rails` that is a chain of links to a shim, a PATH of 1,000 entries.

use std::ffi::OsString;
use std::fs;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::doctor::Setup;
use crate::harness::{Outcome, World, tootguard};

/// No panic and no hint at one, in either stream.
#[track_caller]
fn assert_calm(label: &str, out: &Outcome) {
    for text in [&out.stdout, &out.stderr] {
        assert!(
            !text.contains("panicked") && !text.contains("RUST_BACKTRACE"),
            "{label}: a panic\nstdout:\n{}\nstderr:\n{}",
            out.stdout,
            out.stderr
        );
    }
    assert!(
        out.code().is_some(),
        "{label}: died by a signal\n{}",
        out.stderr
    );
}

/// Valid JSON on stdout.
#[track_caller]
fn assert_json(label: &str, out: &Outcome) -> serde_json::Value {
    assert_calm(label, out);
    serde_json::from_str(&out.stdout)
        .unwrap_or_else(|e| panic!("{label}: not JSON ({e}):\n{}\n{}", out.stdout, out.stderr))
}

fn bytes(b: &[u8]) -> OsString {
    OsString::from_vec(b.to_vec())
}

// ---------------------------------------------------------------------------
// .env files

/// One broken configuration: what to put in the root, and what the error
/// must name besides the file.
struct Broken {
    what: &'static str,
    /// The file that is broken, relative to the root.
    file: &'static str,
    make: fn(&Path),
    needle: &'static str,
}

fn write(path: &Path, bytes: &[u8]) {
    fs::write(path, bytes).unwrap();
}

const BROKEN: &[Broken] = &[
    Broken {
        what: "a symlink to itself",
        file: ".env.local",
        make: |root| symlink(".env.local", root.join(".env.local")).unwrap(),
        needle: "symbolic links",
    },
    Broken {
        what: "a path under a regular file",
        file: ".env.local",
        make: |root| {
            symlink(
                root.join("config/application.rb/env"),
                root.join(".env.local"),
            )
            .unwrap()
        },
        needle: "Not a directory",
    },
    Broken {
        what: "a directory",
        file: ".env.production.local",
        make: |root| fs::create_dir(root.join(".env.production.local")).unwrap(),
        needle: "is a directory",
    },
    Broken {
        what: "a FIFO (reading it would block forever)",
        file: ".env.local",
        make: |root| {
            nix::unistd::mkfifo(
                &root.join(".env.local"),
                nix::sys::stat::Mode::from_bits_truncate(0o644),
            )
            .unwrap()
        },
        needle: "not a regular file",
    },
    Broken {
        what: "a link to an endless device",
        file: ".env",
        make: |root| symlink("/dev/zero", root.join(".env")).unwrap(),
        needle: "not a regular file",
    },
    Broken {
        what: "a sparse 100 MB file",
        file: ".env.production.local",
        make: |root| {
            let file = fs::File::create(root.join(".env.production.local")).unwrap();
            file.set_len(100 * 1024 * 1024).unwrap();
        },
        needle: "over tootguard's limit",
    },
    Broken {
        what: "17 MiB of real A=1 lines, just over the limit",
        file: ".env.local",
        make: |root| {
            write(
                &root.join(".env.local"),
                &b"A=1\n".repeat(17 * 1024 * 1024 / 4),
            )
        },
        needle: "over tootguard's limit",
    },
    Broken {
        what: "binary garbage",
        file: ".env.local",
        make: |root| {
            // A fixed pseudo-random sequence (an LCG), so failures repeat.
            let mut x: u32 = 0x1234_5678;
            let garbage: Vec<u8> = (0..4096)
                .map(|_| {
                    x = x.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                    (x >> 24) as u8
                })
                .collect();
            write(&root.join(".env.local"), &garbage);
        },
        needle: "not valid UTF-8",
    },
    Broken {
        what: "invalid UTF-8 in the database password",
        file: ".env.production",
        make: |root| {
            write(
                &root.join(".env.production"),
                b"LOCAL_DOMAIN=example.test\nDB_HOST=127.0.0.1\nDB_PASS=p\xffss\n",
            )
        },
        needle: "line 3 is not valid UTF-8",
    },
    Broken {
        what: "invalid UTF-8 in an unrelated value",
        file: ".env.production",
        make: |root| {
            write(
                &root.join(".env.production"),
                b"LOCAL_DOMAIN=example.test\nDB_PORT=5432\nSMTP_FROM_ADDRESS=no\xfereply@x\n",
            )
        },
        needle: "line 3 is not valid UTF-8",
    },
    Broken {
        what: "a NUL byte in a value",
        file: ".env.production",
        make: |root| {
            write(
                &root.join(".env.production"),
                b"LOCAL_DOMAIN=example.test\nDB_NAME=\"mast\0odon\"\n",
            )
        },
        needle: "line 2: the value of DB_NAME contains a NUL byte",
    },
];

/// The stderr of a refused migration: every line is tootguard's, and the
/// refusal is one paragraph (one line) naming the file.
#[track_caller]
fn assert_one_paragraph_naming(label: &str, stderr: &str, file: &Path, needle: &str) {
    for line in stderr.lines() {
        assert!(
            line.starts_with("tootguard: "),
            "{label}: a line that is not tootguard's: {line:?}\n{stderr}"
        );
    }
    let errors: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("tootguard: error:"))
        .collect();
    assert_eq!(errors.len(), 1, "{label}: one error paragraph\n{stderr}");
    let file = file.display().to_string();
    assert!(
        errors[0].contains(&file) && errors[0].contains(needle),
        "{label}: the error names neither {file} nor {needle:?}:\n{stderr}"
    );
}

#[test]
fn a_broken_env_file_stops_a_migration_with_one_paragraph_naming_it() {
    for broken in BROKEN {
        let w = World::production();
        (broken.make)(&w.root);
        let label = broken.what;
        let out = w.cmd(w.shim("rails")).arg("db:migrate").run();
        assert_calm(label, &out);
        out.expect_code(3);
        assert_one_paragraph_naming(label, &out.stderr, &w.root.join(broken.file), broken.needle);
        assert!(!w.ran("rails"), "{label}: the migration ran");
        assert!(
            out.elapsed < Duration::from_secs(5),
            "{label}: took {:?}",
            out.elapsed
        );
    }
}

#[test]
fn a_broken_env_file_does_not_stop_a_plain_tootctl_which_reads_none() {
    for broken in BROKEN {
        let w = World::production();
        (broken.make)(&w.root);
        let out = w.cmd(w.shim("tootctl")).arg("version").run();
        assert_calm(broken.what, &out);
        out.expect_code(0);
        assert_eq!(
            w.recorded_args("tootctl").unwrap(),
            vec![b"version".to_vec()],
            "{}",
            broken.what
        );
    }
}

#[test]
fn explain_and_doctor_report_a_broken_env_file_as_json() {
    for broken in BROKEN {
        let label = broken.what;
        let w = World::production();
        (broken.make)(&w.root);
        let out = w
            .tootguard()
            .args(["explain", "--json", "rails", "db:migrate"])
            .run();
        out.expect_code(0);
        let json = assert_json(label, &out);
        assert_eq!(json["would_exec"], false, "{label}: {json:#}");
        let blocked = json["checks"].as_array().unwrap().iter().any(|c| {
            c["level"] == "block" && c["message"].as_str().unwrap().contains(broken.needle)
        });
        assert!(blocked, "{label}: {json:#}");

        let out = w.tootguard().args(["doctor", "--json"]).run();
        let json = assert_json(label, &out);
        let config = crate::harness::row(&json, "config");
        assert_eq!(config["level"], "fail", "{label}: {config:#}");
        assert!(
            out.elapsed < Duration::from_secs(5),
            "{label}: {:?}",
            out.elapsed
        );
    }
}

#[test]
fn an_unreadable_env_file_stops_a_migration() {
    let w = World::production();
    let file = w.root.join(".env.local");
    fs::write(&file, "DB_PORT=6432\n").unwrap();
    fs::set_permissions(&file, fs::Permissions::from_mode(0o000)).unwrap();
    // Root reads a file whatever its mode: as root, the test runs the shim
    // as a user of its own, who owns the install.
    let user =
        crate::harness::is_root().then(|| crate::harness::TestUser::create(&w.base().join("home")));
    let out = match &user {
        Some(user) => {
            w.give_to(user);
            w.cmd_as(user, w.shim("rails")).arg("db:migrate").run()
        }
        None => w.cmd(w.shim("rails")).arg("db:migrate").run(),
    };
    out.expect_code(3);
    assert_one_paragraph_naming("chmod 000", &out.stderr, &file, "cannot read");
    assert!(!w.ran("rails"));
}

/// A dangling `.env.production` is a production install whose
/// configuration cannot be read — not a development checkout. dotenv would
/// skip the link and Mastodon would run without its configuration.
#[test]
fn a_dangling_env_production_link_is_a_production_install_that_cannot_be_read() {
    let w = World::production();
    let env = w.root.join(".env.production");
    fs::remove_file(&env).unwrap();
    symlink("/etc/mastodon/env.production", &env).unwrap();
    let message = format!(
        "{} is a link to /etc/mastodon/env.production, which does not exist: Mastodon's \
         dotenv skips it without a word, so Mastodon would run without this configuration. \
         Restore /etc/mastodon/env.production, or remove the link if it is not needed.",
        env.display()
    );
    // tootctl reads no configuration: production, RAILS_ENV injected.
    w.cmd(w.shim("tootctl")).run().expect_code(0);
    assert_eq!(
        w.recorded_env("tootctl", "RAILS_ENV").as_deref(),
        Some("production")
    );
    // A migration needs the database settings: refused, naming the link.
    let out = w.cmd(w.shim("rails")).arg("db:migrate").run();
    out.expect_code(3);
    assert_one_paragraph_naming("dangling", &out.stderr, &env, "is a link to");
    assert!(out.stderr.contains(&message), "{}", out.stderr);
    assert!(!w.ran("rails"));
    // doctor: a production install, whose configuration fails.
    let json = w.tootguard().args(["doctor", "--json"]).run().json();
    let find = |id: &str| crate::harness::row(&json, id);
    assert!(
        find("root")["message"]
            .as_str()
            .unwrap()
            .starts_with("Mastodon production install")
    );
    assert_eq!(find("config")["level"], "fail");
    assert_eq!(find("config")["message"], message);
}

#[test]
fn pathological_env_files_under_the_limit_are_read_in_bounded_time() {
    let mib = 1024 * 1024;
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("1 MiB of A=1 lines", b"A=1\n".repeat(mib / 4)),
        (
            "unterminated quotes on every line",
            b"A=\"x\n".repeat(mib / 5),
        ),
        (
            "one line of open parentheses",
            [b"A=".as_slice(), &b"$(".repeat(mib / 2)].concat(),
        ),
        (
            "blank space then a key",
            [b" ".repeat(mib), b"\nA=1\n".to_vec()].concat(),
        ),
        ("a lone quote on every line", b"\"\n".repeat(mib / 2)),
        ("YAML-style separators", b"A: \n".repeat(mib / 4)),
    ];
    for (what, content) in cases {
        let w = World::production();
        fs::write(w.root.join(".env.local"), content).unwrap();
        let out = w
            .tootguard()
            .args(["explain", "--json", "rails", "db:migrate"])
            .run();
        assert_json(what, &out);
        out.expect_code(0);
        assert!(
            out.elapsed < Duration::from_secs(5),
            "{what}: took {:?}",
            out.elapsed
        );
    }
}

// ---------------------------------------------------------------------------
// Non-UTF-8 argv

#[test]
fn rails_and_rake_pass_a_non_utf8_task_argument_byte_exact_next_to_a_migration() {
    let odd: &[&[u8]] = &[b"\xff\xfe", b"VERSION=\xc3\x28", b"db:migrate\x80"];
    for tool in ["rails", "rake"] {
        let w = World::production();
        let mut args: Vec<OsString> = vec!["db:migrate".into()];
        args.extend(odd.iter().map(|b| bytes(b)));
        let out = w.cmd(w.shim(tool)).args(&args).run();
        assert_calm(tool, &out);
        out.expect_code(0);
        let want: Vec<Vec<u8>> = args.iter().map(|a| a.as_bytes().to_vec()).collect();
        assert_eq!(w.recorded_args(tool).unwrap(), want, "{tool}");

        // The task after a non-UTF-8 one is still seen.
        let w = World::production();
        let args = [bytes(b"\xff"), "db:migrate".into(), bytes(b"DB_PORT=\xff")];
        let out = w.cmd(w.shim(tool)).args(&args).run();
        assert_calm(tool, &out);
        out.expect_code(0);
        let want: Vec<Vec<u8>> = args.iter().map(|a| a.as_bytes().to_vec()).collect();
        assert_eq!(w.recorded_args(tool).unwrap(), want, "{tool}");
    }
}

#[test]
fn explain_takes_non_utf8_arguments_without_panicking_and_prints_valid_json() {
    let w = World::production();
    let args = [
        "rails".into(),
        "db:migrate".into(),
        bytes(b"\xff\xfe"),
        bytes(b"DB_PASS=\xff"),
    ];
    let out = w.tootguard().arg("explain").args(&args).run();
    assert_calm("explain", &out);
    out.expect_code(0);
    assert!(out.stdout.contains('\u{fffd}'), "{}", out.stdout);

    let out = w.tootguard().args(["explain", "--json"]).args(&args).run();
    out.expect_code(0);
    let json = assert_json("explain --json", &out);
    assert_eq!(json["args"][1], "\u{fffd}\u{fffd}");

    // A non-UTF-8 tool is a usage error that names it.
    let out = w
        .tootguard()
        .args(["explain".into(), bytes(b"rai\xffls")])
        .run();
    assert_calm("explain tool", &out);
    out.expect_code(2).expect_stderr_is(
        &w.normaliser(),
        "tootguard: error: explain needs a command as typed: rails, rake, tootctl, ruby or \
         bundle, or a path such as bin/tootctl; \"rai\u{fffd}ls\" is not one of them. Example: \
         `tootguard explain bundle exec rails db:migrate`.\n",
    );
}

#[test]
fn non_utf8_values_on_tootguards_own_command_line_are_usage_errors() {
    let w = World::production();
    let cases: Vec<Vec<OsString>> = vec![
        vec!["upgrade".into(), "--from".into(), bytes(b"pre-\xffmigrate")],
        vec!["upgrade".into(), bytes(b"--from=\xff")],
        vec!["upgrade".into(), "--skip".into(), bytes(b"bund\xffle")],
        vec![
            "upgrade".into(),
            "--dry-run".into(),
            "--skip".into(),
            "yarn".into(),
            "--skip".into(),
            bytes(b"\xfe"),
        ],
        vec![bytes(b"\xffupgrade")],
        vec!["completions".into(), bytes(b"ba\xffsh")],
        vec!["doctor".into(), bytes(b"--js\xffon")],
    ];
    for args in cases {
        let out = w.tootguard().args(&args).run();
        let label = format!("{args:?}");
        assert_calm(&label, &out);
        out.expect_code(2);
        assert!(!out.stderr.is_empty(), "{label}: no message");
        assert!(
            w.record.read_dir().unwrap().next().is_none(),
            "{label} ran something"
        );
    }
}

// ---------------------------------------------------------------------------
// MASTODON_ROOT

#[test]
fn a_mastodon_root_that_does_not_exist_or_is_a_file_is_an_error_everywhere() {
    let w = World::production();
    let file = w.root.join("config/application.rb");
    let missing = w.base().join(OsString::from_vec(b"gone-\xff\xfe".to_vec()));
    for root in [missing.as_os_str(), file.as_os_str()] {
        let shown = Path::new(root).to_string_lossy().into_owned();
        let runs = [
            (
                "shim",
                w.cmd(w.shim("tootctl")).env("MASTODON_ROOT", root).run(),
            ),
            (
                "explain",
                w.tootguard()
                    .args(["explain", "--json", "tootctl", "version"])
                    .env("MASTODON_ROOT", root)
                    .run(),
            ),
            (
                "upgrade",
                w.tootguard()
                    .args(["upgrade", "--dry-run"])
                    .env("MASTODON_ROOT", root)
                    .run(),
            ),
        ];
        for (label, out) in runs {
            assert_calm(label, &out);
            out.expect_code(1)
                .expect_stderr("MASTODON_ROOT is")
                .expect_stderr(&shown)
                .expect_stderr("not a Mastodon install");
        }
        let out = w
            .tootguard()
            .args(["doctor", "--json"])
            .env("MASTODON_ROOT", root)
            .run();
        out.expect_code(1);
        let json = assert_json("doctor", &out);
        let check = crate::harness::row(&json, "root");
        assert_eq!(check["level"], "fail", "{check:#}");
        assert!(!w.ran("tootctl"));
    }
}

#[test]
fn an_empty_mastodon_root_counts_as_unset() {
    let w = World::production();
    let out = w
        .cmd(w.shim("tootctl"))
        .arg("version")
        .env("MASTODON_ROOT", "")
        .run();
    assert_calm("empty", &out);
    out.expect_code(0);
    assert!(w.ran("tootctl"));
}

#[test]
fn a_mastodon_root_with_a_non_utf8_name_works_and_explain_stays_valid_json() {
    let w = World::bare();
    let root = w.base().join(OsString::from_vec(b"li\xffve".to_vec()));
    w.make_root(&root);
    fs::write(root.join(".env.production"), "DB_PORT=5432\n").unwrap();
    let out = w
        .cmd(w.shim("rails"))
        .arg("db:migrate")
        .env("MASTODON_ROOT", &root)
        .run();
    assert_calm("shim", &out);
    out.expect_code(0);
    // Rails ran in the root, its name byte for byte.
    let pwd = fs::read(w.record.join("rails.pwd")).unwrap();
    assert_eq!(
        pwd.strip_suffix(b"\n").unwrap(),
        root.as_os_str().as_bytes()
    );
    let marker = fs::read(w.record.join("rails.env")).unwrap();
    let want = [
        b"TOOTGUARD_EXEC=1:".as_slice(),
        root.join("bin/rails").as_os_str().as_bytes(),
    ]
    .concat();
    assert!(marker.windows(want.len()).any(|win| win == want));

    let out = w
        .tootguard()
        .args(["explain", "--json", "rails", "db:migrate"])
        .env("MASTODON_ROOT", &root)
        .run();
    out.expect_code(0);
    let json = assert_json("explain", &out);
    assert_eq!(json["would_exec"], true, "{json:#}");
    assert!(json["mastodon_root"].as_str().unwrap().contains('\u{fffd}'));
}

// ---------------------------------------------------------------------------
// The loop marker

/// Markers that tootguard never writes: treated as absent.
fn garbage_markers() -> Vec<OsString> {
    vec![
        "garbage".into(),
        "".into(),
        ":".into(),
        "x:y".into(),
        "-1:/x".into(),
        " 3:/x".into(),
        "3 :/x".into(),
        // Beyond u32: not a depth tootguard could have written.
        "99999999999999999999:/x".into(),
        bytes(b"\xff:\xfe"),
        bytes(b"\xff3:/x"),
    ]
}

#[test]
fn a_garbage_loop_marker_is_ignored_and_replaced_by_a_fresh_one() {
    for marker in garbage_markers() {
        let w = World::production();
        let label = format!("{marker:?}");
        let out = w
            .cmd(w.shim("tootctl"))
            .arg("version")
            .env("TOOTGUARD_EXEC", &marker)
            .run();
        assert_calm(&label, &out);
        out.expect_code(0);
        assert_eq!(
            w.recorded_env("tootctl", "TOOTGUARD_EXEC"),
            Some(format!("1:{}", w.root.join("bin/tootctl").display())),
            "{label}"
        );
    }
}

#[test]
fn a_loop_marker_at_or_beyond_the_depth_limit_stops_the_shim() {
    for marker in ["64:/x", "4294967295:/x", "64:"] {
        let w = World::production();
        let out = w
            .cmd(w.shim("tootctl"))
            .arg("version")
            .env("TOOTGUARD_EXEC", marker)
            .run();
        assert_calm(marker, &out);
        out.expect_code(127)
            .expect_stderr("tootguard shims ran inside each other");
        assert!(!w.ran("tootctl"));
    }
}

#[test]
fn explain_and_doctor_ignore_any_loop_marker() {
    let mut markers = garbage_markers();
    markers.extend(["64:/x".into(), "4294967295:/x".into()]);
    for marker in markers {
        let w = World::production();
        let label = format!("{marker:?}");
        let out = w
            .tootguard()
            .args(["explain", "--json", "rails", "db:migrate"])
            .env("TOOTGUARD_EXEC", &marker)
            .run();
        out.expect_code(0);
        assert_json(&label, &out);
        let out = w
            .tootguard()
            .args(["doctor", "--json"])
            .env("TOOTGUARD_EXEC", &marker)
            .run();
        assert_json(&label, &out);
    }
}

#[test]
fn upgrade_takes_a_garbage_loop_marker_without_panicking() {
    for marker in garbage_markers() {
        let s = Setup::good();
        let label = format!("{marker:?}");
        let out = s
            .tootguard()
            .args(["upgrade", "--dry-run"])
            .env("TOOTGUARD_EXEC", &marker)
            .run();
        assert_calm(&label, &out);
        out.expect_code(0);
    }
}

#[test]
fn upgrade_takes_the_largest_loop_marker_depth_without_panicking() {
    let s = Setup::good();
    for args in [
        &["upgrade", "--dry-run"][..],
        &["upgrade", "--yes", "--restart", "--from", "pre-migrate"],
    ] {
        let out = s
            .tootguard()
            .args(args)
            .env("TOOTGUARD_EXEC", "4294967295:/x")
            .run();
        assert_calm(&format!("{args:?}"), &out);
    }
}

// ---------------------------------------------------------------------------
// Loops

/// A different build of tootguard: the binary with bytes appended, so its
/// content (and size) differ and only the marker can tell.
fn other_build(dir: &Path, name: &str, tag: &[u8]) -> PathBuf {
    fs::create_dir_all(dir).unwrap();
    let path = dir.join(name);
    let mut content = fs::read(tootguard()).unwrap();
    content.extend_from_slice(tag);
    fs::write(&path, content).unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).unwrap();
    path
}

/// A loop must end fast, with 127, naming paths, without a wall of text.
#[track_caller]
fn ends_as_a_short_loop(label: &str, out: &Outcome, needle: &str) {
    assert_calm(label, out);
    out.expect_code(127).expect_stderr(needle);
    assert!(
        out.elapsed < Duration::from_secs(1),
        "{label}: took {:?}",
        out.elapsed
    );
    assert!(
        out.stderr.len() < 4096,
        "{label}: {} bytes of stderr:\n{}",
        out.stderr.len(),
        out.stderr
    );
}

#[test]
fn two_different_builds_of_tootguard_calling_each_other_stop_at_the_marker() {
    let w = World::bare();
    let a = w.base().join("a");
    let b = w.base().join("b");
    for tool in ["tootctl", "rails"] {
        let in_a = other_build(&a, tool, b"build a");
        let in_b = other_build(&b, tool, b"build b, longer");
        for (first, second, path) in [
            (
                &in_a,
                &in_b,
                format!("{}:{}:/usr/bin:/bin", a.display(), b.display()),
            ),
            (
                &in_b,
                &in_a,
                format!("{}:{}:/usr/bin:/bin", b.display(), a.display()),
            ),
        ] {
            let out = w.cmd(first).arg("version").env("PATH", &path).run();
            let label = format!("{tool} from {}", first.display());
            ends_as_a_short_loop(&label, &out, "loop:");
            assert!(
                out.stderr.contains(&second.display().to_string()),
                "{label}: {}",
                out.stderr
            );
        }
    }
}

#[test]
fn bin_rails_that_links_to_a_link_to_tootguard_is_reported_not_run() {
    let w = World::production();
    let rails = w.root.join("bin/rails");
    fs::remove_file(&rails).unwrap();
    symlink(w.shim("rails"), &rails).unwrap();
    for (label, out) in [
        (
            "by the working directory",
            w.cmd(w.shim("rails")).arg("about").run(),
        ),
        (
            "by MASTODON_ROOT",
            w.cmd(w.shim("rails"))
                .arg("about")
                .env("MASTODON_ROOT", &w.root)
                .dir(w.base())
                .run(),
        ),
    ] {
        ends_as_a_short_loop(label, &out, "bin/rails is tootguard itself");
    }
    let explain = w
        .tootguard()
        .args(["explain", "--json", "rails", "about"])
        .run();
    let json = assert_json("explain", &explain);
    assert_eq!(json["would_exec"], false, "{json:#}");
    assert_eq!(json["program"], serde_json::Value::Null, "{json:#}");
}

#[test]
fn bin_rails_that_is_another_build_of_tootguard_stops_at_the_marker() {
    let w = World::production();
    let rails = w.root.join("bin/rails");
    fs::remove_file(&rails).unwrap();
    let copy = other_build(&w.base().join("elsewhere"), "rails", b"another build");
    symlink(&copy, &rails).unwrap();
    let out = w.cmd(w.shim("rails")).arg("about").run();
    ends_as_a_short_loop("other build", &out, "loop:");
}

/// A PATH of `entries` entries: missing directories, with `extra` placed
/// at the given positions.
fn long_path(w: &World, entries: usize, extra: &[(usize, &Path)]) -> OsString {
    let mut dirs: Vec<PathBuf> = (0..entries)
        .map(|i| w.base().join(format!("missing/dir-{i:04}")))
        .collect();
    for (at, dir) in extra {
        dirs[*at] = dir.to_path_buf();
    }
    std::env::join_paths(dirs).unwrap()
}

#[test]
fn a_path_of_a_thousand_entries_with_no_real_program_ends_fast_and_short() {
    let w = World::bare();
    let shims = w.shims.clone();
    let a = w.base().join("a");
    let b = w.base().join("b");
    other_build(&a, "tootctl", b"build a");
    other_build(&b, "tootctl", b"build b, longer");
    let every_other: Vec<(usize, &Path)> =
        (0..1000).step_by(2).map(|i| (i, shims.as_path())).collect();
    let layouts: Vec<(&str, OsString, &str)> = vec![
        (
            "the shim directory twice",
            long_path(&w, 1000, &[(0, &shims), (500, &shims)]),
            "and 992 more",
        ),
        (
            "the shim directory 500 times",
            long_path(&w, 1000, &every_other),
            "skipped, being tootguard itself",
        ),
        (
            "two other builds far apart",
            long_path(&w, 1000, &[(0, &shims), (10, &a), (990, &b)]),
            "loop:",
        ),
    ];
    for (label, path, needle) in layouts {
        let out = w
            .cmd(w.shim("tootctl"))
            .arg("version")
            .env("PATH", &path)
            .run();
        ends_as_a_short_loop(label, &out, needle);
    }
}

// ---------------------------------------------------------------------------
// Output that cannot be written

/// `tootguard ARGS` in `dir` with stdout going to `stdout`; the exit code
/// and stderr.
fn cli_writing_to(
    w: &World,
    dir: &Path,
    args: &[&str],
    stdout: impl Into<std::process::Stdio>,
) -> (Option<i32>, String) {
    let mut command = std::process::Command::new(tootguard());
    command
        .args(args)
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("HOME", w.base())
        .current_dir(dir)
        .stdin(std::process::Stdio::null())
        .stdout(stdout)
        .stderr(std::process::Stdio::piped());
    let child = command.spawn().unwrap();
    let out = crate::harness::wait_limited(child, Duration::from_secs(20))
        .unwrap_or_else(|failed| panic!("{}", failed.explain(&command)));
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn the_command_line_writing_into_a_closed_pipe_ends_quietly_with_the_sigpipe_status() {
    for args in [
        &["completions", "bash"][..],
        &["install", "--dir", "shims-here"][..],
        &["--help"][..],
    ] {
        let w = World::bare();
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let (code, stderr) = cli_writing_to(&w, &w.base(), args, writer);
        assert_eq!(code, Some(141), "{args:?}: {stderr}");
        assert!(
            !stderr.contains("Broken pipe"),
            "{args:?}: no error for a reader that left: {stderr}"
        );
        if args[0] == "install" {
            for tool in ["rails", "rake", "tootctl"] {
                assert!(
                    w.base().join("shims-here").join(tool).exists(),
                    "install finished its work although nobody read what it did"
                );
            }
        }
    }
}

#[test]
fn the_command_line_writing_to_a_full_disk_says_it_could_not_write_its_output() {
    let w = World::production();
    for args in [
        &["completions", "bash"][..],
        &["explain", "tootctl"][..],
        &["doctor"][..],
        &["install", "--dir", "shims-here"][..],
    ] {
        let full = fs::OpenOptions::new()
            .write(true)
            .open("/dev/full")
            .unwrap();
        let (code, stderr) = cli_writing_to(&w, &w.root, args, full);
        assert_eq!(code, Some(1), "{args:?}: {stderr}");
        assert!(
            stderr.contains("cannot write") && stderr.contains("No space left on device"),
            "{args:?}: names what failed and why: {stderr}"
        );
    }
}

/// The harness itself: a program that prints more than a pipe holds
/// (the fish completion script is about 50 KB) must not hang a test.
#[test]
fn the_test_runner_reads_output_larger_than_a_pipe_while_it_waits() {
    let w = World::bare();
    let out = w
        .cmd("/bin/sh")
        .args([
            "-c",
            "head -c 300000 /dev/zero | tr '\\0' x; head -c 200000 /dev/zero | tr '\\0' y >&2",
        ])
        .run();
    out.expect_code(0);
    assert_eq!(out.stdout.len(), 300_000);
    assert_eq!(out.stderr.len(), 200_000);
}

// ---------------------------------------------------------------------------
// The install you stand in is the one you mean

/// A default install that must never be run instead of the broken one the
/// command stands in.
fn with_default_install(w: &World) -> std::path::PathBuf {
    let other = w.base().join("default-live");
    w.make_root(&other);
    other
}

#[test]
fn a_broken_install_in_the_working_directory_is_reported_never_skipped_for_another() {
    // A dangling bin/tootctl.
    let w = World::production();
    let default = with_default_install(&w);
    let program = w.root.join("bin/tootctl");
    fs::remove_file(&program).unwrap();
    symlink("/nonexistent/tootctl", &program).unwrap();
    let out = w
        .cmd(w.shim("tootctl"))
        .env("TOOTGUARD_DEFAULT_ROOT", &default)
        .run();
    out.expect_code(127);
    assert_eq!(
        out.stderr,
        format!(
            "tootguard: error: {} is a link to /nonexistent/tootctl, which does not exist, \
             although {} is a Mastodon install (found by working directory). Restore it from \
             the Mastodon checkout (`git checkout -- bin/tootctl` in {}), or point \
             MASTODON_ROOT at the right directory.\n",
            program.display(),
            w.root.display(),
            w.root.display()
        )
    );
    assert!(!w.ran("tootctl"), "neither install's tootctl ran");

    // The same through MASTODON_ROOT: named as what it is.
    let out = w
        .cmd(w.shim("tootctl"))
        .env("MASTODON_ROOT", &w.root)
        .dir(w.base())
        .run();
    out.expect_code(127)
        .expect_stderr("is a link to /nonexistent/tootctl, which does not exist");

    // bin/tootctl a directory.
    fs::remove_file(&program).unwrap();
    fs::create_dir(&program).unwrap();
    let out = w
        .cmd(w.shim("tootctl"))
        .env("TOOTGUARD_DEFAULT_ROOT", &default)
        .run();
    out.expect_code(126).expect_stderr(&format!(
        "{} is a directory, not a program",
        program.display()
    ));
}

#[test]
#[cfg_attr(
    not(tests_as_root),
    ignore = "needs root to run as a user who cannot read bin/ (run the suite as root, as CI does)"
)]
fn an_unreadable_bin_directory_is_reported_with_the_fix() {
    let (w, user) = World::production_owned_by_a_user();
    fs::set_permissions(w.root.join("bin"), fs::Permissions::from_mode(0o600)).unwrap();
    let out = w.cmd_as(&user, w.shim("tootctl")).run();
    out.expect_code(126).expect_stderr(&format!(
        "{} cannot be read, although {} is a Mastodon install (found by working directory). \
         (Permission denied (os error 13)). Let the user who runs Mastodon's commands read {}: \
         as its owner, `chmod u+rx {}`.",
        w.root.join("bin/tootctl").display(),
        w.root.display(),
        w.root.join("bin").display(),
        w.root.join("bin").display(),
    ));
}

#[test]
fn a_deleted_working_directory_still_runs_the_install_mastodon_root_names() {
    let w = World::production();
    let script = format!(
        "mkdir gone && cd gone && rmdir ../gone && exec {} version",
        w.shim("tootctl").display()
    );
    let out = w
        .cmd("/bin/sh")
        .args(["-c", &script])
        .env("MASTODON_ROOT", &w.root)
        .dir(w.base())
        .run();
    out.expect_code(0);
    assert_eq!(
        w.recorded_args("tootctl").unwrap(),
        vec![b"version".to_vec()]
    );
    // rails moves into the install, which exists.
    let script = script.replace("tootctl version", "rails db:version");
    w.cmd("/bin/sh")
        .args(["-c", &script])
        .env("MASTODON_ROOT", &w.root)
        .dir(w.base())
        .run()
        .expect_code(0);
    assert_eq!(w.recorded_pwd("rails"), w.root);
}

#[test]
fn a_copy_of_tootguard_as_bin_rails_is_named_a_copy_not_a_link() {
    let w = World::production();
    let program = w.root.join("bin/rails");
    fs::remove_file(&program).unwrap();
    fs::copy(crate::harness::tootguard(), &program).unwrap();
    let out = w.cmd(w.shim("rails")).run();
    out.expect_code(127).expect_stderr(&format!(
        "loop: {} is tootguard itself (a copy of tootguard), not Mastodon's rails.",
        program.display()
    ));
}

/// Every command tootguard prints is safe to paste: a root whose path has
/// a space is quoted as one word.
#[test]
fn fix_commands_quote_paths_with_spaces() {
    let w = World::bare();
    let root = w.base().join("my live");
    w.make_root(&root);
    fs::write(root.join(".env.production"), "X=1\n").unwrap();
    let program = root.join("bin/tootctl");
    fs::set_permissions(&program, fs::Permissions::from_mode(0o644)).unwrap();
    let out = w.cmd(w.shim("tootctl")).dir(&root).run();
    // execve needs an execute bit, even for root.
    out.expect_code(126)
        .expect_stderr(&format!("`chmod +x '{}'`", program.display()));
    fs::set_permissions(&program, fs::Permissions::from_mode(0o755)).unwrap();
    let group = root.join("bin");
    fs::set_permissions(&group, fs::Permissions::from_mode(0o775)).unwrap();
    w.cmd(w.shim("tootctl"))
        .dir(&root)
        .run()
        .expect_code(3)
        .expect_stderr(&format!("`chmod go-w '{}'`", group.display()));
}

#[test]
#[cfg_attr(
    not(tests_as_root),
    ignore = "needs root to give the install to a uid without a name (run the suite as root, as CI does)"
)]
fn the_ownership_fix_for_an_orphaned_install_quotes_its_path() {
    let w = World::bare();
    let root = w.base().join("my live");
    w.make_root(&root);
    fs::set_permissions(w.base(), fs::Permissions::from_mode(0o755)).unwrap();
    crate::harness::chown_tree(&root, 4242, 4242);
    let out = w
        .cmd(w.shim("tootctl"))
        .env("TOOTGUARD_DEFAULT_ROOT", &root)
        .dir(&root)
        .run();
    out.expect_code(3).expect_stderr(&format!(
        "`chown -R mastodon:mastodon '{}'`",
        root.display()
    ));
}

/// doctor opens every file it reads without blocking and reads at most a
/// little of it: a FIFO or a link to /dev/zero ends it neither in a hang
/// nor out of memory.
#[test]
fn doctor_neither_hangs_nor_eats_memory_on_special_files() {
    for file in ["package.json", ".ruby-version", "lib/mastodon/version.rb"] {
        for kind in ["fifo", "zero"] {
            let w = World::production();
            let path = w.root.join(file);
            fs::create_dir_all(path.parent().unwrap()).unwrap();
            match kind {
                "fifo" => nix::unistd::mkfifo(&path, nix::sys::stat::Mode::S_IRWXU).unwrap(),
                _ => symlink("/dev/zero", &path).unwrap(),
            }
            let out = w.tootguard().args(["doctor", "--json"]).run();
            let label = format!("{file} as a {kind}");
            assert!(
                out.elapsed < Duration::from_secs(10),
                "{label}: {:?}",
                out.elapsed
            );
            assert_json(&label, &out);
            assert!(
                out.stdout.contains("not a regular file"),
                "{label}: {}",
                out.stdout
            );
        }
    }
}

/// Started with 0, 1 or 2 closed, tootguard makes them /dev/null before it
/// opens anything, so nothing it opens becomes "standard error"; the
/// program it runs sees /dev/null there.
#[test]
fn closed_standard_descriptors_become_dev_null_before_anything_is_opened() {
    for fd in 0..=2 {
        let w = World::production();
        crate::harness::write_executable(
            &w.root.join("bin/rails"),
            // Read in command substitutions: the shell's own descriptors
            // stay as they are while a child reads them.
            "#!/bin/sh\na=$(readlink /proc/$$/fd/0 || echo closed)\nb=$(readlink /proc/$$/fd/1 || echo closed)\nc=$(readlink /proc/$$/fd/2 || echo closed)\nprintf '%s\\n' \"$a\" \"$b\" \"$c\" > \"$TG_RECORD/fds\"\n",
        );
        // A migration: the .env files are opened, and a warning is printed
        // (a pooler likely on another port).
        fs::write(
            w.root.join(".env.production"),
            "DB_HOST=127.0.0.1\nDB_PORT=5432\nPREPARED_STATEMENTS=false\n",
        )
        .unwrap();
        let listener = crate::harness::NotPostgres::tcp();
        let port = listener.port;
        let script = format!(
            "exec {} db:migrate DB_PORT={port} {fd}<&-",
            w.shim("rails").display()
        );
        let out = w.cmd("/bin/sh").args(["-c", &script]).run();
        out.expect_code(0);
        let fds = fs::read_to_string(w.record.join("fds")).unwrap();
        let lines: Vec<&str> = fds.lines().collect();
        assert_eq!(lines.len(), 3, "{fd}: {fds}");
        assert_eq!(lines[fd], "/dev/null", "fd {fd} closed: {fds}");
        let config = fs::read_to_string(w.root.join(".env.production")).unwrap();
        assert!(
            !config.contains("tootguard"),
            "a message went into the file: {config}"
        );
    }
}

/// From a deleted working directory, an absolute spelling is still guarded
/// (its install needs no working directory), and a relative one is refused
/// rather than passed through unguarded.
#[test]
fn a_deleted_working_directory_guards_absolute_spellings_and_refuses_relative_ones() {
    let w = World::production();
    let program = w.root.join("bin/tootctl");
    crate::harness::write_executable(
        &program,
        "#!/usr/bin/env ruby\nFile.write(File.join(ENV['TG_RECORD'], 'rb'), ENV['RAILS_ENV'].inspect)\n",
    );
    let run = |spelling: String| {
        let script = format!("mkdir gone && cd gone && rmdir ../gone && exec {spelling}");
        w.cmd("/bin/sh").args(["-c", &script]).dir(w.base()).run()
    };
    let out = run(format!("{} media remove", program.display()));
    out.expect_code(0);
    assert_eq!(
        fs::read_to_string(w.record.join("rb")).unwrap(),
        "\"production\""
    );
    let out = run("ruby ../live/bin/tootctl media remove".to_owned());
    out.expect_code(1).expect_stderr(
        "cannot tell which install this command belongs to: it names a path relative to the \
         working directory, which cannot be read",
    );
}
