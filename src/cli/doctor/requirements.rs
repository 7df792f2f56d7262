//! What the checked-out Mastodon version itself requires, read from its own
//! files rather than from a table of releases:
//!
//! * `encryption-keys`: from 4.3 on, `config/initializers/active_record_encryption.rb`
//!   aborts at boot unless the Active Record encryption keys are set. They
//!   are generated once (`bin/rails db:encryption:init`); generating them
//!   again for a server that has used them makes what they encrypted (every
//!   user's two-factor secret) unreadable, so the fix never suggests it for
//!   keys that are set. Values are secrets: no message names one.
//! * the minimum PostgreSQL version `lib/tasks/db.rake` states (its
//!   `db:pre_migration_check`, which `db:migrate` runs first), for the
//!   `postgresql-version` row (see `db.rs`, which asks the server).

use std::path::Path;

use super::Check;
use crate::config::{Setting, Source};
use crate::guards::Level;
use crate::site::Site;

/// The initializer that requires the keys (Mastodon ≥ 4.3).
pub const INITIALIZER: &str = "config/initializers/active_record_encryption.rb";

/// The file stating the minimum PostgreSQL version.
pub const DB_RAKE: &str = "lib/tasks/db.rake";

/// The suffix of the test environment's keys, which the initializer
/// refuses in production (`value.end_with?('DO_NOT_USE_IN_PRODUCTION')`).
const TEST_MARKER: &str = "DO_NOT_USE_IN_PRODUCTION";

/// The variables an initializer requires: every `ACTIVE_RECORD_ENCRYPTION_…`
/// word on a line that is not a comment (upstream lists them in a `%w(…)`
/// and again in its message), in order of appearance.
fn initializer_keys(text: &str) -> Vec<String> {
    let mut keys: Vec<String> = Vec::new();
    for line in text.lines().filter(|l| !l.trim_start().starts_with('#')) {
        let mut rest = line;
        while let Some(at) = rest.find("ACTIVE_RECORD_ENCRYPTION_") {
            let word: String = rest[at..]
                .chars()
                .take_while(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || *c == '_')
                .collect();
            rest = &rest[at + word.len()..];
            if word.len() > "ACTIVE_RECORD_ENCRYPTION_".len() && !keys.contains(&word) {
                keys.push(word);
            }
        }
    }
    keys
}

