//! Small text utilities shared by the engine's stages.

/// Cleans participant input: drops control characters (keeps newlines as
/// spaces), collapses whitespace, trims, and caps the length at `max_chars`
/// characters (on a char boundary). Returns the cleaned text and whether it
/// was truncated.
pub fn sanitize_input(raw: &str, max_chars: usize) -> (String, bool) {
    let mut out = String::with_capacity(raw.len().min(max_chars * 4));
    let mut last_space = true;
    let mut count = 0usize;
    let mut truncated = false;
    for ch in raw.chars() {
        let ch = if ch.is_whitespace() { ' ' } else { ch };
        if is_stripped(ch) {
            continue;
        }
        if ch == ' ' {
            if last_space {
                continue;
            }
            last_space = true;
        } else {
            last_space = false;
        }
        if count >= max_chars {
            truncated = true;
            break;
        }
        out.push(ch);
        count += 1;
    }
    let trimmed = out.trim_end().to_string();
    (trimmed, truncated)
}

/// Characters removed from participant input and from every LLM draft:
/// C0/C1 controls (whitespace is mapped to a space before this check) and
/// invisible formatting (zero-width space and marks, bidi overrides, word
/// joiners, BOM).
///
/// Design: the zero-width joiner (U+200D) is kept: it glues emoji sequences
/// (👨‍👩‍👧, 🏳️‍🌈) together, and dropping it splits one emoji into several.
fn is_stripped(ch: char) -> bool {
    ch.is_control() || (is_invisible_format(ch) && ch != '\u{200D}')
}

fn is_invisible_format(ch: char) -> bool {
    matches!(ch, '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{2064}' | '\u{FEFF}')
}

/// Cleans a piece of LLM output with the same character rule as
/// [`sanitize_input`] (controls such as ESC and BEL, invisible formatting),
/// but keeps its layout: newlines stay (they end sentences), other
/// whitespace becomes a space, and nothing is collapsed or trimmed, so it
/// can be applied to each streamed delta on its own.
pub fn strip_controls(text: &str) -> String {
    text.chars()
        .filter_map(|ch| match ch {
            '\n' => Some('\n'),
            c if c.is_whitespace() => Some(' '),
            c if is_stripped(c) => None,
            c => Some(c),
        })
        .collect()
}

/// Incremental sentence splitter for streamed text: push token deltas, pop
/// complete sentences. A sentence ends at `.`, `!`, `?` (or an ellipsis)
/// followed by whitespace, or at a newline.
#[derive(Debug, Default, Clone)]
pub struct SentenceSplitter {
    /// Text received but not yet returned as a sentence.
    buf: String,
}

impl SentenceSplitter {
    /// Creates an empty splitter.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends a delta and returns the sentences it completed.
    pub fn push(&mut self, delta: &str) -> Vec<String> {
        self.buf.push_str(delta);
        let mut out = Vec::new();
        loop {
            match find_sentence_end(&self.buf) {
                Some(end) => {
                    let sentence: String = self.buf[..end].trim().to_string();
                    self.buf.drain(..end);
                    if !sentence.is_empty() {
                        out.push(sentence);
                    }
                }
                None => break,
            }
        }
        out
    }

    /// Returns whatever is left as a final sentence.
    pub fn finish(&mut self) -> Option<String> {
        let rest = self.buf.trim().to_string();
        self.buf.clear();
        if rest.is_empty() {
            None
        } else {
            Some(rest)
        }
    }
}

/// Byte index just past the first sentence terminator that is followed by
/// whitespace (so "3.5" or "e.g." mid-stream does not split early).
fn find_sentence_end(s: &str) -> Option<usize> {
    let bytes = s.as_bytes();
    for (i, &b) in bytes.iter().enumerate() {
        if b == b'\n' {
            return Some(i + 1);
        }
        if matches!(b, b'.' | b'!' | b'?') {
            // Skip over runs of terminators and closing quotes.
            let mut j = i + 1;
            while j < bytes.len() && matches!(bytes[j], b'.' | b'!' | b'?' | b'"' | b'\'' | b')') {
                j += 1;
            }
            if j < bytes.len() && (bytes[j] == b' ' || bytes[j] == b'\n') {
                if b == b'.' && is_abbreviation(&s[..i]) {
                    continue;
                }
                return Some(j);
            }
        }
    }
    None
}

fn is_abbreviation(before: &str) -> bool {
    let word = before.rsplit(|c: char| c.is_whitespace()).next().unwrap_or("");
    matches!(word.to_ascii_lowercase().as_str(), "mr" | "mrs" | "ms" | "dr" | "e.g" | "i.e" | "etc" | "vs" | "st")
}

/// Splits a complete text into sentences.
pub fn split_sentences(text: &str) -> Vec<String> {
    let mut sp = SentenceSplitter::new();
    let mut out = sp.push(text);
    out.extend(sp.finish());
    out
}

/// Number of whitespace-separated words.
pub fn word_count(text: &str) -> usize {
    text.split_whitespace().count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sanitize_drops_controls_and_collapses_whitespace() {
        let (s, t) = sanitize_input("  hi\u{7}\tthere\r\n\u{202E}you ", 100);
        assert_eq!(s, "hi there you");
        assert!(!t);
    }

    #[test]
    fn zero_width_joiners_keep_emoji_sequences_whole_while_other_invisibles_go() {
        let family = "\u{1F468}\u{200D}\u{1F469}\u{200D}\u{1F467}";
        let (s, _) = sanitize_input(&format!("my {family}\u{200B} is\u{1B} here\u{2060}"), 100);
        assert_eq!(s, format!("my {family} is here"));
    }

    #[test]
    fn drafts_lose_the_same_control_characters_as_input_but_keep_newlines() {
        let raw = "That\u{1B}[31m sounds\u{7} hard.\nWhat\u{9B} \u{202E}happened?\r";
        assert_eq!(strip_controls(raw), "That[31m sounds hard.\nWhat happened? ");
        // The same characters a participant cannot send.
        let (input, _) = sanitize_input(raw, 100);
        assert_eq!(input, "That[31m sounds hard. What happened?");
        assert_eq!(strip_controls(" a "), " a ", "spacing of a streamed delta is kept");
    }

    #[test]
    fn sanitize_caps_long_input_on_char_boundary() {
        let long = "é".repeat(10_000);
        let (s, t) = sanitize_input(&long, 2000);
        assert_eq!(s.chars().count(), 2000);
        assert!(t);
    }

    #[test]
    fn splitter_returns_sentences_as_they_complete() {
        let mut sp = SentenceSplitter::new();
        assert!(sp.push("That sounds").is_empty());
        assert!(sp.push(" hard.").is_empty());
        assert_eq!(sp.push(" What happened"), vec!["That sounds hard.".to_string()]);
        assert_eq!(sp.push("? Tell me"), vec!["What happened?".to_string()]);
        assert_eq!(sp.push(" more. "), vec!["Tell me more.".to_string()]);
        assert_eq!(sp.finish(), None);
    }

    #[test]
    fn splitter_does_not_split_decimals_or_abbreviations() {
        assert_eq!(split_sentences("It was 3.5 hours with Dr. Lee. Then home."), vec!["It was 3.5 hours with Dr. Lee.", "Then home."]);
    }
}
