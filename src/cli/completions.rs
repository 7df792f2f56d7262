//! Shell completions (placeholder until the completions module lands).

use clap::ValueEnum;

/// Print a shell completion script for tootguard and tootctl
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The shell to complete in
    pub shell: Shell,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Shell {
    Bash,
    Zsh,
    Fish,
}

pub fn run(args: Args) -> anyhow::Result<u8> {
    let sh = match args.shell {
        Shell::Bash => clap_complete::Shell::Bash,
        Shell::Zsh => clap_complete::Shell::Zsh,
        Shell::Fish => clap_complete::Shell::Fish,
    };
    clap_complete::generate(
        sh,
        &mut super::command(),
        "tootguard",
        &mut std::io::stdout(),
    );
    Ok(0)
}
pub fn install(
    _home: &std::path::Path,
    _x: Option<&std::path::Path>,
) -> anyhow::Result<Vec<String>> {
    Ok(vec![])
}
