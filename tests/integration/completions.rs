//! `tootguard completions`: the checked-in scripts are current, and each one
//! completes in the real shell. bash runs the completion function the way
//! readline would (`COMP_WORDS` split at `COMP_WORDBREAKS`), zsh completes a
//! typed line under `zpty` with compinit loaded, and fish answers
//! `complete -C`. Every shell runs under the harness's 20 s limit. Each
//! script also passes its shell's linter.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::harness::{World, copy_tree};

const SHELLS: [(&str, &str); 3] = [
    ("bash", "tootguard.bash"),
    ("zsh", "_tootguard"),
    ("fish", "tootguard.fish"),
];

/// What `tootguard completions <shell>` prints.
fn script(shell: &str) -> String {
    let out = World::bare().tootguard().args(["completions", shell]).run();
    out.expect_code(0);
    out.stdout
}

/// The script for `shell`, written into the world's directory.
fn script_file(w: &World, shell: &str) -> PathBuf {
    let path = w.base().join(format!("script.{shell}"));
    fs::write(&path, script(shell)).unwrap();
    path
}

/// `tootguard install` into the world's HOME, as an admin would run it.
fn install(w: &World) {
    let bin = w.base().join("bin");
    let out = w
        .tootguard()
        .args(["install", "--dir"])
        .arg(&bin)
        .env("PATH", format!("{}:/usr/bin:/bin", bin.display()))
        .run();
    out.expect_code(0);
}

/// The candidates each line completed to, from `<LINE>`/`<HIT>` output.
struct Completions(HashMap<String, Vec<String>>);

impl Completions {
    fn parse(stdout: &str) -> Completions {
        let mut map = HashMap::new();
        let mut line = None;
        for out in stdout.lines() {
            let out = out.trim_end_matches('\r');
            if let Some(l) = out.split_once("<LINE>").map(|(_, l)| l.to_owned()) {
                map.insert(l.clone(), Vec::new());
                line = Some(l);
            } else if let (Some(hit), Some(l)) = (out.split_once("<HIT>"), &line) {
                map.get_mut(l).unwrap().push(hit.1.to_owned());
            }
        }
        Completions(map)
    }

    #[track_caller]
    fn of(&self, line: &str) -> &[String] {
        self.0
            .get(line)
            .unwrap_or_else(|| panic!("{line:?} was not completed: {:?}", self.0))
    }

    #[track_caller]
    fn expect(&self, line: &str, wanted: &[&str]) {
        let got = self.of(line);
        for w in wanted {
            assert!(
                got.iter().any(|g| g == w),
                "{line:?} offers {got:?}, not {w:?}"
            );
        }
    }

    #[track_caller]
    fn expect_exactly(&self, line: &str, wanted: &[&str]) {
        let mut got = self.of(line).to_vec();
        got.sort();
        let mut wanted: Vec<String> = wanted.iter().map(|w| (*w).to_owned()).collect();
        wanted.sort();
        assert_eq!(got, wanted, "completing {line:?}");
    }

    #[track_caller]
    fn expect_none_of(&self, line: &str, unwanted: &[&str]) {
        let got = self.of(line);
        for u in unwanted {
            assert!(
                !got.iter().any(|g| g == u),
                "{line:?} offers {u:?}: {got:?}"
            );
        }
    }
}

/// The lines every shell must complete, and what they must offer.
const TOOTCTL_LINES: [&str; 9] = [
    "tootctl ",
    "tootctl accounts cr",
    "tootctl settings registrations ",
    "tootctl email-domain-blocks ",
    "tootctl media remove --d",
    "tootctl media remove -",
    "tootctl settings registrations approved --require-",
    "tootguard ex",
    "tootguard tootctl acc",
];

