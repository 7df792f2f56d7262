//! `tootguard install`: the shims, and whether PATH finds them first.
//!
//! A shim is a symlink named `rails`, `rake`, `tootctl`, `ruby` or `bundle`
//! to the `tootguard-shim` binary next to `tootguard` (the shim path alone,
//! which starts faster; see `lib.rs`). `ruby` and `bundle` are there for
//! the other spellings of Mastodon's commands: `bin/tootctl` reaches `ruby`
//! through its `#!/usr/bin/env ruby` line, and `bundle exec rails` runs
//! rails inside Bundler (`spelling.rs`). Installing is idempotent, turns an
//! older link to `tootguard` itself into one to `tootguard-shim`, and never
//! replaces a file that is not already our link unless `--force`: an
//! admin's own wrapper may live there.
//!
//! `--system` puts the links in `/usr/local/bin`, which is in sudo's
//! `secure_path` (Debian: `/usr/local/sbin:/usr/local/bin:/usr/sbin:…`) and
//! in every login PATH, so `sudo tootctl …` and `sudo -i` sessions are
//! guarded too; outside a Mastodon install every shim runs the next
//! program on PATH unchanged, so other users and projects see no
//! difference.
//!
//! A shim that PATH does not find first does nothing, so the last step
//! names whatever shadows it and prints the line that fixes PATH — after
//! `rbenv init`, which puts rbenv's `ruby` and `bundle` first.

use std::ffi::OsStr;
use std::fmt::Write as _;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::cli::completions;
use crate::exit::{FAILURE, Failure, OK};
use crate::invocation::Shim;
use crate::quote::word as quote;
use crate::resolve::{self, SelfId};

/// Where a system-wide install puts the shims: in sudo's `secure_path`.
pub const SYSTEM_DIR: &str = "/usr/local/bin";

/// Create the shims (rails, rake, tootctl, ruby, bundle) and check that PATH finds them
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub place: Place,
    /// Replace files of these names that are not tootguard links (each is
    /// kept as NAME.tootguard-orig, which uninstall puts back)
    #[arg(long)]
    pub force: bool,
    /// Do not install shell completions
    #[arg(long)]
    pub no_completions: bool,
}

/// Where the shims go.
#[derive(Debug, clap::Args)]
pub struct Place {
    /// Where to create the shims [default: ~/.local/bin]
    #[arg(long, value_name = "DIR", conflicts_with = "system")]
    pub dir: Option<PathBuf>,
    /// For every user and for sudo: shims in /usr/local/bin, completions in
    /// the system's directories (needs root)
    #[arg(long)]
    pub system: bool,
}

impl Place {
    /// The shim directory (absolute) and the completion directories.
    pub fn resolve(&self, verb: &str) -> anyhow::Result<(PathBuf, completions::Dirs)> {
        if self.system {
            if !nix::unistd::geteuid().is_root() {
                return Err(Failure::error(
                    FAILURE,
                    format!(
                        "`tootguard {verb} --system` writes to {SYSTEM_DIR} and the system's \
                         completion directories, which only root may: run it with sudo."
                    ),
                ));
            }
            return Ok((SYSTEM_DIR.into(), completions::Dirs::system()));
        }
        let home = std::env::var_os("HOME").filter(|h| !h.is_empty());
        let dir = match (&self.dir, &home) {
            (Some(dir), _) => dir.clone(),
            (None, Some(home)) => Path::new(home).join(".local/bin"),
            (None, None) => {
                return Err(Failure::error(
                    FAILURE,
                    format!(
                        "HOME is not set, so there is no default shim directory. Pass one: \
                         `tootguard {verb} --dir ~/.local/bin`."
                    ),
                ));
            }
        };
        let dir = if dir.is_absolute() {
            dir
        } else {
            std::env::current_dir()?.join(dir)
        };
        let xdg = std::env::var_os("XDG_DATA_HOME").filter(|x| !x.is_empty());
        let home = home.map_or_else(PathBuf::new, PathBuf::from);
        Ok((
            dir,
            completions::Dirs::user(&home, xdg.as_deref().map(Path::new)),
        ))
    }
}

