//! The real program behind a shim: the install's `bin/<tool>`, or the next
//! program of the shim's name on PATH that is not tootguard.

use std::ffi::OsStr;
use std::fs;
use std::path::{Path, PathBuf};

use super::{Root, SelfId, same_file};
use crate::exit::{Failure, NOT_EXECUTABLE, NOT_FOUND};
use crate::invocation::Tool;

/// The first executable `name` on `path`, tootguard or not, as the shell
/// would find it: what typing `name` reaches.
pub fn first_on_path(name: &str, path: &OsStr, cwd: &Path) -> Option<PathBuf> {
    std::env::split_paths(path)
        .map(|dir| cwd.join(dir).join(name))
        .find(|candidate| {
            executable(candidate, fs::metadata(candidate).ok().as_ref()) == Some(true)
        })
}

/// `<root>/bin/<tool>`, when it is there, runs, and is not tootguard; else
/// the error naming exactly what is wrong with it (a dangling link, a
/// directory, a `bin/` this user cannot read, no execute permission), with
/// the shell's status for it (127 not found, 126 cannot run).
pub fn program_in_root(tool: Tool, root: &Root, me: &SelfId) -> anyhow::Result<PathBuf> {
    let name = tool.name();
    let program = root.dir.join("bin").join(name);
    let quoted = crate::quote::word(program.as_os_str());
    // Read once: it decides both "is it us?" and "can it run?".
    let meta = fs::metadata(&program);
    if let Ok(meta) = &meta
        && me.is_file_with(&program, meta)
    {
        let what = match fs::read_link(&program) {
            Ok(target) => format!("a link to {}", target.display()),
            Err(_) => "a copy of tootguard".to_owned(),
        };
        return Err(Failure::error(
            NOT_FOUND,
            format!(
                "loop: {} is tootguard itself ({what}), not Mastodon's {name}. Restore the \
                 file from the Mastodon checkout (`git checkout -- bin/{name}` in {}) and put \
                 tootguard's shims in a directory on PATH instead (`tootguard install`).",
                program.display(),
                crate::quote::word(root.dir.as_os_str()),
            ),
        ));
    }
    let found = |why: &str| {
        format!(
            "{} {why}, although {} is a Mastodon install (found by {}).",
            program.display(),
            root.dir.display(),
            root.found_by
        )
    };
    let restore = format!(
        "Restore it from the Mastodon checkout (`git checkout -- bin/{name}` in {}), or point \
         MASTODON_ROOT at the right directory.",
        crate::quote::word(root.dir.as_os_str())
    );
    match meta {
        Ok(meta) if meta.is_dir() => Err(Failure::error(
            NOT_EXECUTABLE,
            format!("{} {restore}", found("is a directory, not a program")),
        )),
        Ok(meta) => match executable(&program, Some(&meta)) {
            Some(true) => Ok(program),
            _ => Err(Failure::error(
                NOT_EXECUTABLE,
                format!(
                    "{} cannot be executed (no execute permission for this user). Fix it with \
                     `chmod +x {quoted}` as the owner of the install.",
                    program.display(),
                ),
            )),
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let why = match fs::read_link(&program) {
                Ok(target) => format!("is a link to {}, which does not exist", target.display()),
                Err(_) => "does not exist".to_owned(),
            };
            Err(Failure::error(
                NOT_FOUND,
                format!("{} {restore}", found(&why)),
            ))
        }
        Err(e) => Err(Failure::error(
            NOT_EXECUTABLE,
            format!(
                "{} ({e}). Let the user who runs Mastodon's commands read {}: as its owner, \
                 `chmod u+rx {}`.",
                found("cannot be read"),
                program.parent().unwrap_or(&root.dir).display(),
                crate::quote::word(program.parent().unwrap_or(&root.dir).as_os_str()),
            ),
        )),
    }
}

/// A file that starts with `#!`: a script the kernel hands to an
/// interpreter (read without blocking, two bytes at most).
fn is_script(path: &Path) -> bool {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    let mut head = [0u8; 2];
    fs::OpenOptions::new()
        .read(true)
        .custom_flags(nix::libc::O_NONBLOCK)
        .open(path)
        .and_then(|mut f| {
            if !f.metadata()?.is_file() {
                return Err(std::io::Error::other("not a regular file"));
            }
            f.read_exact(&mut head)
        })
        .is_ok()
        && head == *b"#!"
}

