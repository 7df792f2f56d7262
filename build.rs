//! Links libgcc's unwinder (`libgcc_eh.a`) into the binary on Linux with
//! glibc, so the dynamic loader no longer has to find and load
//! `libgcc_s.so.1` before every `rails`, `rake` and `tootctl` an admin types.
//! That load was about 120 µs of the shim's start-up, measured with
//! `cargo bench --bench startup` (see the README's "Speed" section). The
//! unwinder itself is unchanged: the same code, linked statically.

fn main() {
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let env = std::env::var("CARGO_CFG_TARGET_ENV").unwrap_or_default();
    if os == "linux" && env == "gnu" {
        println!("cargo:rustc-link-lib=static:+whole-archive,-bundle=gcc_eh");
    }
    println!("cargo:rerun-if-changed=build.rs");
}
