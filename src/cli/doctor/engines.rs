//! npm's version ranges, for `package.json`'s `engines.node`: does the
//! `node` found satisfy the range Mastodon asks for (`>=18`,
//! `^20.19.0 || >=22.12.0`, `>= 20`)?
//!
//! The js-semver crate reads the range the way npm's node-semver does
//! (<https://github.com/npm/node-semver#ranges>: `^`, `~`, X-ranges,
//! hyphen ranges, `||`, prerelease tags) and refuses what node-semver
//! refuses. nodejs-semver 7.0.0 does not: when its parser fails it falls
//! back to a loose one that drops the words it cannot read (`node >= 20`
//! reads as `>=20`), and it turns comparators that cannot all hold into
//! alternatives (`^20 ^22` matches 20.x and 22.x; npm matches nothing).

use js_semver::{Range, Version};

/// `22.11.0`, as `(major, minor, patch)`. A prerelease or build suffix is
/// ignored: `v22.12.0-rc.1` counts as 22.12.0 (npm's own rule would let no
/// prerelease satisfy `>=22.12.0`).
pub fn parse_full_version(text: &str) -> Option<(u64, u64, u64)> {
    let text = text.trim();
    let text = text
        .strip_prefix('v')
        .or_else(|| text.strip_prefix('='))
        .unwrap_or(text);
    let core = text.split(['-', '+']).next().unwrap_or_default();
    let mut parts = core.split('.').map(|part| {
        part.bytes()
            .all(|b| b.is_ascii_digit())
            .then(|| part.parse::<u64>().ok())
            .flatten()
    });
    let version = (parts.next()??, parts.next()??, parts.next()??);
    parts.next().is_none().then_some(version)
}

/// Whether `version` satisfies the npm range `range`; None when npm would
/// not read it as a range, or when it uses `~>`.
pub fn satisfies(range: &str, (major, minor, patch): (u64, u64, u64)) -> Option<bool> {
    // npm reads `~>` as its own `~`, but RubyGems' `~>` differs: `~> 3.2`
    // is `>= 3.2, < 4` in a Gemfile and `>=3.2.0 <3.3.0` to npm. Which one
    // was meant is for the admin to check.
    if range.contains("~>") {
        return None;
    }
    let range = Range::parse(range).ok()?;
    Some(range.satisfies(&Version::new(major, minor, patch)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engines_ranges_of_every_supported_shape() {
        let v = |s| parse_full_version(s).unwrap();
        let cases: &[(&str, &str, bool)] = &[
            (">=20", "20.0.0", true),
            (">=20", "18.19.1", false),
            ("^20", "20.11.0", true),
            ("^20", "21.0.0", false),
            ("20", "20.3.1", true),
            ("20.x", "21.1.0", false),
            ("18 || 20 || >=22", "20.1.0", true),
            ("18 || 20 || >=22", "21.1.0", false),
            (">=20 <23", "22.9.0", true),
            (">=20 <23", "23.0.0", false),
            (">= 20", "20.1.0", true),
            ("^20.19.0 || >=22.12.0", "20.18.3", false),
            ("^20.19.0 || >=22.12.0", "22.12.0", true),
            (">20", "20.9.0", false),
            ("<=20", "20.9.0", true),
            ("~20.1", "20.2.0", false),
            ("20 - 22", "22.5.0", true),
            ("20 - 22", "23.0.0", false),
            ("*", "1.2.3", true),
        ];
        for (range, version, want) in cases {
            assert_eq!(
                satisfies(range, v(version)),
                Some(*want),
                "{range} vs {version}"
            );
        }
    }

    #[test]
    fn unknown_range_syntax_is_none_not_a_panic() {
        for range in [
            "latest",
            ">=",
            "20.1.2.3",
            "node >= 20",
            ">= >= 20",
            "~>20",
            "\u{fffd}",
        ] {
            assert_eq!(satisfies(range, (20, 0, 0)), None, "{range}");
        }
    }
}
