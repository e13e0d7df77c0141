//! Prints the semantic layer's best match for every sentence the lexical
//! layer leaves open, for tuning the two thresholds: one line per sentence,
//! `label  cosine  negative  margin  category  text`. Inputs: a risk JSONL
//! (label = its `expect`) and/or ESConv dev (label = "esconv").
//!   cargo run -p attune-dialogue --example risk_scores -- MODEL_DIR FILE.jsonl [DEV.jsonl]

use attune_dialogue::crisis::{assess, CrisisConfig};
use attune_dialogue::embed::Embedder;
use attune_dialogue::risk_eval::{esconv_seeker_turns, parse_items};
use attune_dialogue::semantic::SemanticRisk;
use std::sync::Arc;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let dir = args.first().ok_or("usage: risk_scores MODEL_DIR FILE.jsonl [DEV.jsonl]")?;
    let sem = SemanticRisk::new(Arc::new(Embedder::load(std::path::Path::new(dir))?), CrisisConfig::default().semantic_thresholds())?;
    let mut rows: Vec<(String, String)> = Vec::new();
    if let Some(f) = args.get(1) {
        for it in parse_items(&std::fs::read_to_string(f)?)? {
            rows.push((format!("{}:{}", it.expect.as_str(), it.category), it.text));
        }
    }
    if let Some(d) = args.get(2) {
        for t in esconv_seeker_turns(&std::fs::read_to_string(d)?, None)? {
            rows.push(("esconv".into(), t));
        }
    }
    for (label, text) in rows {
        let a = assess(&text, false);
        for s in &a.semantic_eligible {
            let h = sem.score(s)?;
            println!("{label}\t{:.3}\t{:.3}\t{:+.3}\t{}\t{}\t{}", h.cosine, h.negative_cosine, h.cosine - h.negative_cosine, h.category.as_str(), a.risk.as_str(), s.replace('\n', " "));
        }
    }
    Ok(())
}
