//! Measures the rule-based strategy coder and the validator's advice
//! detector against ESConv's gold supporter-turn labels.
//!
//! ```text
//! cargo run --release -p attune-dialogue --example esconv_eval -- --data /path/to/esconv/dev.jsonl
//! ATTUNE_ESCONV=/path/to/dev.jsonl cargo run --release -p attune-dialogue --example esconv_eval
//! cargo run --release -p attune-dialogue --example esconv_eval -- --data /path/to/esconv/failed-esconv.json
//! ```
//!
//! Both the windowed `dev.jsonl` (one supporter turn a line) and the
//! whole-dialogue JSON of `failed-esconv.json` are read.
//!
//! The data set (CC BY-NC 4.0) is read from the path given at run time and
//! never copied into the repository. Prints per-strategy precision, recall
//! and F1, accuracy and macro-F1 side by side with a majority-class
//! baseline, for the whole file and for its two halves (so a rule tuned on
//! one half can be checked on the other).

use attune_dialogue::strategy::{primary_strategy, Strategy, ALL};
use attune_dialogue::validator::advice_evidence;
use std::process::ExitCode;

struct Row {
    response: String,
    gold: Strategy,
}

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let mut path: Option<String> = std::env::var("ATTUNE_ESCONV").ok();
    while let Some(a) = args.next() {
        match a.as_str() {
            "--data" => path = args.next(),
            "-h" | "--help" => {
                println!("usage: esconv_eval [--data FILE.jsonl]   (or set ATTUNE_ESCONV)");
                return ExitCode::SUCCESS;
            }
            other => {
                eprintln!("esconv_eval: unknown argument {other:?}");
                return ExitCode::from(2);
            }
        }
    }
    let Some(path) = path else {
        eprintln!("esconv_eval: no data: pass --data FILE.jsonl or set ATTUNE_ESCONV");
        return ExitCode::from(2);
    };
    let rows = match load(&path) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("esconv_eval: {path}: {e}");
            return ExitCode::from(1);
        }
    };
    println!("ESConv strategy coder evaluation: {path} ({} supporter turns)\n", rows.len());
    let half = rows.len() / 2;
    report("all turns", &rows);
    report("first half", &rows[..half]);
    report("second half", &rows[half..]);
    advice_report(&rows);
    ExitCode::SUCCESS
}

fn load(path: &str) -> Result<Vec<Row>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read: {e}"))?;
    if text.trim_start().starts_with('[') {
        return load_dialogs(&text);
    }
    let mut rows = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let v: serde_json::Value = serde_json::from_str(line).map_err(|e| format!("line {}: not JSON: {e}", i + 1))?;
        let response = v.get("response").and_then(|x| x.as_str()).ok_or_else(|| format!("line {}: no \"response\" string", i + 1))?;
        let label = v.get("strategy").and_then(|x| x.as_str()).ok_or_else(|| format!("line {}: no \"strategy\" string", i + 1))?;
        let gold = Strategy::from_label(label).ok_or_else(|| format!("line {}: unknown strategy {label:?}", i + 1))?;
        rows.push(Row { response: response.to_string(), gold });
    }
    if rows.is_empty() {
        return Err("no rows".into());
    }
    Ok(rows)
}

/// The whole-dialogue format of `failed-esconv.json`: a list of dialogues
/// whose `listener` turns carry `annotation.strategy`.
fn load_dialogs(text: &str) -> Result<Vec<Row>, String> {
    let v: serde_json::Value = serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
    let dialogs = v.as_array().ok_or("expected a list of dialogues")?;
    let mut rows = Vec::new();
    for (i, d) in dialogs.iter().enumerate() {
        let turns = d.get("dialog").and_then(|x| x.as_array()).ok_or_else(|| format!("dialogue {i}: no \"dialog\" list"))?;
        for t in turns {
            let (Some(content), Some(label)) = (t.get("content").and_then(|x| x.as_str()), t.pointer("/annotation/strategy").and_then(|x| x.as_str())) else {
                continue;
            };
            if let Some(gold) = Strategy::from_label(label) {
                rows.push(Row { response: content.trim().to_string(), gold });
            }
        }
    }
    if rows.is_empty() {
        return Err("no labelled turns".into());
    }
    Ok(rows)
}

#[derive(Default, Clone, Copy)]
struct Counts {
    tp: usize,
    fp: usize,
    fn_: usize,
}

