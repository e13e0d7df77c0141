//! Dumps, for offline study of a learned semantic layer, every sentence the
//! lexical layer leaves open with its embedding: one JSON line per item,
//! `{"set","expect","category","lexical","sentences":[[text,[floats]]...]}`.
//! Inputs: `SET=FILE.jsonl` pairs (a risk JSONL) and/or `esconv=DEV.jsonl`;
//! `exemplars` dumps the compiled-in exemplar file's sentences.
//!   cargo run -p attune-dialogue --example embed_dump -- MODEL_DIR tune=F.jsonl esconv=DEV.jsonl

use attune_dialogue::crisis::{assess, CrisisConfig, CrisisTracker};
use attune_dialogue::embed::Embedder;
use attune_dialogue::risk_eval::{esconv_seeker_turns, parse_items};
use std::io::Write;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let dir = args.first().ok_or("usage: embed_dump MODEL_DIR SET=FILE ...")?;
    let emb = Embedder::load(std::path::Path::new(dir))?;
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let mut cfg = CrisisConfig::default();
    cfg.semantic = false;
    for a in &args[1..] {
        let (set, file) = a.split_once('=').ok_or("argument is SET=FILE")?;
        let rows: Vec<(String, String, String, Vec<String>)> = if set == "esconv" {
            esconv_seeker_turns(&std::fs::read_to_string(file)?, None)?.into_iter().map(|t| ("esconv".into(), "none".into(), t, vec![])).collect()
        } else {
            parse_items(&std::fs::read_to_string(file)?)?.into_iter().map(|it| (it.category, it.expect.as_str().to_string(), it.text, it.context)).collect()
        };
        for (category, expect, text, context) in rows {
            let mut t = CrisisTracker::default();
            for c in &context {
                t.on_turn_with(c, &cfg, None);
            }
            let lexical = t.on_turn_with(&text, &cfg, None).risk;
            let a = assess(&text, false);
            let mut sents = Vec::new();
            for s in &a.semantic_eligible {
                sents.push(serde_json::json!([s, emb.embed(s)?]));
            }
            let line = serde_json::json!({"set": set, "expect": expect, "category": category, "lexical": lexical.as_str(), "text": text, "has_context": !context.is_empty(), "sentences": sents});
            writeln!(out, "{line}")?;
        }
    }
    Ok(())
}
