//! The Mastodon install a command belongs to, found the way its spelling
//! implies: for a bare `rails`, `rake` or `tootctl` from `MASTODON_ROOT`,
//! the working directory or `~mastodon/live`; for a script path from the
//! script; for `bundle exec` from Bundler's Gemfile.

use std::ffi::{OsStr, OsString};
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::exit::Failure;
use crate::invocation::Tool;
use crate::settings::Env;

/// How an install was found without being named (see `trust.rs`).
pub const FOUND_BY_CWD: &str = "working directory";
pub const FOUND_BY_SCRIPT: &str = "the script's path";
pub const FOUND_BY_GEMFILE: &str = "Bundler's Gemfile";

#[derive(Debug, Clone)]
pub struct Root {
    pub dir: PathBuf,
    /// `.env.production` exists: RAILS_ENV must be `production`.
    pub production: bool,
    /// How it was found, for explain and doctor.
    pub found_by: &'static str,
}

/// True when `dir` is a Mastodon install: it has `config/application.rb`
/// and a `bin/tootctl` — one that may be broken (a dangling link, a
/// directory, a `bin/` this user cannot read). The install you stand in is
/// the one you mean: what is wrong with it is reported when its program is
/// looked up, never skipped for another install.
pub fn is_mastodon_root(dir: &Path) -> bool {
    let tootctl = match fs::symlink_metadata(dir.join("bin/tootctl")) {
        Ok(_) => true,
        // `bin/` unreadable, or not a directory: something is there.
        Err(e) => e.kind() != std::io::ErrorKind::NotFound,
    };
    tootctl && dir.join("config/application.rb").is_file()
}

/// What keeps `dir` from being a Mastodon install, for messages.
fn not_an_install(dir: &Path) -> String {
    let config = dir.join("config/application.rb");
    match fs::metadata(&config) {
        Ok(meta) if meta.is_file() => "it has no bin/tootctl".to_owned(),
        Ok(_) => "its config/application.rb is not a file".to_owned(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if fs::symlink_metadata(dir).is_err() {
                "it does not exist".to_owned()
            } else {
                "it has no config/application.rb".to_owned()
            }
        }
        Err(e) => format!("{} cannot be read ({e})", config.display()),
    }
}

impl Root {
    /// "production" or "development", as messages name the install.
    pub fn kind(&self) -> &'static str {
        if self.production {
            "production"
        } else {
            "development"
        }
    }
}

fn root_at(dir: PathBuf, found_by: &'static str) -> Root {
    // Present in any form, even a dangling link: a production install whose
    // configuration cannot be read is still a production install.
    let production = fs::symlink_metadata(dir.join(".env.production")).is_ok();
    Root {
        dir,
        production,
        found_by,
    }
}

/// The install a bare `rails`, `rake` or `tootctl` belongs to:
/// `MASTODON_ROOT` when set; else the nearest ancestor of `cwd` that is a
/// Mastodon root; else the default install (`~mastodon/live`, or
/// `TOOTGUARD_DEFAULT_ROOT`) when it is one; else none.
///
/// The fallback to the default install is for commands only Mastodon has:
/// `tootctl` always, `rails` only outside any project (`rails db:migrate`
/// typed in `/root`) and only for root and the install's owner, `rake`
/// never — a `rake` or `rails` typed inside
/// another project (a `Gemfile`, `gems.rb`, `Rakefile` or
/// `config/application.rb` at or above the working directory) is that
/// project's, and the next one on PATH runs, untouched.
///
/// `cwd` is `None` when the working directory cannot be read (deleted):
/// then only `MASTODON_ROOT` (absolute) and the default install count.
pub fn find_root(env: &Env, cwd: Option<&Path>, tool: Tool) -> anyhow::Result<Option<Root>> {
    if let Some(dir) = env.get("MASTODON_ROOT").filter(|d| !d.is_empty()) {
        let dir = Path::new(&dir);
        let dir = match cwd {
            _ if dir.is_absolute() => dir.to_path_buf(),
            Some(cwd) => cwd.join(dir),
            None => {
                return Err(Failure::error(
                    crate::exit::FAILURE,
                    format!(
                        "MASTODON_ROOT is the relative path {}, and the working directory it \
                         is relative to cannot be read (was it deleted?). Set MASTODON_ROOT \
                         to an absolute path, or change to an existing directory.",
                        dir.display()
                    ),
                ));
            }
        };
        if !is_mastodon_root(&dir) {
            return Err(Failure::error(
                crate::exit::FAILURE,
                format!(
                    "MASTODON_ROOT is {}, which is not a Mastodon install ({}). Set \
                     MASTODON_ROOT to the directory you run Mastodon from (usually \
                     /home/mastodon/live), or unset it to let tootguard find the install from \
                     the working directory.",
                    dir.display(),
                    not_an_install(&dir)
                ),
            ));
        }
        return Ok(Some(root_at(dir, "MASTODON_ROOT")));
    }
    let mut in_project = false;
    for dir in cwd.into_iter().flat_map(Path::ancestors) {
        if is_mastodon_root(dir) {
            return Ok(Some(root_at(dir.to_path_buf(), FOUND_BY_CWD)));
        }
        // tootctl is Mastodon's wherever it is typed: on up, past a gem's
        // Rakefile under vendor/bundle, to the install around it.
        if tool != Tool::Tootctl && is_project(dir) {
            in_project = true;
            break;
        }
    }
    // Looking the default install up reads the password database (NSS):
    // only when it could be the answer.
    if tool == Tool::Rake || in_project {
        return Ok(None);
    }
    let Some((dir, found_by)) = default_root(env) else {
        return Ok(None);
    };
    let fallback = match tool {
        Tool::Tootctl => true,
        // `rails db:migrate` typed in /root means Mastodon's; another
        // user's `rails` (`rails new blog` in their home) is their own.
        Tool::Rails => {
            !in_project && {
                let me = nix::unistd::geteuid().as_raw();
                me == 0 || fs::metadata(&dir).is_ok_and(|m| m.uid() == me)
            }
        }
        Tool::Rake => false,
    };
    Ok((fallback && is_mastodon_root(&dir)).then(|| root_at(dir, found_by)))
}

