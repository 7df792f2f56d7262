//! The core shim: RAILS_ENV, byte-exact exec, exit statuses, loops, lookup.

use std::ffi::OsString;
use std::fs;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::ExitStatusExt;
use std::time::Duration;

use crate::harness::{
    RAILS_ENV_NOTICE, RECORDER, World, os, shim_binary, tootguard, write_executable,
};

#[test]
fn injects_rails_env_when_unset_on_production_install() {
    let w = World::production();
    let out = w.cmd(w.shim("tootctl")).arg("version").run();
    out.expect_code(0)
        .expect_stderr_is(&w.normaliser(), RAILS_ENV_NOTICE);
    assert_eq!(
        w.recorded_env("tootctl", "RAILS_ENV").as_deref(),
        Some("production")
    );
}

#[test]
fn injects_rails_env_when_empty_on_production_install() {
    let w = World::production();
    let out = w
        .cmd(w.shim("rails"))
        .arg("runner")
        .env("RAILS_ENV", "")
        .run();
    out.expect_code(0).expect_stderr_is(
        &w.normaliser(),
        "tootguard: RAILS_ENV was empty; running with RAILS_ENV=production (production install)\n",
    );
    assert_eq!(
        w.recorded_env("rails", "RAILS_ENV").as_deref(),
        Some("production")
    );
}

/// Also the user guard's quiet case: the suite's installs belong to whoever
/// runs it, so as root this is an install owned by root (a container),
/// which runs as is, without a word.
#[test]
fn says_nothing_when_rails_env_is_already_production() {
    let w = World::production();
    let out = w
        .cmd(w.shim("tootctl"))
        .env("RAILS_ENV", "production")
        .run();
    out.expect_code(0);
    assert_eq!(out.stderr, "");
}

#[test]
fn quiet_silences_the_notice_but_not_a_warning() {
    let w = World::production();
    let out = w.cmd(w.shim("tootctl")).env("TOOTGUARD_QUIET", "1").run();
    out.expect_code(0);
    assert_eq!(out.stderr, "");
    let out = w
        .cmd(w.shim("tootctl"))
        .env("TOOTGUARD_QUIET", "1")
        .env("RAILS_ENV", "development")
        .run();
    out.expect_code(0).expect_stderr_is(
        &w.normaliser(),
        "tootguard: warning: RAILS_ENV is \"development\" on a production install ([BASE]/live): Rails will load the \"development\" environment, which fails with `NameError: uninitialized constant …` where its gems are not installed, or acts on another database. Running it anyway. Unset it (`unset RAILS_ENV`, and drop any RAILS_ENV=… argument; tootguard then sets production) or use RAILS_ENV=production.\n",
    );
}

#[test]
fn never_injects_rails_env_in_a_development_checkout() {
    let w = World::development();
    let out = w.cmd(w.shim("tootctl")).run();
    out.expect_code(0);
    assert_eq!(w.recorded_env("tootctl", "RAILS_ENV"), None);
    assert_eq!(out.stderr, "");
    w.cmd(w.shim("rails"))
        .env("RAILS_ENV", "test")
        .run()
        .expect_code(0);
    assert_eq!(
        w.recorded_env("rails", "RAILS_ENV").as_deref(),
        Some("test")
    );
}

#[test]
fn warns_about_development_rails_env_on_production_install_and_still_runs() {
    let w = World::production();
    let out = w
        .cmd(w.shim("tootctl"))
        .env("RAILS_ENV", "development")
        .run();
    out.expect_code(0).expect_stderr_is(
        &w.normaliser(),
        "tootguard: warning: RAILS_ENV is \"development\" on a production install ([BASE]/live): Rails will load the \"development\" environment, which fails with `NameError: uninitialized constant …` where its gems are not installed, or acts on another database. Running it anyway. Unset it (`unset RAILS_ENV`, and drop any RAILS_ENV=… argument; tootguard then sets production) or use RAILS_ENV=production.\n",
    );
    assert_eq!(
        w.recorded_env("tootctl", "RAILS_ENV").as_deref(),
        Some("development")
    );
}

#[test]
fn strict_mode_refuses_a_wrong_rails_env_without_running_the_program() {
    let w = World::production();
    let out = w
        .cmd(w.shim("rails"))
        .arg("db:migrate")
        .env("RAILS_ENV", "development")
        .env("TOOTGUARD_STRICT", "1")
        .run();
    out.expect_code(3).expect_stderr_is(
        &w.normaliser(),
        "tootguard: error: RAILS_ENV is \"development\" on a production install ([BASE]/live): Rails will load the \"development\" environment, which fails with `NameError: uninitialized constant …` where its gems are not installed, or acts on another database. Refusing to run it (TOOTGUARD_STRICT=1). Unset it (`unset RAILS_ENV`, and drop any RAILS_ENV=… argument; tootguard then sets production) or use RAILS_ENV=production.\n",
    );
    assert!(!w.ran("rails"));
}

