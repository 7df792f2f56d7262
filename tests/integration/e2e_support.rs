//! Real end-to-end harness (no mocks): a throw-away PostgreSQL cluster, a real
//! PgBouncer in transaction pooling mode in front of it, a minimal hand-written
//! Rails 6.1 application shaped like a Mastodon root, and pgbench load.
//!
//! * [`ensure_packages`] checks, once per process, that the Debian packages
//!   are there (`scripts/install-test-deps` installs them), and fails with
//!   that command when they are not: tests install nothing.
//! * [`Servers::shared`] starts PostgreSQL and PgBouncer once per test process.
//!   They are children of a dedicated, never-ending "keeper" thread and carry
//!   `PR_SET_PDEATHSIG`, so they die with the test process however it ends
//!   (even SIGKILL); a detached `sh` watchdog then removes [`scratch_root`],
//!   which holds the cluster, the Rails apps and the load scripts.
//! * Every test takes its own database ([`Servers::fresh_database`]), so tests
//!   run in parallel and a migration lock leaked by a failed run through
//!   PgBouncer poisons nobody else.
//! * [`Load::holding_lock_server`] makes `db:migrate` through PgBouncer fail
//!   every time; [`Load::start`] (`SELECT 1`) only most of the time (measured
//!   ~70–90 %, see `e2e_smoke`).
//! * Every external command runs with a timeout ([`run`]).
#![allow(dead_code)]

use std::collections::HashMap;
use std::fs;
use std::io;
use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::sys::signal::{Signal, killpg};
use nix::unistd::{Gid, Pid, Uid, User, chown, geteuid, getppid};
use tempfile::TempDir;

use crate::harness::{describe, free_port, run_limited};

/// Bound for starting one server (initdb excluded).
const SERVER_START_TIMEOUT: Duration = Duration::from_secs(30);
/// Bound for one psql invocation.
const SQL_TIMEOUT: Duration = Duration::from_secs(20);
/// Bound for one `bin/rails db:migrate` run.
pub const RAILS_TIMEOUT: Duration = Duration::from_secs(50);
/// pgbench stops by itself after this many seconds (`-T`).
pub const LOAD_SECONDS: u32 = 45;
/// How long a load client parks on the server that holds the migration lock
/// ([`LoadScript::HoldLockServer`]). Longer than any migration may take (a
/// 15 s pin let a CPU-starved migration outlive it and succeed). When pgbench
/// is killed, PgBouncer drops that server connection and PostgreSQL's
/// `client_connection_check_interval` ends the sleep within a second.
const PIN_SECONDS: u64 = RAILS_TIMEOUT.as_secs() + 10;
/// PgBouncer `default_pool_size`: larger than the load's clients plus Rails'
/// two connections, so the load never starves the migration; every extra
/// server connection is one more place the unlock can land.
pub const POOL_SIZE: u32 = 20;
/// PgBouncer's `server_idle_timeout`: long enough for a leaked lock to
/// sit on an idle server connection while tootguard calls it a leftover
/// (after 10 s idle), short enough that the tests' pools do not pile up
/// (every test has a database, and so a pool, of its own).
const SERVER_IDLE_TIMEOUT: u32 = 60;

// ---------------------------------------------------------------------------
// Packages
// ---------------------------------------------------------------------------

/// Fails, naming what is missing and the command that installs it, when
/// the tools the end-to-end tests run are not all there. Checked at most
/// once per process.
pub fn ensure_packages() {
    static READY: OnceLock<Result<(), String>> = OnceLock::new();
    let ready = READY.get_or_init(|| {
        let missing = missing_tools();
        if missing.is_empty() {
            Ok(())
        } else {
            Err(format!(
                "end-to-end tests need {}; install them (as root): scripts/install-test-deps",
                missing.join(", ")
            ))
        }
    });
    if let Err(e) = ready {
        panic!("{e}");
    }
}

fn missing_tools() -> Vec<String> {
    let mut missing: Vec<String> = ["initdb", "postgres", "pg_ctl", "pgbench", "psql"]
        .into_iter()
        .filter(|b| pg_bin(b).is_none())
        .map(|b| format!("PostgreSQL's {b}"))
        .collect();
    if pgbouncer_bin().is_none() {
        missing.push("pgbouncer".into());
    }
    match which::which("ruby") {
        Err(_) => missing.push("ruby".into()),
        Ok(ruby) => {
            let mut cmd = Command::new(ruby);
            cmd.args([
                "-e",
                "require 'rails'; require 'active_record/railtie'; require 'pg'; require 'dotenv'",
            ]);
            match try_run(&mut cmd, Duration::from_secs(60)) {
                Ok(out) if out.status.success() => {}
                Ok(out) => missing.push(format!(
                    "the rails/pg/dotenv gems ({})",
                    String::from_utf8_lossy(&out.stderr).trim()
                )),
                Err(e) => missing.push(format!("a working ruby ({e})")),
            }
        }
    }
    missing
}

/// A PostgreSQL program: the newest `/usr/lib/postgresql/<version>/bin/<name>`,
/// else `<name>` on PATH.
pub fn pg_bin(name: &str) -> Option<PathBuf> {
    let mut found: Vec<(u32, PathBuf)> = fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let version = e.file_name().to_str()?.parse::<u32>().ok()?;
            let path = e.path().join("bin").join(name);
            path.is_file().then_some((version, path))
        })
        .collect();
    found.sort();
    found
        .pop()
        .map(|(_, p)| p)
        .or_else(|| which::which(name).ok())
}

fn require_pg_bin(name: &str) -> PathBuf {
    pg_bin(name).unwrap_or_else(|| {
        panic!("PostgreSQL's {name} not found; install it (as root): scripts/install-test-deps")
    })
}

