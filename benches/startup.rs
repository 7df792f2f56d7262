//! Start-up cost of the shim, measured: `cargo bench --bench startup`.
//!
//! Whole-process invocations, spawned and reaped one at a time, of
//!
//! - (a) `<root>/bin/tootctl` directly (a copy of `/bin/true`: a real ELF, so
//!   no interpreter start-up muddies the figures);
//! - (b) `/usr/bin/env RAILS_ENV=production <root>/bin/tootctl`;
//! - (c) `tootctl` through tootguard (a symlink named `tootctl` to the
//!   `tootguard-shim` binary, as `tootguard install` makes it), working
//!   directory in the root, `RAILS_ENV` unset so tootguard injects it;
//! - (d) `rails db:version` through tootguard (a task that is not a
//!   migration: should cost what (c) costs), against its own baseline
//!   (a') `<root>/bin/rails db:version` directly. The separate baseline is
//!   needed because GNU `true` given exactly one argument checks it for
//!   `--help`/`--version` and so first calls `setlocale` and loads the locale,
//!   which costs the no-op target itself over 100 µs more than no argument.
//! - Pass-through, where tootguard finds nothing of Mastodon's and runs the
//!   next program on PATH (a copy of `/bin/true` in a directory right after
//!   the shims'): (e) `ruby -e 1` through the `ruby` shim, against (a2)
//!   that `ruby -e 1` directly; (f) `rake -f Rakefile` in another project
//!   (a directory with its own `Gemfile` and `Rakefile`) through the `rake`
//!   shim, against (a3) that `rake` directly. Two arguments each, to
//!   keep GNU `true` off its locale path.
//!
//! The cases alternate round-robin, so drift in machine load hits all of them
//! alike, and each round starts one case later than the last, so no case
//! always follows the same one (what ran just before leaves its pages and
//! caches behind). Wall time is taken around spawn + wait; peak RSS is `ru_maxrss`
//! from `wait4` (Linux keeps the pre-exec high-water mark across exec, so for
//! (c) it covers tootguard itself). Two scenarios: a realistic install
//! (~90-line `.env.production`, short PATH) and a heavy one (2,000-line
//! `.env.production`, PATH of 199 missing or empty directories before
//! `/usr/bin:/bin`). This is a benchmark, not a test: it prints a table and
//! says whether the budget is met, and fails only when a command it runs
//! fails.
//!
//! Budget: tootguard adds no more wall time than `env` adds (medians), and
//! its peak RSS stays under 4 MiB.
//!
//! `TOOTGUARD_BENCH_SHIM=PATH` measures another build of the shim in place
//! of this one (how each start-up measure was weighed: the same code built
//! without it; `benches/README.md`).

use std::ffi::OsString;
use std::fmt::Write as _;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use nix::libc;

/// Measured rounds (each runs every case once); `TOOTGUARD_BENCH_ROUNDS` sets another number.
const DEFAULT_ROUNDS: usize = 1000;
/// Rounds run first and thrown away (page cache, CPU frequency).
const WARMUP_ROUNDS: usize = 50;
const RSS_BUDGET_KIB: i64 = 4 * 1024;

/// What `tootguard install` links the shims to.
const TOOTGUARD: &str = env!("CARGO_BIN_EXE_tootguard-shim");

/// The binary measured: [`TOOTGUARD`], or the build `TOOTGUARD_BENCH_SHIM` names.
fn shim_binary() -> PathBuf {
    std::env::var_os("TOOTGUARD_BENCH_SHIM").map_or_else(|| PathBuf::from(TOOTGUARD), PathBuf::from)
}

