//! What a short overlap said: speech that started over the robot and ended
//! at its first pause, too short to be a barge-in.
//!
//! By length alone such an overlap is a backchannel ("mm-hmm", "yeah",
//! "right") and the robot goes on. But a participant can say a whole short
//! sentence under a long reply ("I'm scared.", "That's not it.", "No.") in
//! the same time, and dropping it loses what they said. So the loop reads
//! the overlap's words: only listening tokens are a backchannel; anything
//! else is the participant's next turn, answered after the robot finishes
//! the sentence it is saying.
//!
//! Design: a closed class, not a model. Conversation-analysis work on
//! backchannels (continuers, acknowledgement and agreement tokens, news
//! markers, assessments, laughter; e.g. Schegloff 1982, Ward and Tsukahara
//! 2000, Jefferson 1984) finds them a small set of short forms. An overlap is
//! a backchannel when it can be read wholly as a sequence of those forms.
//! "No" is not one: said over someone it disagrees or corrects. The lists
//! were written from that literature and checked against
//! `speech/eval/overlap/tune.jsonl`; `heldout.jsonl` (written by someone who
//! did not see the lists) is only reported (test
//! `overlap_words_held_out_figures`).
//!
//! The robot's own voice can leak past the echo stage as an overlap; whisper
//! then hears the robot's words. An overlap whose words are mostly words the
//! robot just said is its echo, not the participant.

/// What the overlap's words are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OverlapWords {
    /// No words (a cough, breath, noise, or an empty transcript).
    Nothing,
    /// Listening tokens only: the robot goes on, nothing to answer.
    Backchannel,
    /// Mostly the robot's own recent words: its voice through the room.
    Echo,
    /// Words the participant should be answered on.
    Turn,
}

/// Single listening tokens (compared squeezed, see [`squeeze`]).
const TOKENS: &[&str] = &[
    // continuers and hesitation sounds
    "mm", "mhm", "hmm", "uhhuh", "ah", "aha", "oh", "ooh", "uh", "huh",
    // acknowledgement and agreement
    "yeah", "yea", "yes", "yep", "yup", "ya", "ye", "okay", "ok", "k", "right", "sure", "alright", "true",
    "exactly", "totally", "absolutely", "definitely", "indeed", "agreed", "correct",
    // news markers and assessments
    "wow", "really", "gosh", "nice", "cool", "lovely", "great", "god", "geez", "jeez", "blimey", "damn",
    "yikes", "fair",
    // laughter, and whisper's words for sounds it heard as no words
    "ha", "haha", "hahaha", "he", "hehe", "lol", "laughs", "laughing", "laughter", "chuckles", "sighs",
];

/// Listening phrases of more than one word (compared squeezed).
const PHRASES: &[&[&str]] = &[
    &["i", "see"], &["i", "know"], &["i", "get", "it"], &["got", "it"], &["go", "on"], &["of", "course"],
    &["that's", "right"], &["thats", "right"], &["that's", "true"], &["thats", "true"], &["fair", "enough"],
    &["makes", "sense"], &["make", "sense"], &["that", "makes", "sense"], &["all", "right"], &["oh", "my", "god"], &["my", "god"],
    &["oh", "no"], &["no", "way"], &["uh", "huh"], &["mm", "hmm"], &["sure", "thing"], &["for", "sure"],
    &["you", "bet"], &["how", "awful"], &["oh", "dear"], &["bless", "you"], &["well", "done"], &["good", "for", "you"],
    &["i", "hear", "you"], &["mhm", "mhm"], &["thank", "you"], &["thanks"],
];

/// Longest overlap (in words) that can still be a backchannel.
const MAX_WORDS: usize = 6;

/// Squeezes each run of one letter to a single letter ("mmm" → "m",
/// "yeahhh" → "yeah", "mm-hmm" → "mhm" once the hyphen is gone), so spellings
/// of a drawn-out sound meet one form. Both sides are squeezed.
fn squeeze(w: &str) -> String {
    let mut out = String::with_capacity(w.len());
    let mut last = None;
    for c in w.chars() {
        if Some(c) != last {
            out.push(c);
        }
        last = Some(c);
    }
    out
}

