//! The statement walker: Thor class bodies read statement by statement
//! (`desc`, `option`, `def`, `private`, `no_commands`, `subcommand`, …),
//! every other body skipped to its `end`, into a [`World`].

use super::lex::{Tok, Token, lex};
use super::{Event, MAX_DEPTH, RawOpt, Ref, Values, World};
use crate::tootctl_tree::OptKind;

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Class,
    Module,
    Other,
}

#[derive(Clone)]
struct Ctx {
    scope: Vec<String>,
    kind: Kind,
    public: bool,
    no_commands: bool,
}

/// A value in a class-level call's arguments.
#[derive(Clone, Debug)]
enum Val {
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
    fn name(&self) -> Option<String> {
        match self {
            Val::Sym(s) | Val::Str(Some(s)) => Some(s.clone()),
            _ => None,
        }
    }

    /// A list of names: a name, `%w()`, or an array of names (and numbers).
    fn names(&self) -> Option<Vec<String>> {
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
    fn text(&self) -> Option<String> {
        match self {
            Val::Str(s) => Some(s.clone().unwrap_or_default()),
            Val::Sym(s) => Some(s.clone()),
            Val::Other | Val::Chain(_) | Val::Const(_) => Some(String::new()),
            _ => None,
        }
    }
}

fn hash_get<'v>(hash: &'v [(Val, Val)], key: &str) -> Option<&'v Val> {
    hash.iter()
        .find(|(k, _)| k.name().as_deref() == Some(key))
        .map(|(_, v)| v)
}

pub(super) fn parse_into(text: &str, world: &mut World) {
    let tokens = lex(text);
    let mut parser = Parser {
        t: tokens,
        i: 0,
        world,
        depth: 0,
        scope: Vec::new(),
    };
    let mut ctx = Ctx {
        scope: Vec::new(),
        kind: Kind::Other,
        public: true,
        no_commands: false,
    };
    let mut sink = Vec::new();
    // Top level: stray `end`s are stepped over so one bad line cannot hide
    // the classes after it.
    while parser.i < parser.t.len() {
        parser.body(&mut ctx, &mut sink, Close::End);
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Close {
    End,
    Brace,
}

struct Parser<'w> {
    t: Vec<Token>,
    i: usize,
    world: &'w mut World,
    depth: usize,
    /// The namespace being read (`Mastodon::CLI::Main`), for constants.
    scope: Vec<String>,
}

impl Parser<'_> {
    fn tok(&self, i: usize) -> Option<&Tok> {
        self.t.get(i).map(|t| &t.tok)
    }

    fn cur(&self) -> Option<&Tok> {
        self.tok(self.i)
    }

    fn is_kw(&self, i: usize, kw: &str) -> bool {
        matches!(self.t.get(i), Some(Token { tok: Tok::Ident(s), after_dot: false, .. }) if s == kw)
    }

    fn is_punct(&self, i: usize, p: &str) -> bool {
        matches!(self.tok(i), Some(Tok::Punct(q)) if *q == p)
    }

    fn skip_newlines(&mut self) {
        while matches!(self.cur(), Some(Tok::Nl)) {
            self.i += 1;
        }
    }

    /// Statements up to the `end` (or `}`) that closes this body, consumed.
    fn body(&mut self, ctx: &mut Ctx, sink: &mut Vec<Event>, close: Close) {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            self.i = self.t.len();
        }
        loop {
            while matches!(self.cur(), Some(Tok::Nl | Tok::Punct(";"))) {
                self.i += 1;
            }
            let Some(_) = self.cur() else { break };
            if self.is_kw(self.i, "end") || self.is_punct(self.i, "}") {
                let ours = match close {
                    Close::End => self.is_kw(self.i, "end"),
                    Close::Brace => self.is_punct(self.i, "}"),
                };
                self.i += 1;
                if ours {
                    break;
                }
                continue;
            }
            let before = self.i;
            self.statement(ctx, sink);
            if self.i == before {
                self.i += 1;
            }
        }
        self.depth -= 1;
    }

    fn statement(&mut self, ctx: &mut Ctx, sink: &mut Vec<Event>) {
        let Some(Token {
            tok,
            after_dot: false,
            ..
        }) = self.t.get(self.i)
        else {
            return self.skip_statement();
        };
        let word = match tok {
            Tok::Ident(word) => word.clone(),
            Tok::Const(name) if self.is_punct(self.i + 1, "=") => {
                let name = name.clone();
                return self.constant(ctx, name);
            }
            _ => return self.skip_statement(),
        };
        let in_class = ctx.kind == Kind::Class;
        match word.as_str() {
            "class" => self.class_def(ctx),
            "module" => self.module_def(ctx),
            "def" => {
                let public = ctx.public;
                self.def(ctx, sink, public);
            }
            "private" | "protected" | "public" => {
                self.i += 1;
                if self.is_kw(self.i, "def") {
                    self.def(ctx, sink, word == "public");
                } else if matches!(self.cur(), None | Some(Tok::Nl | Tok::Punct(";"))) {
                    ctx.public = word == "public";
                } else {
                    self.skip_statement();
                }
            }
            "no_commands" | "no_tasks" if in_class => {
                self.i += 1;
                let close = if self.is_kw(self.i, "do") {
                    Close::End
                } else if self.is_punct(self.i, "{") {
                    Close::Brace
                } else {
                    return self.skip_statement();
                };
                self.i += 1;
                let mut inner = ctx.clone();
                inner.no_commands = true;
                self.block_params();
                self.body(&mut inner, sink, close);
                self.skip_statement();
            }
            "included"
                if ctx.kind == Kind::Module
                    && (self.is_kw(self.i + 1, "do") || self.is_punct(self.i + 1, "{")) =>
            {
                let close = if self.is_kw(self.i + 1, "do") {
                    Close::End
                } else {
                    Close::Brace
                };
                self.i += 2;
                let mut inner = ctx.clone();
                inner.kind = Kind::Class;
                inner.public = true;
                let mut events = Vec::new();
                self.block_params();
                self.body(&mut inner, &mut events, close);
                let name = ctx.scope.join("::");
                self.world.included.entry(name).or_default().extend(events);
                self.skip_statement();
            }
            "enum" if in_class => {
                let args = self.call_args();
                self.rails_enum(ctx, &args);
                self.skip_statement();
            }
            "desc" | "option" | "method_option" | "class_option" | "options" | "method_options"
            | "class_options" | "map" | "subcommand" | "subtask" | "include"
                if in_class
                    && !self.is_punct(self.i + 1, "=")
                    && !self.is_punct(self.i + 1, ".") =>
            {
                let args = self.call_args();
                thor_call(sink, &word, args);
                self.skip_statement();
            }
            _ => self.skip_statement(),
        }
    }

    /// `do |a, b|`: the parameters of a block just opened.
    fn block_params(&mut self) {
        if self.is_punct(self.i, "|") {
            self.i += 1;
            while let Some(tok) = self.cur() {
                let last = matches!(tok, Tok::Punct("|") | Tok::Nl);
                self.i += 1;
                if last {
                    break;
                }
            }
        }
    }
}

