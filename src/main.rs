//! The `tootguard` binary: the command line, and the shim path when called
//! as `rails`, `rake` or `tootctl`. Everything is in the library (`lib.rs`).

// The unit-test harness brings its own `main`.
#![cfg_attr(not(test), no_main)]

/// The process entry point, called by the C runtime (see `tootguard::enter`).
#[cfg(not(test))]
#[unsafe(no_mangle)]
pub extern "C" fn main(
    _argc: std::ffi::c_int,
    _argv: *const *const std::ffi::c_char,
) -> std::ffi::c_int {
    tootguard::enter(tootguard::tootguard)
}
