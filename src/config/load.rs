//! Reading what Mastodon would see, in its order: the environment,
//! `KEY=VALUE` arguments, then the `.env*` files, each read safely (no
//! FIFO, no huge file, a dangling link named) and parsed as dotenv would.

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsString;
use std::io::{self, Read};
use std::path::Path;

use super::{ConfigError, MastodonConfig, Reader, SKIP_POST, Setting, Source, Value, dotenv};

/// The files dotenv's Rails integration reads in production, highest
/// precedence first (`Dotenv::Rails#files`: `.env.#{env}.local`,
/// `.env.local`, `.env.#{env}`, `.env`).
pub const DOTENV_FILES: [&str; 4] = [
    ".env.production.local",
    ".env.local",
    ".env.production",
    ".env",
];

/// Larger files are refused: a real `.env.production` is a few kilobytes,
/// and the whole file is held in memory while it is scanned.
pub(super) const MAX_DOTENV_BYTES: u64 = 16 * 1024 * 1024;

/// The keys whose broken lines are errors rather than skipped.
fn matters(key: &str) -> bool {
    key == "DATABASE_URL"
        || key == "PRIMARY_DATABASE_URL"
        || key == "PREPARED_STATEMENTS"
        || key == SKIP_POST
        || key.starts_with("DB_")
        || key.starts_with("TOOTGUARD_")
}

/// Reads what Mastodon would see, in its order. The first value wins: the
/// environment, then `KEY=VALUE` arguments (which replace an environment
/// value, as Rake's `ENV[k] = v` does), then each `.env*` file in
/// [`DOTENV_FILES`] order, which only adds keys not set yet (dotenv's
/// `overwrite: false`). Each file is parsed with the previous ones
/// already applied, as `Dotenv.load` updates ENV file by file.
///
/// With a `reader`, a file that user could not read is an error too, even
/// when this process (root) can.
pub fn load(
    root: Option<&Path>,
    env: &BTreeMap<OsString, OsString>,
    rake_args: &[(String, String)],
    reader: Option<&Reader>,
) -> Result<MastodonConfig, ConfigError> {
    let mut settings = BTreeMap::new();
    let mut not_utf8 = BTreeSet::new();
    for (key, value) in env {
        // A key that is not UTF-8 can never be one a .env file names.
        let Some(key) = key.to_str() else { continue };
        let value = match value.to_str() {
            Some(v) => v.to_owned(),
            None => {
                not_utf8.insert(key.to_owned());
                value.to_string_lossy().into_owned()
            }
        };
        settings.insert(
            key.to_owned(),
            Setting {
                value: Value::Known(value),
                source: Source::Environment,
            },
        );
    }
    for (key, value) in rake_args {
        not_utf8.remove(key);
        settings.insert(
            key.clone(),
            Setting {
                value: Value::Known(value.clone()),
                source: Source::Argument,
            },
        );
    }

    #[cfg(test)]
    let mut files_read = Vec::new();
    // Without a Mastodon root there are no files: the environment alone.
    for path in root
        .into_iter()
        .flat_map(|r| DOTENV_FILES.map(|name| r.join(name)))
    {
        let Some(bytes) = read_dotenv_file(&path, reader)? else {
            continue;
        };
        let lookup = |key: &str| settings.get(key).map(|s: &Setting| s.value.clone());
        let parsed = dotenv::parse(&bytes, &lookup).map_err(|error| ConfigError::Syntax {
            path: path.clone(),
            error,
        })?;
        if let Some(bad) = parsed
            .malformed
            .iter()
            .find(|m| m.key_guess.as_deref().is_some_and(matters))
        {
            return Err(ConfigError::Malformed {
                path,
                line: bad.line,
                key: bad.key_guess.clone().unwrap_or_default(),
            });
        }
        for assignment in parsed.assignments {
            let value = match assignment.value {
                Value::Computed { file: None, line } => Value::Computed {
                    file: Some(path.clone()),
                    line,
                },
                value => value,
            };
            settings.entry(assignment.key).or_insert(Setting {
                value,
                source: Source::File {
                    path: path.clone(),
                    line: assignment.line,
                },
            });
        }
        #[cfg(test)]
        files_read.push(path);
    }
    Ok(MastodonConfig {
        settings,
        not_utf8,
        #[cfg(test)]
        files_read,
    })
}

