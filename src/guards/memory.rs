//! Enough memory for `assets:precompile`, checked before it starts.
//!
//! Precompiling (Vite since Mastodon 4.4, Webpack before) is the step that is
//! OOM-killed on small servers: `Killed`, `JavaScript heap out of memory`,
//! `spawn ENOMEM`. Reports: 1 GB is not enough, 2 GB without swap fails;
//! YunoHost's package adds swap below 2560 MB — our default requirement.
//! The measure is `MemAvailable` (what a new process can get; free RAM alone
//! undercounts) plus free swap, from `/proc/meminfo`. A failed run leaves a
//! cache that makes the next run report success with stale assets, so every
//! refusal also says how to clear it.

use super::{Level, Verdict};
use crate::invocation::Invocation;
use crate::settings;
use crate::site::Site;

pub const ID: &str = "memory";
/// MiB required when `TOOTGUARD_PRECOMPILE_MIN_MB` is not set.
pub const DEFAULT_MIN_MB: u64 = 2560;
const CACHE_CLEAR: &str = "RAILS_ENV=production bundle exec rake tmp:cache:clear";

/// The figures that matter, in MiB.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Memory {
    pub available: u64,
    pub swap_total: u64,
    pub swap_free: u64,
}

/// Reads `MemAvailable`, `SwapTotal` and `SwapFree` (kB) from meminfo text.
pub fn parse_meminfo(text: &str) -> Result<Memory, String> {
    let field = |name: &str| -> Result<u64, String> {
        let line = text
            .lines()
            .find(|l| l.split(':').next() == Some(name))
            .ok_or_else(|| format!("it has no {name} line"))?;
        let value = line[name.len() + 1..].trim();
        let number = value.strip_suffix("kB").unwrap_or(value).trim();
        number
            .parse::<u64>()
            .map(|kb| kb / 1024)
            .map_err(|_| format!("its {name} line is not a number of kB"))
    };
    Ok(Memory {
        available: field("MemAvailable")?,
        swap_total: field("SwapTotal")?,
        swap_free: field("SwapFree")?,
    })
}

/// The figures now, from `/proc/meminfo` (or `TOOTGUARD_MEMINFO`).
pub fn measure(env: &settings::Env) -> Result<Memory, String> {
    std::fs::read(settings::meminfo_path(env))
        .map_err(|e| e.to_string())
        .and_then(|bytes| parse_meminfo(&String::from_utf8_lossy(&bytes)))
}

pub fn check(inv: &Invocation) -> Option<Verdict> {
    inv.runs_any_task(&["assets:precompile"])
        .then(|| verdict(inv))
}

/// What the guard would say before an assets:precompile here (doctor asks
/// this without one).
pub fn verdict(site: &Site) -> Verdict {
    let (required, unread) = match required_mb(site) {
        Ok(found) => found,
        Err(message) => return Verdict::new(ID, Level::Block, message),
    };
    let path = settings::meminfo_path(&site.env);
    let verdict = match measure(&site.env) {
        Ok(memory) => judge(memory, required, settings::force(&site.env)),
        Err(why) => Verdict::new(
            ID,
            Level::Warn,
            format!(
                "cannot judge memory before assets:precompile: {} is unreadable ({why}); \
                 running it anyway. If it dies with `Killed` or `heap out of memory`, add swap \
                 and run `{CACHE_CLEAR}` before retrying.",
                std::path::Path::new(&path).display()
            ),
        ),
    };
    // The .env files could not be read: say so, but judge memory anyway —
    // a broken unrelated line must not stop a precompile.
    match unread {
        Some(why) if verdict.level < Level::Warn => Verdict {
            level: Level::Warn,
            message: format!("{} ({why})", verdict.message),
            ..verdict
        },
        Some(why) => Verdict {
            message: format!("{} ({why})", verdict.message),
            ..verdict
        },
        None => verdict,
    }
}

/// The verdict for `memory` against `required` MiB.
pub fn judge(memory: Memory, required: u64, force: bool) -> Verdict {
    let total = memory.available + memory.swap_free;
    let figures = format!(
        "{} MB available RAM + {} MB free swap = {total} MB; assets:precompile needs about \
         {required} MB",
        memory.available, memory.swap_free
    );
    if total >= required {
        return if memory.swap_total == 0 {
            Verdict::new(
                ID,
                Level::Notice,
                format!("{figures}: enough, but there is no swap at all, so a spike is fatal"),
            )
        } else {
            Verdict::new(ID, Level::Ok, format!("{figures}: enough"))
        };
    }
    let missing = required - total;
    // Whole GiB, at least 1: swap files are sized by the admin in G.
    let size_gb = missing.div_ceil(1024).max(1);
    let fix = format!(
        "{} If a precompile already failed, run `{CACHE_CLEAR}` before retrying, or the \
         next run reports success and keeps the old assets. To run anyway: TOOTGUARD_FORCE=1.",
        swap_fix(size_gb)
    );
    if force {
        Verdict::new(
            ID,
            Level::Warn,
            format!("{figures}: too little, running anyway (TOOTGUARD_FORCE=1)."),
        )
        .fix(fix)
    } else {
        Verdict::new(
            ID,
            Level::Block,
            format!(
                "{figures}: too little, so it would likely be killed (`Killed`, `JavaScript \
                 heap out of memory`). Not running it."
            ),
        )
        .fix(fix)
    }
}

