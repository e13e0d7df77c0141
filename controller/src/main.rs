//! `attune`: the controller binary.
//!
//! # Layout
//! - [`alerts`] — staff-alert delivery to a file and/or a command.
//! - [`config`] — the typed TOML config tree, defaults, validation.
//! - [`engine_args`] — the flags every conversational arm shares.
//! - [`cmd_chat`] — `attune chat`, `attune fingerprint` (the chatbot arm).
//! - [`cmd_head`] — `attune head ...` (servo head tools and simulator).
//! - [`cmd_voice`] — `attune run --arm voice`, `transcribe`, `say`, `audio`.
//! - [`cmd_eval_asr`] — `attune eval asr`: WER of file transcription vs the voice loop.
//! - [`llm_supervisor`] — starts and restarts the local `attune-llm` server.
//! - [`session`] — a conversation session: engine + store (+ local LLM), shared by every arm.
//! - [`store`] — the SQLite session store (WAL, migrations).

mod alerts;
mod cmd_chat;
mod cmd_eval_asr;
mod cmd_head;
mod cmd_voice;
mod config;
mod engine_args;
mod llm_supervisor;
mod session;
mod store;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

#[derive(Parser)]
#[command(name = "attune", version, about = "Controller for the attune companion robot")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Text chatbot in the terminal (the chatbot arm); `--script FILE` for JSONL.
    Chat(cmd_chat::ChatArgs),
    /// Print the engine fingerprint for a config.
    Fingerprint(cmd_chat::FingerprintArgs),
    /// Config helpers.
    Config {
        #[command(subcommand)]
        cmd: config::ConfigCmd,
    },
    /// The embedded LLM server.
    Llm {
        #[command(subcommand)]
        cmd: llm_supervisor::LlmCmd,
    },
    /// Servo head tools and simulator.
    Head {
        #[command(subcommand)]
        cmd: cmd_head::HeadCmd,
    },
    /// Run an arm (`--arm voice`).
    Run(cmd_voice::RunArgs),
    /// Transcribe a WAV file.
    Transcribe(cmd_voice::TranscribeArgs),
    /// Speak text into a WAV file.
    Say(cmd_voice::SayArgs),
    /// Audio device helpers.
    Audio {
        #[command(subcommand)]
        cmd: cmd_voice::AudioCmd,
    },
    /// Evaluations on generated or held-out sets.
    Eval {
        #[command(subcommand)]
        cmd: EvalCmd,
    },
}

#[derive(Subcommand)]
enum EvalCmd {
    /// Speech recognition: WER of `attune transcribe` vs the voice loop on a clip set.
    Asr(cmd_eval_asr::EvalAsrArgs),
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("ATTUNE_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let result = match cli.cmd {
        Cmd::Chat(a) => cmd_chat::run_chat(a),
        Cmd::Fingerprint(a) => cmd_chat::run_fingerprint(a),
        Cmd::Config { cmd } => config::run(cmd),
        Cmd::Llm { cmd } => llm_supervisor::run(cmd),
        Cmd::Head { cmd } => cmd_head::run(cmd),
        Cmd::Run(a) => cmd_voice::run_arm(a),
        Cmd::Transcribe(a) => cmd_voice::run_transcribe(a),
        Cmd::Say(a) => cmd_voice::run_say(a),
        Cmd::Audio { cmd } => cmd_voice::run_audio(cmd),
        Cmd::Eval { cmd: EvalCmd::Asr(a) } => cmd_eval_asr::run(a),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("attune: error: {e:#}");
            ExitCode::from(1)
        }
    }
}
