//! Crisis-layer latency per turn, lexical alone (the reference), with the
//! semantic second opinion, and with the risk reader as well (when
//! `attune risk-reader train` has made it), side by side in one run; and the
//! embedding cost per sentence. Prints figures; asserts nothing.
//!
//!   cargo bench -p attune-dialogue --bench crisis
//!
//! The turns are the tuning set's statements (dialogue/eval/risk-tune.jsonl)
//! plus ordinary multi-sentence turns. The model comes from
//! ATTUNE_MINILM_DIR or <data dir>/models/all-MiniLM-L6-v2.

use attune_dialogue::crisis::{CrisisConfig, CrisisTracker};
use attune_dialogue::embed::Embedder;
use attune_dialogue::semantic::SemanticRisk;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

fn model_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("ATTUNE_MINILM_DIR") {
        return PathBuf::from(d);
    }
    let data = match (std::env::var_os("ATTUNE_HOME"), std::env::var_os("XDG_DATA_HOME")) {
        (Some(h), _) => PathBuf::from(h),
        (None, Some(x)) => PathBuf::from(x).join("attune"),
        _ => PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".local/share/attune"),
    };
    attune_dialogue::embed::default_model_dir(&data)
}

fn percentile(sorted_us: &[f64], p: f64) -> f64 {
    if sorted_us.is_empty() {
        return 0.0;
    }
    let i = ((sorted_us.len() - 1) as f64 * p).round() as usize;
    sorted_us[i]
}

fn time_turns(turns: &[String], cfg: &CrisisConfig, sem: Option<&SemanticRisk>, rounds: usize) -> Vec<f64> {
    let mut out = Vec::with_capacity(turns.len() * rounds);
    for _ in 0..rounds {
        for t in turns {
            let mut tr = CrisisTracker::default();
            let s = Instant::now();
            let d = tr.on_turn_with(t, cfg, sem);
            out.push(s.elapsed().as_secs_f64() * 1e6);
            std::hint::black_box(d);
        }
    }
    out.sort_by(|a, b| a.total_cmp(b));
    out
}

fn main() {
    let tune = std::fs::read_to_string(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("eval/risk-tune.jsonl")).unwrap_or_default();
    let mut turns: Vec<String> = tune
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|v| v["text"].as_str().map(str::to_string))
        .collect();
    turns.push("I had a long day at work. My manager kept changing the deadline and I feel like nobody listens to me. Then the bus was late. I just want to rest.".into());
    turns.push("Honestly things have been hard since the move. I miss my friends. I don't really know anyone here yet, and the weekends feel very long.".into());
    let cfg = CrisisConfig::default();

    let lex = time_turns(&turns, &cfg, None, 5);
    println!("crisis layer per turn over {} turns", turns.len());
    println!("{:<22} {:>10} {:>10}", "", "p50 (ms)", "p99 (ms)");
    println!("{:<22} {:>10.3} {:>10.3}", "lexical (reference)", percentile(&lex, 0.5) / 1e3, percentile(&lex, 0.99) / 1e3);

    let dir = model_dir();
    let load_start = Instant::now();
    let embedder = match Embedder::load(&dir) {
        Ok(e) => Arc::new(e),
        Err(e) => {
            println!("semantic layer not measured: {e} (run scripts/fetch-minilm.sh)");
            return;
        }
    };
    let load_ms = load_start.elapsed().as_secs_f64() * 1e3;
    let ex_start = Instant::now();
    let sem = match SemanticRisk::new(embedder.clone(), cfg.semantic_thresholds()) {
        Ok(s) => s,
        Err(e) => {
            println!("semantic layer not measured: {e}");
            return;
        }
    };
    let ex_ms = ex_start.elapsed().as_secs_f64() * 1e3;
    let both = time_turns(&turns, &cfg, Some(&sem), 1);
    println!("{:<22} {:>10.3} {:>10.3}", "lexical + semantic", percentile(&both, 0.5) / 1e3, percentile(&both, 0.99) / 1e3);
    let reader_dir = attune_dialogue::reader::default_reader_dir(&dir.parent().and_then(|m| m.parent()).map(PathBuf::from).unwrap_or_default());
    let t = Instant::now();
    let loaded = attune_dialogue::reader::RiskReader::load(&reader_dir, &dir);
    let reader_load_ms = t.elapsed().as_secs_f64() * 1e3;
    match loaded {
        Ok(r) => {
            let with = sem.with_thresholds(sem.thresholds()).with_reader(Some(Arc::new(r)));
            let all = time_turns(&turns, &cfg, Some(&with), 1);
            println!("{:<22} {:>10.3} {:>10.3}", "  + risk reader", percentile(&all, 0.5) / 1e3, percentile(&all, 0.99) / 1e3);
        }
        Err(e) => println!("risk reader not measured: {e}"),
    }

    let sentences = ["I want to die.", "I've been feeling really lonely since I moved here for school.", "My manager kept changing the deadline and I feel like nobody listens to me, and then the bus was late again this morning."];
    println!();
    println!("embedding cost per sentence");
    for s in sentences {
        let mut v: Vec<f64> = (0..20)
            .map(|_| {
                let t = Instant::now();
                std::hint::black_box(embedder.embed(s).ok());
                t.elapsed().as_secs_f64() * 1e3
            })
            .collect();
        v.sort_by(|a, b| a.total_cmp(b));
        println!("{:>3} words  p50 {:>7.2} ms  p99 {:>7.2} ms", s.split_whitespace().count(), percentile(&v, 0.5), percentile(&v, 0.99));
    }
    println!();
    println!("model load {load_ms:.0} ms; exemplars embedded in {ex_ms:.0} ms");
    println!("risk reader load {reader_load_ms:.0} ms");
}
