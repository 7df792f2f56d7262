//! tootctl's groups, commands and options, for the completion scripts.
//!
//! tootctl cannot tell us its commands cheaply: listing them boots Rails and
//! needs a configured Mastodon and database, which a shell completing a word
//! cannot wait for. So the tree is data, read from Mastodon's
//! `lib/mastodon/cli/*.rb` into `data/tootctl-commands.json` and embedded at
//! build time; that file's `source` field names the Mastodon version it
//! describes (4.7.0-alpha.2 when this was written). Refresh the file when
//! Mastodon adds a command.
//!
//! Two Thor facts are added here because the Ruby files do not spell them
//! out: every Thor class has a `help` command and maps `-h`/`--help` to it,
//! and Thor turns `-` into `_` in command names, so both spellings work.

use anyhow::Context;
use serde::Deserialize;

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
#[derive(Debug, Deserialize)]
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
#[derive(Debug, Deserialize)]
pub struct Command {
    pub name: String,
    pub usage: String,
    pub description: String,
    #[serde(default)]
    pub options: Vec<Opt>,
}

/// A command's option, as Thor's `option :dry_run, type: :boolean`.
#[derive(Debug, Deserialize)]
pub struct Opt {
    /// `--dry-run`: Thor prints option names with dashes.
    pub long: String,
    #[serde(rename = "type")]
    pub kind: OptKind,
    /// Other names for it: `-d`, or a long one like `--require-invite-text`.
    #[serde(default)]
    pub aliases: Vec<String>,
    /// The values Thor accepts (`enum:`), when it restricts them.
    #[serde(default)]
    pub values: Vec<String>,
    /// What it does, where known (the Ruby files' options have no text).
    #[serde(default)]
    pub description: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
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

    fn flag(long: &str, short: &str, description: &str) -> Opt {
        Opt {
            long: long.to_owned(),
            kind: OptKind::Boolean,
            aliases: vec![short.to_owned()],
            values: Vec::new(),
            description: description.to_owned(),
        }
    }
}

#[derive(Deserialize)]
struct Upstream {
    source: String,
    top_level: Vec<Command>,
    groups: Vec<Group>,
}

impl Tree {
    /// The embedded tree, with Thor's built-in `help` and flags added.
    pub fn load() -> anyhow::Result<Tree> {
        let upstream: Upstream = serde_json::from_str(JSON)
            .context("the embedded data/tootctl-commands.json is not a tootctl command tree")?;
        let mut root = Group {
            name: "tootctl".to_owned(),
            description: "Mastodon's command line".to_owned(),
            commands: upstream.top_level,
            groups: upstream.groups,
            flags: Vec::new(),
        };
        add_thor_builtins(&mut root);
        // lib/mastodon/cli/main.rb: `map %w(--version -v) => :version`.
        root.flags
            .push(Opt::flag("--version", "-v", "Show version"));
        Ok(Tree {
            source: upstream.source,
            root,
        })
    }
}

/// Thor's `help` command and its `map HELP_MAPPINGS => :help` (`-h`,
/// `--help`) are inherited by every Thor class, so every group has them.
fn add_thor_builtins(group: &mut Group) {
    if !group.commands.iter().any(|c| c.name == "help") {
        group.commands.push(Command {
            name: "help".to_owned(),
            usage: "help [COMMAND]".to_owned(),
            // Thor's own text for a subcommand's help (Thor.subcommand_help).
            description: "Describe subcommands or one specific subcommand".to_owned(),
            options: Vec::new(),
        });
    }
    group
        .flags
        .push(Opt::flag("--help", "-h", "Describe available commands"));
    for sub in &mut group.groups {
        add_thor_builtins(sub);
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

/// The one spelling a name is known by inside the scripts (Thor's own).
pub fn key(name: &str) -> String {
    name.replace('-', "_")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_tree_parses_and_names_its_upstream_version() {
        let tree = Tree::load().unwrap();
        assert!(tree.source.contains("version"), "{}", tree.source);
        assert!(tree.root.groups.iter().any(|g| g.name == "accounts"));
        assert!(tree.root.commands.iter().any(|c| c.name == "self-destruct"));
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
