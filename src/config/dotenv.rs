//! One `.env` file, read the way the dotenv gem 3.x that Mastodon bundles
//! reads it (`lib/dotenv/parser.rb`, `lib/dotenv/substitutions/*.rb`).
//!
//! dotenv does not read line by line. It scans the whole file with one
//! regular expression (`Dotenv::Parser::LINE`) whose `\s*` runs may cross
//! line breaks and whose quoted values may span lines, and it silently skips
//! whatever that expression does not match. A tidier parser would disagree
//! with Mastodon on exactly the files an admin has got wrong, so this module
//! reproduces that expression's backtracking order step by step (the matcher
//! below), then the value pipeline of `Parser#parse_value`: strip, unquote,
//! `\n` handling, unescape, `$(command)`, `$VAR`.
//!
//! Two deliberate departures. `$(command)` is never executed: a value that
//! contains one becomes [`Value::Computed`], and so does every value that
//! substitutes such a value. And lines dotenv skips in silence are reported
//! as [`Malformed`], so the caller can refuse to guess for the keys it cares
//! about. No value ever reaches an error or `Debug` text: values may be
//! passwords.

use std::collections::HashMap;
use std::fmt;
use std::ops::Range;
use std::path::PathBuf;

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

struct LineIndex {
    newlines: Vec<usize>,
}

impl LineIndex {
    fn new(s: &[char]) -> Self {
        let newlines = s
            .iter()
            .enumerate()
            .filter_map(|(i, &c)| (c == '\n').then_some(i))
            .collect();
        LineIndex { newlines }
    }

    fn line_of(&self, pos: usize) -> usize {
        self.newlines.partition_point(|&n| n < pos) + 1
    }
}

/// Ruby's `\s`: ASCII only, and it includes vertical tab and form feed.
fn is_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\u{0b}' | '\u{0c}' | '\r')
}

/// Ruby's `[\w.]`: `\w` is ASCII-only in Ruby regexps.
fn is_key_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '.'
}

/// `String#strip`: Ruby's whitespace plus NUL.
fn is_strip_char(c: char) -> bool {
    c == '\0' || is_space(c)
}

/// `[A-Z0-9_]` under `/i` in `Substitutions::Variable`: Unicode case folding
/// lets U+017F (long s) and U+212A (Kelvin sign) in as well.
fn is_var_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '\u{17f}' | '\u{212a}')
}

fn skip_space(s: &[char], mut i: usize) -> usize {
    while i < s.len() && is_space(s[i]) {
        i += 1;
    }
    i
}

/// The position of the `\n` ending the line at `i`, or the end of the text.
fn line_end(s: &[char], i: usize) -> usize {
    s[i.min(s.len())..]
        .iter()
        .position(|&c| c == '\n')
        .map_or(s.len(), |n| i + n)
}

/// The first position at or after `pos` where Ruby's `^` holds.
fn next_line_start(s: &[char], pos: usize) -> Option<usize> {
    if pos > s.len() {
        return None;
    }
    if pos == 0 || s[pos - 1] == '\n' {
        return Some(pos);
    }
    let end = line_end(s, pos);
    (end < s.len()).then_some(end + 1)
}

/// One match of `Dotenv::Parser::LINE`.
struct LineMatch {
    end: usize,
    export: bool,
    key: Range<usize>,
    /// The `value` group, including the leading blanks it may swallow;
    /// `None` when the group did not take part (which `export` cares about).
    value: Option<Range<usize>>,
}

/// `LINE` anchored at line start `p`:
///
/// ```text
/// \s* (export\s+)? ([\w.]+)
/// ( (\s*=\s*? | :\s+?) ( \s*'(\\'|[^'])*' | \s*"(\\"|[^"])*" | [^#\n]+ )? )?
/// \s* (\#.*)? ($|\z)
/// ```
///
/// Alternatives are tried in the order Onigmo tries them. Most choices are
/// forced (a key run is maximal because a shorter one is followed by a word
/// character nothing can match); the comments say where.
fn match_at(s: &[char], p: usize) -> Option<LineMatch> {
    let start = skip_space(s, p);
    if s[start.min(s.len())..].starts_with(&['e', 'x', 'p', 'o', 'r', 't']) {
        let after = start + 6;
        // `\s+` is greedy and the key must start where the blanks end.
        let key_start = skip_space(s, after);
        if key_start > after
            && let Some(m) = match_key(s, key_start, true)
        {
            return Some(m);
        }
    }
    match_key(s, start, false)
}

