//! `Parser#parse_value` and `Parser#call`: a matched value stripped,
//! unquoted, its `\n` handled, unescaped, checked for `$(command)` (never
//! run) and substituted (`$VAR`), then recorded as the file's assignment.

use std::collections::HashMap;

use super::line::{LineIndex, LineMatch, is_space};
use super::{Assignment, LINEBREAK_MODE, ParseError, Value};

/// `String#strip`: Ruby's whitespace plus NUL.
fn is_strip_char(c: char) -> bool {
    c == '\0' || is_space(c)
}

/// `[A-Z0-9_]` under `/i` in `Substitutions::Variable`: Unicode case folding
/// lets U+017F (long s) and U+212A (Kelvin sign) in as well.
fn is_var_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '\u{17f}' | '\u{212a}')
}

/// `Parser`'s `@hash` (what substitutions see first) and what the file adds.
#[derive(Default)]
pub(super) struct FileState {
    hash: HashMap<String, Value>,
    pub(super) assignments: Vec<Assignment>,
    /// Where each key is in `assignments`.
    index: HashMap<String, usize>,
}

impl FileState {
    /// `Parser#call` for one match.
    pub(super) fn apply(
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
