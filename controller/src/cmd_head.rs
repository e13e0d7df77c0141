//! `attune head ...`: servo head tools and the simulator (servo-head issue).

use clap::Subcommand;

#[derive(Debug, Subcommand)]
pub enum HeadCmd {}

pub fn run(cmd: HeadCmd) -> anyhow::Result<()> {
    match cmd {}
}