pub fn run(args: Args) -> anyhow::Result<u8> {
    let (dir, completion_dirs) = args.place.resolve("install")?;
    let me = SelfId::current()?;
    let target = me.shim_binary().map(Path::to_path_buf).ok_or_else(|| {
        Failure::error(
            FAILURE,
            format!(
                "{} is not next to {}, and the shims link to it. Install both binaries \
                 together: `cargo install --path .` in the tootguard checkout.",
                me.path
                    .with_file_name(crate::resolve::SHIM_BINARY)
                    .display(),
                me.path.display()
            ),
        )
    })?;
    // What was done is printed once it is all done: a reader that goes away
    // early (`tootguard install | head -1`) must not stop the work halfway.
    let mut done = String::new();
    fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;

    let mut refused = Vec::new();
    for shim in Shim::ALL {
        let link = dir.join(shim.name());
        match link_state(&link, &me, &target) {
            LinkState::Ours => writeln!(done, "{} already links to tootguard", link.display())?,
            LinkState::Other if !args.force => {
                refused.push(link);
                continue;
            }
            LinkState::Other => {
                // --force: the admin's own file is kept aside, and
                // `uninstall` puts it back.
                let kept = kept_aside(&link);
                if fs::symlink_metadata(&kept).is_ok() {
                    refused.push(link);
                    continue;
                }
                fs::rename(&link, &kept)
                    .with_context(|| format!("cannot move {} aside", link.display()))?;
                writeln!(done, "{} moved to {}", link.display(), kept.display())?;
                std::os::unix::fs::symlink(&target, &link)
                    .with_context(|| format!("cannot create the link {}", link.display()))?;
                writeln!(done, "{} -> {}", link.display(), target.display())?;
            }
            state => {
                if state != LinkState::Missing {
                    fs::remove_file(&link)
                        .with_context(|| format!("cannot replace {}", link.display()))?;
                }
                std::os::unix::fs::symlink(&target, &link)
                    .with_context(|| format!("cannot create the link {}", link.display()))?;
                writeln!(done, "{} -> {}", link.display(), target.display())?;
            }
        }
    }

    let home_known = completion_dirs
        .home
        .as_ref()
        .is_none_or(|h| !h.as_os_str().is_empty());
    if args.no_completions {
        writeln!(done, "shell completions: not installed (--no-completions)")?;
    } else if home_known {
        for line in completions::install(&completion_dirs)? {
            writeln!(done, "{line}")?;
        }
    } else {
        writeln!(
            done,
            "shell completions: not installed, HOME is not set (`tootguard completions \
             bash|zsh|fish` prints them)"
        )?;
    }
    let mut out = std::io::stdout().lock();
    out.write_all(done.as_bytes())
        .context("cannot write to standard output")?;

    let advice = path_advice(&dir, &me, args.place.system);
    for warning in &advice.warnings {
        crate::report::warn(warning);
    }
    if let Some(line) = advice.line {
        writeln!(out, "{line}").context("cannot write to standard output")?;
    }

    if !refused.is_empty() {
        return Err(Failure::error(
            FAILURE,
            format!(
                "not replacing {}: {}. Move {} away, or run `tootguard install --force` to \
                 replace {}.",
                refused
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", "),
                if refused.len() == 1 {
                    "it is not a link to tootguard"
                } else {
                    "they are not links to tootguard"
                },
                if refused.len() == 1 { "it" } else { "them" },
                if refused.len() == 1 { "it" } else { "them" },
            ),
        ));
    }
    Ok(OK)
}

/// Where `install --force` keeps a file it replaces: `<name>.tootguard-orig`.
pub fn kept_aside(link: &Path) -> PathBuf {
    let mut name = link.file_name().unwrap_or_default().to_os_string();
    name.push(".tootguard-orig");
    link.with_file_name(name)
}

/// What PATH makes of the shims in `dir`, and what to do about it.
pub struct PathAdvice {
    /// One per shim name PATH does not reach.
    pub warnings: Vec<String>,
    /// The line to add to the shell profile, with where to add it.
    pub line: Option<String>,
}

