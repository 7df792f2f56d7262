//! What the checked-out Mastodon version itself requires, read from its own
//! files rather than from a table of releases: the minimum PostgreSQL
//! version `lib/tasks/db.rake` states (its `db:pre_migration_check`, which
//! `db:migrate` runs first), for the `postgresql-version` row (see
//! `db.rs`, which asks the server).

/// The file stating the minimum PostgreSQL version.
pub const DB_RAKE: &str = "lib/tasks/db.rake";

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
    let rest = &line[at + "requires PostgreSQL ".len()..];
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
}
