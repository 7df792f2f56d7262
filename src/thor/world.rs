//! What the files say: classes, the modules' `included` blocks, constants,
//! Rails enums, and Ruby's constant lookup over them.

use std::collections::HashMap;

use super::MAX_DEPTH;
use crate::tootctl_tree::OptKind;

#[derive(Default)]
pub(super) struct World {
    /// Classes by qualified name (`Mastodon::CLI::Main`), in the order met.
    pub(super) classes: Vec<ClassDef>,
    /// `included do … end` blocks by qualified module name.
    pub(super) included: HashMap<String, Vec<Event>>,
    /// Constants holding a list of words (`FORMATS = %w(a b).freeze`).
    pub(super) consts: HashMap<String, Vec<String>>,
    /// Rails enums by qualified class name: (attribute, keys).
    pub(super) enums: HashMap<String, Vec<(String, Vec<String>)>>,
}

pub(super) struct ClassDef {
    pub(super) name: String,
    pub(super) superclass: Option<Ref>,
    pub(super) events: Vec<Event>,
}

/// A constant as written, with the namespace it was written in.
#[derive(Clone, Debug)]
pub(super) struct Ref {
    pub(super) path: Vec<String>,
    pub(super) absolute: bool,
    pub(super) scope: Vec<String>,
}

/// A class-level call Thor reacts to, in order.
#[derive(Clone, Debug)]
pub(super) enum Event {
    Desc {
        usage: String,
        description: String,
        hide: bool,
        target: Option<String>,
    },
    Option {
        class: bool,
        opt: RawOpt,
        target: Option<String>,
    },
    Def {
        name: String,
        public: bool,
        no_commands: bool,
    },
    Subcommand {
        name: String,
        class: Ref,
    },
    Map(Vec<(String, String)>),
    Include(Ref),
}

#[derive(Clone, Debug)]
pub(super) struct RawOpt {
    /// The Ruby name (`dry_run`), which Thor keys options by.
    pub(super) name: String,
    pub(super) kind: OptKind,
    pub(super) aliases: Vec<String>,
    pub(super) values: Values,
    pub(super) description: String,
    pub(super) hide: bool,
}

#[derive(Clone, Debug)]
pub(super) enum Values {
    None,
    Literal(Vec<String>),
    Const(Ref),
    /// `Model.plural.keys`: a Rails enum's names.
    ModelKeys {
        model: String,
        plural: String,
    },
}

impl World {
    pub(super) fn class_mut(&mut self, name: &str) -> &mut ClassDef {
        match self.classes.iter().position(|c| c.name == name) {
            Some(i) => &mut self.classes[i],
            None => {
                self.classes.push(ClassDef {
                    name: name.to_owned(),
                    superclass: None,
                    events: Vec::new(),
                });
                self.classes.last_mut().expect("just pushed")
            }
        }
    }

    pub(super) fn class(&self, name: &str) -> Option<&ClassDef> {
        self.classes.iter().find(|c| c.name == name)
    }

    /// `Mastodon::CLI::Main`, else another Thor class named `Main`.
    pub(super) fn main_class(&self) -> Option<String> {
        let thor = |c: &&ClassDef| self.is_thor(&c.name, 0);
        self.class("Mastodon::CLI::Main")
            .filter(thor)
            .or_else(|| {
                self.classes
                    .iter()
                    .filter(thor)
                    .find(|c| c.name.rsplit("::").next() == Some("Main"))
            })
            .map(|c| c.name.clone())
    }

    /// Whether a class descends from `Thor`.
    pub(super) fn is_thor(&self, name: &str, depth: usize) -> bool {
        if depth > MAX_DEPTH {
            return false;
        }
        let Some(class) = self.class(name) else {
            return false;
        };
        match &class.superclass {
            None => false,
            Some(r) if r.path == ["Thor"] => true,
            Some(r) => self
                .resolve(r, |n| self.class(n).is_some())
                .is_some_and(|sup| sup != name && self.is_thor(&sup, depth + 1)),
        }
    }

    /// Ruby's constant lookup, approximately: the enclosing namespaces from
    /// the innermost out, then any one definition with that name.
    pub(super) fn resolve(&self, r: &Ref, exists: impl Fn(&str) -> bool) -> Option<String> {
        let tail = r.path.join("::");
        if r.absolute {
            return exists(&tail).then_some(tail);
        }
        for k in (0..=r.scope.len()).rev() {
            let mut parts = r.scope[..k].to_vec();
            parts.extend(r.path.iter().cloned());
            let name = parts.join("::");
            if exists(&name) {
                return Some(name);
            }
        }
        let suffix = format!("::{tail}");
        let mut found = self
            .classes
            .iter()
            .map(|c| c.name.as_str())
            .chain(self.included.keys().map(String::as_str))
            .chain(self.consts.keys().map(String::as_str))
            .filter(|n| n.ends_with(&suffix) && exists(n));
        let first = found.next()?;
        found.next().is_none().then(|| first.to_owned())
    }
}
