//! Which migrations a checkout has and which the database has applied.
//!
//! Mastodon keeps its post-deployment migrations in `db/post_migrate` and
//! the others in `db/migrate`; a file's version is the number its name
//! starts with (`20240101000001_create_things.rb`). Applied versions are
//! the rows of `schema_migrations`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// A checkout's migration files: version → file name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Files {
    pub pre: BTreeMap<String, String>,
    pub post: BTreeMap<String, String>,
}

/// Reads `db/migrate` and `db/post_migrate` under `root` (a missing
/// directory has none).
pub fn files(root: &Path) -> Result<Files, String> {
    Ok(Files {
        pre: versions_in(&root.join("db/migrate"))?,
        post: versions_in(&root.join("db/post_migrate"))?,
    })
}

/// The migration files under `dir`, its subdirectories included (Rails
/// globs `**/[0-9]*_*.rb`), to a depth of eight.
fn versions_in(dir: &Path) -> Result<BTreeMap<String, String>, String> {
    let mut found = BTreeMap::new();
    walk(dir, 0, &mut found)?;
    Ok(found)
}

fn walk(dir: &Path, depth: usize, found: &mut BTreeMap<String, String>) -> Result<(), String> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && depth == 0 => return Ok(()),
        Err(e) => return Err(format!("cannot read {}: {e}", dir.display())),
    };
    for entry in entries.flatten() {
        let Ok(name) = entry.file_name().into_string() else {
            continue;
        };
        let is_dir = entry.file_type().is_ok_and(|t| t.is_dir());
        if is_dir {
            if depth < 8 {
                walk(&entry.path(), depth + 1, found)?;
            }
            continue;
        }
        if let Some((version, rest)) = name.split_once('_')
            && rest.ends_with(".rb")
            && !version.is_empty()
            && version.bytes().all(|b| b.is_ascii_digit())
        {
            found.insert(version.to_owned(), name.clone());
        }
    }
    Ok(())
}

/// What the database lacks (file names, oldest first), and what it has
/// that the checkout does not.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Pending {
    pub pre: Vec<String>,
    pub post: Vec<String>,
    /// Applied versions newer than every file of this checkout: a
    /// checkout older than the database. (Older versions without a file
    /// are normal: Mastodon removes migrations long applied everywhere.)
    pub unknown: Vec<String>,
}

pub fn pending(files: &Files, applied: &[String]) -> Pending {
    let applied: BTreeSet<&str> = applied.iter().map(String::as_str).collect();
    // Versions are timestamps: a longer one is a later one.
    let order = |v: &str| (v.len(), v.to_owned());
    let newest = files
        .pre
        .keys()
        .chain(files.post.keys())
        .map(|v| order(v))
        .max();
    let missing = |set: &BTreeMap<String, String>| {
        set.iter()
            .filter(|(v, _)| !applied.contains(v.as_str()))
            .map(|(_, name)| name.clone())
            .collect()
    };
    let mut unknown: Vec<String> = applied
        .iter()
        .filter(|v| newest.as_ref().is_some_and(|n| order(v) > *n))
        .map(|v| (*v).to_owned())
        .collect();
    unknown.sort_by_key(|v| order(v));
    Pending {
        pre: missing(&files.pre),
        post: missing(&files.post),
        unknown,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pending_and_unknown_versions_are_told_apart() {
        let named = |vs: &[&str]| {
            vs.iter()
                .map(|v| ((*v).to_owned(), format!("{v}_m.rb")))
                .collect()
        };
        let files = Files {
            pre: named(&["1", "2", "3"]),
            post: named(&["4"]),
        };
        let applied = ["0", "1", "2", "9", "10"].map(String::from);
        assert_eq!(
            pending(&files, &applied),
            Pending {
                pre: vec!["3_m.rb".into()],
                post: vec!["4_m.rb".into()],
                unknown: vec!["9".into(), "10".into()],
            }
        );
    }

    #[test]
    fn only_rb_files_named_after_a_version_count() {
        let dir = tempfile::tempdir().unwrap();
        let migrate = dir.path().join("db/migrate");
        std::fs::create_dir_all(&migrate).unwrap();
        for name in [
            "20240101000001_a.rb",
            "README",
            "x_b.rb",
            "20240101000002_c.rb.orig",
        ] {
            std::fs::write(migrate.join(name), "").unwrap();
        }
        let files = files(dir.path()).unwrap();
        assert_eq!(
            files.pre,
            [(
                "20240101000001".to_owned(),
                "20240101000001_a.rb".to_owned()
            )]
            .into()
        );
        assert!(files.post.is_empty());
    }
}
