//! The values a class-level call is given (`'text'`, `:sym`, `%w()`,
//! arrays, hashes, constants, `Model.plural.keys`), as far as they are
//! literal: anything Ruby would compute reads as [`Val::Other`].

use super::Parser;
use crate::thor::MAX_DEPTH;
use crate::thor::lex::Tok;
use crate::thor::world::Ref;

/// A value in a class-level call's arguments.
#[derive(Clone, Debug)]
pub(super) enum Val {
    Str(Option<String>),
    Sym(String),
    Words(Vec<String>),
    Num(String),
    Array(Vec<Val>),
    Hash(Vec<(Val, Val)>),
    Const(Ref),
    /// `IpBlock.severities.keys`
    Chain(Vec<String>),
    True,
    False,
    Other,
}

impl Val {
    /// A name: a symbol or a string with known text.
    pub(super) fn name(&self) -> Option<String> {
        match self {
            Val::Sym(s) | Val::Str(Some(s)) => Some(s.clone()),
            _ => None,
        }
    }

    /// A list of names: a name, `%w()`, or an array of names (and numbers).
    pub(super) fn names(&self) -> Option<Vec<String>> {
        match self {
            Val::Words(words) => Some(words.clone()),
            Val::Array(items) => items
                .iter()
                .map(|v| match v {
                    Val::Num(n) => Some(n.clone()),
                    v => v.name(),
                })
                .collect(),
            v => v.name().map(|n| vec![n]),
        }
    }

    /// The text a `desc` shows: known, or empty when computed.
    pub(super) fn text(&self) -> Option<String> {
        match self {
            Val::Str(s) => Some(s.clone().unwrap_or_default()),
            Val::Sym(s) => Some(s.clone()),
            Val::Other | Val::Chain(_) | Val::Const(_) => Some(String::new()),
            _ => None,
        }
    }
}

pub(super) fn hash_get<'v>(hash: &'v [(Val, Val)], key: &str) -> Option<&'v Val> {
    hash.iter()
        .find(|(k, _)| k.name().as_deref() == Some(key))
        .map(|(_, v)| v)
}

