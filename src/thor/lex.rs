//! The lexer: enough Ruby to know where strings, comments, regexps and
//! heredocs end, so that `def`, `desc` or `end` inside them never count.
//! Every step consumes input, and nesting (`#{…}` in strings) is bounded.

use super::MAX_DEPTH;

#[derive(Clone, Debug, PartialEq)]
pub(super) enum Tok {
    Ident(String),
    Const(String),
    Var,
    Label(String),
    Sym(String),
    /// `None` when the text is not known (interpolation, heredoc).
    Str(Option<String>),
    Words(Vec<String>),
    Num(String),
    Regex,
    Punct(&'static str),
    Op,
    Nl,
}

#[derive(Clone, Debug)]
pub(super) struct Token {
    pub(super) tok: Tok,
    /// Whitespace came before it.
    pub(super) space: bool,
    /// It follows `.`, `&.` or `::`: a method name, never a keyword.
    pub(super) after_dot: bool,
}

/// Ruby's reserved words.
#[rustfmt::skip]
pub(super) const KEYWORDS: &[&str] = &[
    "alias", "and", "begin", "break", "case", "class", "def", "defined?", "do", "else",
    "elsif", "end", "ensure", "false", "for", "if", "in", "module", "next", "nil", "not", "or",
    "redo", "rescue", "retry", "return", "self", "super", "then", "true", "undef", "unless",
    "until", "when", "while", "yield", "__FILE__", "__LINE__", "__ENCODING__",
];

/// Keywords after which an expression ends: `return if x` is a modifier.
#[rustfmt::skip]
pub(super) const VALUE_KEYWORDS: &[&str] = &[
    "end", "self", "nil", "true", "false", "return", "next", "break", "redo", "retry",
    "super", "yield", "__FILE__", "__LINE__", "__ENCODING__",
];

/// The punctuation the walker looks at; other operators are [`Tok::Op`].
#[rustfmt::skip]
const PUNCTS: &[&str] = &[
    "(", ")", "[", "]", "{", "}", ",", ";", ".", "&.", "::", "=>", "=", "<", "<<",
    "->", "|",
];
/// Operators of more than one character, longest first (`<=>` before `<=`).
#[rustfmt::skip]
const OPERATORS: &[&str] = &[
    "**=", "<=>", "===", "...", "<<=", ">>=", "&&=", "||=", "&.", "::", "=>", "->",
    "==", "!=", ">=", "<=", "&&", "||", "<<", ">>", "=~", "!~", "..", "+=", "-=", "*=", "/=", "%=",
    "|=", "&=", "^=", "**",
];

struct Heredoc {
    id: Vec<u8>,
    indented: bool,
}

struct Lexer<'a> {
    s: &'a [u8],
    pos: usize,
    out: Vec<Token>,
    heredocs: Vec<Heredoc>,
    space: bool,
    /// The last token ends an expression (`/` after it divides).
    last_value: bool,
    /// The last token is a plain identifier (`foo /x/` may be a call).
    last_ident: bool,
    last_dot: bool,
    depth: usize,
}

fn ident_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b >= 0x80
}

pub(super) fn lex(text: &str) -> Vec<Token> {
    let mut lexer = Lexer {
        s: text.as_bytes(),
        pos: 0,
        out: Vec::new(),
        heredocs: Vec::new(),
        space: false,
        last_value: false,
        last_ident: false,
        last_dot: false,
        depth: 0,
    };
    lexer.line_start();
    while lexer.pos < lexer.s.len() {
        lexer.step();
    }
    lexer.out
}

