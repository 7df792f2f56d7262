//! A precompile that ran out of memory (killed by SIGKILL, or its output
//! says so): the memory guard's figures and swap commands, and the asset
//! cache cleared, because after a failed precompile the next one otherwise
//! reports success and keeps the old assets.

use crate::exec::Plan;
use crate::guards::memory;
use crate::invocation::Tool;
use crate::quote::word as quote;
use crate::report;

use super::Upgrade;
use super::child::{self, describe, killed_by_sigkill};
use super::runner::say;
use super::steps::{Step, Stop};

impl Upgrade {
    /// Runs `assets:precompile`, its output watched for running out of memory.
    pub(super) fn precompile(&self, plan: &Plan) -> Result<(), Stop> {
        let step = Step::Precompile;
        let (status, sign) = child::run_watched(step, plan, self.args.json)?;
        if status.success() {
            return Ok(());
        }
        let why = if killed_by_sigkill(status) {
            "it was killed by SIGKILL, the signal of the kernel's out-of-memory killer".to_owned()
        } else if let Some(sign) = sign {
            format!("it printed `{sign}`")
        } else {
            return Err(Stop::new(describe(status), step));
        };
        report::error(&self.memory_advice(&why));
        let cleared = self.clear_cache();
        Err(Stop::new(describe(status), step).detail(match cleared {
            Ok(()) => "The asset cache is cleared; add the swap, then resume.".to_owned(),
            Err(e) => format!(
                "Clearing the asset cache failed too ({e}): run `cd {} && RAILS_ENV=production \
                 bin/rake tmp:cache:clear` before retrying, or the retry reports success and \
                 keeps the old assets.",
                quote(self.root.dir.as_os_str())
            ),
        }))
    }

    /// The memory guard's figures and swap commands, for a precompile that died.
    fn memory_advice(&self, why: &str) -> String {
        let required = memory::required_mb(&self.site())
            .ok()
            .map_or(memory::DEFAULT_MIN_MB, |(mb, _)| mb);
        let (figures, missing) = match memory::measure(&self.env) {
            Ok(m) => (
                format!(
                    " Now: {} MB available RAM + {} MB free swap; it needs about {required} MB.",
                    m.available, m.swap_free
                ),
                required.saturating_sub(m.available + m.swap_free),
            ),
            Err(_) => (String::new(), 0),
        };
        // It died with what the guard counted as enough: more than the
        // shortfall, and at least the 2 GB whose absence is reported to fail.
        let size_gb = missing.div_ceil(1024).max(2);
        format!(
            "assets:precompile ran out of memory: {why}.{figures} {} Clearing the asset cache \
             now (bin/rake tmp:cache:clear), so the retry really rebuilds the assets.",
            memory::swap_fix(size_gb)
        )
    }

    /// `bin/rake tmp:cache:clear` through the guards.
    fn clear_cache(&self) -> Result<(), String> {
        let step = Step::Precompile;
        let prepared = self
            .guarded(step, Tool::Rake, &["tmp:cache:clear"])
            .map_err(|s| s.detail.unwrap_or(s.status))?;
        say(step, &prepared.verdicts).map_err(|s| s.status)?;
        child::run(step, &prepared.plan, self.args.json).map_err(|s| s.status)
    }
}
