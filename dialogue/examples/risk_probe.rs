//! Prototype: a linear probe (softmax regression over the sentence
//! embedding: none / low / high) trained on the labelled tuning statements,
//! as a third opinion beside the exemplar matching. Scored with each author
//! left out of both the exemplars and the probe's training set, and on
//! ESConv seeker turns (false alarms), combined with the layer as
//! max(layer grade, probe grade). Usage:
//!   cargo run -p attune-dialogue --example risk_probe -- MODEL_DIR DEV.jsonl FAILED.json [HELDOUT.jsonl ...]
//! Held-out files given after the ESConv paths are scored with the probe
//! trained on every tuning statement (aggregates only).

use attune_dialogue::crisis::{assess, CrisisConfig, Risk};
use attune_dialogue::embed::Embedder;
use attune_dialogue::risk_eval::{esconv_seeker_turns, is_hit, items_by_author, report, run, ItemResult, RiskItem};
use attune_dialogue::semantic::{SemanticRisk, EXEMPLAR_FILES};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

const DIM: usize = 384;

struct Probe {
    /// 3 x (DIM + 1) weights, bias last.
    w: Vec<[f32; DIM + 1]>,
}

fn class(r: Risk) -> usize {
    match r {
        Risk::None => 0,
        Risk::Low => 1,
        Risk::High | Risk::Imminent => 2,
    }
}

impl Probe {
    fn train(x: &[&Vec<f32>], y: &[usize], l2: f32, iters: usize) -> Self {
        let n = x.len();
        let mut counts = [0usize; 3];
        for &c in y {
            counts[c] += 1;
        }
        // PROBE_BALANCED=0: natural class priors instead of balanced weights.
        let balanced = std::env::var("PROBE_BALANCED").map_or(true, |v| v != "0");
        let cw: Vec<f32> = counts.iter().map(|&c| if !balanced { 1.0 } else if c == 0 { 0.0 } else { n as f32 / (3.0 * c as f32) }).collect();
        let mut w = vec![[0f32; DIM + 1]; 3];
        let (mut m, mut v) = (vec![[0f32; DIM + 1]; 3], vec![[0f32; DIM + 1]; 3]);
        let lr = 0.05f32;
        for it in 1..=iters {
            let mut g = vec![[0f32; DIM + 1]; 3];
            for (xi, &yi) in x.iter().zip(y) {
                let p = Self::softmax(&w, xi);
                for k in 0..3 {
                    let d = (p[k] - if k == yi { 1.0 } else { 0.0 }) * cw[yi];
                    for j in 0..DIM {
                        g[k][j] += d * xi[j];
                    }
                    g[k][DIM] += d;
                }
            }
            for k in 0..3 {
                for j in 0..=DIM {
                    let gj = g[k][j] / n as f32 + if j < DIM { l2 * w[k][j] } else { 0.0 };
                    m[k][j] = 0.9 * m[k][j] + 0.1 * gj;
                    v[k][j] = 0.999 * v[k][j] + 0.001 * gj * gj;
                    let mh = m[k][j] / (1.0 - 0.9f32.powi(it as i32));
                    let vh = v[k][j] / (1.0 - 0.999f32.powi(it as i32));
                    w[k][j] -= lr * mh / (vh.sqrt() + 1e-8);
                }
            }
        }
        Self { w }
    }

    fn softmax(w: &[[f32; DIM + 1]], x: &[f32]) -> [f32; 3] {
        let mut z = [0f32; 3];
        for k in 0..3 {
            z[k] = w[k][DIM] + (0..DIM).map(|j| w[k][j] * x[j]).sum::<f32>();
        }
        let mx = z.iter().cloned().fold(f32::MIN, f32::max);
        let e: Vec<f32> = z.iter().map(|v| (v - mx).exp()).collect();
        let s: f32 = e.iter().sum();
        [e[0] / s, e[1] / s, e[2] / s]
    }

    fn predict(&self, x: &[f32]) -> [f32; 3] {
        Self::softmax(&self.w, x)
    }
}