impl Lexer<'_> {
    fn at(&self, offset: usize) -> u8 {
        self.s.get(self.pos + offset).copied().unwrap_or(0)
    }

    fn push(&mut self, tok: Tok) {
        let after_dot = self.last_dot;
        self.last_value = ends_value(&tok, after_dot);
        self.last_ident = matches!(&tok, Tok::Ident(s) if !KEYWORDS.contains(&s.as_str()));
        self.last_dot = matches!(tok, Tok::Punct("." | "&." | "::"));
        self.out.push(Token {
            tok,
            space: std::mem::take(&mut self.space),
            after_dot,
        });
    }

    /// At the start of a line: `=begin` comments and `__END__`.
    fn line_start(&mut self) {
        let rest = &self.s[self.pos..];
        if rest.starts_with(b"=begin") && rest.get(6).is_none_or(|b| b.is_ascii_whitespace()) {
            loop {
                self.skip_line();
                let rest = &self.s[self.pos..];
                if self.pos >= self.s.len() || rest.starts_with(b"=end") {
                    self.skip_line();
                    break;
                }
            }
        } else if rest.starts_with(b"__END__")
            && rest.get(7).is_none_or(|b| *b == b'\n' || *b == b'\r')
        {
            self.pos = self.s.len();
        }
    }

    /// Moves past the end of this line.
    fn skip_line(&mut self) {
        match self.s[self.pos..].iter().position(|&b| b == b'\n') {
            Some(n) => self.pos += n + 1,
            None => self.pos = self.s.len(),
        }
    }

    fn step(&mut self) {
        let c = self.at(0);
        match c {
            b' ' | b'\t' | b'\r' | 0x0c | 0x0b | 0 => {
                self.pos += 1;
                self.space = true;
            }
            b'\\' if self.at(1) == b'\n' => {
                self.pos += 2;
                self.space = true;
            }
            b'\\' if self.at(1) == b'\r' && self.at(2) == b'\n' => {
                self.pos += 3;
                self.space = true;
            }
            b'\n' => {
                self.pos += 1;
                self.push(Tok::Nl);
                self.heredoc_bodies();
                self.line_start();
            }
            b'#' => match self.s[self.pos..].iter().position(|&b| b == b'\n') {
                Some(n) => self.pos += n,
                None => self.pos = self.s.len(),
            },
            b'\'' => {
                self.pos += 1;
                let text = self.quoted(b'\'', None, false);
                self.push(Tok::Str(text));
            }
            b'"' | b'`' => {
                self.pos += 1;
                let text = self.quoted(c, None, true);
                self.push(Tok::Str(if c == b'"' { text } else { None }));
            }
            b'%' if self.percent_literal() => {}
            b'/' if self.literal_position(1) && self.regex() => {}
            b'?' if !self.last_value
                && self.at(1) != 0
                && !self.at(1).is_ascii_whitespace()
                && !ident_byte(self.at(2)) =>
            {
                let len = if self.at(1) == b'\\' { 3 } else { 2 };
                let text = String::from_utf8_lossy(
                    &self.s[self.pos + 1..(self.pos + len).min(self.s.len())],
                )
                .into_owned();
                self.pos += len;
                self.push(Tok::Str(Some(text)));
            }
            b':' => self.colon(),
            b'@' | b'$' => {
                self.pos += 1;
                if self.at(0) == b'@' {
                    self.pos += 1;
                }
                if ident_byte(self.at(0)) {
                    self.ident_bytes();
                } else if self.pos < self.s.len() {
                    // `$!`, `$0`, `$;`
                    self.pos += 1;
                }
                self.push(Tok::Var);
            }
            b'<' if self.heredoc() => {}
            b'0'..=b'9' => self.number(),
            _ if ident_byte(c) => self.word(),
            _ => self.operator(),
        }
    }

    fn ident_bytes(&mut self) -> String {
        let start = self.pos;
        while self.pos < self.s.len() && ident_byte(self.s[self.pos]) {
            self.pos += 1;
        }
        String::from_utf8_lossy(&self.s[start..self.pos]).into_owned()
    }

    fn word(&mut self) {
        let mut word = self.ident_bytes();
        // `nil?`, `save!`, but not `a!=b`.
        if matches!(self.at(0), b'?' | b'!') && (self.at(1) != b'=' || self.at(2) == b'=') {
            word.push(self.at(0) as char);
            self.pos += 1;
        }
        if self.at(0) == b':' && self.at(1) != b':' && !self.last_dot {
            self.pos += 1;
            self.push(Tok::Label(word));
        } else if word.starts_with(|c: char| c.is_ascii_uppercase()) {
            self.push(Tok::Const(word));
        } else {
            self.push(Tok::Ident(word));
        }
    }

    fn number(&mut self) {
        let start = self.pos;
        while ident_byte(self.at(0)) {
            self.pos += 1;
        }
        if self.at(0) == b'.' && self.at(1).is_ascii_digit() {
            self.pos += 1;
            while ident_byte(self.at(0)) {
                self.pos += 1;
            }
        }
        let text = String::from_utf8_lossy(&self.s[start..self.pos]).into_owned();
        self.push(Tok::Num(text));
    }

    fn operator(&mut self) {
        for op in OPERATORS {
            if self.s[self.pos..].starts_with(op.as_bytes()) {
                self.pos += op.len();
                let tok = match PUNCTS.iter().find(|p| *p == op) {
                    Some(p) => Tok::Punct(p),
                    None => Tok::Op,
                };
                self.push(tok);
                return;
            }
        }
        let c = self.s[self.pos];
        self.pos += 1;
        let tok = match PUNCTS.iter().find(|p| p.as_bytes() == [c]) {
            Some(p) => Tok::Punct(p),
            None => Tok::Op,
        };
        self.push(tok);
    }

    fn colon(&mut self) {
        match self.at(1) {
            b':' => {
                self.pos += 2;
                self.push(Tok::Punct("::"));
            }
            b'"' | b'\'' => {
                let quote = self.at(1);
                self.pos += 2;
                let text = self.quoted(quote, None, quote == b'"');
                self.push(Tok::Sym(text.unwrap_or_default()));
            }
            c if ident_byte(c) && !c.is_ascii_digit() => {
                self.pos += 1;
                let mut name = self.ident_bytes();
                let next = self.at(0);
                if matches!(next, b'?' | b'!') && self.at(1) != b'=' {
                    name.push(next as char);
                    self.pos += 1;
                } else if next == b'=' && !matches!(self.at(1), b'=' | b'>' | b'~') {
                    name.push('=');
                    self.pos += 1;
                }
                self.push(Tok::Sym(name));
            }
            b'@' | b'$' => {
                self.pos += 1;
                let start = self.pos;
                while matches!(self.at(0), b'@' | b'$') {
                    self.pos += 1;
                }
                self.ident_bytes();
                let name = String::from_utf8_lossy(&self.s[start..self.pos]).into_owned();
                self.push(Tok::Sym(name));
            }
            _ if !self.last_value => {
                // Operator symbols: `:[]`, `:<=>`, `:+`.
                for op in [
                    "[]=", "[]", "<=>", "===", "==", "=~", "!=", "!~", "**", "<<", ">>", "<=",
                    ">=", "+@", "-@", "+", "-", "*", "/", "%", "<", ">", "!", "&", "|", "^", "~",
                ] {
                    if self.s[self.pos + 1..].starts_with(op.as_bytes()) {
                        self.pos += 1 + op.len();
                        self.push(Tok::Sym(op.to_owned()));
                        return;
                    }
                }
                self.pos += 1;
                self.push(Tok::Punct(":"));
            }
            _ => {
                self.pos += 1;
                self.push(Tok::Op);
            }
        }
    }

    /// Whether a `/`, `%` or `<<` here starts a literal: where a value is
    /// expected, or after a method name and a space with none following
    /// (`foo /x/`, `long_desc <<~TEXT`).
    fn literal_position(&self, len: usize) -> bool {
        !self.last_value
            || (self.last_ident
                && self.space
                && !matches!(self.at(len), b' ' | b'\t' | b'=' | b'\n'))
    }

    /// A `/…/` regexp on one line; `false` (nothing consumed) when the
    /// line has no closing `/`, so a misread division cannot swallow code.
    fn regex(&mut self) -> bool {
        let start = self.pos;
        self.pos += 1;
        self.quoted(b'/', None, true);
        if self.s[start..self.pos].contains(&b'\n') || self.s[self.pos - 1] != b'/' {
            self.pos = start;
            return false;
        }
        self.regex_flags();
        self.push(Tok::Regex);
        true
    }

    fn regex_flags(&mut self) {
        while self.at(0).is_ascii_alphabetic() {
            self.pos += 1;
        }
    }

    fn percent_literal(&mut self) -> bool {
        let (kind, delim_at) = match self.at(1) {
            k @ (b'w' | b'W' | b'i' | b'I' | b'q' | b'Q' | b'r' | b's' | b'x') => (k, 2),
            _ => (b'Q', 1),
        };
        let open = self.at(delim_at);
        if open == 0
            || open.is_ascii_alphanumeric()
            || open.is_ascii_whitespace()
            || !self.literal_position(1)
        {
            return false;
        }
        // `x % y` where `x` is a call: a space after `%` means modulo.
        let close = match open {
            b'(' => b')',
            b'[' => b']',
            b'{' => b'}',
            b'<' => b'>',
            other => other,
        };
        self.pos += delim_at + 1;
        let nest = (close != open).then_some(open);
        match kind {
            b'w' | b'W' | b'i' | b'I' => {
                let text = self.quoted(close, nest, matches!(kind, b'W' | b'I'));
                let words = text
                    .unwrap_or_default()
                    .split_whitespace()
                    .map(str::to_owned)
                    .collect();
                self.push(Tok::Words(words));
            }
            b'q' => {
                let text = self.quoted(close, nest, false);
                self.push(Tok::Str(text));
            }
            b'Q' => {
                let text = self.quoted(close, nest, true);
                self.push(Tok::Str(text));
            }
            b's' => {
                let text = self.quoted(close, nest, false);
                self.push(Tok::Sym(text.unwrap_or_default()));
            }
            b'r' => {
                self.quoted(close, nest, true);
                self.regex_flags();
                self.push(Tok::Regex);
            }
            _ => {
                self.quoted(close, nest, true);
                self.push(Tok::Str(None));
            }
        }
        true
    }

    /// The text up to `close` (the opening delimiter already passed), with
    /// Ruby's escapes; `None` when it interpolates.
    fn quoted(&mut self, close: u8, nest: Option<u8>, interpolates: bool) -> Option<String> {
        let mut text = Vec::new();
        let mut known = true;
        let mut level = 0usize;
        while self.pos < self.s.len() {
            let c = self.s[self.pos];
            self.pos += 1;
            if c == b'\\' && self.pos < self.s.len() {
                let e = self.s[self.pos];
                self.pos += 1;
                if interpolates {
                    match e {
                        b'n' => text.push(b'\n'),
                        b't' => text.push(b'\t'),
                        b'\n' => {}
                        _ => text.push(e),
                    }
                } else if e == b'\\' || e == close || Some(e) == nest {
                    text.push(e);
                } else {
                    text.extend([b'\\', e]);
                }
            } else if interpolates && c == b'#' && self.at(0) == b'{' {
                self.pos += 1;
                self.interpolation();
                known = false;
            } else if interpolates && c == b'#' && matches!(self.at(0), b'@' | b'$') {
                known = false;
            } else if Some(c) == nest {
                level += 1;
                text.push(c);
            } else if c == close {
                if level == 0 {
                    break;
                }
                level -= 1;
                text.push(c);
            } else {
                text.push(c);
            }
        }
        known.then(|| String::from_utf8_lossy(&text).into_owned())
    }

    /// Skips the code of a `#{…}`, whatever strings it holds.
    fn interpolation(&mut self) {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            self.pos = self.s.len();
            return;
        }
        let saved = (
            self.out.len(),
            self.last_value,
            self.last_ident,
            self.last_dot,
            self.space,
        );
        self.last_value = false;
        let mut braces = 0usize;
        while self.pos < self.s.len() {
            if self.at(0) == b'}' && braces == 0 {
                self.pos += 1;
                break;
            }
            let before = self.out.len();
            self.step();
            for token in &self.out[before..] {
                match token.tok {
                    Tok::Punct("{") => braces += 1,
                    Tok::Punct("}") => braces = braces.saturating_sub(1),
                    _ => {}
                }
            }
        }
        self.out.truncate(saved.0);
        (self.last_value, self.last_ident, self.last_dot, self.space) =
            (saved.1, saved.2, saved.3, saved.4);
        self.depth -= 1;
    }

    /// `<<~ID`, `<<-ID`, `<<ID`, `<<~'ID'`: the body starts on the next line.
    fn heredoc(&mut self) -> bool {
        if self.at(1) != b'<' {
            return false;
        }
        let mut j = 2;
        let indented = matches!(self.at(2), b'~' | b'-');
        if indented {
            j += 1;
        }
        let quote = self.at(j);
        let id: Vec<u8>;
        let end;
        if matches!(quote, b'\'' | b'"' | b'`') {
            let start = self.pos + j + 1;
            let Some(n) = self.s[start.min(self.s.len())..]
                .iter()
                .position(|&b| b == quote || b == b'\n')
            else {
                return false;
            };
            if self.s[start + n] != quote {
                return false;
            }
            id = self.s[start..start + n].to_vec();
            end = start + n + 1;
        } else {
            let first = self.at(j);
            if !(first.is_ascii_alphabetic() || first == b'_')
                || (!indented && !first.is_ascii_uppercase())
            {
                return false;
            }
            let start = self.pos + j;
            let mut k = start;
            while k < self.s.len() && ident_byte(self.s[k]) {
                k += 1;
            }
            id = self.s[start..k].to_vec();
            end = k;
        }
        if !indented && !self.literal_position(2) {
            return false;
        }
        if indented && self.last_value && !(self.last_ident && self.space) {
            return false;
        }
        self.pos = end;
        self.heredocs.push(Heredoc { id, indented });
        self.push(Tok::Str(None));
        true
    }

    fn heredoc_bodies(&mut self) {
        for heredoc in std::mem::take(&mut self.heredocs) {
            while self.pos < self.s.len() {
                let start = self.pos;
                self.skip_line();
                let mut line = &self.s[start..self.pos];
                while let [rest @ .., b'\n' | b'\r'] = line {
                    line = rest;
                }
                if heredoc.indented {
                    while let [b' ' | b'\t', rest @ ..] = line {
                        line = rest;
                    }
                }
                if line == heredoc.id.as_slice() {
                    break;
                }
            }
        }
    }
}

/// Whether `tok` ends a value (so that what follows is an operator, not the
/// start of an expression): a name that is no keyword (or a method name
/// after `.`), a literal, or a closing bracket.
pub(super) fn ends_value(tok: &Tok, after_dot: bool) -> bool {
    match tok {
        Tok::Ident(s) => {
            after_dot || !KEYWORDS.contains(&s.as_str()) || VALUE_KEYWORDS.contains(&s.as_str())
        }
        Tok::Const(_)
        | Tok::Var
        | Tok::Sym(_)
        | Tok::Str(_)
        | Tok::Words(_)
        | Tok::Num(_)
        | Tok::Regex => true,
        Tok::Punct(p) => matches!(*p, ")" | "]" | "}"),
        _ => false,
    }
}
