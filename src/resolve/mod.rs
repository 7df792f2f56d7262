//! Finding things: the Mastodon install a command belongs to (`root.rs`),
//! the real program behind a shim (`program.rs`), and whether a file is
//! tootguard itself (`identity.rs`).

mod identity;
mod program;
pub mod root;
mod trust;

pub use identity::{SHIM_BINARY, SelfId, same_file};
pub use program::{first_on_path, program_in_root, search_path};
pub use root::{
    Root, absolute_root_var, find_root, root_of_bundle, root_of_outer_layer, root_of_script,
};
pub use trust::untrusted;
