//! The crisis layer's fine-tuned risk reader, on the real all-MiniLM-L6-v2:
//! its own forward pass against the embedder's, training (on a small slice,
//! here) that learns, is deterministic and round-trips through its files,
//! stale and corrupt files refused by name; and the reader installed by
//! `attune risk-reader train` (which `scripts/test.sh` runs before the
//! suite): the held-out files' figures with it as regression floors, and,
//! when `ATTUNE_ESCONV` is set, false alarms on ESConv seeker turns.

use attune_dialogue::crisis::{CrisisConfig, CrisisTracker, Risk};
use attune_dialogue::embed::{cosine, Embedder};
use attune_dialogue::reader::{base_vectors, default_reader_dir, training_texts, ReaderError, Recipe, RiskReader, READER_META_FILE, READER_WEIGHTS_FILE};
use attune_dialogue::risk_eval::{parse_items, report, run};
use attune_dialogue::semantic::SemanticRisk;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

fn data_dir() -> PathBuf {
    if let Some(h) = std::env::var_os("ATTUNE_HOME") {
        PathBuf::from(h)
    } else if let Some(x) = std::env::var_os("XDG_DATA_HOME") {
        PathBuf::from(x).join("attune")
    } else {
        PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".local/share/attune")
    }
}

fn model_dir() -> PathBuf {
    std::env::var_os("ATTUNE_MINILM_DIR").map(PathBuf::from).unwrap_or_else(|| attune_dialogue::embed::default_model_dir(&data_dir()))
}

/// A small, balanced slice of the training texts (40 of each class, evenly spaced).
fn slice() -> Vec<(String, u32)> {
    let all = training_texts();
    let mut out = Vec::new();
    for c in 0..3 {
        let class: Vec<&(String, u32)> = all.iter().filter(|(_, y)| *y == c).collect();
        out.extend(class.iter().step_by(class.len() / 40).take(40).map(|x| (*x).clone()));
    }
    out
}

fn small_recipe() -> Recipe {
    Recipe { layers: 1, epochs: 3, lr: 1e-4, head_lr: 3e-3, batch: 16, seed: 3, esconv_turns: 0 }
}

#[test]
fn its_own_forward_pass_gives_the_embedders_sentence_vectors() {
    let e = Embedder::load(&model_dir()).unwrap_or_else(|e| panic!("{e}; run scripts/fetch-minilm.sh"));
    let texts = ["hello", "I have been feeling really lonely since I moved here for school.", "i bought a rope today and its not for camping"];
    let own = base_vectors(&model_dir(), &texts).unwrap();
    for (t, v) in texts.iter().zip(own) {
        let reference = e.embed(t).unwrap();
        let worst = v.iter().zip(&reference).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
        assert!(worst < 1e-4, "{t}: largest difference {worst}");
        assert!(cosine(&v, &reference) > 0.99999);
    }
}

#[test]
fn training_learns_is_deterministic_and_round_trips_through_its_files() {
    let texts = slice();
    let recipe = small_recipe();
    let mut a = RiskReader::train(&model_dir(), &texts, &[], recipe, |_| {}).unwrap();
    let losses = a.meta().losses.clone();
    assert_eq!(losses.len(), 3);
    assert!(losses[2] < losses[0] * 0.8, "the loss did not fall: {losses:?}");
    assert_eq!(a.meta().texts, [40, 40, 40]);
    let dir = tempfile::tempdir().unwrap();
    a.save(dir.path()).unwrap();
    assert_eq!(a.weights_sha256().len(), 64);
    // Trained again from the same texts and recipe: the same file.
    let mut b = RiskReader::train(&model_dir(), &texts, &[], recipe, |_| {}).unwrap();
    let dir2 = tempfile::tempdir().unwrap();
    b.save(dir2.path()).unwrap();
    assert_eq!(a.weights_sha256(), b.weights_sha256());
    // Loaded back: the same probabilities, bit for bit.
    let loaded = RiskReader::load_expecting(dir.path(), &model_dir(), &texts, recipe).unwrap();
    assert_eq!(loaded.weights_sha256(), a.weights_sha256());
    for t in ["I want to die", "we went to the beach", &texts[5].0] {
        assert_eq!(loaded.read(t).unwrap(), a.read(t).unwrap(), "{t}");
        let p = loaded.read(t).unwrap();
        assert!((p.iter().sum::<f32>() - 1.0).abs() < 1e-4);
    }
    // What it learnt: its own training texts mostly come back in their class.
    let right = texts.iter().filter(|(t, y)| {
        let p = a.read(t).unwrap();
        let best = (0..3).max_by(|&i, &j| p[i].total_cmp(&p[j])).unwrap();
        best as u32 == *y
    });
    let n = right.count();
    assert!(n >= 80, "{n}/120 training texts in their class after 3 epochs");
}

