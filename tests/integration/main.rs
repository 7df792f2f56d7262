//! tootguard's integration tests: one binary, real processes (STYLE.md).

mod harness;
mod shim;
