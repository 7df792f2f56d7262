//! One shim start, decided. The shim, `explain` and `upgrade` all decide
//! through [`decide`], so what `explain` shows is what the shim does.
//!
//! In order: which Mastodon command the start carries, however it was
//! spelled (`spelling.rs`); whether an outer shim of this same process has
//! guarded it already (`marker.rs`); the install it belongs to; the
//! guards' verdicts; the real program, looked up with the PATH the program
//! will get (the user guard may put the owner's rbenv shims first); and
//! the plan to exec, with the markers for whatever shim comes next.

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use crate::exec::{self, Plan};
use crate::exit::Failure;
use crate::guards::{self, Verdict};
use crate::invocation::{Invocation, Shim, Tool};
use crate::marker::{Guarded, Markers, Origin};
use crate::resolve::{self, Root, SelfId};
use crate::settings::{self, Env};
use crate::spelling::{self, Carried, InstallFrom, Spelling};

/// A shim start as it happened (or as `explain` imagines it).
pub struct Start {
    pub shim: Shim,
    pub argv0: OsString,
    pub args: Vec<OsString>,
    /// The working directory; `None` when it cannot be read (deleted).
    pub cwd: Option<PathBuf>,
    pub env: Env,
}

/// Whether, and where, the guards were asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Guarding {
    /// Here: this shim is the first layer of this command.
    Here,
    /// By an outer shim of this process (`bundle exec tootctl`'s `bundle`).
    Outer,
    /// Not at all: `TOOTGUARD_BYPASS=1`.
    Bypass,
    /// Not at all: nothing of Mastodon's (`ruby -e …`, `bundle install`).
    PassThrough,
}

/// Everything one shim start would do.
pub struct Launch {
    pub shim: Shim,
    pub spelling: Spelling,
    pub guarding: Guarding,
    /// The Mastodon command carried, as the guards see it (its tool, its
    /// own arguments, its install), when there is one to guard.
    pub inv: Option<Invocation>,
    pub verdicts: Vec<Verdict>,
    /// What would be exec'd, or why nothing can be.
    pub plan: anyhow::Result<Plan>,
}

