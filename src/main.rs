//! tootguard: stands ahead of `rails`, `rake` and `tootctl` on a Mastodon
//! server's PATH, makes the command safe (RAILS_ENV, PgBouncer, memory), then
//! execs the real program.
//!
//! `main` only decides which of the two faces runs — the shim (argv[0] is a
//! shim name, or `tootguard rails|rake|tootctl …`) or the CLI — and turns the
//! outcome into an exit status in one place (`exit.rs`). The shim decision is
//! taken before clap is built, so `tootctl --help` reaches tootctl untouched.
//!
//! `main` is the C entry point (`#![no_main]`): std's runtime start-up, which
//! probes the main thread's stack through `/proc/self/maps`, was a quarter of
//! the shim's start-up cost (measured, see the README's "Speed" section).
//! What it would have done that matters here is done by hand: SIGPIPE is
//! ignored, so a notice written to a closed pipe cannot kill tootguard
//! before the real program starts (std's exec restores the default for the
//! program), and stdout is flushed before returning.

// The unit-test harness brings its own `main`.
#![cfg_attr(not(test), no_main)]

mod cli;
mod config;
mod environment;
mod exec;
mod exit;
mod guards;
mod invocation;
mod redact;
mod report;
mod resolve;
mod settings;
mod shim;
mod tootctl_tree;

use invocation::Tool;

/// The process entry point, called by the C runtime. `std::env::args_os`
/// still works: glibc hands argv to std's initialiser before `main` runs.
#[cfg(not(test))]
#[unsafe(no_mangle)]
pub extern "C" fn main(
    _argc: std::ffi::c_int,
    _argv: *const *const std::ffi::c_char,
) -> std::ffi::c_int {
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

#[cfg_attr(test, allow(dead_code))]
fn run() -> u8 {
    let mut args = std::env::args_os();
    let argv0 = args.next().unwrap_or_default();
    let rest: Vec<_> = args.collect();
    let outcome = if let Some(tool) = Tool::from_argv0(&argv0) {
        shim::run(tool, argv0, rest)
    } else if let Some(tool) = rest.first().and_then(|a| Tool::from_name(a)) {
        // `tootguard tootctl ARGS…`: exactly the shim path, typed explicitly.
        let name = rest[0].clone();
        shim::run(tool, name, rest[1..].to_vec())
    } else {
        cli::run(argv0, rest)
    };
    exit::finish(outcome)
}
