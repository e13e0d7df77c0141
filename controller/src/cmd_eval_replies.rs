//! `attune eval replies --script FILE [--llm ...] [--policy ...] [--config FILE]`:
//! runs one session over a script of participant turns and prints, per kind
//! of turn (the reasoner's `user_act`), where the replies came from (llm /
//! reflect / protocol / rule / staff), the validator's flags and the fallback rate,
//! so the effect of a model or a prompt change is one command away.
//!
//! Design: the session is a real one (same engine, same store code), but
//! without `--db` it is written to a temporary store that is deleted
//! afterwards, so evaluations never mix with a study's sessions.

use crate::engine_args::EngineArgs;
use crate::session::{ChatSession, TurnReport};
use anyhow::Context;
use attune_dialogue::engine::ReplySource;
use clap::Args;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::PathBuf;

#[derive(Debug, Args)]
pub struct EvalRepliesArgs {
    /// One participant turn per line (`-` = stdin).
    #[arg(long)]
    pub script: PathBuf,
    /// Print the summary as one JSON object instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Also print each turn's reply, source and flags (to stderr).
    #[arg(long)]
    pub turns: bool,
    #[command(flatten)]
    pub engine: EngineArgs,
}

/// Tallies for one kind of turn.
#[derive(Debug, Default, Clone, Serialize, PartialEq)]
pub struct Row {
    /// Turns of this kind.
    pub turns: u32,
    /// Replies by source.
    pub llm: u32,
    /// See `llm`.
    pub reflect: u32,
    /// See `llm`.
    pub protocol: u32,
    /// See `llm`.
    pub rule: u32,
    /// See `llm` (a staff member's wizard-of-oz line, over the bus).
    pub staff: u32,
    /// Turns whose reply is a fallback.
    pub fallback: u32,
    /// Turns with at least one validator flag on any draft.
    pub flagged: u32,
    /// Rewrites requested.
    pub rewrites: u32,
    /// Flag name → turns that raised it.
    pub flags: BTreeMap<String, u32>,
}

impl Row {
    fn add(&mut self, r: &TurnReport) {
        self.turns += 1;
        match r.source {
            ReplySource::Llm => self.llm += 1,
            ReplySource::Reflect => self.reflect += 1,
            ReplySource::Protocol => self.protocol += 1,
            ReplySource::Rule => self.rule += 1,
            ReplySource::Staff => self.staff += 1,
        }
        if r.fallback {
            self.fallback += 1;
        }
        if !r.validator.flags.is_empty() {
            self.flagged += 1;
        }
        self.rewrites += r.validator.rewrites;
        for f in &r.validator.flags {
            *self.flags.entry(f.as_str().to_string()).or_default() += 1;
        }
    }

    /// fallback / turns.
    pub fn fallback_rate(&self) -> f64 {
        f64::from(self.fallback) / f64::from(self.turns.max(1))
    }
}

/// The whole evaluation.
#[derive(Debug, Default, Serialize)]
pub struct Summary {
    /// Engine fingerprint of the session.
    pub fingerprint: String,
    /// Backend (local / openai / reflect).
    pub backend: String,
    /// Per user_act.
    pub by_user_act: BTreeMap<String, Row>,
    /// Every turn.
    pub all: Row,
}

impl Summary {
    /// Adds one turn.
    pub fn add(&mut self, r: &TurnReport) {
        let act = serde_json::to_value(r.user_act).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_else(|| "unknown".into());
        self.by_user_act.entry(act).or_default().add(r);
        self.all.add(r);
        if self.backend.is_empty() {
            self.backend = r.backend.clone();
            self.fingerprint = r.fingerprint.clone();
        }
    }

    /// The printable table.
    pub fn table(&self) -> String {
        let mut s = format!("attune eval replies: backend {} | engine {}\n", self.backend, self.fingerprint);
        s.push_str(&format!(
            "{:<16}{:>6}{:>6}{:>9}{:>10}{:>6}{:>7}{:>10}{:>9}{:>10}  flags\n",
            "user_act", "turns", "llm", "reflect", "protocol", "rule", "staff", "fallback", "flagged", "rewrites"
        ));
        let line = |name: &str, r: &Row| {
            let flags: Vec<String> = r.flags.iter().map(|(k, v)| format!("{k}:{v}")).collect();
            format!(
                "{:<16}{:>6}{:>6}{:>9}{:>10}{:>6}{:>7}{:>9.0}%{:>9}{:>10}  {}\n",
                name,
                r.turns,
                r.llm,
                r.reflect,
                r.protocol,
                r.rule,
                r.staff,
                100.0 * r.fallback_rate(),
                r.flagged,
                r.rewrites,
                if flags.is_empty() { "-".to_string() } else { flags.join(" ") }
            )
        };
        for (act, r) in &self.by_user_act {
            s.push_str(&line(act, r));
        }
        s.push_str(&line("all", &self.all));
        s
    }
}

pub fn run(a: EvalRepliesArgs) -> anyhow::Result<()> {
    let text = if a.script.as_os_str() == "-" {
        std::io::read_to_string(std::io::stdin()).context("reading the script from stdin")?
    } else {
        std::fs::read_to_string(&a.script).with_context(|| format!("cannot read script {}", a.script.display()))?
    };
    let turns: Vec<&str> = text.lines().collect();
    if turns.is_empty() {
        anyhow::bail!("--script {}: no turns (one participant turn per line)", a.script.display());
    }
    let mut engine = a.engine.clone();
    let _tmp = match engine.db {
        Some(_) => None,
        None => {
            let dir = tempfile::tempdir().context("creating a temporary store directory")?;
            engine.db = Some(dir.path().join("eval.db"));
            Some(dir)
        }
    };
    let rt = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    let summary = rt.block_on(async {
        let mut session = ChatSession::open(&engine, "chatbot").await?;
        let mut summary = Summary::default();
        let outcome: anyhow::Result<()> = async {
            for (i, t) in turns.iter().enumerate() {
                let r = session.turn(t, None).await?;
                if a.turns {
                    let flags: Vec<&str> = r.validator.flags.iter().map(|f| f.as_str()).collect();
                    eprintln!("{:>3} {:?} [{:?}{}] {:?} -> {}", i + 1, r.user_act, r.source, if r.fallback { ", fallback" } else { "" }, flags, r.reply);
                }
                summary.add(&r);
            }
            Ok(())
        }
        .await;
        let closed = session.close().await;
        outcome?;
        closed?;
        anyhow::Ok(summary)
    })?;
    if a.json {
        println!("{}", serde_json::to_string(&summary)?);
    } else {
        print!("{}", summary.table());
    }
    Ok(())
}
