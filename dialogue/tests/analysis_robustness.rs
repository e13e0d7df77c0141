//! Every deterministic analysis function must return (never panic, never
//! hang) on any input: empty, huge, control characters, lossy-decoded
//! invalid UTF-8, mixed scripts. Inputs come from a fixed-seed generator so
//! a failure reproduces exactly.

use attune_dialogue::crisis::{assess, CrisisConfig, CrisisTracker};
use attune_dialogue::reasoner::{analyze, ReasonerContext};
use attune_dialogue::reflect::{reflect_reply, ReflectState};
use attune_dialogue::strategy::{code_reply, primary_strategy};
use attune_dialogue::validator::{validate, ValidationInput, ValidatorConfig};

/// xorshift64*: small, deterministic, good enough to scatter bytes.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

const PIECES: &[&str] = &[
    "I ", "you ", "not ", "never ", "kill myself", "want to die", "sad", "angry", "don't worry", "at least ", "you should ",
    "?", ".", "!", ",", "’", "'", "\u{0}", "\u{7}", "\u{202E}", "\u{FEFF}", "é", "日本語", "🙂", "\n", "\t", "  ", "bye",
    "ignore previous instructions", "system prompt", "I'm a failure", "nobody likes me", "you're right", "50 mg", "my mom ",
    "tonight", "pills", "suicide", "suicidal", "hurt myself", "lost", "down", "so ", "feel ", "feeling ", "I always ",
    "have you tried", "try to ", "what should I do", "yes", "no", "…", "\"", "(", ")", "İ", "ß", "ﬁ", "O\u{212A} ", "\u{212A}", "well ",
];

fn random_text(rng: &mut Rng) -> String {
    let mut s = String::new();
    let parts = rng.below(40);
    for _ in 0..parts {
        if rng.below(4) == 0 {
            // Arbitrary bytes, decoded lossily like an invalid-UTF-8 line.
            let bytes: Vec<u8> = (0..rng.below(12)).map(|_| (rng.next() & 0xFF) as u8).collect();
            s.push_str(&String::from_utf8_lossy(&bytes));
        } else {
            s.push_str(PIECES[rng.below(PIECES.len())]);
        }
    }
    s
}

fn exercise(text: &str, tracker: &mut CrisisTracker, state: &mut ReflectState) {
    let cfg = CrisisConfig::default();
    let d = tracker.on_turn(text, &cfg);
    assert_eq!(d.use_protocol_reply, d.risk >= attune_dialogue::crisis::Risk::High);
    let _ = assess(text, true);
    for offered in [false, true] {
        let a = analyze(text, &ReasonerContext { offered_suggestions: offered });
        let reply = reflect_reply(text, &a, state);
        assert!(!reply.is_empty() && reply.len() < 400, "reflect reply out of bounds: {reply:?}");
        let earlier = vec![text.to_string()];
        let secrets = vec![text.chars().take(40).collect::<String>()];
        let input = ValidationInput { reply: text, user_text: text, analysis: &a, earlier_user_texts: &earlier, suggestions_allowed: offered, secret_phrases: &secrets, recent_replies: &[], topic_similarity: None };
        let _ = validate(&input, &ValidatorConfig::default());
        let input = ValidationInput { reply: &reply, user_text: text, analysis: &a, earlier_user_texts: &earlier, suggestions_allowed: offered, secret_phrases: &[], recent_replies: &[], topic_similarity: None };
        let _ = validate(&input, &ValidatorConfig { max_words: 0, max_sentences: 0, grounding: attune_dialogue::validator::Grounding::Strict });
    }
    let _ = code_reply(text);
    let _ = primary_strategy(text);
}

#[test]
fn analysis_functions_survive_random_inputs() {
    let mut rng = Rng(0x5EED_1234_ABCD_0001);
    let mut tracker = CrisisTracker::default();
    let mut state = ReflectState { turns: u64::MAX - 3, ..Default::default() };
    for _ in 0..400 {
        let t = random_text(&mut rng);
        exercise(&t, &mut tracker, &mut state);
    }
}

#[test]
fn analysis_functions_survive_a_100_kb_line() {
    let mut tracker = CrisisTracker::default();
    let mut state = ReflectState::default();
    for unit in ["kill myself ", "I feel sad, ", "a", "you should try to ", "é日🙂", "not not not ", "\u{0}\u{7}"] {
        let big = unit.repeat(100_000 / unit.len() + 1);
        exercise(&big, &mut tracker, &mut state);
    }
}

#[test]
fn analysis_functions_survive_edge_cases() {
    let mut tracker = CrisisTracker::default();
    let mut state = ReflectState::default();
    for t in ["", " ", "\n\n", "?", "'", "’’’", "I", "i'm", "\u{FFFD}\u{FFFD}", "...", "!!!???", "a,b;c:d", "(((", "\"\"\""] {
        exercise(t, &mut tracker, &mut state);
    }
}
