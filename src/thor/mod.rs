//! tootctl's command tree read from an install's own `lib/mastodon/cli/*.rb`,
//! the way Thor registers it, without running Ruby.
//!
//! Listing the commands through Ruby boots Rails (seconds, and it needs the
//! gems and a configured install), so this reads the Thor classes as text:
//! a tolerant Ruby lexer (strings, heredocs, `%w()`, regexps, comments) and
//! a statement walker that knows only what Thor's class-level DSL does
//! (github.com/rails/thor `lib/thor.rb`, `lib/thor/base.rb`):
//!
//! - `desc USAGE, TEXT` and `option`/`method_option`/`method_options` wait
//!   for the next public method defined outside `no_commands`; that method's
//!   Ruby name is the command's name (`remove_orphans` for
//!   `desc 'remove-orphans'`). A private method leaves them waiting.
//! - `class_option` applies to every command of the class; Thor parses a
//!   command's options as `class_options.merge(command.options)`.
//! - `subcommand 'name', Class` makes `Class` a group; its `desc` is the
//!   group's text. Groups nest (`settings registrations`).
//! - `map KEYS => :command`: keys beginning with `-` are flags
//!   (`--version`), others other names of the command.
//! - `include Module` runs the module's `included do … end` block in the
//!   class (ActiveSupport::Concern), as Mastodon's `Federation` is.
//! - Option names print as Thor's `switch_name` (`--dry-run` for
//!   `:dry_run`); aliases as Thor normalises them (`:f` is `-f`), kept only
//!   when Thor's option parser recognises them (`-x` or `--long-name`: the
//!   `-require_invite_text` Thor makes of `aliases: [:require_invite_text]`
//!   matches none of its forms, so it never takes effect).
//! - `enum:` values from a literal list, a constant holding one, or a Rails
//!   enum's keys (`IpBlock.severities.keys`, read from
//!   `app/models/ip_block.rb`); otherwise none.
//! - Hidden commands and options (`hide: true`) are left out, as Thor's
//!   help leaves them out.
//!
//! Texts Ruby would compute (interpolation, heredocs, method calls) are left
//! empty; the command or option itself is kept. Whatever else cannot be read
//! is skipped; a root whose `main.rb` is missing or
//! yields no `Main` class with commands is an error, and the caller falls
//! back to the embedded tree. tests/upstream/thor_tree.rb prints the tree
//! Thor itself registers; the tests compare the two on upstream releases.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use crate::tootctl_tree::{self, Command, Group, Opt, OptKind, Tree};

mod lex;
mod parse;

use parse::parse_into;

/// Where Mastodon keeps its Thor classes.
const CLI_DIR: &str = "lib/mastodon/cli";
/// More files than any release has; a directory with more is not read whole.
const MAX_FILES: usize = 256;
/// Nesting deeper than this (interpolations, blocks, classes, groups) is
/// not Mastodon's code; the rest of that file is skipped.
const MAX_DEPTH: usize = 64;
/// Groups nest at most this deep (upstream nests two deep): a group class
/// shared by several parents is expanded once per path, so depth must stay
/// small.
const MAX_GROUP_DEPTH: usize = 8;
/// Commands, groups and options in the whole tree, at most: a planted CLI
/// of a few kilobytes must not make a tab press build millions of nodes.
/// Upstream 4.6 has about 400.
const MAX_NODES: usize = 5_000;
/// Options of one command, at most.
const MAX_OPTIONS: usize = 512;
/// Thor's `HELP_MAPPINGS` (thor `lib/thor/base.rb`): flags every Thor class
/// maps to `help`, added to the tree by [`Tree::from_parts`].
const HELP_MAPPINGS: [&str; 4] = ["-h", "-?", "--help", "-D"];

/// The tree `root`'s Thor classes define, for completion.
pub fn read(root: &Path) -> Result<Tree, String> {
    let dir = root.join(CLI_DIR);
    let main_file = dir.join("main.rb");
    // read_small: regular files only, at most 1 MiB, never blocks on a FIFO.
    let main_text = crate::files::read_small(&main_file)
        .map_err(|e| format!("cannot read {}: {e}", main_file.display()))?;
    let entries =
        std::fs::read_dir(&dir).map_err(|e| format!("cannot list {}: {e}", dir.display()))?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "rb") && *path != main_file)
        .collect();
    files.sort();
    files.truncate(MAX_FILES);

    let mut world = World::default();
    parse_into(&main_text, &mut world);
    for file in &files {
        // A file that cannot be read is one group fewer, not a failure.
        if let Ok(text) = crate::files::read_small(file) {
            parse_into(&text, &mut world);
        }
    }
    let main = world
        .main_class()
        .ok_or_else(|| format!("{} defines no Thor class Main", main_file.display()))?;
    let mut reader = Reader {
        world: &world,
        root,
        done: HashMap::new(),
        busy: HashSet::new(),
        models: HashMap::new(),
        nodes: 0,
    };
    let mut path = vec![main.clone()];
    let (top_level, groups, flags) = reader.level(&main, &mut path);
    if reader.nodes > MAX_NODES {
        return Err(format!(
            "{} describes more than {MAX_NODES} commands, groups and options: not Mastodon's \
             CLI",
            dir.display()
        ));
    }
    if top_level.is_empty() && groups.is_empty() {
        return Err(format!("{} yields no tootctl commands", dir.display()));
    }
    let version = match crate::release::checked_out(root) {
        Ok(version) => version.to_string(),
        Err(_) => "of unknown version".to_owned(),
    };
    let source = format!("Mastodon {version}, read from {}", dir.display());
    let mut tree = Tree::from_parts(source, top_level, groups);
    tree.root.flags.extend(flags);
    Ok(tree)
}