fn match_key(s: &[char], key_start: usize, export: bool) -> Option<LineMatch> {
    let mut key_end = key_start;
    while key_end < s.len() && is_key_char(s[key_end]) {
        key_end += 1;
    }
    if key_end == key_start {
        return None;
    }
    let key = key_start..key_end;
    let matched = |(value, end)| {
        Some(LineMatch {
            end,
            export,
            key: key.clone(),
            value,
        })
    };

    // `\s*=\s*?`: only the end of the blank run can be `=`. The lazy `\s*?`
    // then takes nothing: with nothing taken, one of the value alternatives
    // or the bare tail always matches, so it never has to grow.
    let eq = skip_space(s, key_end);
    if s.get(eq) == Some(&'=')
        && let Some(found) = value_and_tail(s, eq + 1)
    {
        return matched(found);
    }
    // `:\s+?`: one blank after the colon, which may be a line break.
    if s.get(key_end) == Some(&':')
        && s.get(key_end + 1).is_some_and(|&c| is_space(c))
        && let Some(found) = value_and_tail(s, key_end + 2)
    {
        return matched(found);
    }
    // No separator: a bare `KEY` line assigns the empty string.
    tail(s, key_end).and_then(|end| matched((None, end)))
}

/// The optional value group at `v`, then the tail.
fn value_and_tail(s: &[char], v: usize) -> Option<(Option<Range<usize>>, usize)> {
    for quote in ['\'', '"'] {
        if let Some((close, end)) = quoted(s, v, quote) {
            return Some((Some(v..close + 1), end));
        }
    }
    // `[^#\n]+`, greedy: its longest run always ends where the tail holds
    // (at `#`, a line break or the end), so no shorter run is ever tried.
    // Any `#` ends the value, with or without a blank before it.
    if v < s.len() && s[v] != '#' && s[v] != '\n' {
        let end = s[v..]
            .iter()
            .position(|&c| c == '#' || c == '\n')
            .map_or(s.len(), |n| v + n);
        if let Some(tail_end) = tail(s, end) {
            return Some((Some(v..end), tail_end));
        }
    }
    tail(s, v).map(|end| (None, end))
}

/// `\s*Q(\\Q|[^Q])*Q` at `v`, followed by the tail: the position of the
/// closing quote and of the match end.
///
/// The starred group prefers `\Q` as one unit, so the first closing quote
/// tried is the first one not preceded by a backslash. When the tail fails
/// there, backtracking reconsiders each `\Q` taken as a unit, latest first,
/// and tries its quote as the closing one.
fn quoted(s: &[char], v: usize, quote: char) -> Option<(usize, usize)> {
    let open = skip_space(s, v);
    if s.get(open) != Some(&quote) {
        return None;
    }
    let mut escaped = Vec::new();
    let mut first = None;
    let mut i = open + 1;
    while i < s.len() {
        if s[i] == '\\' && s.get(i + 1) == Some(&quote) {
            escaped.push(i + 1);
            i += 2;
        } else if s[i] == quote {
            first = Some(i);
            break;
        } else {
            i += 1;
        }
    }
    first
        .into_iter()
        .chain(escaped.into_iter().rev())
        .find_map(|close| tail(s, close + 1).map(|end| (close, end)))
}

/// `\s*(\#.*)?($|\z)` at `p`: the match end, if it matches. The greedy blank
/// run is given back one character at a time until a comment starts or a
/// line ends; a comment may therefore sit on a later line.
fn tail(s: &[char], p: usize) -> Option<usize> {
    let q = skip_space(s, p);
    if q >= s.len() {
        return Some(s.len());
    }
    if s[q] == '#' {
        return Some(line_end(s, q));
    }
    (p..q).rev().find(|&r| s[r] == '\n')
}