/// The pgbouncer executable (Debian installs it in /usr/sbin).
pub fn pgbouncer_bin() -> Option<PathBuf> {
    ["/usr/sbin/pgbouncer", "/usr/bin/pgbouncer"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
        .or_else(|| which::which("pgbouncer").ok())
}

// ---------------------------------------------------------------------------
// Running commands with a timeout
// ---------------------------------------------------------------------------

/// Runs `cmd` (stdin closed, output captured) and panics if it is still running
/// after `timeout`; the child's whole process group is killed then.
pub fn run(cmd: &mut Command, timeout: Duration) -> Output {
    try_run(cmd, timeout).unwrap_or_else(|e| panic!("{e}"))
}

/// Like [`run`], but returns an error (with the partial output) instead of
/// panicking on spawn failure or timeout. The child leads a process group
/// of its own, killed whole at the limit, and dies with the test process.
pub fn try_run(cmd: &mut Command, timeout: Duration) -> Result<Output, String> {
    cmd.process_group(0);
    die_with_parent(cmd, Signal::SIGKILL);
    run_limited(cmd, timeout).map_err(|failed| failed.explain(cmd))
}

/// stdout followed by stderr, lossily decoded.
pub fn combined(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The last `n` lines of `text`.
pub fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

fn file_tail(path: &Path, n: usize) -> String {
    match fs::read(path) {
        Ok(bytes) => tail(&String::from_utf8_lossy(&bytes), n),
        Err(e) => format!("(cannot read {}: {e})", path.display()),
    }
}

/// The child gets `signal` when the thread that spawned it exits (and so when
/// the test process exits, however it exits). Must be set after any uid
/// change: std runs `pre_exec` hooks after `setuid`, which would clear it.
fn die_with_parent(cmd: &mut Command, signal: Signal) {
    let parent = std::process::id() as i32;
    // SAFETY: the hook only makes two async-signal-safe system calls and does
    // not allocate.
    unsafe {
        cmd.pre_exec(move || {
            nix::sys::prctl::set_pdeathsig(signal).map_err(io::Error::from)?;
            if getppid().as_raw() != parent {
                return Err(io::Error::from(Errno::ESRCH));
            }
            Ok(())
        });
    }
}

/// Names of variables that must not leak from the developer's environment
/// into the Rails app, psql or pgbench.
fn is_db_env(name: &str) -> bool {
    const PREFIXES: &[&str] = &["DB_", "REPLICA_", "PG", "RAILS_", "BUNDLE_", "DOTENV_"];
    const NAMES: &[&str] = &[
        "DATABASE_URL",
        "PREPARED_STATEMENTS",
        "RACK_ENV",
        "RUBYOPT",
        "RUBYLIB",
        "SKIP_POST_DEPLOYMENT_MIGRATIONS",
    ];
    PREFIXES.iter().any(|p| name.starts_with(p)) || NAMES.contains(&name)
}

/// Removes every inherited variable that could change which database a
/// command talks to (`DB_*`, `DATABASE_URL`, `PG*`, `RAILS_*`, …).
pub fn scrub_env(cmd: &mut Command) -> &mut Command {
    for (name, _) in std::env::vars_os() {
        if name.to_str().is_some_and(is_db_env) {
            cmd.env_remove(&name);
        }
    }
    // Not the machine's own ~mastodon/live, should it have one.
    cmd.env("TOOTGUARD_DEFAULT_ROOT", "")
}

// ---------------------------------------------------------------------------
// Keeper thread: long-lived parent of the servers
// ---------------------------------------------------------------------------

struct SpawnRequest {
    cmd: Command,
    reply: mpsc::Sender<io::Result<u32>>,
}

struct Keeper {
    tx: Mutex<mpsc::Sender<SpawnRequest>>,
    exited: Arc<Mutex<HashMap<u32, ExitStatus>>>,
}

/// `PR_SET_PDEATHSIG` fires when the *thread* that forked the child exits,
/// and libtest runs each test on its own short-lived thread. Servers are
/// therefore spawned by this thread, which lives as long as the process.
fn keeper() -> &'static Keeper {
    static KEEPER: OnceLock<Keeper> = OnceLock::new();
    KEEPER.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<SpawnRequest>();
        let exited = Arc::new(Mutex::new(HashMap::new()));
        let record = Arc::clone(&exited);
        thread::Builder::new()
            .name("e2e-server-keeper".into())
            .spawn(move || {
                let mut children: Vec<Child> = Vec::new();
                loop {
                    match rx.recv_timeout(Duration::from_millis(100)) {
                        Ok(SpawnRequest { mut cmd, reply }) => match cmd.spawn() {
                            Ok(child) => {
                                let _ = reply.send(Ok(child.id()));
                                children.push(child);
                            }
                            Err(e) => {
                                let _ = reply.send(Err(e));
                            }
                        },
                        Err(RecvTimeoutError::Timeout) => {}
                        Err(RecvTimeoutError::Disconnected) => {
                            thread::sleep(Duration::from_secs(1))
                        }
                    }
                    children.retain_mut(|c| match c.try_wait() {
                        Ok(Some(status)) => {
                            record.lock().unwrap().insert(c.id(), status);
                            false
                        }
                        _ => true,
                    });
                }
            })
            .expect("cannot start the e2e keeper thread");
        Keeper {
            tx: Mutex::new(tx),
            exited,
        }
    })
}

impl Keeper {
    fn spawn(&self, cmd: Command) -> io::Result<u32> {
        let (reply, rx) = mpsc::channel();
        self.tx
            .lock()
            .unwrap()
            .send(SpawnRequest { cmd, reply })
            .map_err(|_| io::Error::other("keeper thread is gone"))?;
        rx.recv_timeout(Duration::from_secs(10))
            .map_err(|_| io::Error::other("keeper thread did not answer"))?
    }

    fn exit_status(&self, pid: u32) -> Option<ExitStatus> {
        self.exited.lock().unwrap().get(&pid).copied()
    }
}

// ---------------------------------------------------------------------------
// Servers
// ---------------------------------------------------------------------------

/// PostgreSQL + PgBouncer (transaction pooling), shared by all tests of the
/// process.
pub struct Servers {
    base: PathBuf,
    run_dir: PathBuf,
    pg_port: u16,
    bouncer_port: u16,
    pg_pid: u32,
    bouncer_pid: u32,
    pg_log: PathBuf,
    bouncer_log: PathBuf,
    bouncer_ini: PathBuf,
}

/// The unprivileged account servers run as: `postgres` when we are root
/// (initdb, postgres and pgbouncer all refuse root), else ourselves.
fn server_account() -> Result<Option<(Uid, Gid)>, String> {
    if !geteuid().is_root() {
        return Ok(None);
    }
    match User::from_name("postgres") {
        Ok(Some(u)) => Ok(Some((u.uid, u.gid))),
        _ => Err(
            "running as root, but there is no `postgres` user to run the servers as \
                  (the postgresql package creates it): scripts/install-test-deps"
                .to_owned(),
        ),
    }
}

fn server_command(program: &Path, account: Option<(Uid, Gid)>, cwd: &Path) -> Command {
    let mut cmd = Command::new(program);
    cmd.env_clear()
        .env("PATH", "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin")
        .env("LANG", "C")
        .current_dir(cwd)
        .stdin(Stdio::null());
    if let Some((uid, gid)) = account {
        cmd.uid(uid.as_raw()).gid(gid.as_raw());
    }
    cmd
}