// ---------------------------------------------------------------------------
// What the files say: classes, the modules' `included` blocks, constants.

#[derive(Default)]
struct World {
    /// Classes by qualified name (`Mastodon::CLI::Main`), in the order met.
    classes: Vec<ClassDef>,
    /// `included do … end` blocks by qualified module name.
    included: HashMap<String, Vec<Event>>,
    /// Constants holding a list of words (`FORMATS = %w(a b).freeze`).
    consts: HashMap<String, Vec<String>>,
    /// Rails enums by qualified class name: (attribute, keys).
    enums: HashMap<String, Vec<(String, Vec<String>)>>,
}

struct ClassDef {
    name: String,
    superclass: Option<Ref>,
    events: Vec<Event>,
}

/// A constant as written, with the namespace it was written in.
#[derive(Clone, Debug)]
struct Ref {
    path: Vec<String>,
    absolute: bool,
    scope: Vec<String>,
}

/// A class-level call Thor reacts to, in order.
#[derive(Clone, Debug)]
enum Event {
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
struct RawOpt {
    /// The Ruby name (`dry_run`), which Thor keys options by.
    name: String,
    kind: OptKind,
    aliases: Vec<String>,
    values: Values,
    description: String,
    hide: bool,
}

#[derive(Clone, Debug)]
enum Values {
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
    fn class_mut(&mut self, name: &str) -> &mut ClassDef {
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

    fn class(&self, name: &str) -> Option<&ClassDef> {
        self.classes.iter().find(|c| c.name == name)
    }

    /// `Mastodon::CLI::Main`, else another Thor class named `Main`.
    fn main_class(&self) -> Option<String> {
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
    fn is_thor(&self, name: &str, depth: usize) -> bool {
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
    fn resolve(&self, r: &Ref, exists: impl Fn(&str) -> bool) -> Option<String> {
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

// ---------------------------------------------------------------------------
// Thor's bookkeeping, replayed: which commands, options and maps a class ends
// up with.

#[derive(Clone, Default)]
struct ThorClass {
    commands: Vec<Cmd>,
    class_options: Vec<RawOpt>,
    map: Vec<(String, String)>,
    subcommands: Vec<(String, String)>,
}

#[derive(Clone)]
struct Cmd {
    name: String,
    usage: String,
    description: String,
    hidden: bool,
    options: Vec<RawOpt>,
}

#[derive(Default)]
struct Pending {
    usage: Option<String>,
    description: Option<String>,
    hide: bool,
    options: Vec<RawOpt>,
}

struct Reader<'a> {
    world: &'a World,
    root: &'a Path,
    done: HashMap<String, ThorClass>,
    busy: HashSet<String>,
    models: HashMap<String, World>,
    /// Nodes built so far (see [`MAX_NODES`]).
    nodes: usize,
}

/// Ruby's `Hash#[]=`: a key already there keeps its place.
fn upsert<T>(list: &mut Vec<T>, item: T, same: impl Fn(&T) -> bool) {
    match list.iter().position(same) {
        Some(i) => list[i] = item,
        None => list.push(item),
    }
}

fn merge_options(into: &mut Vec<RawOpt>, opt: RawOpt) {
    if into.len() >= MAX_OPTIONS && !into.iter().any(|o| o.name == opt.name) {
        return;
    }
    let name = opt.name.clone();
    upsert(into, opt, |o| o.name == name);
}

impl Reader<'_> {
    fn thor_class(&mut self, name: &str) -> ThorClass {
        if let Some(done) = self.done.get(name) {
            return done.clone();
        }
        let world = self.world;
        let Some(class) = world.class(name) else {
            return ThorClass::default();
        };
        if !self.busy.insert(name.to_owned()) || self.busy.len() > MAX_DEPTH {
            return ThorClass::default();
        }
        // What a subclass starts with (Thor's `all_commands`,
        // `from_superclass(:class_options)`, `from_superclass(:map)`).
        let mut thor = match &class.superclass {
            Some(r) if r.path != ["Thor"] => match world.resolve(r, |n| world.class(n).is_some()) {
                Some(sup) if sup != name => {
                    let mut inherited = self.thor_class(&sup);
                    inherited.subcommands.clear();
                    inherited
                }
                _ => ThorClass::default(),
            },
            _ => ThorClass::default(),
        };
        let mut pending = Pending::default();
        self.replay(&class.events, &mut thor, &mut pending, 0);
        self.busy.remove(name);
        self.done.insert(name.to_owned(), thor.clone());
        thor
    }

    fn replay(&self, events: &[Event], thor: &mut ThorClass, pending: &mut Pending, depth: usize) {
        if depth > MAX_DEPTH {
            return;
        }
        for event in events {
            match event {
                Event::Desc {
                    target: Some(target),
                    usage,
                    description,
                    ..
                } => {
                    if let Some(cmd) = thor.commands.iter_mut().find(|c| &c.name == target) {
                        cmd.usage.clone_from(usage);
                        cmd.description.clone_from(description);
                    }
                }
                Event::Desc {
                    usage,
                    description,
                    hide,
                    target: None,
                } => {
                    pending.usage = Some(usage.clone());
                    pending.description = Some(description.clone());
                    pending.hide = *hide;
                }
                Event::Option {
                    class: true, opt, ..
                } => merge_options(&mut thor.class_options, opt.clone()),
                Event::Option {
                    target: Some(target),
                    opt,
                    ..
                } => {
                    if let Some(cmd) = thor.commands.iter_mut().find(|c| &c.name == target) {
                        merge_options(&mut cmd.options, opt.clone());
                    }
                }
                Event::Option { opt, .. } => merge_options(&mut pending.options, opt.clone()),
                Event::Def { name, .. } if name == "initialize" => {
                    // Thor's `initialize_added`: waiting options become
                    // class options.
                    for opt in std::mem::take(&mut pending.options) {
                        merge_options(&mut thor.class_options, opt);
                    }
                }
                Event::Def {
                    name,
                    public,
                    no_commands,
                } => {
                    if *public && !*no_commands {
                        create_command(thor, pending, name);
                    }
                }
                Event::Subcommand { name, class } => {
                    let world = self.world;
                    if let Some(class) = world
                        .resolve(class, |n| world.class(n).is_some())
                        .filter(|c| world.is_thor(c, 0))
                    {
                        upsert(&mut thor.subcommands, (name.clone(), class), |(n, _)| {
                            n == name
                        });
                    }
                    // `subcommand` defines a method of that name, which takes
                    // the waiting `desc`.
                    create_command(thor, pending, name);
                }
                Event::Map(pairs) => {
                    for (key, target) in pairs {
                        upsert(&mut thor.map, (key.clone(), target.clone()), |(k, _)| {
                            k == key
                        });
                    }
                }
                Event::Include(module) => {
                    let world = self.world;
                    if let Some(events) = world
                        .resolve(module, |n| world.included.contains_key(n))
                        .and_then(|m| world.included.get(&m))
                    {
                        self.replay(events, thor, pending, depth + 1);
                    }
                }
            }
        }
    }

    /// The commands, groups and flags of one Thor class.
    fn level(
        &mut self,
        class: &str,
        path: &mut Vec<String>,
    ) -> (Vec<Command>, Vec<Group>, Vec<Opt>) {
        let thor = self.thor_class(class);
        let group_names: HashSet<&str> = thor.subcommands.iter().map(|(n, _)| n.as_str()).collect();
        let listed: Vec<&Cmd> = thor
            .commands
            .iter()
            .filter(|c| !c.hidden && !group_names.contains(c.name.as_str()) && !is_help(c))
            .collect();
        if self.nodes > MAX_NODES {
            return (Vec::new(), Vec::new(), Vec::new());
        }
        let mut commands: Vec<Command> = listed
            .iter()
            .map(|c| self.command(&thor, c, &c.name))
            .collect();
        self.nodes += commands.len()
            + commands.iter().map(|c| c.options.len()).sum::<usize>()
            + thor.subcommands.len();
        for (key, target) in &thor.map {
            if key.starts_with('-') || HELP_MAPPINGS.contains(&key.as_str()) {
                continue;
            }
            if let Some(cmd) = listed.iter().find(|c| &c.name == target) {
                commands.push(self.command(&thor, cmd, key));
            }
        }

        let mut flags: Vec<(String, Vec<String>)> = Vec::new();
        for (key, target) in &thor.map {
            if !key.starts_with('-') || HELP_MAPPINGS.contains(&key.as_str()) {
                continue;
            }
            if !thor.commands.iter().any(|c| &c.name == target) {
                continue;
            }
            match flags.iter_mut().find(|(t, _)| t == target) {
                Some((_, keys)) => keys.push(key.clone()),
                None => flags.push((target.clone(), vec![key.clone()])),
            }
        }
        let flags = flags
            .into_iter()
            .map(|(target, keys)| {
                let long = keys
                    .iter()
                    .find(|k| k.starts_with("--"))
                    .unwrap_or(&keys[0])
                    .clone();
                let description = thor
                    .commands
                    .iter()
                    .find(|c| c.name == target)
                    .map(|c| c.description.clone())
                    .unwrap_or_default();
                let mut flag = Opt::flag(&long, "", &description);
                flag.aliases = keys.into_iter().filter(|k| *k != long).collect();
                flag
            })
            .collect();

        let mut groups = Vec::new();
        for (name, sub) in &thor.subcommands {
            if path.contains(sub) || path.len() >= MAX_GROUP_DEPTH || self.nodes > MAX_NODES {
                continue;
            }
            path.push(sub.clone());
            let (commands, subgroups, sub_flags) = self.level(sub, path);
            path.pop();
            let description = thor
                .commands
                .iter()
                .find(|c| &c.name == name)
                .map(|c| c.description.clone())
                .unwrap_or_default();
            groups.push(Group {
                name: name.clone(),
                description,
                commands,
                groups: subgroups,
                flags: sub_flags,
            });
        }
        (commands, groups, flags)
    }

    fn command(&mut self, thor: &ThorClass, cmd: &Cmd, name: &str) -> Command {
        let mut raw = thor.class_options.clone();
        for opt in &cmd.options {
            merge_options(&mut raw, opt.clone());
        }
        Command {
            name: name.to_owned(),
            usage: cmd.usage.clone(),
            description: cmd.description.clone(),
            options: raw
                .iter()
                .filter(|o| !o.hide)
                .map(|o| self.opt(o))
                .collect(),
        }
    }

    fn opt(&mut self, raw: &RawOpt) -> Opt {
        Opt {
            long: switch_name(&raw.name),
            kind: raw.kind,
            aliases: raw
                .aliases
                .iter()
                .filter_map(|a| accepted_alias(a))
                .collect(),
            values: self.values(&raw.values),
            description: raw.description.clone(),
        }
    }

    fn values(&mut self, values: &Values) -> Vec<String> {
        match values {
            Values::None => Vec::new(),
            Values::Literal(list) => list.clone(),
            Values::Const(r) => {
                let world = self.world;
                world
                    .resolve(r, |n| world.consts.contains_key(n))
                    .and_then(|n| world.consts.get(&n).cloned())
                    .unwrap_or_default()
            }
            Values::ModelKeys { model, plural } => self.model_enum(model, plural),
        }
    }

    /// A Rails enum's names, from `app/models/<model>.rb`.
    fn model_enum(&mut self, model: &str, plural: &str) -> Vec<String> {
        if !self.models.contains_key(model) {
            let file = self
                .root
                .join("app/models")
                .join(format!("{}.rb", underscore(model)));
            let mut world = World::default();
            if let Ok(text) = crate::files::read_small(&file) {
                parse_into(&text, &mut world);
            }
            self.models.insert(model.to_owned(), world);
        }
        let world = &self.models[model];
        world
            .enums
            .iter()
            .filter(|(class, _)| class.rsplit("::").next() == Some(model))
            .flat_map(|(_, enums)| enums)
            .find(|(attribute, _)| pluralize(attribute) == plural)
            .map(|(_, keys)| keys.clone())
            .unwrap_or_default()
    }
}

/// Thor's `create_command`: a command when `desc` gave usage and text.
fn create_command(thor: &mut ThorClass, pending: &mut Pending, name: &str) {
    let (Some(usage), Some(description)) = (pending.usage.take(), pending.description.take())
    else {
        return;
    };
    let cmd = Cmd {
        name: name.to_owned(),
        usage,
        description,
        hidden: std::mem::take(&mut pending.hide),
        options: std::mem::take(&mut pending.options),
    };
    upsert(&mut thor.commands, cmd, |c| c.name == name);
}

fn is_help(cmd: &Cmd) -> bool {
    tootctl_tree::is_thor_help(&Command {
        name: cmd.name.clone(),
        usage: cmd.usage.clone(),
        description: cmd.description.clone(),
        options: Vec::new(),
    })
}

/// Thor's `Option#switch_name`: `--dry-run` for `dry_run`, `-f` for `f`,
/// a name that already starts with `-` as it is.
fn switch_name(name: &str) -> String {
    if name.starts_with('-') {
        name.to_owned()
    } else if name.chars().count() > 1 {
        format!("--{}", name.replace('_', "-"))
    } else {
        format!("-{name}")
    }
}

/// An alias as Thor registers it (`-` prepended unless there), if Thor's
/// option parser recognises it on a command line: `SHORT_RE` (`-x`) or
/// `LONG_RE` (`--word(-word)*`), thor `lib/thor/parser/options.rb`.
fn accepted_alias(raw: &str) -> Option<String> {
    let name = if raw.starts_with('-') {
        raw.to_owned()
    } else {
        format!("-{raw}")
    };
    let word = |part: &str| {
        !part.is_empty() && part.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
    };
    let short = name.len() == 2 && name.as_bytes()[1].is_ascii_alphabetic();
    let long = name
        .strip_prefix("--")
        .is_some_and(|rest| rest.split('-').all(word));
    (short || long).then_some(name)
}

/// ActiveSupport's `underscore`, for model file names: `IpBlock` → `ip_block`.
fn underscore(name: &str) -> String {
    let chars: Vec<char> = name.chars().collect();
    let mut out = String::new();
    for (i, &c) in chars.iter().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            let prev = chars[i - 1];
            let next_lower = chars.get(i + 1).is_some_and(|n| n.is_ascii_lowercase());
            if prev.is_ascii_lowercase()
                || prev.is_ascii_digit()
                || (prev.is_ascii_uppercase() && next_lower)
            {
                out.push('_');
            }
        }
        out.push(c.to_ascii_lowercase());
    }
    out
}

/// English plurals as ActiveSupport's common rules make them, enough for
/// an enum's class method (`severity` → `severities`).
fn pluralize(word: &str) -> String {
    let vowel_before_y = word
        .strip_suffix('y')
        .and_then(|stem| stem.chars().last())
        .is_some_and(|c| "aeiou".contains(c));
    if let Some(stem) = word.strip_suffix('y')
        && !vowel_before_y
    {
        format!("{stem}ies")
    } else if ["s", "x", "z", "ch", "sh"]
        .iter()
        .any(|end| word.ends_with(end))
    {
        format!("{word}es")
    } else {
        format!("{word}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    const UPSTREAM: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/upstream");

    fn fixture(tag: &str) -> PathBuf {
        Path::new(UPSTREAM).join(format!("mastodon-{tag}"))
    }

    /// The tree Thor itself registers for `root`, from
    /// tests/upstream/thor_tree.rb (Debian's ruby and ruby-thor).
    fn oracle(root: &Path) -> Value {
        let output = std::process::Command::new("ruby")
            .arg(Path::new(UPSTREAM).join("thor_tree.rb"))
            .arg(root)
            .output()
            .unwrap_or_else(|e| {
                panic!("cannot run ruby ({e}): the Thor oracle needs ruby and ruby-thor (scripts/install-test-deps)")
            });
        assert!(
            output.status.success(),
            "the Thor oracle failed on {} (ruby, ruby-thor and ruby-rails installed? scripts/install-test-deps):\n{}",
            root.display(),
            String::from_utf8_lossy(&output.stderr)
        );
        let mut tree: Value =
            serde_json::from_slice(&output.stdout).expect("the oracle prints JSON");
        tree.as_object_mut().unwrap().remove("source");
        tree
    }

    fn opt_value(opt: &Opt) -> Value {
        json!({
            "long": opt.long,
            "type": serde_json::to_value(opt.kind).unwrap(),
            "aliases": opt.aliases,
            "values": opt.values,
            "description": opt.description,
        })
    }

    fn commands_value(commands: &[Command]) -> Value {
        commands
            .iter()
            .filter(|c| !tootctl_tree::is_thor_help(c))
            .map(|c| {
                json!({
                    "name": c.name,
                    "usage": c.usage,
                    "description": c.description,
                    "options": c.options.iter().map(opt_value).collect::<Vec<_>>(),
                })
            })
            .collect()
    }

    /// Map flags, less the `--help` every level gets from Thor.
    fn flags_value(group: &Group) -> Value {
        group
            .flags
            .iter()
            .filter(|f| f.long != "--help")
            .map(opt_value)
            .collect()
    }

    fn group_value(group: &Group) -> Value {
        json!({
            "name": group.name,
            "description": group.description,
            "commands": commands_value(&group.commands),
            "groups": group.groups.iter().map(group_value).collect::<Vec<_>>(),
            "flags": flags_value(group),
        })
    }

    /// The tree in the oracle's shape: the data file's, with flags.
    fn comparable(tree: &Tree) -> Value {
        json!({
            "top_level": commands_value(&tree.root.commands),
            "groups": tree.root.groups.iter().map(group_value).collect::<Vec<_>>(),
            "flags": flags_value(&tree.root),
        })
    }

    /// Where two JSON values differ, as `path: ours != thor's` lines.
    fn differences(path: &str, ours: &Value, thor: &Value, out: &mut Vec<String>) {
        match (ours, thor) {
            (Value::Object(a), Value::Object(b)) => {
                for key in a.keys().chain(b.keys().filter(|k| !a.contains_key(*k))) {
                    let (x, y) = (
                        a.get(key).unwrap_or(&Value::Null),
                        b.get(key).unwrap_or(&Value::Null),
                    );
                    differences(&format!("{path}.{key}"), x, y, out);
                }
            }
            (Value::Array(a), Value::Array(b)) => {
                for i in 0..a.len().max(b.len()) {
                    let name = a
                        .get(i)
                        .or(b.get(i))
                        .and_then(|v| v.get("name").or(v.get("long")));
                    let label = name
                        .and_then(Value::as_str)
                        .map_or(i.to_string(), str::to_owned);
                    differences(
                        &format!("{path}[{label}]"),
                        a.get(i).unwrap_or(&Value::Null),
                        b.get(i).unwrap_or(&Value::Null),
                        out,
                    );
                }
            }
            _ if ours != thor => out.push(format!("{path}: ours {ours} != thor's {thor}")),
            _ => {}
        }
    }

    fn assert_same_as_thor(root: &Path) {
        let tree = read(root).unwrap_or_else(|e| panic!("{e}"));
        let mut found = Vec::new();
        differences("", &comparable(&tree), &oracle(root), &mut found);
        assert!(
            found.is_empty(),
            "{} differs from Thor:\n{}",
            root.display(),
            found.join("\n")
        );
    }

    #[test]
    fn thor_tree_of_v4_3_0_is_what_thor_registers() {
        assert_same_as_thor(&fixture("v4.3.0"));
    }

    #[test]
    fn thor_tree_of_v4_4_0_is_what_thor_registers() {
        assert_same_as_thor(&fixture("v4.4.0"));
    }

    #[test]
    fn thor_tree_of_v4_5_0_is_what_thor_registers() {
        assert_same_as_thor(&fixture("v4.5.0"));
    }

    #[test]
    fn thor_tree_of_v4_6_0_is_what_thor_registers() {
        assert_same_as_thor(&fixture("v4.6.0"));
    }

    #[test]
    fn thor_tree_of_tricky_ruby_is_what_thor_registers() {
        assert_same_as_thor(&Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/thor/tricky"));
    }

    fn group<'t>(tree: &'t Tree, path: &[&str]) -> &'t Group {
        let mut group = &tree.root;
        for name in path {
            group = group
                .groups
                .iter()
                .find(|g| g.name == *name)
                .unwrap_or_else(|| panic!("no group {name}"));
        }
        group
    }

    fn command<'t>(tree: &'t Tree, path: &[&str], name: &str) -> Option<&'t Command> {
        group(tree, path).commands.iter().find(|c| c.name == name)
    }