#[test]
fn passes_arguments_byte_exact_including_non_utf8_empty_newline_and_128_kib() {
    let w = World::production();
    // Linux caps one argument at 128 KiB including its NUL (MAX_ARG_STRLEN).
    let big = "x".repeat(128 * 1024 - 1);
    let args: Vec<OsString> = vec![
        OsString::from_vec(vec![0xff, 0xfe, b'a']),
        os(""),
        os("two\nlines"),
        os("--help"),
        os(" spaced  out "),
        os(&big),
    ];
    w.cmd(w.shim("tootctl")).args(&args).run().expect_code(0);
    let seen = w.recorded_args("tootctl").unwrap();
    let expected: Vec<Vec<u8>> = args.iter().map(|a| a.as_bytes().to_vec()).collect();
    assert_eq!(seen, expected);
}

#[test]
fn flags_meant_for_the_real_program_reach_it_untouched() {
    let w = World::production();
    w.cmd(w.shim("tootctl"))
        .args(["--help", "--version"])
        .run()
        .expect_code(0);
    assert_eq!(
        w.recorded_args("tootctl").unwrap(),
        vec![b"--help".to_vec(), b"--version".to_vec()]
    );
    w.cmd(w.shim("rails")).arg("-T").run().expect_code(0);
    assert_eq!(w.recorded_args("rails").unwrap(), vec![b"-T".to_vec()]);
}

#[test]
fn the_explicit_form_takes_the_same_path_as_the_shim() {
    let w = World::production();
    let out = w.tootguard().args(["tootctl", "accounts", "--help"]).run();
    out.expect_code(0).expect_stderr("RAILS_ENV=production");
    assert_eq!(
        w.recorded_args("tootctl").unwrap(),
        vec![b"accounts".to_vec(), b"--help".to_vec()]
    );
}

#[test]
fn exit_statuses_of_the_real_program_are_its_own() {
    let w = World::production();
    for code in [0, 1, 42] {
        let out = w
            .cmd(w.shim("tootctl"))
            .env("TG_EXIT", code.to_string())
            .run();
        out.expect_code(code);
    }
}

#[test]
fn death_by_a_signal_is_the_programs_own() {
    let w = World::production();
    let out = w.cmd(w.shim("tootctl")).env("TG_SIGNAL", "TERM").run();
    assert_eq!(out.status.signal(), Some(15), "{out:?}");
}

#[test]
fn a_pipe_closed_early_ends_the_child_by_default_sigpipe() {
    let w = World::production();
    write_executable(
        &w.root.join("bin/tootctl"),
        "#!/bin/sh\nwhile :; do echo line; done\n",
    );
    // With SIGPIPE ignored (as Rust leaves it), the loop would spin forever on
    // EPIPE; with the default restored, the child dies of SIGPIPE (141).
    let script = format!(
        "'{}' | head -1; echo \"status=${{PIPESTATUS[0]}}\"",
        w.shim("tootctl").display()
    );
    let out = w.cmd("bash").args(["-c", &script]).run();
    out.expect_code(0);
    assert_eq!(out.stdout, "line\nstatus=141\n", "{}", out.stderr);
}

#[test]
fn the_program_keeps_stdin() {
    let w = World::production();
    write_executable(
        &w.root.join("bin/tootctl"),
        "#!/bin/sh\nread line; echo \"got $line\"\n",
    );
    let script = format!("echo hello | '{}'", w.shim("tootctl").display());
    let out = w.cmd("sh").args(["-c", &script]).run();
    assert_eq!(out.stdout, "got hello\n");
}

#[test]
fn rails_runs_from_the_root_when_called_from_outside_it() {
    let w = World::production();
    let elsewhere = w.base().join("elsewhere");
    fs::create_dir_all(&elsewhere).unwrap();
    let out = w
        .cmd(w.shim("rails"))
        .arg("db:version")
        .env("MASTODON_ROOT", &w.root)
        .dir(&elsewhere)
        .run();
    out.expect_code(0).expect_stderr("Rakefile");
    assert_eq!(w.recorded_pwd("rails"), w.root);
}

#[test]
fn tootctl_keeps_the_working_directory() {
    let w = World::production();
    let elsewhere = w.base().join("elsewhere");
    fs::create_dir_all(&elsewhere).unwrap();
    let out = w
        .cmd(w.shim("tootctl"))
        .args(["emoji", "import", "./emoji.tar.gz"])
        .env("MASTODON_ROOT", &w.root)
        .dir(&elsewhere)
        .run();
    out.expect_code(0);
    assert_eq!(w.recorded_pwd("tootctl"), elsewhere);
}

#[test]
fn finds_the_root_from_a_subdirectory() {
    let w = World::production();
    let sub = w.root.join("public/system");
    fs::create_dir_all(&sub).unwrap();
    w.cmd(w.shim("tootctl")).dir(&sub).run().expect_code(0);
    assert_eq!(
        w.recorded_env("tootctl", "RAILS_ENV").as_deref(),
        Some("production")
    );
}

