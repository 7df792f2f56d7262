//! What a shim leaves in the environment of the program it starts, and
//! reads back there.
//!
//! `TOOTGUARD_EXEC=<depth>:<program>`, the loop marker, names the program
//! a shim is about to exec. A shim that finds it *is* that program knows a
//! shim exec'd it as "the real one" (a copy or another build of tootguard
//! on PATH) and stops with status 127. Legitimate nesting is no error: a
//! real `rails` that runs `tootctl` through PATH reaches a shim whose own
//! binary is not the marked program. The depth is the backstop for loops
//! through wrappers (a shell script that execs tootguard): the environment
//! never grows, so a loop can neither hang nor end in `E2BIG`.
//!
//! `TOOTGUARD_LAYER=<origin>/<n>[:<root>]` says which process that marker was
//! written for and, with `:<root>` (empty when no install was found),
//! that the process's command has been guarded. One command can pass
//! through several shims, all in one process, since each step is an exec:
//! `bundle exec tootctl` is the `bundle` shim, then Bundler exec's the
//! `tootctl` shim; with rbenv's Ruby set to `system`, `rbenv exec` looks
//! `ruby` up on PATH again and finds the `ruby` shim. A shim that finds
//! the layer marker of its own process is an inner layer: it does not
//! guard again (one command, one set of guards and notices), it runs the
//! install the outer layer guarded, and under the name of the program just
//! exec'd it continues the PATH search after that program instead of
//! starting it again. A nested command, such as a rake task that runs
//! `tootctl`, is another process and is guarded as a command of its own.
//!
//! An origin is `<pid>.<ppid>`. The pid alone could be met again: pids
//! are reused (`pid_max` is 32768 on many systems) and a long-lived
//! descendant inherits the marker; with the parent's pid as well, that
//! takes an orphan adopted by the original's own parent. `*.<pid>` names
//! any child of the process `pid`: `upgrade` spawns its steps and cannot
//! know their pids.

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use crate::exit::{Failure, NOT_FOUND};
use crate::resolve::SelfId;
use crate::settings::Env;

/// The loop marker: `<depth>:<path of the program being exec'd>`.
pub const EXEC: &str = "TOOTGUARD_EXEC";
/// The layer marker: `<origin>/<n>[:<guarded root>]`.
pub const LAYER: &str = "TOOTGUARD_LAYER";
/// More shims than this one after another in one process (each an exec)
/// is a loop, not a command passing through its layers.
const MAX_CHAIN: u32 = 16;
/// More shims than this inside each other across processes is a loop too
/// (a wrapper that starts tootguard as a child): far above what nested
/// commands do (a rake task running `tootctl` running `ruby`…).
const MAX_DEPTH: u32 = 64;

/// A process, or any child of one, as the layer marker names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Origin {
    pid: Option<u32>,
    ppid: u32,
}

impl Origin {
    /// This process: what a shim that execs writes.
    pub fn this_process() -> Origin {
        Origin {
            pid: Some(pid_u32(nix::unistd::getpid())),
            ppid: pid_u32(nix::unistd::getppid()),
        }
    }

    /// Any child of this process: what `upgrade` writes for the steps it spawns.
    pub fn children_of_this_process() -> Origin {
        Origin {
            pid: None,
            ppid: pid_u32(nix::unistd::getpid()),
        }
    }

    fn is_this_process(self) -> bool {
        self.pid
            .is_none_or(|pid| pid == pid_u32(nix::unistd::getpid()))
            && self.ppid == pid_u32(nix::unistd::getppid())
    }

    fn parse(text: &[u8]) -> Option<Origin> {
        let text = std::str::from_utf8(text).ok()?;
        let (pid, ppid) = text.split_once('.')?;
        let number = |s: &str| {
            (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
                .then(|| s.parse::<u32>().ok())
                .flatten()
        };
        let pid = if pid == "*" { None } else { Some(number(pid)?) };
        Some(Origin {
            pid,
            ppid: number(ppid)?,
        })
    }

    fn write(self) -> String {
        match self.pid {
            Some(pid) => format!("{pid}.{}", self.ppid),
            None => format!("*.{}", self.ppid),
        }
    }
}

fn pid_u32(pid: nix::unistd::Pid) -> u32 {
    u32::try_from(pid.as_raw()).unwrap_or(0)
}

/// Whether the command of a process has been guarded, and for which install.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Guarded {
    No,
    /// Guarded, with no Mastodon install found (the next program on PATH ran).
    WithoutInstall,
    In(PathBuf),
}

