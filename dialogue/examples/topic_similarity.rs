//! Prints the embedder's topic similarity (see
//! `attune_dialogue::coherence::topic_similarity`) for every reply of a
//! coherence set, with whether it is labelled `off_topic`, and the
//! distribution over ESConv human supporter turns — for choosing
//! `OFF_TOPIC_MAX_SIMILARITY` on the tuning file. One line per reply:
//! `label  similarity  reply`.
//!   cargo run -p attune-dialogue --example topic_similarity -- MODEL_DIR SET.jsonl [DEV.jsonl]

use attune_dialogue::coherence::topic_similarity;
use attune_dialogue::embed::Embedder;
use attune_dialogue::evalset::parse;
use attune_dialogue::validator::{topic_texts, Flag};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage = "usage: topic_similarity MODEL_DIR SET.jsonl [DEV.jsonl]";
    let e = Embedder::load(std::path::Path::new(args.first().ok_or(usage)?))?;
    for it in parse(&std::fs::read_to_string(args.get(1).ok_or(usage)?)?)? {
        let sim = topic_similarity(&e, &it.reply, &topic_texts(&it.user, &it.earlier_user));
        let label = if it.expect.contains(&Flag::OffTopic) { "off_topic" } else if it.expect.is_empty() { "good" } else { "other_bad" };
        println!("{label}\t{}\t{}", sim.map_or("-".into(), |s| format!("{s:.3}")), it.reply);
    }
    if let Some(dev) = args.get(2) {
        let mut sims = Vec::new();
        for line in std::fs::read_to_string(dev)?.lines().filter(|l| !l.trim().is_empty()) {
            let row: serde_json::Value = serde_json::from_str(line)?;
            let ctx: Vec<String> = row["context"].as_array().map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_string)).collect()).unwrap_or_default();
            let Some((user, earlier)) = ctx.split_last() else { continue };
            let reply = row["response"].as_str().unwrap_or_default();
            if let Some(s) = topic_similarity(&e, reply, &topic_texts(user, earlier)) {
                sims.push(s);
            }
        }
        sims.sort_by(f32::total_cmp);
        for q in [0.01, 0.02, 0.05, 0.10, 0.25, 0.5] {
            let i = ((sims.len() as f64 * q) as usize).min(sims.len().saturating_sub(1));
            println!("esconv\tq{q:.2}\t{:.3}", sims.get(i).copied().unwrap_or(f32::NAN));
        }
    }
    Ok(())
}
