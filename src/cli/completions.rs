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

pub fn run(_args: Args) -> anyhow::Result<u8> {
    anyhow::bail!("completions are not written yet")
}

pub fn install(
    _home: &std::path::Path,
    _xdg_data_home: Option<&std::path::Path>,
) -> anyhow::Result<Vec<String>> {
    Ok(Vec::new())
}
