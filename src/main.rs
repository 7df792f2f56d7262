//! The `tootguard` binary: the command line, and the shim path when called
//! as `rails`, `rake` or `tootctl`. Everything is in the library (`lib.rs`).

#![cfg_attr(not(test), no_main)]

tootguard::c_main!(tootguard::tootguard);
