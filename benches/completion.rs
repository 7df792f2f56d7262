//! How long a tab press on `tootctl` takes: `cargo bench --bench completion`.
//!
//! The shells' completion functions run `tootguard __complete` for every
//! tab press (see `src/cli/complete.rs`), which reads the tootctl tree of
//! the install the command would run in: parsed from its
//! `lib/mastodon/cli/*.rb` the first time, then from the cache. Measured
//! here inside an install built from upstream Mastodon 4.5.0's own CLI
//! files (`tests/upstream/mastodon-v4.5.0`), each case a whole process,
//! spawned and reaped one at a time:
//!
//! - (cold) no cache yet: find the install, parse every CLI file, write
//!   the cache, answer;
//! - (warm) the cache written: find the install, check the key, answer;
//! - (bash) the whole of bash's `_tootctl` function with the warm cache,
//!   less a bash that only sources the script (what the function adds).
//!
//! Budget (issue 13): one completion under 50 ms. This is a benchmark, not
//! a test: it prints medians and whether the budget is met, and fails only
//! when a command it runs fails.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const TOOTGUARD: &str = env!("CARGO_BIN_EXE_tootguard");
const BUDGET: Duration = Duration::from_millis(50);

fn main() {
    let rounds: usize = std::env::var("TOOTGUARD_BENCH_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(100);
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/upstream/mastodon-v4.5.0");
    let base = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).expect("a scratch directory");
    let root = base.path().join("live");
    copy_tree(&fixture, &root);
    std::fs::create_dir_all(root.join("bin")).unwrap();
    std::fs::write(root.join("bin/tootctl"), "#!/bin/sh\n").unwrap();
    std::fs::set_permissions(
        root.join("bin/tootctl"),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    std::fs::create_dir_all(root.join("config")).unwrap();
    std::fs::write(root.join("config/application.rb"), "# bench\n").unwrap();
    std::fs::write(root.join(".env.production"), "LOCAL_DOMAIN=bench.test\n").unwrap();
    let script = base.path().join("tootguard.bash");
    let out = Command::new(TOOTGUARD)
        .args(["completions", "bash"])
        .output()
        .expect("tootguard runs");
    std::fs::write(&script, out.stdout).unwrap();
    let bin_dir = Path::new(TOOTGUARD).parent().unwrap();
    let path = format!("{}:/usr/bin:/bin", bin_dir.display());
    let words = ["email_domain_blocks", "add", "--"];

    let complete = |cache: &Path| {
        let mut cmd = Command::new(TOOTGUARD);
        cmd.arg("__complete")
            .arg("bash")
            .arg("--")
            .args(words)
            .env_clear()
            .env("PATH", &path)
            .env("XDG_CACHE_HOME", cache)
            .env("TOOTGUARD_DEFAULT_ROOT", "")
            .current_dir(&root)
            .stdin(Stdio::null())
            .stdout(Stdio::piped());
        cmd
    };
    // What the engine says, once: the 4.5 tree has no --allow-with-approval.
    let warm_cache = base.path().join("cache");
    let answer = complete(&warm_cache).output().expect("__complete runs");
    let answer = String::from_utf8_lossy(&answer.stdout);
    println!(
        "tootctl email_domain_blocks add -- offers: {}",
        answer.lines().skip(2).collect::<Vec<_>>().join(" ")
    );

    let mut cold = Vec::new();
    let mut warm = Vec::new();
    let mut bash = Vec::new();
    let mut bash_base = Vec::new();
    let bash_cmd = |body: &str| {
        let mut cmd = Command::new("bash");
        cmd.args(["--noprofile", "--norc", "-c"])
            .arg(format!("source {}; {body}", script.display()))
            .env_clear()
            .env("PATH", &path)
            .env("XDG_CACHE_HOME", &warm_cache)
            .env("TOOTGUARD_DEFAULT_ROOT", "")
            .current_dir(&root)
            .stdin(Stdio::null())
            .stdout(Stdio::null());
        cmd
    };
    let call = "COMP_WORDS=(tootctl email_domain_blocks add --) COMP_CWORD=3; _tootctl; \
                [[ ${#COMPREPLY[@]} -gt 0 ]]";
    for n in 0..rounds {
        let cache = base.path().join(format!("cold-{n}"));
        cold.push(time(&mut complete(&cache)));
        warm.push(time(&mut complete(&warm_cache)));
        bash.push(time(&mut bash_cmd(call)));
        bash_base.push(time(&mut bash_cmd("true")));
    }
    let (cold, warm, bash, bash_base) =
        (median(cold), median(warm), median(bash), median(bash_base));
    let added = bash.saturating_sub(bash_base);
    println!("rounds: {rounds}; medians:");
    println!(
        "  (cold) tootguard __complete, parsing 4.5.0's CLI files: {}",
        ms(cold)
    );
    println!(
        "  (warm) tootguard __complete, from the cache:            {}",
        ms(warm)
    );
    println!(
        "  (bash) _tootctl in bash, less bash sourcing the script: {}",
        ms(added)
    );
    let worst = cold.max(added);
    println!(
        "budget {}: {}",
        ms(BUDGET),
        if worst < BUDGET { "MET" } else { "NOT MET" }
    );
}

fn time(cmd: &mut Command) -> Duration {
    let started = Instant::now();
    let status = cmd.status().expect("the command runs");
    let took = started.elapsed();
    assert!(status.success(), "{cmd:?} failed: {status}");
    took
}

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times[times.len() / 2]
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap_or_else(|e| panic!("{}: {e}", from.display())) {
        let entry = entry.unwrap();
        let target: PathBuf = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}
