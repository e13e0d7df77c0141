//! Lists ESConv seeker turns the crisis layer grades above none, with their
//! text ids, so genuine risk turns can be labelled in
//! `dialogue/eval/esconv-genuine-risk.txt` (ids only; the data is never
//! copied). Usage:
//!   cargo run -p attune-dialogue --example risk_esconv -- DEV.jsonl [FAILED.json] [MODEL_DIR]

use attune_dialogue::crisis::{CrisisConfig, CrisisTracker, Risk};
use attune_dialogue::embed::Embedder;
use attune_dialogue::risk_eval::{esconv_seeker_turns, text_id};
use attune_dialogue::semantic::SemanticRisk;
use std::sync::Arc;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let dev = std::fs::read_to_string(args.first().ok_or("usage: risk_esconv DEV.jsonl [FAILED.json] [MODEL_DIR]")?)?;
    let failed = match args.get(1) {
        Some(p) => Some(std::fs::read_to_string(p)?),
        None => None,
    };
    let cfg = CrisisConfig::default();
    let sem = match args.get(2) {
        Some(d) => Some(SemanticRisk::new(Arc::new(Embedder::load(std::path::Path::new(d))?), cfg.semantic_thresholds())?),
        None => None,
    };
    let turns = esconv_seeker_turns(&dev, failed.as_deref())?;
    let (mut low, mut high) = (0, 0);
    for t in &turns {
        let d = CrisisTracker::default().on_turn_with(t, &cfg, sem.as_ref());
        if d.risk > Risk::None {
            if d.risk >= Risk::High {
                high += 1;
            } else {
                low += 1;
            }
            println!("{}\t{}\t{}\t{}", text_id(t), d.risk.as_str(), d.signals.join(","), t.replace('\n', " "));
        }
    }
    eprintln!("{} seeker turns: {high} high/imminent, {low} low", turns.len());
    Ok(())
}
