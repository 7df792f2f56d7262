//! Two settings for the build, each paying its way:
//!
//! - Links libgcc's unwinder (`libgcc_eh.a`) into the binaries on Linux
//!   with glibc, so the loader no longer finds and maps `libgcc_s.so.1`
//!   before every `rails`, `rake` and `tootctl`: about 200 µs of the shim's
//!   start-up (measured, benches/README.md). The unwinder is the same code.
//! - Sets `cfg(tests_as_root)` when the build runs as root. The tests that
//!   need root (to create users, hand installs to them, run sudo and mount
//!   namespaces) are then compiled to run; built by anyone else they are
//!   `#[ignore]`d with the reason, so a skipped test shows up as ignored in
//!   the summary instead of passing. CI builds and tests as root.

fn main() {
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let env = std::env::var("CARGO_CFG_TARGET_ENV").unwrap_or_default();
    if os == "linux" && env == "gnu" {
        println!("cargo:rustc-link-lib=static:+whole-archive,-bundle=gcc_eh");
    }
    println!("cargo:rustc-check-cfg=cfg(tests_as_root)");
    if effective_uid() == Some(0) {
        println!("cargo:rustc-cfg=tests_as_root");
    }
    println!("cargo:rerun-if-changed=build.rs");
}

/// The effective uid of the build, from `/proc/self/status`.
fn effective_uid() -> Option<u32> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("Uid:"))?;
    line.split_whitespace().nth(2)?.parse().ok()
}