/// How one key stands.
enum Found<'a> {
    Set(&'a Setting),
    /// Unset, or blank (`value.blank?`: empty or whitespace only).
    Missing(Option<&'a Source>),
    /// Set to the test environment's value.
    TestValue(&'a Source),
    /// From a `$(command)` (or not UTF-8): tootguard cannot tell.
    Unknown(&'a Source),
}

/// The `encryption-keys` row for the install at `root`, whose owner (when
/// known) is `owner`.
///
/// It follows the initializer upstream ships (v4.3.0 … v4.6.x): each key is
/// read with `ENV.fetch` — the process environment, into which dotenv has
/// loaded the `.env*` files — and nothing else: no `*_FILE` variables, no
/// Rails credentials. v4.3.0 aborts when a key is absent, v4.4.0 and later
/// also when it is blank; a blank key is refused here for every version,
/// since Rails' own `ActiveRecord::Encryption::Config` raises "Missing
/// Active Record encryption credential" for a key that is not `present?`.
/// `SECRET_KEY_BASE_DUMMY` (random placeholders for asset compilation) is
/// no configuration of a running server and is not taken into account.
pub fn encryption_keys(site: &Site, root: &Path, owner: Option<&str>) -> Check {
    const ID: &str = "encryption-keys";
    let file = root.join(INITIALIZER);
    let text = match crate::files::read_small(&file) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Check::new(
                ID,
                Level::Ok,
                format!(
                    "no {INITIALIZER} in this checkout: this version does not need the Active \
                     Record encryption keys"
                ),
            );
        }
        Err(e) => {
            return Check::new(
                ID,
                Level::Warn,
                format!(
                    "cannot tell which keys this version needs: cannot read {INITIALIZER} ({e})"
                ),
            )
            .fix(format!(
                "Make {} readable by this user, or restore it from the checkout (`git checkout -- \
                 {INITIALIZER}`).",
                file.display()
            ));
        }
    };
    let names = initializer_keys(&text);
    if names.is_empty() {
        // Not upstream's: it may read Rails credentials or nothing at all.
        return Check::new(
            ID,
            Level::Warn,
            format!(
                "cannot tell which keys this version needs: {INITIALIZER} names no \
                 ACTIVE_RECORD_ENCRYPTION_* variable (upstream's reads three from the environment)"
            ),
        )
        .fix(format!(
            "Read {} to see where it takes the keys from, and check that they are set there.",
            file.display()
        ));
    }
    let config = match site.config() {
        Ok(config) => config,
        Err(_) => {
            return Check::new(
                ID,
                Level::Warn,
                "not checked: the .env* files cannot be read (see the `config` check)",
            )
            .fix("Fix what the `config` check names, then run `tootguard doctor` again.");
        }
    };
    let refuses_test_values = text.contains(TEST_MARKER);
    let found: Vec<(&str, Found)> = names
        .iter()
        .map(|name| {
            let state = match (config.known(name), config.get(name)) {
                (_, None) => Found::Missing(None),
                (Err(_), Some(setting)) => Found::Unknown(&setting.source),
                (Ok(Some((value, setting))), _) if value.trim().is_empty() => {
                    Found::Missing(Some(&setting.source))
                }
                (Ok(Some((value, setting))), _)
                    if refuses_test_values && value.ends_with(TEST_MARKER) =>
                {
                    Found::TestValue(&setting.source)
                }
                (Ok(_), Some(setting)) => Found::Set(setting),
            };
            (name.as_str(), state)
        })
        .collect();
    let env_file = root.join(".env.production");
    let as_owner = match owner {
        Some(owner) => format!("as {owner} (`su - {owner}`)"),
        None => "as the install's owner".to_owned(),
    };
    let generate = format!(
        "`cd {} && RAILS_ENV=production bin/rails db:encryption:init`",
        crate::quote::word_str(&root.display().to_string())
    );
    let all = names.join(", ");

    let missing: Vec<String> = found
        .iter()
        .filter_map(|(name, state)| match state {
            Found::Missing(None) => Some(format!("{name} (unset)")),
            Found::Missing(Some(source)) => Some(format!("{name} (empty, {source})")),
            _ => None,
        })
        .collect();
    let set: Vec<&str> = found
        .iter()
        .filter(|(_, state)| !matches!(state, Found::Missing(_)))
        .map(|(name, _)| *name)
        .collect();
    let requires = format!(
        "this version's {INITIALIZER} aborts at boot unless {all} are set in the environment \
         or the .env* files"
    );

    if !missing.is_empty() && set.is_empty() {
        return Check::new(
            ID,
            Level::Block,
            format!("{requires}; none is: {}", missing.join(", ")),
        )
        .fix(format!(
            "Generate them once: {as_owner}, run {generate} and add the {} lines it prints to \
             {} (the same on every server of this instance; keep a copy with your backups). \
             Never generate them again once they are set: new keys make what the old ones \
             encrypted (users' two-factor settings) unreadable.",
            names.len(),
            env_file.display()
        ));
    }
    if !missing.is_empty() {
        // From 4.4 on the generator itself refuses while any key is set,
        // unless IGNORE_ALREADY_SET_SECRETS=true (upstream lib/tasks/db.rake).
        let refuses = crate::files::read_small(&root.join(DB_RAKE))
            .is_ok_and(|t| t.contains("IGNORE_ALREADY_SET_SECRETS"));
        return Check::new(
            ID,
            Level::Block,
            format!(
                "{requires}; {} missing: {} (set: {}, not shown)",
                if missing.len() == 1 {
                    "one is"
                } else {
                    "some are"
                },
                missing.join(", "),
                set.join(", ")
            ),
        )
        .fix(format!(
            "Do not run db:encryption:init to fill the gap, and do not change the keys that are \
             set ({}): they may already encrypt data (users' two-factor settings), which new \
             keys would make unreadable{}. Find the missing value(s) where the keys were first \
             put — a backup of .env.production, another server of this instance — and add only \
             those lines to {}.",
            set.join(", "),
            if refuses {
                "; this version's generator refuses while any key is set — do not override it \
                 with IGNORE_ALREADY_SET_SECRETS=true"
            } else {
                ""
            },
            env_file.display()
        ));
    }
    let unknown: Vec<String> = found
        .iter()
        .filter_map(|(name, state)| match state {
            Found::Unknown(source) => Some(format!("{name} ({source})")),
            _ => None,
        })
        .collect();
    let test_values: Vec<String> = found
        .iter()
        .filter_map(|(name, state)| match state {
            Found::TestValue(source) => Some(format!("{name} ({source})")),
            _ => None,
        })
        .collect();
    if !test_values.is_empty() {
        return Check::new(
            ID,
            Level::Block,
            format!(
                "{} end(s) with {TEST_MARKER}: a test environment's key, which this version's \
                 {INITIALIZER} refuses in production",
                test_values.join(", ")
            ),
        )
        .fix(format!(
            "Mastodon refuses such a key in production, so no production data is encrypted \
             with it: delete those lines, then, {as_owner}, run {generate} once and add the \
             lines it prints for the deleted keys to {}.",
            env_file.display()
        ));
    }
    if !unknown.is_empty() {
        return Check::new(
            ID,
            Level::Warn,
            format!(
                "cannot tell whether {} is set: it comes from a `$(command)` or is not UTF-8, \
                 and tootguard runs no commands",
                unknown.join(", ")
            ),
        )
        .fix(format!(
            "Write the value itself in {} (doctor never shows it), or check by hand that the \
             command prints a non-empty key.",
            env_file.display()
        ));
    }
    let sources: Vec<&Source> = found
        .iter()
        .filter_map(|(_, state)| match state {
            Found::Set(setting) => Some(&setting.source),
            _ => None,
        })
        .collect();
    Check::new(
        ID,
        Level::Ok,
        format!(
            "the {} Active Record encryption keys {INITIALIZER} requires are set, {} (values not \
             shown)",
            names.len(),
            where_from(&names, &sources)
        ),
    )
}

/// Where the keys come from, in a few words: one file with its lines, the
/// environment, or each key's own source.
fn where_from(names: &[String], sources: &[&Source]) -> String {
    if sources.iter().all(|s| **s == Source::Environment) {
        return "in the environment".to_owned();
    }
    if let Some(Source::File { path, .. }) = sources.first()
        && sources
            .iter()
            .all(|s| matches!(s, Source::File { path: p, .. } if p == path))
    {
        let lines: Vec<String> = sources
            .iter()
            .filter_map(|s| match s {
                Source::File { line, .. } => Some(line.to_string()),
                _ => None,
            })
            .collect();
        return format!("in {} (lines {})", path.display(), lines.join(", "));
    }
    let each: Vec<String> = names
        .iter()
        .zip(sources)
        .map(|(name, source)| format!("{name} in {source}"))
        .collect();
    each.join(", ")
}

/// The minimum PostgreSQL `server_version_num` a `lib/tasks/db.rake`
/// states, `None` when it states none tootguard can read.
///
/// Upstream's `db:pre_migration_check` aborts with "This version of
/// Mastodon requires PostgreSQL 14.0 or newer" `if pg_version < 140_000`,
/// where `pg_version = ActiveRecord::Base.connection.database_version`
/// (v4.3.0: `version`, 120_000; v4.4.0: 130_000; v4.5.0: 140_000; before
/// January 2024 it read `current_setting('server_version_num')` itself and
/// asked for 90_500). The comparison is what aborts, so it is read first:
/// `VAR < NUMBER` on an `abort` line, VAR assigned from
/// `database_version` or `server_version_num`. Failing that, the message's
/// "requires PostgreSQL X.Y or newer". The strictest one found counts.
pub fn postgresql_minimum(rake: &str) -> Option<u32> {
    let code: Vec<&str> = rake
        .lines()
        .map(str::trim)
        .filter(|l| !l.starts_with('#'))
        .collect();
    let vars: Vec<&str> = code
        .iter()
        .filter(|l| l.contains("database_version") || l.contains("server_version_num"))
        .filter_map(|l| {
            let (left, _) = l.split_once('=')?;
            let var = left.trim();
            let plain =
                !var.is_empty() && var.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
            plain.then_some(var)
        })
        .collect();
    let compared = code
        .iter()
        .filter(|l| l.contains("abort"))
        .filter_map(|l| {
            let (_, condition) = l.rsplit_once(" if ")?;
            let (var, number) = condition.split_once('<')?;
            if !vars.contains(&var.trim()) || number.starts_with('=') {
                return None;
            }
            let digits = number.trim().split(|c: char| c.is_whitespace() || c == ')');
            parse_ruby_integer(digits.into_iter().next()?)
        })
        .max();
    compared
        .or_else(|| code.iter().filter_map(|l| stated_in_message(l)).max())
        .filter(|n| (80_000..10_000_000).contains(n))
}

/// `140_000` → 140000; anything else is `None`.
fn parse_ruby_integer(text: &str) -> Option<u32> {
    let ok = text.starts_with(|c: char| c.is_ascii_digit())
        && text.bytes().all(|b| b.is_ascii_digit() || b == b'_')
        && !text.contains("__")
        && !text.ends_with('_');
    ok.then(|| text.replace('_', "").parse().ok()).flatten()
}

/// "requires PostgreSQL 14.0 or newer" → 140000; "9.5" → 90500.
fn stated_in_message(line: &str) -> Option<u32> {
    let at = line.find("requires PostgreSQL ")?;
    let rest = line[at + "requires PostgreSQL ".len()..].trim_start();
    let version = rest.split_whitespace().next()?;
    if !rest[version.len()..].trim_start().starts_with("or newer") {
        return None;
    }
    let parts: Vec<u32> = version
        .split('.')
        .map(|p| p.parse().ok())
        .collect::<Option<_>>()?;
    match parts.as_slice() {
        // PostgreSQL 10 and later: major × 10000 + minor.
        [major, rest @ ..] if *major >= 10 && rest.len() <= 1 => {
            Some(major * 10_000 + rest.first().copied().unwrap_or(0))
        }
        // Before 10: the first two numbers are the major version.
        [a, b, rest @ ..] if *a < 10 && rest.len() <= 1 => {
            Some(a * 10_000 + b * 100 + rest.first().copied().unwrap_or(0))
        }
        _ => None,
    }
}

/// A `server_version_num` as people write it: 140005 → "14.5",
/// 140000 → "14.0", 90624 → "9.6.24".
pub fn postgresql_version(num: u32) -> String {
    if num >= 100_000 {
        format!("{}.{}", num / 10_000, num % 10_000)
    } else {
        format!("{}.{}.{}", num / 10_000, num / 100 % 100, num % 100)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const V4_3_0: &str = include_str!("../../../tests/upstream/db.rake.v4.3.0");
    const V4_4_0: &str = include_str!("../../../tests/upstream/db.rake.v4.4.0");
    const V4_5_0: &str = include_str!("../../../tests/upstream/db.rake.v4.5.0");
    const BEFORE_28800: &str = include_str!("../../../tests/upstream/db.rake.before-28800");
    const INITIALIZER_V4_5_0: &str =
        include_str!("../../../tests/upstream/active_record_encryption.rb.v4.5.0");

    #[test]
    fn upstream_db_rake_states_its_minimum_postgresql() {
        assert_eq!(postgresql_minimum(V4_3_0), Some(120_000));
        assert_eq!(postgresql_minimum(V4_4_0), Some(130_000));
        assert_eq!(postgresql_minimum(V4_5_0), Some(140_000));
        assert_eq!(postgresql_minimum(BEFORE_28800), Some(90_500));
    }

    #[test]
    fn the_comparison_counts_over_the_message_and_the_message_alone_is_read() {
        let disagree = V4_5_0.replace("pg_version < 140_000", "pg_version < 150_000");
        assert_eq!(postgresql_minimum(&disagree), Some(150_000));
        let message_only = "task pre_migration_check: :environment do\n  \
             abort 'This version of Mastodon requires PostgreSQL 16.0 or newer.' unless ok?\nend\n";
        assert_eq!(postgresql_minimum(message_only), Some(160_000));
    }

    #[test]
    fn a_message_with_odd_spacing_and_letters_is_no_version_and_no_panic() {
        assert_eq!(
            stated_in_message("abort 'requires PostgreSQL  \u{e9}\u{e9}\u{e9} or newer'"),
            None
        );
    }

    #[test]
    fn a_db_rake_stating_no_minimum_gives_none() {
        for text in [
            "",
            "namespace :db do\nend\n",
            // Commented out: not stated.
            "# pg_version = connection.database_version\n\
             # abort 'requires PostgreSQL 14.0 or newer' if pg_version < 140_000\n",
            // A comparison with a variable that is not the version.
            "count = 3\nabort 'too many' if count < 140_000\n",
            "pg_version = x.database_version\nabort 'x' if pg_version < 14_0000_\n",
            "abort 'This requires PostgreSQL lots or newer'\n",
            "\u{fffd}\u{0}garbage",
        ] {
            assert_eq!(postgresql_minimum(text), None, "{text:?}");
        }
    }

    #[test]
    fn versions_print_as_people_write_them() {
        assert_eq!(postgresql_version(140_000), "14.0");
        assert_eq!(postgresql_version(150_012), "15.12");
        assert_eq!(postgresql_version(90_624), "9.6.24");
        assert_eq!(postgresql_version(90_500), "9.5.0");
    }

    #[test]
    fn upstream_initializer_requires_the_three_keys() {
        assert_eq!(
            initializer_keys(INITIALIZER_V4_5_0),
            [
                "ACTIVE_RECORD_ENCRYPTION_DETERMINISTIC_KEY",
                "ACTIVE_RECORD_ENCRYPTION_KEY_DERIVATION_SALT",
                "ACTIVE_RECORD_ENCRYPTION_PRIMARY_KEY",
            ]
        );
        assert!(INITIALIZER_V4_5_0.contains(TEST_MARKER));
        assert!(initializer_keys("# ACTIVE_RECORD_ENCRYPTION_PRIMARY_KEY\n").is_empty());
    }
}
