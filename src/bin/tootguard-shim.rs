//! The `tootguard-shim` binary: what the `rails`, `rake` and `tootctl` links
//! made by `tootguard install` point to. The shim path alone, so that the
//! command line's code is not loaded before every admin command (`lib.rs`).

// The unit-test harness brings its own `main`.
#![cfg_attr(not(test), no_main)]

/// The process entry point, called by the C runtime (see `tootguard::enter`).
#[cfg(not(test))]
#[unsafe(no_mangle)]
pub extern "C" fn main(
    _argc: std::ffi::c_int,
    _argv: *const *const std::ffi::c_char,
) -> std::ffi::c_int {
    tootguard::enter(tootguard::tootguard_shim)
}
