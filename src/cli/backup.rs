//! `tootguard backup`: the database and `.env*` files of the install here,
//! verified and private (see `src/backup/`), then what the backup holds, how
//! to restore it, and what it does not cover.
//!
//! As root on an install another user owns, it runs itself again as that
//! user, as every Mastodon command does under tootguard: `pg_dump` then
//! logs in as Mastodon does (a peer-authenticated socket knows only the
//! owner), and the files belong to the owner.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;

use crate::backup::{self, DEFAULT_KEEP, DIR_VARIABLE, Options, human};
use crate::environment::Env;
use crate::exec::Plan;
use crate::exit::{FAILURE, Failure, OK};
use crate::guards::{self, Change, Level};
use crate::invocation::Tool;
use crate::resolve::{self, Root};
use crate::{redact, report};

/// Back up the database and the .env files before an upgrade
///
/// Dumps Mastodon's database with `pg_dump -Fc` at PostgreSQL itself (never
/// through PgBouncer), checks the dump reads back, and copies the .env*
/// files beside it, all private (0600 in a 0700 directory). Refuses before
/// writing anything when the database's size does not fit. Prints the
/// commands that restore it.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Where backups go [default: TOOTGUARD_BACKUP_DIR, else ~/tootguard-backups of the install's owner]
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// How many backups of this database to keep, this one included; older
    /// ones tootguard made are removed (never other files)
    #[arg(long, value_name = "N", default_value_t = DEFAULT_KEEP)]
    pub keep: usize,
    /// The backup directory's name
    #[arg(long, hide = true, value_name = "NAME")]
    pub name: Option<String>,
    /// Record the backup in the running upgrade's record (`upgrade`'s step)
    #[arg(long, hide = true)]
    pub for_upgrade: bool,
}

pub fn run(args: Args) -> anyhow::Result<u8> {
    let env = Env::process();
    let cwd = std::env::current_dir().context("cannot read the working directory")?;
    let root = find(&env, &cwd)?;
    // Relative paths name what they name here, not in the root where the
    // owner's run starts.
    let dir = args.dir.map(|d| cwd.join(d));
    let mut again: Vec<std::ffi::OsString> = vec!["backup".into(), "--keep".into()];
    again.push(args.keep.to_string().into());
    if let Some(dir) = &dir {
        again.extend(["--dir".into(), dir.clone().into_os_string()]);
    }
    if let Some(name) = &args.name {
        again.extend(["--name".into(), name.into()]);
    }
    if args.for_upgrade {
        again.push("--for-upgrade".into());
    }
    if let Some(mut plan) = as_owner(&root, &env, again)? {
        if let Some(absolute) = resolve::absolute_root_var(&env, &root) {
            plan.set_env("MASTODON_ROOT", Some(absolute));
        }
        return Err(crate::exec::exec(&plan));
    }
    let options = Options {
        dir,
        keep: Some(args.keep),
        name: args.name,
    };
    let taken = match backup::take(&root, &env, &cwd, &options) {
        Ok(taken) => taken,
        Err(why) => return Err(Failure::error(FAILURE, format!("no backup taken: {why}"))),
    };
    for warning in &taken.warnings {
        report::warn(warning);
    }
    if args.for_upgrade {
        record(&root, &taken.dir);
    }
    let manifest = &taken.manifest;
    let mut out = format!(
        "Backed up {} ({}, {} tables) and {} to {}\n",
        manifest.database,
        human(manifest.dump_bytes),
        manifest.tables,
        if manifest.env_files.is_empty() {
            "no .env files".to_owned()
        } else {
            manifest.env_files.join(", ")
        },
        taken.dir.display()
    );
    out.push_str(&format!(
        "  {}  (pg_dump -Fc, read back with pg_restore --list)\n",
        taken.dir.join(&manifest.dump).display()
    ));
    for name in &manifest.env_files {
        out.push_str(&format!("  {}\n", taken.dir.join(name).display()));
    }
    for removed in &taken.removed {
        out.push_str(&format!(
            "Removed an older backup (--keep): {}\n",
            removed.display()
        ));
    }
    out.push_str("\nTo restore it (also in RESTORE.txt beside it):\n");
    for line in manifest.restore_commands(&taken.dir) {
        out.push_str(&format!("  {line}\n"));
    }
    out.push_str(&not_covered(&root, &env));
    std::io::stdout()
        .write_all(redact::scrub(&out).as_bytes())
        .context("cannot write the report to standard output")?;
    Ok(OK)
}

