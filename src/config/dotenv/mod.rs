//! One `.env` file, read the way the dotenv gem 3.x that Mastodon bundles
//! reads it (`lib/dotenv/parser.rb`, `lib/dotenv/substitutions/*.rb`).
//!
//! dotenv does not read line by line. It scans the whole file with one
//! regular expression (`Dotenv::Parser::LINE`) whose `\s*` runs may cross
//! line breaks and whose quoted values may span lines, and it silently skips
//! whatever that expression does not match. A tidier parser would disagree
//! with Mastodon on exactly the files an admin has got wrong, so this module
//! reproduces that expression's backtracking order step by step (the matcher),
//! then the value pipeline of `Parser#parse_value`: strip, unquote,
//! `\n` handling, unescape, `$(command)`, `$VAR`.
//!
//! Two deliberate departures. `$(command)` is never executed: a value that
//! contains one becomes [`Value::Computed`], and so does every value that
//! substitutes such a value. And lines dotenv skips in silence are reported
//! as [`Malformed`], so the caller can refuse to guess for the keys it cares
//! about. No value ever reaches an error or `Debug` text: values may be
//! passwords.
//!
//! The matcher is in `line`, with where lines start and end; the value
//! pipeline, with what the file has set so far, in `value`.

mod line;
mod value;

use std::fmt;
use std::path::PathBuf;

use line::{LineIndex, line_end, malformed_line, match_at, next_line_start, skip_space};
use value::FileState;

/// A variable's value as far as tootguard can know it.
#[derive(Clone, PartialEq, Eq)]
pub enum Value {
    /// The exact string Mastodon would see.
    Known(String),
    /// Depends on the output of a `$(command)` that tootguard will not run.
    /// `line` is the 1-based line of the assignment holding the command;
    /// `file` is `None` while it is the file being parsed, and the caller
    /// fills it in once the file is read.
    Computed { file: Option<PathBuf>, line: usize },
}

impl Value {
    /// The string, when it is known.
    pub fn known(&self) -> Option<&str> {
        match self {
            Value::Known(value) => Some(value),
            Value::Computed { .. } => None,
        }
    }
}

// Values may be passwords: Debug shows the shape, never the text.
impl fmt::Debug for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Known(_) => f.write_str("Known(..)"),
            Value::Computed { file, line } => f
                .debug_struct("Computed")
                .field("file", file)
                .field("line", line)
                .finish(),
        }
    }
}

/// One key this file adds to the environment: its last value in the file and
/// the 1-based line where that assignment starts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Assignment {
    pub key: String,
    pub value: Value,
    pub line: usize,
}

/// A line dotenv skips without a word: no `=`/`: ` separator, a key with
/// characters outside `[A-Za-z0-9_.]`, stray text. `key_guess` is the word
/// the line starts with, for deciding whether the line matters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Malformed {
    pub line: usize,
    pub key_guess: Option<String>,
}

/// What one file contributes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Parsed {
    /// Keys not already in the environment, in order of first appearance.
    /// Keys the environment already has are left out: dotenv neither
    /// evaluates nor applies them (`Parser#existing?`).
    pub assignments: Vec<Assignment>,
    pub malformed: Vec<Malformed>,
}

#[cfg(test)]
impl Parsed {
    pub fn get(&self, key: &str) -> Option<&Assignment> {
        self.assignments.iter().find(|a| a.key == key)
    }
}

/// A file Mastodon itself would fail to boot with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ParseError {
    /// Ruby raises "invalid byte sequence in UTF-8" on the first regex.
    InvalidUtf8 { line: usize },
    /// `export KEY` with no value and no earlier KEY: dotenv's FormatError
    /// "has an unset variable". `export KEY=` with nothing after `=` counts:
    /// the regex's value group does not match there.
    UnsetExport { line: usize, key: String },
    /// Ruby refuses to put a NUL byte into ENV (ArgumentError).
    NulByte { line: usize, key: String },
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParseError::InvalidUtf8 { line } => write!(f, "line {line} is not valid UTF-8"),
            ParseError::UnsetExport { line, key } => write!(
                f,
                "line {line}: `export {key}` has no value and {key} is not set earlier"
            ),
            ParseError::NulByte { line, key } => {
                write!(f, "line {line}: the value of {key} contains a NUL byte")
            }
        }
    }
}

impl std::error::Error for ParseError {}

/// `Parser#expand_newlines` reads this from the file first, then ENV; it is
/// also the one key `Parser#existing?` never treats as already set.
const LINEBREAK_MODE: &str = "DOTENV_LINEBREAK_MODE";