impl Servers {
    /// Starts PostgreSQL and PgBouncer on first use and returns the same
    /// instance afterwards. Panics with the server log tail when start-up
    /// fails, or with the install command when packages are missing.
    pub fn shared() -> &'static Servers {
        ensure_packages();
        static SERVERS: OnceLock<Result<Servers, String>> = OnceLock::new();
        let started = SERVERS.get_or_init(|| {
            let t = Instant::now();
            let servers = Servers::start()?;
            eprintln!(
                "e2e: PostgreSQL on 127.0.0.1:{} and PgBouncer on 127.0.0.1:{} ready in {:.1?} (dir {})",
                servers.pg_port,
                servers.bouncer_port,
                t.elapsed(),
                servers.base.display()
            );
            Ok(servers)
        });
        match started {
            Ok(s) => s,
            Err(e) => panic!("e2e servers unavailable: {e}"),
        }
    }

    fn start() -> Result<Servers, String> {
        let account = server_account()?;
        let base = scratch_root().join("srv");
        let run_dir = base.join("run");
        fs::create_dir_all(&run_dir).map_err(|e| format!("{}: {e}", run_dir.display()))?;
        for dir in [&base, &run_dir] {
            fs::set_permissions(dir, fs::Permissions::from_mode(0o755))
                .map_err(|e| e.to_string())?;
            if let Some((uid, gid)) = account {
                chown(dir.as_path(), Some(uid), Some(gid))
                    .map_err(|e| format!("chown {}: {e}", dir.display()))?;
            }
        }

        // initdb
        let data = base.join("data");
        let mut initdb = server_command(&require_pg_bin("initdb"), account, &base);
        initdb.arg("-D").arg(&data).args([
            "-U",
            "postgres",
            "--auth=trust",
            "--no-locale",
            "-E",
            "UTF8",
            "--no-sync",
        ]);
        let out = try_run(&mut initdb, Duration::from_secs(60))?;
        if !out.status.success() {
            return Err(format!("initdb failed:\n{}", tail(&combined(&out), 30)));
        }

        let pg_log = base.join("postgresql.log");
        let bouncer_log = base.join("pgbouncer.log");
        let bouncer_ini = base.join("pgbouncer.ini");
        let userlist = base.join("userlist.txt");
        fs::write(&userlist, "\"postgres\" \"\"\n").map_err(|e| e.to_string())?;

        // PostgreSQL. A port picked by binding port 0 can be taken by someone
        // else before postgres binds it: retry with another one.
        let mut attempt = 0;
        let (pg_port, pg_pid) = loop {
            attempt += 1;
            let port = free_port();
            let mut cmd = server_command(&require_pg_bin("postgres"), account, &base);
            cmd.arg("-D").arg(&data).arg("-k").arg(&run_dir);
            for setting in [
                "listen_addresses=127.0.0.1".to_string(),
                format!("port={port}"),
                "max_connections=300".into(),
                "shared_buffers=32MB".into(),
                "fsync=off".into(),
                "synchronous_commit=off".into(),
                "full_page_writes=off".into(),
                "logging_collector=off".into(),
                // Abort queries (the load's pinning sleep) of vanished clients.
                "client_connection_check_interval=1000".into(),
            ] {
                cmd.arg("-c").arg(setting);
            }
            let pid = spawn_server(cmd, &pg_log, Signal::SIGQUIT)?;
            match wait_until_ready(pid, Duration::from_secs(30), &pg_log, || {
                psql_output(port, "postgres", "SELECT 1", Duration::from_secs(5))
            }) {
                Ok(()) => break (port, pid),
                Err(e) if attempt < 3 && e.contains("in use") => continue,
                Err(e) => return Err(format!("PostgreSQL did not start: {e}")),
            }
        };

        // PgBouncer, transaction pooling, in front of it.
        let mut attempt = 0;
        let (bouncer_port, bouncer_pid) = loop {
            attempt += 1;
            let port = free_port();
            fs::write(
                &bouncer_ini,
                bouncer_config(pg_port, port, &run_dir, &userlist),
            )
            .map_err(|e| e.to_string())?;
            let mut cmd = server_command(
                &pgbouncer_bin().ok_or("pgbouncer not found")?,
                account,
                &base,
            );
            cmd.arg(&bouncer_ini);
            let pid = spawn_server(cmd, &bouncer_log, Signal::SIGKILL)?;
            match wait_until_ready(pid, SERVER_START_TIMEOUT, &bouncer_log, || {
                psql_output(port, "postgres", "SELECT 1", Duration::from_secs(5))
            }) {
                Ok(()) => break (port, pid),
                Err(e) if attempt < 3 && e.contains("in use") => continue,
                Err(e) => return Err(format!("PgBouncer did not start: {e}")),
            }
        };

        Ok(Servers {
            base,
            run_dir,
            pg_port,
            bouncer_port,
            pg_pid,
            bouncer_pid,
            pg_log,
            bouncer_log,
            bouncer_ini,
        })
    }

    /// PostgreSQL's TCP port on 127.0.0.1 (the direct route).
    pub fn pg_port(&self) -> u16 {
        self.pg_port
    }

    /// PgBouncer's TCP port on 127.0.0.1 (the pooled route).
    pub fn bouncer_port(&self) -> u16 {
        self.bouncer_port
    }

    /// Directory holding both Unix sockets: `.s.PGSQL.<pg_port>` and
    /// `.s.PGSQL.<bouncer_port>` (like a host where PgBouncer shares
    /// `/var/run/postgresql`).
    pub fn socket_dir(&self) -> &Path {
        &self.run_dir
    }

    /// The temporary directory holding data, configs and logs.
    pub fn base_dir(&self) -> &Path {
        &self.base
    }

    pub fn pgbouncer_ini(&self) -> &Path {
        &self.bouncer_ini
    }

    pub fn pg_log_tail(&self, lines: usize) -> String {
        file_tail(&self.pg_log, lines)
    }

    pub fn bouncer_log_tail(&self, lines: usize) -> String {
        file_tail(&self.bouncer_log, lines)
    }

    /// Creates database `name` (letters, digits, `_`) directly in PostgreSQL.
    pub fn create_database(&self, name: &str) {
        assert!(
            !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'),
            "database names must be [a-z0-9_]+: {name:?}"
        );
        self.psql("postgres", &format!("CREATE DATABASE \"{name}\""));
    }

    /// Creates and returns a database named `<prefix>_<pid>_<n>`, unique in
    /// this process.
    pub fn fresh_database(&self, prefix: &str) -> String {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let name = format!("{}_{}_{n}", prefix.to_ascii_lowercase(), std::process::id());
        self.create_database(&name);
        name
    }

    /// Runs `sql` directly in PostgreSQL (`psql -h 127.0.0.1 -p <pg> -U
    /// postgres -Atc`); returns trimmed stdout, panics on error.
    pub fn psql(&self, db: &str, sql: &str) -> String {
        self.try_psql(db, sql).unwrap_or_else(|e| panic!("{e}"))
    }

    pub fn try_psql(&self, db: &str, sql: &str) -> Result<String, String> {
        psql_output(self.pg_port, db, sql, SQL_TIMEOUT)
    }

    /// Runs `sql` through PgBouncer.
    pub fn psql_via_bouncer(&self, db: &str, sql: &str) -> String {
        psql_output(self.bouncer_port, db, sql, SQL_TIMEOUT).unwrap_or_else(|e| panic!("{e}"))
    }

    /// Runs an admin console command (`SHOW POOLS`, `SHOW SERVERS`, …) and
    /// returns its rows keyed by column name.
    pub fn bouncer_show(&self, what: &str) -> Vec<HashMap<String, String>> {
        let mut cmd = psql_command(self.bouncer_port, "pgbouncer");
        cmd.args(["-A", "-F", "\x1f", "-P", "footer=off", "-c"])
            .arg(format!("SHOW {what}"));
        let out = run(&mut cmd, SQL_TIMEOUT);
        assert!(
            out.status.success(),
            "SHOW {what} on PgBouncer's console failed: {}",
            combined(&out)
        );
        let text = String::from_utf8_lossy(&out.stdout);
        let mut lines = text.lines();
        let header: Vec<&str> = lines.next().unwrap_or_default().split('\x1f').collect();
        lines
            .map(|l| {
                header
                    .iter()
                    .zip(l.split('\x1f'))
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect()
            })
            .collect()
    }

    /// PostgreSQL's Unix socket, with the role `mastodon` and the database
    /// `mastodon_production` made (once) as Mastodon's defaults name them:
    /// for setups that need a database to answer and nothing more.
    pub fn mastodon_socket(&self) -> PathBuf {
        static MADE: OnceLock<()> = OnceLock::new();
        MADE.get_or_init(|| {
            self.psql(
                "postgres",
                "DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'mastodon') \
                 THEN CREATE ROLE mastodon LOGIN CREATEDB; END IF; END $$",
            );
            self.create_database("mastodon_production");
            // Owned by the role, with Rails' own table: a backup of it is
            // the backup of a Rails database.
            self.psql(
                "postgres",
                "ALTER DATABASE mastodon_production OWNER TO mastodon",
            );
            self.psql(
                "mastodon_production",
                "SET ROLE mastodon; CREATE TABLE schema_migrations (version varchar PRIMARY KEY)",
            );
        });
        self.run_dir.join(format!(".s.PGSQL.{}", self.pg_port))
    }

    /// Runs a command on PgBouncer's admin console (`RECONNECT db`, …).
    pub fn bouncer_console(&self, command: &str) -> String {
        psql_output(self.bouncer_port, "pgbouncer", command, SQL_TIMEOUT)
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// `psql` on PostgreSQL itself running `sql` in the background (a
    /// session that stays busy); killed on drop.
    pub fn background_psql(&self, db: &str, sql: &str) -> Background {
        let mut cmd = psql_command(self.pg_port, db);
        cmd.arg("-Atc")
            .arg(sql)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        Background(cmd.spawn().expect("psql"), None)
    }

    /// `psql` on PostgreSQL itself that runs `sql` and then stays
    /// connected, idle, until dropped (an interrupted console).
    pub fn idle_psql(&self, db: &str, sql: &str) -> Background {
        use std::io::Write;
        let mut cmd = psql_command(self.pg_port, db);
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let mut child = cmd.spawn().expect("psql");
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(format!("{sql};\n").as_bytes()).unwrap();
        stdin.flush().unwrap();
        Background(child, Some(stdin))
    }

    /// Number of advisory locks currently held in database `db` (a failed
    /// migration through PgBouncer leaves Rails' lock behind).
    pub fn advisory_locks(&self, db: &str) -> usize {
        self.psql(
            "postgres",
            &format!(
                "SELECT count(*) FROM pg_locks l JOIN pg_database d ON d.oid = l.database \
                 WHERE l.locktype = 'advisory' AND l.granted AND d.datname = '{db}'"
            ),
        )
        .parse()
        .expect("count(*)")
    }

    /// Are both servers still running?
    pub fn alive(&self) -> bool {
        let k = keeper();
        k.exit_status(self.pg_pid).is_none() && k.exit_status(self.bouncer_pid).is_none()
    }
}

