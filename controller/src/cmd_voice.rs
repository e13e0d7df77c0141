//! `attune run --arm voice`, `attune transcribe`, `attune say`, `attune audio`
//! (speech issue).

use crate::engine_args::EngineArgs;
use clap::{Args, Subcommand};
use std::path::PathBuf;

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Which arm: voice.
    #[arg(long)]
    pub arm: String,
    #[command(flatten)]
    pub engine: EngineArgs,
}

#[derive(Debug, Args)]
pub struct TranscribeArgs {
    pub file: PathBuf,
}

#[derive(Debug, Args)]
pub struct SayArgs {
    pub text: String,
    #[arg(long)]
    pub out: PathBuf,
}

#[derive(Debug, Subcommand)]
pub enum AudioCmd {
    /// List audio devices.
    Devices,
}

pub fn run_arm(_a: RunArgs) -> anyhow::Result<()> {
    anyhow::bail!("attune run: not built yet")
}
pub fn run_transcribe(_a: TranscribeArgs) -> anyhow::Result<()> {
    anyhow::bail!("attune transcribe: not built yet")
}
pub fn run_say(_a: SayArgs) -> anyhow::Result<()> {
    anyhow::bail!("attune say: not built yet")
}
pub fn run_audio(_c: AudioCmd) -> anyhow::Result<()> {
    anyhow::bail!("attune audio: not built yet")
}
