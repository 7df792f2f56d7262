//! `tootguard release-lock`: ends the session that holds Rails' migration
//! lock when it is certainly a leftover, so migrations can run again.
//!
//! Certainly means: a PgBouncer server connection that tootguard's own
//! question reached through PgBouncer, so whoever took the lock on it no
//! longer owns that connection (a migration that failed through
//! transaction pooling left it). A session of its own holding the lock
//! while idle is not ended: that is what a running Rails migration looks
//! like (Rails 6.1 and later hold the lock on an idle connection of their
//! own while the migration runs on another), and PostgreSQL drops the lock
//! of a client that is gone. The end itself is conditional in PostgreSQL:
//! the session must still hold the lock and still be idle when the
//! statement runs. It asks before ending anything, never without a
//! terminal unless `--yes` says so, and not while a migration runs on
//! this machine.

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

use anyhow::Context;

use crate::database::client;
use crate::exit::{BLOCKED, FAILURE, Failure, OK, USAGE};
use crate::guards::lock::{Kind, describe, kind, migrating_here, who};
use crate::guards::pgbouncer;
use crate::invocation::Tool;
use crate::settings::Env;
use crate::site::Site;

/// End a PgBouncer server connection left holding Rails' migration lock
///
/// Run in (or with MASTODON_ROOT naming) the Mastodon directory. Finds
/// the session holding the lock on Mastodon's database; when it is a
/// pooled server connection whose client no longer owns it (a leftover of
/// a migration that failed through PgBouncer), asks, ends it with
/// pg_terminate_backend and checks the lock is free. Any other holder may
/// be a running migration: it says what to check, and ends nothing.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// End the idle holder without asking (needed without a terminal)
    #[arg(long, short = 'y')]
    pub yes: bool,
}

pub fn run(args: Args) -> anyhow::Result<u8> {
    let env: Env = std::env::vars_os().collect();
    let cwd = std::env::current_dir().context("cannot read the working directory")?;
    let root = crate::resolve::find_root(&env, Some(&cwd), Tool::Tootctl)?.ok_or_else(|| {
        Failure::error(
            FAILURE,
            "no Mastodon install here: run `tootguard release-lock` in the Mastodon directory \
             (usually /home/mastodon/live), or set MASTODON_ROOT to it.",
        )
    })?;
    let site = Site::new(cwd, env, Some(root));
    let route = pgbouncer::route(&site).map_err(|e| Failure::error(FAILURE, e))?;
    if let Some((why, fix)) = &route.refusal {
        return Err(Failure::error(FAILURE, format!("{why} {fix}")));
    }
    let name = route.database_name();
    let cannot_ask = |why: &str| {
        Failure::error(
            FAILURE,
            format!(
                "cannot ask the database who holds Rails' migration lock on {name}: {why}. Run \
                 it as the user Mastodon runs as (for example `sudo -u {} -i tootguard \
                 release-lock` when PostgreSQL uses peer authentication).",
                route.database.user.as_deref().unwrap_or("mastodon")
            ),
        )
    };
    let (Some(report), Some(at)) = (route.report.as_ref(), route.asked_at()) else {
        let why = route
            .report
            .as_ref()
            .and_then(|r| r.configured.as_ref().err().cloned())
            .or_else(|| route.unasked.clone())
            .unwrap_or_else(|| "it cannot be reached".into());
        return Err(cannot_ask(&why));
    };
    let holders = report.lock.as_ref().map_err(|why| cannot_ask(why))?;
    let Some(holder) = holders.first() else {
        say(&format!(
            "Rails' migration lock on {name} is free: nothing to release."
        ));
        return Ok(OK);
    };
    let (message, fix) = describe(&route, holder);
    // Only a pooled server connection whose client no longer owns it is
    // certainly no running migration's: a session of its own holding the
    // lock while idle is what a running Rails migration looks like.
    match kind(&route, holder) {
        Kind::OursPooled if route.asked_at_direct() => {}
        Kind::OursPooled => {
            return Err(Failure::error(
                BLOCKED,
                format!(
                    "{message} tootguard reaches PostgreSQL only through PgBouncer, so it cannot \
                     end that one session. {fix}"
                ),
            ));
        }
        Kind::Running => {
            return Err(Failure::error(
                BLOCKED,
                format!("{message} Not ending it. {fix}"),
            ));
        }
        Kind::Hidden | Kind::Idle => {
            return Err(Failure::error(
                BLOCKED,
                format!(
                    "{message} tootguard ends only a lock it can tell is left over, so not this \
                     one. {fix}"
                ),
            ));
        }
    }
    // A migration that started here meanwhile would hold it again.
    let here = migrating_here(route.root.as_deref());
    if !here.is_empty() {
        return Err(Failure::error(
            BLOCKED,
            format!(
                "a migration runs on this machine ({}): not ending session {}.",
                here.iter()
                    .map(|(pid, line)| format!("pid {pid}: {line}"))
                    .collect::<Vec<_>>()
                    .join(", "),
                holder.pid
            ),
        ));
    }
    say(&message);
    if !args.yes {
        if !std::io::stdin().is_terminal() {
            return Err(Failure::error(
                USAGE,
                format!(
                    "release-lock asks before ending a session, and there is no terminal to \
                     ask on: run it in a terminal, or add --yes to end {} without asking.",
                    who(holder)
                ),
            ));
        }
        if !super::confirm(&format!("End session {}? [y/N] ", holder.pid)) {
            say("Nothing ended.");
            return Ok(FAILURE);
        }
    }
    let ended = client::terminate(at, &name, holder.pid).map_err(|why| {
        Failure::error(
            FAILURE,
            format!(
                "cannot end session {}: {why}. As the postgres user: `psql -c \"SELECT \
                 pg_terminate_backend({})\"`.",
                holder.pid, holder.pid
            ),
        )
    })?;
    if !ended {
        return Err(Failure::error(
            BLOCKED,
            format!(
                "session {} was not ended: it no longer holds the lock while idle (it ended, or \
                 became busy). Run `tootguard doctor` to see the lock now.",
                holder.pid
            ),
        ));
    }
    // The session ends a moment after the signal.
    let started = Instant::now();
    loop {
        match client::holders_at(at, &name) {
            Ok(now) if now.is_empty() => {
                say(&format!(
                    "Ended session {}: Rails' migration lock on {name} is free. Migrations can \
                     run again.",
                    holder.pid
                ));
                return Ok(OK);
            }
            Ok(now) if started.elapsed() > Duration::from_secs(5) => {
                return Err(Failure::error(
                    FAILURE,
                    format!(
                        "ended session {}, but the lock is still held, now by {}.",
                        holder.pid,
                        now.first().map(who).unwrap_or_default()
                    ),
                ));
            }
            Ok(_) => std::thread::sleep(Duration::from_millis(100)),
            Err(why) => {
                return Err(Failure::error(
                    FAILURE,
                    format!(
                        "ended session {}, but cannot check the lock again: {why}.",
                        holder.pid
                    ),
                ));
            }
        }
    }
}

fn say(line: &str) {
    let _ = std::io::stdout().write_all(format!("{line}\n").as_bytes());
}
