//! tootctl's groups, commands and options, for the completion scripts.
//!
//! tootctl cannot tell us its commands cheaply: listing them boots Rails and
//! needs a configured Mastodon and database, which a shell completing a word
//! cannot wait for. So the tree is data, read from Mastodon's
//! `lib/mastodon/cli/*.rb` into `data/tootctl-commands.json` and embedded at
//! build time; that file's `source` field names the Mastodon version it
//! describes (4.6.5, regenerated from upstream's tag by
//! `scripts/refresh-tootctl-tree`). Refresh the file when Mastodon adds a
//! command. The same types hold a tree read from an
//! install's own files ([`crate::thor`]), and [`Tree::to_json`] writes
//! either back in the data file's shape.
//!
//! Two Thor facts are added here because the Ruby files do not spell them
//! out: every Thor class has a `help` command and maps `-h`/`--help` to it,
//! and Thor turns `-` into `_` in command names, so both spellings work.

use anyhow::Context;
use serde::{Deserialize, Serialize};

/// The upstream data, embedded: the program never reads it at run time.
const JSON: &str = include_str!("../data/tootctl-commands.json");

/// The whole tree: `root` is tootctl itself (its top-level commands and groups).
#[derive(Debug)]
pub struct Tree {
    /// The Mastodon version and files the data was read from.
    pub source: String,
    pub root: Group,
}

/// A Thor subcommand class: `accounts`, `settings`, `settings registrations`.
#[derive(Debug, Deserialize, Serialize)]
pub struct Group {
    pub name: String,
    pub description: String,
    #[serde(default)]
    pub commands: Vec<Command>,
    #[serde(default)]
    pub groups: Vec<Group>,
    /// Flags Thor maps to commands (`--help`), typed where a command goes.
    #[serde(skip)]
    pub flags: Vec<Opt>,
}

/// A Thor command: `accounts create`.
#[derive(Debug, Deserialize, Serialize)]
pub struct Command {
    pub name: String,
    pub usage: String,
    pub description: String,
    #[serde(default)]
    pub options: Vec<Opt>,
}

/// A command's option, as Thor's `option :dry_run, type: :boolean`.
#[derive(Debug, Deserialize, Serialize)]
pub struct Opt {
    /// `--dry-run`: Thor prints option names with dashes.
    pub long: String,
    #[serde(rename = "type")]
    pub kind: OptKind,
    /// Other names for it: `-d`, or a long one like `--require-invite-text`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub aliases: Vec<String>,
    /// The values Thor accepts (`enum:`), when it restricts them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub values: Vec<String>,
    /// What it does, where known (the option's `desc:`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum OptKind {
    Boolean,
    Numeric,
    String,
    Array,
    Hash,
}

impl Command {
    /// The arguments its usage line names after the command (`URL` in
    /// `lookup URL`), if it takes any.
    pub fn arguments(&self) -> Option<&str> {
        let (_, rest) = self.usage.split_once(' ')?;
        Some(rest.trim()).filter(|rest| !rest.is_empty())
    }
}

impl Opt {
    /// Every name the option answers to, the long one first.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.long.as_str()).chain(self.aliases.iter().map(String::as_str))
    }

    /// Whether the next word (or the text after `=`) is the option's value.
    pub fn takes_value(&self) -> bool {
        self.kind != OptKind::Boolean
    }

    pub(crate) fn flag(long: &str, short: &str, description: &str) -> Opt {
        Opt {
            long: long.to_owned(),
            kind: OptKind::Boolean,
            aliases: vec![short.to_owned()],
            values: Vec::new(),
            description: description.to_owned(),
        }
    }
}

/// The data file's shape: `data/tootctl-commands.json`.
#[derive(Deserialize, Serialize)]
struct Upstream<S, C, G> {
    source: S,
    top_level: C,
    groups: G,
}

impl Tree {
    /// The embedded tree, with Thor's built-in `help` and flags added.
    pub fn load() -> anyhow::Result<Tree> {
        Tree::from_json(JSON)
            .context("the embedded data/tootctl-commands.json is not a tootctl command tree")
    }

    /// A tree from the data file's shape ([`Tree::to_json`]'s), with
    /// Thor's built-ins and Main's `map %w(--version -v) => :version`
    /// (lib/mastodon/cli/main.rb), the one `map` upstream has.
    pub fn from_json(text: &str) -> Result<Tree, serde_json::Error> {
        let upstream: Upstream<String, Vec<Command>, Vec<Group>> = serde_json::from_str(text)?;
        let mut tree = Tree::from_parts(upstream.source, upstream.top_level, upstream.groups);
        if !tree.root.flags.iter().any(|f| f.long == "--version") {
            tree.root
                .flags
                .push(Opt::flag("--version", "-v", "Show version"));
        }
        Ok(tree)
    }

    /// A tree with nothing in it.
    pub fn empty() -> Tree {
        Tree::from_parts("nothing".into(), Vec::new(), Vec::new())
    }

    /// A tree of tootctl's own commands and groups, with Thor's built-in
    /// `help` command and `-h`/`--help` flags added to every level.
    pub fn from_parts(source: String, top_level: Vec<Command>, groups: Vec<Group>) -> Tree {
        let mut root = Group {
            name: "tootctl".to_owned(),
            description: "Mastodon's command line".to_owned(),
            commands: top_level,
            groups,
            flags: Vec::new(),
        };
        add_thor_builtins(&mut root, true);
        Tree { source, root }
    }

