//! `attune eval ...`: evaluation commands. `eval risk FILE.jsonl` scores
//! the crisis layer on a labelled file (see `attune_dialogue::risk_eval`).

use anyhow::Context;
use attune_dialogue::engine::SemanticLayer;
use attune_dialogue::risk_eval::{parse_items, render, report, run as run_items};
use clap::{Args, Subcommand};
use std::path::PathBuf;

/// The evaluation commands.
#[derive(Debug, Subcommand)]
pub enum EvalCmd {
    /// Score the crisis layer on a labelled JSONL file: recall and
    /// specificity per category, a confusion table.
    Risk(RiskEvalArgs),
    /// One scripted session: reply sources, validator flags and fallback rate per kind of turn.
    Replies(crate::cmd_eval_replies::EvalRepliesArgs),
    /// Speech recognition: WER of `attune transcribe` vs the voice loop on a clip set.
    Asr(crate::cmd_eval_asr::EvalAsrArgs),
}

/// `attune eval risk FILE.jsonl`.
#[derive(Debug, Args)]
pub struct RiskEvalArgs {
    /// JSONL file, one `{"text", "expect": "none|low|high|imminent", "category"?, "context"?}` a line.
    pub file: PathBuf,
    /// Print the report (and every item's grade) as JSON.
    #[arg(long)]
    pub json: bool,
    /// Config file (TOML) for the `[crisis]` section; defaults are compiled in.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Grade with the lexical layer alone (no embedding model).
    #[arg(long)]
    pub lexical_only: bool,
    /// Also list the items whose grade missed the label.
    #[arg(long)]
    pub misses: bool,
}

pub fn run(cmd: EvalCmd) -> anyhow::Result<()> {
    match cmd {
        EvalCmd::Risk(a) => run_risk(a),
        EvalCmd::Replies(a) => crate::cmd_eval_replies::run(a),
        EvalCmd::Asr(a) => crate::cmd_eval_asr::run(a),
    }
}

fn run_risk(a: RiskEvalArgs) -> anyhow::Result<()> {
    let cfg = crate::config::Config::load(a.config.as_deref())?;
    let text = std::fs::read_to_string(&a.file).with_context(|| format!("cannot read {}", a.file.display()))?;
    let items = parse_items(&text).map_err(|e| anyhow::anyhow!("{}: {e}", a.file.display()))?;
    let mut crisis = cfg.crisis.clone();
    if a.lexical_only {
        crisis.semantic = false;
    }
    let layer = crate::risk_model::load(&crisis);
    let (semantic, mode) = match &layer {
        SemanticLayer::On(s) => (Some(s.clone()), "lexical+semantic"),
        SemanticLayer::Off => (None, "lexical"),
        SemanticLayer::Unavailable(_) => (None, "lexical (semantic unavailable)"),
    };
    let results = run_items(&items, &crisis, semantic.as_deref());
    let rep = report(&results);
    if a.json {
        let out = serde_json::json!({"file": a.file, "layers": mode, "report": rep, "items": results});
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        println!("{} ({} items, {mode})", a.file.display(), rep.n);
        print!("{}", render(&rep));
        if a.misses {
            println!();
            for r in results.iter().filter(|r| !r.hit) {
                println!("MISS [{}] expect {} got {}: {}", r.category, r.expect.as_str(), r.got.as_str(), r.text);
            }
        }
    }
    Ok(())
}
