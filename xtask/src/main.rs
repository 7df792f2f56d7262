//! Build-time tasks, run as `cargo xtask TASK` (the alias is in
//! `.cargo/config.toml`). One task so far:
//!
//! `cargo xtask man [--date YYYY-MM-DD] DIR` writes the man pages into DIR:
//! tootguard(1), one page per visible subcommand (`tootguard-upgrade(1)`,
//! …; hidden ones are left out, as from `--help`) and tootguard-shim(1).
//! They are made by clap_mangen from the clap definitions `--help` is made
//! from, and the ENVIRONMENT and EXIT STATUS sections from the tables the
//! README's are held to (`tootguard::reference`).
//!
//! Why a workspace member and not a hidden `tootguard` subcommand: the man
//! pages are built once, for the package, so clap_mangen and roff have no
//! business in the binary every admin runs (and never in `tootguard-shim`,
//! whose size and start-up are measured). `--date` keeps the pages
//! reproducible: `scripts/release` passes the date of SOURCE_DATE_EPOCH.

use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap_mangen::Man;
use clap_mangen::roff::{Roff, bold, roman};
use tootguard::reference::{self, SETTINGS, STATUSES};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        ["man", "--date", date, dir] => man(Path::new(dir), Some(date)),
        ["man", dir] => man(Path::new(dir), None),
        _ => Err("usage: cargo xtask man [--date YYYY-MM-DD] DIR".into()),
    };
    match result {
        Ok(pages) => {
            for page in pages {
                println!("{}", page.display());
            }
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("xtask: {err}");
            ExitCode::FAILURE
        }
    }
}

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

/// Writes every page into `dir`; returns their paths.
fn man(dir: &Path, date: Option<&str>) -> Result<Vec<PathBuf>> {
    fs::create_dir_all(dir)?;
    let mut cmd = reference::command().disable_help_subcommand(true);
    cmd.build();
    let page = |cmd: clap::Command| {
        // The footer names the program and version, on every page.
        let man = Man::new(cmd)
            .manual("User Commands")
            .source(format!("tootguard {}", reference::VERSION));
        match date {
            Some(date) => man.date(date),
            None => man,
        }
    };
    let mut written = Vec::new();
    let mut write = |name: String, roff: Vec<u8>| -> Result<()> {
        let path = dir.join(name);
        fs::File::create(&path)?.write_all(&roff)?;
        written.push(path);
        Ok(())
    };

    // tootguard(1): clap's sections, then the tables.
    let top = page(cmd.clone());
    let mut out = Vec::new();
    top.render_title(&mut out)?;
    no_hyphenation(&mut out);
    top.render_name_section(&mut out)?;
    top.render_synopsis_section(&mut out)?;
    top.render_description_section(&mut out)?;
    top.render_options_section(&mut out)?;
    top.render_subcommands_section(&mut out)?;
    let mut roff = Roff::default();
    roff.control("SH", ["ENVIRONMENT"]);
    for s in SETTINGS {
        roff.control("TP", []);
        roff.text([bold(reference::plain(s.name))]);
        roff.text([roman(reference::plain(s.effect))]);
    }
    exit_status(&mut roff);
    see_also(&mut roff, &["tootguard-shim(1)", "sudo(8)"]);
    roff.to_writer(&mut out)?;
    top.render_version_section(&mut out)?;
    write(top.get_filename(), out)?;

    // One page per subcommand the help lists.
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        let man = page(sub.clone());
        let mut out = Vec::new();
        man.render_title(&mut out)?;
        no_hyphenation(&mut out);
        man.render_name_section(&mut out)?;
        man.render_synopsis_section(&mut out)?;
        man.render_description_section(&mut out)?;
        if sub.get_arguments().any(|a| !a.is_hide_set()) {
            man.render_options_section(&mut out)?;
        }
        let mut roff = Roff::default();
        roff.control("SH", ["SEE ALSO"]);
        roff.text([
            bold("tootguard"),
            roman("(1), for the environment and the exit statuses."),
        ]);
        roff.to_writer(&mut out)?;
        man.render_version_section(&mut out)?;
        write(man.get_filename(), out)?;
    }

    // tootguard-shim(1): the binary the shims link to has no command line
    // of its own, but it is in /usr/bin and gets a page.
    let shim = clap::Command::new("tootguard-shim")
        .version(reference::VERSION)
        .about(reference::SHIM_ABOUT)
        .long_about(reference::SHIM_DESCRIPTION)
        .override_usage("rails|rake|tootctl|ruby|bundle [ARGS]...")
        .disable_help_flag(true)
        .disable_version_flag(true);
    let man = page(shim);
    let mut out = Vec::new();
    man.render_title(&mut out)?;
    no_hyphenation(&mut out);
    man.render_name_section(&mut out)?;
    man.render_synopsis_section(&mut out)?;
    man.render_description_section(&mut out)?;
    let mut roff = Roff::default();
    exit_status(&mut roff);
    see_also(&mut roff, &["tootguard(1)", "tootguard-install(1)"]);
    roff.to_writer(&mut out)?;
    write(man.get_filename(), out)?;
    Ok(written)
}

/// `.nh` and `.ad l`: command names and paths (`tootguard-shim`,
/// `/usr/share/doc/tootguard`) are not broken at a line's end, and the
/// lines before a long one are not stretched to fill the width.
fn no_hyphenation(out: &mut Vec<u8>) {
    out.extend_from_slice(b".nh\n.ad l\n");
}

fn exit_status(roff: &mut Roff) {
    roff.control("SH", ["EXIT STATUS"]);
    for s in STATUSES {
        roff.control("TP", []);
        roff.text([bold(reference::status_name(s))]);
        roff.text([roman(reference::plain(s.meaning))]);
    }
}

fn see_also(roff: &mut Roff, pages: &[&str]) {
    roff.control("SH", ["SEE ALSO"]);
    let mut inlines = Vec::new();
    for (i, page) in pages.iter().enumerate() {
        let (name, section) = page.split_once('(').unwrap_or((page, ""));
        if i > 0 {
            inlines.push(roman(", "));
        }
        inlines.push(bold(name));
        inlines.push(roman(format!("({section}")));
    }
    inlines.push(roman(
        ", and the README, /usr/share/doc/tootguard/README.md.",
    ));
    roff.text(inlines);
}