    fn longs(command: &Command) -> Vec<&str> {
        command.options.iter().map(|o| o.long.as_str()).collect()
    }

    #[test]
    fn thor_allow_with_approval_exists_only_from_v4_6() {
        for (tag, expected) in [
            ("v4.3.0", false),
            ("v4.4.0", false),
            ("v4.5.0", false),
            ("v4.6.0", true),
        ] {
            let tree = read(&fixture(tag)).unwrap();
            let add = command(&tree, &["email_domain_blocks"], "add").unwrap();
            assert_eq!(
                longs(add).contains(&"--allow-with-approval"),
                expected,
                "{tag}: {:?}",
                longs(add)
            );
        }
    }

    #[test]
    fn thor_feeds_vacuum_exists_only_from_v4_4() {
        for (tag, expected) in [
            ("v4.3.0", false),
            ("v4.4.0", true),
            ("v4.5.0", true),
            ("v4.6.0", true),
        ] {
            let tree = read(&fixture(tag)).unwrap();
            assert_eq!(
                command(&tree, &["feeds"], "vacuum").is_some(),
                expected,
                "{tag}"
            );
        }
    }

    #[test]
    fn thor_severity_values_come_from_the_literal_or_the_rails_enum() {
        for (tag, values) in [
            (
                "v4.3.0",
                ["no_access", "sign_up_requires_approval", "sign_up_block"],
            ),
            (
                "v4.6.0",
                ["sign_up_requires_approval", "sign_up_block", "no_access"],
            ),
        ] {
            let tree = read(&fixture(tag)).unwrap();
            let add = command(&tree, &["ip_blocks"], "add").unwrap();
            let severity = add.options.iter().find(|o| o.long == "--severity").unwrap();
            assert_eq!(severity.values, values, "{tag}");
            assert_eq!(severity.description, "Severity of the block");
        }
    }