/// The markers as this process found them.
#[derive(Debug, Clone)]
pub struct Markers {
    depth: u32,
    /// Shims exec'd one after another in this very process so far.
    chain: u32,
    /// The program the last shim exec'd, when the marker names one.
    program: Option<PathBuf>,
    /// The layer marker, when it speaks for this very process.
    here: Option<Guarded>,
}

impl Markers {
    /// Reads both markers; anything tootguard would not have written counts
    /// as absent.
    pub fn read(env: &Env) -> Markers {
        let (depth, program) = env
            .get(EXEC)
            .and_then(|m| {
                let bytes = m.as_encoded_bytes();
                let colon = bytes.iter().position(|&b| b == b':')?;
                let depth = std::str::from_utf8(&bytes[..colon]).ok()?;
                let depth = (!depth.is_empty() && depth.bytes().all(|b| b.is_ascii_digit()))
                    .then(|| depth.parse::<u32>().ok())
                    .flatten()?;
                let program = &bytes[colon + 1..];
                Some((
                    depth,
                    (!program.is_empty()).then(|| PathBuf::from(OsStr::from_bytes(program))),
                ))
            })
            .unwrap_or((0, None));
        let layer = env.get(LAYER).and_then(|layer| {
            let bytes = layer.as_encoded_bytes();
            let (origin, guarded) = match bytes.iter().position(|&b| b == b':') {
                Some(colon) => {
                    let root = &bytes[colon + 1..];
                    let guarded = if root.is_empty() {
                        Guarded::WithoutInstall
                    } else {
                        Guarded::In(PathBuf::from(OsStr::from_bytes(root)))
                    };
                    (&bytes[..colon], guarded)
                }
                None => (bytes, Guarded::No),
            };
            // `<origin>/<chain>`.
            let (origin, chain) = match origin.iter().position(|&b| b == b'/') {
                Some(slash) => (
                    &origin[..slash],
                    std::str::from_utf8(&origin[slash + 1..])
                        .ok()
                        .and_then(|c| c.parse::<u32>().ok())
                        .unwrap_or(0),
                ),
                None => (origin, 0),
            };
            Origin::parse(origin)
                .filter(|o| o.is_this_process())
                .map(|_| (guarded, chain))
        });
        let (here, chain) = match layer {
            Some((guarded, chain)) => (Some(guarded), chain),
            None => (None, 0),
        };
        Markers {
            depth,
            chain,
            program,
            here,
        }
    }

    /// An outer shim of this process has guarded its command already.
    pub fn guarded_here(&self) -> Option<&Guarded> {
        self.here.as_ref().filter(|g| **g != Guarded::No)
    }

    /// The program an outer shim of this process exec'd last, if any: a
    /// shim of that name continues its PATH search after it.
    pub fn exec_here(&self) -> Option<&Path> {
        self.here.as_ref().and(self.program.as_deref())
    }

    /// Ends the run when this process is the program a shim just exec'd as
    /// the real one (a copy or wrapper of tootguard), or when shims nest too
    /// deeply. `name` is the name this shim runs under.
    pub fn check_loop(&self, me: &SelfId, name: &str) -> anyhow::Result<()> {
        let target = self.program.as_deref().unwrap_or(Path::new(""));
        if self.program.is_some() && me.is(target) {
            return Err(Failure::error(
                NOT_FOUND,
                format!(
                    "loop: a tootguard shim ran {} as the real {name}, but that file is \
                     tootguard itself ({}), so it would only run a shim again. Remove or rename \
                     {}, or put the directory of the real {name} before it on PATH.",
                    target.display(),
                    me.path.display(),
                    target.display(),
                ),
            ));
        }
        if self.chain >= MAX_CHAIN || self.depth >= MAX_DEPTH {
            let how = if self.chain >= MAX_CHAIN {
                format!(
                    "{} tootguard shims ran one after another in one process",
                    self.chain
                )
            } else {
                format!("{} tootguard shims ran inside each other", self.depth)
            };
            let root = if crate::invocation::Tool::from_name(OsStr::new(name)).is_some() {
                format!(", or set MASTODON_ROOT so tootguard runs the install's own bin/{name}")
            } else {
                String::new()
            };
            return Err(Failure::error(
                NOT_FOUND,
                format!(
                    "loop: {how}; the last one ran {}. Something on PATH named {name} (a \
                     wrapper script?) runs tootguard again. Check `type -a {name}` and remove \
                     the wrapper{root}.",
                    target.display(),
                ),
            ));
        }
        Ok(())
    }

