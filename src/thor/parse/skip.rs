//! Skipping what the walker does not read: a statement to its end, a
//! block to its `end`, a bracket to its match, knowing which keywords open
//! a block (`if` as a modifier does not).

use super::Parser;
use crate::thor::lex::Tok;

impl Parser<'_> {
    /// The rest of a `class`/`module` line.
    pub(super) fn skip_header(&mut self) {
        while let Some(tok) = self.cur() {
            match tok {
                Tok::Nl | Tok::Punct(";") => return,
                Tok::Punct("(" | "[" | "{") => self.skip_balanced(),
                _ => self.i += 1,
            }
        }
    }

    /// From an opening `(`, `[` or `{` to just past its match.
    pub(super) fn skip_balanced(&mut self) {
        let mut level = 0usize;
        while let Some(tok) = self.cur() {
            match tok {
                Tok::Punct("(" | "[" | "{") => level += 1,
                Tok::Punct(")" | "]" | "}") => {
                    level = level.saturating_sub(1);
                    if level == 0 {
                        self.i += 1;
                        return;
                    }
                }
                _ => {}
            }
            self.i += 1;
        }
    }

    /// Whether the token before `i` ends an expression, so that an `if` or
    /// `while` at `i` is a modifier and opens nothing.
    fn modifier(&self, i: usize) -> bool {
        let Some(prev) = i.checked_sub(1).and_then(|p| self.t.get(p)) else {
            return false;
        };
        crate::thor::lex::ends_value(&prev.tok, prev.after_dot)
    }

    /// Inside a block whose opener was passed: to just past its `end`.
    pub(super) fn skip_to_end(&mut self) {
        let mut level = 1usize;
        let mut loop_do = false;
        while self.i < self.t.len() {
            let token = &self.t[self.i];
            match &token.tok {
                Tok::Nl | Tok::Punct(";") => loop_do = false,
                Tok::Ident(word) if !token.after_dot => match word.as_str() {
                    "def" => {
                        let (_, _, endless) = self.def_header();
                        if !endless {
                            level += 1;
                        }
                        continue;
                    }
                    "class" | "module" | "case" | "begin" => level += 1,
                    "if" | "unless" if !self.modifier(self.i) => level += 1,
                    "while" | "until" if !self.modifier(self.i) => {
                        level += 1;
                        loop_do = true;
                    }
                    "for" => {
                        level += 1;
                        loop_do = true;
                    }
                    "do" if loop_do => loop_do = false,
                    "do" => level += 1,
                    "end" => {
                        level -= 1;
                        if level == 0 {
                            self.i += 1;
                            return;
                        }
                    }
                    _ => {}
                },
                _ => {}
            }
            self.i += 1;
        }
    }

    /// To the end of this statement (its newline or `;` stays), or to the
    /// `end`/`}` closing the body around it.
    pub(super) fn skip_statement(&mut self) {
        let mut continued = false;
        while let Some(token) = self.t.get(self.i) {
            match &token.tok {
                Tok::Nl | Tok::Punct(";") => {
                    let mut next = self.i + 1;
                    while matches!(self.tok(next), Some(Tok::Nl)) {
                        next += 1;
                    }
                    let chained = matches!(self.tok(next), Some(Tok::Punct("." | "&.")));
                    if continued || chained {
                        self.i = next;
                        continued = false;
                        continue;
                    }
                    return;
                }
                Tok::Punct("}" | ")" | "]") => return,
                Tok::Ident(word) if word == "end" && !token.after_dot => return,
                Tok::Punct("(" | "[" | "{") => {
                    self.skip_balanced();
                    continued = false;
                    continue;
                }
                Tok::Ident(word) if !token.after_dot => {
                    let opens = match word.as_str() {
                        "class" | "module" | "case" | "begin" | "for" | "do" => true,
                        "if" | "unless" | "while" | "until" => !self.modifier(self.i),
                        "def" => {
                            let (_, _, endless) = self.def_header();
                            if !endless {
                                self.skip_to_end();
                            }
                            continued = false;
                            continue;
                        }
                        _ => false,
                    };
                    self.i += 1;
                    if opens {
                        if matches!(word.as_str(), "while" | "until" | "for") {
                            // The optional `do` of the loop is part of it.
                            self.skip_loop_header();
                        }
                        self.skip_to_end();
                    }
                    continued = false;
                    continue;
                }
                _ => {}
            }
            // A line ending in an operator or comma goes on.
            continued = matches!(
                token.tok,
                Tok::Op
                    | Tok::Punct("," | "." | "&." | "::" | "=>" | "=" | "<" | "<<" | "|" | "->")
            );
            self.i += 1;
        }
    }

    fn skip_loop_header(&mut self) {
        while let Some(tok) = self.cur() {
            match tok {
                Tok::Nl | Tok::Punct(";") => return,
                Tok::Ident(w) if w == "do" && !self.t[self.i].after_dot => {
                    self.i += 1;
                    return;
                }
                Tok::Punct("(" | "[" | "{") => self.skip_balanced(),
                _ => self.i += 1,
            }
        }
    }

    /// To the next `,` or closing bracket of the enclosing list, or the end
    /// of the line.
    pub(super) fn skip_expression(&mut self) {
        while let Some(token) = self.t.get(self.i) {
            match &token.tok {
                Tok::Nl | Tok::Punct("," | ")" | "]" | "}" | ";" | "=>") => return,
                Tok::Punct("(" | "[" | "{") => self.skip_balanced(),
                Tok::Ident(w) if w == "end" && !token.after_dot => return,
                Tok::Ident(w)
                    if !token.after_dot
                        && matches!(w.as_str(), "do" | "begin" | "case" | "class" | "module") =>
                {
                    self.i += 1;
                    self.skip_to_end();
                }
                Tok::Ident(w)
                    if !token.after_dot
                        && matches!(w.as_str(), "if" | "unless")
                        && !self.modifier(self.i) =>
                {
                    self.i += 1;
                    self.skip_to_end();
                }
                _ => self.i += 1,
            }
        }
    }
}
