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

/// `<root>/bin/<tool>`, when it is there, runs, and is not tootguard.
pub fn program_in_root(tool: Tool, root: &Root, me: &SelfId) -> anyhow::Result<PathBuf> {
    let name = tool.name();
    let program = root.dir.join("bin").join(name);
    // Read once: it decides both "is it us?" and "can it run?".
    let meta = fs::metadata(&program).ok();
    if meta.as_ref().is_some_and(|m| me.is_file_with(&program, m)) {
        return Err(Failure::error(
            NOT_FOUND,
            format!(
                "loop: {} is tootguard itself (a link or copy of {}), not Mastodon's \
                 {name}. Restore the file from the Mastodon checkout (`git checkout -- \
                 bin/{name}` in {}) and put tootguard's shims in a directory on PATH \
                 instead (`tootguard install`).",
                program.display(),
                me.path.display(),
                root.dir.display()
            ),
        ));
    }
    match executable(&program, meta.as_ref()) {
        Some(true) => Ok(program),
        Some(false) => Err(Failure::error(
            NOT_EXECUTABLE,
            format!(
                "{} exists but cannot be executed (no execute permission for this user). \
                 Fix it with `chmod +x {}` as the owner of the install.",
                program.display(),
                program.display()
            ),
        )),
        None => Err(Failure::error(
            NOT_FOUND,
            format!(
                "{} does not exist, although {} looks like a Mastodon install (found by \
                 {}). Restore it from the Mastodon checkout (`git checkout -- bin/{name}`), \
                 or point MASTODON_ROOT at the right directory.",
                program.display(),
                root.dir.display(),
                root.found_by
            ),
        )),
    }
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
    let start = after
        .filter(|after| after.file_name() == Some(OsStr::new(name)))
        .and_then(|after| {
            dirs.iter()
                .position(|dir| dir.join(name) == after || same_file(&dir.join(name), after))
        })
        .map_or(0, |i| {
            search.passed_over = after.map(Path::to_path_buf);
            i + 1
        });
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
                    candidate.display()
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
