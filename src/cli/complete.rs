//! `tootguard __complete SHELL -- WORDS…`: the candidates for a `tootctl`
//! command line, for the completion functions of `tootguard completions`
//! (hidden: shells call it, people do not).
//!
//! Answer: the first line is `files` when the shell's own file completion
//! fits, else `none`; the second is `>` and the part of the current word
//! before the candidates (`>--format=`); then one candidate a line, with
//! its description after a tab (bash gets the bare words: it shows none).

use std::ffi::OsString;
use std::io::Write;

use anyhow::Context;

use super::completions::Shell;
use crate::complete;
use crate::environment::Env;
use crate::exit::OK;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The shell asking
    pub shell: Shell,
    /// The words after `tootctl`, the last being the one completed
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub words: Vec<OsString>,
}

pub fn run(args: Args) -> anyhow::Result<u8> {
    let words: Vec<String> = args
        .words
        .iter()
        .map(|w| w.to_string_lossy().into_owned())
        .collect();
    let words = match args.shell {
        // bash splits `--format=nginx` into `--format`, `=` and `nginx`.
        Shell::Bash => rejoin(words),
        _ => words,
    };
    let env = Env::process();
    let cwd = std::env::current_dir().unwrap_or_else(|_| "/".into());
    let (tree, _) = crate::tootctl_source::here(&env, &cwd);
    let offer = complete::tootctl(&tree.root, &words);
    let mut out = String::new();
    out.push_str(if offer.files { "files\n" } else { "none\n" });
    // Never an empty line: fish and zsh would drop it.
    out.push('>');
    out.push_str(&offer.prefix);
    out.push('\n');
    for (word, description) in &offer.words {
        // Words come from Ruby files: bash inserts them as they are, so
        // only plain words go out (never `$(…)`, `;`, a newline).
        if !plain(word) {
            continue;
        }
        out.push_str(word);
        let description = printable(description);
        if !matches!(args.shell, Shell::Bash) && !description.is_empty() {
            out.push('\t');
            out.push_str(&description);
        }
        out.push('\n');
    }
    std::io::stdout()
        .write_all(out.as_bytes())
        .context("cannot write the candidates")?;
    Ok(OK)
}

/// A word a shell can insert as it is.
fn plain(word: &str) -> bool {
    !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.:/@+=,-".contains(c))
}

/// A description with no control characters (no escape sequences for the
/// terminal, no tabs or newlines for the line protocol).
fn printable(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// `--format`, `=`, `nginx` → `--format=nginx`; a trailing `=` stays with
/// its option (`--format=`, completing a value).
fn rejoin(words: Vec<String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(words.len());
    let mut glue = false;
    for word in words {
        if word == "=" && out.last().is_some_and(|w| w.starts_with("--")) {
            out.last_mut().expect("checked").push('=');
            glue = true;
        } else if glue {
            out.last_mut().expect("glued").push_str(&word);
            glue = false;
        } else {
            out.push(word);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_words_and_printable_descriptions_go_to_the_shell() {
        assert!(plain("--dry-run") && plain("email_domain_blocks") && plain("a.b:c"));
        for word in ["$(id)", "a;b", "a b", "a\nb", "", "`id`", "\u{1b}[2J"] {
            assert!(!plain(word), "{word:?}");
        }
        assert_eq!(printable("a\u{1b}]0;x\u{7}b\tc\nd"), "a ]0;x b c d");
    }

    #[test]
    fn bash_words_split_at_equals_are_joined_again() {
        let words = |w: &[&str]| w.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            rejoin(words(&["ip_blocks", "export", "--format", "=", "ng"])),
            words(&["ip_blocks", "export", "--format=ng"])
        );
        assert_eq!(
            rejoin(words(&["ip_blocks", "export", "--format", "="])),
            words(&["ip_blocks", "export", "--format="])
        );
        assert_eq!(rejoin(words(&["media", ""])), words(&["media", ""]));
    }
}