fn main() {
    let rounds = std::env::var("TOOTGUARD_BENCH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(DEFAULT_ROUNDS);
    // Not under /tmp: tootguard trusts no install below a directory anyone
    // can write.
    let work = tempfile::Builder::new()
        .prefix("tootguard-bench-")
        .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
        .expect("temporary directory");
    let shims = work.path().join("shims");
    std::fs::create_dir(&shims).expect("shim directory");
    for name in ["tootctl", "rails", "rake", "ruby"] {
        std::os::unix::fs::symlink(shim_binary(), shims.join(name)).expect("shim link");
    }
    // The real ruby and rake the pass-through cases reach.
    let real = work.path().join("real");
    std::fs::create_dir(&real).expect("real program directory");
    for name in ["ruby", "rake"] {
        std::fs::copy(noop(), real.join(name)).expect("copy /bin/true");
    }
    let other = work.path().join("other");
    std::fs::create_dir(&other).expect("another project");
    for file in ["Gemfile", "Rakefile"] {
        std::fs::write(other.join(file), "").expect("another project's file");
    }
    let dirs = Dirs {
        shims: shims.clone(),
        real,
        other,
    };

    print_machine(rounds);

    let mut all_met = true;
    let scenarios = [
        Scenario::typical(work.path(), &dirs),
        Scenario::heavy(work.path(), &dirs),
    ];
    for scenario in &scenarios {
        let results = run_scenario(scenario, &dirs, rounds);
        all_met &= report(scenario, &results);
    }
    println!(
        "\nRSS floor: ru_maxrss cannot be below the spawner's own RSS (this bench: VmRSS {} \
         KiB, VmHWM {} KiB), because posix_spawn's vfork child shares the spawner's memory \
         until exec and Linux carries the pre-exec high-water mark across exec. (a) and (b) sit \
         on that floor; a tootguard figure above it is tootguard's own peak.",
        self_status("VmRSS"),
        self_status("VmHWM"),
    );
    println!(
        "\nbudget (tootguard adds no more than env adds; peak RSS < {} MiB): {}",
        RSS_BUDGET_KIB / 1024,
        if all_met { "MET" } else { "NOT MET" }
    );
}

/// The bench's directories besides the install.
struct Dirs {
    /// Links to `tootguard-shim`, as `tootguard install` makes them.
    shims: PathBuf,
    /// The real `ruby` and `rake` the pass-through cases reach.
    real: PathBuf,
    /// Another project, with its own `Gemfile` and `Rakefile`.
    other: PathBuf,
}

/// One install and environment to measure in.
struct Scenario {
    title: String,
    root: PathBuf,
    env: Vec<(OsString, OsString)>,
}

impl Scenario {
    fn typical(work: &Path, dirs: &Dirs) -> Scenario {
        let root = make_root(&work.join("typical/live"), &env_production());
        let lines = line_count(&root.join(".env.production"));
        let path = format!(
            "{}:{}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            dirs.shims.display(),
            dirs.real.display()
        );
        Scenario {
            title: format!(
                "typical: {lines}-line .env.production, PATH of {} entries",
                path.split(':').count()
            ),
            env: login_env(&root, path),
            root,
        }
    }

    fn heavy(work: &Path, dirs: &Dirs) -> Scenario {
        let mut dotenv = env_production();
        let mut n = 0;
        while dotenv.lines().count() < 2000 {
            n += 1;
            match n % 4 {
                0 => writeln!(
                    dotenv,
                    "# setting group {n}: kept for the migration to v{n}"
                ),
                1 => writeln!(dotenv, "EXTRA_SETTING_{n}=value-{n}-{}", "x".repeat(n % 40)),
                2 => writeln!(dotenv, "export EXTRA_QUOTED_{n}=\"quoted value {n}\""),
                _ => writeln!(dotenv),
            }
            .expect("write to a String");
        }
        let root = make_root(&work.join("heavy/live"), &dotenv);
        let junk = work.join("heavy/path");
        let mut entries = vec![
            dirs.shims.display().to_string(),
            dirs.real.display().to_string(),
        ];
        for i in 0..199 {
            let dir = junk.join(format!("d{i:03}"));
            if i % 2 == 0 {
                // An empty directory: exists, holds nothing.
                std::fs::create_dir_all(&dir).expect("empty PATH directory");
            }
            entries.push(dir.display().to_string());
        }
        entries.push("/usr/bin".into());
        entries.push("/bin".into());
        let path = entries.join(":");
        let lines = line_count(&root.join(".env.production"));
        Scenario {
            title: format!(
                "heavy: {lines}-line .env.production, PATH of {} entries \
                 (the shims, the real ruby and rake, 199 missing or empty directories, then \
                 /usr/bin:/bin)",
                entries.len()
            ),
            env: login_env(&root, path),
            root,
        }
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Case {
    Direct,
    Env,
    Tootctl,
    DirectRailsDbVersion,
    RailsDbVersion,
    DirectRuby,
    Ruby,
    DirectRake,
    Rake,
}

const CASES: [Case; 9] = [
    Case::Direct,
    Case::Env,
    Case::Tootctl,
    Case::DirectRailsDbVersion,
    Case::RailsDbVersion,
    Case::DirectRuby,
    Case::Ruby,
    Case::DirectRake,
    Case::Rake,
];

impl Case {
    fn label(self) -> &'static str {
        match self {
            Case::Direct => "(a) bin/tootctl directly",
            Case::Env => "(b) env RAILS_ENV=production bin/tootctl",
            Case::Tootctl => "(c) tootctl via tootguard",
            Case::DirectRailsDbVersion => "(a') bin/rails db:version directly",
            Case::RailsDbVersion => "(d) rails db:version via tootguard",
            Case::DirectRuby => "(a2) ruby -e 1 directly",
            Case::Ruby => "(e) ruby -e 1 via tootguard (pass-through)",
            Case::DirectRake => "(a3) rake in another project directly",
            Case::Rake => "(f) rake in another project via tootguard (pass-through)",
        }
    }

    /// "(a)", "(a')", …: the label's first word.
    fn tag(self) -> &'static str {
        self.label().split(' ').next().unwrap_or("")
    }

    /// The direct run this case's added cost is measured against.
    fn baseline(self) -> Option<Case> {
        match self {
            Case::Direct | Case::DirectRailsDbVersion | Case::DirectRuby | Case::DirectRake => None,
            Case::Env | Case::Tootctl => Some(Case::Direct),
            Case::RailsDbVersion => Some(Case::DirectRailsDbVersion),
            Case::Ruby => Some(Case::DirectRuby),
            Case::Rake => Some(Case::DirectRake),
        }
    }

    /// tootguard's own cases: the budget applies to them.
    fn is_tootguard(self) -> bool {
        matches!(
            self,
            Case::Tootctl | Case::RailsDbVersion | Case::Ruby | Case::Rake
        )
    }

    fn command(self, scenario: &Scenario, dirs: &Dirs) -> Command {
        let shims = &dirs.shims;
        let target = scenario.root.join("bin/tootctl");
        let mut cmd = match self {
            Case::Direct => Command::new(&target),
            Case::Env => {
                let mut cmd = Command::new("/usr/bin/env");
                cmd.arg("RAILS_ENV=production").arg(&target);
                cmd
            }
            Case::Tootctl => Command::new(shims.join("tootctl")),
            Case::DirectRailsDbVersion => {
                let mut cmd = Command::new(scenario.root.join("bin/rails"));
                cmd.arg("db:version");
                cmd
            }
            Case::RailsDbVersion => {
                let mut cmd = Command::new(shims.join("rails"));
                cmd.arg("db:version");
                cmd
            }
            Case::DirectRuby | Case::Ruby => {
                let dir = if self == Case::Ruby {
                    shims
                } else {
                    &dirs.real
                };
                let mut cmd = Command::new(dir.join("ruby"));
                cmd.args(["-e", "1"]);
                cmd
            }
            Case::DirectRake | Case::Rake => {
                let dir = if self == Case::Rake {
                    shims
                } else {
                    &dirs.real
                };
                let mut cmd = Command::new(dir.join("rake"));
                cmd.args(["-f", "Rakefile"]).current_dir(&dirs.other);
                cmd
            }
        };
        cmd.env_clear()
            .envs(scenario.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        cmd
    }
}

#[derive(Default)]
struct Samples {
    wall: Vec<Duration>,
    maxrss_kib: Vec<i64>,
}

fn run_scenario(scenario: &Scenario, dirs: &Dirs, rounds: usize) -> Vec<Samples> {
    if drop_caches_asked() {
        drop_page_cache();
    }
    // The children inherit the working directory: no per-spawn chdir.
    std::env::set_current_dir(&scenario.root).expect("enter the root");
    let mut commands: Vec<Command> = CASES
        .iter()
        .map(|case| case.command(scenario, dirs))
        .collect();
    let mut results: Vec<Samples> = CASES.iter().map(|_| Samples::default()).collect();
    for round in 0..WARMUP_ROUNDS + rounds {
        // Each round starts one case later: no case always follows the same one.
        for k in 0..CASES.len() {
            let i = (round + k) % CASES.len();
            let (wall, maxrss) = run_once(&mut commands[i], CASES[i]);
            if round >= WARMUP_ROUNDS {
                results[i].wall.push(wall);
                results[i].maxrss_kib.push(maxrss);
            }
        }
    }
    std::env::set_current_dir("/").expect("leave the root");
    results
}

/// `TOOTGUARD_BENCH_DROP_CACHES=1`: empty the page cache before each
/// scenario (root only; it slows the whole machine for a moment).
///
/// Why: how a binary got into the page cache changes what starting it
/// costs. Measured here: the same tootguard bytes ran some 30 µs faster as
/// a fresh `cp` than straight from the linker, and the gap closed once the
/// cache was dropped. Dropping it puts every program of the bench, `env`
/// included, in one state, the one a server is in after a reboot: read
/// from disk.
fn drop_caches_asked() -> bool {
    std::env::var_os("TOOTGUARD_BENCH_DROP_CACHES").is_some_and(|v| v == "1")
}

fn drop_page_cache() {
    // SAFETY: sync(2) takes no arguments and cannot fail.
    unsafe { libc::sync() };
    if let Err(e) = std::fs::write("/proc/sys/vm/drop_caches", "3\n") {
        panic!("TOOTGUARD_BENCH_DROP_CACHES=1 needs root (writing /proc/sys/vm/drop_caches: {e})");
    }
}

/// Spawns, reaps with `wait4` and returns the wall time and `ru_maxrss`.
fn run_once(cmd: &mut Command, case: Case) -> (Duration, i64) {
    let start = Instant::now();
    let child = cmd.spawn().expect("spawn");
    let pid = child.id() as libc::pid_t;
    let mut status: libc::c_int = 0;
    // SAFETY: rusage is plain old data, fully written by a successful wait4.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `pid` is our unreaped child; both pointers are valid for writes.
    let reaped = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    let wall = start.elapsed();
    assert_eq!(reaped, pid, "wait4: {}", std::io::Error::last_os_error());
    // The Child was reaped above; dropping it neither waits nor kills.
    drop(child);
    let status = std::process::ExitStatus::from_raw(status);
    assert!(
        status.success(),
        "{} exited with {status} (run it by hand in the bench root to see why)",
        case.label()
    );
    (wall, usage.ru_maxrss)
}

fn report(scenario: &Scenario, results: &[Samples]) -> bool {
    println!("\n## {}\n", scenario.title);
    let index = |case: Case| CASES.iter().position(|c| *c == case).unwrap_or(0);
    let median_of = |i: usize| micros(percentile(&results[i].wall, 50));
    let added_of = |case: Case| {
        case.baseline()
            .map(|base| median_of(index(case)) - median_of(index(base)))
    };
    let env_added = added_of(Case::Env).unwrap_or(0.0);
    println!(
        "| case | median µs | p90 µs | added over direct, median µs | max RSS KiB | median RSS KiB |"
    );
    println!("|---|---:|---:|---:|---:|---:|");
    for (i, case) in CASES.iter().enumerate() {
        let samples = &results[i];
        let added = match (added_of(*case), case.baseline()) {
            (Some(added), Some(base)) => {
                format!("{added:+.0} (vs {})", base.tag())
            }
            _ => "—".to_owned(),
        };
        let mut rss = samples.maxrss_kib.clone();
        rss.sort_unstable();
        println!(
            "| {} | {:.0} | {:.0} | {} | {} | {} |",
            case.label(),
            median_of(i),
            micros(percentile(&samples.wall, 90)),
            added,
            rss[rss.len() - 1],
            rss[rss.len() / 2],
        );
    }
    let mut met = true;
    for (i, case) in CASES.iter().enumerate() {
        if !case.is_tootguard() {
            continue;
        }
        let added = added_of(*case).unwrap_or(0.0);
        let max_rss = results[i].maxrss_kib.iter().copied().max().unwrap_or(0);
        let time_ok = added <= env_added;
        let rss_ok = max_rss < RSS_BUDGET_KIB;
        met &= time_ok && rss_ok;
        println!(
            "\n{}: adds {added:.0} µs vs env's {env_added:.0} µs → {}; peak RSS {max_rss} KiB \
             (budget < {RSS_BUDGET_KIB}) → {}",
            case.label(),
            if time_ok {
                "within budget"
            } else {
                "OVER budget"
            },
            if rss_ok {
                "within budget"
            } else {
                "OVER budget"
            },
        );
    }
    met
}

/// A `kB` figure from /proc/self/status, as text ("?" when unreadable).
fn self_status(field: &str) -> String {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status.lines().find_map(|line| {
                let rest = line.strip_prefix(field)?.strip_prefix(':')?;
                Some(rest.trim().trim_end_matches("kB").trim().to_owned())
            })
        })
        .unwrap_or_else(|| "?".to_owned())
}

