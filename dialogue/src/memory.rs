//! Memory across a multi-day study: a short, bounded, deterministic summary
//! of each session, fed into later sessions' prompts.
//!
//! Design: summaries are built from what the participant said (feelings they
//! named, the gist of what they disclosed), not by the LLM, so they never
//! contain a feeling the participant did not express and never grow.

use crate::reasoner::UserAct;

/// What one turn contributes to the session summary.
#[derive(Debug, Clone)]
pub struct TurnNote {
    /// The participant's act.
    pub act: UserAct,
    /// Feelings they named.
    pub emotions: Vec<String>,
    /// Their words (sanitised).
    pub text: String,
    /// Whether the crisis protocol reply was used.
    pub crisis: bool,
}

/// Builds a session summary of at most `max_chars` characters.
pub fn summarize(day: u32, notes: &[TurnNote], max_chars: usize) -> String {
    let mut feelings: Vec<&str> = Vec::new();
    for n in notes {
        for e in &n.emotions {
            if !feelings.contains(&e.as_str()) {
                feelings.push(e);
            }
        }
    }
    let topics: Vec<String> = notes
        .iter()
        .filter(|n| n.act == UserAct::Disclosure)
        .take(3)
        .map(|n| clip(&n.text, 80))
        .collect();
    let mut s = format!("Day {day}:");
    if notes.is_empty() {
        s.push_str(" no conversation.");
    }
    if !feelings.is_empty() {
        s.push_str(&format!(" they named feeling {}.", feelings.join(", ")));
    }
    if !topics.is_empty() {
        s.push_str(" They talked about: ");
        s.push_str(&topics.iter().map(|t| format!("\"{t}\"")).collect::<Vec<_>>().join("; "));
        s.push('.');
    }
    if notes.iter().any(|n| n.act == UserAct::AdviceRequest) {
        s.push_str(" They asked for ideas.");
    }
    if notes.iter().any(|n| n.crisis) {
        s.push_str(" The crisis protocol was used; check in gently.");
    }
    clip(&s, max_chars)
}

/// Cuts `s` to at most `max` characters on a word boundary, adding "…".
pub fn clip(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    if max == 0 {
        return String::new();
    }
    let cut: String = s.chars().take(max.saturating_sub(1)).collect();
    let cut = match cut.rfind(' ') {
        Some(i) if i > cut.len() / 2 => cut[..i].to_string(),
        _ => cut,
    };
    format!("{cut}…")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn note(act: UserAct, emotions: &[&str], text: &str) -> TurnNote {
        TurnNote { act, emotions: emotions.iter().map(|s| s.to_string()).collect(), text: text.into(), crisis: false }
    }

    #[test]
    fn summary_names_only_feelings_the_participant_named() {
        let s = summarize(2, &[note(UserAct::Disclosure, &["stressed"], "exams are next week"), note(UserAct::SmallTalk, &[], "hi")], 400);
        assert!(s.contains("stressed"), "{s}");
        assert!(s.contains("exams are next week"), "{s}");
        assert!(!s.contains("sad"), "{s}");
        assert!(s.starts_with("Day 2:"));
    }

    #[test]
    fn summary_never_exceeds_its_bound() {
        let long = "word ".repeat(500);
        let notes: Vec<_> = (0..50).map(|_| note(UserAct::Disclosure, &["lonely", "tired"], &long)).collect();
        for max in [0, 1, 10, 100, 400] {
            assert!(summarize(1, &notes, max).chars().count() <= max);
        }
    }
}
