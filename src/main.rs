//! tootguard: stands ahead of `rails`, `rake` and `tootctl` on a Mastodon
//! server's PATH, makes the command safe (RAILS_ENV, PgBouncer, memory), then
//! execs the real program.
//!
//! `main` only decides which of the two faces runs — the shim (argv[0] is a
//! shim name, or `tootguard rails|rake|tootctl …`) or the CLI — and turns the
//! outcome into an exit status in one place (`exit.rs`). The shim decision is
//! taken before clap is built, so `tootctl --help` reaches tootctl untouched.

mod cli;
mod config;
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

use std::process::ExitCode;

use invocation::Tool;

fn main() -> ExitCode {
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
