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
//!
//! `parse` reads the files into a `World` (`world`: the classes, blocks and
//! constants as written); `replay` replays Thor's bookkeeping over it into
//! the tree.

use std::path::{Path, PathBuf};

use crate::tootctl_tree::Tree;

mod lex;
mod parse;
mod replay;
mod world;

use parse::parse_into;
use replay::Reader;
use world::World;

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
    let mut reader = Reader::new(&world, root);
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tootctl_tree::{self, Command, Group, Opt};
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