/// Lower-case words, whisper's annotations removed by
/// [`crate::stt::clean_text`] ("[laughs]" is a sound, not words), hyphens
/// inside a word dropped ("mm-hmm", "uh-huh"), other punctuation a
/// separator; apostrophes kept ("that's").
pub fn words(text: &str) -> Vec<String> {
    let cleaned = crate::stt::clean_text(text);
    let mut clean = String::with_capacity(cleaned.len());
    for c in cleaned.chars() {
        match c {
            '-' => {}
            '\u{2019}' => clean.push('\''),
            c if c.is_alphanumeric() || c == '\'' => clean.extend(c.to_lowercase()),
            _ => clean.push(' '),
        }
    }
    clean.split_whitespace().map(|w| w.trim_matches('\'').to_string()).filter(|w| !w.is_empty()).collect()
}

/// Drops a run that repeats the words just before it ("I'm scared. I'm
/// scared." → "I'm scared."): whisper loops on a short clip padded with
/// silence, and the repeat is not what was said. Unlike
/// [`crate::stt::collapse_repeats`] (run on every transcript, phrases of 3+
/// words only, since people do say "no no no"), this takes repeats of any
/// length: an overlap is a second or so, too short for a real repeat to
/// matter to what it is.
pub fn collapse_loops(ws: &[String]) -> Vec<String> {
    let mut out: Vec<String> = ws.to_vec();
    let mut changed = true;
    while changed {
        changed = false;
        'scan: for n in 1..=out.len() / 2 {
            for i in 0..=out.len() - 2 * n {
                if out[i..i + n] == out[i + n..i + 2 * n] {
                    out.drain(i + n..i + 2 * n);
                    changed = true;
                    break 'scan;
                }
            }
        }
    }
    out
}

/// Whether `ws` (squeezed) reads wholly as listening tokens and phrases.
fn all_listening(ws: &[String]) -> bool {
    let mut i = 0;
    'next: while i < ws.len() {
        for p in PHRASES {
            if ws.len() - i >= p.len() && ws[i..i + p.len()].iter().zip(p.iter()).all(|(a, b)| *a == squeeze(b)) {
                i += p.len();
                continue 'next;
            }
        }
        if TOKENS.iter().any(|t| ws[i] == squeeze(t)) {
            i += 1;
            continue;
        }
        return false;
    }
    true
}

/// Words too common to say whose voice it was.
const COMMON: &[&str] = &[
    "i", "you", "it", "a", "an", "the", "and", "but", "or", "so", "to", "of", "in", "on", "at", "is", "was", "be",
    "that", "this", "my", "your", "me", "we", "do", "not", "it's", "i'm", "that's", "what", "for", "with",
];

/// Reads an overlap's transcript. `robot_said` is what the robot said
/// lately (its sentences, most recent last); an overlap made mostly of
/// those words is the robot's echo.
pub fn classify(text: &str, robot_said: &[String]) -> OverlapWords {
    classify_words(&collapse_loops(&words(text)), robot_said)
}

/// [`classify`] on the transcript's words, loops collapsed.
fn classify_words(ws: &[String], robot_said: &[String]) -> OverlapWords {
    if ws.is_empty() {
        return OverlapWords::Nothing;
    }
    let squeezed: Vec<String> = ws.iter().map(|w| squeeze(w)).collect();
    if ws.len() <= MAX_WORDS && all_listening(&squeezed) {
        return OverlapWords::Backchannel;
    }
    // One function word alone ("you", "the") is what whisper makes of a
    // breath or a click, not something said.
    if ws.len() == 1 && COMMON.contains(&ws[0].as_str()) {
        return OverlapWords::Nothing;
    }
    let robot: std::collections::HashSet<String> = robot_said.iter().flat_map(|s| words(s)).collect();
    let distinctive: Vec<&String> = ws.iter().filter(|w| !COMMON.contains(&w.as_str())).collect();
    if !distinctive.is_empty() {
        let heard = distinctive.iter().filter(|w| robot.contains(w.as_str())).count();
        let all = ws.iter().filter(|w| robot.contains(w.as_str())).count();
        // Two thirds of the distinctive words and of all words.
        if heard * 3 >= distinctive.len() * 2 && all * 3 >= ws.len() * 2 {
            return OverlapWords::Echo;
        }
    }
    OverlapWords::Turn
}

/// Below this mean token probability whisper was guessing: chosen on the
/// tune file spoken by espeak-ng (`speech/tests/overlap_heard.rs`), where
/// 11 of the 20 backchannels whisper misheard as words ("Fafar" for "Haha",
/// "Hold eyes" for "Oh nice") fell under it and one content line ("actually
/// no") did.
pub const MIN_TURN_P: f32 = 0.45;