/// A Thor class-level call, as the event Thor reacts to.
fn thor_call(sink: &mut Vec<Event>, word: &str, args: Vec<Val>) {
    {
        let hash: &[(Val, Val)] = match args.last() {
            Some(Val::Hash(pairs)) => pairs,
            _ => &[],
        };
        let target = hash_get(hash, "for").and_then(Val::name);
        match word {
            "desc" => {
                let (Some(usage), Some(description)) = (
                    args.first().and_then(Val::text),
                    args.get(1).and_then(Val::text),
                ) else {
                    return;
                };
                let hide = matches!(hash_get(hash, "hide"), Some(Val::True));
                sink.push(Event::Desc {
                    usage,
                    description,
                    hide,
                    target,
                });
            }
            "option" | "method_option" | "class_option" => {
                let Some(name) = args.first().and_then(Val::name) else {
                    return;
                };
                if let Some(opt) = option(name, hash) {
                    sink.push(Event::Option {
                        class: word == "class_option",
                        opt,
                        target,
                    });
                }
            }
            "options" | "method_options" | "class_options" => {
                for (key, value) in hash {
                    if let Some(opt) = quick_option(key, value) {
                        sink.push(Event::Option {
                            class: word == "class_options",
                            opt,
                            target: None,
                        });
                    }
                }
            }
            "map" => {
                let mut pairs = Vec::new();
                for (keys, value) in hash {
                    let (Some(keys), Some(target)) = (keys.names(), value.name()) else {
                        continue;
                    };
                    for key in keys {
                        pairs.push((key, target.clone()));
                    }
                }
                sink.push(Event::Map(pairs));
            }
            "subcommand" | "subtask" => {
                if let (Some(name), Some(Val::Const(class))) =
                    (args.first().and_then(Val::name), args.get(1))
                {
                    sink.push(Event::Subcommand {
                        name,
                        class: class.clone(),
                    });
                }
            }
            "include" => {
                for arg in &args {
                    if let Val::Const(module) = arg {
                        sink.push(Event::Include(module.clone()));
                    }
                }
            }
            _ => {}
        }
    }
}