/// A skipped line that is neither blank nor a comment.
fn malformed_line(line: &[char], number: usize) -> Option<Malformed> {
    let text: String = line.iter().collect();
    let text = text.trim_matches(is_space);
    if text.is_empty() || text.starts_with('#') {
        return None;
    }
    let text = match text.strip_prefix("export") {
        Some(rest) if rest.starts_with(is_space) => rest.trim_start_matches(is_space),
        _ => text,
    };
    let word: String = text
        .chars()
        .take_while(|&c| !is_space(c) && !matches!(c, '=' | ':' | '#'))
        .collect();
    let word = word.trim_matches(|c| c == '"' || c == '\'');
    Some(Malformed {
        line: number,
        key_guess: (!word.is_empty()).then(|| word.to_owned()),
    })
}

/// `Parser`'s `@hash` (what substitutions see first) and what the file adds.
#[derive(Default)]
struct FileState {
    hash: HashMap<String, Value>,
    assignments: Vec<Assignment>,
    /// Where each key is in `assignments`.
    index: HashMap<String, usize>,
}

impl FileState {
    /// `Parser#call` for one match.
    fn apply(
        &mut self,
        s: &[char],
        m: &LineMatch,
        lines: &LineIndex,
        lookup: &dyn Fn(&str) -> Option<Value>,
    ) -> Result<(), ParseError> {
        let key: String = s[m.key.clone()].iter().collect();
        let line = lines.line_of(m.key.start);
        if key != LINEBREAK_MODE
            && let Some(existing) = lookup(&key)
        {
            // `existing?`: the environment's value stands and the file's
            // value is never evaluated, so its `$(…)` would not run either.
            self.hash.insert(key, existing);
            return Ok(());
        }
        if m.export && m.value.is_none() {
            if self.hash.contains_key(&key) {
                return Ok(());
            }
            return Err(ParseError::UnsetExport { line, key });
        }
        let raw = m.value.clone().map_or(&[][..], |r| &s[r]);
        let value = self.parse_value(raw, line, lookup);
        self.hash.insert(key.clone(), value.clone());
        // A repeated key: the last value wins (`@hash[key] = …`).
        match self.index.get(&key) {
            Some(&i) => {
                self.assignments[i].value = value;
                self.assignments[i].line = line;
            }
            None => {
                self.index.insert(key.clone(), self.assignments.len());
                self.assignments.push(Assignment { key, value, line });
            }
        }
        Ok(())
    }

    /// `Parser#parse_value`.
    fn parse_value(
        &self,
        raw: &[char],
        line: usize,
        lookup: &dyn Fn(&str) -> Option<Value>,
    ) -> Value {
        let raw: String = raw.iter().collect();
        let stripped = raw.trim_matches(is_strip_char);
        // QUOTED_STRING = /\A(['"])(.*)\1\z/m
        let quote = stripped
            .chars()
            .next()
            .filter(|&q| (q == '\'' || q == '"') && stripped.len() >= 2 && stripped.ends_with(q));
        let mut text = match quote {
            Some(_) => stripped[1..stripped.len() - 1].to_owned(),
            None => stripped.to_owned(),
        };
        match quote {
            // Single quotes: taken literally, no unescaping, no substitution.
            Some('\'') => return Value::Known(text),
            Some(_) if text.contains("\\n") || text.contains("\\r") => {
                match self.linebreak_mode(lookup) {
                    Ok(true) => text = text.replace("\\n", "\n").replace("\\r", "\r"),
                    // dotenv 3's default mode rewrites `\n` to `\\n`, which
                    // the unescape step below turns back into `\n`: the two
                    // characters stay, no line break.
                    Ok(false) => text = text.replace("\\n", "\\\\n").replace("\\r", "\\\\r"),
                    Err(computed) => return computed,
                }
            }
            _ => {}
        }
        // Nothing to unescape or substitute: the common case, kept cheap.
        if !text.contains(['\\', '$']) {
            return Value::Known(text);
        }
        let unescaped = unescape(&text);
        match without_commands(&unescaped) {
            Some(chars) => self.substitute_variables(&chars, lookup),
            None => Value::Computed { file: None, line },
        }
    }

    /// Whether `DOTENV_LINEBREAK_MODE` is `legacy`; the error is the
    /// Computed value it depends on.
    fn linebreak_mode(&self, lookup: &dyn Fn(&str) -> Option<Value>) -> Result<bool, Value> {
        match self
            .hash
            .get(LINEBREAK_MODE)
            .cloned()
            .or_else(|| lookup(LINEBREAK_MODE))
        {
            Some(Value::Known(mode)) => Ok(mode == "legacy"),
            Some(computed) => Err(computed),
            None => Ok(false),
        }
    }