/// The same where the robot's voice comes back into the microphone (an echo
/// was measured, or nothing is known yet): AEC3's residual can pass the
/// echo gate as a short overlap that whisper reads as a fragment of the
/// robot's sentence in other words ("the bottom, to" for "talk about"), so
/// words for a turn must be surer and must not end mid-phrase. Set from the
/// echo bench's eight rooms, where the residual's fragments came back at
/// p 0.23-0.82.
pub const ECHO_ROOM_MIN_TURN_P: f32 = 0.85;

/// [`classify`] for a transcript with whisper's confidence: words for a turn
/// that whisper was not sure of are taken as a backchannel, since answering
/// a misheard hum costs the participant more than letting a half-heard
/// remark pass under the robot's reply. `echo_room`: the robot's voice may
/// be coming back (see [`ECHO_ROOM_MIN_TURN_P`]); a fragment there is
/// taken as its echo.
pub fn classify_heard(text: &str, mean_p: f32, robot_said: &[String], echo_room: bool) -> OverlapWords {
    let min_p = if echo_room { ECHO_ROOM_MIN_TURN_P } else { MIN_TURN_P };
    let ws = collapse_loops(&words(text));
    match classify_words(&ws, robot_said) {
        OverlapWords::Turn if mean_p < min_p => OverlapWords::Backchannel,
        OverlapWords::Turn if echo_room && crate::endpoint::completeness(text) == crate::endpoint::Completeness::Incomplete => OverlapWords::Echo,
        // One word, however sure ("often often often" from the residual of
        // a 0 dB room on a loaded machine), is too little to tell from the
        // robot's own voice there.
        OverlapWords::Turn if echo_room && ws.iter().all(|w| *w == ws[0]) => OverlapWords::Echo,
        w => w,
    }
}

/// One labelled overlap of an evaluation file
/// (`{"text": …, "label": "backchannel" | "content"}`).
#[derive(Debug, Clone, serde::Deserialize)]
pub struct OverlapItem {
    /// What was said.
    pub text: String,
    /// `backchannel` or `content`.
    pub label: String,
}

/// A file's figures: how many of each label were read right.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OverlapScore {
    /// Backchannels read as backchannels.
    pub backchannel_right: usize,
    /// Backchannels in the file.
    pub backchannels: usize,
    /// Content read as a turn.
    pub content_right: usize,
    /// Content in the file.
    pub contents: usize,
}

/// Parses a JSONL file; a bad line is an error naming it.
pub fn parse_items(text: &str) -> Result<Vec<OverlapItem>, String> {
    crate::parse_jsonl(text, |item: &OverlapItem| {
        if item.label != "backchannel" && item.label != "content" {
            return Err(format!("label must be \"backchannel\" or \"content\", not {:?}", item.label));
        }
        Ok(())
    })
}