    /// The two markers for exec'ing (or spawning, per `origin`) `program`
    /// from this process, with `guarded` saying whether its command has
    /// been guarded.
    pub fn for_child(
        &self,
        program: &Path,
        origin: Origin,
        guarded: &Guarded,
    ) -> [(&'static str, OsString); 2] {
        let mut exec = OsString::from(format!("{}:", self.depth.saturating_add(1)));
        exec.push(program.as_os_str());
        let mut layer = OsString::from(format!(
            "{}/{}",
            origin.write(),
            self.chain.saturating_add(1)
        ));
        match guarded {
            Guarded::No => {}
            Guarded::WithoutInstall => layer.push(":"),
            Guarded::In(root) => {
                layer.push(":");
                layer.push(root.as_os_str());
            }
        }
        [(EXEC, exec), (LAYER, layer)]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn markers(exec: Option<&str>, layer: Option<String>) -> Markers {
        let mut env: Env = std::iter::empty::<(OsString, OsString)>().collect();
        if let Some(exec) = exec {
            env.insert(EXEC, exec);
        }
        if let Some(layer) = layer {
            env.insert(LAYER, layer);
        }
        Markers::read(&env)
    }

    #[test]
    fn the_layer_marker_speaks_only_for_the_process_it_names() {
        let here = Origin::this_process().write();
        let m = markers(Some("2:/usr/bin/bundle"), Some(format!("{here}:/srv/live")));
        assert_eq!(m.guarded_here(), Some(&Guarded::In("/srv/live".into())));
        assert_eq!(m.exec_here(), Some(Path::new("/usr/bin/bundle")));

        let m = markers(Some("2:/usr/bin/ruby"), Some(here.clone()));
        assert_eq!(m.guarded_here(), None, "passed through, not guarded");
        assert_eq!(m.exec_here(), Some(Path::new("/usr/bin/ruby")));

        let m = markers(Some("1:/x"), Some(format!("{here}:")));
        assert_eq!(m.guarded_here(), Some(&Guarded::WithoutInstall));

        // The parent's children: this process is one of the test runner's.
        let parent = pid_u32(nix::unistd::getppid());
        let m = markers(Some("1:/x"), Some(format!("*.{parent}:/srv/live")));
        assert_eq!(m.guarded_here(), Some(&Guarded::In("/srv/live".into())));

        for other in [
            format!("1.{parent}:/srv/live"),
            format!("{}.1:/srv/live", std::process::id()),
            "*.1:/srv/live".to_owned(),
            "garbage:/srv/live".to_owned(),
            ":/srv/live".to_owned(),
            format!("{here}x:/srv/live"),
        ] {
            let m = markers(Some("1:/x"), Some(other.clone()));
            assert_eq!(m.guarded_here(), None, "{other}");
            assert_eq!(m.exec_here(), None, "{other}");
        }
    }

    #[test]
    fn the_chain_counts_execs_in_this_process_only() {
        let here = Origin::this_process().write();
        let m = markers(Some("20:/x"), Some(format!("{here}/5:/srv")));
        assert_eq!((m.depth, m.chain), (20, 5));
        let [_, (_, layer)] = m.for_child(Path::new("/y"), Origin::this_process(), &Guarded::No);
        assert!(layer.to_str().unwrap().ends_with("/6"), "{layer:?}");
        // Another process's layer: a new chain.
        let m = markers(Some("20:/x"), Some("1.1/9:/srv".to_owned()));
        assert_eq!((m.depth, m.chain), (20, 0));
    }

    #[test]
    fn markers_for_a_child_count_one_deeper_and_name_the_origin() {
        let m = markers(Some("3:/a"), None);
        let origin = Origin {
            pid: Some(10),
            ppid: 9,
        };
        let [(exec_name, exec), (layer_name, layer)] =
            m.for_child(Path::new("/b"), origin, &Guarded::In("/srv/l".into()));
        assert_eq!((exec_name, exec.to_str()), (EXEC, Some("4:/b")));
        assert_eq!((layer_name, layer.to_str()), (LAYER, Some("10.9/1:/srv/l")));
        let [_, (_, layer)] =
            m.for_child(Path::new("/b"), Origin { pid: None, ppid: 7 }, &Guarded::No);
        assert_eq!(layer.to_str(), Some("*.7/1"));
        let [_, (_, layer)] = m.for_child(Path::new("/b"), origin, &Guarded::WithoutInstall);
        assert_eq!(layer.to_str(), Some("10.9/1:"));
    }
}