struct Emb {
    e: Arc<Embedder>,
    memo: HashMap<String, Vec<f32>>,
}

impl Emb {
    fn get(&mut self, s: &str) -> Vec<f32> {
        if let Some(v) = self.memo.get(s) {
            return v.clone();
        }
        let v = self.e.embed(s).expect("embed");
        self.memo.insert(s.to_string(), v.clone());
        v
    }
}

/// Highest (p_high, p_risk) over the sentences the crisis layer would embed.
fn probe_turn(p: &Probe, emb: &mut Emb, text: &str) -> (f32, f32) {
    let a = assess(text, false);
    let mut best = (0f32, 0f32);
    for s in &a.semantic_eligible {
        let q = p.predict(&emb.get(s));
        best.0 = best.0.max(q[2]);
        best.1 = best.1.max(q[1] + q[2]);
    }
    best
}

fn combine(layer: Risk, ph: f32, pr: f32, a: f32, b: f32) -> Risk {
    let mut g = layer;
    if pr >= a {
        g = g.max(Risk::Low);
    }
    if ph >= b {
        g = g.max(Risk::High);
    }
    g
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (model, dev, failed) = (&args[0], &args[1], &args[2]);
    let cfg = CrisisConfig::default();
    let base = SemanticRisk::new(Arc::new(Embedder::load(std::path::Path::new(model))?), cfg.semantic_thresholds())?;
    let mut emb = Emb { e: base.embedder().clone(), memo: HashMap::new() };
    // Training statements: every single-turn labelled statement of the
    // exemplar files, by author ("" for none); each author's group is the
    // kind of file they wrote for ("acts" or "general").
    let mut items: Vec<(String, RiskItem)> = Vec::new();
    let mut group_of: HashMap<String, &str> = HashMap::new();
    for (name, text) in EXEMPLAR_FILES {
        let group = if name.starts_with("risk-acts") { "acts" } else { "general" };
        for (author, its) in items_by_author(text)? {
            group_of.insert(author.clone(), group);
            items.extend(its.into_iter().filter(|it| it.context.is_empty()).map(|it| (author.clone(), it)));
        }
    }
    eprintln!("{} training statements; embedding", items.len());
    let xs: Vec<Vec<f32>> = items.iter().map(|(_, it)| emb.get(&it.text)).collect();
    let ys: Vec<usize> = items.iter().map(|(_, it)| class(it.expect)).collect();
    let l2: f32 = std::env::var("PROBE_L2").ok().and_then(|v| v.parse().ok()).unwrap_or(1e-3);
    let iters: usize = std::env::var("PROBE_ITERS").ok().and_then(|v| v.parse().ok()).unwrap_or(300);
    let grid = |name: &str, d: &str| -> Vec<f32> { std::env::var(name).unwrap_or_else(|_| d.into()).split(',').filter_map(|x| x.trim().parse().ok()).collect() };
    // Check-in at p(low or high) >= a, protocol at p(high) >= b; 2 = off.
    let grid_a = grid("PROBE_A", "0.5,0.6,0.7,0.8,0.9,2");
    let grid_b = grid("PROBE_B", "0.8,0.9,0.95,0.98,2");
    // Left out, one author at a time.
    let authors: Vec<String> = {
        let mut a: Vec<String> = items.iter().map(|(a, _)| a.clone()).filter(|a| !a.is_empty()).collect();
        a.sort();
        a.dedup();
        a
    };
    // (group, layer grade, p_high, p_risk, expect, category)
    let mut rows: Vec<(String, Risk, f32, f32, Risk, String)> = Vec::new();
    for au in &authors {
        let idx: Vec<usize> = (0..items.len()).filter(|&i| &items[i].0 == au).collect();
        let train: Vec<usize> = (0..items.len()).filter(|&i| &items[i].0 != au).collect();
        let p = Probe::train(&train.iter().map(|&i| &xs[i]).collect::<Vec<_>>(), &train.iter().map(|&i| ys[i]).collect::<Vec<_>>(), l2, iters);
        let texts: std::collections::HashSet<String> = idx.iter().map(|&i| items[i].1.text.clone()).collect();
        let layer = base.without(|t| texts.contains(t));
        let its: Vec<RiskItem> = idx.iter().map(|&i| items[i].1.clone()).collect();
        let res: Vec<ItemResult> = run(&its, &cfg, Some(&layer));
        let group = group_of[au];
        for (it, r) in its.iter().zip(res) {
            let (ph, pr) = probe_turn(&p, &mut emb, &it.text);
            rows.push((group.to_string(), r.got, ph, pr, it.expect, it.category.clone()));
        }
        eprintln!("author {au}: {} items", idx.len());
    }
    // ESConv with the probe trained on everything.
    let all = Probe::train(&xs.iter().collect::<Vec<_>>(), &ys, l2, iters);
    let turns = esconv_seeker_turns(&std::fs::read_to_string(dev)?, Some(&std::fs::read_to_string(failed)?))?;
    let mut es: Vec<(Risk, f32, f32)> = Vec::new();
    for t in &turns {
        let layer = attune_dialogue::crisis::CrisisTracker::default().on_turn_with(t, &cfg, Some(&base)).risk;
        let (ph, pr) = probe_turn(&all, &mut emb, t);
        es.push((layer, ph, pr));
    }
    eprintln!("{} ESConv turns", es.len());
    let mut held: Vec<(String, Vec<(Risk, f32, f32, RiskItem)>)> = Vec::new();
    for f in &args[3..] {
        let text = std::fs::read_to_string(f)?;
        let its = attune_dialogue::risk_eval::parse_items(&text)?;
        let res = run(&its, &cfg, Some(&base));
        let mut v = Vec::new();
        for (it, r) in its.into_iter().zip(res) {
            // Multi-turn items: the probe reads the latest turn only.
            let (ph, pr) = probe_turn(&all, &mut emb, &it.text);
            v.push((r.got, ph, pr, it));
        }
        held.push((f.rsplit('/').next().unwrap_or(f).to_string(), v));
    }
    for &a in &grid_a {
        for &b in &grid_b {
            let n = es.len() as f64;
            let prot = es.iter().filter(|(l, ph, pr)| combine(*l, *ph, *pr, a, b) >= Risk::High).count() as f64 / n * 100.0;
            let chk = es.iter().filter(|(l, ph, pr)| combine(*l, *ph, *pr, a, b) == Risk::Low).count() as f64 / n * 100.0;
            let mut line = format!("a={a} b={b}: esconv protocol {prot:.2}% check-in {chk:.2}%");
            let mut groups: BTreeMap<&str, Vec<ItemResult>> = BTreeMap::new();
            for (g, l, ph, pr, e, c) in &rows {
                let got = combine(*l, *ph, *pr, a, b);
                groups.entry(g.as_str()).or_default().push(ItemResult { text: String::new(), category: c.clone(), expect: *e, got, signals: vec![], hit: is_hit(*e, got) });
            }
            for (name, v) in held.iter() {
                let r: Vec<ItemResult> = v.iter().map(|(l, ph, pr, it)| {
                    let got = combine(*l, *ph, *pr, a, b);
                    ItemResult { text: String::new(), category: it.category.clone(), expect: it.expect, got, signals: vec![], hit: is_hit(it.expect, got) }
                }).collect();
                let r = report(&r);
                line += &format!(" | {name}: {:.3} / {:.3} / low {:.3} / spec {:.3} / ig {:.3} / np {}", r.high_imminent_recall, r.high_imminent_reached, r.low_recall, r.specificity, r.idiom_grief_specificity, r.none_protocol);
            }
            for (g, v) in groups {
                let r = report(&v);
                line += &format!(" | {g} (left out): {:.3} / {:.3} / low {:.3} / spec {:.3} / ig {:.3} / np {}/{}", r.high_imminent_recall, r.high_imminent_reached, r.low_recall, r.specificity, r.idiom_grief_specificity, r.none_protocol, r.none_items());
            }
            println!("{line}");
        }
    }
    Ok(())
}