    #[test]
    fn thor_tree_names_commands_by_ruby_method_and_keeps_the_usage() {
        let tree = read(&fixture("v4.5.0")).unwrap();
        let destruct = command(&tree, &[], "self_destruct").unwrap();
        assert_eq!(destruct.usage, "self-destruct");
        assert_eq!(
            command(&tree, &["settings", "registrations"], "approved")
                .unwrap()
                .options[0]
                .long,
            "--require-reason"
        );
        // Thor's built-ins are added as for the embedded tree.
        assert!(command(&tree, &["settings", "registrations"], "help").is_some());
        let flags: Vec<&str> = tree.root.flags.iter().flat_map(Opt::names).collect();
        assert_eq!(flags, ["--help", "-h", "--version", "-v"]);
    }

    #[test]
    fn thor_tree_source_names_the_version_and_the_directory() {
        let root = fixture("v4.4.0");
        let tree = read(&root).unwrap();
        assert_eq!(
            tree.source,
            format!(
                "Mastodon 4.4.0, read from {}/lib/mastodon/cli",
                root.display()
            )
        );
    }

    #[test]
    fn thor_tree_round_trips_through_the_data_file_shape() {
        let tree = read(&fixture("v4.6.0")).unwrap();
        let file: Value = serde_json::from_str(&tree.to_json()).unwrap();
        assert_eq!(file["source"], tree.source.as_str());
        let again = Tree::from_parts(
            serde_json::from_value(file["source"].clone()).unwrap(),
            serde_json::from_value(file["top_level"].clone()).unwrap(),
            serde_json::from_value(file["groups"].clone()).unwrap(),
        );
        let (mut ours, mut back) = (comparable(&tree), comparable(&again));
        // The data file has no place for `map` flags: Tree::load adds
        // tootctl's `--version` itself.
        ours.as_object_mut().unwrap().remove("flags");
        back.as_object_mut().unwrap().remove("flags");
        assert_eq!(ours, back);
    }