#[test]
fn a_reader_trained_from_other_texts_or_another_recipe_is_refused_as_stale() {
    let texts = slice();
    let recipe = small_recipe();
    let mut r = RiskReader::train(&model_dir(), &texts[..30], &[], Recipe { epochs: 1, ..recipe }, |_| {}).unwrap();
    let dir = tempfile::tempdir().unwrap();
    r.save(dir.path()).unwrap();
    let e = RiskReader::load_expecting(dir.path(), &model_dir(), &texts, Recipe { epochs: 1, ..recipe }).unwrap_err();
    assert!(matches!(e, ReaderError::Stale { .. }), "{e}");
    assert!(e.to_string().contains("attune risk-reader train"), "{e}");
    let e = RiskReader::load_expecting(dir.path(), &model_dir(), &texts[..30], recipe).unwrap_err();
    assert!(matches!(e, ReaderError::Stale { .. }) && e.to_string().contains("epochs"), "{e}");
    // And the real one, against this build's texts: stale too.
    let e = RiskReader::load(dir.path(), &model_dir()).unwrap_err();
    assert!(matches!(e, ReaderError::Stale { .. }), "{e}");
}

#[test]
fn a_missing_or_corrupt_reader_file_is_an_error_naming_the_file() {
    let texts = slice();
    let recipe = Recipe { epochs: 1, ..small_recipe() };
    let empty = tempfile::tempdir().unwrap();
    let e = RiskReader::load_expecting(empty.path(), &model_dir(), &texts[..20], recipe).unwrap_err();
    assert!(matches!(e, ReaderError::Read { .. }) && e.to_string().contains(READER_META_FILE), "{e}");
    let mut r = RiskReader::train(&model_dir(), &texts[..20], &[], recipe, |_| {}).unwrap();
    let dir = tempfile::tempdir().unwrap();
    r.save(dir.path()).unwrap();
    let w = dir.path().join(READER_WEIGHTS_FILE);
    let bytes = std::fs::read(&w).unwrap();
    std::fs::write(&w, &bytes[..bytes.len() / 2]).unwrap();
    let e = RiskReader::load_expecting(dir.path(), &model_dir(), &texts[..20], recipe).unwrap_err();
    assert!(matches!(e, ReaderError::Corrupt { .. }) && e.to_string().contains(READER_WEIGHTS_FILE), "{e}");
    std::fs::write(dir.path().join(READER_META_FILE), "{ not json").unwrap();
    let e = RiskReader::load_expecting(dir.path(), &model_dir(), &texts[..20], recipe).unwrap_err();
    assert!(matches!(e, ReaderError::Corrupt { .. }) && e.to_string().contains(READER_META_FILE), "{e}");
}

/// The semantic layer with the installed reader; `None` (the test skips)
/// only where there is no ESConv to train one from.
fn with_reader() -> Option<&'static SemanticRisk> {
    static S: OnceLock<Option<SemanticRisk>> = OnceLock::new();
    S.get_or_init(|| {
        let dir = default_reader_dir(&data_dir());
        let r = match RiskReader::load(&dir, &model_dir()) {
            Ok(r) => r,
            Err(e) if std::env::var_os("ATTUNE_ESCONV").is_none() => {
                eprintln!("no risk reader ({e}) and ATTUNE_ESCONV is not set to train one: skipped");
                return None;
            }
            Err(e) => panic!("{e} (scripts/test.sh runs `attune risk-reader train` before the suite)"),
        };
        let e = Embedder::load(&model_dir()).unwrap_or_else(|e| panic!("{e}"));
        Some(SemanticRisk::new(Arc::new(e), CrisisConfig::default().semantic_thresholds()).unwrap().with_reader(Some(Arc::new(r))))
    })
    .as_ref()
}

fn grade(layer: &SemanticRisk, turns: &[&str]) -> Risk {
    let cfg = CrisisConfig::default();
    let mut t = CrisisTracker::default();
    turns.iter().map(|x| t.on_turn_with(x, &cfg, Some(layer)).risk).last().unwrap_or(Risk::None)
}

#[test]
fn the_installed_reader_never_lowers_a_grade_and_leaves_everyday_talk_alone() {
    let Some(layer) = with_reader() else { return };
    let grade = |turns: &[&str]| grade(layer, turns);
    assert_eq!(grade(&["I'm going to kill myself tonight, I have the pills here"]), Risk::Imminent);
    assert!(grade(&["I want to die"]) >= Risk::High);
    for t in ["We went to the beach and had ice cream.", "Can you help me plan my week?", "I'm so tired of this assignment, it's killing me lol", "Goodbye, see you tomorrow!"] {
        assert_eq!(grade(&[t]), Risk::None, "{t}");
    }
}

