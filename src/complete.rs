//! What can follow the words typed so far on a `tootctl` command line, for
//! the shells' completion functions (`tootguard __complete`): they hand
//! over the words, tootguard answers with candidates, as clap_complete's
//! dynamic engine and cobra's `__complete` do. One walk of the tree serves
//! bash, zsh and fish, so the three cannot disagree, and the tree is the
//! one of the install the command would run in (`tootctl_source`).
//!
//! Thor's rules, which the walk follows: a group's commands and groups in
//! both spellings (`-` and `_`), a command's options with their aliases,
//! `--no-<flag>` for a boolean (Thor negates any boolean that way), the
//! values of an `enum:` option, after `--opt ` or `--opt=`.

use crate::tootctl_tree::{Group, Opt, OptKind, spellings};

/// What to offer.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Candidates {
    /// Words, each with its description (empty when there is none).
    pub words: Vec<(String, String)>,
    /// The shell's own file completion fits here (a command's arguments,
    /// a path-like option's value).
    pub files: bool,
    /// The part of the current word before the candidates (`--format=`):
    /// bash has split it off already; zsh and fish need it.
    pub prefix: String,
}

/// The candidates after `words`: the typed words after `tootctl`, the last
/// being the one under the cursor (empty after a space).
pub fn tootctl(root: &Group, words: &[String]) -> Candidates {
    let Some((current, before)) = words.split_last() else {
        return Candidates::default();
    };
    let mut group = root;
    let mut command = None;
    let mut rest = before.iter();
    for word in rest.by_ref() {
        if word.starts_with('-') {
            continue;
        }
        let key = word.replace('-', "_");
        if let Some(sub) = group
            .groups
            .iter()
            .find(|g| g.name.replace('-', "_") == key)
        {
            group = sub;
        } else if let Some(found) = group
            .commands
            .iter()
            .find(|c| c.name.replace('-', "_") == key)
        {
            if found.name == "help" {
                // `help [COMMAND]`: a name from this group follows.
                return names_of(group, current);
            }
            command = Some(found);
            break;
        } else {
            return Candidates::default(); // a word tootctl does not know here
        }
    }
    let Some(command) = command else {
        return if current.starts_with('-') {
            options(&group.flags, current)
        } else {
            names_of(group, current)
        };
    };
    // A value of an option: after `--opt=` or after `--opt `.
    if let Some((name, value)) = current.split_once('=')
        && name.starts_with("--")
    {
        return match find(&command.options, name) {
            Some(opt) if opt.takes_value() => Candidates {
                prefix: format!("{name}="),
                ..values(opt, value)
            },
            _ => Candidates::default(),
        };
    }
    if let Some(prev) = before.last()
        && !prev.contains('=')
        && let Some(opt) = find(&command.options, prev)
        && opt.takes_value()
    {
        return values(opt, current);
    }
    if current.starts_with('-') || command.arguments().is_none() {
        let mut offered = options(&command.options, current);
        // Where nothing else fits, the shell's files are not offered either.
        offered.files = false;
        return offered;
    }
    Candidates {
        files: true,
        ..Candidates::default()
    }
}

/// A group's commands and groups, in every spelling, that start with `current`.
fn names_of(group: &Group, current: &str) -> Candidates {
    let named = group
        .commands
        .iter()
        .map(|c| (&c.name, &c.description))
        .chain(group.groups.iter().map(|g| (&g.name, &g.description)));
    let mut words = Vec::new();
    for (name, description) in named {
        for spelling in spellings(name) {
            if spelling.starts_with(current) {
                words.push((spelling, description.clone()));
            }
        }
    }
    Candidates {
        words,
        ..Candidates::default()
    }
}