/// Decides what the shim start `start` does. Errors are the ones that end
/// the shim before anything else (a `MASTODON_ROOT` that is no install).
/// `origin` is whom the layer marker will speak for; `stop_at_block`
/// stops asking guards at the first block (the shim; `explain` asks all).
pub fn decide(
    start: Start,
    me: &SelfId,
    markers: &Markers,
    origin: Origin,
    stop_at_block: bool,
) -> anyhow::Result<Launch> {
    let Start {
        shim,
        argv0,
        mut args,
        cwd,
        env,
    } = start;
    let spelling = spelling::read(shim, &args);
    let bypass = settings::bypass(&env);

    let mut guarding = if bypass {
        Guarding::Bypass
    } else {
        Guarding::Here
    };
    let mut carried: Option<&Carried> = match &spelling {
        Spelling::Carries(carried) => Some(carried),
        Spelling::PassThrough(_) => None,
    };
    let mut root = None;
    match (carried, markers.guarded_here()) {
        (None, _) => guarding = Guarding::PassThrough,
        (Some(_), Some(outer)) => {
            guarding = Guarding::Outer;
            if let Guarded::In(dir) = outer {
                root = resolve::root_of_outer_layer(dir);
            }
        }
        (Some(c), None) => {
            root = install_of(c, &args, &env, cwd.as_deref())?;
            // Outside an install, ruby, bundle, rails and rake run nothing
            // of Mastodon's; only tootctl is Mastodon's wherever it runs.
            if root.is_none() && (c.tool != Tool::Tootctl || c.install != InstallFrom::Lookup) {
                carried = None;
                guarding = Guarding::PassThrough;
            }
        }
    }

    let inv = carried.map(|c| {
        let mut tool_cwd = cwd.clone().unwrap_or_default();
        // `ruby -C dir`: the script runs in that directory.
        if let InstallFrom::Script { dir: Some(dir), .. } = &c.install {
            tool_cwd = tool_cwd.join(dir);
        }
        Invocation::new(
            c.tool,
            args[c.args_from.min(args.len())..].to_vec(),
            tool_cwd,
            env.clone(),
            root.clone(),
        )
    });
    // An install that others could have planted runs nothing, guarded or
    // bypassed (an outer layer of this process checked its own already).
    let trust = match (&inv, guarding) {
        (Some(inv), Guarding::Here | Guarding::Bypass) => match &inv.root {
            Some(root) => resolve::untrusted(root, inv.tool, &inv.env).map_err(|u| u.into_error()),
            None => Ok(()),
        },
        _ => Ok(()),
    };
    // A migration is guarded by asking PostgreSQL, which only the
    // `tootguard` program can: the shim binary hands the start to it as it
    // came (same name, arguments, environment and directory).
    let hand_on = matches!((&inv, guarding, &trust), (Some(inv), Guarding::Here, Ok(()))
        if !guards::guards_migrations() && guards::pgbouncer::applies(inv));
    if hand_on {
        return Ok(Launch {
            shim,
            spelling,
            guarding,
            inv,
            verdicts: Vec::new(),
            plan: hand_on_to_tootguard(me, argv0, args),
        });
    }
    let verdicts = match (&inv, guarding, &trust) {
        (Some(inv), Guarding::Here, Ok(())) => guards::check_all(inv, stop_at_block),
        _ => Vec::new(),
    };

    let mut changes = Plan::new(PathBuf::new(), OsString::new(), Vec::new());
    for verdict in &verdicts {
        changes.apply(&verdict.changes);
    }
    // Paths relative to the working directory follow the command into the
    // install when a guard moves it there.
    if let (Some(c), Some(_), Some(cwd)) = (carried, &changes.cwd, &cwd) {
        for path in &c.paths {
            absolutize(&mut args[path.index], path.prefix, cwd);
        }
        // Bundler reads a relative BUNDLE_GEMFILE from where it runs.
        if let Some(gemfile) = env
            .get("BUNDLE_GEMFILE")
            .filter(|g| Path::new(g).is_relative() && !g.is_empty())
        {
            changes.set_env("BUNDLE_GEMFILE", Some(cwd.join(gemfile).into_os_string()));
        }
    }
    let plan = trust
        .and_then(|()| {
            find_program(
                shim,
                root.as_ref(),
                &changes,
                &env,
                cwd.as_deref(),
                me,
                markers,
            )
        })
        .map(|(program, interpreter)| {
            let guarded = match guarding {
                Guarding::Here | Guarding::Outer => match &root {
                    Some(root) => Guarded::In(root.dir.clone()),
                    None => Guarded::WithoutInstall,
                },
                Guarding::Bypass | Guarding::PassThrough => Guarded::No,
            };
            let mut plan = Plan {
                program,
                interpreter,
                argv0,
                args,
                ..changes
            };
            for (name, value) in markers.for_child(plan.executable(), origin, &guarded) {
                plan.set_env(name, Some(value));
            }
            plan
        });
    Ok(Launch {
        shim,
        spelling,
        guarding,
        inv,
        verdicts,
        plan,
    })
}

/// The plan that runs this start again in `tootguard`, beside this binary.
fn hand_on_to_tootguard(me: &SelfId, argv0: OsString, args: Vec<OsString>) -> anyhow::Result<Plan> {
    let cli = me.cli_binary().ok_or_else(|| {
        Failure::error(
            crate::exit::NOT_FOUND,
            format!(
                "a migration is guarded by the `tootguard` program (it asks PostgreSQL where \
                 the migration may go), and there is none beside {}. Not running the \
                 migration. Reinstall tootguard: both programs come together (`cargo install \
                 --path .`, or the package).",
                me.path.display()
            ),
        )
    })?;
    // A copy of the shim under that name would hand the start on again.
    if me.is_shim_binary(cli) {
        return Err(Failure::error(
            crate::exit::NOT_FOUND,
            format!(
                "a migration is guarded by the `tootguard` program, and {} beside {} is a copy \
                 of tootguard-shim, not it. Not running the migration. Reinstall tootguard \
                 (`cargo install --path .`, or the package).",
                cli.display(),
                me.path.display()
            ),
        ));
    }
    Ok(Plan::new(cli.to_path_buf(), argv0, args))
}

