//! The validator's coherence flags on the held-out set (written before the
//! rules and never tuned on) with floors, the tuning set, and the false-flag
//! rate on ESConv human supporter turns when `ATTUNE_ESCONV` names the dev
//! file. Run with `--no-capture` to read the tables.

use attune_dialogue::embed::Embedder;
use attune_dialogue::evalset::{esconv, parse, score, score_replay, score_with, Report};
use attune_dialogue::validator::{Grounding, ValidatorConfig};
use std::path::PathBuf;
use std::sync::OnceLock;

const HELDOUT: &str = include_str!("../eval/coherence-heldout.jsonl");
const TUNE: &str = include_str!("../eval/coherence-tune.jsonl");

/// Prints a held-out report and checks the overall floors: bad replies
/// caught, good replies flagged.
fn print_and_check_held_out(r: &Report, name: &str) {
    println!("{}", r.table(name));
    for e in &r.errors {
        println!("  {e}");
    }
    let caught = f64::from(r.bad_caught) / f64::from(r.bad);
    let false_flags = f64::from(r.good_flagged) / f64::from(r.good);
    assert!(caught >= 0.95, "{name}: bad replies caught {caught:.2}");
    assert!(false_flags <= 0.05, "{name}: good replies flagged {false_flags:.2}");
}

#[test]
fn held_out_coherence_flags_stay_above_their_floors() {
    let items = parse(HELDOUT).expect("held-out set parses");
    assert!(items.len() >= 100, "held-out set too small: {}", items.len());
    let r = score(&items);
    // Floors a little under the figures measured on this file (README), so a
    // regression fails. Precision is strict: a flag on a reply that is bad
    // for another reason counts against it (off_topic's extra flags fall on
    // condolences and medication replies that are off the turn too).
    print_and_check_held_out(&r, "coherence-heldout.jsonl");
    for (name, c) in &r.per_flag {
        assert!(c.recall() >= 0.70, "{name}: recall {:.2}", c.recall());
        assert!(c.precision() >= 0.50, "{name}: precision {:.2}", c.precision());
    }
}

#[test]
fn tuning_set_scores_are_printed_and_nearly_clean() {
    let items = parse(TUNE).expect("tuning set parses");
    let r = score(&items);
    println!("{}", r.table("coherence-tune.jsonl"));
    for e in &r.errors {
        println!("  {e}");
    }
    assert!(f64::from(r.bad_caught) / f64::from(r.bad) >= 0.90);
    assert!(r.good_flagged <= 2, "good replies flagged: {}", r.good_flagged);
}

#[test]
fn human_supporter_turns_rarely_get_a_coherence_flag() {
    let Ok(path) = std::env::var("ATTUNE_ESCONV") else {
        eprintln!("ATTUNE_ESCONV is not set: ESConv false-flag check not run (scripts/test.sh sets it when the data is present)");
        return;
    };
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("ATTUNE_ESCONV={path}: {e}"));
    let r = esconv(&text).expect("ESConv dev parses");
    println!("{}", r.table());
    for (flag, ex) in &r.examples {
        for e in ex {
            println!("  {flag}: {e}");
        }
    }
    let rate = f64::from(r.flagged) / f64::from(r.rows.max(1));
    assert!(r.rows > 1000, "too few rows: {}", r.rows);
    // Human supporters may self-disclose (a robot may not), so human_claim
    // on Self-disclosure turns is not a false flag.
    let false_rate = f64::from(r.false_flagged) / f64::from(r.rows);
    assert!(false_rate <= 0.05, "coherence flags on {:.1}% of human supporter turns (all flags {:.1}%)", 100.0 * false_rate, 100.0 * rate);
}

/// The sentence embedder the engine uses when the semantic layer is loaded
/// (installed by the set-up; `ATTUNE_MINILM_DIR` overrides).
fn embedder() -> &'static Embedder {
    static E: OnceLock<Embedder> = OnceLock::new();
    E.get_or_init(|| {
        let dir = if let Some(d) = std::env::var_os("ATTUNE_MINILM_DIR") {
            PathBuf::from(d)
        } else {
            let data = match (std::env::var_os("ATTUNE_HOME"), std::env::var_os("XDG_DATA_HOME")) {
                (Some(h), _) => PathBuf::from(h),
                (None, Some(x)) => PathBuf::from(x).join("attune"),
                (None, None) => PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".local/share/attune"),
            };
            attune_dialogue::embed::default_model_dir(&data)
        };
        Embedder::load(&dir).unwrap_or_else(|e| panic!("all-MiniLM-L6-v2 not usable at {}: {e}; run scripts/fetch-minilm.sh", dir.display()))
    })
}

