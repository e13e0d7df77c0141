//! `attune`: the controller binary.
//!
//! # Layout
//! - [`alerts`] — staff-alert delivery to a file and/or a command.
//! - [`bus`] — the MQTT bus to staff: outbox, alerts and acks, commands, `attune bus`.
//! - [`cmd_behaviors`] — `attune behaviors plot` (behaviour trace timelines).
//! - [`config`] — the typed TOML config tree, defaults, validation.
//! - [`engine_args`] — the flags every conversational arm shares.
//! - [`cmd_chat`] — `attune chat`, `attune fingerprint` (the chatbot arm).
//! - [`cmd_eval`] — `attune eval risk|replies` (evaluation commands).
//! - [`cmd_eval_replies`] — `attune eval replies` (reply sources, flags, fallback rate).
//! - [`cmd_head`] — `attune head ...` (servo head tools and simulator).
//! - [`cmd_voice`] — `attune run --arm voice|robot`, `transcribe`, `say`, `audio`.
//! - [`robot`] — the robot arm's body: planner thread, head, simulator, trace.
//! - [`runner`] — the one session orchestrator (engine loop, shutdown,
//!   completion, observers) every arm's transport runs on.
//! - [`cmd_study`] — `attune study ...`, `attune session start` (the study runner).
//! - [`cmd_doctor`] — `attune doctor`, the pre-session checklist.
//! - [`cmd_eval_asr`] — `attune eval asr`: WER of file transcription vs the voice loop.
//! - [`llm_supervisor`] — starts and restarts the local `attune-llm` server.
//! - [`risk_model`] — loads the crisis layer's semantic second opinion.
//! - [`paths`] — telling whether two paths name the same file.
//! - [`recovery`] — closes sessions a crashed process left open.
//! - [`session`] — a conversation session: engine + store (+ local LLM), shared by every arm.
//! - [`store`] — the SQLite session store (WAL, migrations).
//! - [`study`] — study folders: protocol, allocation, questionnaires, export.
//! - [`web`] — `attune web`: participant chat page, questionnaires, staff dashboard.

mod alerts;
mod bus;
mod cmd_behaviors;
mod cmd_chat;
mod cmd_doctor;
mod cmd_eval;
mod cmd_eval_asr;
mod cmd_eval_replies;
mod cmd_head;
mod cmd_study;
mod cmd_voice;
mod config;
mod diskspace;
mod engine_args;
mod llm_supervisor;
mod pacing;
mod paths;
mod recovery;
mod robot;
mod runner;
mod risk_model;
mod session;
mod store;
mod study;
mod web;

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
    /// Run an arm (`--arm voice`, `--arm robot`).
    Run(cmd_voice::RunArgs),
    /// Behaviour planner tools (`plot` a trace).
    Behaviors {
        #[command(subcommand)]
        cmd: cmd_behaviors::BehaviorsCmd,
    },
    /// Transcribe a WAV file.
    Transcribe(cmd_voice::TranscribeArgs),
    /// Speak text into a WAV file.
    Say(cmd_voice::SayArgs),
    /// Audio device helpers.
    Audio {
        #[command(subcommand)]
        cmd: cmd_voice::AudioCmd,
    },
    /// The MQTT bus: monitor traffic, acknowledge alerts, send staff commands.
    Bus {
        #[command(subcommand)]
        cmd: bus::cli::BusCmd,
    },
    /// Study runner: init, enroll, status, withdraw, export.
    Study {
        #[command(subcommand)]
        cmd: cmd_study::StudyCmd,
    },
    /// Study sessions (`session start --study DIR --participant P --day N`).
    Session {
        #[command(subcommand)]
        cmd: cmd_study::SessionCmd,
    },
    /// Pre-session checklist; non-zero exit when a session would fail.
    Doctor(cmd_doctor::DoctorArgs),
    /// Evaluation commands (`eval risk FILE.jsonl`, `eval replies --script FILE`, `eval asr --set DIR`).
    Eval {
        #[command(subcommand)]
        cmd: cmd_eval::EvalCmd,
    },
    /// The crisis layer's fine-tuned risk reader (`risk-reader train`).
    RiskReader {
        #[command(subcommand)]
        cmd: cmd_eval::ReaderCmd,
    },
    /// The web front: participant chat page and staff dashboard (`web --study DIR`), `web user add`.
    Web(web::WebArgs),
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
        Cmd::RiskReader { cmd } => cmd_eval::run_reader(cmd),
        Cmd::Config { cmd } => config::run(cmd),
        Cmd::Llm { cmd } => llm_supervisor::run(cmd),
        Cmd::Head { cmd } => cmd_head::run(cmd),
        Cmd::Run(a) => cmd_voice::run_arm(a),
        Cmd::Behaviors { cmd } => cmd_behaviors::run(cmd),
        Cmd::Transcribe(a) => cmd_voice::run_transcribe(a),
        Cmd::Say(a) => cmd_voice::run_say(a),
        Cmd::Audio { cmd } => cmd_voice::run_audio(cmd),
        Cmd::Bus { cmd } => bus::cli::run(cmd),
        Cmd::Study { cmd } => cmd_study::run(cmd),
        Cmd::Session { cmd } => cmd_study::run_session(cmd),
        Cmd::Doctor(a) => cmd_doctor::run(a),
        Cmd::Eval { cmd } => cmd_eval::run(cmd),
        Cmd::Web(a) => web::run(a),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("attune: error: {}", error_chain(&e));
            ExitCode::from(1)
        }
    }
}

/// The error and its causes joined by ": ", skipping a cause whose text the
/// message before it already ends with (error types that print their
/// source and also return it would otherwise say it twice, e.g.
/// "No such file or directory: No such file or directory").
fn error_chain(e: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if out.ends_with(text.as_str()) {
            continue;
        }
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(&text);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("cannot open head port /dev/x: {source}")]
    struct Open {
        source: std::io::Error,
    }

    #[test]
    fn an_error_that_prints_its_source_does_not_print_it_twice() {
        let io = std::io::Error::new(std::io::ErrorKind::NotFound, "No such file or directory");
        let e = anyhow::Error::new(Open { source: io }).context("head ping");
        assert_eq!(error_chain(&e), "head ping: cannot open head port /dev/x: No such file or directory");
        let plain = anyhow::anyhow!("inner").context("outer");
        assert_eq!(error_chain(&plain), "outer: inner");
    }
}