/// Parses one file. `lookup` answers from the environment as it stands
/// before this file: the process environment, `KEY=VALUE` arguments and the
/// files read earlier. Substitutions look in this file first, then `lookup`
/// (`Substitutions::Variable`: `env[name] || ENV[name] || ""`).
pub fn parse(bytes: &[u8], lookup: &dyn Fn(&str) -> Option<Value>) -> Result<Parsed, ParseError> {
    // Environment#read opens the file with "rb:bom|utf-8": a leading BOM goes.
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let text = std::str::from_utf8(bytes).map_err(|e| ParseError::InvalidUtf8 {
        line: line_of_byte(bytes, e.valid_up_to()),
    })?;
    let s = normalize_line_breaks(text);
    let lines = LineIndex::new(&s);
    let mut file = FileState::default();
    let mut malformed = Vec::new();

    // String#scan: each match starts at a line start (`^`) at or after the
    // end of the previous one; the lines in between are skipped.
    let mut pos = 0;
    while let Some(start) = next_line_start(&s, pos) {
        match match_at(&s, start) {
            Some(m) => {
                file.apply(&s, &m, &lines, lookup)?;
                pos = m.end;
            }
            None => {
                let mut end = line_end(&s, start);
                malformed.extend(malformed_line(&s[start..end], lines.line_of(start)));
                // A failed attempt depends only on where its leading `\s*`
                // lands, so every line start up to there fails the same way:
                // the lines in between are blank, and the line holding the
                // landing point is the only other one to look at. Jumping
                // there keeps a file of blank lines linear.
                let landing = skip_space(&s, start);
                if landing > end {
                    if landing >= s.len() {
                        break;
                    }
                    let held = s[..landing]
                        .iter()
                        .rposition(|&c| c == '\n')
                        .map_or(0, |n| n + 1);
                    end = line_end(&s, held);
                    malformed.extend(malformed_line(&s[held..end], lines.line_of(held)));
                }
                if end >= s.len() {
                    break;
                }
                pos = end + 1;
            }
        }
    }

    for a in &file.assignments {
        // ENV.update raises on a NUL byte, except for a key it keeps as is.
        let kept = a.key == LINEBREAK_MODE && lookup(&a.key).is_some();
        if !kept && a.value.known().is_some_and(|v| v.contains('\0')) {
            return Err(ParseError::NulByte {
                line: a.line,
                key: a.key.clone(),
            });
        }
    }
    Ok(Parsed {
        assignments: file.assignments,
        malformed,
    })
}

/// `Parser#initialize`: `gsub(/\r\n?/, "\n")`, so a lone CR is a line break
/// too, and every later position and line number counts it as one.
fn normalize_line_breaks(text: &str) -> Vec<char> {
    let mut out = Vec::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\r' {
            chars.next_if_eq(&'\n');
            out.push('\n');
        } else {
            out.push(c);
        }
    }
    out
}