    /// The tree in `data/tootctl-commands.json`'s shape, without Thor's
    /// built-ins (`help`, flags), which [`Tree::from_parts`] adds back.
    pub fn to_json(&self) -> String {
        let upstream = Upstream {
            source: &self.source,
            top_level: Own(&self.root.commands),
            groups: self.root.groups.iter().map(OwnGroup).collect::<Vec<_>>(),
        };
        let mut out = Vec::new();
        // One space per level, as the checked-in file is indented.
        let formatter = serde_json::ser::PrettyFormatter::with_indent(b" ");
        let mut serializer = serde_json::Serializer::with_formatter(&mut out, formatter);
        upstream
            .serialize(&mut serializer)
            .expect("a tree serialises to JSON");
        out.push(b'\n');
        String::from_utf8(out).expect("serde_json writes UTF-8")
    }
}

/// A level's commands less Thor's built-in `help`.
struct Own<'a>(&'a [Command]);

impl Serialize for Own<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.0.iter().filter(|c| !is_thor_help(c)))
    }
}

/// A group with its commands less Thor's built-in `help`, in the data
/// file's field order.
struct OwnGroup<'a>(&'a Group);

impl Serialize for OwnGroup<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let group = self.0;
        let mut fields = serializer.serialize_struct("Group", 4)?;
        fields.serialize_field("name", &group.name)?;
        fields.serialize_field("description", &group.description)?;
        fields.serialize_field("commands", &Own(&group.commands))?;
        if group.groups.is_empty() {
            fields.skip_field("groups")?;
        } else {
            let groups: Vec<OwnGroup> = group.groups.iter().map(OwnGroup).collect();
            fields.serialize_field("groups", &groups)?;
        }
        fields.end()
    }
}

/// Thor's own descriptions of its `help` command: a Thor class's, and a
/// subcommand class's (`Thor.subcommand_help`).
const THOR_HELP: [&str; 2] = [
    "Describe available commands or one specific command",
    "Describe subcommands or one specific subcommand",
];

/// Whether a command is the `help` every Thor class has.
pub fn is_thor_help(command: &Command) -> bool {
    command.name == "help"
        && command.usage == "help [COMMAND]"
        && THOR_HELP.contains(&command.description.as_str())
}

/// Thor's `help` command and its `map HELP_MAPPINGS => :help` (`-h`,
/// `--help`) are inherited by every Thor class, so every group has them.
fn add_thor_builtins(group: &mut Group, top: bool) {
    if !group.commands.iter().any(|c| c.name == "help") {
        group.commands.push(Command {
            name: "help".to_owned(),
            usage: "help [COMMAND]".to_owned(),
            // Thor's own texts: the top class's, a subcommand class's.
            description: THOR_HELP[usize::from(!top)].to_owned(),
            options: Vec::new(),
        });
    }
    group
        .flags
        .push(Opt::flag("--help", "-h", "Describe available commands"));
    for sub in &mut group.groups {
        add_thor_builtins(sub, false);
    }
}

/// The spellings Thor accepts for a group or command name: the name itself
/// and, if it holds a `-` or `_`, its twin with the other one. Thor dispatches
/// on `name.tr("-", "_")` and registers commands under their Ruby method
/// names (`remove_orphans` for `desc 'remove-orphans'`), so either works.
pub fn spellings(name: &str) -> Vec<String> {
    let mut names = vec![name.to_owned()];
    for twin in [name.replace('_', "-"), name.replace('-', "_")] {
        if !names.contains(&twin) {
            names.push(twin);
        }
    }
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_tree_parses_and_names_its_upstream_version() {
        let tree = Tree::load().unwrap();
        assert!(tree.source.starts_with("Mastodon 4."), "{}", tree.source);
        assert!(tree.root.groups.iter().any(|g| g.name == "accounts"));
        assert!(tree.root.commands.iter().any(|c| c.name == "self_destruct"));
    }

    #[test]
    fn every_group_gets_thor_help() {
        let tree = Tree::load().unwrap();
        let settings = tree
            .root
            .groups
            .iter()
            .find(|g| g.name == "settings")
            .unwrap();
        assert!(settings.groups[0].commands.iter().any(|c| c.name == "help"));
        assert_eq!(
            tree.root
                .commands
                .iter()
                .filter(|c| c.name == "help")
                .count(),
            1
        );
    }

    #[test]
    fn to_json_writes_the_data_file_without_thor_builtins() {
        let tree = Tree::load().unwrap();
        let ours: serde_json::Value = serde_json::from_str(&tree.to_json()).unwrap();
        let mut file: serde_json::Value = serde_json::from_str(JSON).unwrap();
        file["top_level"]
            .as_array_mut()
            .unwrap()
            .retain(|c| c["name"] != "help");
        assert_eq!(ours, file);
    }

    #[test]
    fn names_with_dashes_or_underscores_have_two_spellings() {
        assert_eq!(
            spellings("email_domain_blocks"),
            ["email_domain_blocks", "email-domain-blocks"]
        );
        assert_eq!(
            spellings("remove-orphans"),
            ["remove-orphans", "remove_orphans"]
        );
        assert_eq!(spellings("media"), ["media"]);
    }
}
