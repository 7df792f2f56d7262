//! The hot path: what runs before every `rails`, `rake` and `tootctl`.
//!
//! Loop check → invocation (root) → real program → guards → exec. No clap,
//! no `.env` reading unless a guard needs it (only migration and precompile
//! tasks do), no network unless a migration is about to run.

use std::ffi::OsString;

use crate::exec::{self, Plan};
use crate::exit::{BLOCKED, Silent};
use crate::guards::Level;
use crate::invocation::{Invocation, Tool};
use crate::resolve::{self, SelfId};
use crate::{report, settings};

pub fn run(tool: Tool, argv0: OsString, args: Vec<OsString>) -> anyhow::Result<u8> {
    let me = SelfId::current()?;
    let env = settings::Env::process();
    resolve::check_loop(&env, &me, tool)?;
    let cwd = std::env::current_dir()
        .map_err(|e| anyhow::anyhow!("cannot read the working directory: {e}"))?;
    let inv = Invocation::new(tool, argv0, args, cwd, env)?;
    let program = resolve::find_program(tool, inv.root.as_ref(), &inv.env, &inv.cwd, &me)?;
    let (plan, verdicts) = Plan::decide(&inv, program, true);
    for verdict in verdicts {
        report::verdict(verdict.level, &verdict.text());
        if verdict.level == Level::Block {
            return Err(Silent(BLOCKED).into());
        }
    }
    Err(exec::exec(&plan))
}