#[test]
fn with_the_embedder_off_topic_is_decided_by_meaning_and_the_held_out_floors_hold() {
    let items = parse(HELDOUT).expect("held-out set parses");
    let lexical = score(&items);
    let r = score_with(Some(embedder()), &items);
    print_and_check_held_out(&r, "coherence-heldout.jsonl (with the embedder)");
    let (sem, lex) = (r.per_flag["off_topic"], lexical.per_flag["off_topic"]);
    // Measured once the threshold was set on the tuning file (README): 0.71 /
    // 0.71, the same as the lexical measure (it catches other replies, and
    // flags two that are bad for another reason) — so the engine still
    // decides off_topic lexically; this keeps the measurement honest.
    assert!(sem.recall() >= 0.70, "off_topic recall with the embedder {:.2}", sem.recall());
    assert!(sem.precision() >= 0.70, "off_topic precision with the embedder {:.2}", sem.precision());
    assert!(sem.tp >= lex.tp, "the embedder caught fewer off-topic replies ({}) than the lexical measure ({})", sem.tp, lex.tp);
}

const REPLAY_TUNE: &str = include_str!("../eval/coherence-replay-tune.jsonl");
const REPLAY_HELDOUT: &str = include_str!("../eval/coherence-replay-heldout.jsonl");

fn strict() -> ValidatorConfig {
    ValidatorConfig { grounding: Grounding::Strict, ..ValidatorConfig::default() }
}

fn off() -> ValidatorConfig {
    ValidatorConfig { grounding: Grounding::Off, ..ValidatorConfig::default() }
}

#[test]
fn replay_sets_print_with_and_without_strict_grounding() {
    for (name, text) in [("coherence-replay-tune.jsonl", REPLAY_TUNE), ("coherence-replay-heldout.jsonl", REPLAY_HELDOUT)] {
        let items = parse(text).expect("replay set parses");
        assert_eq!(items.len(), 72, "{name}");
        for (mode, cfg) in [("grounding off", off()), ("grounding strict", strict())] {
            let r = score_replay(&items, &cfg);
            println!("{}", r.table(&format!("{name}, {mode}")));
            for e in &r.errors {
                println!("  {e}");
            }
        }
    }
}

/// Floors a little under the figures of the first (and only) scoring of the
/// held-out replay file with strict grounding (README): 42 of its 45 bad
/// LLM replies stopped, none of its 6 good ones. Without strict grounding
/// the other checks stopped none of them, since the engine had released
/// every one.
#[test]
fn strict_grounding_stops_the_embedded_models_bad_replies_on_the_held_out_replay() {
    let items = parse(REPLAY_HELDOUT).expect("replay set parses");
    let r = score_replay(&items, &strict());
    println!("{}", r.table("coherence-replay-heldout.jsonl, strict"));
    assert_eq!((r.bad, r.good), (45, 6));
    assert!(r.bad_caught >= 40, "bad LLM replies stopped: {}/45", r.bad_caught);
    assert!(r.good_flagged <= 1, "good LLM replies stopped: {}/6", r.good_flagged);
    let tune = score_replay(&parse(REPLAY_TUNE).expect("replay set parses"), &strict());
    assert!(tune.bad_caught >= 52, "tuning replay: bad stopped {}/{}", tune.bad_caught, tune.bad);
}

/// What strict grounding costs a capable writer: the good replies of the
/// hand-written sets (written for the other checks, before this one) and,
/// when `ATTUNE_ESCONV` is set, human supporter turns.
#[test]
fn strict_grounding_cost_on_well_formed_replies_is_printed() {
    for (name, text) in [("coherence-heldout.jsonl", HELDOUT), ("coherence-tune.jsonl", TUNE)] {
        let items = parse(text).expect("set parses");
        let good: Vec<_> = items.iter().filter(|i| i.expect.is_empty()).collect();
        let stopped: Vec<_> = good
            .iter()
            .filter(|i| attune_dialogue::evalset::validator_flags(&strict(), &i.user, &i.reply, &i.earlier_user, &i.recent_replies).contains(&attune_dialogue::validator::Flag::Ungrounded))
            .collect();
        println!("{name}: good replies stopped by strict grounding {}/{}", stopped.len(), good.len());
        for i in &stopped {
            println!("  {:?} -> {:?}", i.user, i.reply);
        }
        assert!(!good.is_empty());
    }
    if let Ok(path) = std::env::var("ATTUNE_ESCONV") {
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("ATTUNE_ESCONV={path}: {e}"));
        let (stopped, rows, ex) = attune_dialogue::evalset::esconv_ungrounded(&text).expect("ESConv parses");
        println!("ESConv supporter turns stopped by strict grounding: {stopped}/{rows} = {:.1}%", 100.0 * f64::from(stopped) / f64::from(rows.max(1)));
        for e in ex {
            println!("  {e}");
        }
        assert!(rows > 1000);
    }
}

