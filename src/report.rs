//! How tootguard speaks: one line (or one paragraph) per message on stderr,
//! prefixed `tootguard:`, coloured only where stderr supports it (owo-colors
//! honours `NO_COLOR`, `FORCE_COLOR` and non-terminals), and always through
//! [`crate::redact::scrub`], so no printer can leak a registered secret.
//!
//! Notices are the only thing `TOOTGUARD_QUIET=1` silences: warnings and
//! errors always reach the admin.

use std::io::Write;

use owo_colors::{OwoColorize, Stream};

use crate::guards::Level;

const PREFIX: &str = "tootguard:";

/// Says something worth knowing that needs no action (an injected
/// `RAILS_ENV`, a changed directory). Silenced by `TOOTGUARD_QUIET=1`.
pub fn notice(message: &str) {
    if crate::settings::quiet() {
        return;
    }
    emit(Level::Notice, message);
}

/// Says something the admin should act on; the command still runs.
pub fn warn(message: &str) {
    emit(Level::Warn, message);
}

/// Says why tootguard failed or refused.
pub fn error(message: &str) {
    emit(Level::Block, message);
}

/// Prints a guard's message at its level; `ok` says nothing.
pub fn verdict(level: Level, message: &str) {
    match level {
        Level::Ok => {}
        Level::Notice => notice(message),
        Level::Warn => warn(message),
        Level::Block => error(message),
    }
}

fn emit(level: Level, message: &str) {
    let text = crate::redact::scrub(message);
    let label = match level {
        Level::Ok | Level::Notice => String::new(),
        Level::Warn => format!(
            "{} ",
            "warning:".if_supports_color(Stream::Stderr, |t| t.yellow().bold().to_string())
        ),
        Level::Block => format!(
            "{} ",
            "error:".if_supports_color(Stream::Stderr, |t| t.red().bold().to_string())
        ),
    };
    let prefix = PREFIX.if_supports_color(Stream::Stderr, |t| t.bold().to_string());
    // One write per message: lines from tootguard and from the child it is
    // about to become must not interleave mid-line.
    let line = format!("{prefix} {label}{text}\n");
    let _ = std::io::stderr().lock().write_all(line.as_bytes());
}
