//! Which Mastodon command a shim start carries, however the admin spelled it.
//!
//! Mastodon's docs and release notes spell the same commands several ways,
//! and each spelling reaches a different program first:
//!
//! - `rails …`, `rake …`, `tootctl …` typed bare: the shim of that name.
//! - `bin/tootctl …`, `./bin/rails …`, `/home/mastodon/live/bin/tootctl …`
//!   (cron) and `ruby bin/rails …`: Mastodon's `bin/` scripts start with
//!   `#!/usr/bin/env ruby`, so the kernel runs `env`, which runs the first
//!   `ruby` on PATH with the script's path as its first argument — the
//!   `ruby` shim.
//! - `bundle exec rails|rake …`: Bundler puts `<bundle path>/bin` first on
//!   PATH, where a deployment install keeps the gems' own `rails` and
//!   `rake`, and `Kernel.load`s such Ruby scripts inside its own process
//!   (`Bundler::CLI::Exec#kernel_load`): no later program start exists for
//!   a shim to stand in front of, so the `bundle` shim guards them. The same
//!   for `bundle exec tootctl`, `bundle exec bin/rails` and
//!   `bundle exec ruby bin/rails`.
//!
//! Reading the arguments makes no system call, so `ruby -e …` and
//! `bundle install` pass through at no cost; where the install is, is
//! [`crate::resolve`]'s business.

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use crate::invocation::{Shim, Tool};

/// What one shim start carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Spelling {
    /// One of Mastodon's commands.
    Carries(Carried),
    /// Nothing of Mastodon's: the real program runs untouched. Why, for
    /// `explain`.
    PassThrough(&'static str),
}

/// A Mastodon command inside a shim's arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Carried {
    pub tool: Tool,
    /// Where the tool's own arguments start among the shim's arguments.
    pub args_from: usize,
    pub install: InstallFrom,
    /// The shim's arguments that name a path relative to the working
    /// directory (the script, ruby's `-C`, Bundler's `--gemfile`): made
    /// absolute when the command is moved into the install.
    pub paths: Vec<PathArg>,
}

/// An argument holding a path after `prefix` bytes (`--gemfile=`, `-C`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PathArg {
    pub index: usize,
    pub prefix: usize,
}

/// Where the install of a carried command is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InstallFrom {
    /// `rails`, `rake`, `tootctl` typed bare: `MASTODON_ROOT`, the working
    /// directory's install, `~mastodon/live`.
    Lookup,
    /// The install whose `bin/<tool>` the argument at `index` names
    /// (`ruby bin/rails`), relative to `dir` (ruby's `-C`) when given.
    Script { index: usize, dir: Option<OsString> },
    /// Bundler's project (`bundle exec rails`): `--gemfile`'s or
    /// `BUNDLE_GEMFILE`'s directory, else the nearest directory at or above
    /// the working directory with a `gems.rb` or `Gemfile`
    /// (`Bundler::SharedHelpers#find_gemfile`).
    Bundle { gemfile: Option<OsString> },
}

/// Reads what the shim `shim` started with `args` carries.
pub fn read(shim: Shim, args: &[OsString]) -> Spelling {
    match shim {
        Shim::Tool(tool) => Spelling::Carries(Carried {
            tool,
            args_from: 0,
            install: InstallFrom::Lookup,
            paths: Vec::new(),
        }),
        Shim::Ruby => ruby(args, 0),
        Shim::Bundle => bundle(args, 0),
    }
}

