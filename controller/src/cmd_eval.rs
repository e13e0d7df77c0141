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
        SemanticLayer::On(s) if s.reader().is_some() => (Some(s.clone()), "lexical+semantic+reader"),
        SemanticLayer::On(s) => (Some(s.clone()), "lexical+semantic (risk reader absent)"),
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

/// `attune risk-reader ...`: the crisis layer's fine-tuned risk reader.
#[derive(Debug, Subcommand)]
pub enum ReaderCmd {
    /// Train the risk reader from the compiled-in labelled statements and
    /// the installed embedding model; writes `reader.safetensors` and
    /// `reader.json` (about 7 minutes on 2 cores). Does nothing when the
    /// installed reader is already the one this build would train.
    Train(ReaderTrainArgs),
}

/// `attune risk-reader train`.
#[derive(Debug, Args)]
pub struct ReaderTrainArgs {
    /// Config file (TOML) for `crisis.semantic_model_dir` and `crisis.reader_dir`.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Write here instead of `crisis.reader_dir` (default `<data dir>/models/risk-reader`).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Train even when an up-to-date reader is installed.
    #[arg(long)]
    pub force: bool,
    /// ESConv `dev.jsonl` (CC BY-NC, read here and never copied; its seeker
    /// turns are trained on as ordinary talk); default `$ATTUNE_ESCONV`.
    /// `failed-esconv.json` beside it is read too when present.
    #[arg(long)]
    pub esconv: Option<PathBuf>,
}

pub fn run_reader(cmd: ReaderCmd) -> anyhow::Result<()> {
    use attune_dialogue::reader::{training_texts, Recipe, RiskReader};
    let ReaderCmd::Train(a) = cmd;
    let cfg = crate::config::Config::load(a.config.as_deref())?;
    let base = crate::risk_model::model_dir(&cfg.crisis);
    let out = a.out.clone().unwrap_or_else(|| crate::risk_model::reader_dir(&cfg.crisis));
    if !a.force {
        match RiskReader::load(&out, &base) {
            Ok(r) => {
                println!("risk reader in {} is up to date (weights sha256 {}); --force retrains", out.display(), r.weights_sha256());
                return Ok(());
            }
            Err(e) => eprintln!("risk-reader: training ({e})"),
        }
    }
    let recipe = Recipe::default();
    let Some(dev) = a.esconv.clone().or_else(|| std::env::var_os("ATTUNE_ESCONV").map(PathBuf::from)) else {
        anyhow::bail!(
            "the risk reader trains on {} ESConv seeker turns as ordinary talk: give --esconv PATH/dev.jsonl or set ATTUNE_ESCONV \
             (ESConv is CC BY-NC; see the README). Without a reader the crisis layer runs on its lexical layer and exemplars, and says so.",
            recipe.esconv_turns
        );
    };
    let dev_text = std::fs::read_to_string(&dev).with_context(|| format!("cannot read ESConv at {}", dev.display()))?;
    let failed = std::fs::read_to_string(dev.with_file_name("failed-esconv.json")).ok();
    let esconv = attune_dialogue::reader::esconv_negatives(&dev_text, failed.as_deref(), recipe.esconv_turns).map_err(|e| anyhow::anyhow!("{}: {e}", dev.display()))?;
    if esconv.len() < recipe.esconv_turns {
        anyhow::bail!("{} gave {} ordinary seeker turns; the risk reader trains on {}", dev.display(), esconv.len(), recipe.esconv_turns);
    }
    let texts = training_texts();
    let mut reader = RiskReader::train(&base, &texts, &esconv, recipe, |line| eprintln!("risk-reader: {line}"))
        .with_context(|| format!("training the risk reader from {}", base.display()))?;
    reader.save(&out)?;
    let m = reader.meta();
    println!(
        "risk reader trained in {:.0} s on {} texts ({} of them ESConv turns; none {}, check-in {}, protocol {}); final loss {:.4}; written to {} (weights sha256 {})",
        m.seconds,
        texts.len() + esconv.len(),
        esconv.len(),
        m.texts[0],
        m.texts[1],
        m.texts[2],
        m.losses.last().copied().unwrap_or(f64::NAN),
        out.display(),
        reader.weights_sha256()
    );
    Ok(())
}
