//! The hot path: what runs before every `rails`, `rake`, `tootctl`, and
//! every `ruby` and `bundle` once the shims for those are installed.
//!
//! Loop check → what the start carries, its install and the guards
//! (`launch.rs`) → exec. No clap, no `.env` reading unless a guard needs
//! it (only migration and precompile tasks do), no network unless a
//! migration is about to run; `ruby -e …` and `bundle install` carry
//! nothing of Mastodon's and go straight to the real program.

use std::ffi::OsString;

use crate::exec;
use crate::exit::{BLOCKED, Silent};
use crate::guards::Level;
use crate::invocation::Shim;
use crate::launch::{self, Start};
use crate::marker::{Markers, Origin};
use crate::report;
use crate::resolve::SelfId;
use crate::settings::Env;

pub fn run(shim: Shim, argv0: OsString, args: Vec<OsString>) -> anyhow::Result<u8> {
    let me = SelfId::current()?;
    let env = Env::process();
    let markers = Markers::read(&env);
    markers.check_loop(&me, shim.name())?;
    let start = Start {
        shim,
        argv0,
        args,
        cwd: std::env::current_dir().ok(),
        env,
    };
    let launch = launch::decide(start, &me, &markers, Origin::this_process(), true)?;
    // Nothing to run: that alone is worth saying, not what would have been
    // changed for it.
    let plan = launch.plan?;
    for verdict in &launch.verdicts {
        report::verdict(verdict.level, &verdict.text());
        if verdict.level == Level::Block {
            return Err(Silent(BLOCKED).into());
        }
    }
    Err(exec::exec(&plan))
}
