//! Word error rate: (substitutions + deletions + insertions) / reference words,
//! on words normalised the same way for reference and hypothesis.

/// Lower-case words with punctuation stripped; hyphens and slashes split words
/// ("mm-hmm" is two words either way); common contractions are expanded
/// ("I'm" = "I am"), as in whisper's own English text normaliser, so a
/// transcript is not charged for spelling what was said differently.
pub fn normalize(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for w in text.split(|c: char| c.is_whitespace() || c == '-' || c == '/' || c == '—') {
        let w: String = w
            .chars()
            .map(|c| if c == '’' { '\'' } else { c })
            .filter(|c| c.is_alphanumeric() || *c == '\'')
            .collect::<String>()
            .to_lowercase();
        let w = w.trim_matches('\'');
        if w.is_empty() {
            continue;
        }
        match expand(w) {
            Some(parts) => out.extend(parts.iter().map(|p| p.to_string())),
            None => out.push(w.to_string()),
        }
    }
    out
}

/// Contractions whose expansion is not ambiguous ("he's" is not here: is/has).
fn expand(w: &str) -> Option<&'static [&'static str]> {
    Some(match w {
        "i'm" => &["i", "am"],
        "i've" => &["i", "have"],
        "i'll" => &["i", "will"],
        "i'd" => &["i", "would"],
        "you're" => &["you", "are"],
        "we're" => &["we", "are"],
        "they're" => &["they", "are"],
        "don't" => &["do", "not"],
        "doesn't" => &["does", "not"],
        "didn't" => &["did", "not"],
        "can't" => &["can", "not"],
        "cannot" => &["can", "not"],
        "won't" => &["will", "not"],
        "isn't" => &["is", "not"],
        "aren't" => &["are", "not"],
        "wasn't" => &["was", "not"],
        "weren't" => &["were", "not"],
        "haven't" => &["have", "not"],
        "hasn't" => &["has", "not"],
        "couldn't" => &["could", "not"],
        "wouldn't" => &["would", "not"],
        "shouldn't" => &["should", "not"],
        "it's" => &["it", "is"],
        "that's" => &["that", "is"],
        "let's" => &["let", "us"],
        _ => return None,
    })
}

/// Word-level edit counts between a reference and a hypothesis.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WordErrors {
    /// Edits (substitutions + deletions + insertions) of the best alignment.
    pub edits: usize,
    /// Words in the reference.
    pub ref_words: usize,
}

impl WordErrors {
    /// Counts the edits between `reference` and `hypothesis` (Levenshtein on words).
    pub fn between(reference: &str, hypothesis: &str) -> WordErrors {
        let r = normalize(reference);
        let h = normalize(hypothesis);
        let mut prev: Vec<usize> = (0..=h.len()).collect();
        let mut cur = vec![0usize; h.len() + 1];
        for (i, rw) in r.iter().enumerate() {
            cur[0] = i + 1;
            for (j, hw) in h.iter().enumerate() {
                let sub = prev[j] + usize::from(rw != hw);
                cur[j + 1] = sub.min(prev[j + 1] + 1).min(cur[j] + 1);
            }
            std::mem::swap(&mut prev, &mut cur);
        }
        WordErrors { edits: prev[h.len()], ref_words: r.len() }
    }

    /// WER in percent; an empty reference scores 0 when nothing was heard, 100 otherwise.
    pub fn percent(&self) -> f64 {
        if self.ref_words == 0 {
            return if self.edits == 0 { 0.0 } else { 100.0 };
        }
        100.0 * self.edits as f64 / self.ref_words as f64
    }

    /// Sums counts, so a corpus WER weights every word equally.
    pub fn add(&mut self, o: WordErrors) {
        self.edits += o.edits;
        self.ref_words += o.ref_words;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identical_text_up_to_case_and_punctuation_has_no_errors() {
        let e = WordErrors::between("I have been feeling stressed.", "i have been Feeling stressed");
        assert_eq!(e, WordErrors { edits: 0, ref_words: 5 });
    }

    #[test]
    fn the_issue_s_mangled_transcript_counts_each_kind_of_error() {
        let r = "I have been feeling really stressed about my exams this week.";
        // "have"→"can", "about"→"and", "exams"→"out", + "my"... : measured by hand below.
        let e = WordErrors::between(r, "I can be feeling really stressed and out my end man this week.");
        // have→can, been→be, about→and, +out, exams→end, +man  = 6 edits over 11 words.
        assert_eq!(e.ref_words, 11);
        assert_eq!(e.edits, 6);
        assert!((e.percent() - 54.5).abs() < 0.1);
    }

    #[test]
    fn deletions_and_insertions_count_one_each() {
        assert_eq!(WordErrors::between("a b c", "a c").edits, 1);
        assert_eq!(WordErrors::between("a b c", "a b x c").edits, 1);
        assert_eq!(WordErrors::between("a b c", "").edits, 3);
        assert_eq!(WordErrors::between("", "").percent(), 0.0);
        assert_eq!(WordErrors::between("", "hello").percent(), 100.0);
    }

    #[test]
    fn hyphens_split_and_contractions_expand() {
        assert_eq!(normalize("Mm-hmm, don't 'stop'"), vec!["mm", "hmm", "do", "not", "stop"]);
        assert_eq!(WordErrors::between("because I am always tired", "because I'm always tired.").edits, 0);
        assert_eq!(normalize("he's o'clock"), vec!["he's", "o'clock"]);
    }
}