fn percentile(samples: &[Duration], pct: usize) -> Duration {
    let mut sorted = samples.to_vec();
    sorted.sort_unstable();
    sorted[((sorted.len() * pct) / 100).min(sorted.len() - 1)]
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

/// A Mastodon root: `bin/{tootctl,rails,rake}` (copies of /bin/true),
/// `config/application.rb` and `.env.production`.
fn make_root(dir: &Path, dotenv: &str) -> PathBuf {
    std::fs::create_dir_all(dir.join("bin")).expect("bin/");
    std::fs::create_dir_all(dir.join("config")).expect("config/");
    for name in ["tootctl", "rails", "rake"] {
        std::fs::copy(noop(), dir.join("bin").join(name)).expect("copy /bin/true");
    }
    std::fs::write(
        dir.join("config/application.rb"),
        "require_relative 'boot'\nrequire 'rails/all'\n\nmodule Mastodon\n  \
         class Application < Rails::Application\n  end\nend\n",
    )
    .expect("config/application.rb");
    std::fs::write(dir.join(".env.production"), dotenv).expect(".env.production");
    dir.to_path_buf()
}

/// GNU `true`: an ELF that does nothing, the stand-in for every program.
fn noop() -> &'static Path {
    ["/bin/true", "/usr/bin/true"]
        .into_iter()
        .map(Path::new)
        .find(|p| p.is_file())
        .expect("/bin/true")
}