impl Parser<'_> {
    /// `enum :severity, { a: 1 }` or `enum severity: { a: 1 }`.
    fn rails_enum(&mut self, ctx: &Ctx, args: &[Val]) {
        let mut found = Vec::new();
        match args {
            [Val::Sym(name), mapping, ..] => found.push((name.clone(), mapping.clone())),
            [Val::Hash(pairs)] => {
                for (key, mapping) in pairs {
                    if let Some(name) = key.name().filter(|n| !n.starts_with('_')) {
                        found.push((name, mapping.clone()));
                    }
                }
            }
            _ => {}
        }
        for (name, mapping) in found {
            let keys = match &mapping {
                Val::Hash(pairs) => pairs.iter().filter_map(|(k, _)| k.name()).collect(),
                other => match other.names() {
                    Some(keys) => keys,
                    None => continue,
                },
            };
            let class = ctx.scope.join("::");
            self.world
                .enums
                .entry(class)
                .or_default()
                .push((name, keys));
        }
    }

    fn constant(&mut self, ctx: &Ctx, name: String) {
        self.i += 2;
        let value = self.value();
        if let Some(words) = value
            .names()
            .filter(|_| matches!(value, Val::Words(_) | Val::Array(_)))
        {
            let mut parts = ctx.scope.clone();
            parts.push(name);
            self.world.consts.insert(parts.join("::"), words);
        }
        self.skip_statement();
    }

    /// `Foo::Bar` at the cursor.
    fn const_path(&mut self) -> Option<Ref> {
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

    fn class_def(&mut self, ctx: &Ctx) {
        self.i += 1;
        if self.is_punct(self.i, "<<") {
            // `class << self`: singleton methods, never commands.
            self.i += 1;
            return self.skip_to_end();
        }
        let Some(name) = self.const_path() else {
            return self.skip_to_end();
        };
        let superclass = if self.is_punct(self.i, "<") {
            self.i += 1;
            self.const_path()
        } else {
            None
        };
        // Whatever else the header holds (`Struct.new(…)`).
        self.skip_header();
        let full = qualified(ctx, &name);
        let mut inner = Ctx {
            scope: full.split("::").map(str::to_owned).collect(),
            kind: Kind::Class,
            public: true,
            no_commands: false,
        };
        let mut events = Vec::new();
        let outer = std::mem::replace(&mut self.scope, inner.scope.clone());
        self.body(&mut inner, &mut events, Close::End);
        self.scope = outer;
        let class = self.world.class_mut(&full);
        if superclass.is_some() {
            class.superclass = superclass;
        }
        class.events.extend(events);
    }

    fn module_def(&mut self, ctx: &Ctx) {
        self.i += 1;
        let Some(name) = self.const_path() else {
            return self.skip_to_end();
        };
        self.skip_header();
        let full = qualified(ctx, &name);
        let mut inner = Ctx {
            scope: full.split("::").map(str::to_owned).collect(),
            kind: Kind::Module,
            public: true,
            no_commands: false,
        };
        let mut ignored = Vec::new();
        let outer = std::mem::replace(&mut self.scope, inner.scope.clone());
        self.body(&mut inner, &mut ignored, Close::End);
        self.scope = outer;
    }

    /// The rest of a `class`/`module` line.
    fn skip_header(&mut self) {
        while let Some(tok) = self.cur() {
            match tok {
                Tok::Nl | Tok::Punct(";") => return,
                Tok::Punct("(" | "[" | "{") => self.skip_balanced(),
                _ => self.i += 1,
            }
        }
    }

    fn def(&mut self, ctx: &Ctx, sink: &mut Vec<Event>, public: bool) {
        let (name, singleton, endless) = self.def_header();
        if endless {
            self.skip_statement();
        } else {
            self.skip_to_end();
        }
        if let Some(name) = name.filter(|_| !singleton) {
            sink.push(Event::Def {
                name,
                public,
                no_commands: ctx.no_commands,
            });
        }
    }

    /// At `def`: moves past the name and parameters. Returns the name, whether
    /// it is a singleton method (`def self.x`), and whether it is an endless
    /// one (`def x = …`, no `end`).
    fn def_header(&mut self) -> (Option<String>, bool, bool) {
        self.i += 1;
        let mut singleton = false;
        if matches!(self.cur(), Some(Tok::Ident(_) | Tok::Const(_)))
            && self.is_punct(self.i + 1, ".")
        {
            singleton = true;
            self.i += 2;
        }
        let mut name = match self.cur() {
            Some(Tok::Ident(n) | Tok::Const(n)) => Some(n.clone()),
            _ => None,
        };
        if self.cur().is_some() {
            self.i += 1;
        }
        // `def value=(v)`: a setter.
        if self.is_punct(self.i, "=")
            && !self.t[self.i].space
            && matches!(self.tok(self.i + 1), Some(Tok::Punct("(")))
        {
            name = name.map(|n| n + "=");
            self.i += 1;
        }
        if self.is_punct(self.i, "(") {
            self.skip_balanced();
        } else {
            // Parameters without parentheses run to the end of the line.
            while !matches!(self.cur(), None | Some(Tok::Nl | Tok::Punct(";" | "="))) {
                self.i += 1;
            }
        }
        let endless = self.is_punct(self.i, "=");
        (name, singleton, endless)
    }

    /// From an opening `(`, `[` or `{` to just past its match.
    fn skip_balanced(&mut self) {
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
        super::lex::ends_value(&prev.tok, prev.after_dot)
    }

    /// Inside a block whose opener was passed: to just past its `end`.
    fn skip_to_end(&mut self) {
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
    fn skip_statement(&mut self) {
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

    /// The arguments of a class-level call at the cursor (its name), with
    /// `key: value` pairs gathered into a trailing hash.
    fn call_args(&mut self) -> Vec<Val> {
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

    fn value(&mut self) -> Val {
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

    /// To the next `,` or closing bracket of the enclosing list, or the end
    /// of the line.
    fn skip_expression(&mut self) {
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

fn qualified(ctx: &Ctx, name: &Ref) -> String {
    let mut parts = if name.absolute {
        Vec::new()
    } else {
        ctx.scope.clone()
    };
    parts.extend(name.path.iter().cloned());
    parts.join("::")
}

/// `option :name, type:, aliases:, enum:, desc:, hide:`, as Thor's
/// `Option.new` reads it. Options Thor would refuse are left out.
fn option(name: String, hash: &[(Val, Val)]) -> Option<RawOpt> {
    let kind = match hash_get(hash, "type") {
        None => OptKind::String,
        Some(t) => kind(&t.name()?)?,
    };
    // Thor raises "An option cannot be boolean and required."
    if kind == OptKind::Boolean && matches!(hash_get(hash, "required"), Some(Val::True)) {
        return None;
    }
    let aliases = hash_get(hash, "aliases")
        .and_then(Val::names)
        .unwrap_or_default();
    let values = match hash_get(hash, "enum") {
        None => Values::None,
        Some(Val::Const(r)) => Values::Const(r.clone()),
        Some(Val::Chain(parts)) => match parts.as_slice() {
            [model, plural, keys] if keys == "keys" => Values::ModelKeys {
                model: model.clone(),
                plural: plural.clone(),
            },
            _ => Values::None,
        },
        Some(v) => v.names().map_or(Values::None, Values::Literal),
    };
    let description = match hash_get(hash, "desc") {
        Some(Val::Str(text)) => text.clone().unwrap_or_default(),
        _ => String::new(),
    };
    Some(RawOpt {
        name,
        kind,
        aliases,
        values,
        description,
        hide: matches!(hash_get(hash, "hide"), Some(Val::True)),
    })
}

/// One pair of `method_options name: :type`, as Thor's `Option.parse`.
fn quick_option(key: &Val, value: &Val) -> Option<RawOpt> {
    let (name, aliases) = match key {
        Val::Array(items) => {
            let names: Vec<String> = items.iter().filter_map(Val::name).collect();
            let (first, rest) = names.split_first()?;
            (first.clone(), rest.to_vec())
        }
        key => (key.name()?, Vec::new()),
    };
    let kind = match value {
        Val::Sym(s) => kind(s).unwrap_or(OptKind::String),
        Val::True | Val::False => OptKind::Boolean,
        Val::Num(_) => OptKind::Numeric,
        Val::Array(_) | Val::Words(_) => OptKind::Array,
        Val::Hash(_) => OptKind::Hash,
        _ => OptKind::String,
    };
    Some(RawOpt {
        name,
        kind,
        aliases,
        values: Values::None,
        description: String::new(),
        hide: false,
    })
}

fn kind(name: &str) -> Option<OptKind> {
    Some(match name {
        "boolean" => OptKind::Boolean,
        "numeric" => OptKind::Numeric,
        "string" => OptKind::String,
        "array" => OptKind::Array,
        "hash" => OptKind::Hash,
        _ => return None,
    })
}