/// Reads one `.env*` file; `None` when it does not exist (dotenv skips
/// `Errno::ENOENT`, a dangling symlink included).
fn read_dotenv_file(path: &Path, reader: Option<&Reader>) -> Result<Option<Vec<u8>>, ConfigError> {
    let unreadable = |source: io::Error| {
        if source.kind() == io::ErrorKind::PermissionDenied {
            denied(path, None)
        } else {
            ConfigError::Unreadable {
                path: path.to_owned(),
                source,
            }
        }
    };
    let meta = match std::fs::metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            // A link to nothing is a file someone meant to be there, which
            // dotenv skips without a word: Mastodon would run without it.
            return match std::fs::read_link(path) {
                Ok(target) => Err(ConfigError::Dangling {
                    path: path.to_owned(),
                    target,
                }),
                Err(_) => Ok(None),
            };
        }
        Err(e) => return Err(unreadable(e)),
    };
    if meta.is_dir() {
        return Err(ConfigError::Directory {
            path: path.to_owned(),
        });
    }

    // A FIFO would block the shim forever; a device is not a config file.
    if !meta.is_file() {
        return Err(ConfigError::NotAFile {
            path: path.to_owned(),
        });
    }
    if meta.len() > MAX_DOTENV_BYTES {
        return Err(ConfigError::TooLarge {
            path: path.to_owned(),
            size: meta.len(),
        });
    }
    if let Some(reader) = reader
        && !reader.can_read(&meta)
    {
        return Err(denied(path, Some(reader)));
    }
    let file = match std::fs::File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(unreadable(e)),
    };
    let mut bytes = Vec::new();
    // The file may grow between metadata and read: read one byte past the cap.
    file.take(MAX_DOTENV_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(unreadable)?;
    if bytes.len() as u64 > MAX_DOTENV_BYTES {
        return Err(ConfigError::TooLarge {
            path: path.to_owned(),
            size: bytes.len() as u64,
        });
    }
    Ok(Some(bytes))
}