/// What an admin's shell has after `su - mastodon` over SSH (no RAILS_ENV,
/// no MASTODON_ROOT, no TOOTGUARD_*).
fn login_env(root: &Path, path: String) -> Vec<(OsString, OsString)> {
    let home = root.parent().unwrap_or(root);
    let pairs: Vec<(&str, OsString)> = vec![
        ("HOME", home.into()),
        ("USER", "mastodon".into()),
        ("LOGNAME", "mastodon".into()),
        ("SHELL", "/bin/bash".into()),
        ("TERM", "xterm-256color".into()),
        ("LANG", "C.UTF-8".into()),
        ("PWD", root.into()),
        ("OLDPWD", home.into()),
        ("SHLVL", "2".into()),
        ("MAIL", "/var/mail/mastodon".into()),
        ("SSH_CLIENT", "203.0.113.7 51514 22".into()),
        (
            "SSH_CONNECTION",
            "203.0.113.7 51514 198.51.100.10 22".into(),
        ),
        ("SSH_TTY", "/dev/pts/0".into()),
        ("XDG_SESSION_ID", "41".into()),
        ("XDG_RUNTIME_DIR", "/run/user/991".into()),
        ("RBENV_SHELL", "bash".into()),
        ("PATH", path.into()),
        ("_", "/usr/bin/tootctl".into()),
    ];
    pairs
        .into_iter()
        .map(|(k, v)| (OsString::from(k), v))
        .collect()
}