/// What a PATH search found, and what it looked at on the way.
#[derive(Debug, Default)]
pub struct PathSearch {
    pub found: Option<PathBuf>,
    looked: Vec<PathBuf>,
    /// Candidates skipped for being tootguard itself.
    skipped: Vec<PathBuf>,
    /// The first candidate this user may not execute.
    not_executable: Option<PathBuf>,
    /// The program passed over because it led back into tootguard.
    passed_over: Option<PathBuf>,
}

/// The first executable `name` on `path` that is not tootguard, as the
/// shell would find it (an empty or relative entry is taken from `cwd`).
/// With `after` — the program an outer shim of this process exec'd under
/// the same name — the search continues after the entry that holds it:
/// running that program again would only come back here.
pub fn search_path(
    name: &str,
    path: &OsStr,
    cwd: &Path,
    me: &SelfId,
    after: Option<&Path>,
) -> PathSearch {
    let mut search = PathSearch::default();
    let dirs: Vec<PathBuf> = std::env::split_paths(path)
        .map(|dir| {
            // An empty PATH entry means the working directory, as in the shell.
            if dir.as_os_str().is_empty() {
                cwd.to_path_buf()
            } else if dir.is_relative() {
                cwd.join(dir)
            } else {
                dir
            }
        })
        .collect();
    // Only a script leads back here (rbenv's shims, a wrapper): a real
    // program that execs `ruby` again by name means to run ruby again.
    let start = after
        .filter(|after| after.file_name() == Some(OsStr::new(name)) && is_script(after))
        .and_then(|after| {
            dirs.iter()
                .position(|dir| dir.join(name) == after || same_file(&dir.join(name), after))
        })
        .map_or(0, |i| {
            search.passed_over = after.map(Path::to_path_buf);
            i + 1
        });
    search.looked.extend(dirs.iter().take(start).cloned());
    for dir in dirs.into_iter().skip(start) {
        let candidate = dir.join(name);
        search.looked.push(dir);
        let meta = fs::metadata(&candidate).ok();
        match executable(&candidate, meta.as_ref()) {
            None => continue,
            Some(false) => {
                search.not_executable.get_or_insert(candidate);
                continue;
            }
            Some(true) => {}
        }
        if meta
            .as_ref()
            .is_some_and(|m| me.is_file_with(&candidate, m))
        {
            search.skipped.push(candidate);
            continue;
        }
        search.found = Some(candidate);
        break;
    }
    search
}

impl PathSearch {
    /// The program found, or the one-paragraph error for finding none:
    /// `looked_also` says what else was looked at, `fix` what to do.
    pub fn program(self, name: &str, looked_also: &str, fix: &str) -> anyhow::Result<PathBuf> {
        if let Some(found) = self.found {
            return Ok(found);
        }
        if let Some(candidate) = self.not_executable {
            return Err(Failure::error(
                NOT_EXECUTABLE,
                format!(
                    "the only {name} on PATH that is not tootguard, {}, cannot be executed (no \
                     execute permission for this user). Fix it with `chmod +x {}`.",
                    candidate.display(),
                    crate::quote::word(candidate.as_os_str())
                ),
            ));
        }
        Err(Failure::error(
            NOT_FOUND,
            format!(
                "found no real {name} on PATH. {looked_also}Looked for {name} in {}{}{}. {fix}",
                list(&self.looked),
                if self.skipped.is_empty() {
                    String::new()
                } else {
                    format!(
                        " (skipped, being tootguard itself: {})",
                        list(&self.skipped)
                    )
                },
                match &self.passed_over {
                    Some(program) => format!(
                        " after {}, which this same command had already run and which led \
                         back to tootguard (a wrapper that runs tootguard again?)",
                        program.display()
                    ),
                    None => String::new(),
                }
            ),
        ))
    }
}

/// Some(true) for an executable file, Some(false) for a file this user may
/// not execute, None when there is no such file (`meta`: `path`'s metadata,
/// if it has any).
fn executable(path: &Path, meta: Option<&fs::Metadata>) -> Option<bool> {
    if !meta?.is_file() {
        return None;
    }
    Some(nix::unistd::access(path, nix::unistd::AccessFlags::X_OK).is_ok())
}

/// A short list of paths: long PATHs are cut, not dumped.
fn list(paths: &[PathBuf]) -> String {
    const SHOWN: usize = 8;
    let mut out: Vec<String> = paths
        .iter()
        .take(SHOWN)
        .map(|p| p.display().to_string())
        .collect();
    if paths.len() > SHOWN {
        out.push(format!("and {} more", paths.len() - SHOWN));
    }
    if out.is_empty() {
        "nothing (PATH is empty)".to_owned()
    } else {
        out.join(", ")
    }
}