/// `ruby [options] script args…` from `args[start..]`: the script, if it is
/// named like one of Mastodon's `bin/` scripts, after ruby's own options.
///
/// Options follow `ruby --help` (3.x): single-letter switches may be
/// bundled (`-wd`); `-C`, `-E`, `-I` and `-r` take a value attached or as
/// the next argument; `-0`, `-F`, `-i`, `-K`, `-W` and `-x` only attached.
/// An option that runs no script (`-e`, `-c`, `-h`, `--version`) or one
/// tootguard does not know passes the command through: it is then not a
/// spelling of a Mastodon command tootguard can vouch for.
fn ruby(args: &[OsString], start: usize) -> Spelling {
    let mut dir: Option<OsString> = None;
    let mut paths = Vec::new();
    let mut i = start;
    while let Some(arg) = args.get(i) {
        let bytes = arg.as_encoded_bytes();
        if bytes == b"--" {
            i += 1;
            break;
        }
        // A lone `-` is the script read from standard input.
        if !bytes.starts_with(b"-") || bytes == b"-" {
            break;
        }
        if let Some(long) = bytes.strip_prefix(b"--") {
            match ruby_long_option(long) {
                Ok(takes_next) => i += 1 + usize::from(takes_next),
                Err(Unknown) => return guessed(args, i + 1, start),
                Err(Known(why)) => return Spelling::PassThrough(why),
            }
            continue;
        }
        let mut j = 1;
        while j < bytes.len() {
            match bytes[j] {
                b'a' | b'd' | b'l' | b'n' | b'p' | b's' | b'v' | b'w' | b'y' | b'U' => j += 1,
                b'0' | b'F' | b'i' | b'K' | b'W' => j = bytes.len(),
                b'C' | b'E' | b'I' | b'r' => {
                    let letter = bytes[j];
                    let (value, at, prefix) = if j + 1 < bytes.len() {
                        (Some(&bytes[j + 1..]), i, j + 1)
                    } else {
                        i += 1;
                        (args.get(i).map(|a| a.as_encoded_bytes()), i, 0)
                    };
                    let Some(value) = value else {
                        return Spelling::PassThrough("a ruby option lacks its value");
                    };
                    if letter == b'C' {
                        if dir.is_some() {
                            return Spelling::PassThrough("ruby is given -C more than once");
                        }
                        dir = Some(OsStr::from_bytes(value).to_os_string());
                        paths.push(PathArg { index: at, prefix });
                    }
                    j = bytes.len();
                }
                b'e' => return Spelling::PassThrough("ruby -e runs the code given, no script"),
                b'c' => return Spelling::PassThrough("ruby -c only checks the syntax"),
                b'h' => return Spelling::PassThrough("ruby -h prints ruby's help"),
                b'S' => return Spelling::PassThrough("ruby -S looks the script up on PATH"),
                b'x' => return Spelling::PassThrough("ruby -x skips text before the script"),
                _ => return guessed(args, i + 1, start),
            }
        }
        i += 1;
    }
    let Some(script) = args.get(i) else {
        return Spelling::PassThrough("no script: ruby reads it from standard input");
    };
    // `bin/bundle exec rails …` (Mastodon kept a bin/bundle until 4.5):
    // Bundler itself, run by this ruby.
    if Path::new(script).file_name() == Some(OsStr::new("bundle")) {
        return bundle(args, i + 1);
    }
    let Some(tool) = script_tool(script) else {
        return Spelling::PassThrough("the script is not one of Mastodon's bin/ scripts");
    };
    // A script relative to a -C directory moves with that directory.
    if dir.is_none() {
        paths.push(PathArg {
            index: i,
            prefix: 0,
        });
    }
    Spelling::Carries(Carried {
        tool,
        args_from: i + 1,
        install: InstallFrom::Script { index: i, dir },
        paths,
    })
}