impl Parser<'_> {
    /// `Foo::Bar` at the cursor.
    pub(super) fn const_path(&mut self) -> Option<Ref> {
        let absolute = self.is_punct(self.i, "::");
        if absolute {
            self.i += 1;
        }
        let mut path = Vec::new();
        while let Some(Tok::Const(name)) = self.cur() {
            path.push(name.clone());
            self.i += 1;
            if self.is_punct(self.i, "::") && matches!(self.tok(self.i + 1), Some(Tok::Const(_))) {
                self.i += 1;
            } else {
                break;
            }
        }
        (!path.is_empty()).then(|| Ref {
            path,
            absolute,
            scope: self.scope.clone(),
        })
    }

    /// The arguments of a class-level call at the cursor (its name), with
    /// `key: value` pairs gathered into a trailing hash.
    pub(super) fn call_args(&mut self) -> Vec<Val> {
        self.i += 1;
        let parens = self.is_punct(self.i, "(") && !self.t[self.i].space;
        if parens {
            self.i += 1;
        }
        let mut args = Vec::new();
        let mut pairs = Vec::new();
        loop {
            if parens {
                self.skip_newlines();
                if self.is_punct(self.i, ")") {
                    self.i += 1;
                    break;
                }
            }
            match self.cur() {
                None | Some(Tok::Nl | Tok::Punct(";" | "}" | ")")) => break,
                Some(Tok::Ident(w)) if (w == "do" || w == "end") && !self.t[self.i].after_dot => {
                    break;
                }
                Some(Tok::Label(key)) => {
                    let key = Val::Sym(key.clone());
                    self.i += 1;
                    self.skip_newlines();
                    let value = self.value();
                    pairs.push((key, value));
                }
                Some(_) => {
                    let value = self.value();
                    if self.is_punct(self.i, "=>") {
                        self.i += 1;
                        self.skip_newlines();
                        let to = self.value();
                        pairs.push((value, to));
                    } else {
                        args.push(value);
                    }
                }
            }
            if self.is_punct(self.i, ",") {
                self.i += 1;
                self.skip_newlines();
            } else if !parens {
                break;
            } else if !self.is_punct(self.i, ")") {
                // Something this reader does not follow: give up on the call.
                self.skip_statement();
                break;
            }
        }
        if !pairs.is_empty() {
            args.push(Val::Hash(pairs));
        }
        args
    }

    pub(super) fn value(&mut self) -> Val {
        self.depth += 1;
        let value = if self.depth > MAX_DEPTH {
            self.i = self.t.len();
            Val::Other
        } else {
            self.value_inner()
        };
        self.depth -= 1;
        value
    }

    fn value_inner(&mut self) -> Val {
        let Some(token) = self.t.get(self.i).cloned() else {
            return Val::Other;
        };
        let mut value = match token.tok {
            Tok::Str(text) => {
                self.i += 1;
                let mut text = text;
                // `'a' 'b'`: adjacent literals join.
                while let Some(Tok::Str(more)) = self.cur() {
                    text = match (text, more) {
                        (Some(a), Some(b)) => Some(a + b),
                        _ => None,
                    };
                    self.i += 1;
                }
                Val::Str(text)
            }
            Tok::Sym(s) => {
                self.i += 1;
                Val::Sym(s)
            }
            Tok::Words(w) => {
                self.i += 1;
                Val::Words(w)
            }
            Tok::Num(n) => {
                self.i += 1;
                Val::Num(n)
            }
            Tok::Ident(ref w) if w == "true" && !token.after_dot => {
                self.i += 1;
                Val::True
            }
            Tok::Ident(ref w) if w == "false" && !token.after_dot => {
                self.i += 1;
                Val::False
            }
            Tok::Punct("[") => {
                self.i += 1;
                let mut items = Vec::new();
                loop {
                    self.skip_newlines();
                    if self.is_punct(self.i, "]") || self.cur().is_none() {
                        self.i += 1;
                        break;
                    }
                    items.push(self.value());
                    self.skip_newlines();
                    if self.is_punct(self.i, ",") {
                        self.i += 1;
                    } else if !self.is_punct(self.i, "]") {
                        self.skip_expression();
                        if !self.is_punct(self.i, ",") && !self.is_punct(self.i, "]") {
                            self.skip_statement();
                            return Val::Other;
                        }
                    }
                }
                Val::Array(items)
            }
            Tok::Punct("{") => {
                self.i += 1;
                let mut pairs = Vec::new();
                loop {
                    self.skip_newlines();
                    match self.cur() {
                        None => break,
                        Some(Tok::Punct("}")) => {
                            self.i += 1;
                            break;
                        }
                        Some(Tok::Label(key)) => {
                            let key = Val::Sym(key.clone());
                            self.i += 1;
                            self.skip_newlines();
                            let v = self.value();
                            pairs.push((key, v));
                        }
                        Some(_) => {
                            let key = self.value();
                            if !self.is_punct(self.i, "=>") {
                                self.skip_expression();
                                if !self.is_punct(self.i, "}") && !self.is_punct(self.i, ",") {
                                    return Val::Other;
                                }
                            } else {
                                self.i += 1;
                                self.skip_newlines();
                                let v = self.value();
                                pairs.push((key, v));
                            }
                        }
                    }
                    self.skip_newlines();
                    if self.is_punct(self.i, ",") {
                        self.i += 1;
                    }
                }
                Val::Hash(pairs)
            }
            Tok::Const(_) | Tok::Punct("::") => match self.const_path() {
                Some(r) => Val::Const(r),
                None => Val::Other,
            },
            _ => {
                self.skip_expression();
                return Val::Other;
            }
        };
        // Method calls after it: `.freeze` keeps a literal; `.a.b` on a
        // constant is a chain; anything else is not known.
        while self.is_punct(self.i, ".") || self.is_punct(self.i, "&.") {
            let Some(Tok::Ident(method)) = self.tok(self.i + 1).cloned() else {
                break;
            };
            self.i += 2;
            value = match value {
                v @ (Val::Words(_) | Val::Array(_) | Val::Str(_)) if method == "freeze" => v,
                Val::Const(r) => Val::Chain(r.path.into_iter().chain([method]).collect()),
                Val::Chain(mut parts) => {
                    parts.push(method);
                    Val::Chain(parts)
                }
                _ => Val::Other,
            };
        }
        match self.cur() {
            None | Some(Tok::Nl | Tok::Punct("," | ")" | "]" | "}" | "=>" | ";")) => value,
            Some(Tok::Ident(w))
                if (w == "do" || w == "end" || w == "if" || w == "unless")
                    && !self.t[self.i].after_dot =>
            {
                value
            }
            _ => {
                self.skip_expression();
                Val::Other
            }
        }
    }
}
