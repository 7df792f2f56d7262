//! tootguard: stands ahead of `rails`, `rake` and `tootctl` on a Mastodon
//! server's PATH, makes the command safe (RAILS_ENV, PgBouncer, memory), then
//! execs the real program.
//!
//! Two binaries share this library: `tootguard`, the command line (and the
//! shim path when called as `rails`, `rake` or `tootctl`), and
//! `tootguard-shim`, the shim path alone, which `tootguard install` links
//! the shims to. The split keeps clap, the PostgreSQL client and the JSON
//! writers out of the process that starts before every admin command: about
//! 200 µs and a third of its instructions (measured, benches/README.md).
//! Each binary's `main` only picks its entry point here; outcomes become
//! exit statuses in one place (`exit.rs`).

mod backup;
mod cli;
mod complete;
mod config;
mod database;
mod environment;
mod exec;
mod exit;
mod files;
mod guards;
mod invocation;
mod launch;
mod marker;
mod process;
mod quote;
mod redact;
#[doc(hidden)]
pub mod reference;
mod release;
mod report;
mod resolve;
mod settings;
mod shim;
mod site;
mod spelling;
mod state;
mod thor;
mod tootctl_source;
mod tootctl_tree;

use std::ffi::OsString;

use invocation::Shim;

/// What a binary's C `main` does around its entry point.
///
/// Both binaries are `#![no_main]`: std's runtime start-up (it probes the
/// main thread's stack through `/proc/self/maps`) cost the shim about 90 µs
/// (measured, benches/README.md). What it would have done that matters here
/// is done by hand: descriptors 0–2 are made valid, SIGPIPE is ignored (std's
/// exec restores the default for the program), and stdout is flushed before
/// returning. `std::env::args_os` still works because glibc hands argv to
/// std's initialiser (so no musl build).
pub fn enter(run: fn() -> u8) -> std::ffi::c_int {
    open_standard_descriptors();
    // SAFETY: no other thread exists yet; ignoring a signal is always sound.
    unsafe {
        let _ = nix::sys::signal::signal(
            nix::sys::signal::Signal::SIGPIPE,
            nix::sys::signal::SigHandler::SigIgn,
        );
    }
    let code = run();
    let _ = std::io::Write::flush(&mut std::io::stdout());
    std::ffi::c_int::from(code)
}

/// Makes descriptors 0, 1 and 2 valid (`/dev/null`) when tootguard was
/// started with one closed (`2>&-`, some cron and daemon set-ups), as std's
/// runtime start-up would have: otherwise the first file or socket
/// tootguard opens becomes "standard error", and a message printed while it
/// is open goes into `.env.production` or the PostgreSQL probe. The program
/// tootguard execs inherits `/dev/null` there, as it would from any Rust
/// program in between.
fn open_standard_descriptors() {
    for fd in 0..=2 {
        // SAFETY: F_GETFD only asks about a descriptor; open(2) takes a
        // NUL-terminated path. No other thread exists yet.
        unsafe {
            if nix::libc::fcntl(fd, nix::libc::F_GETFD) == -1
                && nix::errno::Errno::last() == nix::errno::Errno::EBADF
            {
                // The lowest free descriptor: this one.
                nix::libc::open(c"/dev/null".as_ptr(), nix::libc::O_RDWR);
            }
        }
    }
}

/// Defines a binary's C `main`, which runs `$entry` through [`enter`].
/// Both binaries are `#![no_main]` (see [`enter`] for why); the unit-test
/// harness brings its own `main`, so there is none under `cfg(test)`.
#[macro_export]
macro_rules! c_main {
    ($entry:path) => {
        /// The process entry point, called by the C runtime.
        #[cfg(not(test))]
        #[unsafe(no_mangle)]
        pub extern "C" fn main(
            _argc: ::std::ffi::c_int,
            _argv: *const *const ::std::ffi::c_char,
        ) -> ::std::ffi::c_int {
            $crate::enter($entry)
        }
    };
}

/// `tootguard`: the shim when argv[0] is a shim name (or for
/// `tootguard tootctl …`), the command line otherwise. The shim decision is
/// taken before clap is built, so `tootctl --help` reaches tootctl untouched.
pub fn tootguard() -> u8 {
    guards::enable_migration_guards();
    let (argv0, rest) = argv();
    let outcome = if let Some(shim) = Shim::from_argv0(&argv0) {
        shim::run(shim, argv0, rest)
    } else if let Some(shim) = rest.first().and_then(|a| Shim::from_name(a)) {
        // `tootguard tootctl ARGS…`: exactly the shim path, typed explicitly.
        let name = rest[0].clone();
        shim::run(shim, name, rest[1..].to_vec())
    } else {
        exit::quiet_on_closed_pipe(cli::run(argv0, rest))
    };
    exit::finish(outcome)
}

/// `tootguard-shim`: the shim path, for argv[0] `rails`, `rake`, `tootctl`,
/// `ruby` or `bundle`.
pub fn tootguard_shim() -> u8 {
    // The client is not linked into this binary: `tootguard` beside it asks.
    let (argv0, rest) = argv();
    let outcome = match Shim::from_argv0(&argv0) {
        Some(shim) => shim::run(shim, argv0, rest),
        None => Err(exit::Failure::error(
            exit::USAGE,
            format!(
                "{} is the shim behind `rails`, `rake`, `tootctl`, `ruby` and `bundle`: it \
                 runs under one of those names, through the links `tootguard install` makes. \
                 For tootguard's own commands run `tootguard --help`.",
                argv0.to_string_lossy()
            ),
        )),
    };
    exit::finish(outcome)
}

fn argv() -> (OsString, Vec<OsString>) {
    let mut args = std::env::args_os();
    let argv0 = args.next().unwrap_or_default();
    (argv0, args.collect())
}
