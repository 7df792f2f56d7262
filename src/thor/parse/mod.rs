//! The statement walker: Thor class bodies read statement by statement
//! (`desc`, `option`, `def`, `private`, `no_commands`, `subcommand`, …),
//! every other body skipped to its `end`, into a [`World`].
//!
//! What it reads inside a statement lives beside it: the values of a
//! class-level call's arguments (`values`), what those calls mean to Thor
//! (`dsl`), and how far to skip what it does not read (`skip`).

mod dsl;
mod skip;
mod values;

use super::MAX_DEPTH;
use super::lex::{Tok, Token, lex};
use super::world::{Event, Ref, World};
use dsl::thor_call;
use values::Val;

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