/// The default install's directory, whether or not it is an install.
pub fn default_install(env: &Env) -> Option<PathBuf> {
    default_root(env).map(|(dir, _)| dir)
}

/// The install tootguard falls back to: `TOOTGUARD_DEFAULT_ROOT` when set
/// (empty: none), else `~mastodon/live`, where Mastodon's docs put it.
fn default_root(env: &Env) -> Option<(PathBuf, &'static str)> {
    match crate::settings::default_root(env) {
        Some(dir) if dir.is_empty() => None,
        Some(dir) => Some((PathBuf::from(dir), "TOOTGUARD_DEFAULT_ROOT")),
        None => nix::unistd::User::from_name("mastodon")
            .ok()
            .flatten()
            .map(|user| (user.dir.join("live"), "~mastodon/live")),
    }
}

/// A Ruby project's root: what Bundler, Rake or Rails would take as one.
fn is_project(dir: &Path) -> bool {
    ["Gemfile", "Rakefile", "config/application.rb", "gems.rb"]
        .iter()
        .any(|name| fs::symlink_metadata(dir.join(name)).is_ok())
}

/// The install of a script named by its path (`ruby bin/rails`, `bundle
/// exec bin/rails`, `/home/mastodon/live/bin/tootctl` in a crontab): the
/// directory above the `bin/` that holds it, after symlinks (a
/// `/usr/local/bin/tootctl` may link to an install's), when that is a
/// Mastodon install.
pub fn root_of_script(tool: Tool, script: &Path, cwd: &Path) -> Option<Root> {
    let real = fs::canonicalize(cwd.join(script)).ok()?;
    if real.file_name() != Some(OsStr::new(tool.name())) {
        return None;
    }
    let bin = real.parent()?;
    let dir = bin.parent()?;
    (bin.file_name() == Some(OsStr::new("bin")) && is_mastodon_root(dir))
        .then(|| root_at(dir.to_path_buf(), FOUND_BY_SCRIPT))
}

/// The install `bundle exec` runs in: Bundler's project, which is the
/// directory of `--gemfile`'s file, else of `BUNDLE_GEMFILE`'s, else of the
/// nearest `gems.rb` or `Gemfile` at or above `cwd`
/// (`Bundler::SharedHelpers#find_gemfile`), when that is a Mastodon install.
pub fn root_of_bundle(gemfile: Option<&OsStr>, env: &Env, cwd: &Path) -> Option<Root> {
    let given = gemfile
        .map(OsStr::to_os_string)
        .or_else(|| env.get("BUNDLE_GEMFILE"))
        .filter(|g| !g.is_empty());
    let gemfile = match given {
        Some(gemfile) => cwd.join(gemfile),
        None => cwd.ancestors().find_map(|dir| {
            ["gems.rb", "Gemfile"]
                .into_iter()
                .map(|name| dir.join(name))
                .find(|file| file.is_file())
        })?,
    };
    let dir = gemfile.parent()?;
    is_mastodon_root(dir).then(|| root_at(dir.to_path_buf(), FOUND_BY_GEMFILE))
}

/// The install an outer shim of this process guarded the command for.
pub fn root_of_outer_layer(dir: &Path) -> Option<Root> {
    is_mastodon_root(dir).then(|| root_at(dir.to_path_buf(), "the outer shim"))
}

/// `MASTODON_ROOT` as an absolute path, when it was given as a relative one.
/// It names a directory relative to where tootguard started; a child that
/// runs elsewhere (rails and rake run in the root) must find the same install.
pub fn absolute_root_var(env: &Env, root: &Root) -> Option<OsString> {
    let given = env.get("MASTODON_ROOT")?;
    (!given.is_empty() && Path::new(&given).is_relative())
        .then(|| root.dir.clone().into_os_string())
}