    /// `Substitutions::Variable`:
    /// `(\\)?(\$)(?!\()\{?([A-Z0-9_]+)?\}?` under `/i`.
    fn substitute_variables(&self, s: &[char], lookup: &dyn Fn(&str) -> Option<Value>) -> Value {
        let mut out = String::with_capacity(s.len());
        let mut i = 0;
        while i < s.len() {
            let escaped = s[i] == '\\' && s.get(i + 1) == Some(&'$');
            let dollar = if escaped {
                i + 1
            } else if s[i] == '$' {
                i
            } else {
                out.push(s[i]);
                i += 1;
                continue;
            };
            if s.get(dollar + 1) == Some(&'(') {
                // `(?!\()`: no match here; scanning goes on one character later.
                out.push(s[i]);
                i += 1;
                continue;
            }
            let mut j = dollar + 1;
            if s.get(j) == Some(&'{') {
                j += 1;
            }
            let name_start = j;
            while j < s.len() && is_var_char(s[j]) {
                j += 1;
            }
            let name_end = j;
            if s.get(j) == Some(&'}') {
                j += 1;
            }
            if escaped {
                // `\$VAR` stays `$VAR`: only the backslash goes.
                out.extend(&s[i + 1..j]);
            } else if name_end > name_start {
                let name: String = s[name_start..name_end].iter().collect();
                match self.hash.get(&name).cloned().or_else(|| lookup(&name)) {
                    Some(Value::Known(v)) => out.push_str(&v),
                    // Taint: a value built from a computed one is computed,
                    // and points at the command itself.
                    Some(computed) => return computed,
                    // Unknown variables become the empty string.
                    None => {}
                }
            } else {
                out.extend(&s[i..j]);
            }
            i = j;
        }
        Value::Known(out)
    }
}

/// `Parser#unescape_characters`: `gsub(/\\([^$])/, '\1')`, so a backslash
/// before anything but `$` is dropped (`\n` becomes `n` here).
fn unescape(text: &str) -> Vec<char> {
    let mut out = Vec::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\\'
            && let Some(next) = chars.next_if(|&n| n != '$')
        {
            out.push(next);
            continue;
        }
        out.push(c);
    }
    out
}

/// `Substitutions::Command`: `(\\)?\$(\((?:[^()]|\g<cmd>)+\))`.
///
/// `None` when the value holds a command dotenv would run (a `$` followed by
/// a balanced, non-empty parenthesised group); otherwise the value with each
/// escaped `\$(…)` turned into the literal `$(…)`, as dotenv leaves it.
fn without_commands(s: &[char]) -> Option<Vec<char>> {
    let groups = command_groups(s);
    let group_at = |i: usize| groups.get(i).copied().flatten();
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        if s[i] == '\\'
            && s.get(i + 1) == Some(&'$')
            && let Some(close) = group_at(i + 2)
        {
            out.extend(&s[i + 1..=close]);
            i = close + 1;
            continue;
        }
        if s[i] == '$' && group_at(i + 1).is_some() {
            return None;
        }
        out.push(s[i]);
        i += 1;
    }
    Some(out)
}

/// For each `(`, the position of the `)` that closes it when the recursive
/// `cmd` group matches there: parentheses balance and no group inside,
/// itself included, is empty (`+` needs one item). One pass with a stack
/// keeps this linear however many `$(` a value holds.
fn command_groups(s: &[char]) -> Vec<Option<usize>> {
    struct Open {
        pos: usize,
        items: usize,
        broken: bool,
    }
    let mut closes = vec![None; s.len()];
    let mut stack: Vec<Open> = Vec::new();
    for (i, &c) in s.iter().enumerate() {
        match c {
            '(' => stack.push(Open {
                pos: i,
                items: 0,
                broken: false,
            }),
            ')' => {
                // A `)` with nothing open matches no group.
                if let Some(open) = stack.pop() {
                    let broken = open.broken || open.items == 0;
                    if !broken {
                        closes[open.pos] = Some(i);
                    }
                    if let Some(parent) = stack.last_mut() {
                        parent.items += 1;
                        parent.broken |= broken;
                    }
                }
            }
            _ => {
                if let Some(top) = stack.last_mut() {
                    top.items += 1;
                }
            }
        }
    }
    closes
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