/// A file that `reader` (else this process's user) may not read: who owns
/// it, its mode, and the owner of the install it belongs to, for the fix.
fn denied(path: &Path, reader: Option<&Reader>) -> ConfigError {
    use std::os::unix::fs::MetadataExt;
    let name = |uid: u32| {
        nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(uid))
            .ok()
            .flatten()
            .map_or_else(|| format!("uid {uid}"), |u| u.name)
    };
    let meta = std::fs::symlink_metadata(path).ok();
    let install_owner = path
        .parent()
        .and_then(|dir| std::fs::metadata(dir).ok())
        .map(|m| name(m.uid()));
    ConfigError::Denied {
        path: path.to_owned(),
        reader: reader.map_or_else(|| name(nix::unistd::geteuid().as_raw()), |r| r.name.clone()),
        file_owner: meta.as_ref().map(|m| name(m.uid())),
        mode: meta.as_ref().map(|m| m.mode() & 0o7777),
        install_owner,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Database;
    use crate::config::testing::{args, env, root, value};
    use std::fs;

    #[test]
    fn the_first_value_wins_across_environment_arguments_and_files() {
        let dir = root(&[
            (".env.production.local", "A=prod.local\n"),
            (".env.local", "A=local\nB=local\n"),
            (
                ".env.production",
                "A=production\nB=production\nC=production\nE=production\n",
            ),
            (".env", "A=dot\nB=dot\nC=dot\nD=dot\n"),
        ]);
        let config = load(
            Some(dir.path()),
            &env(&[("E", "environment"), ("F", "environment")]),
            &args(&[("F", "argument")]),
            None,
        )
        .unwrap();
        assert_eq!(value(&config, "A"), "prod.local");
        assert_eq!(value(&config, "B"), "local");
        assert_eq!(value(&config, "C"), "production");
        assert_eq!(value(&config, "D"), "dot");
        assert_eq!(value(&config, "E"), "environment");
        assert_eq!(value(&config, "F"), "argument");
        assert_eq!(config.get("F").unwrap().source, Source::Argument);
        assert_eq!(config.get("E").unwrap().source, Source::Environment);
        assert_eq!(
            config.get("C").unwrap().source,
            Source::File {
                path: dir.path().join(".env.production"),
                line: 3
            }
        );
        assert_eq!(config.files_read().len(), 4);
    }

    #[test]
    fn a_command_line_port_beats_the_files() {
        let dir = root(&[(".env.production", "DB_PORT=6432\n")]);
        let config = load(
            Some(dir.path()),
            &env(&[]),
            &args(&[("DB_PORT", "5432")]),
            None,
        )
        .unwrap();
        assert_eq!(config.database().unwrap().port, 5432);
    }

    #[test]
    fn each_file_sees_the_values_of_the_files_before_it() {
        let dir = root(&[
            (".env.production.local", "DB_HOST=db.internal\n"),
            (
                ".env.production",
                "DATABASE_URL=postgres://m@${DB_HOST}:$PORT/x\n",
            ),
        ]);
        let config = load(Some(dir.path()), &env(&[("PORT", "5433")]), &[], None).unwrap();
        assert_eq!(
            value(&config, "DATABASE_URL"),
            "postgres://m@db.internal:5433/x"
        );
    }

    #[test]
    fn missing_files_are_skipped() {
        let dir = root(&[]);
        let config = load(Some(dir.path()), &env(&[]), &[], None).unwrap();
        assert!(config.files_read().is_empty());
        assert_eq!(
            config.database().unwrap(),
            Database {
                host: "localhost".into(),
                port: 5432,
                name: Some("mastodon_production".into()),
                user: Some("mastodon".into()),
                password: None,
                password_known: true,
                sslmode: None,
                via_url: false,
                url_variable: None,
                url: None,
            }
        );
    }

    #[test]
    fn a_malformed_line_for_a_key_that_matters_is_an_error() {
        let dir = root(&[(".env.production", "LOCAL_DOMAIN=x\nDB_PORT 6432\n")]);
        let error = load(Some(dir.path()), &env(&[]), &[], None).unwrap_err();
        let message = error.to_string();
        assert!(message.contains(".env.production line 2"), "{message}");
        assert!(message.contains("DB_PORT"), "{message}");
    }

    #[test]
    fn a_malformed_line_for_other_keys_is_ignored_like_dotenv_does() {
        let dir = root(&[(
            ".env.production",
            "SMTP_SERVER smtp.example\nDB_PORT=6432\n",
        )]);
        let config = load(Some(dir.path()), &env(&[]), &[], None).unwrap();
        assert_eq!(config.database().unwrap().port, 6432);
        assert!(config.get("SMTP_SERVER").is_none());
    }

    #[test]
    fn invalid_utf8_names_the_file_and_line() {
        let dir = root(&[]);
        fs::write(dir.path().join(".env"), b"A=1\nB=\xc3\x28\n").unwrap();
        let message = load(Some(dir.path()), &env(&[]), &[], None)
            .unwrap_err()
            .to_string();
        assert!(message.contains(".env line 2"), "{message}");
        assert!(message.contains("UTF-8"), "{message}");
    }

    #[test]
    fn a_directory_in_place_of_a_dotenv_file_is_an_error() {
        let dir = root(&[]);
        fs::create_dir(dir.path().join(".env.production")).unwrap();
        let message = load(Some(dir.path()), &env(&[]), &[], None)
            .unwrap_err()
            .to_string();
        assert!(
            message.contains(".env.production is a directory"),
            "{message}"
        );
    }

    #[test]
    fn an_unreadable_dotenv_file_is_an_error_naming_it() {
        use std::os::unix::fs::PermissionsExt;
        let dir = root(&[(".env.production", "DB_PASS=s3cret\n")]);
        let path = dir.path().join(".env.production");
        fs::set_permissions(&path, fs::Permissions::from_mode(0o000)).unwrap();
        // Root reads it anyway; then only the case below is exercised.
        if fs::read(&path).is_err() {
            let message = load(Some(dir.path()), &env(&[]), &[], None)
                .unwrap_err()
                .to_string();
            assert!(message.contains("cannot read"), "{message}");
            assert!(message.contains(".env.production"), "{message}");
            assert!(!message.contains("s3cret"));
        }
        // A root that is a file: ENOTDIR, which dotenv does not rescue either.
        let message = load(Some(&path), &env(&[]), &[], None)
            .unwrap_err()
            .to_string();
        assert!(message.contains("cannot read"), "{message}");
        assert!(message.contains(".env.production.local"), "{message}");
    }

    #[test]
    fn an_oversized_dotenv_file_is_refused_with_the_limit() {
        let dir = root(&[]);
        let file = fs::File::create(dir.path().join(".env")).unwrap();
        file.set_len(MAX_DOTENV_BYTES + 1).unwrap();
        let message = load(Some(dir.path()), &env(&[]), &[], None)
            .unwrap_err()
            .to_string();
        assert!(message.contains("16 MiB"), "{message}");
    }

    #[test]
    fn an_unset_export_is_an_error_naming_file_and_line() {
        let dir = root(&[(".env.local", "\nexport DB_PASS\n")]);
        let message = load(Some(dir.path()), &env(&[]), &[], None)
            .unwrap_err()
            .to_string();
        assert!(message.contains(".env.local line 2"), "{message}");
    }
}