#[track_caller]
fn expect_tootctl(c: &Completions) {
    c.expect(
        "tootctl ",
        &[
            "accounts",
            "media",
            "settings",
            "email_domain_blocks",
            "email-domain-blocks",
            "self-destruct",
            "version",
            "help",
        ],
    );
    c.expect_exactly("tootctl accounts cr", &["create"]);
    c.expect_exactly(
        "tootctl settings registrations ",
        &["open", "approved", "close", "help"],
    );
    c.expect_exactly(
        "tootctl email-domain-blocks ",
        &["list", "add", "remove", "help"],
    );
    c.expect_exactly("tootctl media remove --d", &["--days", "--dry-run"]);
    c.expect(
        "tootctl media remove -",
        &["-d", "--days", "-c", "--verbose"],
    );
    c.expect_exactly(
        "tootctl settings registrations approved --require-",
        &["--require-reason"],
    );
    c.expect_exactly("tootguard ex", &["explain"]);
    c.expect("tootguard tootctl acc", &["accounts"]);
}

#[test]
fn checked_in_completion_scripts_are_what_the_binary_prints() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("completions");
    let mut stale = Vec::new();
    for (shell, file) in SHELLS {
        let checked_in = fs::read_to_string(dir.join(file)).unwrap_or_default();
        if checked_in != script(shell) {
            stale.push(format!(
                "cargo run -q -- completions {shell} > completions/{file}"
            ));
        }
    }
    assert!(
        stale.is_empty(),
        "completions/ is out of date; regenerate with:\n{}",
        stale.join("\n")
    );
}

#[test]
fn the_scripts_name_the_mastodon_version_of_their_tootctl_commands() {
    for (shell, _) in SHELLS {
        let header: String = script(shell).lines().take(5).collect();
        assert!(header.contains("Mastodon 4.6.5"), "{shell}: {header}");
    }
}

// ---------------------------------------------------------------------------
// linters

/// A shell's linter: shellcheck for bash (its default checks), and for zsh
/// and fish, which have none, their own parser, which reads a script
/// without running it (`zsh -n`, `fish --no-execute`).
struct Linter {
    shell: &'static str,
    program: &'static str,
    /// Before the script's path.
    args: &'static [&'static str],
    /// Lines appended to the script that the linter must reject, with
    /// `caught` in what it says: a linter run that passed everything would
    /// pass the script too, and the test could not fail.
    planted: &'static str,
    caught: &'static str,
}

const LINTERS: [Linter; 3] = [
    Linter {
        shell: "bash",
        program: "shellcheck",
        // Every severity, style included; no .shellcheckrc changes that.
        args: &["--norc", "--shell=bash", "--severity=style"],
        // SC2207 is disabled for clap_complete's function alone: a disable
        // that covered the whole file would hide this one too.
        planted: "planted=($(compgen -W \"a b\"))\necho \"${planted[@]}\"\n",
        caught: "SC2207",
    },
    Linter {
        shell: "zsh",
        program: "zsh",
        args: &["--no-rcs", "--no-exec"],
        planted: "if true; then\n",
        caught: "parse error",
    },
    Linter {
        shell: "fish",
        program: "fish",
        args: &["--no-config", "--no-execute"],
        planted: "end\n",
        caught: "'end' outside of a block",
    },
];

impl Linter {
    fn run(&self, w: &World, script: &Path) -> crate::harness::Outcome {
        w.cmd(self.program).args(self.args).arg(script).run()
    }

    /// Lints the script in `path`, then a copy with the planted error.
    #[track_caller]
    fn check(&self, w: &World, path: &Path) {
        let out = self.run(w, path);
        assert!(
            out.code() == Some(0) && out.stdout.is_empty() && out.stderr.is_empty(),
            "{} finds fault with {} (status {:?}):\n{}{}",
            self.program,
            path.display(),
            out.code(),
            out.stdout,
            out.stderr
        );
        let planted = w.base().join(format!("planted.{}", self.shell));
        let mut text = fs::read_to_string(path).unwrap();
        text.push_str(self.planted);
        fs::write(&planted, text).unwrap();
        let out = self.run(w, &planted);
        assert!(
            out.code() != Some(0) && format!("{}{}", out.stdout, out.stderr).contains(self.caught),
            "{} does not report the error planted in {} (status {:?}):\n{}{}",
            self.program,
            path.display(),
            out.code(),
            out.stdout,
            out.stderr
        );
    }
}

