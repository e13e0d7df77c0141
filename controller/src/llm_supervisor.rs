//! Starts, health-checks and restarts the embedded `attune-llm` server when
//! config says the LLM is local; `attune llm serve` runs it in the foreground.

use clap::Subcommand;

#[derive(Debug, Subcommand)]
pub enum LlmCmd {
    /// Serve the configured GGUF on the OpenAI-compatible API (runs `attune-llm`).
    Serve {
        /// Arguments passed through to `attune-llm`.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
}

pub fn run(cmd: LlmCmd) -> anyhow::Result<()> {
    match cmd {
        LlmCmd::Serve { .. } => anyhow::bail!("attune llm serve: not built yet"),
    }
}
