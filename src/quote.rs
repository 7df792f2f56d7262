//! Commands tootguard prints for an admin to paste: every path and value in
//! them goes through [`word`], so a path with a space, a quote or a `$`
//! acts on that path and nothing else.

use std::ffi::OsStr;

/// `s` as one shell word: plain words as they are, anything else in single
/// quotes.
pub fn word(s: &OsStr) -> String {
    word_str(&s.to_string_lossy())
}

/// [`word`] for a `str`.
pub fn word_str(s: &str) -> String {
    let plain = !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_@%+=:,./-".contains(&b));
    if plain {
        s.to_owned()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_leaves_plain_words_and_quotes_the_rest() {
        assert_eq!(word_str("db:migrate"), "db:migrate");
        assert_eq!(word_str("it's here"), r"'it'\''s here'");
        assert_eq!(word_str(""), "''");
        assert_eq!(word(OsStr::new("/srv/sp ace")), "'/srv/sp ace'");
        assert_eq!(word_str("$HOME"), "'$HOME'");
    }
}
