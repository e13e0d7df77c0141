//! `attune chat` and `attune fingerprint`.

use crate::engine_args::EngineArgs;
use clap::Args;
use std::path::PathBuf;

#[derive(Debug, Args)]
pub struct ChatArgs {
    /// One participant turn per line (`-` = stdin); prints one JSON object per turn.
    #[arg(long)]
    pub script: Option<PathBuf>,
    #[command(flatten)]
    pub engine: EngineArgs,
}

#[derive(Debug, Args)]
pub struct FingerprintArgs {
    #[command(flatten)]
    pub engine: EngineArgs,
}

pub fn run_chat(_a: ChatArgs) -> anyhow::Result<()> {
    anyhow::bail!("attune chat: not built yet")
}

pub fn run_fingerprint(_a: FingerprintArgs) -> anyhow::Result<()> {
    anyhow::bail!("attune fingerprint: not built yet")
}
