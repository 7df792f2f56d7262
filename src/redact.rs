//! The one redaction path: every message tootguard prints passes through
//! [`scrub`], and every value it shows passes through [`value`].
//!
//! Two nets, because one is not enough: values are shown as `***` by the name
//! of their variable (anything named like a password, secret, key or token),
//! wherever a value is shown (the child's environment, `KEY=VALUE`
//! arguments, a database URL's password); and every known secret value —
//! from the environment, from the `.env*` files, the password inside
//! `DATABASE_URL` — of [`MIN_SCRUBBED`] bytes or more is registered and cut
//! out of any text before it reaches the terminal, whatever path produced it.
//!
//! The second net spares short values and values that are also the value of
//! a setting that is not secret (`DB_PASS=mastodon` with `DB_USER=mastodon`):
//! cutting `mastodon` out of `/home/mastodon/live` would mangle every path
//! and, worse, tell the reader what the password is. Such passwords are
//! weak, and `doctor` says so.

use std::sync::Mutex;

/// What a hidden value is shown as.
pub const MASK: &str = "***";

static SECRETS: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// True for a variable whose value must never be shown: `DB_PASS`,
/// `TOOTGUARD_DIRECT_DB_PASS`, `SECRET_KEY_BASE`, `OTP_SECRET`,
/// `AWS_SECRET_ACCESS_KEY`, `VAPID_PRIVATE_KEY`, `*_TOKEN`, …
pub fn is_secret_name(name: &str) -> bool {
    let upper = name.to_ascii_uppercase();
    ["PASS", "SECRET", "KEY", "TOKEN"]
        .iter()
        .any(|word| upper.contains(word))
}

/// True for a variable holding a database URL (`DATABASE_URL`,
/// `PRIMARY_DATABASE_URL`), whose password part is a secret.
pub fn is_database_url_name(name: &str) -> bool {
    name.ends_with("DATABASE_URL")
}

/// Secrets shorter than this are masked where they are values, but not cut
/// out of free text: a short word occurs in paths and names, and masking
/// it there would point at it.
pub const MIN_SCRUBBED: usize = 12;

/// Remembers a secret value so that [`scrub`] removes it from any output.
/// Values shorter than [`MIN_SCRUBBED`] bytes are not registered.
pub fn register(secret: &str) {
    if secret.len() < MIN_SCRUBBED {
        return;
    }
    let mut secrets = SECRETS.lock().unwrap_or_else(|p| p.into_inner());
    let mut add = |s: String| {
        if !secrets.contains(&s) {
            secrets.push(s);
        }
    };
    add(secret.to_owned());
    // As a password is written inside a URL's userinfo.
    let encoded = crate::config::database_url::encode(secret, b"");
    if encoded != secret {
        add(encoded);
    }
}

/// The value of `name` as it may be shown.
pub fn value(name: &str, value: &str) -> String {
    if is_secret_name(name) {
        MASK.to_owned()
    } else if is_database_url_name(name) {
        crate::config::database_url::redacted(value)
    } else {
        scrub(value)
    }
}

/// `text` with every registered secret replaced by `***`.
pub fn scrub(text: &str) -> String {
    let secrets = SECRETS.lock().unwrap_or_else(|p| p.into_inner());
    let mut out = text.to_owned();
    // Longest first, so a secret containing another is cut whole.
    let mut sorted: Vec<&String> = secrets.iter().collect();
    sorted.sort_by_key(|s| std::cmp::Reverse(s.len()));
    for secret in sorted {
        if out.contains(secret.as_str()) {
            out = out.replace(secret.as_str(), MASK);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_with_pass_secret_key_or_token_are_secret() {
        for name in [
            "DB_PASS",
            "TOOTGUARD_DIRECT_DB_PASS",
            "SECRET_KEY_BASE",
            "OTP_SECRET",
            "VAPID_PRIVATE_KEY",
            "GITHUB_TOKEN",
            "smtp_password",
        ] {
            assert!(is_secret_name(name), "{name}");
        }
        for name in ["DB_HOST", "DB_PORT", "RAILS_ENV", "DATABASE_URL"] {
            assert!(!is_secret_name(name), "{name}");
        }
    }

    #[test]
    fn registered_secrets_and_their_percent_encoding_are_scrubbed() {
        register("p@ss w/rd%2026");
        let text = "a p@ss w/rd%2026 and p%40ss%20w%2Frd%252026 here";
        assert_eq!(scrub(text), "a *** and *** here");
    }

    #[test]
    fn short_values_are_not_registered() {
        register("mastodon");
        assert_eq!(scrub("/home/mastodon/live"), "/home/mastodon/live");
    }
}