impl Counts {
    fn p(self) -> f64 {
        ratio(self.tp, self.tp + self.fp)
    }
    fn r(self) -> f64 {
        ratio(self.tp, self.tp + self.fn_)
    }
    fn f1(self) -> f64 {
        let (p, r) = (self.p(), self.r());
        if p + r == 0.0 { 0.0 } else { 2.0 * p * r / (p + r) }
    }
}

fn ratio(a: usize, b: usize) -> f64 {
    if b == 0 { 0.0 } else { a as f64 / b as f64 }
}

/// Per-class counts and accuracy of `pred` against the gold labels.
fn score(rows: &[Row], pred: &[Strategy]) -> (Vec<Counts>, f64) {
    let mut c = vec![Counts::default(); ALL.len()];
    let mut correct = 0;
    for (row, &p) in rows.iter().zip(pred) {
        let gi = ALL.iter().position(|&s| s == row.gold).unwrap_or(7);
        let pi = ALL.iter().position(|&s| s == p).unwrap_or(7);
        if gi == pi {
            c[gi].tp += 1;
            correct += 1;
        } else {
            c[pi].fp += 1;
            c[gi].fn_ += 1;
        }
    }
    (c, ratio(correct, rows.len()))
}

fn report(name: &str, rows: &[Row]) {
    // Majority class of this very slice: the strongest trivial baseline.
    let mut freq = [0usize; 8];
    for r in rows {
        freq[ALL.iter().position(|&s| s == r.gold).unwrap_or(7)] += 1;
    }
    let maj_i = (0..8).max_by_key(|&i| freq[i]).unwrap_or(0);
    let majority = ALL[maj_i];
    let coder: Vec<Strategy> = rows.iter().map(|r| primary_strategy(&r.response)).collect();
    let base: Vec<Strategy> = vec![majority; rows.len()];
    let (cc, cacc) = score(rows, &coder);
    let (bc, bacc) = score(rows, &base);
    println!("== {name}: {} turns; majority class = {}", rows.len(), majority.label());
    println!("{:<30} {:>5} | {:>6} {:>6} {:>6} | {:>6} {:>6} {:>6}", "strategy", "gold", "P", "R", "F1", "base P", "base R", "base F1");
    for (i, s) in ALL.iter().enumerate() {
        println!(
            "{:<30} {:>5} | {:>6.3} {:>6.3} {:>6.3} | {:>6.3} {:>6.3} {:>6.3}",
            s.label(), freq[i], cc[i].p(), cc[i].r(), cc[i].f1(), bc[i].p(), bc[i].r(), bc[i].f1()
        );
    }
    let macro_f1 = |c: &[Counts]| c.iter().map(|x| x.f1()).sum::<f64>() / c.len() as f64;
    println!("{:<30} {:>5} | coder {:.3}          | majority {:.3}", "accuracy", "", cacc, bacc);
    println!("{:<30} {:>5} | coder {:.3}          | majority {:.3}\n", "macro-F1", "", macro_f1(&cc), macro_f1(&bc));
}

fn advice_report(rows: &[Row]) {
    let mut c = Counts::default();
    let mut b = Counts::default();
    let mut tn = 0;
    for r in rows {
        let gold = r.gold == Strategy::Suggestions;
        let pred = advice_evidence(&r.response).is_some();
        match (gold, pred) {
            (true, true) => c.tp += 1,
            (false, true) => c.fp += 1,
            (true, false) => c.fn_ += 1,
            (false, false) => tn += 1,
        }
        // Baseline: flag every turn (the detector's trivial upper bound on recall).
        if gold { b.tp += 1 } else { b.fp += 1 }
    }
    println!("== validator advice detector as \"Providing Suggestions\" detection ({} turns)", rows.len());
    println!("{:<30} | {:>6} {:>6} {:>6} | TP {} FP {} FN {} TN {}", "detector", "P", "R", "F1", c.tp, c.fp, c.fn_, tn);
    println!("{:<30} | {:>6.3} {:>6.3} {:>6.3}", "validator advice_evidence", c.p(), c.r(), c.f1());
    println!("{:<30} | {:>6.3} {:>6.3} {:>6.3}", "baseline: flag every turn", b.p(), b.r(), b.f1());
    let fpr = ratio(c.fp, c.fp + tn);
    println!("false-positive rate on non-suggestion turns: {fpr:.3}");
}
