//! Sweeps the semantic layer's thresholds: for each `strong,weak,margin,decisive`
//! triple, the share of ESConv seeker turns that get the protocol and the
//! check-in question, and the figures on each labelled file given. A file
//! whose items name their `author` is scored leaving each author out in turn
//! (that author's statements are removed from the exemplars), which is how
//! the thresholds are chosen without a held-out file. Hits are memoised and
//! shared between triples. Usage:
//!   cargo run -p attune-dialogue --example risk_sweep -- MODEL_DIR DEV.jsonl FAILED.json "0.62,0.60,0.10,1;..." [FILE.jsonl ...]
//! (DEV.jsonl and FAILED.json may be `-` to skip ESConv.) With
//! `RISK_SWEEP_DROP=a.jsonl:b.jsonl` the statements of those files are taken
//! out of the exemplars first: the layer as it was before they were added.
//! Each file's line ends with how many of its `none` items got the
//! protocol. With `RISK_SWEEP_LIST=NAME` the items of the file whose name contains
//! NAME that miss their label are listed on stderr (tuning files only: a
//! held-out file is scored in aggregate).

use attune_dialogue::crisis::{CrisisConfig, CrisisTracker, Risk};
use attune_dialogue::embed::Embedder;
use attune_dialogue::risk_eval::{esconv_seeker_turns, items_by_author, report, run, RiskItem};
use attune_dialogue::semantic::{SemanticRisk, Thresholds};
use std::sync::Arc;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage = "usage: risk_sweep MODEL_DIR DEV.jsonl FAILED.json \"s,w,m,d;...\" [FILE.jsonl ...]";
    let (Some(model), Some(dev), Some(failed), Some(triples)) = (args.first(), args.get(1), args.get(2), args.get(3)) else { return Err(usage.into()) };
    let cfg = CrisisConfig::default();
    let mut base = SemanticRisk::new(Arc::new(Embedder::load(std::path::Path::new(model))?), cfg.semantic_thresholds())?.with_memo();
    // RISK_SWEEP_DROP=a.jsonl:b.jsonl removes those files' statements from
    // the exemplars, to score a layer as it was before they were added.
    if let Ok(drop) = std::env::var("RISK_SWEEP_DROP") {
        let mut texts = std::collections::HashSet::new();
        for f in drop.split(':').filter(|f| !f.is_empty()) {
            for items in items_by_author(&std::fs::read_to_string(f).map_err(|e| format!("RISK_SWEEP_DROP {f}: {e}"))?)?.into_values() {
                texts.extend(items.into_iter().map(|i| i.text));
            }
        }
        let before = base.exemplar_count();
        base = base.without(|t| texts.contains(t));
        eprintln!("RISK_SWEEP_DROP: {} of {before} exemplars left", base.exemplar_count());
    }
    let turns = if dev == "-" { Vec::new() } else { esconv_seeker_turns(&std::fs::read_to_string(dev)?, Some(&std::fs::read_to_string(failed)?))? };
    let mut files = Vec::new();
    for f in &args[4..] {
        let groups = items_by_author(&std::fs::read_to_string(f)?)?;
        let layers: Vec<(SemanticRisk, Vec<RiskItem>)> = groups
            .into_iter()
            .map(|(author, items)| {
                let texts: std::collections::HashSet<String> = items.iter().map(|i| i.text.clone()).collect();
                let layer = if author.is_empty() { base.without(|_| false) } else { base.without(|t| texts.contains(t)) };
                (layer, items)
            })
            .collect();
        files.push((f.rsplit('/').next().unwrap_or(f).to_string(), layers));
    }
    for t in triples.split(';') {
        let v: Vec<f32> = t.split(',').map(|x| x.trim().parse()).collect::<Result<_, _>>()?;
        let defaults = cfg.semantic_thresholds();
        let (strong, weak, margin, decisive, decisive_margin, act_check_in) = match v[..] {
            [s, w, m, d] => (s, w, m, d, m, defaults.act_check_in),
            [s, w, m, d, dm] => (s, w, m, d, dm, defaults.act_check_in),
            [s, w, m, d, dm, ac] => (s, w, m, d, dm, ac),
            _ => return Err(format!("bad tuple {t:?}: strong,weak,margin,decisive[,decisive_margin[,act_check_in]]").into()),
        };
        let th = Thresholds { strong, weak, margin, decisive, decisive_margin, act_check_in, ..defaults };
        let sem = base.with_thresholds(th);
        let (mut p, mut c) = (0usize, 0usize);
        for turn in &turns {
            match CrisisTracker::default().on_turn_with(turn, &cfg, Some(&sem)).risk {
                Risk::High | Risk::Imminent => p += 1,
                Risk::Low => c += 1,
                Risk::None => {}
            }
        }
        let n = turns.len().max(1) as f64;
        let mut line = format!("s={strong} w={weak} m={margin} d={decisive} dm={decisive_margin} ac={act_check_in}: esconv protocol {:.2}% check-in {:.2}%", p as f64 / n * 100.0, c as f64 / n * 100.0);
        for (name, layers) in &files {
            let mut results = Vec::new();
            for (layer, items) in layers {
                results.extend(run(items, &cfg, Some(&layer.with_thresholds(th))));
            }
            // RISK_SWEEP_LIST=FILE names a file whose errors (left-out
            // grades that miss their label) are listed on stderr.
            if std::env::var("RISK_SWEEP_LIST").is_ok_and(|l| name.contains(l.as_str())) {
                for x in results.iter().filter(|x| !x.hit) {
                    eprintln!("{name}\t{}\t{}\t{}\t{}\t{}", x.expect.as_str(), x.got.as_str(), x.category, x.signals.join(","), x.text);
                }
            }
            let r = report(&results);
            line += &format!(" | {name}: {:.3} / {:.3} / low {:.3} / spec {:.3} / ig {:.3} / none->protocol {}/{}", r.high_imminent_recall, r.high_imminent_reached, r.low_recall, r.specificity, r.idiom_grief_specificity, r.none_protocol, r.none_items());
        }
        println!("{line}");
    }
    Ok(())
}
