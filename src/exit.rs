//! Exit statuses, and the one place where an outcome becomes one.
//!
//! Code below `main` never calls `process::exit`: it returns a status or an
//! error. An error carrying a [`Failure`] keeps its status; any other error is
//! a plain failure (1). Every error is printed here, once, with its cause
//! chain, through the redacting reporter.

use std::fmt;

/// Everything went as asked (or the CLI command succeeded).
pub const OK: u8 = 0;
/// tootguard itself failed: bad configuration, unreadable file, I/O error.
pub const FAILURE: u8 = 1;
/// The command line given to tootguard's own CLI is wrong (clap's status).
pub const USAGE: u8 = 2;
/// A guard blocked the command: the real program was not run.
pub const BLOCKED: u8 = 3;
/// The real program was found but cannot be executed (shell convention).
pub const NOT_EXECUTABLE: u8 = 126;
/// The real program was not found, or finding it would loop (shell convention).
pub const NOT_FOUND: u8 = 127;
/// The command line's output pipe was closed (`tootguard … | head`): the
/// status a shell shows for a program ended by SIGPIPE, which tootguard
/// ignores so that the shim cannot be killed by it.
pub const CLOSED_PIPE: u8 = 128 + 13;

/// One row of the exit statuses as the README's "Exit statuses" table,
/// `tootguard --help` and the EXIT STATUS section of tootguard(1) show
/// them: the status (`None` for "the program's own") and its meaning, in
/// Markdown.
pub struct Status {
    pub code: Option<u8>,
    pub meaning: &'static str,
}

/// Every status tootguard itself ends with, and the real program's: the one
/// list those three outputs are made from (a test holds the README to it).
pub const STATUSES: &[Status] = &[
    Status {
        code: None,
        meaning: "the real program ran (its exit status, or its death by a signal, is passed on untouched — tootguard is no longer there)",
    },
    Status {
        code: Some(FAILURE),
        meaning: "tootguard failed: bad `MASTODON_ROOT`, refused install; `doctor` found a failure; an `upgrade` step failed or the upgrade stopped",
    },
    Status {
        code: Some(USAGE),
        meaning: "wrong usage of tootguard's own command line, or `tootguard-shim` run under its own name instead of as `rails`, `rake` or `tootctl`",
    },
    Status {
        code: Some(BLOCKED),
        meaning: "a guard blocked the command, or the install could have been planted by someone else (see [What tootguard trusts](#what-tootguard-trusts)); the real program was not run",
    },
    Status {
        code: Some(NOT_EXECUTABLE),
        meaning: "the real program was found but cannot be executed",
    },
    Status {
        code: Some(NOT_FOUND),
        meaning: "the real program was not found, or running it would loop back into tootguard; for a migration, `tootguard` is not beside `tootguard-shim`",
    },
    Status {
        code: Some(CLOSED_PIPE),
        meaning: "tootguard's own command line stopped writing because the reader went away (`tootguard completions bash | head -1`): quietly, the status a shell shows for any program ended by SIGPIPE",
    },
];

/// An error with the exit status it must end in.
#[derive(Debug)]
pub struct Failure {
    pub code: u8,
    pub message: String,
}

impl Failure {
    pub fn error(code: u8, message: impl Into<String>) -> anyhow::Error {
        anyhow::Error::new(Failure {
            code,
            message: message.into(),
        })
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Failure {}

/// The outcome has already been reported: end with this status, print nothing.
#[derive(Debug)]
pub struct Silent(pub u8);

impl fmt::Display for Silent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "exit status {}", self.0)
    }
}

impl std::error::Error for Silent {}

/// For the command line: output that could not be written because the
/// reader went away (`tootguard completions bash | head -1`) ends quietly,
/// as SIGPIPE would end any other program, instead of as an error. Not
/// with 0 (ripgrep's choice for a search): `install` and `upgrade` act as
/// they print, so a reader gone early can mean work left undone.
pub fn quiet_on_closed_pipe(outcome: anyhow::Result<u8>) -> anyhow::Result<u8> {
    outcome.map_err(|err| {
        let closed = err.chain().any(|cause| {
            cause
                .downcast_ref::<std::io::Error>()
                .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
        });
        if closed {
            Silent(CLOSED_PIPE).into()
        } else {
            err
        }
    })
}

/// Turns an outcome into the process's exit status, printing any error.
pub fn finish(outcome: anyhow::Result<u8>) -> u8 {
    match outcome {
        Ok(code) => code,
        Err(err) => {
            if let Some(Silent(code)) = err.downcast_ref::<Silent>() {
                return *code;
            }
            let code = err
                .chain()
                .find_map(|cause| cause.downcast_ref::<Failure>())
                .map_or(FAILURE, |failure| failure.code);
            crate::report::error(&format!("{err:#}"));
            code
        }
    }
}
