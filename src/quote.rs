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

/// Like [`word_str`], but in double quotes when that needs no escape (no
/// `"`, `\`, `$`, `` ` `` or `!`): easier to read for an SQL statement
/// that holds single quotes.
pub fn word_readable(s: &str) -> String {
    let double_safe = !s.bytes().any(|b| b"\"\\$`!".contains(&b));
    if double_safe && !s.is_empty() && word_str(s) != s {
        format!("\"{s}\"")
    } else {
        word_str(s)
    }
}

/// `s` as an SQL string literal.
pub fn sql_literal(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
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

    #[test]
    fn sql_goes_in_double_quotes_unless_the_shell_would_read_into_it() {
        let sql = format!("SELECT 1 WHERE d = {}", sql_literal("it's"));
        assert_eq!(sql, "SELECT 1 WHERE d = 'it''s'");
        assert_eq!(word_readable(&sql), "\"SELECT 1 WHERE d = 'it''s'\"");
        assert_eq!(word_readable("a $b"), "'a $b'");
        assert_eq!(word_readable("plain"), "plain");
    }
}
