//! `tootguard completions --tree`: the tootctl tree completion offers in
//! this directory, and where it was read from, for an admin to check.

use std::fmt::Write as _;
use std::io::Write as _;

use anyhow::Context;

use crate::exit::OK;
use crate::tootctl_source::Source;

/// `--tree`: what tootctl completion offers in this directory.
pub(super) fn run(json: bool) -> anyhow::Result<u8> {
    let env = crate::environment::Env::process();
    let cwd = std::env::current_dir().context("cannot read the working directory")?;
    let (tree, source) = crate::tootctl_source::here(&env, &cwd);
    let text = if json {
        // The data file's shape; where it was read from is on stderr.
        match &source {
            Source::Installed { root, .. } => {
                eprintln!("tootguard: read from {}/lib/mastodon/cli", root.display());
            }
            Source::Embedded(why) => eprintln!("tootguard: the embedded tree, because {why}"),
        }
        tree.to_json()
    } else {
        let mut out = match &source {
            Source::Installed { root, cached } => format!(
                "tootctl as {} has it ({}{}):\n",
                root.display(),
                tree.source,
                if *cached { ", from the cache" } else { "" }
            ),
            Source::Embedded(why) => {
                format!("the embedded tree ({}), because {why}:\n", tree.source)
            }
        };
        outline(&mut out, &tree.root, 0);
        out
    };
    std::io::stdout()
        .lock()
        .write_all(text.as_bytes())
        .context("cannot write the tree")?;
    Ok(OK)
}

/// Groups, commands and options, indented.
fn outline(out: &mut String, group: &crate::tootctl_tree::Group, depth: usize) {
    let pad = "  ".repeat(depth + 1);
    for command in &group.commands {
        let _ = writeln!(out, "{pad}{}  {}", command.usage, command.description);
        for opt in &command.options {
            let mut names: Vec<&str> = opt.names().collect();
            names.dedup();
            let values = if opt.values.is_empty() {
                String::new()
            } else {
                format!(" ({})", opt.values.join("|"))
            };
            let _ = writeln!(out, "{pad}    {}{values}", names.join(", "));
        }
    }
    for sub in &group.groups {
        let _ = writeln!(out, "{pad}{}  {}", sub.name, sub.description);
        outline(out, sub, depth + 1);
    }
}
