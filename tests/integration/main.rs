//! tootguard's integration tests: one binary (one link step, one shared
//! harness), real processes.

mod ansible;
mod backup;
mod completions;
mod doctor;
mod e2e_database;
mod e2e_pgbouncer;
mod e2e_smoke;
mod e2e_support;
mod explain;
mod hardening;
mod harness;
mod install;
mod memory;
mod package;
mod pgbouncer;
mod requirements;
mod secrets;
mod shim;
mod spellings;
mod trust;
mod upgrade;
mod user;