/// Scores the text classification (no robot words: echo does not arise).
/// A backchannel is right when read as one (or as nothing); content when
/// read as a turn.
pub fn score(items: &[OverlapItem], read: impl Fn(&str) -> OverlapWords) -> (OverlapScore, Vec<String>) {
    let mut s = OverlapScore::default();
    let mut wrong = Vec::new();
    for it in items {
        let got = read(&it.text);
        if it.label == "backchannel" {
            s.backchannels += 1;
            if matches!(got, OverlapWords::Backchannel | OverlapWords::Nothing) {
                s.backchannel_right += 1;
            } else {
                wrong.push(format!("backchannel read as {got:?}: {:?}", it.text));
            }
        } else {
            s.contents += 1;
            if got == OverlapWords::Turn {
                s.content_right += 1;
            } else {
                wrong.push(format!("content read as {got:?}: {:?}", it.text));
            }
        }
    }
    (s, wrong)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(t: &str) -> OverlapWords {
        classify(t, &[])
    }

    #[test]
    fn listening_tokens_in_their_spellings_are_backchannels() {
        for t in ["Mm-hmm.", "mmmm", "Uh-huh", "uh huh", "Yeah, yeah.", "yeahhh", "Oh, I see.", "Right, right.", "Haha.", "Oh my god.", "Thank you."] {
            assert_eq!(c(t), OverlapWords::Backchannel, "{t}");
        }
    }

    #[test]
    fn a_short_sentence_is_a_turn_and_no_is_not_listening() {
        for t in ["I'm scared.", "No.", "Nope.", "That's not it.", "Why?", "Okay, but I'm scared.", "Yeah, I hate it."] {
            assert_eq!(c(t), OverlapWords::Turn, "{t}");
        }
    }

    #[test]
    fn no_words_is_nothing() {
        for t in ["", "  ", "[coughs]", "(door closes)", "...", "*sigh*"] {
            assert_eq!(c(t), OverlapWords::Nothing, "{t:?}");
        }
    }

    #[test]
    fn many_listening_words_run_together_are_still_listening_but_a_long_overlap_is_not() {
        assert_eq!(c("yeah yeah yeah okay"), OverlapWords::Backchannel);
        assert_eq!(c("yeah okay right sure yes exactly true"), OverlapWords::Turn);
    }

    #[test]
    fn the_robots_own_words_are_its_echo_and_the_participants_are_not() {
        let said = vec!["It sounds like the exams have been heavy this week.".to_string(), "What has helped?".to_string()];
        assert_eq!(classify("the exams have been heavy", &said), OverlapWords::Echo);
        assert_eq!(classify("heavy this week", &said), OverlapWords::Echo);
        assert_eq!(classify("I failed the exams.", &said), OverlapWords::Turn);
        assert_eq!(classify("My dad left.", &said), OverlapWords::Turn);
        // A backchannel stays one whatever the robot said.
        assert_eq!(classify("Yeah.", &["Yeah, that is hard.".to_string()]), OverlapWords::Backchannel);
    }

    #[test]
    fn whispers_repeats_are_collapsed_before_reading() {
        let w = |t: &str| collapse_loops(&words(t)).join(" ");
        assert_eq!(w("I'm scared. I'm scared."), "i'm scared");
        assert_eq!(w("Right. Right. Right."), "right");
        assert_eq!(w("no no no"), "no");
        assert_eq!(w("I said I said it"), "i said it");
        assert_eq!(c("Makes sense, makes sense,"), OverlapWords::Backchannel);
    }

    #[test]
    fn an_unsure_transcript_is_not_a_turn() {
        assert_eq!(classify_heard("Hold eyes", 0.30, &[], false), OverlapWords::Backchannel);
        assert_eq!(classify_heard("Hold eyes", 0.80, &[], false), OverlapWords::Turn);
        assert_eq!(classify_heard("Mm", 0.10, &[], false), OverlapWords::Backchannel);
    }

    #[test]
    fn where_the_robot_echoes_a_turn_must_be_surer_and_whole() {
        assert_eq!(classify_heard("the bottom, to", 0.82, &[], false), OverlapWords::Turn);
        assert_eq!(classify_heard("the bottom, to", 0.82, &[], true), OverlapWords::Backchannel);
        assert_eq!(classify_heard("the bottom, to", 0.90, &[], true), OverlapWords::Echo);
        assert_eq!(classify_heard("I'm scared. I'm scared.", 0.89, &[], true), OverlapWords::Turn);
        assert_eq!(classify_heard("often often often", 0.95, &[], true), OverlapWords::Echo);
        assert_eq!(classify_heard("often often often", 0.95, &[], false), OverlapWords::Turn);
    }

    #[test]
    fn words_drop_annotations_and_inner_hyphens() {
        assert_eq!(words("Mm-hmm [laughs] That’s RIGHT."), vec!["mmhmm", "that's", "right"]);
    }

    #[test]
    fn a_bad_label_is_an_error_naming_the_line() {
        let e = parse_items("{\"text\":\"mm\",\"label\":\"backchannel\"}\n{\"text\":\"x\",\"label\":\"maybe\"}").unwrap_err();
        assert!(e.contains("line 2") && e.contains("maybe"), "{e}");
    }

    fn eval_file(name: &str) -> Vec<OverlapItem> {
        let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("eval/overlap").join(name);
        parse_items(&std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))).unwrap()
    }

    #[test]
    fn overlap_words_tune_figures() {
        let (s, wrong) = score(&eval_file("tune.jsonl"), c);
        eprintln!("tune: backchannels {}/{}, content {}/{}\n{}", s.backchannel_right, s.backchannels, s.content_right, s.contents, wrong.join("\n"));
        assert_eq!(s.backchannel_right, s.backchannels, "{wrong:?}");
        assert_eq!(s.content_right, s.contents, "{wrong:?}");
    }

    #[test]
    fn overlap_words_held_out_figures() {
        let (s, wrong) = score(&eval_file("heldout.jsonl"), c);
        eprintln!("held out: backchannels {}/{}, content {}/{}\n{}", s.backchannel_right, s.backchannels, s.content_right, s.contents, wrong.join("\n"));
        assert!(s.backchannel_right * 100 >= s.backchannels * 90, "{wrong:?}");
        assert!(s.content_right * 100 >= s.contents * 95, "{wrong:?}");
    }
}
