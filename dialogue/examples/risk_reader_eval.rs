//! The risk reader's thresholds and held-out figures, in one run.
//!
//! 1. Thresholds: on the odd-numbered ESConv seeker turns (never trained on;
//!    genuine risk left out) the lowest `reader_protocol` on a grid (0.5 to
//!    0.995 by 0.005, then 0.9975, 0.999, 0.9995) at which the layers
//!    together give the crisis protocol to at most 0.5 % of turns, then the
//!    lowest `reader_check_in` at which they give the check-in question to
//!    at most 2 % — the goals, and nothing else.
//! 2. Each file named after the ESConv paths is scored through the real
//!    crisis layer, without the reader and with it at the chosen thresholds.
//!
//!   cargo run -p attune-dialogue --example risk_reader_eval -- MODEL_DIR READER_DIR DEV.jsonl [FILE.jsonl ...]
//!
//! (`failed-esconv.json` beside DEV.jsonl is read when present.)

use attune_dialogue::crisis::{assess, CrisisConfig, CrisisTracker, Risk};
use attune_dialogue::embed::Embedder;
use attune_dialogue::reader::RiskReader;
use attune_dialogue::risk_eval::{esconv_seeker_turns, genuine_risk_ids, parse_items, report, run, text_id};
use attune_dialogue::semantic::{sentences_read, SemanticRisk};
use std::path::{Path, PathBuf};
use std::sync::Arc;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() < 3 {
        return Err("usage: risk_reader_eval MODEL_DIR READER_DIR DEV.jsonl [FILE.jsonl ...]".into());
    }
    let (model, reader_dir, dev) = (Path::new(&args[0]), Path::new(&args[1]), PathBuf::from(&args[2]));
    let reader = Arc::new(RiskReader::load(reader_dir, model)?);
    let cfg = CrisisConfig::default();
    let base = SemanticRisk::new(Arc::new(Embedder::load(model)?), cfg.semantic_thresholds())?;
    let genuine = genuine_risk_ids();
    let failed = std::fs::read_to_string(dev.with_file_name("failed-esconv.json")).ok();
    let turns = esconv_seeker_turns(&std::fs::read_to_string(&dev)?, failed.as_deref())?;
    // (grade without the reader, best p(protocol), best p(check-in or protocol))
    let mut rows: Vec<(Risk, f32, f32)> = Vec::new();
    for t in turns.iter().skip(1).step_by(2).filter(|t| !genuine.contains(&text_id(t))) {
        let layer = CrisisTracker::default().on_turn_with(t, &cfg, Some(&base)).risk;
        let (mut ph, mut pr) = (0f32, 0f32);
        for s in sentences_read(&assess(t, false).semantic_eligible) {
            let p = reader.read(&s)?;
            ph = ph.max(p[2]);
            pr = pr.max(p[1] + p[2]);
        }
        rows.push((layer, ph, pr));
    }
    let n = rows.len() as f64;
    let grade = |(l, ph, pr): &(Risk, f32, f32), a: f32, b: f32| -> Risk {
        let mut g = *l;
        if *ph >= b {
            g = g.max(Risk::High);
        } else if *pr >= a {
            g = g.max(Risk::Low);
        }
        g
    };
    let rate = |a: f32, b: f32, protocol: bool| rows.iter().filter(|r| if protocol { grade(r, a, b) >= Risk::High } else { grade(r, a, b) == Risk::Low }).count() as f64 / n * 100.0;
    let grid: Vec<f32> = (0..=99).map(|i| 0.5 + i as f32 * 0.005).chain([0.9975, 0.999, 0.9995]).collect();
    let b = *grid.iter().find(|&&b| rate(2.0, b, true) <= 0.5).ok_or("no protocol threshold keeps ESConv within 0.5 %")?;
    let a = *grid.iter().find(|&&a| a <= b && rate(a, b, false) <= 2.0).or_else(|| grid.iter().find(|&&a| rate(a, b, false) <= 2.0)).ok_or("no check-in threshold keeps ESConv within 2 %")?;
    println!("{} odd ESConv turns: without the reader protocol {:.2} % check-in {:.2} %", rows.len(), rate(2.0, 2.0, true), rate(2.0, 2.0, false));
    println!("chosen reader_check_in {a} reader_protocol {b}: protocol {:.2} % check-in {:.2} %", rate(a, b, true), rate(a, b, false));
    let chosen = CrisisConfig { reader_protocol: b, reader_check_in: a, ..CrisisConfig::default() };
    let with = base.with_thresholds(chosen.semantic_thresholds()).with_reader(Some(reader));
    for f in &args[3..] {
        let items = parse_items(&std::fs::read_to_string(f)?)?;
        let name = f.rsplit('/').next().unwrap_or(f);
        for (label, layer) in [("without", &base), ("reader", &with)] {
            let r = report(&run(&items, &chosen, Some(layer)));
            println!(
                "{name:28} {label:8} strict {:.3}  reached {:.3}  low {:.3}  specificity {:.3}  idiom/grief {:.3}  none->protocol {}",
                r.high_imminent_recall, r.high_imminent_reached, r.low_recall, r.specificity, r.idiom_grief_specificity, r.none_protocol
            );
        }
    }
    Ok(())
}
