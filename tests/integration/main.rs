//! tootguard's integration tests: one binary, real processes (STYLE.md).

mod explain;
mod harness;
mod install;
mod memory;
mod shim;
