//! The `tootguard-shim` binary: what the `rails`, `rake` and `tootctl` links
//! made by `tootguard install` point to. The shim path alone, so that the
//! command line's code is not loaded before every admin command (`lib.rs`).

#![cfg_attr(not(test), no_main)]

tootguard::c_main!(tootguard::tootguard_shim);
