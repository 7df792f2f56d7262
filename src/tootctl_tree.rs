//! The tootctl command tree (placeholder until the completions module lands).