#[test]
fn a_mastodon_root_that_is_not_an_install_is_an_error() {
    let w = World::production();
    let out = w
        .cmd(w.shim("tootctl"))
        .env("MASTODON_ROOT", w.base().join("nothing-here"))
        .run();
    out.expect_code(1).expect_stderr_is(
        &w.normaliser(),
        "tootguard: error: MASTODON_ROOT is [BASE]/nothing-here, which is not a Mastodon install \
         (it does not exist). Set MASTODON_ROOT to the directory you run Mastodon from (usually \
         /home/mastodon/live), or unset it to let tootguard find the install from the working \
         directory.\n",
    );
    assert!(!w.ran("tootctl"));
}

#[test]
fn without_a_root_the_next_program_on_path_runs_and_it_says_so() {
    let w = World::bare();
    let real = w.base().join("real");
    write_executable(&real.join("tootctl"), RECORDER);
    let out = w
        .cmd(w.shim("tootctl"))
        .arg("version")
        .env(
            "PATH",
            format!("{}:{}:/usr/bin:/bin", w.shims.display(), real.display()),
        )
        .run();
    out.expect_code(0).expect_stderr_is(
        &w.normaliser(),
        "tootguard: found no Mastodon install (MASTODON_ROOT is unset, none in [BASE] or its \
         parents, no ~mastodon/live); running the next tootctl on PATH\n",
    );
    assert_eq!(
        w.recorded_args("tootctl").unwrap(),
        vec![b"version".to_vec()]
    );
    assert_eq!(w.recorded_env("tootctl", "RAILS_ENV"), None);
}

#[test]
fn bypass_runs_the_program_with_no_guard() {
    let w = World::production();
    let out = w
        .cmd(w.shim("tootctl"))
        .env("TOOTGUARD_BYPASS", "1")
        .env("RAILS_ENV", "development")
        .env("TOOTGUARD_STRICT", "1")
        .run();
    out.expect_code(0);
    assert_eq!(out.stderr, "");
    assert_eq!(
        w.recorded_env("tootctl", "RAILS_ENV").as_deref(),
        Some("development")
    );
}

#[test]
fn a_missing_program_is_status_127_with_where_it_looked() {
    let w = World::bare();
    let out = w
        .cmd(w.shim("tootctl"))
        .env("PATH", format!("{}:/usr/bin:/bin", w.shims.display()))
        .run();
    out.expect_code(127).expect_stderr_is(
        &w.normaliser(),
        "tootguard: error: found no real tootctl on PATH. Found no Mastodon install either: \
         looked in MASTODON_ROOT, in [BASE] and its parents, and in ~mastodon/live. Looked for \
         tootctl in [BASE]/shims, /usr/bin, /bin (skipped, being tootguard itself: \
         [BASE]/shims/tootctl). Run it from the Mastodon directory (usually \
         /home/mastodon/live), or set MASTODON_ROOT=/home/mastodon/live.\n",
    );
}

#[test]
fn a_missing_bin_script_in_the_root_is_status_127() {
    let w = World::production();
    fs::remove_file(w.root.join("bin/rake")).unwrap();
    w.cmd(w.shim("rake"))
        .run()
        .expect_code(127)
        .expect_stderr_is(
            &w.normaliser(),
            "tootguard: error: [BASE]/live/bin/rake does not exist, although [BASE]/live is a \
             Mastodon install (found by working directory). Restore it from the Mastodon \
             checkout (`git checkout -- bin/rake` in [BASE]/live), or point MASTODON_ROOT at the \
             right directory.\n",
        );
}

#[test]
fn a_program_that_cannot_be_executed_is_status_126() {
    let w = World::production();
    let program = w.root.join("bin/tootctl");
    fs::set_permissions(
        &program,
        std::os::unix::fs::PermissionsExt::from_mode(0o644),
    )
    .unwrap();
    w.cmd(w.shim("tootctl"))
        .run()
        .expect_code(126)
        .expect_stderr_is(
            &w.normaliser(),
            "tootguard: error: [BASE]/live/bin/tootctl cannot be executed (no execute permission \
             for this user). Fix it with `chmod +x [BASE]/live/bin/tootctl` as the owner of the \
             install.\n",
        );
}

#[test]
fn a_real_program_that_runs_tootctl_through_path_again_works() {
    let w = World::production();
    // bin/rails runs `tootctl inner` through PATH, which finds the shim again.
    let out = w
        .cmd(w.shim("rails"))
        .arg("runner")
        .env("TG_THEN", "tootctl inner")
        .run();
    out.expect_code(0);
    assert_eq!(w.recorded_args("rails").unwrap(), vec![b"runner".to_vec()]);
    assert_eq!(w.recorded_args("tootctl").unwrap(), vec![b"inner".to_vec()]);
}

#[test]
fn a_real_program_that_runs_itself_through_path_again_works() {
    let w = World::production();
    // A rake task shelling out to `rails` again: same program, nested once.
    let out = w
        .cmd(w.shim("rails"))
        .arg("outer")
        .env("TG_THEN", "TG_THEN= rails inner")
        .run();
    out.expect_code(0);
    assert_eq!(w.run_count("rails"), 2);
    assert_eq!(w.recorded_args("rails").unwrap(), vec![b"inner".to_vec()]);
}