/// The install here: the one `tootctl` would run, and one tootguard trusts.
fn find(env: &Env, cwd: &std::path::Path) -> anyhow::Result<Root> {
    let Some(root) = resolve::find_root(env, Some(cwd), Tool::Tootctl)? else {
        return Err(Failure::error(
            FAILURE,
            format!(
                "found no Mastodon install (MASTODON_ROOT is unset, none in {} or its parents, \
                 no ~mastodon/live). Run `tootguard backup` in the Mastodon directory, or set \
                 MASTODON_ROOT.",
                cwd.display()
            ),
        ));
    };
    resolve::untrusted(&root, Tool::Tootctl, env).map_err(|u| u.into_error())?;
    Ok(root)
}

/// As root on an install another user owns: this same command, as that
/// user (the user guard's verdict, `TOOTGUARD_ALLOW_ROOT` included).
fn as_owner(root: &Root, env: &Env, args: Vec<std::ffi::OsString>) -> anyhow::Result<Option<Plan>> {
    let Some(verdict) = guards::user::for_root(root, env) else {
        return Ok(None);
    };
    match verdict.level {
        Level::Block => Err(Failure::error(FAILURE, verdict.text())),
        _ if !verdict
            .changes
            .iter()
            .any(|c| matches!(c, Change::RunAs(_))) =>
        {
            if verdict.level >= Level::Warn {
                report::verdict(verdict.level, &verdict.text());
            }
            Ok(None)
        }
        _ => {
            let me = std::env::current_exe().context("cannot find tootguard's own binary")?;
            let mut plan = Plan::new(me, "tootguard".into(), args);
            plan.cwd = Some(root.dir.clone());
            plan.apply(&verdict.changes);
            report::verdict(verdict.level, &verdict.text());
            Ok(Some(plan))
        }
    }
}

/// What the backup does not hold, with the docs' commands for it.
fn not_covered(root: &Root, env: &Env) -> String {
    let site = crate::site::Site::new(root.dir.clone(), env.clone(), Some(root.clone()));
    let on_s3 = site
        .setting("S3_ENABLED")
        .ok()
        .flatten()
        .is_some_and(|(v, _)| v == "true");
    let mut out = String::from("\nNot in this backup (Mastodon's docs, \"Backups\"):\n");
    out.push_str(
        "  Redis: as root, `redis-cli SAVE`, then copy /var/lib/redis/dump.rdb (home feeds \
         rebuild without it; scheduled jobs do not)\n",
    );
    if on_s3 {
        out.push_str("  media: on object storage (S3_ENABLED=true); back them up there\n");
    } else {
        out.push_str(&format!(
            "  media: {}/public/system (`rsync -a {}/public/system/ <somewhere else>/`)\n",
            root.dir.display(),
            crate::quote::word(root.dir.as_os_str())
        ));
    }
    out.push_str(&format!(
        "Backups go to --dir, else {DIR_VARIABLE}, else ~/tootguard-backups.\n"
    ));
    out
}

/// Names the backup in the record of the upgrade under way.
fn record(root: &Root, backup: &std::path::Path) {
    let saved = crate::state::State::load(&root.dir).and_then(|mut state| {
        // The first backup of an upgrade is the one from before its first
        // migration: a rerun after a failed migration must not replace it
        // with a dump of the half-migrated database.
        match state
            .upgrade
            .as_mut()
            .filter(|u| !u.finished && !u.backup.as_deref().is_some_and(backup::usable))
        {
            Some(upgrade) => upgrade.backup = Some(backup.to_path_buf()),
            None => return Ok(()),
        }
        state.save()
    });
    if let Err(why) = saved {
        report::warn(&format!(
            "{why} The upgrade will not name this backup if a migration fails: it is {}.",
            backup.display()
        ));
    }
}
