//! What Thor's class-level calls (`desc`, `option`, `method_options`,
//! `map`, `subcommand`, `include`) mean, as the events the tree is
//! replayed from.

use super::values::{Val, hash_get};
use crate::thor::world::{Event, RawOpt, Values};
use crate::tootctl_tree::OptKind;

/// A Thor class-level call, as the event Thor reacts to.
pub(super) fn thor_call(sink: &mut Vec<Event>, word: &str, args: Vec<Val>) {
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