/// Each layout must end quickly with 127 and a message naming the paths.
#[track_caller]
fn ends_as_a_loop(out: &crate::harness::Outcome, needle: &str) {
    out.expect_code(127).expect_stderr(needle);
    assert!(
        out.elapsed < Duration::from_secs(5),
        "took {:?}",
        out.elapsed
    );
}

#[test]
fn the_shim_directory_twice_on_path_is_reported_not_looped() {
    let w = World::bare();
    let shims = w.shims.display();
    let out = w
        .cmd(w.shim("tootctl"))
        .env("PATH", format!("{shims}:{shims}:/usr/bin:/bin"))
        .run();
    ends_as_a_loop(&out, "skipped, being tootguard itself");
}

#[test]
fn a_copy_of_tootguard_in_a_second_path_directory_is_skipped() {
    let w = World::bare();
    let copy = w.base().join("copy");
    fs::create_dir_all(&copy).unwrap();
    fs::copy(tootguard(), copy.join("tootctl")).unwrap();
    let out = w
        .cmd(w.shim("tootctl"))
        .env(
            "PATH",
            format!("{}:{}:/usr/bin:/bin", w.shims.display(), copy.display()),
        )
        .run();
    ends_as_a_loop(&out, &copy.join("tootctl").display().to_string());
}

