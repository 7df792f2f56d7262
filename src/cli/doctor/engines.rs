//! npm's version ranges, for `package.json`'s `engines.node`: does the
//! `node` found satisfy the range Mastodon asks for?

type Version = (u64, u64, u64);

/// `22.11.0` (a prerelease or build suffix is ignored).
pub fn parse_full_version(text: &str) -> Option<Version> {
    let p = parse_partial(text)?;
    Some((p.0?, p.1?, p.2?))
}

/// A version with parts left out or wildcarded (`20`, `20.x`, `20.1`,
/// `v20.1.2-rc.1`). None for anything else; `(None, …)` is `*`.
fn parse_partial(text: &str) -> Option<(Option<u64>, Option<u64>, Option<u64>)> {
    let text = text.trim();
    let text = text
        .strip_prefix('v')
        .or_else(|| text.strip_prefix('='))
        .unwrap_or(text);
    let core = text.split(['-', '+']).next().unwrap_or_default();
    let mut parts = [None; 3];
    let mut wildcard = false;
    for (i, part) in core.split('.').enumerate() {
        if i >= 3 {
            return None;
        }
        if matches!(part, "x" | "X" | "*") {
            wildcard = true;
            continue;
        }
        if wildcard || part.is_empty() || !part.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        parts[i] = Some(part.parse().ok()?);
    }
    Some((parts[0], parts[1], parts[2]))
}

/// One bound of a range.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Bound {
    Ge(Version),
    Gt(Version),
    Lt(Version),
    Le(Version),
}

impl Bound {
    fn holds(self, v: Version) -> bool {
        match self {
            Bound::Ge(b) => v >= b,
            Bound::Gt(b) => v > b,
            Bound::Lt(b) => v < b,
            Bound::Le(b) => v <= b,
        }
    }
}

/// Whether `version` satisfies an npm `engines` range: `||` alternatives of
/// space-separated comparators (`>=N`, `>N`, `<N`, `<=N`, `=N`, `^N`, `~N`,
/// `N`, `N.x`, `*`) or a hyphen range (`20 - 22`). None when the syntax is
/// not one of those.
pub fn satisfies(range: &str, version: Version) -> Option<bool> {
    let mut any = false;
    for alternative in range.split("||") {
        let bounds = alternative_bounds(alternative.trim())?;
        any |= bounds.iter().all(|b| b.holds(version));
    }
    Some(any)
}

fn alternative_bounds(alt: &str) -> Option<Vec<Bound>> {
    if let Some((low, high)) = alt.split_once(" - ") {
        let mut bounds = comparator("", low.trim(), ">=")?;
        bounds.extend(comparator("", high.trim(), "<=")?);
        return Some(bounds);
    }
    let mut bounds = Vec::new();
    let mut pending_op: Option<&str> = None;
    for token in alt.split_whitespace() {
        let op_len = token.bytes().take_while(|b| b"<>=~^".contains(b)).count();
        let (op, rest) = token.split_at(op_len);
        if rest.is_empty() {
            // `>= 20`: the operator stands alone.
            if pending_op.is_some() {
                return None;
            }
            pending_op = Some(op);
            continue;
        }
        let op = match pending_op.take() {
            Some(p) if op.is_empty() => p,
            Some(_) => return None,
            None => op,
        };
        bounds.extend(comparator(op, rest, "=")?);
    }
    if pending_op.is_some() {
        return None;
    }
    Some(bounds)
}

/// The bounds of one comparator, the npm way: a partial version is an
/// X-range (`<=20` is `<21.0.0`, `>20` is `>=21.0.0`).
fn comparator(op: &str, text: &str, default_op: &str) -> Option<Vec<Bound>> {
    let op = if op.is_empty() { default_op } else { op };
    let (major, minor, patch) = parse_partial(text)?;
    let Some(major) = major else {
        // `*`, `x`: anything (but `<*` and `>*` match nothing).
        return match op {
            "=" | ">=" | "<=" | "^" | "~" => Some(Vec::new()),
            _ => Some(vec![Bound::Lt((0, 0, 0))]),
        };
    };
    let low = (major, minor.unwrap_or(0), patch.unwrap_or(0));
    // The first version past the X-range the partial version names.
    let next = match (minor, patch) {
        (None, _) => (major + 1, 0, 0),
        (Some(m), None) => (major, m + 1, 0),
        (Some(m), Some(p)) => (major, m, p + 1),
    };
    let exact = patch.is_some();
    Some(match op {
        "=" => vec![Bound::Ge(low), Bound::Lt(next)],
        ">=" => vec![Bound::Ge(low)],
        ">" if exact => vec![Bound::Gt(low)],
        ">" => vec![Bound::Ge(next)],
        "<" => vec![Bound::Lt(low)],
        "<=" if exact => vec![Bound::Le(low)],
        "<=" => vec![Bound::Lt(next)],
        "~" => match minor {
            None => vec![Bound::Ge(low), Bound::Lt((major + 1, 0, 0))],
            Some(m) => vec![Bound::Ge(low), Bound::Lt((major, m + 1, 0))],
        },
        "^" => {
            let upper = match (major, minor, patch) {
                (0, Some(0), Some(p)) => (0, 0, p + 1),
                (0, Some(m), _) if m > 0 || patch.is_none() => (0, m + 1, 0),
                (0, None, _) => (1, 0, 0),
                (m, _, _) => (m + 1, 0, 0),
            };
            vec![Bound::Ge(low), Bound::Lt(upper)]
        }
        _ => return None,
    })
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