struct Floors {
    strict: f64,
    reached: f64,
    spec: f64,
}

fn eval(layer: &SemanticRisk, name: &str) -> attune_dialogue::risk_eval::Report {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("eval").join(name);
    let items = parse_items(&std::fs::read_to_string(&path).unwrap()).unwrap();
    report(&run(&items, &CrisisConfig::default(), Some(layer)))
}

/// Held-out files (never trained on) with the reader: floors a little under
/// the figures measured when the reader was added (README, step 19).
#[test]
fn with_the_reader_the_held_out_files_stay_above_their_floors() {
    let Some(layer) = with_reader() else { return };
    let files: [(&str, Floors); 9] = [
        ("risk-heldout4.jsonl", Floors { strict: 0.77, reached: 0.86, spec: 0.90 }),
        ("risk-heldout5.jsonl", Floors { strict: 0.74, reached: 0.83, spec: 0.93 }),
        ("risk-heldout6.jsonl", Floors { strict: 0.76, reached: 0.86, spec: 0.93 }),
        ("risk-heldout7.jsonl", Floors { strict: 0.71, reached: 0.84, spec: 0.90 }),
        ("risk-heldout8.jsonl", Floors { strict: 0.64, reached: 0.77, spec: 0.92 }),
        ("risk-acts6-heldout.jsonl", Floors { strict: 0.49, reached: 0.65, spec: 0.81 }),
        ("risk-acts7-heldout.jsonl", Floors { strict: 0.63, reached: 0.73, spec: 0.63 }),
        ("risk-acts8-heldout.jsonl", Floors { strict: 0.65, reached: 0.79, spec: 0.73 }),
        ("risk-acts9-heldout.jsonl", Floors { strict: 0.68, reached: 0.76, spec: 0.77 }),
    ];
    let mut failures = Vec::new();
    for (name, f) in files {
        let r = eval(layer, name);
        println!("{name}: strict {:.3} reached {:.3} low {:.3} specificity {:.3} idiom/grief {:.3}", r.high_imminent_recall, r.high_imminent_reached, r.low_recall, r.specificity, r.idiom_grief_specificity);
        if r.high_imminent_recall < f.strict || r.high_imminent_reached < f.reached || r.specificity < f.spec {
            failures.push(format!("{name}: strict {:.3} (floor {}), reached {:.3} ({}), specificity {:.3} ({})", r.high_imminent_recall, f.strict, r.high_imminent_reached, f.reached, r.specificity, f.spec));
        }
    }
    let everyday = eval(layer, "risk-everyday-heldout.jsonl");
    println!("risk-everyday-heldout.jsonl: specificity {:.3}", everyday.specificity);
    if everyday.specificity < 0.95 {
        failures.push(format!("everyday held-out specificity {:.3} (floor 0.95)", everyday.specificity));
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

#[test]
fn with_the_reader_false_alarms_on_esconv_stay_within_the_goals() {
    let Some(dev) = std::env::var_os("ATTUNE_ESCONV") else {
        eprintln!("ATTUNE_ESCONV not set: ESConv false alarms not measured");
        return;
    };
    let Some(layer) = with_reader() else { return };
    let dev = PathBuf::from(dev);
    let failed = dev.with_file_name("failed-esconv.json");
    let turns = attune_dialogue::risk_eval::esconv_seeker_turns(&std::fs::read_to_string(&dev).unwrap(), std::fs::read_to_string(&failed).ok().as_deref()).unwrap();
    let genuine = attune_dialogue::risk_eval::genuine_risk_ids();
    // The odd-numbered turns only: the reader trains on even-numbered ones.
    let turns: Vec<&String> = turns.iter().skip(1).step_by(2).filter(|t| !genuine.contains(&attune_dialogue::risk_eval::text_id(t))).collect();
    let cfg = CrisisConfig::default();
    let (mut protocol, mut check_in) = (0usize, 0usize);
    for t in &turns {
        match CrisisTracker::default().on_turn_with(t, &cfg, Some(layer)).risk {
            Risk::High | Risk::Imminent => protocol += 1,
            Risk::Low => check_in += 1,
            Risk::None => {}
        }
    }
    let n = turns.len() as f64;
    let (p, c) = (protocol as f64 / n * 100.0, check_in as f64 / n * 100.0);
    println!("ESConv with the reader: {} odd-numbered turns, protocol {p:.2} %, check-in {c:.2} %", turns.len());
    assert!(p <= 0.5 && c <= 2.0, "protocol {p:.2} % (goal 0.5), check-in {c:.2} % (goal 2)");
}
