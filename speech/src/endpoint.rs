//! Does the transcript so far sound finished? The lexical half of adaptive
//! end-of-turn detection: [`crate::turn::TurnTaker`] waits a short silence
//! after a complete thought and a long one after a trailing "and", "but",
//! "um", and its usual wait when the words say nothing either way.
//!
//! Design: rules, not a model. whisper's partial transcript already carries
//! punctuation (it ends a finished sentence with `.`/`?`/`!` and often leaves
//! an unfinished one bare or with `...`/`,`), and the words that hold a turn
//! open in English are a short closed class: coordinating and subordinating
//! conjunctions, fillers, articles, prepositions and possessives that need
//! a noun after them. Lists were written from grammar, then checked on the
//! tune split of the endpointing set (see `attune eval asr` / the bench).

/// What the words say about the end of the turn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Completeness {
    /// A finished thought: the turn may end after a short silence.
    Complete,
    /// Trailing conjunction, filler or dangling word: keep listening longer.
    Incomplete,
    /// Nothing to go on: the usual wait.
    Unknown,
}

/// Words after which a sentence cannot have ended.
const HOLD_WORDS: &[&str] = &[
    // coordinating / subordinating conjunctions
    "and", "but", "or", "so", "because", "cause", "cos", "since", "although", "though", "while", "when", "if",
    "unless", "until", "whereas", "then", "that", "which", "who", "whose", "where", "as", "than", "like",
    // fillers
    "um", "uh", "er", "erm", "hmm", "mm", "ah", "uhm", "umm", "uhh",
    // determiners and possessives that need a noun
    "the", "a", "an", "my", "your", "his", "her", "our", "their", "its", "this", "these", "those", "some",
    "any", "every", "no",
    // prepositions and infinitive "to"
    "to", "of", "in", "on", "at", "for", "with", "about", "from", "into", "by", "over", "after", "before",
    // auxiliaries and pronoun subjects left hanging ("I think I", "it was")
    "i", "i'm", "im", "was", "were", "is", "am", "are", "be", "been", "have", "has", "had", "do", "did",
    "really", "just", "very", "more", "most", "not",
];

/// Phrases that hold the turn when they end it.
const HOLD_PHRASES: &[&[&str]] = &[&["you", "know"], &["i", "mean"], &["kind", "of"], &["sort", "of"], &["and", "then"]];

/// Judges a (partial) transcript.
pub fn completeness(text: &str) -> Completeness {
    let t = text.trim();
    if t.is_empty() {
        return Completeness::Unknown;
    }
    // Trailing ellipsis, dash or comma: whisper heard the voice trail off.
    if t.ends_with("...") || t.ends_with('…') || t.ends_with('-') || t.ends_with('—') || t.ends_with(',') {
        return Completeness::Incomplete;
    }
    let words = crate::wer::normalize(t);
    let Some(last) = words.last() else { return Completeness::Unknown };
    if HOLD_WORDS.contains(&last.as_str()) {
        return Completeness::Incomplete;
    }
    for p in HOLD_PHRASES {
        if words.len() >= p.len() && words[words.len() - p.len()..].iter().zip(p.iter()).all(|(a, b)| a == b) {
            return Completeness::Incomplete;
        }
    }
    if t.ends_with('.') || t.ends_with('?') || t.ends_with('!') {
        // A lone filler or one-word answer is complete only if it is an answer.
        return Completeness::Complete;
    }
    Completeness::Unknown
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_finished_sentence_is_complete() {
        assert_eq!(completeness("I have been feeling really stressed about my exams."), Completeness::Complete);
        assert_eq!(completeness("Can you help me?"), Completeness::Complete);
        assert_eq!(completeness("Yes."), Completeness::Complete);
    }

    #[test]
    fn trailing_conjunctions_and_fillers_hold_the_turn() {
        for t in ["I went to the shop and", "I wanted to go, but", "It was, um", "I was thinking that...", "My mother,", "I feel like, you know"] {
            assert_eq!(completeness(t), Completeness::Incomplete, "{t}");
        }
        // whisper sometimes closes a trailing conjunction with a full stop.
        assert_eq!(completeness("I went to the shop and."), Completeness::Incomplete);
        assert_eq!(completeness("Um."), Completeness::Incomplete);
    }

    #[test]
    fn bare_text_without_punctuation_is_unknown() {
        assert_eq!(completeness("I went to the shop yesterday"), Completeness::Unknown);
        assert_eq!(completeness(""), Completeness::Unknown);
    }
}