/// Why a ruby option stops the reading.
enum OptionError {
    /// It runs no script: nothing of Mastodon's.
    Known(&'static str),
    /// tootguard does not know it.
    Unknown,
}
use OptionError::{Known, Unknown};

/// A long ruby option (without its `--`): `Ok(true)` when it takes the next
/// argument as its value, `Ok(false)` when it stands alone.
fn ruby_long_option(name: &[u8]) -> Result<bool, OptionError> {
    if name.contains(&b'=') {
        return Ok(false);
    }
    match name {
        b"help" | b"version" | b"copyright" => Err(Known("ruby prints something and exits")),
        b"dump" => Err(Known("ruby --dump prints instead of running")),
        b"verbose" | b"debug" | b"disable-gems" | b"yjit" | b"jit" | b"rjit" | b"mjit"
        | b"disable-all" | b"enable-all" | b"crash-report" => Ok(false),
        b"enable" | b"disable" | b"encoding" | b"external-encoding" | b"internal-encoding"
        | b"backtrace-limit" | b"parser" => Ok(true),
        _ if name.starts_with(b"yjit-") || name.starts_with(b"disable-") => Ok(false),
        _ => Err(Unknown),
    }
}

/// After an option tootguard does not know, where the script is cannot be
/// read for sure; rather than let a Mastodon script run unguarded, the
/// first later argument that is a path named like one (`…/bin/tootctl`)
/// is taken for it.
fn guessed(args: &[OsString], from: usize, start: usize) -> Spelling {
    let found = (from.max(start)..args.len())
        .find(|&i| args[i].as_encoded_bytes().contains(&b'/') && script_tool(&args[i]).is_some());
    match found.and_then(|i| Some((i, script_tool(&args[i])?))) {
        Some((index, tool)) => Spelling::Carries(Carried {
            tool,
            args_from: index + 1,
            install: InstallFrom::Script { index, dir: None },
            paths: vec![PathArg { index, prefix: 0 }],
        }),
        None => Spelling::PassThrough("a ruby option tootguard does not know"),
    }
}

/// `bundle [--no-color|--verbose|--retry N] exec [--gemfile G] command …`,
/// from `args[start..]`.
///
/// Bundler's class options come before the command; `exec` and its
/// aliases `e`, `ex`, `exe` (`Bundler::CLI::COMMAND_ALIASES`) take
/// `--keep-file-descriptors` and `--gemfile` before the command, and stop
/// at the first other argument.
fn bundle(args: &[OsString], start: usize) -> Spelling {
    let arg = |i: usize| args.get(i).map(|a| a.as_encoded_bytes());
    let mut i = start;
    loop {
        match arg(i) {
            Some(b"--no-color" | b"--verbose" | b"-V") => i += 1,
            Some(b"--retry" | b"-r") => i += 2,
            Some(a) if a.starts_with(b"--retry=") => i += 1,
            _ => break,
        }
    }
    if !matches!(arg(i), Some(b"exec" | b"e" | b"ex" | b"exe")) {
        return Spelling::PassThrough("not `bundle exec`");
    }
    i += 1;
    let mut gemfile = None;
    let mut paths = Vec::new();
    loop {
        match arg(i) {
            Some(b"--keep-file-descriptors" | b"--no-keep-file-descriptors") => i += 1,
            Some(b"--gemfile") => {
                let Some(value) = args.get(i + 1) else {
                    return Spelling::PassThrough("bundle exec --gemfile lacks its value");
                };
                gemfile = Some(value.clone());
                paths.push(PathArg {
                    index: i + 1,
                    prefix: 0,
                });
                i += 2;
            }
            Some(a) if a.starts_with(b"--gemfile=") => {
                let prefix = b"--gemfile=".len();
                gemfile = Some(OsStr::from_bytes(&a[prefix..]).to_os_string());
                paths.push(PathArg { index: i, prefix });
                i += 1;
            }
            _ => break,
        }
    }
    let Some(command) = args.get(i) else {
        return Spelling::PassThrough("bundle exec without a command");
    };
    if command == "ruby" {
        return match ruby(args, i + 1) {
            Spelling::Carries(mut carried) => {
                carried.paths.extend(paths);
                Spelling::Carries(carried)
            }
            pass => pass,
        };
    }
    if let Some(tool) = Tool::from_name(command) {
        return Spelling::Carries(Carried {
            tool,
            args_from: i + 1,
            install: InstallFrom::Bundle { gemfile },
            paths,
        });
    }
    // `bundle exec bin/rails`: Bundler runs a path as it is.
    if command.as_encoded_bytes().contains(&b'/')
        && let Some(tool) = script_tool(command)
    {
        paths.push(PathArg {
            index: i,
            prefix: 0,
        });
        return Spelling::Carries(Carried {
            tool,
            args_from: i + 1,
            install: InstallFrom::Script {
                index: i,
                dir: None,
            },
            paths,
        });
    }
    Spelling::PassThrough("not one of Mastodon's commands")
}

/// The tool a script path is named after (`bin/rails`, `/x/bin/tootctl`).
/// Whether it really is an install's `bin/` script is decided later, on
/// the file itself.
fn script_tool(script: &OsString) -> Option<Tool> {
    Path::new(script).file_name().and_then(Tool::from_name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<OsString> {
        list.iter().map(OsString::from).collect()
    }

    fn carried(shim: Shim, list: &[&str]) -> Carried {
        match read(shim, &args(list)) {
            Spelling::Carries(c) => c,
            Spelling::PassThrough(why) => panic!("{list:?} passed through: {why}"),
        }
    }

    fn passes(shim: Shim, list: &[&str]) -> &'static str {
        match read(shim, &args(list)) {
            Spelling::PassThrough(why) => why,
            Spelling::Carries(c) => panic!("{list:?} carries {c:?}"),
        }
    }

    fn script(index: usize) -> InstallFrom {
        InstallFrom::Script { index, dir: None }
    }

    #[test]
    fn the_bare_shims_carry_their_own_tool_with_every_argument() {
        for tool in Tool::ALL {
            let c = carried(Shim::Tool(tool), &["--help", "db:migrate"]);
            assert_eq!(c.tool, tool);
            assert_eq!(c.args_from, 0);
            assert_eq!(c.install, InstallFrom::Lookup);
            assert!(c.paths.is_empty());
        }
    }

    #[test]
    fn ruby_carries_the_bin_script_it_runs() {
        for (list, tool, index) in [
            (&["bin/tootctl", "accounts", "list"][..], Tool::Tootctl, 0),
            (&["./bin/rails", "db:migrate"], Tool::Rails, 0),
            (&["/home/mastodon/live/bin/rake", "-T"], Tool::Rake, 0),
            (&["-w", "bin/rails", "db:migrate"], Tool::Rails, 1),
            (&["-wd", "bin/rails"], Tool::Rails, 1),
            (&["-W2", "bin/rails"], Tool::Rails, 1),
            (&["-W:no-deprecated", "bin/rails"], Tool::Rails, 1),
            (&["-I", "lib", "-rjson", "bin/rails"], Tool::Rails, 3),
            (&["-Ilib", "-r", "json", "bin/tootctl"], Tool::Tootctl, 3),
            (
                &[
                    "--disable-gems",
                    "--enable=frozen-string-literal",
                    "bin/rails",
                ],
                Tool::Rails,
                2,
            ),
            (&["--enable", "yjit", "bin/rails"], Tool::Rails, 2),
            (&["--", "bin/tootctl", "-e", "x"], Tool::Tootctl, 1),
        ] {
            let c = carried(Shim::Ruby, list);
            assert_eq!((c.tool, c.args_from), (tool, index + 1), "{list:?}");
            assert_eq!(c.install, script(index), "{list:?}");
            assert_eq!(c.paths, vec![PathArg { index, prefix: 0 }], "{list:?}");
        }
    }

    #[test]
    fn after_an_unknown_ruby_option_a_mastodon_script_is_still_carried() {
        for list in [
            &["--backtrace-limit", "5", "bin/tootctl", "x"][..],
            &["--frobnicate", "bin/tootctl", "x"],
            &["-Q", "5", "bin/tootctl", "x"],
        ] {
            let c = carried(Shim::Ruby, list);
            assert_eq!(c.tool, Tool::Tootctl, "{list:?}");
            assert_eq!(c.args_from, list.len() - 1, "{list:?}");
        }
    }

    #[test]
    fn ruby_options_after_the_script_belong_to_the_script() {
        let c = carried(Shim::Ruby, &["bin/tootctl", "-e", "--help"]);
        assert_eq!(c.args_from, 1);
    }

    #[test]
    fn ruby_dash_c_names_the_directory_the_script_is_relative_to() {
        let c = carried(Shim::Ruby, &["-C", "/srv/live", "bin/rails", "db:migrate"]);
        assert_eq!(
            c.install,
            InstallFrom::Script {
                index: 2,
                dir: Some("/srv/live".into())
            }
        );
        assert_eq!(
            c.paths,
            vec![PathArg {
                index: 1,
                prefix: 0
            }]
        );
        let c = carried(Shim::Ruby, &["-wC../live", "bin/rails"]);
        assert_eq!(
            c.install,
            InstallFrom::Script {
                index: 1,
                dir: Some("../live".into())
            }
        );
        assert_eq!(
            c.paths,
            vec![PathArg {
                index: 0,
                prefix: 3
            }]
        );
    }

    #[test]
    fn ruby_without_a_mastodon_script_passes_through() {
        for list in [
            &["-e", "puts 1"][..],
            &["-we", "puts 1"],
            &["-c", "bin/rails"],
            &["-h"],
            &["--version"],
            &["-v"],
            &[],
            &["-"],
            &["script.rb", "bin/rails"],
            &["-S", "rails"],
            &["-x", "bin/rails"],
            &["-Q", "rails"],
            &["--frobnicate", "x"],
            &["-I"],
            &["-C", "dir", "-C", "dir2", "bin/rails"],
        ] {
            passes(Shim::Ruby, list);
        }
    }

    #[test]
    fn bundle_exec_carries_rails_rake_and_tootctl_from_the_bundlers_project() {
        for (list, tool, from) in [
            (&["exec", "rails", "db:migrate"][..], Tool::Rails, 2),
            (&["exec", "rake", "db:migrate"], Tool::Rake, 2),
            (&["exec", "tootctl", "accounts", "list"], Tool::Tootctl, 2),
            (&["e", "rails"], Tool::Rails, 2),
            (&["exe", "rails"], Tool::Rails, 2),
            (&["--verbose", "exec", "rails"], Tool::Rails, 3),
            (&["--retry", "3", "exec", "rails"], Tool::Rails, 4),
            (
                &["exec", "--keep-file-descriptors", "rails"],
                Tool::Rails,
                3,
            ),
        ] {
            let c = carried(Shim::Bundle, list);
            assert_eq!((c.tool, c.args_from), (tool, from), "{list:?}");
            assert_eq!(c.install, InstallFrom::Bundle { gemfile: None });
        }
        let c = carried(
            Shim::Bundle,
            &["exec", "--gemfile", "../live/Gemfile", "rails"],
        );
        assert_eq!(
            c.install,
            InstallFrom::Bundle {
                gemfile: Some("../live/Gemfile".into())
            }
        );
        assert_eq!(
            c.paths,
            vec![PathArg {
                index: 2,
                prefix: 0
            }]
        );
        let c = carried(Shim::Bundle, &["exec", "--gemfile=G", "rake"]);
        assert_eq!(
            c.paths,
            vec![PathArg {
                index: 1,
                prefix: 10
            }]
        );
    }

    #[test]
    fn bundle_exec_of_a_bin_script_or_of_ruby_carries_the_script() {
        let c = carried(Shim::Bundle, &["exec", "bin/rails", "db:migrate"]);
        assert_eq!(
            (c.tool, c.args_from, c.install),
            (Tool::Rails, 2, script(1))
        );
        let c = carried(Shim::Bundle, &["exec", "ruby", "bin/tootctl", "media"]);
        assert_eq!(
            (c.tool, c.args_from, c.install),
            (Tool::Tootctl, 3, script(2))
        );
        let c = carried(Shim::Bundle, &["exec", "/x/live/bin/tootctl"]);
        assert_eq!(c.install, script(1));
    }

    #[test]
    fn bin_bundle_run_by_ruby_is_bundler() {
        let c = carried(Shim::Ruby, &["bin/bundle", "exec", "rails", "db:migrate"]);
        assert_eq!(c.tool, Tool::Rails);
        assert_eq!(c.args_from, 3);
        assert_eq!(c.install, InstallFrom::Bundle { gemfile: None });
        passes(Shim::Ruby, &["bin/bundle", "install"]);
    }

    #[test]
    fn everything_else_bundle_does_passes_through() {
        for list in [
            &["install"][..],
            &["--version"],
            &["exec"],
            &["exec", "rspec"],
            &["exec", "ruby", "-e", "1"],
            &["exec", "--gemfile"],
            &["exec", "--unknown", "rails"],
            &["config", "set", "deployment", "true"],
            &[],
        ] {
            passes(Shim::Bundle, list);
        }
    }
}