/// The commands that add `size_gb` GB of swap and keep it across reboots
/// (also `upgrade`'s advice after a precompile was killed).
pub fn swap_fix(size_gb: u64) -> String {
    format!(
        "Add {size_gb} GB of swap (as root): `fallocate -l {size_gb}G /swapfile && chmod 600 \
         /swapfile && mkswap /swapfile && swapon /swapfile`, and keep it across reboots with \
         the /etc/fstab line `/swapfile none swap sw 0 0` (use another file name if /swapfile \
         exists)."
    )
}

/// `TOOTGUARD_PRECOMPILE_MIN_MB` from the environment or the `.env*` files,
/// and, when the files cannot be read, why (the environment and the default
/// still apply). Only a value that is not a number is an error.
pub fn required_mb(site: &Site) -> Result<(u64, Option<String>), String> {
    const NAME: &str = "TOOTGUARD_PRECOMPILE_MIN_MB";
    let (found, unread) = match site.setting(NAME) {
        Ok(found) => (found, None),
        Err(e) => {
            let from_env = site
                .var(NAME)
                .map(|v| (v.to_string_lossy().into_owned(), "environment".to_owned()));
            let why =
                format!("the .env files could not be read, so a {NAME} in them was not seen: {e}");
            (from_env, Some(why))
        }
    };
    let required = match found {
        None => DEFAULT_MIN_MB,
        Some((value, source)) => value.trim().parse::<u64>().map_err(|_| {
            format!(
                "{NAME} is {value:?} ({source}), not a number of megabytes. Set it to a whole \
                 number such as 2560, or remove it to use the default ({DEFAULT_MIN_MB})."
            )
        })?,
    };
    Ok((required, unread))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MEMINFO: &str = "MemTotal:       16314444 kB\nMemFree:  1000 kB\n\
        MemAvailable:    4194304 kB\nSwapCached: 0 kB\nSwapTotal:       2097152 kB\n\
        SwapFree:        1048576 kB\n";

    #[test]
    fn meminfo_figures_are_read_in_mib() {
        assert_eq!(
            parse_meminfo(MEMINFO).unwrap(),
            Memory {
                available: 4096,
                swap_total: 2048,
                swap_free: 1024
            }
        );
    }

    #[test]
    fn swap_cached_is_not_mistaken_for_swap_total() {
        let text =
            "SwapCached: 999999 kB\nMemAvailable: 1024 kB\nSwapTotal: 0 kB\nSwapFree: 0 kB\n";
        assert_eq!(parse_meminfo(text).unwrap().swap_total, 0);
    }

    #[test]
    fn garbled_meminfo_is_an_error_naming_the_field() {
        let err =
            parse_meminfo("MemAvailable: lots kB\nSwapTotal: 0 kB\nSwapFree: 0 kB").unwrap_err();
        assert!(err.contains("MemAvailable"), "{err}");
        assert!(parse_meminfo("").unwrap_err().contains("no MemAvailable"));
    }

    fn mem(available: u64, swap_total: u64, swap_free: u64) -> Memory {
        Memory {
            available,
            swap_total,
            swap_free,
        }
    }

    #[test]
    fn plenty_of_ram_with_swap_is_ok() {
        assert_eq!(judge(mem(8000, 2048, 2048), 2560, false).level, Level::Ok);
    }

    #[test]
    fn enough_ram_without_swap_is_a_notice() {
        let v = judge(mem(3000, 0, 0), 2560, false);
        assert_eq!(v.level, Level::Notice);
        assert!(v.message.contains("no swap"));
    }

    #[test]
    fn too_little_without_swap_blocks_with_figures_and_the_swap_fix() {
        let v = judge(mem(1500, 0, 0), 2560, false);
        assert_eq!(v.level, Level::Block);
        assert!(v.message.contains("1500 MB available RAM"));
        assert!(v.message.contains("0 MB free swap"));
        assert!(v.message.contains("2560 MB"));
        let fix = v.fix.unwrap();
        for needle in [
            "fallocate -l 2G",
            "chmod 600",
            "mkswap",
            "swapon",
            "/etc/fstab",
            "tmp:cache:clear",
        ] {
            assert!(fix.contains(needle), "{needle} missing from {fix}");
        }
    }

    #[test]
    fn too_little_even_with_swap_blocks() {
        let v = judge(mem(1500, 1024, 512), 2560, false);
        assert_eq!(v.level, Level::Block);
        assert!(v.fix.unwrap().contains("fallocate -l 1G"));
    }

    #[test]
    fn force_turns_the_block_into_a_warning() {
        let v = judge(mem(1000, 0, 0), 2560, true);
        assert_eq!(v.level, Level::Warn);
        assert!(v.message.contains("TOOTGUARD_FORCE=1"));
    }
}
