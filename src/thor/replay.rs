//! Thor's bookkeeping, replayed: which commands, options and maps a class
//! ends up with (inheritance, `include`d modules, waiting `desc`s and
//! options), and the tree's levels built from them.

use std::collections::{HashMap, HashSet};
use std::path::Path;

use super::world::{Event, RawOpt, Values, World};
use super::{HELP_MAPPINGS, MAX_DEPTH, MAX_GROUP_DEPTH, MAX_NODES, MAX_OPTIONS, parse_into};
use crate::tootctl_tree::{self, Command, Group, Opt};

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

pub(super) struct Reader<'a> {
    world: &'a World,
    root: &'a Path,
    done: HashMap<String, ThorClass>,
    busy: HashSet<String>,
    models: HashMap<String, World>,
    /// Nodes built so far (see [`MAX_NODES`]).
    pub(super) nodes: usize,
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

impl<'a> Reader<'a> {
    pub(super) fn new(world: &'a World, root: &'a Path) -> Self {
        Reader {
            world,
            root,
            done: HashMap::new(),
            busy: HashSet::new(),
            models: HashMap::new(),
            nodes: 0,
        }
    }
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
    pub(super) fn level(
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