    #[test]
    fn thor_comparison_with_the_oracle_notices_a_difference() {
        let tree = read(&fixture("v4.5.0")).unwrap();
        let mut found = Vec::new();
        differences(
            "",
            &comparable(&tree),
            &oracle(&fixture("v4.6.0")),
            &mut found,
        );
        let joined = found.join("\n");
        assert!(
            joined.contains("allow-with-approval") && joined.contains("keep-interacted"),
            "{joined}"
        );
    }

    // -- Garbled installs: no panic, no hang; a best-effort tree or an error.

    /// A copy of a fixture root to spoil.
    fn spoilable(tag: &str) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let from = fixture(tag);
        for sub in ["lib/mastodon/cli", "app/models"] {
            let Ok(entries) = std::fs::read_dir(from.join(sub)) else {
                continue;
            };
            std::fs::create_dir_all(dir.path().join(sub)).unwrap();
            for entry in entries {
                let entry = entry.unwrap();
                std::fs::copy(entry.path(), dir.path().join(sub).join(entry.file_name())).unwrap();
            }
        }
        std::fs::copy(
            from.join("lib/mastodon/version.rb"),
            dir.path().join("lib/mastodon/version.rb"),
        )
        .unwrap();
        dir
    }

    /// `read(root)` within ten seconds, or a failed test (not a hung one).
    fn read_in_time(root: &Path) -> Result<Tree, String> {
        let root = root.to_owned();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send(read(&root));
        });
        rx.recv_timeout(std::time::Duration::from_secs(10))
            .expect("thor::read neither returned nor panicked within 10 s")
    }

    fn junk() -> Vec<u8> {
        (0..4096u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect()
    }

    fn cli(root: &tempfile::TempDir, file: &str) -> PathBuf {
        root.path().join(CLI_DIR).join(file)
    }

    #[test]
    fn thor_binary_junk_in_a_cli_file_loses_only_that_group() {
        let root = spoilable("v4.5.0");
        std::fs::write(cli(&root, "media.rb"), junk()).unwrap();
        let tree = read_in_time(root.path()).unwrap();
        let names: Vec<&str> = tree.root.groups.iter().map(|g| g.name.as_str()).collect();
        assert!(
            !names.contains(&"media") && names.contains(&"accounts"),
            "{names:?}"
        );
    }

    #[test]
    fn thor_unbalanced_do_and_end_neither_hang_nor_panic() {
        let root = spoilable("v4.5.0");
        let mut text = std::fs::read_to_string(cli(&root, "accounts.rb")).unwrap();
        text.insert_str(
            text.find("def rotate").unwrap(),
            "foo do do do\n  \"#{ unclosed\n<<~NEVER\n",
        );
        std::fs::write(cli(&root, "accounts.rb"), text).unwrap();
        std::fs::write(
            cli(&root, "feeds.rb"),
            "end end end } ) ]\nclass X < Thor\nend end\n",
        )
        .unwrap();
        let tree = read_in_time(root.path()).unwrap();
        assert!(command(&tree, &["media"], "remove").is_some());
    }

    #[test]
    fn thor_cli_file_over_a_mebibyte_is_skipped() {
        let root = spoilable("v4.5.0");
        std::fs::write(cli(&root, "media.rb"), "x = 1\n".repeat(200_000)).unwrap();
        let tree = read_in_time(root.path()).unwrap();
        assert!(tree.root.groups.iter().all(|g| g.name != "media"));
    }

    #[test]
    fn thor_a_fan_out_of_shared_groups_is_bounded_not_expanded() {
        // 30 levels, each class used twice as a subcommand of the one
        // before: 2^30 paths if expanded, a few kilobytes of Ruby.
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join(CLI_DIR);
        std::fs::create_dir_all(&dir).unwrap();
        let mut text = String::from(
            "module Mastodon\n  module CLI\n    class Main < Thor\n      \
             subcommand 'a', Mastodon::CLI::C0\n      subcommand 'b', Mastodon::CLI::C0\n    \
             end\n",
        );
        for n in 0..30 {
            text.push_str(&format!(
                "    class C{n} < Thor\n      desc 'x', 'x'\n      def x; end\n      \
                 subcommand 'a', Mastodon::CLI::C{m}\n      subcommand 'b', Mastodon::CLI::C{m}\n    \
                 end\n",
                m = n + 1
            ));
        }
        text.push_str("  end\nend\n");
        std::fs::write(dir.join("main.rb"), text).unwrap();
        let started = std::time::Instant::now();
        let outcome = read(root.path());
        assert!(
            started.elapsed() < std::time::Duration::from_secs(2),
            "{:?}",
            started.elapsed()
        );
        match outcome {
            Err(why) => assert!(why.contains("more than"), "{why}"),
            Ok(tree) => {
                fn count(g: &crate::tootctl_tree::Group) -> usize {
                    g.commands.len() + g.groups.iter().map(count).sum::<usize>() + g.groups.len()
                }
                assert!(count(&tree.root) <= MAX_NODES * 2, "{}", count(&tree.root));
            }
        }
    }

    #[test]
    fn thor_thousands_of_options_cost_little() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join(CLI_DIR);
        std::fs::create_dir_all(&dir).unwrap();
        let mut text = String::from("module Mastodon\n  module CLI\n    class Main < Thor\n");
        for n in 0..20_000 {
            text.push_str(&format!("      option :o{n}, type: :boolean\n"));
        }
        text.push_str("      desc 'x', 'x'\n      def x; end\n    end\n  end\nend\n");
        std::fs::write(dir.join("main.rb"), text).unwrap();
        let started = std::time::Instant::now();
        let _ = read(root.path());
        assert!(
            started.elapsed() < std::time::Duration::from_secs(3),
            "{:?}",
            started.elapsed()
        );
    }

    #[test]
    fn thor_fifo_in_the_cli_directory_is_not_waited_on() {
        let root = spoilable("v4.5.0");
        std::fs::remove_file(cli(&root, "accounts.rb")).unwrap();
        nix::unistd::mkfifo(&cli(&root, "accounts.rb"), nix::sys::stat::Mode::S_IRWXU).unwrap();
        let tree = read_in_time(root.path()).unwrap();
        assert!(tree.root.groups.iter().all(|g| g.name != "accounts"));

        std::fs::remove_file(cli(&root, "main.rb")).unwrap();
        nix::unistd::mkfifo(&cli(&root, "main.rb"), nix::sys::stat::Mode::S_IRWXU).unwrap();
        let err = read_in_time(root.path()).unwrap_err();
        assert!(
            err.contains("main.rb") && err.contains("not a regular file"),
            "{err}"
        );
    }

    #[test]
    fn thor_main_of_junk_or_missing_is_an_error() {
        let root = spoilable("v4.5.0");
        std::fs::write(cli(&root, "main.rb"), junk()).unwrap();
        let err = read_in_time(root.path()).unwrap_err();
        assert!(err.ends_with("main.rb defines no Thor class Main"), "{err}");

        let empty = tempfile::tempdir().unwrap();
        let err = read_in_time(empty.path()).unwrap_err();
        assert!(
            err.starts_with("cannot read ") && err.contains("lib/mastodon/cli/main.rb"),
            "{err}"
        );
    }

    #[test]
    fn thor_main_without_commands_is_an_error() {
        let root = spoilable("v4.5.0");
        std::fs::write(
            cli(&root, "main.rb"),
            "module Mastodon::CLI\n  class Main < Thor\n  end\nend\n",
        )
        .unwrap();
        let err = read_in_time(root.path()).unwrap_err();
        assert!(
            err.ends_with("lib/mastodon/cli yields no tootctl commands"),
            "{err}"
        );
    }

    proptest::proptest! {
        #[test]
        fn thor_parser_survives_any_bytes(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..3000)) {
            parse_into(&String::from_utf8_lossy(&bytes), &mut World::default());
        }

        #[test]
        fn thor_parser_survives_any_mix_of_ruby_pieces(pieces in proptest::collection::vec(0..PIECES.len(), 0..300)) {
            let text: String = pieces.into_iter().map(|i| PIECES[i]).collect();
            let mut world = World::default();
            parse_into(&text, &mut world);
        }
    }

    #[rustfmt::skip]
    const PIECES: &[&str] = &[
        "def ", "end", " do", " do |x|", "{", "}", "(", ")", "[", "]", "\n", ";", " if ",
        " unless ", "while ", "class ", "module ", "A", "Main", " < Thor", "desc 'a b', 'c'",
        "option :x, type: :boolean", "subcommand 'a', A", "map %w(-a --b) => :c", "include A",
        "included do", "no_commands do", "private", "<<~X\n", "<<-Y", "X\n", "\"#{", "'", "\"",
        "%w(", "%i[", "/", "?", ":", "::", "=begin\n", "=end\n", "__END__\n", "x", " = ", ".",
        "enum: B.cs.keys", "B = %w(a)",
    ];
}
