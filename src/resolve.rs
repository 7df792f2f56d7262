//! Finding things: the Mastodon install a command belongs to, the real
//! program behind a shim, and whether a file is tootguard itself.
//!
//! The real program is never tootguard itself. "Itself" is decided by
//! identity — same (device, inode) as `current_exe()`, which covers symlinks,
//! chains of symlinks and hard links — and, for a file of exactly our size,
//! by content, which covers a copy. A copy built from other sources is not
//! caught that way: the loop marker catches it (`marker.rs`).

use std::cell::OnceCell;
use std::ffi::{OsStr, OsString};
use std::fs::{self, File};
use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::exit::{Failure, NOT_EXECUTABLE, NOT_FOUND};
use crate::invocation::Tool;
use crate::settings::Env;

/// A Mastodon install (or development checkout).
#[derive(Debug, Clone)]
pub struct Root {
    pub dir: PathBuf,
    /// `.env.production` exists: RAILS_ENV must be `production`.
    pub production: bool,
    /// How it was found, for explain and doctor.
    pub found_by: &'static str,
}

/// True when `dir` holds `bin/tootctl` and `config/application.rb`.
pub fn is_mastodon_root(dir: &Path) -> bool {
    dir.join("bin/tootctl").exists() && dir.join("config/application.rb").is_file()
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
    let production = dir.join(".env.production").exists();
    Root {
        dir,
        production,
        found_by,
    }
}

/// The install a bare `rails`, `rake` or `tootctl` belongs to:
/// `MASTODON_ROOT` when set; else the nearest ancestor of `cwd` that is a
/// Mastodon root; else `~mastodon/live` when it is one; else none.
///
/// The fallback to `~mastodon/live` is for commands only Mastodon has:
/// `tootctl` always, `rails` only outside any project (`rails db:migrate`
/// typed in `/root`), `rake` never — a `rake` or `rails` typed inside
/// another project (a `Gemfile`, `gems.rb`, `Rakefile` or
/// `config/application.rb` at or above the working directory) is that
/// project's, and the next one on PATH runs, untouched.
pub fn find_root(env: &Env, cwd: &Path, tool: Tool) -> anyhow::Result<Option<Root>> {
    if let Some(dir) = env.get("MASTODON_ROOT").filter(|d| !d.is_empty()) {
        let dir = Path::new(&dir);
        let dir = if dir.is_absolute() {
            dir.to_path_buf()
        } else {
            cwd.join(dir)
        };
        if !is_mastodon_root(&dir) {
            return Err(Failure::error(
                crate::exit::FAILURE,
                format!(
                    "MASTODON_ROOT is {}, which is not a Mastodon install (it has no bin/tootctl \
                     and config/application.rb). Set MASTODON_ROOT to the directory you run \
                     Mastodon from (usually /home/mastodon/live), or unset it to let tootguard \
                     find the install from the working directory.",
                    dir.display()
                ),
            ));
        }
        return Ok(Some(root_at(dir, "MASTODON_ROOT")));
    }
    let mut in_project = false;
    for dir in cwd.ancestors() {
        if is_mastodon_root(dir) {
            return Ok(Some(root_at(dir.to_path_buf(), "working directory")));
        }
        if is_project(dir) {
            in_project = true;
            break;
        }
    }
    let fallback = match tool {
        Tool::Tootctl => true,
        Tool::Rails => !in_project,
        Tool::Rake => false,
    };
    if fallback && let Ok(Some(user)) = nix::unistd::User::from_name("mastodon") {
        let live = user.dir.join("live");
        if is_mastodon_root(&live) {
            return Ok(Some(root_at(live, "~mastodon/live")));
        }
    }
    Ok(None)
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
        .then(|| root_at(dir.to_path_buf(), "the script's path"))
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
    is_mastodon_root(dir).then(|| root_at(dir.to_path_buf(), "Bundler's Gemfile"))
}