/// For each shim name: does typing it reach tootguard? If not, what comes
/// first, and the `export PATH=…` line that fixes it — to go after
/// `eval "$(rbenv init -)"` when rbenv's shims are what comes first.
pub fn path_advice(dir: &Path, me: &SelfId, system: bool) -> PathAdvice {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let cwd = std::env::current_dir().unwrap_or_default();
    let on_path = std::env::split_paths(&path).any(|d| same_dir(Some(&d), dir));
    let mut warnings = Vec::new();
    let mut rbenv = false;
    for shim in Shim::ALL {
        let name = shim.name();
        match resolve::first_on_path(name, &path, &cwd) {
            Some(found) if me.is(&found) => {}
            // A file of the admin's that install left in place.
            Some(found) if found == dir.join(name) => warnings.push(format!(
                "{} is not tootguard's and was left in place: typing `{name}` runs it, not \
                 tootguard{}.",
                found.display(),
                spellings_of(shim)
            )),
            Some(found) if on_path => {
                rbenv |= is_rbenv_shims(found.parent());
                warnings.push(format!(
                    "PATH finds {} before the shim {}: typing `{name}` will not be guarded{}.",
                    found.display(),
                    dir.join(name).display(),
                    spellings_of(shim)
                ));
            }
            _ => {}
        }
    }
    if !on_path {
        warnings.insert(
            0,
            format!(
                "{} is not on PATH: typing `rails`, `rake`, `tootctl`, `ruby` or `bundle` \
                 will not find the shims.",
                dir.display()
            ),
        );
    }
    if warnings.is_empty() {
        return PathAdvice {
            warnings,
            line: None,
        };
    }
    let export = export_path_line(dir);
    let line = if rbenv {
        format!(
            "Add this line to ~/.bashrc after the `eval \"$(rbenv init -)\"` line (which puts \
             rbenv's ruby and bundle first), then open a new shell:\n  {export}"
        )
    } else if system {
        format!(
            "{SYSTEM_DIR} comes first on a default PATH and in sudo's secure_path; for the \
             shells above, add this line to ~/.bashrc (after `eval \"$(rbenv init -)\"` where \
             there is one), then open a new shell:\n  {export}"
        )
    } else {
        format!(
            "Add this line to ~/.bashrc (or ~/.profile, ~/.zshrc), then open a new shell:\n  \
             {export}"
        )
    };
    PathAdvice {
        warnings,
        line: Some(line),
    }
}

/// `export PATH="DIR:$PATH"`, safe to paste whatever DIR holds.
pub fn export_path_line(dir: &Path) -> String {
    let text = dir.to_string_lossy();
    if text.contains(['"', '$', '`', '\\', '\n']) {
        format!("export PATH={}:\"$PATH\"", quote(dir.as_os_str()))
    } else {
        format!("export PATH=\"{text}:$PATH\"")
    }
}

/// The spellings a shim name carries, for messages.
pub fn spellings_of(shim: Shim) -> &'static str {
    match shim {
        Shim::Tool(_) => "",
        Shim::Ruby => " (nor `bin/tootctl`, `bin/rails`, `ruby bin/rails`)",
        Shim::Bundle => " (nor `bundle exec rails|rake|tootctl`)",
    }
}

/// True for rbenv's shim directory (`~/.rbenv/shims`, `$RBENV_ROOT/shims`).
pub fn is_rbenv_shims(dir: Option<&Path>) -> bool {
    dir.is_some_and(|d| {
        d.file_name() == Some(OsStr::new("shims"))
            && (d.parent().and_then(Path::file_name) == Some(OsStr::new(".rbenv"))
                || std::env::var_os("RBENV_ROOT").is_some_and(|r| d == Path::new(&r).join("shims")))
    })
}

#[derive(Debug, PartialEq, Eq)]
pub enum LinkState {
    Missing,
    /// A symlink to `target`, the shim binary.
    Ours,
    /// A symlink to tootguard that is not `target`: `tootguard` itself, or
    /// a copy elsewhere. Ours to replace.
    Stale,
    /// A dangling or foreign symlink, or a file.
    Other,
}

pub fn link_state(link: &Path, me: &SelfId, target: &Path) -> LinkState {
    match fs::symlink_metadata(link) {
        Err(_) => LinkState::Missing,
        Ok(meta) if meta.file_type().is_symlink() && me.is(link) => {
            if crate::resolve::same_file(link, target) {
                LinkState::Ours
            } else {
                LinkState::Stale
            }
        }
        Ok(_) => LinkState::Other,
    }
}

fn same_dir(a: Option<&Path>, b: &Path) -> bool {
    match (a.and_then(|a| a.canonicalize().ok()), b.canonicalize().ok()) {
        (Some(a), Some(b)) => a == b,
        _ => false,
    }
}