/// A child killed (and reaped) on drop, with its standard input when it
/// is kept open.
pub struct Background(Child, Option<std::process::ChildStdin>);

impl Drop for Background {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn bouncer_config(pg_port: u16, port: u16, run_dir: &Path, userlist: &Path) -> String {
    format!(
        "[databases]\n\
         * = host=127.0.0.1 port={pg_port}\n\
         \n\
         [pgbouncer]\n\
         listen_addr = 127.0.0.1\n\
         listen_port = {port}\n\
         unix_socket_dir = {run}\n\
         auth_type = trust\n\
         auth_file = {userlist}\n\
         admin_users = postgres\n\
         stats_users = postgres\n\
         pool_mode = transaction\n\
         default_pool_size = {POOL_SIZE}\n\
         min_pool_size = 0\n\
         reserve_pool_size = 0\n\
         max_client_conn = 1000\n\
         server_idle_timeout = {SERVER_IDLE_TIMEOUT}\n\
         application_name_add_host = 1\n\
         ignore_startup_parameters = extra_float_digits\n\
         log_connections = 0\n\
         log_disconnections = 0\n",
        run = run_dir.display(),
        userlist = userlist.display(),
    )
}

fn spawn_server(mut cmd: Command, log: &Path, death_signal: Signal) -> Result<u32, String> {
    let out = fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .map_err(|e| format!("{}: {e}", log.display()))?;
    let err = out.try_clone().map_err(|e| e.to_string())?;
    cmd.stdout(out).stderr(err).process_group(0);
    die_with_parent(&mut cmd, death_signal);
    let what = describe(&cmd);
    let pid = keeper()
        .spawn(cmd)
        .map_err(|e| format!("cannot start {what}: {e}"))?;
    register_pid(pid);
    Ok(pid)
}

fn wait_until_ready(
    pid: u32,
    timeout: Duration,
    log: &Path,
    mut probe: impl FnMut() -> Result<String, String>,
) -> Result<(), String> {
    let mut last = String::new();
    crate::harness::wait_until(timeout, Duration::from_millis(100), || {
        if let Some(status) = keeper().exit_status(pid) {
            return Err(format!(
                "exited ({status}); log {}:\n{}",
                log.display(),
                file_tail(log, 30)
            ));
        }
        match probe() {
            Ok(_) => Ok(true),
            Err(e) => {
                last = e;
                Ok(false)
            }
        }
    })
    .map_err(|gone| {
        if let Some(exited) = gone {
            return exited;
        }
        let _ = killpg(Pid::from_raw(pid as i32), Signal::SIGKILL);
        format!(
            "not answering after {timeout:?} (last error: {}); log {}:\n{}",
            last.trim(),
            log.display(),
            file_tail(log, 30)
        )
    })
}

/// The process-wide scratch directory (under [`crate::harness::test_base`])
/// holding the servers' data, the Rails apps and the load scripts. A detached `sh` watchdog removes it once the test process is
/// gone, however it ended, after making sure no process started from it
/// (servers, pgbench) survives.
pub fn scratch_root() -> &'static Path {
    static ROOT: OnceLock<PathBuf> = OnceLock::new();
    ROOT.get_or_init(|| {
        let root = tempfile::Builder::new()
            .prefix("tge")
            .tempdir_in(crate::harness::test_base())
            .expect("cannot create the e2e scratch directory")
            .keep();
        // The servers run as `postgres` below it.
        fs::set_permissions(&root, fs::Permissions::from_mode(0o755)).expect("chmod");
        fs::create_dir(root.join("pids")).expect("mkdir pids");
        spawn_cleanup_watchdog(&root);
        root
    })
}