fn line_count(path: &Path) -> usize {
    std::fs::read_to_string(path)
        .map(|s| s.lines().count())
        .unwrap_or(0)
}

/// A production `.env` as `mastodon:setup` and a few years of admin edits
/// leave it: about 90 lines, with comments, blank lines and quoting.
fn env_production() -> String {
    let mut s = String::new();
    let secret = |seed: u64, len: usize| -> String {
        // Deterministic hex that looks like `rake secret` output.
        let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                char::from_digit((x % 16) as u32, 16).unwrap_or('0')
            })
            .collect()
    };
    let lines: Vec<String> = vec![
        "# Generated by mastodon:setup, then edited by hand.".into(),
        "# Keep a copy in the password manager: SECRET_KEY_BASE and OTP_SECRET".into(),
        "# cannot be regenerated without logging everybody out.".into(),
        String::new(),
        "# Federation".into(),
        "# ----------".into(),
        "LOCAL_DOMAIN=social.example.org".into(),
        "# WEB_DOMAIN=mastodon.example.org".into(),
        "SINGLE_USER_MODE=false".into(),
        "AUTHORIZED_FETCH=false".into(),
        "LIMITED_FEDERATION_MODE=false".into(),
        String::new(),
        "# Redis".into(),
        "# -----".into(),
        "REDIS_HOST=127.0.0.1".into(),
        "REDIS_PORT=6379".into(),
        "REDIS_PASSWORD=".into(),
        "# REDIS_NAMESPACE=mastodon".into(),
        "# SIDEKIQ_REDIS_URL=redis://127.0.0.1:6379/1".into(),
        String::new(),
        "# PostgreSQL (through PgBouncer, transaction pooling)".into(),
        "# ----------".into(),
        "DB_HOST=127.0.0.1".into(),
        "DB_PORT=6432".into(),
        "DB_NAME=mastodon_production".into(),
        "DB_USER=mastodon".into(),
        format!("DB_PASS={}", secret(1, 24)),
        "DB_POOL=25".into(),
        "PREPARED_STATEMENTS=false".into(),
        "# Direct PostgreSQL for migrations".into(),
        "TOOTGUARD_DIRECT_DB_PORT=5432".into(),
        String::new(),
        "# Elasticsearch (optional)".into(),
        "# ----------".into(),
        "ES_ENABLED=true".into(),
        "ES_HOST=localhost".into(),
        "ES_PORT=9200".into(),
        "ES_USER=elastic".into(),
        format!("ES_PASS='{}'", secret(2, 20)),
        "ES_PRESET=single_node_cluster".into(),
        String::new(),
        "# Secrets".into(),
        "# -------".into(),
        "# Generate each with `RAILS_ENV=production bundle exec rake secret`".into(),
        format!("SECRET_KEY_BASE={}", secret(3, 128)),
        format!("OTP_SECRET={}", secret(4, 128)),
        format!("ACTIVE_RECORD_ENCRYPTION_DETERMINISTIC_KEY={}", secret(5, 32)),
        format!("ACTIVE_RECORD_ENCRYPTION_KEY_DERIVATION_SALT={}", secret(6, 32)),
        format!("ACTIVE_RECORD_ENCRYPTION_PRIMARY_KEY={}", secret(7, 32)),
        String::new(),
        "# Web Push".into(),
        "# --------".into(),
        "# Generate with `RAILS_ENV=production bundle exec rake mastodon:webpush:generate_vapid_key`".into(),
        format!("VAPID_PRIVATE_KEY={}", secret(8, 43)),
        format!("VAPID_PUBLIC_KEY=B{}", secret(9, 86)),
        String::new(),
        "# Sending mail".into(),
        "# ------------".into(),
        "SMTP_SERVER=smtp.mailgun.example.net".into(),
        "SMTP_PORT=587".into(),
        "SMTP_LOGIN=postmaster@mg.example.org".into(),
        format!("SMTP_PASSWORD=\"{}\"", secret(10, 32)),
        "SMTP_AUTH_METHOD=plain".into(),
        "SMTP_OPENSSL_VERIFY_MODE=peer".into(),
        "SMTP_ENABLE_STARTTLS=auto".into(),
        "SMTP_FROM_ADDRESS='Example Social <notifications@social.example.org>'".into(),
        String::new(),
        "# File storage (optional)".into(),
        "# -----------------------".into(),
        "S3_ENABLED=true".into(),
        "S3_PROTOCOL=https".into(),
        "S3_BUCKET=example-social-media".into(),
        "S3_REGION=eu-central-1".into(),
        "S3_ENDPOINT=https://s3.eu-central-1.example-storage.net".into(),
        "S3_HOSTNAME=s3.eu-central-1.example-storage.net".into(),
        "S3_ALIAS_HOST=media.social.example.org".into(),
        format!("AWS_ACCESS_KEY_ID={}", secret(11, 20).to_uppercase()),
        format!("AWS_SECRET_ACCESS_KEY={}", secret(12, 40)),
        "S3_PERMISSION=private".into(),
        String::new(),
        "# IP and session retention".into(),
        "# -----------------------".into(),
        "IP_RETENTION_PERIOD=31556952".into(),
        "SESSION_RETENTION_PERIOD=31556952".into(),
        String::new(),
        "# Puma, Sidekiq and streaming".into(),
        "WEB_CONCURRENCY=2".into(),
        "MAX_THREADS=5".into(),
        "STREAMING_CLUSTER_NUM=1".into(),
        "RAILS_SERVE_STATIC_FILES=false".into(),
        "RAILS_LOG_LEVEL=warn".into(),
    ];
    for line in lines {
        s.push_str(&line);
        s.push('\n');
    }
    s
}