/// The script as printed and as checked in, through `shell`'s linter.
#[track_caller]
fn lint(shell: &str) {
    let w = World::bare();
    let linter = LINTERS.iter().find(|l| l.shell == shell).unwrap();
    assert!(
        ["/usr/bin", "/bin"]
            .iter()
            .any(|dir| Path::new(dir).join(linter.program).exists()),
        "{} not found; install it (as root): scripts/install-test-deps",
        linter.program
    );
    let (_, file) = SHELLS.iter().find(|(s, _)| *s == shell).unwrap();
    linter.check(&w, &script_file(&w, shell));
    let checked_in = Path::new(env!("CARGO_MANIFEST_DIR")).join("completions");
    linter.check(&w, &checked_in.join(file));
}

#[test]
fn the_bash_script_passes_shellcheck() {
    lint("bash");
}

#[test]
fn the_zsh_script_passes_zsh_no_exec() {
    lint("zsh");
}

#[test]
fn the_fish_script_passes_fish_no_execute() {
    lint("fish");
}

// ---------------------------------------------------------------------------
// bash

/// The words bash gives a completion function: split at blanks and at the
/// `COMP_WORDBREAKS` characters `:` and `=`, which stand as words of their own.
fn comp_words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    for blank_separated in line.split(' ').filter(|w| !w.is_empty()) {
        let mut word = String::new();
        for c in blank_separated.chars() {
            if c == ':' || c == '=' {
                if !word.is_empty() {
                    words.push(std::mem::take(&mut word));
                }
                words.push(c.to_string());
            } else {
                word.push(c);
            }
        }
        if !word.is_empty() {
            words.push(word);
        }
    }
    if line.ends_with(' ') {
        words.push(String::new());
    }
    words
}

/// The world's PATH with tootguard itself on it: the scripts ask it for
/// tootctl's candidates.
fn path_with_tootguard(w: &World) -> String {
    format!(
        "{}:{}:/usr/bin:/bin",
        w.shims.display(),
        crate::harness::tootguard().parent().unwrap().display()
    )
}

fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// Runs `setup` in bash with bash-completion loaded, then completes each
/// line with whatever function `complete -p` names for its command.
fn bash(w: &World, setup: &str, lines: &[&str]) -> Completions {
    let mut driver = String::from(
        r#"source /usr/share/bash-completion/bash_completion || exit 99
comp() {
    local spec fn
    spec=$(complete -p "${COMP_WORDS[0]}" 2>/dev/null) || { echo "<LINE>$COMP_LINE"; return; }
    fn=${spec##*-F }
    fn=${fn%% *}
    COMP_POINT=${#COMP_LINE}
    COMPREPLY=()
    "$fn" "${COMP_WORDS[0]}" "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"
    echo "<LINE>$COMP_LINE"
    if ((${#COMPREPLY[@]})); then printf '<HIT>%s\n' "${COMPREPLY[@]}"; fi
}
"#,
    );
    driver.push_str(setup);
    driver.push('\n');
    for line in lines {
        let words = comp_words(line);
        let quoted: Vec<String> = words.iter().map(|w| sh_quote(w)).collect();
        writeln!(
            driver,
            "COMP_WORDS=({}) COMP_CWORD={} COMP_LINE={}; comp",
            quoted.join(" "),
            words.len() - 1,
            sh_quote(line)
        )
        .unwrap();
    }
    let path = w.base().join("driver.bash");
    fs::write(&path, driver).unwrap();
    let out = w
        .cmd("bash")
        .env("PATH", path_with_tootguard(w))
        .args(["--noprofile", "--norc"])
        .arg(&path)
        .run();
    out.expect_code(0);
    Completions::parse(&out.stdout)
}

#[test]
fn bash_completes_tootctl_groups_commands_options_and_both_spellings() {
    let w = World::bare();
    let setup = format!(
        "source {}",
        sh_quote(&script_file(&w, "bash").display().to_string())
    );
    let mut lines = TOOTCTL_LINES.to_vec();
    lines.extend([
        "tootctl search deploy --only ",
        "tootctl ip_blocks export --format=",
    ]);
    let c = bash(&w, &setup, &lines);
    expect_tootctl(&c);
    c.expect_exactly(
        "tootctl search deploy --only ",
        &[
            "instances",
            "accounts",
            "tags",
            "statuses",
            "public_statuses",
        ],
    );
    c.expect_exactly("tootctl ip_blocks export --format=", &["plain", "nginx"]);
}

#[test]
fn bash_completes_rails_tasks_after_their_colons() {
    let w = World::bare();
    let setup = format!(
        "source {}",
        sh_quote(&script_file(&w, "bash").display().to_string())
    );
    let c = bash(
        &w,
        &setup,
        &["rails db:mi", "rails db:migrate:r", "rails assets:"],
    );
    // bash replaces only the word after the last colon.
    c.expect_exactly(
        "rails db:mi",
        &["migrate", "migrate:up", "migrate:down", "migrate:redo"],
    );
    c.expect_exactly("rails db:migrate:r", &["redo"]);
    c.expect_exactly("rails assets:", &["precompile"]);
}

#[test]
fn bash_leaves_an_existing_rails_completion_alone() {
    let w = World::bare();
    let setup = format!(
        "_mine() {{ COMPREPLY=(mine); }}\ncomplete -F _mine rails\nsource {}",
        sh_quote(&script_file(&w, "bash").display().to_string())
    );
    let c = bash(&w, &setup, &["rails db:mi"]);
    c.expect_exactly("rails db:mi", &["mine"]);
}

#[test]
fn bash_loads_installed_completions_by_name_and_keeps_bash_completions_rake() {
    let w = World::bare();
    install(&w);
    let dir = w.base().join(".local/share/bash-completion/completions");
    for name in ["tootguard", "tootctl", "rails", "rake"] {
        assert!(dir.join(name).exists(), "{name} is not installed");
    }
    // bash-completion loads a completion the first time its command is
    // completed; the installed file is what it finds for all four names.
    let setup = r#"load() { if declare -F _comp_load >/dev/null; then _comp_load "$1"; else __load_completion "$1"; fi; }
load tootctl; load rails; load rake"#;
    let c = bash(
        &w,
        setup,
        &["tootctl accounts cr", "rails db:mi", "rake db:mi"],
    );
    c.expect_exactly("tootctl accounts cr", &["create"]);
    c.expect("rails db:mi", &["migrate"]);
    if Path::new("/usr/share/bash-completion/completions/rake").exists() {
        // bash-completion's own rake completion (it runs `rake -T`), not ours.
        c.expect_none_of("rake db:mi", &["migrate", "db:migrate"]);
    }
}

// ---------------------------------------------------------------------------
// zsh

/// Completes each line in a fresh interactive zsh under `zpty`, after
/// `setup` (which loads compinit and the script); a `compadd` wrapper prints
/// every candidate, and the first completion ends the shell.
fn zsh(w: &World, setup: &str, lines: &[&str]) -> Completions {
    let inner = w.base().join("setup.zsh");
    fs::write(
        &inner,
        format!(
            "PS1='' RPS1=''\nunsetopt zle_bracketed_paste 2>/dev/null\n{setup}\n{}",
            include_str!("zsh-capture.zsh")
        ),
    )
    .unwrap();
    let driver = w.base().join("driver.zsh");
    fs::write(
        &driver,
        format!(
            r#"zmodload zsh/zpty || exit 99
for line in "$@"; do
    zpty z zsh -f -i
    zpty -w z "source {inner}"
    zpty -r -m z out '*<READY>*'
    zpty -w -n z "$line"$'\t'
    zpty -r -m z out '*<END>*'
    zpty -d z
    print -r -- "<LINE>$line"
    print -r -- "$out"
done
"#,
            inner = inner.display()
        ),
    )
    .unwrap();
    // A pseudo-terminal session on a loaded machine can end a read early;
    // a run in which some line's completion did not reach its <END> is
    // repeated (at most three times), never judged.
    let mut out = None;
    for _ in 0..3 {
        let run = w
            .cmd("zsh")
            .env("PATH", path_with_tootguard(w))
            .arg("-f")
            .arg(&driver)
            .args(lines)
            .env("TERM", "xterm")
            .run();
        let complete = run.stdout.matches("<END>").count() >= lines.len();
        out = Some(run);
        if complete {
            break;
        }
    }
    let out = out.expect("at least one run");
    out.expect_code(0);
    // Only the hits printed after the line was typed count.
    Completions::parse(&out.stdout)
}

#[test]
fn zsh_autoloads_from_fpath_and_completes_tootctl_groups_commands_and_options() {
    let w = World::bare();
    install(&w);
    let fpath = w.base().join(".local/share/zsh/site-functions");
    assert!(fpath.join("_tootguard").exists());
    let setup = format!(
        "fpath=({} $fpath)\nautoload -Uz compinit && compinit -u -D",
        fpath.display()
    );
    let mut lines = TOOTCTL_LINES.to_vec();
    lines.extend(["rails db:mi", "tootctl search deploy --only "]);
    let c = zsh(&w, &setup, &lines);
    expect_tootctl(&c);
    c.expect_exactly(
        "rails db:mi",
        &[
            "db:migrate",
            "db:migrate:up",
            "db:migrate:down",
            "db:migrate:redo",
        ],
    );
    c.expect_exactly(
        "tootctl search deploy --only ",
        &[
            "instances",
            "accounts",
            "tags",
            "statuses",
            "public_statuses",
        ],
    );
}

#[test]
fn zsh_works_when_evaluated_after_compinit_and_keeps_an_existing_rails_completion() {
    let w = World::bare();
    let script = script_file(&w, "zsh");
    let setup = format!(
        r#"autoload -Uz compinit && compinit -u -D
_mine() {{ compadd mine }}
compdef _mine rails
eval "$(<{})""#,
        script.display()
    );
    let c = zsh(&w, &setup, &["tootctl accounts cr", "rails "]);
    c.expect_exactly("tootctl accounts cr", &["create"]);
    c.expect_exactly("rails ", &["mine"]);

    // The same shell, asked directly which function completes what.
    let out = w
        .cmd("zsh")
        .args(["-f", "-c"])
        .arg(format!(
            "autoload -Uz compinit && compinit -u -D; _mine() {{ compadd mine }}; compdef _mine rails; \
             eval \"$(<{})\"; print -r -- $_comps[tootctl] $_comps[rails] $_comps[tootguard]",
            script.display()
        ))
        .run();
    out.expect_code(0);
    assert_eq!(
        out.stdout.trim(),
        "_tootguard _mine _tootguard",
        "{}",
        out.stderr
    );
    assert!(out.stderr.is_empty(), "{}", out.stderr);
}

#[test]
fn zsh_defers_to_a_rails_completion_found_on_fpath() {
    let w = World::bare();
    install(&w);
    let theirs = w.base().join("theirs");
    fs::create_dir_all(&theirs).unwrap();
    fs::write(
        theirs.join("_rails"),
        "#compdef rails\ncompadd from-theirs\n",
    )
    .unwrap();
    let ours = w.base().join(".local/share/zsh/site-functions");
    // Ours first on fpath: compinit binds rails to us, and we step aside.
    let setup = format!(
        "fpath=({} {} $fpath)\nautoload -Uz compinit && compinit -u -D",
        ours.display(),
        theirs.display()
    );
    let c = zsh(&w, &setup, &["rails "]);
    c.expect_exactly("rails ", &["from-theirs"]);
}

// ---------------------------------------------------------------------------
// fish

/// `complete -C LINE` in fish for each line, after `setup`.
fn fish(w: &World, setup: &str, lines: &[&str]) -> Completions {
    let mut driver = String::from(setup);
    driver.push('\n');
    for line in lines {
        let quoted = format!("'{}'", line.replace('\\', r"\\").replace('\'', r"\'"));
        writeln!(
            driver,
            "echo '<LINE>'{quoted}\ncomplete -C {quoted} | string replace -r '\\t.*' '' | string replace -r '^' '<HIT>'"
        )
        .unwrap();
    }
    let path = w.base().join("driver.fish");
    fs::write(&path, driver).unwrap();
    let out = w
        .cmd("fish")
        .env("PATH", path_with_tootguard(w))
        .arg(&path)
        .run();
    out.expect_code(0);
    Completions::parse(&out.stdout)
}

#[test]
fn fish_completes_tootctl_groups_commands_options_and_both_spellings() {
    let w = World::bare();
    let setup = format!("source {}", script_file(&w, "fish").display());
    let mut lines = TOOTCTL_LINES.to_vec();
    lines.extend(["tootctl medai ", "rails db:mi"]);
    let c = fish(&w, &setup, &lines);
    expect_tootctl(&c);
    c.expect_exactly("tootctl medai ", &[]);
    c.expect_exactly(
        "rails db:mi",
        &[
            "db:migrate",
            "db:migrate:up",
            "db:migrate:down",
            "db:migrate:redo",
        ],
    );
}

#[test]
fn fish_loads_installed_completions_by_name_and_keeps_a_rake_fish_it_finds() {
    let w = World::bare();
    install(&w);
    let theirs = w.base().join("theirs");
    fs::create_dir_all(&theirs).unwrap();
    fs::write(
        theirs.join("rake.fish"),
        "complete -c rake -f -a from-theirs\n",
    )
    .unwrap();
    // fish finds tootctl.fish and rails.fish in ~/.config/fish/completions.
    let setup = format!("set -a fish_complete_path {}", theirs.display());
    let c = fish(
        &w,
        &setup,
        &[
            "tootctl accounts cr",
            "rails db:mi",
            "rake ",
            "tootguard ex",
        ],
    );
    c.expect_exactly("tootctl accounts cr", &["create"]);
    c.expect("rails db:mi", &["db:migrate"]);
    c.expect_exactly("rake ", &["from-theirs"]);
    c.expect_exactly("tootguard ex", &["explain"]);
}

// ---------------------------------------------------------------------------
// The tree of the install here (issue 13): upstream's own CLI files

/// A production install holding upstream's `lib/mastodon/cli`, `version.rb`
/// (and `ip_block.rb`) of `tag`, kept under tests/upstream.
fn upstream_root(tag: &str) -> World {
    let w = World::production();
    let from = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/upstream")
        .join(format!("mastodon-{tag}"));
    copy_tree(&from, &w.root);
    w
}

const VERSIONED_LINES: [&str; 2] = ["tootctl email_domain_blocks add --a", "tootctl feeds "];

/// What each version's tootctl takes, by upstream's files.
#[track_caller]
fn expect_version(c: &Completions, tag: &str) {
    if tag == "v4.6.0" {
        c.expect_exactly(
            "tootctl email_domain_blocks add --a",
            &["--allow-with-approval"],
        );
    } else {
        c.expect_exactly("tootctl email_domain_blocks add --a", &[]);
    }
    if tag == "v4.3.0" {
        c.expect_none_of("tootctl feeds ", &["vacuum"]);
        c.expect("tootctl feeds ", &["build", "clear"]);
    } else {
        c.expect("tootctl feeds ", &["build", "clear", "vacuum"]);
    }
}

#[test]
fn each_shell_offers_exactly_what_the_installed_version_of_tootctl_takes() {
    for tag in ["v4.3.0", "v4.4.0", "v4.5.0", "v4.6.0"] {
        let w = upstream_root(tag);
        let c = bash(
            &w,
            &format!("source {}", script_file(&w, "bash").display()),
            &VERSIONED_LINES,
        );
        expect_version(&c, tag);
        let c = fish(
            &w,
            &format!("source {}", script_file(&w, "fish").display()),
            &VERSIONED_LINES,
        );
        expect_version(&c, tag);
    }
    // zsh, through a pseudo-terminal, for the first and last versions.
    for tag in ["v4.3.0", "v4.6.0"] {
        let w = upstream_root(tag);
        install(&w);
        let fpath = w.base().join(".local/share/zsh/site-functions");
        let setup = format!(
            "fpath=({} $fpath)\nautoload -Uz compinit && compinit -u -D",
            fpath.display()
        );
        let c = zsh(&w, &setup, &VERSIONED_LINES);
        expect_version(&c, tag);
    }
}

#[test]
fn mastodon_root_is_followed_from_another_directory_and_no_install_gets_the_embedded_tree() {
    let w = upstream_root("v4.3.0");
    let elsewhere = w.base().join("elsewhere");
    fs::create_dir_all(&elsewhere).unwrap();
    let script = format!("source {}", script_file(&w, "bash").display());
    let out = w
        .cmd("bash")
        .env("PATH", path_with_tootguard(&w))
        .env("MASTODON_ROOT", &w.root)
        .dir(&elsewhere)
        .args(["--noprofile", "--norc", "-c"])
        .arg(format!(
            "{script}; COMP_WORDS=(tootctl feeds '') COMP_CWORD=2; _tootctl; \
             printf '<%s>' \"${{COMPREPLY[@]}}\""
        ))
        .run();
    out.expect_code(0);
    assert!(out.stdout.contains("<build>"), "{}", out.stdout);
    assert!(
        !out.stdout.contains("<vacuum>"),
        "4.3 has no feeds vacuum: {}",
        out.stdout
    );
    // No install at all: the embedded tree (4.6.5 has vacuum).
    let out = w
        .tootguard()
        .env("TOOTGUARD_DEFAULT_ROOT", "")
        .dir(&elsewhere)
        .args(["__complete", "bash", "--", "feeds", ""])
        .run();
    out.expect_code(0);
    assert!(out.stdout.lines().any(|l| l == "vacuum"), "{}", out.stdout);
    let tree = w
        .tootguard()
        .env("TOOTGUARD_DEFAULT_ROOT", "")
        .dir(&elsewhere)
        .args(["completions", "--tree"])
        .run();
    assert!(
        tree.stdout.starts_with("the embedded tree"),
        "{}",
        tree.stdout
    );
}

#[test]
fn a_garbled_cli_falls_back_to_the_embedded_tree_without_a_crash_or_a_hang_and_doctor_says_so() {
    let w = upstream_root("v4.5.0");
    fs::write(
        w.root.join("lib/mastodon/cli/main.rb"),
        b"\xff\x00 class Main < do do do\n",
    )
    .unwrap();
    let out = w
        .tootguard()
        .args(["__complete", "bash", "--", "feeds", ""])
        .run();
    out.expect_code(0);
    assert!(
        out.elapsed < std::time::Duration::from_secs(5),
        "{:?}",
        out.elapsed
    );
    assert!(
        out.stdout.lines().any(|l| l == "vacuum"),
        "the embedded tree: {}",
        out.stdout
    );
    let doctor = w.tootguard().args(["doctor", "--json"]).run();
    let checks = doctor.json();
    let row = crate::harness::row(&checks, "completion");
    assert_eq!(row["level"], "warn", "{row:#}");
    assert!(
        row["message"].as_str().unwrap().contains("falls back"),
        "{row:#}"
    );
}

#[test]
fn the_tree_is_cached_per_install_and_read_again_when_its_files_change() {
    let w = upstream_root("v4.5.0");
    let tree = |w: &World| w.tootguard().args(["completions", "--tree"]).run().stdout;
    let first = tree(&w);
    assert!(first.contains("Mastodon 4.5.0, read from"), "{first}");
    assert!(!first.contains("from the cache"), "{first}");
    assert!(tree(&w).contains("from the cache"));
    let cache = w.base().join(".cache/tootguard");
    assert_eq!(fs::read_dir(&cache).unwrap().count(), 1);
    // Another version checked out: other files, another tree.
    copy_tree(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/upstream/mastodon-v4.6.0"),
        &w.root,
    );
    let after = tree(&w);
    assert!(after.contains("Mastodon 4.6.0"), "{after}");
    assert!(after.contains("--allow-with-approval"), "{after}");
    assert!(!after.contains("from the cache"), "{after}");
    // Another install does not take this one's entry, even under its own
    // file name: the entry names its install and key.
    let other = upstream_root("v4.3.0");
    let other_cache = other.base().join(".cache/tootguard");
    let tree_of_other = |w: &World| w.tootguard().args(["completions", "--tree"]).run().stdout;
    assert!(tree_of_other(&other).contains("Mastodon 4.3.0"));
    let their_entry = fs::read_dir(&other_cache)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let ours = fs::read_dir(&cache)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    fs::copy(&ours, &their_entry).unwrap();
    let other_tree = tree_of_other(&other);
    assert!(other_tree.contains("Mastodon 4.3.0"), "{other_tree}");
    assert!(!other_tree.contains("from the cache"), "{other_tree}");
}

#[test]
fn a_cache_directory_or_entry_that_is_not_the_users_own_is_never_read() {
    let w = upstream_root("v4.5.0");
    let tree = |w: &World| w.tootguard().args(["completions", "--tree"]).run().stdout;
    tree(&w);
    let cache = w.base().join(".cache/tootguard");
    let entry = fs::read_dir(&cache)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    // An entry planted by someone else: a tree that was never there.
    let planted = fs::read_to_string(&entry)
        .unwrap()
        .replace("Mastodon 4.5.0", "PLANTED");
    fs::write(&entry, planted).unwrap();
    std::os::unix::fs::chown(&entry, Some(65534), None).unwrap();
    let out = tree(&w);
    assert!(!out.contains("PLANTED"), "{out}");
    // A cache directory others can write: not used at all.
    fs::remove_dir_all(&cache).unwrap();
    fs::create_dir_all(&cache).unwrap();
    fs::set_permissions(&cache, fs::Permissions::from_mode(0o777)).unwrap();
    tree(&w);
    assert!(!tree(&w).contains("from the cache"));
    assert_eq!(fs::read_dir(&cache).unwrap().count(), 0);
}

#[test]
fn an_install_tootguard_does_not_trust_is_not_read_for_completion() {
    let w = upstream_root("v4.3.0");
    // bin/ writable by others: the shim refuses it, and so does completion.
    fs::set_permissions(w.root.join("bin"), fs::Permissions::from_mode(0o777)).unwrap();
    let out = w.tootguard().args(["completions", "--tree"]).run();
    assert!(
        out.stdout.starts_with("the embedded tree"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("not one tootguard trusts"),
        "{}",
        out.stdout
    );
}

#[test]
fn the_tree_as_json_has_the_data_files_shape_and_reads_back_as_the_same_tree() {
    let w = upstream_root("v4.6.0");
    let out = w
        .tootguard()
        .args(["completions", "--tree", "--json"])
        .run();
    out.expect_code(0);
    let json = out.json();
    assert!(
        json["source"].as_str().unwrap().contains("4.6.0"),
        "{json:#}"
    );
    assert!(json["top_level"].is_array() && json["groups"].is_array());
    out.expect_stderr("read from");
}