/// Option names, aliases and `--no-` forms that start with `current`.
fn options(opts: &[Opt], current: &str) -> Candidates {
    let mut words = Vec::new();
    for opt in opts {
        for name in opt.names() {
            words.push((name.to_owned(), opt.description.clone()));
        }
        if opt.kind == OptKind::Boolean
            && let Some(bare) = opt.long.strip_prefix("--")
            && !["help", "version"].contains(&bare)
        {
            let description = if opt.description.is_empty() {
                String::new()
            } else {
                format!("not: {}", opt.description)
            };
            words.push((format!("--no-{bare}"), description));
        }
    }
    words.retain(|(w, _)| w.starts_with(current));
    Candidates {
        words,
        ..Candidates::default()
    }
}

/// The values an option takes, or files when its name says it is a path.
fn values(opt: &Opt, current: &str) -> Candidates {
    if !opt.values.is_empty() {
        return Candidates {
            words: opt
                .values
                .iter()
                .filter(|v| v.starts_with(current))
                .map(|v| (v.clone(), String::new()))
                .collect(),
            ..Candidates::default()
        };
    }
    let pathy = [
        "file",
        "path",
        "dir",
        "directory",
        "config",
        "output",
        "input",
    ];
    let name = opt.long.trim_start_matches('-');
    Candidates {
        files: opt.kind == OptKind::String && name.split('-').any(|part| pathy.contains(&part)),
        ..Candidates::default()
    }
}

/// The option a typed name means: its long name or an alias, or a
/// `--no-` form of a boolean.
fn find<'a>(opts: &'a [Opt], typed: &str) -> Option<&'a Opt> {
    opts.iter()
        .find(|o| o.names().any(|n| n == typed))
        .or_else(|| {
            let bare = typed.strip_prefix("--no-")?;
            opts.iter()
                .find(|o| o.kind == OptKind::Boolean && o.long == format!("--{bare}"))
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tootctl_tree::Tree;

    fn words(line: &str) -> Vec<String> {
        let mut words: Vec<String> = line.split(' ').map(str::to_owned).collect();
        words.remove(0); // tootctl
        words
    }

    fn offered(line: &str) -> Vec<String> {
        let tree = Tree::load().unwrap();
        tootctl(&tree.root, &words(line))
            .words
            .into_iter()
            .map(|(w, _)| w)
            .collect()
    }

    #[test]
    fn groups_commands_and_both_spellings_are_offered() {
        let top = offered("tootctl ");
        assert!(top.contains(&"accounts".to_owned()));
        assert!(top.contains(&"email_domain_blocks".to_owned()));
        assert!(top.contains(&"email-domain-blocks".to_owned()));
        assert_eq!(offered("tootctl med"), ["media"]);
        assert!(offered("tootctl email-domain-blocks ").contains(&"add".to_owned()));
        assert!(offered("tootctl settings registrations ").contains(&"open".to_owned()));
    }

    #[test]
    fn options_aliases_negations_and_enum_values_follow_a_command() {
        let remove = offered("tootctl media remove --");
        assert!(remove.contains(&"--days".to_owned()));
        assert!(remove.contains(&"--dry-run".to_owned()));
        assert!(remove.contains(&"--no-dry-run".to_owned()));
        assert!(offered("tootctl media remove -").contains(&"-d".to_owned()));
        assert!(offered("tootctl media remove --days ").is_empty());
        let tree = Tree::load().unwrap();
        let export = tootctl(&tree.root, &words("tootctl ip_blocks export --format=ng"));
        assert_eq!(export.prefix, "--format=");
        assert_eq!(export.words, [("nginx".to_owned(), String::new())]);
        assert_eq!(
            offered("tootctl ip-blocks export --format "),
            ["plain", "nginx"]
        );
    }

    #[test]
    fn an_unknown_word_ends_the_offer_and_arguments_are_files() {
        assert!(offered("tootctl nosuch ").is_empty());
        let tree = Tree::load().unwrap();
        let lookup = tootctl(&tree.root, &words("tootctl media lookup "));
        assert!(lookup.files);
    }
}
