//! tootguard's own command line (clap derive; the `///` docs are the help).
//!
//! Reached only when argv[0] is not a shim name and the first argument is not
//! `rails`, `rake` or `tootctl`: those take the shim path in `main` before
//! clap is built. They are still declared here so that `--help` and the
//! generated completions show them.

pub mod backup;
pub mod complete;
pub mod completions;
pub mod doctor;
pub mod explain;
pub mod install;
pub mod release_lock;
pub mod uninstall;
pub mod upgrade;

use std::ffi::OsString;

use clap::{Parser, Subcommand};

use crate::invocation::{Shim, Tool};

/// Makes `rails`, `rake` and `tootctl` safe to type on a Mastodon server.
///
/// Installed as `rails`, `rake` and `tootctl` ahead of the real programs on
/// PATH (see `tootguard install`), it sets RAILS_ENV=production on a
/// production install, sends migrations around PgBouncer, checks memory
/// before assets:precompile, then execs the real program.
#[derive(Debug, Parser)]
#[command(
    name = "tootguard",
    version,
    propagate_version = true,
    after_long_help = crate::reference::long_help_tail()
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    Explain(explain::Args),
    Install(install::Args),
    Uninstall(uninstall::Args),
    Completions(completions::Args),
    Doctor(doctor::Args),
    Upgrade(upgrade::Args),
    Backup(backup::Args),
    #[command(name = "__complete", hide = true)]
    Complete(complete::Args),
    ReleaseLock(release_lock::Args),
    /// Run Mastodon's bin/rails through the guards (same as the `rails` shim)
    #[command(disable_help_flag = true, disable_version_flag = true)]
    Rails(ShimArgs),
    /// Run Mastodon's bin/rake through the guards (same as the `rake` shim)
    #[command(disable_help_flag = true, disable_version_flag = true)]
    Rake(ShimArgs),
    /// Run Mastodon's bin/tootctl through the guards (same as the `tootctl` shim)
    #[command(disable_help_flag = true, disable_version_flag = true)]
    Tootctl(ShimArgs),
    /// Run ruby, guarding `ruby bin/rails …` (same as the `ruby` shim)
    #[command(disable_help_flag = true, disable_version_flag = true)]
    Ruby(ShimArgs),
    /// Run bundle, guarding `bundle exec rails …` (same as the `bundle` shim)
    #[command(disable_help_flag = true, disable_version_flag = true)]
    Bundle(ShimArgs),
}

#[derive(Debug, clap::Args)]
pub struct ShimArgs {
    /// Arguments passed to the real program untouched
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub args: Vec<OsString>,
}

/// Parses tootguard's own command line and runs the subcommand.
pub fn run(argv0: OsString, rest: Vec<OsString>) -> anyhow::Result<u8> {
    let cli = match Cli::try_parse_from(std::iter::once(argv0).chain(rest)) {
        Ok(cli) => cli,
        Err(err) => {
            // Help and version go to stdout with status 0; usage errors to
            // stderr with clap's status (2).
            anyhow::Context::context(err.print(), "cannot write the help")?;
            return Ok(u8::try_from(err.exit_code()).unwrap_or(crate::exit::USAGE));
        }
    };
    match cli.command {
        Command::Explain(args) => explain::run(args),
        Command::Install(args) => install::run(args),
        Command::Uninstall(args) => uninstall::run(args),
        Command::Completions(args) => completions::run(args),
        Command::Doctor(args) => doctor::run(args),
        Command::Upgrade(args) => upgrade::run(args),
        Command::Backup(args) => backup::run(args),
        Command::Complete(args) => complete::run(args),
        Command::ReleaseLock(args) => release_lock::run(args),
        // Unreachable from a real command line (main takes these first), but
        // kept correct: the explicit form is the shim path.
        Command::Rails(a) => shim(Shim::Tool(Tool::Rails), a),
        Command::Rake(a) => shim(Shim::Tool(Tool::Rake), a),
        Command::Tootctl(a) => shim(Shim::Tool(Tool::Tootctl), a),
        Command::Ruby(a) => shim(Shim::Ruby, a),
        Command::Bundle(a) => shim(Shim::Bundle, a),
    }
}

fn shim(shim: Shim, args: ShimArgs) -> anyhow::Result<u8> {
    crate::shim::run(shim, shim.name().into(), args.args)
}

/// Asks on the terminal; only `y`/`yes` is a yes. Callers check stdin is a
/// terminal first: nothing prompts without one.
pub fn confirm(question: &str) -> bool {
    use std::io::{BufRead, Write};
    let mut stderr = std::io::stderr().lock();
    let _ = stderr.write_all(question.as_bytes());
    let _ = stderr.flush();
    let mut line = String::new();
    match std::io::stdin().lock().read_line(&mut line) {
        Ok(n) if n > 0 => matches!(line.trim().to_ascii_lowercase().as_str(), "y" | "yes"),
        _ => false,
    }
}

/// The clap command, for completions.
pub fn command() -> clap::Command {
    <Cli as clap::CommandFactory>::command()
}
