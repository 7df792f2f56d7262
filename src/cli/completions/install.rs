//! The files `tootguard install` writes where each shell finds completions,
//! and `tootguard uninstall` removes: ours only, never another's.

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};

use anyhow::Context;

use super::Shell;

/// Where a shell looks for completions, and the names it looks them up by.
struct Target {
    dir: PathBuf,
    /// The file holding the script.
    file: &'static str,
    /// Links to it, one per command name the shell loads completions by.
    links: &'static [&'static str],
    shell: Shell,
}

/// Where the three scripts go.
pub struct Dirs {
    /// bash-completion's directory (`…/bash-completion/completions`).
    pub bash: PathBuf,
    /// A directory on zsh's `fpath` (or one to add to it).
    pub zsh: PathBuf,
    /// fish's completions directory.
    pub fish: PathBuf,
    /// The user's home, for the `.zshrc` hint; `None` for a system install,
    /// whose zsh directory is on every user's `fpath` already.
    pub home: Option<PathBuf>,
}

impl Dirs {
    /// One user's: bash-completion's and zsh's under `XDG_DATA_HOME`
    /// (default `~/.local/share`), fish's in `~/.config/fish/completions`.
    pub fn user(home: &Path, xdg_data_home: Option<&Path>) -> Dirs {
        // The XDG spec says a relative XDG_DATA_HOME is invalid and to be ignored.
        let data = match xdg_data_home {
            Some(dir) if dir.is_absolute() => dir.to_owned(),
            _ => home.join(".local/share"),
        };
        Dirs {
            bash: data.join("bash-completion/completions"),
            zsh: data.join("zsh/site-functions"),
            fish: home.join(".config/fish/completions"),
            home: Some(home.to_owned()),
        }
    }

    /// Every user's, for `install --system`: the directories Debian's
    /// bash-completion, zsh and fish read for locally installed software.
    pub fn system() -> Dirs {
        Dirs {
            bash: "/usr/local/share/bash-completion/completions".into(),
            zsh: "/usr/local/share/zsh/site-functions".into(),
            fish: "/etc/fish/completions".into(),
            home: None,
        }
    }

    /// What to write; with `every_link`, also the links a system-wide
    /// install leaves out (for uninstall).
    fn targets(&self, every_link: bool) -> [Target; 3] {
        // System-wide, no rails or rake completion: in /usr/local/share it
        // would come before Debian's own rake completion for every user.
        let system = self.home.is_none() && !every_link;
        [
            Target {
                dir: self.bash.clone(),
                file: "tootguard",
                links: if system {
                    &["tootctl"]
                } else {
                    &["tootctl", "rails", "rake"]
                },
                shell: Shell::Bash,
            },
            Target {
                dir: self.zsh.clone(),
                file: "_tootguard",
                links: &[],
                shell: Shell::Zsh,
            },
            Target {
                dir: self.fish.clone(),
                file: "tootguard.fish",
                links: if system {
                    &["tootctl.fish"]
                } else {
                    &["tootctl.fish", "rails.fish"]
                },
                shell: Shell::Fish,
            },
        ]
    }
}

/// Writes the three scripts where the shells find them, for `tootguard
/// install`; returns one line per shell saying what it did, and the line to
/// add to `~/.zshrc` if zsh does not look there yet.
pub fn install(dirs: &Dirs) -> anyhow::Result<Vec<String>> {
    let mut lines = Vec::new();
    for target in &dirs.targets(false) {
        // Completions are a convenience: a shell whose directory cannot be
        // written is reported, and the others are still installed.
        lines.push(install_one(target).unwrap_or_else(|err| {
            format!(
                "{} completions: not installed: {err:#}",
                target.shell.name()
            )
        }));
        if let (Shell::Zsh, Some(home)) = (target.shell, &dirs.home) {
            lines.extend(zsh_fpath_hint(home, &target.dir));
        }
    }
    Ok(lines)
}

/// Removes the scripts and links [`install`] wrote into `dirs`, and
/// nothing else; one line per file removed.
pub fn uninstall(dirs: &Dirs) -> Vec<String> {
    let mut lines = Vec::new();
    for target in &dirs.targets(true) {
        let names = std::iter::once(target.file).chain(target.links.iter().copied());
        for name in names {
            let path = target.dir.join(name);
            if fs::symlink_metadata(&path).is_err() || !is_ours(&path, target.file) {
                continue;
            }
            lines.push(match fs::remove_file(&path) {
                Ok(()) => format!("removed {}", path.display()),
                Err(e) => format!("cannot remove {}: {e}", path.display()),
            });
        }
    }
    lines
}

fn install_one(target: &Target) -> anyhow::Result<String> {
    let dir = &target.dir;
    fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let mut written = Vec::new();
    let mut left = Vec::new();

    let path = dir.join(target.file);
    if !is_ours(&path, target.file) {
        // The links would point at someone else's script: make none.
        return Ok(format!(
            "{} completions: not installed, {} was not written by tootguard",
            target.shell.name(),
            path.display()
        ));
    }
    let script = super::script(target.shell)?;
    let temporary = dir.join(format!(".{}.tootguard-new", target.file));
    fs::write(&temporary, script)
        .with_context(|| format!("cannot write {}", temporary.display()))?;
    fs::rename(&temporary, &path).with_context(|| format!("cannot write {}", path.display()))?;
    written.push(target.file);
    for &link in target.links {
        let path = dir.join(link);
        if !is_ours(&path, target.file) {
            left.push(link);
            continue;
        }
        if fs::symlink_metadata(&path).is_ok() {
            fs::remove_file(&path).with_context(|| format!("cannot replace {}", path.display()))?;
        }
        std::os::unix::fs::symlink(target.file, &path)
            .with_context(|| format!("cannot create the link {}", path.display()))?;
        written.push(link);
    }

    let mut line = format!(
        "{} completions: {} ({})",
        target.shell.name(),
        dir.display(),
        written.join(", ")
    );
    if !left.is_empty() {
        write!(
            line,
            "; left alone, not written by tootguard: {}",
            left.join(", ")
        )?;
    }
    Ok(line)
}

/// Whether `path` is free, or ours to replace: a link to our script, or a
/// script we generated.
fn is_ours(path: &Path, file: &str) -> bool {
    match fs::symlink_metadata(path) {
        Err(_) => true,
        Ok(meta) if meta.file_type().is_symlink() => {
            fs::read_link(path).is_ok_and(|target| target == Path::new(file))
        }
        Ok(meta) if meta.is_file() => fs::read_to_string(path).is_ok_and(|text| {
            text.lines()
                .take(3)
                .any(|l| l.contains("Generated by `tootguard completions"))
        }),
        Ok(_) => false,
    }
}

/// The `.zshrc` line that puts `dir` on zsh's fpath, unless `.zshrc` has it.
fn zsh_fpath_hint(home: &Path, dir: &Path) -> Option<String> {
    let shown = match dir.strip_prefix(home) {
        Ok(rest)
            if rest.to_str().is_some_and(|r| {
                r.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "._/-".contains(c))
            }) =>
        {
            format!("~/{}", rest.display())
        }
        _ => super::zsh::quote(&dir.display().to_string()),
    };
    let zshrc = fs::read_to_string(home.join(".zshrc")).unwrap_or_default();
    if zshrc.contains(&shown) || zshrc.contains(&dir.display().to_string()) {
        return None;
    }
    Some(format!(
        "  zsh: add to ~/.zshrc, before compinit: fpath=({shown} $fpath)"
    ))
}
