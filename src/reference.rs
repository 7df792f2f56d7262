//! The reference tables — settings and exit statuses — in the forms that
//! are not Markdown: plain text for `tootguard --help`, and what the man
//! pages (made by `cargo xtask man`, see `xtask/`) need from the library.
//!
//! The tables themselves live next to the code they describe
//! ([`crate::settings::SETTINGS`], [`crate::exit::STATUSES`]); the README's
//! tables are their Markdown, held to them by a test. Nothing here is on
//! the shim's path: `tootguard-shim` links none of it.

pub use crate::exit::{STATUSES, Status};
pub use crate::settings::{SETTINGS, Setting};

/// The clap command of `tootguard`, for the man pages.
pub fn command() -> clap::Command {
    crate::cli::command()
}

/// tootguard's version, for pages that have no clap command of their own.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// tootguard-shim(1)'s NAME line: the shim binary has no command line of
/// its own to take it from.
pub const SHIM_ABOUT: &str = "the shim behind rails, rake, tootctl, ruby and bundle";

/// tootguard-shim(1)'s DESCRIPTION.
pub const SHIM_DESCRIPTION: &str = "tootguard-shim is what the links that `tootguard install` \
makes point to: `rails`, `rake`, `tootctl`, `ruby` and `bundle`, ahead of the real programs on \
PATH. Run under one of those names, it guards the command the way `tootguard` does (RAILS_ENV, \
migrations around PgBouncer, memory before assets:precompile, the install's owner), then execs \
the real program with the same arguments; outside a Mastodon install it runs the next program \
of that name on PATH unchanged. It holds the shim path alone, without tootguard's command line, \
so that it starts faster; a migration is handed to `tootguard` beside it. Run under its own \
name it only says so, with status 2.\n\nThe Debian package links it into /usr/local/bin when \
it is installed (for sudo, whose secure_path includes that directory, and every user), and \
removes exactly those links again when it is removed.";

/// A table cell's Markdown as plain text: code marks dropped, a link (to a
/// README section) as its words and "in the README".
pub fn plain(markdown: &str) -> String {
    let mut out = String::with_capacity(markdown.len());
    let mut rest = markdown;
    while let Some(c) = rest.chars().next() {
        if c == '`' {
            rest = &rest[1..];
            continue;
        }
        // `[words](#anchor)` → `words in the README`
        if c == '['
            && let Some(close) = rest.find("](")
            && let Some(end) = rest[close..].find(')')
        {
            out.push_str(&rest[1..close]);
            out.push_str(" in the README");
            rest = &rest[close + end + 1..];
            continue;
        }
        out.push(c);
        rest = &rest[c.len_utf8()..];
    }
    out
}

/// The status column as the README writes it.
pub fn status_name(status: &Status) -> String {
    status
        .code
        .map_or_else(|| "the program's own".to_owned(), |c| c.to_string())
}

/// The README's two tables, row by row, exactly as Markdown: what the
/// README test compares with the file.
pub fn readme_rows() -> (Vec<String>, Vec<String>) {
    let settings = SETTINGS
        .iter()
        .map(|s| format!("| {} | {} |", s.name, s.effect))
        .collect();
    let statuses = STATUSES
        .iter()
        .map(|s| format!("| {} | {} |", status_name(s), s.meaning.replace('|', "\\|")))
        .collect();
    (settings, statuses)
}

/// The end of `tootguard --help`: the settings and the exit statuses,
/// wrapped at 80 columns.
pub fn long_help_tail() -> String {
    let mut out = String::from("Environment:\n");
    for s in SETTINGS {
        item(&mut out, &plain(s.name), &plain(s.effect));
    }
    out.push_str("\nExit status:\n");
    for s in STATUSES {
        item(&mut out, &status_name(s), &plain(s.meaning));
    }
    out.push_str("\nMore in tootguard(1) and the README.");
    out
}

/// `  NAME` then the text, indented and wrapped, as clap shows options.
fn item(out: &mut String, name: &str, text: &str) {
    const INDENT: &str = "          ";
    out.push_str("  ");
    out.push_str(name);
    out.push('\n');
    let mut line = String::from(INDENT);
    for word in text.split(' ') {
        if line.len() > INDENT.len() && line.chars().count() + 1 + word.chars().count() > 80 {
            out.push_str(line.trim_end());
            out.push('\n');
            line = String::from(INDENT);
        }
        if line.len() > INDENT.len() {
            line.push(' ');
        }
        line.push_str(word);
    }
    out.push_str(&line);
    out.push('\n');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_drops_code_marks_and_keeps_a_links_words() {
        assert_eq!(
            plain("see [What tootguard trusts](#what-tootguard-trusts); `x | y`"),
            "see What tootguard trusts in the README; x | y"
        );
    }

    #[test]
    fn every_tootguard_variable_the_code_reads_is_in_the_settings_table() {
        let table: String = SETTINGS.iter().map(|s| s.name).collect();
        let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut missing = Vec::new();
        let mut stack = vec![src];
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    stack.push(path);
                    continue;
                }
                let text = std::fs::read_to_string(&path).unwrap();
                for (at, _) in text.match_indices("\"TOOTGUARD_") {
                    let name: String = text[at + 1..]
                        .chars()
                        .take_while(|c| c.is_ascii_uppercase() || *c == '_')
                        .collect();
                    // A prefix (`TOOTGUARD_DIRECT_DB_`) and the test-only
                    // variables of unit tests are not settings.
                    if name.ends_with('_') || name.ends_with("_TEST") {
                        continue;
                    }
                    if !table.contains(&format!("`{name}`"))
                        && !table.contains(&format!("`{name}="))
                    {
                        missing.push(format!("{name} ({})", path.display()));
                    }
                }
            }
        }
        assert!(missing.is_empty(), "not in SETTINGS: {missing:?}");
    }
}
