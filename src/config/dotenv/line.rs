//! `Dotenv::Parser::LINE`, matched the way Onigmo backtracks through it,
//! and the lines it scans: where they start and end, their numbers, and
//! the skipped ones reported.

use std::ops::Range;

use super::Malformed;

pub(super) struct LineIndex {
    newlines: Vec<usize>,
}

impl LineIndex {
    pub(super) fn new(s: &[char]) -> Self {
        let newlines = s
            .iter()
            .enumerate()
            .filter_map(|(i, &c)| (c == '\n').then_some(i))
            .collect();
        LineIndex { newlines }
    }

    pub(super) fn line_of(&self, pos: usize) -> usize {
        self.newlines.partition_point(|&n| n < pos) + 1
    }
}

/// Ruby's `\s`: ASCII only, and it includes vertical tab and form feed.
pub(super) fn is_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\u{0b}' | '\u{0c}' | '\r')
}

/// Ruby's `[\w.]`: `\w` is ASCII-only in Ruby regexps.
fn is_key_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '.'
}

pub(super) fn skip_space(s: &[char], mut i: usize) -> usize {
    while i < s.len() && is_space(s[i]) {
        i += 1;
    }
    i
}

/// The position of the `\n` ending the line at `i`, or the end of the text.
pub(super) fn line_end(s: &[char], i: usize) -> usize {
    s[i.min(s.len())..]
        .iter()
        .position(|&c| c == '\n')
        .map_or(s.len(), |n| i + n)
}

/// The first position at or after `pos` where Ruby's `^` holds.
pub(super) fn next_line_start(s: &[char], pos: usize) -> Option<usize> {
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
pub(super) struct LineMatch {
    pub(super) end: usize,
    pub(super) export: bool,
    pub(super) key: Range<usize>,
    /// The `value` group, including the leading blanks it may swallow;
    /// `None` when the group did not take part (which `export` cares about).
    pub(super) value: Option<Range<usize>>,
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
pub(super) fn match_at(s: &[char], p: usize) -> Option<LineMatch> {
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
pub(super) fn malformed_line(line: &[char], number: usize) -> Option<Malformed> {
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
