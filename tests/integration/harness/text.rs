//! Whole-output assertions, as just's and ripgrep's tests make them: the
//! text a user reads is compared whole with the expected text, after
//! [`Normaliser`] names what changes from run to run (temporary paths,
//! ports, users, timings).

use super::{Outcome, World, binaries, is_root};

/// The notice every guarded command on a production install starts with
/// when RAILS_ENV is not set.
pub const RAILS_ENV_NOTICE: &str =
    "tootguard: RAILS_ENV was not set; running with RAILS_ENV=production (production install)\n";

/// The user check's message for an install that belongs to whoever runs the
/// suite (every World does).
pub fn owner_check_message() -> &'static str {
    if is_root() {
        "running as root on an install that belongs to root (a container?)"
    } else {
        "running as the owner of the install"
    }
}

/// Replaces the parts of an output that differ between runs with names in
/// brackets (`[BASE]`, `[BIN]`, `[PORT]`), so that a test can compare the
/// whole text with what it expects.
#[derive(Clone)]
pub struct Normaliser {
    pairs: Vec<(String, String)>,
    timings: bool,
}

impl Normaliser {
    /// Names the directory the binaries under test run from `[BIN]`.
    pub fn new() -> Normaliser {
        let canonical = binaries().canonicalize().unwrap();
        Normaliser {
            pairs: Vec::new(),
            timings: false,
        }
        .with(binaries().display(), "[BIN]")
        .with(canonical.display(), "[BIN]")
    }

    /// Also names `value` (a path, a port, a user name) `name`.
    pub fn with(mut self, value: impl std::fmt::Display, name: &str) -> Normaliser {
        self.pairs.push((value.to_string(), name.to_owned()));
        self
    }

    /// Also names every duration in seconds (`0.2s`, after a space)
    /// `[TIME]`.
    pub fn timings(mut self) -> Normaliser {
        self.timings = true;
        self
    }

    /// `text` with every value replaced by its name, the longest value
    /// first (a path before the directory it lies in).
    pub fn apply(&self, text: &str) -> String {
        let mut pairs = self.pairs.clone();
        pairs.sort_by_key(|(value, _)| std::cmp::Reverse(value.len()));
        let text = pairs.iter().fold(text.to_owned(), |text, (value, name)| {
            text.replace(value, name)
        });
        if self.timings {
            name_durations(&text)
        } else {
            text
        }
    }
}

/// `text` with each word of the shape `<digits>.<digits>s` that follows a
/// space (and ends at a non-alphanumeric character) replaced by `[TIME]`.
fn name_durations(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(' ') {
        out.push_str(&rest[..=at]);
        rest = &rest[at + 1..];
        let bytes = rest.as_bytes();
        let whole = bytes.iter().take_while(|b| b.is_ascii_digit()).count();
        let fraction = bytes
            .iter()
            .skip(whole + 1)
            .take_while(|b| b.is_ascii_digit())
            .count();
        let len = whole + 1 + fraction + 1;
        if whole > 0
            && fraction > 0
            && bytes.get(whole) == Some(&b'.')
            && bytes.get(len - 1) == Some(&b's')
            && !bytes.get(len).is_some_and(u8::is_ascii_alphanumeric)
        {
            out.push_str("[TIME]");
            rest = &rest[len..];
        }
    }
    out.push_str(rest);
    out
}

impl World {
    /// [`Normaliser::new`], with this world's directory named `[BASE]` (so
    /// its Mastodon root is `[BASE]/live`).
    pub fn normaliser(&self) -> Normaliser {
        Normaliser::new().with(self.base().display(), "[BASE]")
    }
}

/// An expected text written as an indented raw string: without its first
/// line break, its common indentation and the indentation before its
/// closing quote. A text without a line break at its start is kept as is.
pub fn unindent(text: &str) -> String {
    let Some(body) = text.strip_prefix('\n') else {
        return text.to_owned();
    };
    let body = body.trim_end_matches([' ', '\t']);
    let indent = body
        .lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| line.len() - line.trim_start().len())
        .min()
        .unwrap_or(0);
    let mut out = String::new();
    for line in body.split_inclusive('\n') {
        out.push_str(
            line.get(indent..)
                .unwrap_or(line.trim_start_matches([' ', '\t'])),
        );
    }
    out
}

/// Fails unless `actual` is `expected` ([`unindent`]ed), showing both and
/// the first line where they part.
#[track_caller]
pub fn assert_text(actual: &str, expected: &str) {
    let expected = unindent(expected);
    if actual == expected {
        return;
    }
    let at = actual
        .lines()
        .zip(expected.lines())
        .position(|(a, e)| a != e)
        .unwrap_or_else(|| actual.lines().count().min(expected.lines().count()));
    panic!(
        "the output is not the expected text (they part at line {}):\n\
         --- actual\n{actual}\n--- expected\n{expected}\n--- actual line\n{:?}\n--- expected line\n{:?}",
        at + 1,
        actual.lines().nth(at),
        expected.lines().nth(at),
    );
}

impl Outcome {
    /// The whole of stdout, normalised by `n`, is `expected`.
    #[track_caller]
    pub fn expect_stdout_is(&self, n: &Normaliser, expected: &str) -> &Self {
        assert_text(&n.apply(&self.stdout), expected);
        self
    }

    /// The whole of stderr, normalised by `n`, is `expected`.
    #[track_caller]
    pub fn expect_stderr_is(&self, n: &Normaliser, expected: &str) -> &Self {
        assert_text(&n.apply(&self.stderr), expected);
        self
    }
}

#[test]
fn durations_are_named_and_nothing_else() {
    assert_eq!(
        name_durations("[1/8] preflight ✓ 0.2s\n[4/8] backup ✗ 12.05s (x)\nv 4.3s2 1.2 3.4.5s"),
        "[1/8] preflight ✓ [TIME]\n[4/8] backup ✗ [TIME] (x)\nv 4.3s2 1.2 3.4.5s"
    );
}

#[test]
fn unindent_drops_the_first_break_the_common_indent_and_the_closing_indent() {
    assert_eq!(unindent("\n    a\n      b\n\n    c\n    "), "a\n  b\n\nc\n");
    assert_eq!(unindent("as is\n"), "as is\n");
}

#[test]
#[should_panic(expected = "they part at line 2")]
fn assert_text_fails_on_any_difference() {
    assert_text("a\nb\n", "\n    a\n    c\n    ");
}