/// The install an outer shim of this process guarded the command for.
pub fn root_of_outer_layer(dir: &Path) -> Option<Root> {
    is_mastodon_root(dir).then(|| root_at(dir.to_path_buf(), "the outer shim"))
}

/// The first executable `name` on `path`, tootguard or not, as the shell
/// would find it: what typing `name` reaches.
pub fn first_on_path(name: &str, path: &OsStr, cwd: &Path) -> Option<PathBuf> {
    std::env::split_paths(path)
        .map(|dir| cwd.join(dir).join(name))
        .find(|candidate| {
            executable(candidate, fs::metadata(candidate).ok().as_ref()) == Some(true)
        })
}

/// `MASTODON_ROOT` as an absolute path, when it was given as a relative one.
/// It names a directory relative to where tootguard started; a child that
/// runs elsewhere (rails and rake run in the root) must find the same install.
pub fn absolute_root_var(env: &Env, root: &Root) -> Option<OsString> {
    let given = env.get("MASTODON_ROOT")?;
    (!given.is_empty() && Path::new(&given).is_relative())
        .then(|| root.dir.clone().into_os_string())
}

/// The two binaries of an install, side by side in one directory: the
/// command line, and the shim path alone that `tootguard install` links
/// `rails`, `rake` and `tootctl` to (see `lib.rs`). Either one is
/// "tootguard itself" to the other.
pub const CLI_BINARY: &str = "tootguard";
pub const SHIM_BINARY: &str = "tootguard-shim";

/// This binary (and the other binary of its pair), as identity for "is this
/// candidate tootguard itself?".
pub struct SelfId {
    pub path: PathBuf,
    own: FileId,
    /// The files named `tootguard` and `tootguard-shim` next to this binary
    /// that are not this binary, looked up when first needed.
    pair: OnceCell<Vec<(PathBuf, FileId)>>,
}

#[derive(Clone, Copy)]
struct FileId {
    dev: u64,
    ino: u64,
    size: u64,
}

impl FileId {
    fn of(meta: &fs::Metadata) -> FileId {
        FileId {
            dev: meta.dev(),
            ino: meta.ino(),
            size: meta.size(),
        }
    }

    fn same_inode(self, meta: &fs::Metadata) -> bool {
        meta.dev() == self.dev && meta.ino() == self.ino
    }

    /// `candidate` (with metadata `meta`) is the file at `path`: the same
    /// inode (a link), or a byte-identical copy. Content is compared only
    /// for a file of the same size.
    fn matches(self, path: &Path, meta: &fs::Metadata, candidate: &Path) -> bool {
        self.same_inode(meta)
            || (meta.size() == self.size && meta.is_file() && same_content(path, candidate))
    }
}

impl SelfId {
    pub fn current() -> anyhow::Result<SelfId> {
        let path = std::env::current_exe().context("cannot find tootguard's own binary")?;
        let meta = fs::metadata(&path)
            .with_context(|| format!("cannot read tootguard's own binary {}", path.display()))?;
        Ok(SelfId {
            own: FileId::of(&meta),
            path,
            pair: OnceCell::new(),
        })
    }

    /// True when `candidate` is tootguard: this binary or the other one of
    /// its pair (a link to one of them, or a byte-identical copy), or a link
    /// into another directory's pair of which this binary is a copy (a
    /// renamed copy of `tootguard-shim` meeting a link to the `tootguard`
    /// it was copied from).
    pub fn is(&self, candidate: &Path) -> bool {
        fs::metadata(candidate).is_ok_and(|meta| self.is_file_with(candidate, &meta))
    }

    /// [`SelfId::is`] for a candidate whose metadata is already at hand.
    fn is_file_with(&self, candidate: &Path, meta: &fs::Metadata) -> bool {
        self.own.matches(&self.path, meta, candidate)
            || self
                .pair()
                .iter()
                .any(|(path, id)| id.matches(path, meta, candidate))
            || self.is_linked_pair(candidate)
    }