/// A fresh directory under [`scratch_root`], removed on drop.
pub fn scratch_dir(prefix: &str) -> TempDir {
    tempfile::Builder::new()
        .prefix(prefix)
        .tempdir_in(scratch_root())
        .expect("cannot create a scratch directory")
}

/// Tells the watchdog about a process to kill if it outlives the tests.
fn register_pid(pid: u32) {
    let _ = fs::write(scratch_root().join("pids").join(pid.to_string()), "");
}

fn unregister_pid(pid: u32) {
    let _ = fs::remove_file(scratch_root().join("pids").join(pid.to_string()));
}

/// Its stdio is /dev/null so that nobody waiting for the test's output waits
/// for it; it runs in its own process group and ignores HUP/INT, so Ctrl-C
/// or a CI runner killing the test's group does not stop it. A registered
/// pid is only killed while its command line still names the scratch
/// directory (no harm if the pid was reused), and zombies count as gone.
fn spawn_cleanup_watchdog(root: &Path) {
    let script = r#"
        trap '' HUP INT
        test_pid=$1; dir=$2
        while kill -0 "$test_pid" 2>/dev/null; do sleep 1; done
        ours() { grep -qaF -- "$dir" "/proc/$1/cmdline" 2>/dev/null; }
        any_left() {
            for f in "$dir"/pids/*; do
                [ -e "$f" ] && ours "${f##*/}" && return 0
            done
            return 1
        }
        i=0
        while any_left && [ $i -lt 10 ]; do sleep 1; i=$((i+1)); done
        for f in "$dir"/pids/*; do
            [ -e "$f" ] && ours "${f##*/}" && kill -KILL "${f##*/}" 2>/dev/null
        done
        i=0
        while any_left && [ $i -lt 5 ]; do sleep 1; i=$((i+1)); done
        rm -rf -- "$dir"
    "#;
    let mut cmd = Command::new("/bin/sh");
    cmd.arg("-c")
        .arg(script)
        .arg("tootguard-e2e-cleanup")
        .arg(std::process::id().to_string())
        .arg(root)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0);
    if let Err(e) = cmd.spawn() {
        eprintln!(
            "e2e: cannot start the cleanup watchdog ({e}); {} will stay behind",
            root.display()
        );
    }
}

fn psql_command(port: u16, db: &str) -> Command {
    let mut cmd = Command::new(require_pg_bin("psql"));
    scrub_env(&mut cmd);
    cmd.env("PGCONNECT_TIMEOUT", "5").args([
        "-X",
        "-q",
        "-v",
        "ON_ERROR_STOP=1",
        "-h",
        "127.0.0.1",
        "-p",
        &port.to_string(),
        "-U",
        "postgres",
        "-d",
        db,
    ]);
    cmd
}

