//! Flags shared by every conversational arm (`attune chat`, `attune run`).

use clap::{Args, ValueEnum};
use std::path::PathBuf;

/// Which LLM path answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LlmChoice {
    /// The embedded `attune-llm` server, started and supervised by attune.
    Local,
    /// An external OpenAI-compatible server from `[llm]` in the config.
    Openai,
    /// The deterministic reflective-listening engine, no LLM at all.
    Reflect,
}

/// Which dialogue policy runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PolicyChoice {
    /// Attunement-first: reflect, validate, ask; validator on every draft.
    Attuned,
    /// Plain helpful-assistant prompt straight to the LLM, no validator.
    Assistant,
}

/// The chat flags (acceptance checks use exactly these names).
#[derive(Debug, Clone, Args)]
pub struct EngineArgs {
    /// LLM path: local | openai | reflect (default from config).
    #[arg(long, value_enum)]
    pub llm: Option<LlmChoice>,
    /// Dialogue policy: attuned | assistant (default from config).
    #[arg(long, value_enum)]
    pub policy: Option<PolicyChoice>,
    /// Session store (SQLite file).
    #[arg(long)]
    pub db: Option<PathBuf>,
    /// Participant id.
    #[arg(long)]
    pub participant: Option<String>,
    /// Study day (1-based).
    #[arg(long)]
    pub day: Option<u32>,
    /// Config file (TOML); defaults are compiled in.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Keep the session store in memory only: turns, staff alerts and crisis
    /// state are lost at exit. Required for `--db :memory:` or an empty
    /// `store.path`; printed as a warning.
    #[arg(long)]
    pub ephemeral: bool,
}