const REPLAY_C: &str = include_str!("../eval/coherence-replay-c.jsonl");

/// One run ("off" or "strict") of a replay set, its LLM replies scored
/// strict, the table and every miss printed.
fn scored_run(items: &[attune_dialogue::evalset::Item], run: &str, title: &str) -> attune_dialogue::evalset::ReplayReport {
    let replies: Vec<_> = items.iter().filter(|i| i.run == run).cloned().collect();
    let r = score_replay(&replies, &strict());
    println!("{}", r.table(title));
    for e in &r.errors {
        println!("  {e}");
    }
    r
}

/// The labelled outcome of each run, as released (for the README tables).
fn print_runs(items: &[attune_dialogue::evalset::Item]) {
    for run in ["off", "strict"] {
        let n = items.iter().filter(|i| i.run == run).count();
        let good = items.iter().filter(|i| i.run == run && i.labels == ["good"]).count();
        let llm = items.iter().filter(|i| i.run == run && i.source == "llm").count();
        let llm_good = items.iter().filter(|i| i.run == run && i.source == "llm" && i.labels == ["good"]).count();
        println!("{run} run: replies judged good {good}/{n}; LLM replies good {llm_good}/{llm}");
    }
}

/// The third writer's conversations, run once with grounding off and once
/// strict, all 144 replies labelled blind and shuffled together. The
/// LLM replies of the "off" run were never tuned on: strict grounding,
/// scored on them once, stopped the figures below (README).
#[test]
fn strict_grounding_on_the_third_writers_replay_keeps_its_first_scoring() {
    let items = parse(REPLAY_C).expect("replay set parses");
    assert_eq!(items.len(), 144);
    let r = scored_run(&items, "off", "coherence-replay-c.jsonl, the grounding-off run's LLM replies, scored strict");
    assert_eq!((r.bad, r.good), (59, 3));
    assert!(r.bad_caught >= 55, "bad LLM replies stopped: {}/59", r.bad_caught);
    // The strict run's released LLM replies passed the checks of their
    // day; these were tuned on afterwards (3b9917c and later), so this
    // figure is a tuning figure, printed for the README.
    scored_run(&items, "strict", "coherence-replay-c.jsonl, the strict run's released LLM replies, scored with today's checks (tuned on)");
    print_runs(&items);
}

const REPLAY_D: &str = include_str!("../eval/coherence-replay-d.jsonl");

/// The fourth writer's conversations (a night-shift worker, a new dad, a
/// carer, a man with back pain in a new job, a nurse with English as a
/// second language, an apprentice), run and labelled as the third's. The
/// "off" run's LLM replies, scored strict once before anything was tuned on
/// them, gave the floors below (README).
#[test]
fn strict_grounding_on_the_fourth_writers_replay_keeps_its_first_scoring() {
    let items = parse(REPLAY_D).expect("replay set parses");
    assert_eq!(items.len(), 144);
    let r = scored_run(&items, "off", "coherence-replay-d.jsonl, the grounding-off run's LLM replies, scored strict");
    // First scoring (bd66386 and the two commits after it, which changed
    // no check): 57 of 59 bad stopped, both good ones stopped too.
    assert_eq!((r.bad, r.good), (59, 2));
    assert!(r.bad_caught >= 55, "bad LLM replies stopped: {}/59", r.bad_caught);
    // The strict run's released LLM replies, tuned on since.
    scored_run(&items, "strict", "coherence-replay-d.jsonl, the strict run's released LLM replies, scored with today's checks (tuned on)");
    print_runs(&items);
}

const REPLAY_E: &str = include_str!("../eval/coherence-replay-e.jsonl");

/// The fifth writer's conversations (a widowed retired bus driver, a
/// 15-year-old texting, a single mum on a supermarket till, an Italian PhD
/// student, a man just made redundant, a woman with fibromyalgia), run and
/// labelled as the fourth's. The "off" run's LLM replies are scored with
/// checks written after that run was seen (the medicine-question referral
/// of strict grounding came from its strict run; without it the figure was
/// the same, 53/53), so the floor holds what they catch (README).
#[test]
fn strict_grounding_on_the_fifth_writers_replay() {
    let items = parse(REPLAY_E).expect("replay set parses");
    assert_eq!(items.len(), 144);
    let r = scored_run(&items, "off", "coherence-replay-e.jsonl, the grounding-off run's LLM replies, scored strict");
    assert_eq!((r.bad, r.good), (53, 3));
    assert!(r.bad_caught >= 51, "bad LLM replies stopped: {}/53", r.bad_caught);
    scored_run(&items, "strict", "coherence-replay-e.jsonl, the strict run's released LLM replies, scored with today's checks (tuned on)");
    print_runs(&items);
}