/// CPU, cores, kernel, date and load: what the figures were measured on.
fn print_machine(rounds: usize) {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            (k.trim() == "model name").then(|| v.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cpus = cpuinfo
        .lines()
        .filter(|l| l.starts_with("processor"))
        .count();
    let usable = std::thread::available_parallelism().map_or(0, |n| n.get());
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_owned())
        .unwrap_or_else(|_| "unknown".into());
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let binary = shim_binary();
    let size = std::fs::metadata(&binary).map_or(0, |m| m.len());
    println!("# tootguard start-up benchmark\n");
    println!("date:    {} UTC", utc_now());
    println!("cpu:     {model}");
    println!("cores:   {cpus} in /proc/cpuinfo, {usable} usable by this process");
    println!("kernel:  Linux {kernel}");
    println!(
        "load:    {} (1, 5, 15 min) at start",
        load.split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    );
    println!("binary:  {} ({} KiB)", binary.display(), size / 1024);
    println!(
        "method:  {rounds} measured rounds (+{WARMUP_ROUNDS} warm-up) per scenario; each round \
         runs every case once, in turn, starting one case later than the last; wall time \
         around spawn + wait4; stdin, stdout, stderr \
         /dev/null"
    );
    println!(
        "cache:   {}",
        if drop_caches_asked() {
            "page cache dropped before each scenario (TOOTGUARD_BENCH_DROP_CACHES=1): every \
             binary read from disk"
        } else {
            "as found: tootguard-shim as the linker left it, env as read from disk long ago \
             (TOOTGUARD_BENCH_DROP_CACHES=1 evens that out)"
        }
    );
}

/// `YYYY-MM-DD HH:MM` from the system clock (civil-from-days, no crates).
fn utc_now() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs()) as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}",
        rem / 3600,
        (rem % 3600) / 60
    )
}