#[test]
fn a_different_build_of_tootguard_on_path_stops_at_the_marker() {
    let w = World::bare();
    let copy = w.base().join("copy");
    fs::create_dir_all(&copy).unwrap();
    let mut bytes = fs::read(tootguard()).unwrap();
    bytes.extend_from_slice(b"another build");
    fs::write(copy.join("tootctl"), bytes).unwrap();
    fs::set_permissions(
        copy.join("tootctl"),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let out = w
        .cmd(w.shim("tootctl"))
        .env(
            "PATH",
            format!("{}:{}:/usr/bin:/bin", w.shims.display(), copy.display()),
        )
        .run();
    ends_as_a_loop(&out, "loop:");
    assert!(
        out.stderr
            .contains(&copy.join("tootctl").display().to_string())
    );
}

#[test]
fn a_chain_of_symlinks_to_tootguard_is_recognised_as_tootguard() {
    let w = World::bare();
    let a = w.base().join("a");
    let b = w.base().join("b");
    fs::create_dir_all(&a).unwrap();
    fs::create_dir_all(&b).unwrap();
    std::os::unix::fs::symlink(w.shim("tootctl"), a.join("tootctl")).unwrap();
    std::os::unix::fs::symlink(a.join("tootctl"), b.join("tootctl")).unwrap();
    let out = w
        .cmd(b.join("tootctl"))
        .env(
            "PATH",
            format!("{}:{}:/usr/bin:/bin", b.display(), a.display()),
        )
        .run();
    ends_as_a_loop(&out, "skipped, being tootguard itself");
}

#[test]
fn bin_tootctl_linked_to_tootguard_is_reported_not_executed() {
    let w = World::production();
    fs::remove_file(w.root.join("bin/tootctl")).unwrap();
    std::os::unix::fs::symlink(tootguard(), w.root.join("bin/tootctl")).unwrap();
    let out = w.cmd(w.shim("tootctl")).run();
    ends_as_a_loop(&out, "bin/tootctl is tootguard itself");
}

#[test]
fn bin_tootctl_linked_to_the_shim_binary_is_reported_not_executed() {
    let w = World::production();
    fs::remove_file(w.root.join("bin/tootctl")).unwrap();
    std::os::unix::fs::symlink(shim_binary(), w.root.join("bin/tootctl")).unwrap();
    let via_shim = w.cmd(w.shim("tootctl")).run();
    ends_as_a_loop(&via_shim, "bin/tootctl is tootguard itself");
    let via_cli = w.cmd(tootguard()).arg("tootctl").run();
    ends_as_a_loop(&via_cli, "bin/tootctl is tootguard itself");
}

#[test]
fn a_copy_of_the_shim_binary_in_a_second_path_directory_is_skipped_by_either_binary() {
    let w = World::bare();
    let copy = w.base().join("copy");
    fs::create_dir_all(&copy).unwrap();
    fs::copy(shim_binary(), copy.join("tootctl")).unwrap();
    let path = format!("{}:{}:/usr/bin:/bin", w.shims.display(), copy.display());
    let via_shim = w.cmd(w.shim("tootctl")).env("PATH", &path).run();
    ends_as_a_loop(&via_shim, &copy.join("tootctl").display().to_string());
    let via_cli = w.cmd(tootguard()).arg("tootctl").env("PATH", &path).run();
    ends_as_a_loop(&via_cli, &copy.join("tootctl").display().to_string());
}

/// PATH `a:b:c`: `a/rails` is tootguard (`first`), `b/rails` a link to the
/// other binary of the pair in `inst`, `c/rails` the real rails. The real
/// one must run: neither binary may take the other for the real rails.
fn the_real_rails_runs_past_both_binaries(w: &World, first: &std::path::Path, path: &str) {
    let out = w.cmd(first).arg("--version").env("PATH", path).run();
    out.expect_code(0);
    assert_eq!(
        w.recorded_args("rails"),
        Some(vec![b"--version".to_vec()]),
        "{}",
        out.stderr
    );
}

#[test]
fn a_renamed_copy_of_the_shim_binary_skips_a_link_to_the_tootguard_it_was_copied_from() {
    let w = World::bare();
    let (a, b, c) = (w.base().join("a"), w.base().join("b"), w.base().join("c"));
    fs::create_dir_all(&a).unwrap();
    fs::create_dir_all(&b).unwrap();
    fs::copy(shim_binary(), a.join("rails")).unwrap();
    std::os::unix::fs::symlink(tootguard(), b.join("rails")).unwrap();
    write_executable(&c.join("rails"), RECORDER);
    let path = format!(
        "{}:{}:{}:/usr/bin:/bin",
        a.display(),
        b.display(),
        c.display()
    );
    the_real_rails_runs_past_both_binaries(&w, &a.join("rails"), &path);
}

#[test]
fn a_script_that_happens_to_be_named_tootguard_beside_a_shim_copy_is_still_run() {
    let w = World::bare();
    let (a, b, other) = (
        w.base().join("a"),
        w.base().join("b"),
        w.base().join("other"),
    );
    fs::create_dir_all(&a).unwrap();
    fs::create_dir_all(&b).unwrap();
    fs::copy(shim_binary(), a.join("rails")).unwrap();
    write_executable(&other.join("tootguard"), RECORDER);
    fs::copy(shim_binary(), other.join("tootguard-shim")).unwrap();
    std::os::unix::fs::symlink(other.join("tootguard"), b.join("rails")).unwrap();
    let path = format!("{}:{}:/usr/bin:/bin", a.display(), b.display());
    the_real_rails_runs_past_both_binaries(&w, &a.join("rails"), &path);
}

#[test]
fn a_hard_link_of_the_shim_binary_under_another_name_knows_its_partner() {
    let w = World::bare();
    let (inst, b, c) = (
        w.base().join("inst"),
        w.base().join("b"),
        w.base().join("c"),
    );
    fs::create_dir_all(&inst).unwrap();
    fs::create_dir_all(&b).unwrap();
    fs::copy(tootguard(), inst.join("tootguard")).unwrap();
    fs::copy(shim_binary(), inst.join("tootguard-shim")).unwrap();
    fs::hard_link(inst.join("tootguard-shim"), inst.join("rails")).unwrap();
    // Not a byte-identical copy of anything the hard link could compare
    // itself with by content: only the pair in its own directory tells.
    std::os::unix::fs::symlink(inst.join("tootguard"), b.join("rails")).unwrap();
    write_executable(&c.join("rails"), RECORDER);
    let path = format!(
        "{}:{}:{}:/usr/bin:/bin",
        inst.display(),
        b.display(),
        c.display()
    );
    the_real_rails_runs_past_both_binaries(&w, &inst.join("rails"), &path);
}

#[test]
fn the_shim_binary_run_under_its_own_name_points_to_tootguard() {
    let w = World::production();
    let out = w.cmd(shim_binary()).arg("--help").run();
    out.expect_code(2).expect_stderr_is(
        &w.normaliser(),
        "tootguard: error: [BIN]/tootguard-shim is the shim behind `rails`, `rake`, `tootctl`, \
         `ruby` and `bundle`: it runs under one of those names, through the links `tootguard \
         install` makes. For tootguard's own commands run `tootguard --help`.\n",
    );
    assert!(!w.record.join("tootctl.args").exists(), "nothing was run");
}

#[test]
fn empty_path_entries_and_dot_are_searched_but_tootguard_is_skipped() {
    let w = World::bare();
    let out = w
        .cmd(w.shim("tootctl"))
        .env("PATH", format!("::.:{}:", w.shims.display()))
        .dir(&w.shims)
        .run();
    ends_as_a_loop(&out, "skipped, being tootguard itself");
}

/// The wrapper starts tootguard as a new process each time, so each is a
/// command of its own: only the depth limit ends it.
#[test]
fn a_wrapper_script_that_runs_tootguard_again_ends_at_the_depth_limit() {
    let w = World::bare();
    let wrap = w.base().join("wrap");
    write_executable(
        &wrap.join("tootctl"),
        &format!("#!/bin/sh\n'{}' tootctl \"$@\"\n", tootguard().display()),
    );
    let out = w
        .cmd(w.shim("tootctl"))
        .env(
            "PATH",
            format!("{}:{}:/usr/bin:/bin", w.shims.display(), wrap.display()),
        )
        .run();
    ends_as_a_loop(&out, "shims ran inside each other");
}

/// A wrapper that execs tootguard again stays in the same process: the
/// shim passes over the program that led back to it and looks further.
#[test]
fn a_wrapper_that_execs_tootguard_again_is_passed_over_and_named() {
    let w = World::bare();
    let wrap = w.base().join("wrap");
    write_executable(
        &wrap.join("tootctl"),
        &format!(
            "#!/bin/sh\nexec '{}' tootctl \"$@\"\n",
            tootguard().display()
        ),
    );
    let path = format!("{}:{}:/usr/bin:/bin", w.shims.display(), wrap.display());
    let out = w.cmd(w.shim("tootctl")).env("PATH", &path).run();
    ends_as_a_loop(
        &out,
        &format!(
            "after {}, which this same command had already run and which led back to \
             tootguard",
            wrap.join("tootctl").display()
        ),
    );
    // With a real tootctl further on, that one runs, once.
    let real = w.base().join("real");
    write_executable(&real.join("tootctl"), RECORDER);
    let path = format!("{path}:{}", real.display());
    w.cmd(w.shim("tootctl"))
        .arg("version")
        .env("PATH", &path)
        .run()
        .expect_code(0);
    assert_eq!(w.run_count("tootctl"), 1);
    assert_eq!(
        w.recorded_args("tootctl").unwrap(),
        vec![b"version".to_vec()]
    );
}

#[test]
fn the_loop_marker_does_not_grow_the_environment() {
    let w = World::production();
    w.cmd(w.shim("tootctl"))
        .env("TOOTGUARD_EXEC", "3:/some/where/else")
        .run()
        .expect_code(0);
    let marker = w.recorded_env("tootctl", "TOOTGUARD_EXEC").unwrap();
    assert_eq!(
        marker,
        format!("4:{}", w.root.join("bin/tootctl").display())
    );
}

#[test]
fn non_utf8_environment_values_pass_through() {
    let w = World::production();
    let value = OsString::from_vec(vec![b'a', 0xff, b'b']);
    w.cmd(w.shim("tootctl"))
        .env("ODD", &value)
        .run()
        .expect_code(0);
    let env = fs::read(w.record.join("tootctl.env")).unwrap();
    assert!(
        env.windows(5).any(|win| win == b"ODD=a") && env.windows(2).any(|win| win == [0xff, b'b'])
    );
}

#[test]
fn a_rails_env_argument_counts_like_the_environment() {
    // Rake copies `RAILS_ENV=development` into ENV before the app loads.
    let w = World::production();
    let out = w
        .cmd(w.shim("rails"))
        .args(["db:migrate", "RAILS_ENV=development"])
        .env("TOOTGUARD_STRICT", "1")
        .run();
    out.expect_code(3).expect_stderr_is(
        &w.normaliser(),
        "tootguard: error: the argument RAILS_ENV=development on a production install ([BASE]/live): Rails will load the \"development\" environment, which fails with `NameError: uninitialized constant …` where its gems are not installed, or acts on another database. Refusing to run it (TOOTGUARD_STRICT=1). Unset it (`unset RAILS_ENV`, and drop any RAILS_ENV=… argument; tootguard then sets production) or use RAILS_ENV=production.\n",
    );
    assert!(!w.ran("rails"));
    let out = w
        .cmd(w.shim("rails"))
        .args(["db:version", "RAILS_ENV=staging"])
        .run();
    out.expect_code(0).expect_stderr_is(
        &w.normaliser(),
        "tootguard: warning: the argument RAILS_ENV=staging on a production install \
         ([BASE]/live): Rails will load the \"staging\" environment, which fails with \
         `NameError: uninitialized constant …` where its gems are not installed, or acts on \
         another database. Running it anyway. (RAILS_ENV, which was not set, is set to \
         production so that config/boot.rb lets it start; the argument RAILS_ENV=staging then \
         wins.) Unset it (`unset RAILS_ENV`, and drop any RAILS_ENV=… argument; tootguard then sets production) or use RAILS_ENV=production.\n",
    );
}

#[test]
fn a_relative_mastodon_root_reaches_children_as_an_absolute_path() {
    // rails runs in the root: a relative MASTODON_ROOT would name another
    // directory there for any shim the program runs again.
    let w = World::production();
    let out = w
        .cmd(w.shim("rails"))
        .arg("db:version")
        .env("MASTODON_ROOT", "live")
        .dir(w.base())
        .run();
    out.expect_code(0);
    assert_eq!(
        w.recorded_env("rails", "MASTODON_ROOT"),
        Some(w.root.display().to_string())
    );
}

#[test]
fn a_production_rails_env_argument_wins_over_a_development_environment() {
    let w = World::production();
    let out = w
        .cmd(w.shim("rails"))
        .args(["db:version", "RAILS_ENV=production"])
        .env("RAILS_ENV", "development")
        .env("TOOTGUARD_STRICT", "1")
        .run();
    out.expect_code(0);
    assert!(!out.stderr.contains("warning"), "{}", out.stderr);
}

// ---------------------------------------------------------------------------
// The default install (~mastodon/live, here TOOTGUARD_DEFAULT_ROOT)

/// A world whose install is the default one, seen from elsewhere, with a
/// real `rails` and `rake` on PATH after the shims that say who they are.
fn default_install_world() -> (World, std::path::PathBuf) {
    let w = World::production();
    let real = w.base().join("real");
    for name in ["rails", "rake", "tootctl"] {
        write_executable(
            &real.join(name),
            &format!("#!/bin/sh\necho \"path {name} $*\" >> \"$TG_RECORD/path.log\"\n"),
        );
    }
    (w, real)
}

fn path_log(w: &World) -> String {
    fs::read_to_string(w.record.join("path.log")).unwrap_or_default()
}

#[test]
fn rails_and_rake_inside_another_project_are_that_projects_not_the_default_installs() {
    let (w, real) = default_install_world();
    let other = w.base().join("otherapp");
    write_executable(&other.join("bin/rails"), "#!/bin/sh\n");
    fs::create_dir_all(other.join("config/sub")).unwrap();
    fs::write(other.join("config/application.rb"), "# another app\n").unwrap();
    fs::write(other.join("Rakefile"), "").unwrap();
    let path = format!("{}:{}:/usr/bin:/bin", w.shims.display(), real.display());
    for dir in [other.clone(), other.join("config/sub")] {
        for tool in ["rails", "rake"] {
            let out = w
                .cmd(w.shim(tool))
                .args(["db:migrate"])
                .env("PATH", &path)
                .env("TOOTGUARD_DEFAULT_ROOT", &w.root)
                .dir(&dir)
                .run();
            out.expect_code(0);
            assert_eq!(out.stderr, "", "{tool} in {}", dir.display());
        }
    }
    assert_eq!(
        path_log(&w),
        "path rails db:migrate\npath rake db:migrate\n".repeat(2)
    );
    assert!(
        !w.ran("rails") && !w.ran("rake"),
        "the install's were not run"
    );
}

#[test]
fn rake_outside_any_project_is_the_next_rake_and_tootctl_and_rails_are_the_default_installs() {
    let (w, real) = default_install_world();
    let nowhere = w.base().join("nowhere");
    fs::create_dir_all(&nowhere).unwrap();
    let path = format!("{}:{}:/usr/bin:/bin", w.shims.display(), real.display());
    let run = |tool: &str| {
        w.cmd(w.shim(tool))
            .arg("--version")
            .env("PATH", &path)
            .env("TOOTGUARD_DEFAULT_ROOT", &w.root)
            .dir(&nowhere)
            .run()
    };
    let out = run("rake");
    out.expect_code(0);
    assert_eq!(out.stderr, "");
    assert_eq!(path_log(&w), "path rake --version\n");
    assert!(!w.ran("rake"));

    run("tootctl").expect_code(0);
    assert_eq!(
        w.recorded_args("tootctl").unwrap(),
        vec![b"--version".to_vec()]
    );
    assert_eq!(
        w.recorded_env("tootctl", "RAILS_ENV").as_deref(),
        Some("production")
    );
    run("rails").expect_code(0);
    assert!(w.ran("rails"), "rails outside any project is Mastodon's");
    assert_eq!(
        path_log(&w),
        "path rake --version\n",
        "nothing else reached PATH"
    );
}

#[test]
fn an_empty_default_root_means_no_default_install() {
    let (w, real) = default_install_world();
    let path = format!("{}:{}:/usr/bin:/bin", w.shims.display(), real.display());
    let out = w
        .cmd(w.shim("tootctl"))
        .arg("version")
        .env("PATH", &path)
        .env("TOOTGUARD_DEFAULT_ROOT", "")
        .dir(w.base())
        .run();
    out.expect_code(0);
    assert_eq!(path_log(&w), "path tootctl version\n");
    assert!(!w.ran("tootctl"));
}

/// `rails console -e development`: Rails takes the environment from the
/// option, so tootguard reads it as it reads RAILS_ENV.
#[test]
fn rails_environment_options_count_like_rails_env() {
    let w = World::production();
    for args in [
        &["console", "-e", "development"][..],
        &["console", "-edevelopment"],
        &["runner", "--environment=development", "1"],
        &["server", "--environment", "development"],
    ] {
        let out = w.cmd(w.shim("rails")).args(args).run();
        out.expect_code(0);
        let spelled = match args[1] {
            "-e" => "-e development",
            "--environment" | "--environment=development" => "--environment development",
            other => other,
        };
        // config/boot.rb needs RAILS_ENV before Rails reads the option.
        out.expect_stderr_is(
            &w.normaliser(),
            &format!(
                "tootguard: warning: the option {spelled} on a production install \
                 ([BASE]/live): Rails will load the \"development\" environment, which fails \
                 with `NameError: uninitialized constant …` where its gems are not installed, or \
                 acts on another database. Running it anyway. (RAILS_ENV, which was not set, is \
                 set to production so that config/boot.rb lets it start; the option {spelled} \
                 then wins.) Unset it (`unset RAILS_ENV`, and drop any RAILS_ENV=… argument; tootguard then sets production) or use RAILS_ENV=production.\n"
            ),
        );
        assert_eq!(
            w.recorded_env("rails", "RAILS_ENV").as_deref(),
            Some("production")
        );
        let strict = w
            .cmd(w.shim("rails"))
            .args(args)
            .env("TOOTGUARD_STRICT", "1")
            .run();
        strict.expect_code(3);
    }
    // `-e production`: boot still needs RAILS_ENV, which tootguard sets.
    let out = w
        .cmd(w.shim("rails"))
        .args(["console", "-e", "production"])
        .run();
    out.expect_code(0)
        .expect_stderr_is(&w.normaliser(), RAILS_ENV_NOTICE);
    // rake has no such option: `-e` is rake's own (execute Ruby code).
    let out = w.cmd(w.shim("rake")).args(["-e", "development"]).run();
    assert!(!out.stderr.contains("warning"), "{}", out.stderr);
}

/// A real program that execs `ruby` again by name (not a wrapper script
/// that leads back) runs ruby again: the PATH search starts over.
#[test]
fn a_ruby_program_that_execs_ruby_again_runs_ruby_again() {
    let w = World::bare();
    let out = w
        .cmd(w.shim("ruby"))
        .args(["-e", "exec 'ruby', '-e', 'print 6*7'"])
        .run();
    out.expect_code(0);
    assert_eq!(out.stdout, "42");
    assert_eq!(out.stderr, "");
}

/// Nested commands (a Ruby program running `ruby` as a child, again and
/// again) are not a loop until far deeper than any real nesting.
#[test]
fn nested_ruby_processes_are_no_loop() {
    let w = World::bare();
    let script = "n = ENV.fetch('N', '0').to_i; if n < 20 then system({'N' => (n + 1).to_s}, 'ruby', __FILE__) or exit 1 else print n end";
    let file = w.base().join("nest.rb");
    fs::write(&file, script).unwrap();
    let out = w.cmd(w.shim("ruby")).arg(&file).run();
    out.expect_code(0);
    assert_eq!(out.stdout, "20");
}

#[test]
fn rails_new_is_never_the_default_installs() {
    let (w, real) = default_install_world();
    let nowhere = w.base().join("nowhere");
    fs::create_dir_all(&nowhere).unwrap();
    let out = w
        .cmd(w.shim("rails"))
        .args(["new", "blog"])
        .env(
            "PATH",
            format!("{}:{}:/usr/bin:/bin", w.shims.display(), real.display()),
        )
        .env("TOOTGUARD_DEFAULT_ROOT", &w.root)
        .dir(&nowhere)
        .run();
    out.expect_code(0);
    assert_eq!(out.stderr, "");
    assert_eq!(path_log(&w), "path rails new blog\n");
    assert!(!w.ran("rails"));
}

/// Another user's `rails` outside any project is theirs: the default
/// install (root's here) is only for root and its owner.
#[test]
#[cfg_attr(
    not(tests_as_root),
    ignore = "needs root to run as a user of its own (run the suite as root, as CI does)"
)]
fn another_users_rails_outside_any_project_is_not_the_default_installs() {
    let (w, real) = default_install_world();
    let user = crate::harness::TestUser::create(&w.base().join("home"));
    fs::set_permissions(w.base(), fs::Permissions::from_mode(0o755)).unwrap();
    fs::set_permissions(&w.shims, fs::Permissions::from_mode(0o755)).unwrap();
    fs::set_permissions(&w.record, fs::Permissions::from_mode(0o777)).unwrap();
    let path = format!("{}:{}:/usr/bin:/bin", w.shims.display(), real.display());
    let out = user
        .command(
            &[
                ("PATH", std::ffi::OsStr::new(&path)),
                ("TG_RECORD", w.record.as_os_str()),
                ("TOOTGUARD_DEFAULT_ROOT", w.root.as_os_str()),
            ],
            w.shim("rails"),
        )
        .args(["db:migrate"])
        .dir(&user.home)
        .run();
    out.expect_code(0);
    assert_eq!(out.stderr, "");
    assert_eq!(path_log(&w), "path rails db:migrate\n");
    assert!(!w.ran("rails"));
}

/// tootctl typed inside a gem under the install's vendor/bundle (a
/// directory with a Rakefile of its own) is still the install's.
#[test]
fn tootctl_below_a_project_inside_the_install_is_the_installs() {
    let (w, _real) = default_install_world();
    let other = w.base().join("other-live");
    w.make_root(&other);
    write_executable(
        &other.join("bin/tootctl"),
        "#!/bin/sh\ntouch \"$TG_RECORD/other-ran\"\n",
    );
    let gem = w.root.join("vendor/bundle/ruby/3.1.0/gems/foo-1.0");
    fs::create_dir_all(&gem).unwrap();
    fs::write(gem.join("Rakefile"), "").unwrap();
    let out = w
        .cmd(w.shim("tootctl"))
        .arg("version")
        .env("TOOTGUARD_DEFAULT_ROOT", &other)
        .dir(&gem)
        .run();
    out.expect_code(0);
    assert!(w.ran("tootctl"), "the install's own tootctl ran");
    assert_eq!(w.recorded_pwd("tootctl"), gem);
    assert!(
        !w.record.join("other-ran").exists(),
        "not the default install's"
    );
}