fn psql_output(port: u16, db: &str, sql: &str, timeout: Duration) -> Result<String, String> {
    let mut cmd = psql_command(port, db);
    cmd.arg("-Atc").arg(sql);
    let out = try_run(&mut cmd, timeout)?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    } else {
        Err(format!(
            "psql -p {port} -d {db} -c {sql:?} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

// ---------------------------------------------------------------------------
// Rails app
// ---------------------------------------------------------------------------

/// A minimal hand-written Rails 6.1 app shaped like a Mastodon root
/// (`bin/tootctl` + `config/application.rb`), whose migrations record the
/// route they took.
pub struct RailsApp {
    dir: TempDir,
    db_name: String,
    bouncer_port: u16,
}

/// Versions of the app's migrations, in order.
pub const MIGRATION_VERSIONS: [&str; 6] = [
    "20240101000001",
    "20240101000002",
    "20240101000003",
    "20240101000004",
    "20240101000005",
    "20240101000006",
];

const APP_FILES: &[(&str, &str)] = &[
    ("Rakefile", RAKEFILE),
    ("config.ru", CONFIG_RU),
    ("config/boot.rb", BOOT_RB),
    ("config/application.rb", APPLICATION_RB),
    ("config/environment.rb", ENVIRONMENT_RB),
    ("config/environments/production.rb", PRODUCTION_RB),
    ("config/database.yml", DATABASE_YML),
];

const EXECUTABLES: &[(&str, &str)] = &[
    ("bin/rails", BIN_RAILS),
    ("bin/rake", BIN_RAKE),
    ("bin/tootctl", BIN_TOOTCTL),
];

const RAKEFILE: &str = "\
require_relative 'config/application'

Rails.application.load_tasks
";

const CONFIG_RU: &str = "\
require_relative 'config/environment'

run Rails.application
";

/// Like Mastodon's: refuses to start without RAILS_ENV (presence only).
const BOOT_RB: &str = "\
unless ENV.key?('RAILS_ENV')
  abort <<~ERROR
    The RAILS_ENV environment variable is not set.

    Please set it correctly depending on context:

    - Use \"RAILS_ENV=production\" when using Mastodon in production
  ERROR
end
";

/// Loads `.env.<env>.local`, `.env.local`, `.env.<env>`, `.env` from the
/// app root with the dotenv gem: the first value wins and variables already
/// in the environment are never overwritten (what dotenv's Rails
/// integration does for Mastodon).
const APPLICATION_RB: &str = "\
require_relative 'boot'

require 'rails'
require 'active_record/railtie'
require 'dotenv'

rails_env = ENV['RAILS_ENV'].to_s.empty? ? 'development' : ENV['RAILS_ENV']
Dotenv.load(
  *[\".env.#{rails_env}.local\", '.env.local', \".env.#{rails_env}\", '.env']
    .map { |name| File.expand_path(\"../#{name}\", __dir__) }
)

module TootguardE2e
  class Application < Rails::Application
    config.load_defaults 6.1
    config.root = File.expand_path('..', __dir__)
  end
end
";

const ENVIRONMENT_RB: &str = "\
require_relative 'application'

Rails.application.initialize!
";

const PRODUCTION_RB: &str = "\
Rails.application.configure do
  config.cache_classes = true
  config.eager_load = false
  config.log_level = :info
  config.logger = ActiveSupport::Logger.new($stderr)
  config.active_record.dump_schema_after_migration = false
end
";

/// Mastodon's production section (primary + replica). DATABASE_URL is merged
/// over `primary` by Rails itself.
const DATABASE_YML: &str = "\
default: &default
  adapter: postgresql
  pool: <%= ENV['DB_POOL'] || ENV['MAX_THREADS'] || 5 %>
  timeout: 5000
  connect_timeout: 15
  # Short and fixed: PostgreSQL cuts application names at 63 bytes, and
  # PgBouncer's ` - 127.0.0.1:<port>` mark (application_name_add_host) must
  # survive whatever path the app lives at.
  application_name: tootguard-e2e
  encoding: unicode
  sslmode: <%= ENV['DB_SSLMODE'] || 'prefer' %>

production:
  primary:
    <<: *default
    database: <%= ENV['DB_NAME'] || 'mastodon_production' %>
    username: <%= ENV['DB_USER'] || 'mastodon' %>
    password: <%= (ENV['DB_PASS'] || '').to_json %>
    host: <%= ENV['DB_HOST'] || 'localhost' %>
    port: <%= ENV['DB_PORT'] || 5432 %>
    prepared_statements: <%= ENV['PREPARED_STATEMENTS'] || 'true' %>
  replica:
    <<: *default
    database: <%= ENV['REPLICA_DB_NAME'] || ENV['DB_NAME'] || 'mastodon_production' %>
    username: <%= ENV['REPLICA_DB_USER'] || ENV['DB_USER'] || 'mastodon' %>
    password: <%= (ENV['REPLICA_DB_PASS'] || ENV['DB_PASS'] || '').to_json %>
    host: <%= ENV['REPLICA_DB_HOST'] || ENV['DB_HOST'] || 'localhost' %>
    port: <%= ENV['REPLICA_DB_PORT'] || ENV['DB_PORT'] || 5432 %>
    prepared_statements: <%= ENV['REPLICA_PREPARED_STATEMENTS'] || ENV['PREPARED_STATEMENTS'] || 'true' %>
    replica: true
";

const BIN_RAILS: &str = "\
#!/usr/bin/env ruby
APP_PATH = File.expand_path('../config/application', __dir__)
require_relative '../config/boot'
require 'rails/commands'
";

const BIN_RAKE: &str = "\
#!/usr/bin/env ruby
require_relative '../config/boot'
require 'rake'
Rake.application.run
";

const BIN_TOOTCTL: &str = "\
#!/usr/bin/env ruby
require_relative '../config/boot'
puts \"tootctl stub: #{ARGV.join(' ')}\"
";

fn migration_source(index: usize, version: &str) -> String {
    let n = index + 1;
    format!(
        "\
class CreateThings{n} < ActiveRecord::Migration[6.1]
  def up
    execute 'CREATE TABLE IF NOT EXISTS migration_routes (version text PRIMARY KEY, application_name text NOT NULL, server_port integer, backend_pid integer)'
    create_table :things_{n} do |t|
      t.string :name
      t.timestamps
    end
    # Which way did we come? Through PgBouncer (application_name_add_host = 1)
    # the application name ends in ' - <client host>:<port>'.
    execute \"INSERT INTO migration_routes (version, application_name, server_port, backend_pid) \" \\
            \"VALUES ('{version}', current_setting('application_name'), inet_server_port(), pg_backend_pid())\"
  end

  def down
    drop_table :things_{n}
    execute \"DELETE FROM migration_routes WHERE version = '{version}'\"
  end
end
"
    )
}

impl RailsApp {
    /// Writes the app into a fresh temp dir, with `.env.production` pointing
    /// at PgBouncer (`DB_HOST=127.0.0.1`, `DB_PORT=<bouncer_port>`,
    /// `DB_NAME=<db_name>`, `DB_USER=postgres`, `PREPARED_STATEMENTS=false`).
    pub fn new(db_name: &str, bouncer_port: u16) -> RailsApp {
        ensure_packages();
        let dir = scratch_dir("app");
        let app = RailsApp {
            dir,
            db_name: db_name.to_string(),
            bouncer_port,
        };
        for (path, contents) in APP_FILES {
            app.write_file(path, contents);
        }
        for (path, contents) in EXECUTABLES {
            app.write_file(path, contents);
            fs::set_permissions(app.dir().join(path), fs::Permissions::from_mode(0o755))
                .expect("chmod");
        }
        for (i, version) in MIGRATION_VERSIONS.iter().enumerate() {
            app.write_file(
                &format!("db/migrate/{version}_create_things_{}.rb", i + 1),
                &migration_source(i, version),
            );
        }
        app.write_env_production(&app.default_env_production());
        app
    }

    /// Shorthand for `RailsApp::new(db, servers.bouncer_port())`.
    pub fn behind_bouncer(servers: &Servers, db_name: &str) -> RailsApp {
        RailsApp::new(db_name, servers.bouncer_port())
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn db_name(&self) -> &str {
        &self.db_name
    }

    /// The `.env.production` written by [`RailsApp::new`].
    pub fn default_env_production(&self) -> String {
        format!(
            "DB_HOST=127.0.0.1\nDB_PORT={}\nDB_NAME={}\nDB_USER=postgres\nPREPARED_STATEMENTS=false\n",
            self.bouncer_port, self.db_name
        )
    }

    pub fn write_env_production(&self, contents: &str) {
        self.write_file(".env.production", contents);
    }

    /// Writes any file relative to the app root (e.g. `.env`,
    /// `.env.production.local`), creating parent directories.
    pub fn write_file(&self, relative: &str, contents: &str) {
        let path = self.dir().join(relative);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).expect("mkdir");
        }
        fs::write(&path, contents).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    }

    /// `bin/<name>` (rails, rake, tootctl) with the app root as working
    /// directory, DB-related inherited variables removed and
    /// `RAILS_ENV=production`.
    pub fn command(&self, name: &str) -> Command {
        let mut cmd = Command::new(self.dir().join("bin").join(name));
        scrub_env(&mut cmd)
            .current_dir(self.dir())
            .env("RAILS_ENV", "production");
        cmd
    }

    /// `RAILS_ENV=production bin/rails db:migrate` plus `envs`, bounded by
    /// [`RAILS_TIMEOUT`].
    pub fn migrate(&self, envs: &[(&str, &str)]) -> Output {
        let mut cmd = self.command("rails");
        cmd.arg("db:migrate").envs(envs.iter().copied());
        run(&mut cmd, RAILS_TIMEOUT)
    }

    /// `(version, application_name)` of every migration that ran, in version
    /// order.
    pub fn routes(&self, servers: &Servers) -> Vec<(String, String)> {
        self.route_rows(servers)
            .into_iter()
            .map(|r| (r.version, r.application_name))
            .collect()
    }

    /// Full rows of `migration_routes`, in version order.
    pub fn route_rows(&self, servers: &Servers) -> Vec<Route> {
        if !self.table_exists(servers, "migration_routes") {
            return Vec::new();
        }
        servers
            .psql(
                &self.db_name,
                "SELECT version, application_name, server_port, backend_pid \
                 FROM migration_routes ORDER BY version",
            )
            .lines()
            .filter(|l| !l.is_empty())
            .map(|l| {
                let f: Vec<&str> = l.split('|').collect();
                Route {
                    version: f[0].to_string(),
                    application_name: f[1].to_string(),
                    server_port: f[2].parse().unwrap_or(0),
                    backend_pid: f[3].parse().unwrap_or(0),
                }
            })
            .collect()
    }

    /// Versions recorded in `schema_migrations`, in order.
    pub fn applied_versions(&self, servers: &Servers) -> Vec<String> {
        if !self.table_exists(servers, "schema_migrations") {
            return Vec::new();
        }
        servers
            .psql(
                &self.db_name,
                "SELECT version FROM schema_migrations ORDER BY version",
            )
            .lines()
            .filter(|l| !l.is_empty())
            .map(str::to_string)
            .collect()
    }

    fn table_exists(&self, servers: &Servers, table: &str) -> bool {
        servers.psql(
            &self.db_name,
            &format!("SELECT to_regclass('public.{table}') IS NOT NULL"),
        ) == "t"
    }
}

/// One row of `migration_routes`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub version: String,
    pub application_name: String,
    pub server_port: u16,
    pub backend_pid: u32,
}

/// The migration succeeded, applied every version, none of them through
/// PgBouncer, and left no migration lock behind.
#[track_caller]
pub fn assert_all_direct(app: &RailsApp, servers: &Servers, out: &Output) {
    let text = combined(out);
    assert!(
        out.status.success(),
        "migration failed ({}):\n{text}",
        out.status
    );
    assert_eq!(
        app.applied_versions(servers),
        MIGRATION_VERSIONS.to_vec(),
        "{text}"
    );
    let routes = app.routes(servers);
    assert_eq!(routes.len(), MIGRATION_VERSIONS.len(), "{routes:?}");
    for (version, application_name) in &routes {
        assert!(
            !passed_through_pgbouncer(application_name),
            "migration {version} went through PgBouncer ({application_name:?})"
        );
    }
    assert_eq!(
        servers.advisory_locks(app.db_name()),
        0,
        "a migration lock leaked"
    );
}

/// Did a session with this `application_name` come through PgBouncer? With
/// `application_name_add_host = 1` PgBouncer appends ` - <host>:<port>`.
pub fn passed_through_pgbouncer(application_name: &str) -> bool {
    application_name
        .rsplit_once(" - ")
        .is_some_and(|(_, addr)| addr.parse::<SocketAddr>().is_ok())
}

// ---------------------------------------------------------------------------
// Load
// ---------------------------------------------------------------------------

/// What each pgbench transaction runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoadScript {
    /// `SELECT 1;` as fast as possible: the plain busy-instance case. The
    /// migration then fails only when the unlock lands on another server
    /// connection than the lock, i.e. most of the time, not always.
    SelectOne,
    /// Every transaction checks whether its server connection holds an
    /// advisory lock (Rails' migration lock) and, if so, keeps that server
    /// busy for a while. Otherwise it is a cheap query. This models "the
    /// lock's server connection is in use by someone else when the unlock
    /// comes", so a migration through PgBouncer fails every time.
    HoldLockServer,
}

impl LoadScript {
    fn sql(self) -> String {
        match self {
            LoadScript::SelectOne => "SELECT 1;\n".into(),
            LoadScript::HoldLockServer => format!(
                "SELECT CASE WHEN EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' \
                 AND pid = pg_backend_pid() AND granted) THEN pg_sleep({PIN_SECONDS}) END;\n"
            ),
        }
    }
}

/// pgbench running through PgBouncer against one database; stops by itself
/// after [`LOAD_SECONDS`] and is killed on drop.
pub struct Load {
    child: Child,
    dir: TempDir,
    db: String,
    script: LoadScript,
}

impl Load {
    /// `pgbench -n -c <clients> -j 2 -T 45 -f <SELECT 1;>` through PgBouncer
    /// as `postgres` on `db`; returns once every client is connected and
    /// transactions are flowing.
    pub fn start(servers: &Servers, db: &str, clients: u32) -> Load {
        Load::start_with(servers, db, clients, LoadScript::SelectOne)
    }

    /// Same, with [`LoadScript::HoldLockServer`].
    pub fn holding_lock_server(servers: &Servers, db: &str, clients: u32) -> Load {
        Load::start_with(servers, db, clients, LoadScript::HoldLockServer)
    }

    pub fn start_with(servers: &Servers, db: &str, clients: u32, script: LoadScript) -> Load {
        assert!(clients >= 1, "at least one client");
        let dir = scratch_dir("load");
        let script_path = dir.path().join("load.sql");
        fs::write(&script_path, script.sql()).expect("write load.sql");
        let log_path = dir.path().join("pgbench.log");
        let log = fs::File::create(&log_path).expect("pgbench.log");
        let mut cmd = Command::new(require_pg_bin("pgbench"));
        scrub_env(&mut cmd)
            .env("PGCONNECT_TIMEOUT", "5")
            .args(["-n", "-c", &clients.to_string()])
            .args(["-j", &clients.min(2).to_string()])
            .args(["-T", &LOAD_SECONDS.to_string()])
            .arg("-f")
            .arg(&script_path)
            .args(["-h", "127.0.0.1", "-p", &servers.bouncer_port().to_string()])
            .args(["-U", "postgres", db])
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("dup"))
            .stderr(log)
            .process_group(0);
        die_with_parent(&mut cmd, Signal::SIGKILL);
        let child = cmd.spawn().expect("cannot start pgbench");
        register_pid(child.id());
        let mut load = Load {
            child,
            dir,
            db: db.to_string(),
            script,
        };
        load.wait_until_flowing(servers, clients);
        load
    }

    fn wait_until_flowing(&mut self, servers: &Servers, clients: u32) {
        let (mut connected, mut xacts) = (0, 0);
        let waited =
            crate::harness::wait_until(Duration::from_secs(20), Duration::from_millis(100), || {
                if !self.is_running() {
                    return Err(format!("pgbench exited early:\n{}", tail(&self.log(), 30)));
                }
                connected = servers
                    .bouncer_show("CLIENTS")
                    .iter()
                    .filter(|r| r.get("database").map(String::as_str) == Some(self.db.as_str()))
                    .count();
                xacts = servers
                    .bouncer_show("STATS")
                    .iter()
                    .find(|r| r.get("database").map(String::as_str) == Some(self.db.as_str()))
                    .and_then(|r| r.get("total_xact_count")?.parse().ok())
                    .unwrap_or(0u64);
                Ok(connected >= clients as usize && xacts > 0)
            });
        match waited {
            Ok(()) => {}
            Err(Some(exited)) => panic!("{exited}"),
            Err(None) => panic!(
                "pgbench load did not get going ({connected}/{clients} clients connected, {xacts} transactions):\n{}\nPgBouncer log:\n{}",
                tail(&self.log(), 30),
                servers.bouncer_log_tail(20)
            ),
        }
    }

    pub fn script(&self) -> LoadScript {
        self.script
    }

    /// Is pgbench still running (it stops by itself after [`LOAD_SECONDS`])?
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// pgbench's output so far.
    pub fn log(&self) -> String {
        fs::read_to_string(self.dir.path().join("pgbench.log")).unwrap_or_default()
    }

    /// Kills pgbench and returns its output.
    pub fn stop(mut self) -> String {
        self.kill();
        self.log()
    }

    fn kill(&mut self) {
        let _ = killpg(Pid::from_raw(self.child.id() as i32), Signal::SIGKILL);
        let _ = self.child.kill();
        let _ = self.child.wait();
        unregister_pid(self.child.id());
    }
}

impl Drop for Load {
    fn drop(&mut self) {
        self.kill();
    }
}

/// `db:migrate` straight through PgBouncer — no tootguard — under the
/// lock-holding load, each attempt on a fresh database, until one fails.
/// The modelled load makes the failure near-certain, not certain (on a
/// loaded machine a run can finish before a load client lands on the
/// lock's server connection), so a control gets a few attempts: any failure
/// proves the tests can fail. `Err` holds every output when none failed.
pub fn migrate_through_pgbouncer_until_it_fails(
    servers: &Servers,
    prefix: &str,
    attempts: usize,
    clients: u32,
) -> Result<Output, Vec<Output>> {
    let mut outputs = Vec::new();
    for _ in 0..attempts {
        let db = servers.fresh_database(prefix);
        let app = RailsApp::behind_bouncer(servers, &db);
        let load = Load::holding_lock_server(servers, &db, clients);
        let out = app.migrate(&[]);
        drop(load);
        if !out.status.success() {
            return Ok(out);
        }
        outputs.push(out);
    }
    Err(outputs)
}

// ---------------------------------------------------------------------------
// tootguard in an app
// ---------------------------------------------------------------------------

/// `tootguard rails ARGS` in the app, with no RAILS_ENV (tootguard adds it)
/// and nothing inherited that names a database.
pub fn through_tootguard(app: &RailsApp, args: &[&str], envs: &[(&str, &str)]) -> Output {
    let mut cmd = tootguard_in(app);
    cmd.arg("rails").args(args).envs(envs.iter().copied());
    run(&mut cmd, RAILS_TIMEOUT)
}

/// `rails ARGS` in the app through a `rails` shim linked to
/// `tootguard-shim`, as `tootguard install` makes it (the shim hands
/// migrations to `tootguard`).
pub fn through_shim(app: &RailsApp, args: &[&str]) -> Output {
    let shims = scratch_dir("shims");
    let rails = shims.path().join("rails");
    std::os::unix::fs::symlink(crate::harness::shim_binary(), &rails).expect("symlink");
    let path = std::env::var("PATH").unwrap_or_default();
    let mut cmd = Command::new(&rails);
    scrub_env(&mut cmd)
        .env_remove("RAILS_ENV")
        .env_remove("TOOTGUARD_EXEC")
        .env("NO_COLOR", "1")
        .env("PATH", format!("{}:{path}", shims.path().display()))
        .stdin(Stdio::null())
        .current_dir(app.dir())
        .args(args);
    run(&mut cmd, RAILS_TIMEOUT)
}

/// `tootguard` in the app, with no RAILS_ENV and nothing inherited that
/// names a database; standard input is empty (no terminal).
pub fn tootguard_in(app: &RailsApp) -> Command {
    let mut cmd = Command::new(crate::harness::tootguard());
    scrub_env(&mut cmd)
        .env_remove("RAILS_ENV")
        .env_remove("TOOTGUARD_EXEC")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .current_dir(app.dir());
    cmd
}

/// Like Mastodon's `config/initializers/0_post_deployment_migrations.rb`:
/// `db/post_migrate` is a migration path unless the variable is present.
pub const POST_DEPLOY_INITIALIZER: &str = "\
unless ENV.key?('SKIP_POST_DEPLOYMENT_MIGRATIONS')
  path = Rails.root.join('db', 'post_migrate').to_s
  Rails.application.config.paths['db/migrate'] << path
  ActiveRecord::Migrator.migrations_paths << path
end
";

pub const POST_VERSION: &str = "20240201000001";

pub fn post_migration() -> String {
    format!(
        "\
class DropThings1 < ActiveRecord::Migration[6.1]
  def up
    drop_table :things_1
    execute \"INSERT INTO migration_routes (version, application_name, server_port, backend_pid) \" \\
            \"VALUES ('{POST_VERSION}', current_setting('application_name'), inet_server_port(), pg_backend_pid())\"
  end
end
"
    )
}