    /// `candidate` is a symlink to a file named `tootguard` or
    /// `tootguard-shim` whose partner in its directory is this binary.
    fn is_linked_pair(&self, candidate: &Path) -> bool {
        let is_link = fs::symlink_metadata(candidate).is_ok_and(|m| m.file_type().is_symlink());
        let Some(target) = is_link.then(|| fs::canonicalize(candidate).ok()).flatten() else {
            return false;
        };
        let partner = match target.file_name().and_then(OsStr::to_str) {
            Some(CLI_BINARY) => SHIM_BINARY,
            Some(SHIM_BINARY) => CLI_BINARY,
            _ => return false,
        };
        let partner = target.with_file_name(partner);
        fs::metadata(&partner).is_ok_and(|meta| self.own.matches(&self.path, &meta, &partner))
            && is_elf(&target)
    }

    /// The binary shims link to: this one when it is `tootguard-shim`,
    /// otherwise the `tootguard-shim` next to it, if there is one.
    pub fn shim_binary(&self) -> Option<&Path> {
        if self.path.file_name() == Some(OsStr::new(SHIM_BINARY)) {
            return Some(&self.path);
        }
        self.pair()
            .iter()
            .map(|(path, _)| path.as_path())
            .find(|path| path.file_name() == Some(OsStr::new(SHIM_BINARY)))
    }

    /// True when `candidate` is the shim binary: a link to it or a copy.
    pub fn is_shim_binary(&self, candidate: &Path) -> bool {
        let (Some(shim), Ok(meta)) = (self.shim_binary(), fs::metadata(candidate)) else {
            return false;
        };
        match fs::metadata(shim) {
            Ok(shim_meta) => FileId::of(&shim_meta).matches(shim, &meta, candidate),
            Err(_) => false,
        }
    }

    /// `tootguard` and `tootguard-shim` in this binary's directory, but not
    /// this binary itself, decided by inode rather than by name: a hard link
    /// or renamed copy (`rails`) of one finds the other all the same.
    fn pair(&self) -> &[(PathBuf, FileId)] {
        self.pair.get_or_init(|| {
            let own_name = self.path.file_name();
            [CLI_BINARY, SHIM_BINARY]
                .into_iter()
                // current_exe is this inode's own path: no need to stat it.
                .filter(|name| own_name != Some(OsStr::new(name)))
                .filter_map(|name| {
                    let path = self.path.with_file_name(name);
                    let meta = fs::metadata(&path).ok().filter(fs::Metadata::is_file)?;
                    (!self.own.same_inode(&meta)).then(|| (path, FileId::of(&meta)))
                })
                .collect()
        })
    }
}

/// A regular file that starts like an executable: a script that happens to
/// be named `tootguard` is not taken for one.
fn is_elf(path: &Path) -> bool {
    let mut magic = [0u8; 4];
    fs::metadata(path).is_ok_and(|m| m.is_file())
        && File::open(path).is_ok_and(|mut f| f.read_exact(&mut magic).is_ok())
        && magic == *b"\x7fELF"
}

/// `a` and `b` (after symlinks) are one file: same device and inode.
pub fn same_file(a: &Path, b: &Path) -> bool {
    match (fs::metadata(a), fs::metadata(b)) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
}

fn same_content(a: &Path, b: &Path) -> bool {
    let (Ok(mut a), Ok(mut b)) = (File::open(a), File::open(b)) else {
        return false;
    };
    let mut buf_a = vec![0u8; 64 * 1024];
    let mut buf_b = vec![0u8; 64 * 1024];
    loop {
        let (Ok(n), Ok(m)) = (fill(&mut a, &mut buf_a), fill(&mut b, &mut buf_b)) else {
            return false;
        };
        if n != m || buf_a[..n] != buf_b[..m] {
            return false;
        }
        if n == 0 {
            return true;
        }
    }
}

/// Reads until `buf` is full or the file ends.
fn fill(file: &mut File, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut total = 0;
    while total < buf.len() {
        match file.read(&mut buf[total..])? {
            0 => break,
            n => total += n,
        }
    }
    Ok(total)
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