/// The install a carried command belongs to.
fn install_of(
    carried: &Carried,
    args: &[OsString],
    env: &Env,
    cwd: Option<&Path>,
) -> anyhow::Result<Option<Root>> {
    // With the working directory gone, only absolute paths still name
    // something: "/" stands in for it, and a relative path cannot be
    // resolved — which is refused rather than passed through unguarded.
    let gone = || {
        Failure::error(
            crate::exit::FAILURE,
            "cannot tell which install this command belongs to: it names a path relative to the \
             working directory, which cannot be read (was it deleted?). Change to an existing \
             directory, or give the path in full.",
        )
    };
    let absolute = |path: &OsStr| Path::new(path).is_absolute();
    Ok(match &carried.install {
        InstallFrom::Lookup => {
            // `rails new blog` makes an app of one's own: never the default
            // install's, like rake.
            let creating = carried.tool == Tool::Rails
                && args.get(carried.args_from).is_some_and(|a| a == "new");
            let tool = if creating { Tool::Rake } else { carried.tool };
            resolve::find_root(env, cwd, tool)?
        }
        InstallFrom::Script { index, dir } => {
            let script = &args[*index];
            let base = match (cwd, dir) {
                (Some(cwd), Some(dir)) => cwd.join(dir),
                (Some(cwd), None) => cwd.to_path_buf(),
                (None, Some(dir)) if absolute(dir) => PathBuf::from(dir),
                (None, None) if absolute(script) => PathBuf::from("/"),
                (None, _) => return Err(gone()),
            };
            resolve::root_of_script(carried.tool, Path::new(script), &base)
        }
        InstallFrom::Bundle { gemfile } => match cwd {
            Some(cwd) => resolve::root_of_bundle(gemfile.as_deref(), env, cwd),
            None => {
                let named = gemfile
                    .clone()
                    .or_else(|| env.get("BUNDLE_GEMFILE"))
                    .filter(|g| !g.is_empty());
                match named {
                    Some(g) if absolute(&g) => {
                        resolve::root_of_bundle(Some(&g), env, Path::new("/"))
                    }
                    _ => return Err(gone()),
                }
            }
        },
    })
}

/// The program to exec, and the `ruby` to run it with when tootguard
/// starts a `#!/usr/bin/env ruby` script itself.
fn find_program(
    shim: Shim,
    root: Option<&Root>,
    changes: &Plan,
    env: &Env,
    cwd: Option<&Path>,
    me: &SelfId,
    markers: &Markers,
) -> anyhow::Result<(PathBuf, Option<PathBuf>)> {
    // The PATH the program will get: the guards' changes, else this one.
    let path = changes.var(env, "PATH").unwrap_or_default();
    let cwd = cwd.unwrap_or(Path::new("/"));
    if let (Shim::Tool(tool), Some(root)) = (shim, root) {
        let program = resolve::program_in_root(tool, root, me)?;
        if !exec::runs_on_env_ruby(&program) {
            return Ok((program, None));
        }
        let ruby = resolve::search_path("ruby", &path, cwd, me, markers.exec_here()).program(
            "ruby",
            &format!(
                "{} starts with #!/usr/bin/env ruby, which runs the first ruby on PATH. ",
                program.display()
            ),
            "Put Ruby on PATH (with rbenv, ~/.rbenv/shims: `eval \"$(rbenv init -)\"` in \
                 ~/.bashrc).",
        )?;
        return Ok((program, Some(ruby)));
    }
    let name = shim.name();
    let (looked_also, fix) = match shim {
        Shim::Tool(_) => (
            format!(
                "Found no Mastodon install either: looked in MASTODON_ROOT, in {} and its \
                 parents, and in ~mastodon/live. ",
                cwd.display()
            ),
            "Run it from the Mastodon directory (usually /home/mastodon/live), or set \
             MASTODON_ROOT=/home/mastodon/live."
                .to_owned(),
        ),
        Shim::Ruby | Shim::Bundle => (
            String::new(),
            format!(
                "Install {name} (Mastodon's docs use rbenv: `eval \"$(rbenv init -)\"` in \
                 ~/.bashrc puts ~/.rbenv/shims on PATH)."
            ),
        ),
    };
    let program = resolve::search_path(name, &path, cwd, me, markers.exec_here()).program(
        name,
        &looked_also,
        &fix,
    )?;
    Ok((program, None))
}

/// Makes the path after `prefix` bytes of `arg` absolute against `cwd`.
fn absolutize(arg: &mut OsString, prefix: usize, cwd: &Path) {
    let bytes = arg.as_encoded_bytes();
    let (head, path) = bytes.split_at(prefix.min(bytes.len()));
    let path = Path::new(OsStr::from_bytes(path));
    if path.is_relative() {
        let mut absolute = OsStr::from_bytes(head).to_os_string();
        absolute.push(cwd.join(path));
        *arg = absolute;
    }
}
