//! Turning token pieces into streamable text: UTF-8 assembly across token
//! boundaries and stop-sequence matching that never leaks part of a stop
//! string. Pure; the generator feeds bytes in and sends what comes out.

/// Joins token pieces (raw bytes) into valid UTF-8. A multi-byte character can
/// be split across tokens; its first bytes wait here until the rest arrives.
#[derive(Debug, Default)]
pub struct Utf8Assembler {
    /// Bytes of an incomplete character carried to the next push.
    pending: Vec<u8>,
}

impl Utf8Assembler {
    /// Adds one token's bytes; returns the text that is complete so far.
    /// Invalid sequences become U+FFFD rather than an error.
    pub fn push(&mut self, bytes: &[u8]) -> String {
        self.pending.extend_from_slice(bytes);
        let mut out = String::new();
        loop {
            match std::str::from_utf8(&self.pending) {
                Ok(s) => {
                    out.push_str(s);
                    self.pending.clear();
                    return out;
                }
                Err(e) => {
                    let valid = e.valid_up_to();
                    // Safe: from_utf8 said the prefix is valid.
                    out.push_str(std::str::from_utf8(&self.pending[..valid]).unwrap_or_default());
                    match e.error_len() {
                        // Incomplete tail: keep it for the next token.
                        None => {
                            self.pending.drain(..valid);
                            return out;
                        }
                        Some(bad) => {
                            out.push('\u{FFFD}');
                            self.pending.drain(..valid + bad);
                        }
                    }
                }
            }
        }
    }

    /// End of generation: whatever is left cannot complete any more.
    pub fn finish(&mut self) -> String {
        let out = String::from_utf8_lossy(&self.pending).into_owned();
        self.pending.clear();
        out
    }
}

/// What the stop matcher decided about newly generated text.
#[derive(Debug, PartialEq, Eq)]
pub struct StopOutput {
    /// Text that is safe to send now.
    pub emit: String,
    /// A stop sequence was hit: generation ends; nothing after it is sent.
    pub stopped: bool,
}

/// Finds stop sequences in streamed text. Text that might be the start of a
/// stop sequence is held back until it is clearly not one.
#[derive(Debug)]
pub struct StopMatcher {
    /// The request's stop strings (non-empty).
    stops: Vec<String>,
    /// Generated text not yet emitted because it may begin a stop string.
    held: String,
}

impl StopMatcher {
    /// A matcher for these stop strings (empty strings are ignored).
    pub fn new(stops: &[String]) -> Self {
        Self { stops: stops.iter().filter(|s| !s.is_empty()).cloned().collect(), held: String::new() }
    }

    /// Adds generated text.
    pub fn push(&mut self, text: &str) -> StopOutput {
        if self.stops.is_empty() {
            return StopOutput { emit: text.to_owned(), stopped: false };
        }
        self.held.push_str(text);
        // Earliest full match of any stop string ends generation there.
        let hit = self.stops.iter().filter_map(|s| self.held.find(s.as_str())).min();
        if let Some(at) = hit {
            let emit = self.held[..at].to_owned();
            self.held.clear();
            return StopOutput { emit, stopped: true };
        }
        // Hold back the longest suffix that is a proper prefix of a stop string.
        let keep = self.longest_partial_suffix();
        let split = self.held.len() - keep;
        let emit = self.held[..split].to_owned();
        self.held.drain(..split);
        StopOutput { emit, stopped: false }
    }

    /// End of generation without a stop: the held text was not a stop string.
    pub fn finish(&mut self) -> String {
        std::mem::take(&mut self.held)
    }

    fn longest_partial_suffix(&self) -> usize {
        let h = self.held.as_str();
        let mut best = 0;
        for s in &self.stops {
            // Candidate lengths are char boundaries of the held text.
            for (i, _) in h.char_indices() {
                let suffix = &h[i..];
                if suffix.len() <= best {
                    break;
                }
                if suffix.len() < s.len() && s.starts_with(suffix) {
                    best = suffix.len();
                    break;
                }
            }
        }
        best
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_character_split_across_tokens_is_emitted_once_complete() {
        let mut a = Utf8Assembler::default();
        let heart = "é♥".as_bytes(); // c3 a9 e2 99 a5
        assert_eq!(a.push(&heart[..1]), "");
        assert_eq!(a.push(&heart[1..3]), "é");
        assert_eq!(a.push(&heart[3..]), "♥");
        assert_eq!(a.finish(), "");
    }

    #[test]
    fn invalid_bytes_become_replacement_characters_not_errors() {
        let mut a = Utf8Assembler::default();
        assert_eq!(a.push(&[b'a', 0xff, b'b']), "a\u{FFFD}b");
        assert_eq!(a.push(&[0xe2, 0x99]), "");
        assert_eq!(a.finish(), "\u{FFFD}");
    }

    #[test]
    fn text_without_stop_strings_passes_straight_through() {
        let mut m = StopMatcher::new(&[]);
        assert_eq!(m.push("Hello"), StopOutput { emit: "Hello".into(), stopped: false });
    }

    #[test]
    fn a_stop_string_inside_one_piece_cuts_the_text_before_it() {
        let mut m = StopMatcher::new(&["END".into()]);
        assert_eq!(m.push("abc END def"), StopOutput { emit: "abc ".into(), stopped: true });
    }

    #[test]
    fn a_stop_string_spread_over_pieces_is_never_leaked() {
        let mut m = StopMatcher::new(&["\n\n".into()]);
        assert_eq!(m.push("one\n"), StopOutput { emit: "one".into(), stopped: false });
        assert_eq!(m.push("\ntwo"), StopOutput { emit: "".into(), stopped: true });
    }

    #[test]
    fn held_text_that_turns_out_not_to_stop_is_released() {
        let mut m = StopMatcher::new(&["STOP".into()]);
        assert_eq!(m.push("a ST").emit, "a ");
        assert_eq!(m.push("ART").emit, "START");
        assert_eq!(m.push(" S").emit, " ");
        assert_eq!(m.finish(), "S");
    }

    #[test]
    fn the_earliest_of_several_stop_strings_wins() {
        let mut m = StopMatcher::new(&["zz".into(), "b".into()]);
        assert_eq!(m.push("abzz"), StopOutput { emit: "a".into(), stopped: true });
    }

    #[test]
    fn partial_matching_respects_multibyte_characters() {
        let mut m = StopMatcher::new(&["♥♥".into()]);
        assert_eq!(m.push("é♥").emit, "é");
        assert_eq!(m.push("♥x"), StopOutput { emit: "".into(), stopped: true });
    }
}