/// The 1-based line of a byte offset, counting line breaks as
/// [`normalize_line_breaks`] does.
fn line_of_byte(bytes: &[u8], offset: usize) -> usize {
    let before = &bytes[..offset.min(bytes.len())];
    let mut line = 1;
    for (i, &b) in before.iter().enumerate() {
        let lone_cr = b == b'\r' && bytes.get(i + 1) != Some(&b'\n');
        if b == b'\n' || lone_cr {
            line += 1;
        }
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn no_env(_: &str) -> Option<Value> {
        None
    }

    fn parse_str(text: &str) -> Parsed {
        parse(text.as_bytes(), &no_env).expect("parses")
    }

    /// The file's final value for `key`, as a plain string.
    fn known(parsed: &Parsed, key: &str) -> Option<String> {
        parsed
            .get(key)
            .map(|a| a.value.known().expect("known value").to_owned())
    }

    #[test]
    fn each_syntax_form_reads_as_dotenv_3_reads_it() {
        // (file, key, value dotenv 3.2.0 gives; checked against the gem)
        let table: &[(&str, &str, &str)] = &[
            ("A=1", "A", "1"),
            ("  A=1", "A", "1"),
            ("export A=1", "A", "1"),
            ("export   A = 1", "A", "1"),
            ("A: 1", "A", "1"),
            ("A.B=dotted", "A.B", "dotted"),
            ("A = spaced  ", "A", "spaced"),
            ("A='single $B \\n \\\\'", "A", "single $B \\n \\\\"),
            ("A=\"double\"", "A", "double"),
            ("A=\"a\nb\"", "A", "a\nb"),
            ("A=\"line one\nline two\" # c", "A", "line one\nline two"),
            ("A=\"x\\ny\"", "A", "x\\ny"),
            ("A=\"x\\ry\"", "A", "x\\ry"),
            ("A=\"\\t\\\\\\\"q\\$x\"", "A", "t\\\"q$x"),
            ("A=un\\quoted\\n", "A", "unquotedn"),
            ("A=value # comment", "A", "value"),
            ("A=value#not-a-fragment", "A", "value"),
            ("A=\"has # hash\"", "A", "has # hash"),
            ("A='has # hash'", "A", "has # hash"),
            ("A=", "A", ""),
            ("A= # only a comment", "A", ""),
            ("A=''", "A", ""),
            ("A=\"\"", "A", ""),
            ("BARE", "BARE", ""),
            ("A=\"x\" y", "A", "\"x\" y"),
            ("A=\"x\" \"y\"", "A", "x\" \"y"),
            ("A='unterminated", "A", "'unterminated"),
            ("A=\"unterminated", "A", "\"unterminated"),
            ("A=1\r\nB=2\r\n", "B", "2"),
            ("\u{feff}A=bom", "A", "bom"),
            ("A=first\nA=second", "A", "second"),
            ("A\n=1", "A", "1"),
            ("A=\n'next line'", "A", "next line"),
            ("A:\nB=1", "A", "B=1"),
        ];
        for (file, key, want) in table {
            let parsed = parse_str(file);
            assert_eq!(known(&parsed, key).as_deref(), Some(*want), "file {file:?}");
        }
    }

    #[test]
    fn variables_are_substituted_from_the_file_then_the_environment() {
        let env = |k: &str| (k == "HOME").then(|| Value::Known("/home/m".into()));
        let parsed = parse(
            b"B=1\nA=$B-${B}-$HOME-${NOPE}-\\$B-'$B'\nC='$B'\nD=$Bx\nE=${B}x $ ${ $}",
            &env,
        )
        .unwrap();
        assert_eq!(known(&parsed, "A").unwrap(), "1-1-/home/m--$B-'1'");
        assert_eq!(known(&parsed, "C").unwrap(), "$B");
        assert_eq!(known(&parsed, "D").unwrap(), "");
        assert_eq!(known(&parsed, "E").unwrap(), "1x $ ${ $}");
    }

    #[test]
    fn a_substitution_sees_the_value_the_key_had_at_that_line() {
        let parsed = parse_str("A=1\nB=$A\nA=2\nC=$A");
        assert_eq!(known(&parsed, "B").unwrap(), "1");
        assert_eq!(known(&parsed, "C").unwrap(), "2");
    }

    #[test]
    fn a_command_substitution_makes_the_value_computed() {
        let parsed = parse_str("A=x\nDB_PASS=$(cat /etc/secret)\nQ=\"pre $(date +%s) post\"");
        assert_eq!(
            parsed.get("DB_PASS").unwrap().value,
            Value::Computed {
                file: None,
                line: 2
            }
        );
        assert!(matches!(
            parsed.get("Q").unwrap().value,
            Value::Computed { line: 3, .. }
        ));
    }

    #[test]
    fn commands_that_dotenv_would_not_run_stay_literal() {
        let parsed = parse_str("A=\\$(date)\nB='$(date)'\nC=$()\nD=$(echo ())\nE=\\$(echo");
        assert_eq!(known(&parsed, "A").unwrap(), "$(date)");
        assert_eq!(known(&parsed, "B").unwrap(), "$(date)");
        assert_eq!(known(&parsed, "C").unwrap(), "$()");
        assert_eq!(known(&parsed, "D").unwrap(), "$(echo ())");
        assert_eq!(known(&parsed, "E").unwrap(), "\\$(echo");
    }

    #[test]
    fn no_command_is_ever_executed() {
        let dir = tempfile::tempdir().unwrap();
        let marker = dir.path().join("pwned");
        let file = format!(
            "A=$(touch {m})\nB=\"$(touch {m})\"\nexport C=`touch {m}`$(touch {m})",
            m = marker.display()
        );
        let parsed = parse_str(&file);
        assert!(parsed.get("A").unwrap().value.known().is_none());
        assert!(parsed.get("C").unwrap().value.known().is_none());
        assert!(!marker.exists(), "a command from the file was run");
    }

    #[test]
    fn a_value_built_from_a_computed_value_is_computed_at_the_command() {
        let parsed = parse_str("SECRET=$(pass show db)\nDB_PASS=${SECRET}\nURL=\"x:$DB_PASS@h\"");
        let at_line_1 = Value::Computed {
            file: None,
            line: 1,
        };
        assert_eq!(parsed.get("DB_PASS").unwrap().value, at_line_1);
        assert_eq!(parsed.get("URL").unwrap().value, at_line_1);
    }

    #[test]
    fn taint_from_an_earlier_file_keeps_that_files_location() {
        let earlier = Value::Computed {
            file: Some(PathBuf::from("/live/.env.production.local")),
            line: 4,
        };
        let env = |k: &str| (k == "SECRET").then(|| earlier.clone());
        let parsed = parse(b"DB_PASS=$SECRET", &env).unwrap();
        assert_eq!(parsed.get("DB_PASS").unwrap().value, earlier);
    }

    #[test]
    fn keys_already_in_the_environment_are_neither_evaluated_nor_returned() {
        let env = |k: &str| (k == "DB_PORT").then(|| Value::Known("5432".into()));
        let parsed = parse(b"DB_PORT=$(false)\nX=$DB_PORT", &env).unwrap();
        assert!(parsed.get("DB_PORT").is_none());
        assert_eq!(known(&parsed, "X").unwrap(), "5432");
    }

    #[test]
    fn export_without_a_value_needs_an_earlier_value() {
        assert_eq!(
            parse(b"A=1\nexport B", &no_env),
            Err(ParseError::UnsetExport {
                line: 2,
                key: "B".into()
            })
        );
        assert_eq!(
            parse(b"export B=", &no_env),
            Err(ParseError::UnsetExport {
                line: 1,
                key: "B".into()
            })
        );
        assert!(parse(b"B=1\nexport B", &no_env).is_ok());
        let env = |k: &str| (k == "B").then(|| Value::Known("x".into()));
        assert!(parse(b"export B", &env).is_ok());
    }

    #[test]
    fn lines_dotenv_skips_are_reported_with_a_key_guess() {
        let parsed = parse_str(
            "# comment\n\n   \nDB_HOST localhost\nDB_PORT:6432\nexport DB-USER=x\n  # indented\nOK=1",
        );
        assert_eq!(
            parsed.malformed,
            vec![
                Malformed {
                    line: 4,
                    key_guess: Some("DB_HOST".into())
                },
                Malformed {
                    line: 5,
                    key_guess: Some("DB_PORT".into())
                },
                Malformed {
                    line: 6,
                    key_guess: Some("DB-USER".into())
                },
            ]
        );
        assert_eq!(known(&parsed, "OK").unwrap(), "1");
    }

    #[test]
    fn invalid_utf8_names_its_line() {
        assert_eq!(
            parse(b"A=1\r\nB=2\nC=\xff\n", &no_env),
            Err(ParseError::InvalidUtf8 { line: 3 })
        );
    }

    #[test]
    fn a_nul_byte_in_a_value_is_an_error() {
        assert_eq!(
            parse(b"A=\"x\0y\"", &no_env),
            Err(ParseError::NulByte {
                line: 1,
                key: "A".into()
            })
        );
    }

    #[test]
    fn legacy_linebreak_mode_turns_backslash_n_into_a_newline() {
        let parsed = parse_str("DOTENV_LINEBREAK_MODE=legacy\nA=\"x\\ny\"\nB=x\\ny");
        assert_eq!(known(&parsed, "A").unwrap(), "x\ny");
        assert_eq!(known(&parsed, "B").unwrap(), "xny");
    }

    #[test]
    fn line_numbers_count_from_one_and_follow_the_key() {
        let parsed = parse_str("\n# c\nA=\"1\n2\"\n\n  B=3");
        assert_eq!(parsed.get("A").unwrap().line, 3);
        assert_eq!(parsed.get("B").unwrap().line, 6);
    }

    #[test]
    fn debug_output_never_shows_a_value() {
        let parsed = parse_str("DB_PASS=hunter2-secret");
        assert!(!format!("{parsed:?}").contains("hunter2"));
    }

    proptest! {
        #[test]
        fn parse_never_panics_on_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
            let _ = parse(&bytes, &no_env);
        }

        #[test]
        fn parse_never_panics_on_dotenv_like_text(
            text in "[A-Z_ =:'\"\\\\$(){}#\nexport\r\t.a-z0-9]{0,120}"
        ) {
            let env = |k: &str| (k == "A").then_some(Value::Computed { file: None, line: 1 });
            let _ = parse(text.as_bytes(), &env);
        }
    }
}
