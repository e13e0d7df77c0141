//! One source for the word lists and cue patterns the analysis stages share:
//! emotion words, negation, grammatical subject, advice and minimising
//! phrases, risk cues. Pure, compiled once.
//!
//! Design: every pattern is matched case-insensitively against the original
//! text (so byte offsets stay valid for evidence snippets); an ASCII `'` in a
//! pattern also matches the typographic `’` that phones and LLMs produce.

use regex::Regex;
use std::collections::HashMap;
use std::sync::LazyLock;

/// Compiles a lexicon pattern: case-insensitive, `'` also matches `’`.
///
/// Patterns are compile-time constants of this crate; a bad one is a
/// programming error caught by the unit tests, never by user input.
pub fn re(pattern: &str) -> Regex {
    let p = format!("(?i){}", pattern.replace('\'', "['’]"));
    match Regex::new(&p) {
        Ok(r) => r,
        Err(e) => panic!("lexicon pattern {pattern:?} does not compile: {e}"),
    }
}

/// Builds one alternation `\b(?:a|b|c)\b` from phrases (which may themselves
/// hold regex syntax).
pub fn any_of(phrases: &[&str]) -> Regex {
    re(&format!(r"\b(?:{})\b", phrases.join("|")))
}

// ---------------------------------------------------------------- tokens ---

/// Lower-cased word tokens of `s` (letters, digits, apostrophes), with `’`
/// folded to `'`.
pub fn tokens(s: &str) -> Vec<String> {
    s.split(|c: char| !(c.is_alphanumeric() || c == '\'' || c == '’'))
        .filter(|w| !w.is_empty())
        .map(|w| w.to_lowercase().replace('’', "'"))
        .collect()
}

/// Characters that end a clause for the purpose of negation and subject
/// scope.
fn is_clause_break(c: char) -> bool {
    matches!(c, '.' | '!' | '?' | ';' | ',' | ':' | '\n' | '(' | ')' | '"' | '“' | '”')
}

/// The text of the clause that precedes byte offset `at` (from the last
/// clause break, or a coordinating "but"/"and"/"so", up to `at`).
pub fn clause_before(text: &str, at: usize) -> &str {
    let at = floor_char_boundary(text, at);
    let head = &text[..at];
    // Design: look back at most 240 bytes so that a 100 KB line without
    // punctuation stays linear (every cue looks at a bounded window).
    let window_start = ceil_char_boundary(text, at.saturating_sub(240));
    let start = head[window_start..].rfind(is_clause_break).map(|i| window_start + i + 1).unwrap_or(window_start);
    let start = ceil_char_boundary(text, start.min(at));
    let clause = &text[start..at];
    // Cut at the last coordinating conjunction: "I'm fine but she is sad".
    // ASCII lower-casing keeps byte offsets valid for slicing `clause`.
    let lower = clause.to_ascii_lowercase();
    {
        if let Some(i) = [" but ", " and ", " because ", " though ", " although "]
            .iter()
            .filter_map(|c| lower.rfind(c).map(|i| i + c.len()))
            .max()
        {
            return &clause[i..];
        }
    }
    clause
}

/// Largest char boundary at or below `i` (stable `str::floor_char_boundary`
/// is not available on our MSRV).
pub fn floor_char_boundary(s: &str, i: usize) -> usize {
    if i >= s.len() {
        return s.len();
    }
    let mut i = i;
    while i > 0 && !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// Smallest char boundary at or above `i`.
pub fn ceil_char_boundary(s: &str, i: usize) -> usize {
    if i >= s.len() {
        return s.len();
    }
    let mut i = i;
    while i < s.len() && !s.is_char_boundary(i) {
        i += 1;
    }
    i
}

/// Words that negate what follows them within a few words.
fn is_negator(w: &str) -> bool {
    matches!(w, "not" | "never" | "no" | "nor" | "without" | "hardly" | "cannot" | "nothing" | "none")
        || w.ends_with("n't")
        || matches!(w, "dont" | "didnt" | "doesnt" | "isnt" | "wasnt" | "arent" | "werent" | "cant" | "wont" | "wouldnt" | "havent" | "aint")
}

/// Whether the words just before byte offset `at` (same clause, up to
/// `window` words) negate it: "I'm not angry", "I don't feel sad".
///
/// Design: negations that turn into intensifiers are excluded ("can't stop
/// crying", "can't help feeling", "never felt so alone", "why not"), and
/// "not sure"/"not only" hedge rather than negate.
pub fn negated_before(text: &str, at: usize, window: usize) -> bool {
    let toks = tokens(clause_before(text, at));
    let n = toks.len();
    let from = n.saturating_sub(window);
    for i in (from..n).rev() {
        let w = toks[i].as_str();
        if !is_negator(w) {
            continue;
        }
        let next = toks.get(i + 1).map(String::as_str).unwrap_or("");
        let prev = if i > 0 { toks[i - 1].as_str() } else { "" };
        if matches!(next, "stop" | "help" | "only" | "just" | "sure" | "certain" | "wait" | "shake" | "resist" | "even" | "one") {
            continue;
        }
        if w == "never" && matches!(next, "felt" | "been" | "feel") && matches!(toks.get(i + 2).map(String::as_str), Some("so" | "this" | "more" | "as" | "that")) {
            continue;
        }
        if prev == "why" {
            continue;
        }
        // "no" is only a negator right before the word ("no hope"), not as
        // an answer ("no, I'm sad").
        if w == "no" && i + 1 != n && !matches!(next, "longer" | "thoughts" | "thought" | "intention" | "intentions" | "plans" | "plan" | "desire" | "urge" | "urges" | "wish" | "way") {
            continue;
        }
        return true;
    }
    false
}

/// Who a phrase at byte offset `at` is about, judged from the clause before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subject {
    /// The speaker ("I", "me", "my own").
    Speaker,
    /// The person addressed ("you").
    Addressee,
    /// Somebody or something else ("she", "my mom", "the character").
    Other,
    /// No subject in the clause ("So tired today.").
    Unstated,
}

const SELF_WORDS: &[&str] = &["i", "i'm", "im", "i've", "ive", "i'd", "i'll", "me", "myself", "we", "we're", "us", "ourselves", "am"];
const YOU_WORDS: &[&str] = &["you", "you're", "youre", "you've", "youve", "you'd", "you'll", "yourself", "u", "ur"];
const OTHER_WORDS: &[&str] = &[
    "he", "she", "they", "he's", "she's", "they're", "theyre", "him", "them", "his", "her", "their", "everyone",
    "everybody", "someone", "somebody", "people", "anyone", "anybody", "nobody", "himself", "herself", "themselves",
    "character", "guy", "girl", "man", "woman", "friend", "mom", "dad", "mum",
];
const DETERMINERS: &[&str] = &["my", "our", "your", "the", "this", "that", "these", "those", "a", "an"];
const NOT_A_SUBJECT_NOUN: &[&str] = &[
    "own", "whole", "entire", "life", "heart", "mind", "head", "soul", "self", "bit", "little", "lot", "kind", "sort",
    "way", "same", "time", "day", "moment", "point", "morning", "week", "weekend", "night", "year", "month", "evening",
    "afternoon", "past", "last", "first", "few", "couple", "very", "really", "so",
    // Objects of the speaker's own acts ("I have a plan to kill myself").
    "plan", "plans", "urge", "urges", "thought", "thoughts", "need", "desire", "note", "letter", "letters", "bottle",
];

/// Judges the grammatical subject of the phrase at `at` from the nearest
/// person marker in its clause: the last of "I/me", "you", or a third
/// party ("she", "my mom", "the character") wins.
pub fn subject_before(text: &str, at: usize) -> Subject {
    let toks = tokens(clause_before(text, at));
    let mut subj = Subject::Unstated;
    let mut i = 0;
    while i < toks.len() {
        let w = toks[i].as_str();
        if SELF_WORDS.contains(&w) {
            subj = Subject::Speaker;
        } else if YOU_WORDS.contains(&w) {
            subj = Subject::Addressee;
        } else if OTHER_WORDS.contains(&w) {
            subj = Subject::Other;
        } else if DETERMINERS.contains(&w) {
            if let Some(n) = toks.get(i + 1) {
                if !NOT_A_SUBJECT_NOUN.contains(&n.as_str()) && !EMOTION_WORD_SET.contains(n.as_str()) && !INTENSIFIERS.contains(&n.as_str()) {
                    subj = Subject::Other;
                    i += 1;
                }
            }
        }
        i += 1;
    }
    subj
}

/// Degree words that sit between a verb and a feeling ("so", "really").
pub const INTENSIFIERS: &[&str] = &[
    "so", "very", "really", "pretty", "kinda", "kind", "of", "quite", "totally", "completely", "a", "bit", "little",
    "too", "extremely", "super", "incredibly", "absolutely", "utterly", "just", "feeling", "clearly", "obviously",
    "probably", "surely", "definitely", "also", "still", "always", "sometimes", "often", "rather", "somewhat", "lot",
    "more", "most", "fairly", "awfully", "terribly", "deeply", "genuinely",
];

// -------------------------------------------------------------- emotions ---

/// One emotion word form: the canonical word reported, its family (close
/// synonyms count as "already named"), and whether the form only means a
/// feeling after a feeling verb ("feel lost" vs "lost my keys").
#[derive(Debug, Clone, Copy)]
pub struct EmotionForm {
    /// Surface form, lower case (may be two words).
    pub form: &'static str,
    /// Canonical word reported in `Analysis::emotions`.
    pub canonical: &'static str,
    /// Family used when deciding whether a feeling was already named.
    pub family: &'static str,
    /// Only a feeling right after a feeling verb / intensifier.
    pub needs_feeling_verb: bool,
}

macro_rules! forms {
    ($( $canon:literal / $fam:literal : [$($f:literal),*] $( ctx [$($c:literal),*] )? ;)*) => {
        &[ $( $( EmotionForm { form: $f, canonical: $canon, family: $fam, needs_feeling_verb: false }, )* $( $( EmotionForm { form: $c, canonical: $canon, family: $fam, needs_feeling_verb: true }, )* )? )* ]
    };
}

/// Every emotion form the engine recognises.
pub const EMOTION_FORMS: &[EmotionForm] = forms! {
    "sad"/"sad": ["sad", "sadness", "saddened", "unhappy", "miserable", "sorrow", "tearful"] ctx ["blue"];
    "down"/"sad": [] ctx ["down", "low"];
    "upset"/"sad": ["upset", "upsetting", "distressed", "distressing"];
    "bad"/"bad": [] ctx ["awful", "terrible", "horrible", "bad", "crappy", "shitty", "rotten"];
    "uncomfortable"/"uncomfortable": ["uncomfortable", "awkward"];
    "regretful"/"guilty": ["regretful", "remorseful"];
    "resentful"/"angry": ["resentful", "resentment", "bitter"];
    "depressed"/"sad": ["depressed", "depression", "depressing"];
    "heartbroken"/"sad": ["heartbroken", "heartbreak", "heartbreaking", "broken hearted", "broken-hearted", "devastated", "devastating", "crushed"];
    "grieving"/"sad": ["grieving", "grief", "mourning"];
    "hopeless"/"hopeless": ["hopeless", "hopelessness", "despair", "desperate"];
    "helpless"/"hopeless": ["helpless", "helplessness", "powerless"];
    "lonely"/"lonely": ["lonely", "loneliness", "lonesome"] ctx ["alone", "isolated", "left out"];
    "anxious"/"anxious": ["anxious", "anxiety", "uneasy", "on edge"];
    "worried"/"anxious": ["worried", "worry", "worrying", "worries"];
    "nervous"/"anxious": ["nervous", "jittery", "tense"];
    "panicked"/"anxious": ["panicked", "panicky", "panicking", "panic"];
    "scared"/"scared": ["scared", "afraid", "frightened", "terrified", "fear", "fearful", "scary", "frightening", "terrifying"];
    "stressed"/"stressed": ["stressed", "stressed out", "stress", "stressful", "under pressure"];
    "overwhelmed"/"stressed": ["overwhelmed", "overwhelming", "swamped"];
    "burned out"/"stressed": ["burned out", "burnt out", "burnout"];
    "angry"/"angry": ["angry", "anger", "furious", "enraged", "rage", "livid", "pissed", "pissed off", "infuriated", "infuriating"] ctx ["mad"];
    "frustrated"/"frustrated": ["frustrated", "frustration", "frustrating", "fed up"];
    "annoyed"/"frustrated": ["annoyed", "annoying", "irritated", "irritating", "aggravated"];
    "hurt"/"hurt": ["hurtful"] ctx ["hurt", "wounded"];
    "betrayed"/"hurt": ["betrayed", "betrayal"];
    "rejected"/"hurt": ["rejected", "rejection", "unwanted"];
    "guilty"/"guilty": ["guilty", "guilt"];
    "ashamed"/"ashamed": ["ashamed", "shame", "humiliated", "humiliating"];
    "embarrassed"/"ashamed": ["embarrassed", "embarrassing", "embarrassment"];
    "jealous"/"jealous": ["jealous", "jealousy", "envious", "envy"];
    "disappointed"/"disappointed": ["disappointed", "disappointing", "disappointment", "let down"];
    "confused"/"confused": ["confused", "confusing", "confusion", "torn", "unsure"];
    "lost"/"confused": [] ctx ["lost", "stuck"];
    "tired"/"tired": ["tired", "exhausted", "exhausting", "exhaustion", "drained", "worn out", "weary", "fatigued"];
    "empty"/"empty": ["numb", "dead inside"] ctx ["empty"];
    "worthless"/"worthless": ["worthless", "inadequate", "insecure", "not good enough"];
    "bored"/"bored": ["bored", "boring", "boredom"];
    "happy"/"happy": ["happy", "happiness", "glad", "joyful", "cheerful", "delighted"];
    "excited"/"excited": ["excited", "exciting", "thrilled", "eager"];
    "grateful"/"grateful": ["grateful", "thankful", "gratitude"];
    "relieved"/"relieved": ["relieved", "relief"];
    "hopeful"/"hopeful": ["hopeful", "optimistic"];
    "proud"/"proud": ["proud", "pride"];
    "calm"/"calm": ["calm", "peaceful", "relaxed", "at peace"];
    "loved"/"loved": ["loved", "cared for"];
};

static EMOTION_INDEX: LazyLock<HashMap<&'static str, &'static EmotionForm>> =
    LazyLock::new(|| EMOTION_FORMS.iter().map(|f| (f.form, f)).collect());

/// Single-word emotion forms, for the subject heuristic.
static EMOTION_WORD_SET: LazyLock<std::collections::HashSet<&'static str>> =
    LazyLock::new(|| EMOTION_FORMS.iter().filter(|f| !f.form.contains(' ')).map(|f| f.form).collect());

static EMOTION_RE: LazyLock<Regex> = LazyLock::new(|| {
    let mut forms: Vec<&str> = EMOTION_FORMS.iter().map(|f| f.form).collect();
    // Longest first so "stressed out" wins over "stressed".
    forms.sort_by_key(|f| std::cmp::Reverse(f.len()));
    let alts: Vec<String> = forms.iter().map(|f| regex::escape(f).replace("\\ ", r"\s+").replace(' ', r"\s+")).collect();
    re(&format!(r"\b(?:{})\b", alts.join("|")))
});

/// Verbs and adverbs after which a context-only form ("lost", "down")
/// names a feeling.
const FEELING_VERBS: &[&str] = &[
    "feel", "feels", "feeling", "felt", "i'm", "im", "am", "been", "be", "being", "get", "gets", "getting", "got",
    "seem", "seems", "seemed", "sound", "sounds", "look", "looks", "you're", "youre", "are", "was", "were", "is",
    "become", "became", "left",
];

/// One emotion word found in a text.
#[derive(Debug, Clone, PartialEq)]
pub struct EmotionHit {
    /// Canonical word.
    pub canonical: &'static str,
    /// Family of close synonyms.
    pub family: &'static str,
    /// Byte range in the text.
    pub start: usize,
    /// End of the byte range.
    pub end: usize,
    /// Negated in its clause ("I'm not angry").
    pub negated: bool,
    /// Who the feeling belongs to.
    pub subject: Subject,
}

/// Every emotion word in `text` that is used as a feeling, with negation and
/// subject. Idioms that only look like feelings are skipped ("I'm afraid I
/// can't", "happy to help", "lost my keys").
pub fn emotion_hits(text: &str) -> Vec<EmotionHit> {
    let mut out = Vec::new();
    for m in EMOTION_RE.find_iter(text) {
        let key = m.as_str().to_lowercase().split_whitespace().collect::<Vec<_>>().join(" ");
        let Some(form) = EMOTION_INDEX.get(key.as_str()) else { continue };
        let after = text[m.end()..].chars().take(24).collect::<String>().to_lowercase();
        let before = tokens(clause_before(text, m.start()));
        let prev = before.last().map(String::as_str).unwrap_or("");
        if form.needs_feeling_verb {
            // Look back over intensifiers for a feeling verb.
            let verb = before.iter().rev().find(|w| !INTENSIFIERS.contains(&w.as_str()));
            if !verb.is_some_and(|v| FEELING_VERBS.contains(&v.as_str())) {
                continue;
            }
            // "left out" needs "feel left out", not "left out the milk".
            if key == "down" && (after.starts_with(" to ") || after.starts_with(" for ")) {
                continue;
            }
        }
        match key.as_str() {
            // Polite idiom: "I'm afraid I can't make it", "afraid so/not".
            "afraid" if [" i ", " that", " so", " not", " we ", " it's", " its", " you "].iter().any(|p| after.starts_with(p)) => continue,
            // "happy to help", "glad to hear".
            "happy" | "glad" if after.starts_with(" to ") && prev != "feel" => continue,
            // "calm down" is an instruction, "worry about it" may be advice-y but is still a worry.
            "calm" if after.starts_with(" down") && !FEELING_VERBS.contains(&prev) => continue,
            "pride" | "panic" | "stress" | "fear" | "worry" | "worries" | "rage" | "relief" | "envy" if prev == "no" => continue,
            "tense" if matches!(prev, "past" | "present" | "future") => continue,
            // "I'm bad at maths" judges a skill, not a feeling.
            _ if form.family == "bad" && (after.starts_with(" at ") || after.starts_with(" with ") || after.starts_with(" for ")) => continue,
            "torn" if !FEELING_VERBS.contains(&prev) && !INTENSIFIERS.contains(&prev) => continue,
            "desperate" if after.starts_with(" for ") || after.starts_with(" to ") => {}
            "loved" if !FEELING_VERBS.contains(&prev) && !INTENSIFIERS.contains(&prev) && prev != "unloved" => continue,
            _ => {}
        }
        out.push(EmotionHit {
            canonical: form.canonical,
            family: form.family,
            start: m.start(),
            end: m.end(),
            negated: negated_before(text, m.start(), 4),
            subject: subject_before(text, m.start()),
        });
    }
    out
}

/// Family of a canonical emotion word (itself when unknown).
pub fn family_of(canonical: &str) -> &str {
    EMOTION_FORMS.iter().find(|f| f.canonical == canonical).map(|f| f.family).unwrap_or(canonical)
}

/// The emotions a participant names as their own in `text`: not negated, and
/// about the speaker (or with no stated subject). Canonical, in order, unique.
pub fn self_named_emotions(text: &str) -> Vec<&'static str> {
    let mut out: Vec<&'static str> = Vec::new();
    for h in emotion_hits(text) {
        if h.negated || !matches!(h.subject, Subject::Speaker | Subject::Unstated) {
            continue;
        }
        if !out.contains(&h.canonical) {
            out.push(h.canonical);
        }
    }
    out
}

// ----------------------------------------------------------------- advice --

/// Advice phrasing anywhere in a sentence.
pub static ADVICE_RE: LazyLock<Regex> = LazyLock::new(|| {
    any_of(&[
        r"you (?:really |probably |definitely |just |might |may )?(?:should|ought to|need to|have to|gotta)(?: really| just| try| definitely)? (?:not )?(?:try|talk|go|take|get|find|make|start|stop|tell|ask|see|reach|consider|look|write|speak|focus|let|give|do|be|keep|put|spend|set|call|join|seek|think|avoid|cut|leave|move|practice|practise|exercise|meditate|remember|forgive|accept|approach|confront|break|quit|apply|sign|check|learn|read|listen|contact|visit|plan|prioriti[sz]e|work|allow|treat|distract|surround|build|change|limit|eat|sleep|drink|use|open|share|express|journal|schedule|hang|rest|relax)\w*",
        r"you (?:should|ought to)",
        r"(?:i(?:'d| would)?|i'm going to|let me) (?:strongly )?(?:suggest|recommend|advise)",
        r"my (?:advice|suggestion|recommendation|tip)",
        r"have you (?:ever )?(?:tried|considered|thought about|thought of|looked into|attempted)",
        r"why don'?t you",
        r"why not (?:try|talk|go|take|just|ask|reach|see|write|get|start)",
        r"it (?:might|may|could|would|will|can)(?: really| also)? (?:help|be (?:helpful|useful|good|beneficial|wise|worth|a good idea|best|nice|great)) (?:to|if you|for you to)",
        r"(?:maybe|perhaps|possibly) you (?:could|can|should|might|need to|try)",
        r"you (?:could|can|might|may) (?:always |also |just |perhaps |maybe )?(?:try|consider|talk|reach out|go|start|look into|ask|write|take|join|speak|find|get|make|seek|call|set|spend|practice|practise|focus|do something|plan|exercise|meditate|journal|schedule|visit|sign up|think about)",
        r"you (?:might|may) want to",
        r"how about (?:just |maybe |simply |perhaps )?\w+ing\b",
        r"how about (?:you |trying|talking|going|taking|writing|doing|getting|making|reaching|asking|finding|joining|starting|looking|calling|spending)",
        r"what if you (?:tried|talked|went|took|wrote|asked|started|called|reached)",
        r"if i were you",
        r"the best (?:thing|way|option) (?:to do |for you )?(?:is|would be) to",
        r"make sure (?:you|to|that you)",
        r"don'?t forget to",
        r"i would (?:definitely |probably |also |really )?(?:look into|try|talk to|go to|ask|tell|consider|suggest|recommend|start|get|find|speak to|reach out|call|contact|check)",
        r"(?:it|that|this) (?:can|may|might|will|should|could|would) (?:really |also |definitely )?help (?:you|with|to)",
        r"(?:do|would) you think (?:that )?(?:you might benefit|it (?:would|might|could) help|you could try)",
        r"try (?:to |and |some |a |an |the |talking|writing|going|taking|doing|getting|making|reaching|meditat|exercis|journal|listening|reading|spending|focusing|breathing|deep|yoga|therapy|counsel)",
        r"consider (?:talking|trying|seeing|getting|taking|reaching|writing|speaking|joining|going|asking|finding|making|looking)",
        r"it(?:'s| is) (?:important|a good idea|best|helpful|wise|better|essential|crucial|vital|worth it) (?:to|that you|for you to)",
        r"(?:one|another) (?:thing|option|idea|way) (?:you could|that might|that may|is to|would be)",
        r"(?:seek|get) (?:professional|some) help",
        r"(?:talk|speak) to (?:a |your )?(?:therapist|counsel(?:l)?or|professional|doctor)",
    ])
});

/// Imperative advice at the start of a sentence ("Try journaling.", "Go for a walk.").
pub static IMPERATIVE_RE: LazyLock<Regex> = LazyLock::new(|| {
    re(r"^(?:(?:so|maybe|perhaps|just|and|also|first|then|well|honestly|please)[, ]+)*(?:try|talk|go|take|make|get|find|write|call|reach out|ask|consider|focus|remember|keep|stop|start|avoid|practi[cs]e|exercise|meditate|breathe|journal|speak|seek|join|read|listen|set|spend|eat|sleep|drink|use|plan|schedule|distract|surround|limit|cut|leave|quit|give|put|treat|allow|forgive|accept|prioriti[sz]e|rest|relax|learn|look into|sign up|apply|visit|contact|tell (?:him|her|them|your)|let (?:him|her|them|your|yourself)|do (?:something|some|what|not)|don'?t (?:be|let|give|forget|hesitate|isolate|keep|dwell))\b")
});

/// Sentence openings that look imperative but are not advice.
pub static NOT_ADVICE_OPENING_RE: LazyLock<Regex> = LazyLock::new(|| {
    re(r"^(?:take (?:care|your time|a moment to (?:tell|share))|talk (?:to you )?(?:later|soon|tomorrow)|tell me|let me|let's (?:talk|stay|take|look)|go on|go ahead|keep (?:going|talking|telling)|feel free|take it (?:easy|slow)|remember,? you (?:said|mentioned|told)|listen(?:ing)? to you|give me)\b")
});

// ------------------------------------------------------------- minimising --

/// Minimising / soothing-away phrases.
pub static MINIMISING_RE: LazyLock<Regex> = LazyLock::new(|| {
    any_of(&[
        r"don'?t (?:you )?worry",
        r"do not worry",
        r"no need to (?:worry|be (?:sad|upset|anxious|scared|angry)|feel (?:bad|sad))",
        r"stop worrying",
        r"look(?:ing)? (?:on|at) the bright side",
        r"bright side",
        r"silver lining",
        r"every cloud",
        r"everything happens for a reason",
        r"it(?:'s| is) not (?:that|so|as) bad",
        r"it(?:'s| is)n'?t (?:that|so|as) bad",
        r"(?:it|things) could (?:always )?(?:be|have been) worse",
        r"cheer up",
        r"don'?t be (?:so )?(?:sad|upset|down|anxious|scared|angry|worried|blue)",
        r"don'?t feel (?:so )?(?:bad|sad|down|guilty)",
        r"(?:just )?(?:calm down|relax)",
        r"(?:just |stay |think |be )positive",
        r"others have it worse",
        r"(?:other|some) people have it (?:much )?worse",
        r"get over it",
        r"just move on",
        r"it(?:'s| is| was) (?:nothing|no big deal|not a big deal)",
        r"no big deal",
        r"(?:it'?ll|it will|everything will|everything'?s going to|it'?s going to|things will) (?:all )?(?:be|turn out) (?:fine|okay|ok|alright|all right|great)",
        r"it will all work out",
        r"you'?ll be (?:fine|okay|ok|alright)",
        r"time heals",
        r"(?:that'?s|that is|it'?s|it is) (?:just )?(?:the way it is|the way it goes|how it (?:is|goes)|life)\b",
        r"it is what it is",
        r"(?:just )?smile",
        r"at least",
        r"it could be worse",
        r"don'?t (?:be )?(?:so )?hard on yourself",
        r"you shouldn'?t feel",
        r"there'?s no reason to (?:feel|be)",
    ])
});

// ------------------------------------------------------------ distortions --

/// Self-critical overgeneralisations and global negative self-labels, as a
/// participant says them.
pub static DISTORTION_RE: LazyLock<Regex> = LazyLock::new(|| {
    any_of(&[
        r"i (?:always|never|constantly) (?:mess|screw|ruin|fail|fuck|get|do|say|make|let|disappoint|end up|lose|break)\w*(?: [\w']+){0,4}",
        r"i (?:can'?t|cannot|never) do anything right",
        r"i ruin everything",
        r"i(?:'m| am|m) (?:such |just |a |the |so |an |really |truly |nothing but (?:a )?|a total |a complete |always |proper |well |literally |basically |lowkey |highkey |honestly |genuinely |simply |kinda |kind of |sort of |a bit of |bit of |officially |clearly |obviously |definitely |probably )*(?:failure|loser|idiot|mess|disappointment|burden|joke|waste|fraud|screw[- ]?up|let[- ]?down|worthless|useless|stupid|pathetic|unlovable|ugly|hopeless|broken|a bad person|not good enough|terrible person|horrible person|the worst|rubbish|thick|crap|dumb|lazy|selfish|weak|terrible|awful|dreadful|bad (?:mum|mom|dad|father|mother|parent|husband|wife|partner|friend|son|daughter|sister|brother|nurse|teacher|person|student))\b",
        r"(?:nobody|no one|noone) (?:\w+ )?(?:likes|loves|cares about|wants|understands|listens to|would miss|needs) me",
        r"(?:nobody|no one|noone) (?:cares|would care|will ever love me)",
        r"(?:everyone|everybody|all my friends|people) (?:\w+ )?(?:hates|hate|leaves|leave|abandons|abandon|is better than|are better than|thinks i'?m \w+|laughs at|laugh at) me",
        r"(?:it'?s|it is|everything is|everything'?s) (?:all )?my fault",
        r"i(?:'ll| will) never (?:be|find|get|have|amount|succeed|be good enough|be happy|be loved)(?: [\w']+){0,3}",
        r"nothing (?:i do )?ever (?:works|goes right|works out|changes)",
        r"i(?:'m| am) always (?:the one|alone|wrong|left out|the problem)",
        r"i(?:'m| am) (?:a )?(?:complete |total )?failure at everything",
        r"i can'?t do anything",
        r"i(?:'m| am) (?:not|never) good (?:enough|at anything)",
        r"(?:my \w+(?: is| are|'s)?|i(?:'m| am)?) (?:just |still |probably |maybe )?not good enough",
        r"i feel (?:like )?(?:such )?(?:a |an )?(?:complete |total )?(?:failure|loser|idiot|burden|disappointment|fraud|worthless|useless|stupid|pathetic)\b",
        r"i (?:really |just )?(?:hate|despise|loathe) (?:myself|who i am)",
        r"(?:silly|stupid|daft|useless|pathetic|soft) (?:old )?(?:fool|idiot|git|sod|cow|muppet|mare|twit)(?: that i am| i am)",
        r"i(?:'m| am|m) (?:a |an |such a |a bit of a |bit of a |a right |a proper |a complete |a total |an old |a silly )?(?:old )?(?:fool|idiot|mug|muppet|div|twit|numpty|plonker)\b",
        r"what (?:sort|kind) of (?:a )?(?:\w+ )?(?:person|husband|wife|mum|mom|mother|dad|father|parent|friend|son|daughter|partner|nurse|teacher|man|woman|grown man|grown woman) (?:forgets|does|would|says|snaps|shouts|leaves|can'?t|cannot|doesn'?t|is)\b",
        r"i(?:'m| am|m)(?: \w+)? not (?:\w+ )?(?:good|smart|clever|intelligent|strong|talented|pretty|brave|interesting|fun|capable|qualified) enough",
    ])
});

// ------------------------------------------------------------------ risk ---

/// Explicit, current suicidal ideation in the speaker's own words.
pub static RISK_EXPLICIT_RE: LazyLock<Regex> = LazyLock::new(|| {
    any_of(&[
        r"(?:kill|killing|killed|end|ending|hang|hanging|shoot|shooting|drown|drowning|off|offing|top|topping|poison|poisoning) myself",
        r"(?:end|ending|take|taking) my (?:own )?life",
        r"kms|unalive (?:myself|me)|(?:want|wanna|going) to unalive",
        r"(?:end|ending|finish) it all",
        r"(?:want|wanna|wanted|wish|going|gonna|ready|plan|planning|need|have) to (?:just )?die",
        r"(?:want|wanna|wish) to be dead",
        r"(?:better off|rather be) dead",
        r"wish (?:i was|i were|i'd be|i could be) dead",
        r"(?:suicidal|suicide)",
        r"don'?t (?:really )?(?:want|wanna|wish) to (?:live|be alive|exist|go on living|keep living)(?: anymore)?",
        r"(?:no longer|not) (?:want|wanna) to (?:live|be alive|exist)",
        r"(?:overdos(?:e|ed|ing)|od'?ing|take all (?:my|the|these) (?:pills|meds|tablets))",
        r"jump(?:ing)? (?:off|from) (?:a|the|my) (?:bridge|building|roof|balcony|cliff|ledge|tower|window)",
        r"jump(?:ing)? in front of (?:a|the) (?:train|bus|car|truck)",
        r"slit(?:ting)? my (?:wrists?|throat)",
        r"not (?:be|being|going to be|gonna be) (?:here|alive) (?:anymore|tomorrow|much longer)",
        r"(?:i'?m|i am) ending it (?:tonight|today|tomorrow|this weekend|soon|now|once|when|after)",
        r"self[- ]?delet(?:e|ing)(?: myself)?",
        r"check out (?:for good|permanently)|(?:want|wanna|going|gonna) to check out\.? permanently",
        r"sewer ?slide",
        r"(?:wanna|want to|going to|gonna) overdo(?:es|se) on",
        r"(?:hanging|pills|jumping|the train|drowning|a gun|an overdose|overdosing)\b[^.!?]{0,12}\b(?:is how|would be how|is the way) i'?d (?:do it|go)",
        r"(?:thinking|thought|thoughts|think|thinks) (?:a lot )?(?:about|of) (?:ending (?:it|it all|my life|things)|killing myself|taking my (?:own )?life|suicide|how to die|dying by suicide)",
        r"ctb|sewerslide|(?:want|wanna|going|gonna) to rope",
        r"(?:want|wanna|going|gonna|ready|planning|about|decided) to (?:end (?:it|things|everything)(?: for good| now| all)?|be gone for good|not be alive)",
        r"unaliv(?:e|ing) myself",
        r"(?:plan|plans|planning) (?:for )?(?:how )?to end (?:it all|it|things|everything|my life)",
        r"(?:night|day) (?:that )?i (?:end it|do it|kill myself|end my life)",
        r"(?:i'?ll|i will|i'?m going to|i am going to|gonna) end it (?:tonight|today|tomorrow|this weekend|soon|after)",
    ])
});

/// Passive ideation: wishing not to exist, not waking up, no reason to live.
pub static RISK_PASSIVE_RE: LazyLock<Regex> = LazyLock::new(|| {
    any_of(&[
        r"wish (?:i (?:was|were|wasn'?t|weren'?t|could|had|'?d)|to) (?:never )?(?:not )?(?:be )?(?:here|alive|born|exist|disappear|vanish|died|dead|go to sleep and not wake up|fall asleep and not wake up|been born)",
        r"wish i(?:'d| had)? never (?:been born|existed|woken up|woke up)",
        r"(?:don'?t|not|never) (?:want|wanna) to wake up",
        r"(?:go to sleep|fall asleep|sleep) and (?:never|not) wake up",
        r"(?:no|not any|not a single|don'?t (?:have|see) (?:a|any)) (?:point|reason) (?:in |of |to )?(?:living|to live|being alive|going on|existing|to go on|in going on|to keep going|anymore)",
        r"what'?s (?:even )?the point (?:of|in) (?:living|life|being alive|going on|carrying on|continuing|existing|being here|waking up|it all)",
        r"(?:why|what'?s the point) (?:should i |do i |even )?(?:keep|bother) (?:going|living|waking up|trying to live)",
        r"(?:wish|wishing|hope|hoping|pray|praying) (?:that )?(?:i|i'?d|i'?ll|it) (?:would |could |will )?(?:just )?(?:die|not wake up|never wake up|get hit by|get sick and die|go to sleep forever|stop breathing|pass away|be over)",
        r"(?:would(?:n'?t)? mind|would be (?:relieved|fine|okay|glad)|won'?t mind) if i (?:died|didn'?t wake up|never woke up|got hit|got killed|just died|was gone|stopped existing)",
        r"(?:if i died|if i didn'?t wake up)[^.!?]{0,20}\b(?:that'?d|that would|it would|it'?d) be (?:fine|okay|a relief|better|ok)",
        r"(?:tired|sick|exhausted) of (?:being alive|existing|living|life|waking up|everything)(?: anymore)?",
        r"(?:want|wanna|wish i could|need) (?:to )?(?:sleep|go to sleep) (?:forever|and (?:never|not) wake up)",
        r"(?:don'?t|do not|dont) want to (?:exist|be alive|wake up)(?: anymore| any more|tomorrow)?",
        r"(?:life|living) (?:is|feels) (?:pointless|meaningless|not worth it)",
        r"(?:no|not any|not a single) reason (?:for me )?to (?:live|keep going|go on|stay|be here|wake up|keep living)",
        r"(?:easier|better|simpler) (?:for everyone )?if i (?:just )?(?:wasn'?t (?:here|around|alive)|weren'?t (?:here|around|alive)|didn'?t wake up|was gone|were gone|died|disappeared|didn'?t exist)",
        r"(?:life|living) (?:isn'?t|is not|doesn'?t seem|does not seem|is no longer|isn'?t really) worth (?:living|it)",
        r"not worth living",
        r"nothing (?:left )?to live for",
        r"(?:tired|sick) of (?:living|being alive|life|existing)",
        r"(?:not|unsure|don'?t know) (?:sure |if |whether )*(?:i )?(?:really )?(?:want|wanna) to (?:live|be alive|be here|go on|keep going|exist)",
        r"(?:everyone|everybody|people|they|my family|the world) (?:would be|are|is|'?d be) better off without me",
        r"(?:nobody|no one|noone) would (?:even )?(?:care|miss me|notice) if i (?:was|were|died|disappeared|was gone|were gone)",
        r"(?:want|wanna|wish i could) (?:to )?(?:just )?(?:disappear|vanish|not exist|stop existing|cease to exist)(?: forever| for good| completely)?",
        r"don'?t (?:really )?(?:want|wanna) to be (?:here|around|alive) (?:anymore|any more|any longer)",
        r"(?:rather|prefer to|hope i) (?:not|don'?t|never) wake up",
        r"not wake up (?:tomorrow|in the morning|again)",
        r"can'?t (?:go on|keep going|do this anymore|take (?:it|this) anymore|live like this)",
        r"don'?t (?:think i can|see how i can) (?:go on|keep going|do this anymore)",
        r"(?:thoughts|thinking|think) (?:about|of) (?:death|dying|not being here|not existing|ending it)",
        r"(?:want|wanna|wish) (?:it|everything|the pain) (?:all )?to (?:end|stop|be over)",
    ])
});

/// Hopelessness and burden cues that raise concern but are not ideation.
pub static RISK_HOPELESS_RE: LazyLock<Regex> = LazyLock::new(|| {
    any_of(&[
        r"(?:completely |totally |so |feel |feeling |i'?m |i am |utterly |just )hopeless",
        r"(?:give|giving|gave|given) up on (?:everything|life|myself|living|the future)",
        r"nothing (?:will|is going to|is ever going to|'?s ever going to) (?:ever )?(?:get|be|change|make it) (?:better|different|okay|ok)",
        r"(?:it|things|life) (?:will|is going to|'?s going to) never (?:get|be) (?:better|different|okay|ok)",
        r"(?:feel like|want to|wanna|i'?m|am) (?:just )?(?:giving|give) up",
        r"nothing (?:really )?matters (?:anymore|any more)",
        r"(?:so |really |just )?tired of (?:all of (?:it|this)|everything|it all|living|life|fighting|being alive)",
        r"my life is (?:over|ruined|pointless|meaningless|worthless)",
        r"(?:i )?(?:can'?t|cannot|don'?t) (?:see|imagine|picture) (?:a|any|my) future",
        r"(?:there'?s|there is|i have|i'?ve got) no (?:future|hope) (?:for me|left|anymore)",
        r"(?:lost|losing) all (?:hope|will to live)",
        r"(?:no|without any) hope (?:left|anymore)",
        r"what'?s (?:even )?the point (?:anymore|of (?:anything|trying|any of (?:it|this))(?: anymore)?)",
        r"(?:there'?s|there is) no point (?:anymore|in (?:anything|trying)(?: anymore)?)",
        r"(?:i )?(?:don'?t|do not) see the point (?:anymore|of (?:anything|trying|any of (?:it|this)))",
        r"nothing matters anymore",
        r"every (?:year|day|month|week) is worse than the last",
        r"(?:so |completely |totally )?(?:done|finished) with (?:everything|life|it all|all of it|living)",
    ])
});

/// Self-harm other than suicide.
pub static RISK_SELF_HARM_RE: LazyLock<Regex> = LazyLock::new(|| {
    any_of(&[
        r"(?:cut|cutting|harm|harming|hurt|hurting|burn|burning|punch|punching|hit|hitting|scratch|scratching|starve|starving|injure|injuring) myself",
        r"self[- ]?harm(?:ing)?",
        r"(?:took|swallowed|taken|take|taking) (?:too many|a lot of|all (?:my|the|of my)|a bunch of|a handful of|an overdose of|loads of) (?:pills|tablets|meds|sleeping pills|painkillers|paracetamol|tylenol)",
        r"self[- ]?injur(?:y|e|ing)",
        r"cutting (?:again|my (?:arms?|legs?|wrists?|skin))",
        r"(?:cut|cutting|burn|burning|burned|burnt|carve|carving|carved|scratch|scratching|scratched|slice|slicing|sliced|pinch|pinching|bite|biting|bit) (?:up )?(?:my|into my) (?:arms?|legs?|thighs?|wrists?|skin|stomach|hips?|hands?|forearms?)",
        r"(?:hit|hitting|bang|banging|banged|punch|punching|punched|slap|slapping|slapped) (?:myself|my head (?:against|on) (?:the|a) wall)",
        r"(?:hurt|hurting|harm|harming|injure|injuring) myself (?:on purpose|deliberately|again|to (?:feel|cope|punish|make))",
        r"made myself (?:bleed|bruise)",
        r"(?:razor|blade|knife|lighter|scissors|compass) (?:to|on|into|across) my (?:arms?|legs?|wrists?|skin|thighs?|stomach)",
        r"(?:sh|self[- ]?harm|cutting) (?:urges?|relapse|again)",
        r"relapsed (?:on|with|into|and) (?:sh|self[- ]?harm|cutting|cut)",
        // Texting for self-harm ("sh'd last night", "shing again"); not
        // the word "shed" ("the rope for the tent in the shed", "shed a
        // tear"), which read as "sh'ed" gave a camping trip the protocol.
        r"sh'(?:d|ed|ing)|sh-(?:ed|ing)|shd|shing",
        r"i shed (?:again|last night|yesterday|today|tonight|this (?:morning|week))",
        r"s/h",
        r"after (?:\d+|one|two|three|four|five|six|seven|eight|nine|ten|a few|several) (?:days?|weeks?|months?|years?) (?:clean|free)",
        r"(?:punch|punching|punched|hit|hitting|bang|banging|banged|kick|kicking) (?:the |a )?walls? (?:until|till|til|so hard)",
        r"until (?:my \w+ |i )(?:bleed|bled|bleeds|bruise|bruised|bruises)",
        r"(?:only thing|the thing|what) (?:that )?(?:helps|makes|stops|calms|quiets)\b[^.!?]{0,40}\b(?:is|was) (?:cutting|burning|hurting myself|hitting myself|the blade|the razor|sh)",
        r"relapsed (?:on|with|into|and) (?:the |a )?(?:blade|razor|blades|razors|lighter)",
        r"(?:hiding|hide|cover|covering|covered) (?:it|them|the (?:cuts|marks|scars|burns)) (?:under|with) (?:long sleeves|my sleeves|sleeves|a hoodie|bracelets|bandages|plasters)",
        r"fresh (?:cuts|marks|burns)",
    ])
});

/// Accidental or everyday "hurt myself" that is not self-harm.
pub static RISK_ACCIDENT_RE: LazyLock<Regex> = LazyLock::new(|| {
    any_of(&[
        r"(?:this is |it'?s )?(?:goodbye|bye|farewell) for now",
        r"(?:cut|hurt|burn|burnt|burned|injure|injured) myself (?:shaving|cooking|chopping|playing|at the gym|at work|running|training|lifting|on (?:a|the|some)|with (?:a|the) (?:knife|oven|pan|iron) while|while (?:cooking|shaving|working|playing|running|climbing|cleaning|gardening)|when i (?:fell|slipped|tripped)|by accident|accidentally|falling|slipping|badly (?:at|playing|when|while))",
        r"accidentally (?:cut|hurt|burn|burned|burnt) myself",
        r"(?:cut|cutting|burn|burning|burned|burnt|scalded|scalding|scratched|bit|bite) my (?:\w+ ){1,2}(?:on|with|while|when|at|in) (?:the |a |an |some |my )?(?:oven|stove|hob|pan|kettle|iron|tray|grill|toaster|cooking|baking|chopping|shaving|gardening|work|kitchen|paper|glass|fence|cat|door|tongue|knife while)",
        r"(?:kill|killing) myself (?:laughing|at the gym|with work|working|studying|over (?:this|that|nothing))",
        r"could (?:have |'?ve )?(?:kill|killed) myself (?:laughing|for)",
        r"(?:die|dying|died) (?:of|from) (?:laughter|laughing|embarrassment|boredom|shame|cringe|happiness|cuteness)",
        r"i'?d (?:rather|sooner) die than",
        r"(?:going to|gonna|will|'?ll) (?:literally )?die (?:if|when|unless|of|from) (?:i|i'?m|my|this|the|they|he|she|we|you)",
        r"(?:kill|murder) me (?:now|already)",
        r"(?:going to|gonna|will|'?ll) (?:kill|murder) me (?:if|when)",
        r"suicide (?:squad|prevention|awareness|hotline|helpline|forest)",
        r"(?:sleep|wake up|sleep forever|never wake up)\W+(?:\w+\W+){0,2}(?:until|till|til) (?:monday|tuesday|wednesday|thursday|friday|saturday|sunday|tomorrow|the weekend|\d+|noon|lunch|next week|morning)",
        r"(?:makes?|made|making) me (?:want to|wanna) [^.!?]{0,40}\b(?:lol|lmao|haha|hahaha|jk)",
        r"(?:last message|last post|goodbye|bye) for (?:a while|now|a bit|the (?:week|weekend|night|day)|today|tonight|\w+ weeks?)",
    ])
});

/// Past (not current) ideation or self-harm: history raises risk to low.
pub static RISK_HISTORY_RE: LazyLock<Regex> = LazyLock::new(|| {
    any_of(&[
        r"used to",
        r"years ago",
        r"when i was (?:younger|a (?:kid|teen|teenager|child)|little|in (?:high )?school|in college)",
        r"(?:in|during) (?:high school|college|my teens|the past)",
        r"haven'?t (?:done|felt|thought)[^.!?]{0,30}(?:in|for) (?:months|years|a long time)",
        r"a long time ago",
        r"back then",
        r"once (?:tried|attempted)",
        r"when i was (?:\d+|a teen|a teenager|younger|in (?:school|uni|university|college|high school|year \d+))",
        r"back in (?:uni|university|college|school|high school|the day|\d{4})",
        r"(?:\d+|two|three|four|five|six|seven|eight|nine|ten|a few|several|many) (?:years|months) (?:ago|since)",
        r"(?:years|months) since (?:my|i|the) (?:last|first)",
        r"in (?:19|20)\d\d",
        r"i (?:was|had been|'?d been|felt) (?:so |really |very |quite |pretty )?(?:suicidal|in hospital|hospitali[sz]ed)",
        r"that was (?:a long time|years|ages|\w+ years|\d+ years) ago",
    ])
});

/// A plan: method decided, researched or prepared.
pub static RISK_PLAN_RE: LazyLock<Regex> = LazyLock::new(|| {
    any_of(&[
        r"(?:have|got|made|making|had) (?:a|the|my) plan",
        r"planned (?:it|how|out|everything)",
        r"(?:know|decided|figured out|worked out) (?:exactly )?(?:how|when|where) (?:i'?d|i would|i will|i'?ll|i'?m going to|to)(?: do it| end it| go)?",
        r"(?:researched|looked up|googled|searching|searched) (?:how|ways|methods|the best way)",
        r"(?:wrote|written|writing|left) (?:a|my) (?:suicide )?(?:note|letter)",
        r"(?:suicide|goodbye) (?:note|letter|plan)",
        r"(?:figured out|worked out|decided on|chosen|picked|settled on) (?:the |a )?(?:method|place|spot|way|location|date|day)",
        r"(?:the )?plan is to",
        r"(?:the|my) plan is\b",
        r"(?:worked|figured|planned|sorted|thought) (?:\w+ )?(?:everything|it all|it) out",
        r"(?:worked|figured) out (?:that|when|where|how)",
        r"(?:got|have|had|'?ve got) (?:it|everything) (?:all )?planned",
        r"(?:i'?ve|i have) known how",
        r"(?:know|knows|decided on|chose|chosen|picked|found|scoped out|checked out) the (?:place|spot|way|method|bridge|building|location)",
        r"(?:decided|decide) (?:it'?s|its|it is) (?:going to|gonna) be",
        r"(?:set|picked|chosen) (?:the|a) (?:date|day)",
        r"plan'?s (?:sorted|ready|done|set|made|in place|decided|finished)",
    ])
});

/// A plan that names its method ("the plan is pills and the bath", "it's
/// going to be the train line"): C-SSRS 3–5, a plan whatever the context.
pub static RISK_PLAN_METHOD_RE: LazyLock<Regex> = LazyLock::new(|| {
    any_of(&[
        r"(?:plan|planned|planning|decided|going to be|gonna be)\b[^.!?]{0,40}\b(?:take|swallow|down) (?:all )?(?:of )?(?:the|my|those|these) (?:\w+ )?(?:pills|tablets|meds)",
        r"(?:plan|planned|planning)\b[^.!?]{0,40}\b(?:don'?t|do not|won'?t|never|not) (?:brake|stop|slow down)",
        r"(?:plan|planned|planning|decided|figured out|worked out|going to be|gonna be)\b[^.!?]{0,40}\b(?:overdose|the bath|hang myself|hanging myself|jump off|jumping off|in front of (?:a|the) train|the train line|the tracks|off (?:a|the) bridge|(?:drive|driving|steer|steering) (?:\w+ ){0,2}off|crash (?:my |the )?(?:\w+ )?car|the gun|a rope|the rope|noose|bleed out|drown myself)",
    ])
});

/// Access to means (possession / preparation of a lethal method).
pub static RISK_MEANS_RE: LazyLock<Regex> = LazyLock::new(|| {
    any_of(&[
        r"(?:have|got|bought|buy|buying|saved|saving|stockpil\w*|collected|collecting|hoarding|hoarded|found|holding|keep|kept|ready|counted|counting|get|getting)(?: up)?(?: all)?(?: (?:a|the|my|some|enough|these|those|his|her|dad'?s|mom'?s|\w+'s))?(?: own)? (?:gun|guns|pistol|rifle|firearm|rope|noose|pills|tablets|meds|medication|sleeping pills|painkillers|razor|razors|blades?|knife|poison|bleach|belt|cord)\b",
        r"(?:pills|tablets|gun|rope|noose|razor|blade|knife) (?:is |are )?(?:ready|in (?:my|front of me)|next to me|on my (?:desk|bed|table)|right here|here with me)",
        r"(?:on|at) the (?:bridge|roof|ledge|edge|tracks|platform|cliff)",
        r"(?:enough|all (?:my|the|these)) (?:pills|tablets|meds|sleeping pills|painkillers)",
        r"(?:price of|cost of|how much (?:a |the )?|where to (?:buy|get) (?:a |the )?)(?:rope|gun|pistol|firearm|noose|helium|charcoal)",
    ])
});

/// A time frame for acting.
pub static RISK_TIMELINE_RE: LazyLock<Regex> = LazyLock::new(|| {
    any_of(&[
        r"tonight",
        r"today",
        r"tomorrow",
        r"this (?:weekend|week|evening|morning|afternoon|friday|saturday|sunday|monday|tuesday|wednesday|thursday)",
        r"right now",
        r"in (?:an|a few|one|two|\d+) (?:hours?|minutes?|days?)",
        r"in the (?:morning|mornin)",
        r"(?:on|this|next) (?:monday|tuesday|wednesday|thursday|friday|saturday|sunday)",
        r"tonight'?s the night",
        r"(?:very )?soon",
        r"after (?:this|you|we|the session|everyone'?s asleep|they leave)",
        r"when (?:everyone|they)(?:'?re| are| is)? (?:asleep|gone|out)",
        r"by (?:friday|saturday|sunday|monday|tuesday|wednesday|thursday|the end of the (?:week|day|month))",
    ])
});

/// Intent: "I'm going to", "I will", "I've decided to" around an act.
pub static RISK_INTENT_RE: LazyLock<Regex> = LazyLock::new(|| {
    any_of(&[
        r"(?:i'?m|i am) (?:going to|gonna|about to|ready to|planning to|planning on) (?:kill myself|end (?:my life|it all|it tonight|it today)|off myself|hurt myself|cut myself|take my (?:own )?life|take (?:all )?(?:the|my|these) pills|jump off|jump in front|hang myself|overdose|die)",
        r"i(?:'ll| will) (?:kill myself|end (?:my life|it all)|off myself|hang myself|overdose|take my (?:own )?life|jump off)",
        r"(?:i'?ve|i have) (?:decided|made up my mind) to (?:kill|end|die|do it|go through with)",
        r"going through with it",
        r"(?:use|take|swallow|down) (?:them|it) all (?:at once|together|in one go)",
        r"(?:i'?m|im|i am) (?:starting|about to start|going to start|gonna start) (?:now|tonight)",
        r"(?:monday|tuesday|wednesday|thursday|friday|saturday|sunday|tomorrow|tonight) (?:i'?m|im|i am) (?:done|gone|out of here)",
        r"(?:i'?m|im|i am) (?:taking|swallowing|having) (?:everything|all of (?:it|them)|the lot|the whole (?:lot|bottle|packet|box)|all (?:my|the) \w+)",
    ])
});

/// Goodbye behaviour: final farewells, giving things away.
pub static RISK_GOODBYE_RE: LazyLock<Regex> = LazyLock::new(|| {
    any_of(&[
        r"this is (?:my )?(?:final |last )?goodbye",
        r"(?:goodbye|bye) forever",
        r"final goodbye",
        r"(?:saying|said|say) (?:my )?goodbyes? to the world",
        r"won'?t be (?:around|here|alive) (?:much longer|anymore|for long|any longer|after (?:tonight|today|this))",
        r"(?:giving|gave|give) away (?:my|all my) (?:stuff|things|belongings|possessions|cat|dog|pets?)",
        r"(?:last|final) (?:time|message|conversation) (?:you'?ll|we'?ll|i'?ll|you will|we will)(?: ever)?",
        r"you (?:won'?t|will not) (?:hear from|see) me again",
        r"(?:won'?t|will not) be (?:messaging|texting|talking|writing|posting) (?:\w+ )?again (?:after|from|past)",
        r"thank you for everything[,.!]* (?:goodbye|bye|farewell)",
        r"(?:sorted|put) my (?:affairs|things) in order",
    ])
});

/// An urge to jump, step off or let go: ideation when at a height or a platform.
pub static RISK_JUMP_URGE_RE: LazyLock<Regex> = LazyLock::new(|| {
    any_of(&[
        r"(?:want|wanna|going|gonna|about|ready|tempted|thinking about|think about|thought about|urge|urges) (?:to )?(?:jump|jumping|step off|stepping off|step in front|stepping in front|let go|letting go|lean over|fall)",
        r"(?:how easy it would be|how easy it'?d be) to (?:jump|step|fall|let go)",
        r"(?:just )?(?:one|a) (?:step|little push)",
    ])
});

/// Veiled talk of an act: "do it", a day not yet picked, being found too
/// late, how easy it would be. On its own it names nothing; beside a plan,
/// a means or a place it is the warning sign of indirect disclosure
/// (AAS: talking about dying without saying the word).
pub static RISK_VEILED_RE: LazyLock<Regex> = LazyLock::new(|| {
    any_of(&[
        r"(?:do|doing|did) it",
        r"(?:end|ending) it",
        r"go(?:ing)? through with it",
        r"(?:haven'?t|not yet|just need to|still need to|only need to|yet to|need to) (?:picked|pick|decided|decide|chosen|choose|set|settle on) (?:a |the )?(?:day|date|when|time)",
        r"(?:nobody|no one|noone) (?:finds|will find|would find|can find) me",
        r"too late",
        r"(?:thinking about|think about|thought about) it",
        r"it'?d be (?:so )?easy",
        r"(?:looking|staring) down",
        r"can'?t stop (?:looking at|staring at|thinking about) (?:it|them)",
        r"(?:the rest is|it'?s) just (?:timing|a matter of (?:time|when))",
        r"(?:heading|going|walking|driving) (?:there|over there) (?:now|tonight|right now)",
        r"on my way there",
        r"(?:i )?(?:have|got) enough (?:now|of them|saved|saved up)",
        r"(?:calm|at peace|okay|ok|fine|settled) (?:about|with) it now",
        r"it'?s the right (?:thing|choice|decision)",
    ])
});

/// Veiled talk of one's own death ("when I'm gone", "where I'm going"):
/// gives an ordinary act (giving things away, sorting affairs) its meaning,
/// as despair in the same turn does (NIMH/988: talking about being gone).
pub static RISK_VEILED_DEATH_RE: LazyLock<Regex> = LazyLock::new(|| {
    any_of(&[
        r"(?:when|after|once|for when|by the time) i'?m (?:gone|not here|not around|dead)",
        r"(?:when|after|once) i(?:'ve| have)? (?:gone|left for good)",
        r"where i'?m going",
        r"(?:before|for) the end",
        r"(?:deal|cope) with (?:my|all my) (?:mess|stuff|things|affairs) (?:after|when|once)",
        r"(?:no one|nobody|noone) (?:has|will have|would have) to (?:deal|cope) with (?:my|me)",
        r"won'?t (?:be needing|need) (?:it|them|any of (?:it|this|them)) (?:anymore|any more|where)",
    ])
});

/// Medication words (for overdose, stockpiling and dose research).
const MEDS: &str = r"(?:pills|tablets|meds|medication|medications|medicine|sleeping pills|sleeping tablets|painkillers|pain killers|pain meds|antidepressants|paracetamol|tylenol|acetaminophen|ibuprofen|advil|aspirin|xanax|benzos|oxy|oxycodone|insulin|lithium|prescription|prescriptions|capsules|sleep aids?|melatonin|(?:my )?(?:\w+ )?(?:pills|meds|tablets))";

/// An overdose or injury already taken or under way (act in progress).
pub static RISK_ACT_RE: LazyLock<Regex> = LazyLock::new(|| {
    any_of(&[
        &format!(r"(?:took|swallowed|taken|downed|had|popped|taking|swallowing|popping) (?:like |about |around |maybe |almost |over |at least )?(?:the whole|a whole|an entire|the entire|all (?:of )?(?:my|the|these|those)|every one of (?:my|the)|a (?:full )?bottle of|a bottle of|the rest of (?:my|the)|a handful of|handfuls of|a bunch of|loads of|lots of|a lot of|too many|way too many|so many|\d{{2,}}|twenty|thirty|forty|fifty|a hundred|double|triple|(?:way |a lot |so much )?more (?:of )?(?:my )?)\s*(?:of )?(?:my |the |these |those )?(?:\w+ )?{MEDS}"),
        &format!(r"(?:took|swallowed|taken|downed|had) (?:way |a lot |so much |much )?more (?:of )?(?:my |the )?{MEDS} than (?:i'?m|i am|you'?re) (?:supposed|meant|allowed) to"),
        r"(?:swallowed|downed|took|drank|taken) (?:the |a )?(?:whole |entire )?bottle",
        r"(?:i'?ve|i have|i) (?:just |already )?(?:overdosed|od'?d|o\.d\.'?d)",
        r"(?:pills|meds|tablets) (?:are|is) (?:kicking in|starting to work|working)",
        r"(?:cut|cutting) (?:too )?deep (?:this time|tonight|now)",
        r"(?:i'?m|i am) (?:bleeding|losing (?:a lot of )?blood) (?:a lot|and it won'?t stop|badly)",
        r"(?:already )?(?:took|taken) (?:them|it) all",
        r"(?:already|just) (?:took|taken|swallowed|downed) (?:them|it|everything|the lot|all of (?:them|it))",
        r"(?:swallowed|took|taken|downed) (?:the |a |my )?(?:whole |entire |full )?(?:packet|box|strip|blister pack|jar|lot)\b",
        r"(?:pills|meds|tablets|they) (?:are |is |'re )?(?:starting to |beginning to )?kick(?:ing)? in",
        r"(?:car|engine) (?:is )?(?:running|on)\b[^.!?]{0,30}\bgarage",
        r"garage\b[^.!?]{0,30}\b(?:engine|car) (?:is )?(?:running|on)\b",
    ])
});

/// Looking up a method, a lethal dose, a height (method research).
pub static RISK_METHOD_RESEARCH_RE: LazyLock<Regex> = LazyLock::new(|| {
    any_of(&[
        r"(?:lethal|fatal|deadly|toxic|overdose) (?:dose|amount|quantity|level)",
        r"how (?:many|much) [^.?!]{0,50}\b(?:kill (?:me|myself|someone|a person|you|somebody)|to die|be fatal|be lethal|is lethal|is fatal|not wake up|never wake up|to overdose|an overdose|to od|stop (?:my|your|the|a) heart)",
        r"how (?:high|tall|far) (?:\w+ ){0,7}(?:to (?:die|not survive|be fatal|be sure)|would (?:kill|be fatal)|is (?:fatal|lethal|enough to die))",
        r"how long (?:\w+ ){0,3}(?:does it take|it takes|would it take) to (?:die|bleed out|drown|suffocate|lose consciousness|pass out and die)",
        r"(?:painless|quick|quickest|easiest|easy|best|surest|fastest|peaceful) (?:ways?|methods?|means) (?:to|of) (?:die|dying|kill (?:myself|yourself|oneself)|end (?:it|my life|your life)|go)",
        r"ways? to (?:kill myself|end my life|end it all|die painlessly|commit suicide|unalive)",
        r"how to (?:kill myself|end my life|tie a noose|hang (?:myself|yourself)|overdose|commit suicide|slit|unalive)",
        r"(?:researched|researching|looked up|looking up|looking into|looked into|googled|googling|searched|searching|reading (?:up )?about|read about) (?:\w+ ){0,3}(?:suicide methods|methods of suicide|overdos\w*|lethal doses?|ways to die|which (?:bridge|building) is|nooses?|the (?:tallest|highest) (?:bridge|building)s? (?:near|around|in))",
        r"which (?:bridge|building|cliff|drop) (?:is )?(?:high|tall) enough",
        r"(?:would|will|could) (?:\w+ ){0,3}(?:pills|tablets|that much|that many|this much|this many) (?:\w+ ){0,2}(?:kill me|be enough to (?:die|kill me|not wake up)|make sure i don'?t wake up)",
        r"enough to (?:kill me|make sure i (?:don'?t|never) wake up|not wake up)",
        r"(?:what|which|how much|how many|what amount|what dose)\b[^.!?]{0,50}\b(?:is|are|would be|counts? as|would count as|be) (?:deadly|lethal|fatal|enough to (?:die|kill)|an? (?:od|overdose))",
        r"(?:would|will|could|is) (?:that|this|it|they|\w+) (?:\w+ )?(?:be )?enough to (?:kill|die|not wake|stop (?:my|your|the|a) heart)",
        r"is it (?:painful|quick|slow|peaceful|hard|easy) to (?:bleed out|drown|hang|overdose|od|die|suffocate)",
        r"(?:count|counts|counted) as an? (?:od|overdose)",
        r"how (?:much|many) [^.?!]{0,40}\b(?:deadly|lethal|fatal|od)\b",
        r"for it to (?:definitely|definitly|surely|really) work|for it to work for sure|to be sure it works",
        r"so (?:you|i|that you|that i) (?:definitely |definitly |surely |really )?(?:don'?t|won'?t|never|do not|will not) wake up",
        r"(?:reading|read|looking|looked|researching|researched|googling|googled|watching|watched) (?:\w+ ){0,3}(?:about|up|into|on|what) (?:\w+ ){0,4}(?:carbon monoxide|an? (?:\w+ )?od|overdos\w*|hanging|exit bags?|helium|charcoal)",
    ])
});

/// Stockpiling medication or obtaining a lethal means: preparation on its own.
pub static RISK_STOCKPILE_RE: LazyLock<Regex> = LazyLock::new(|| {
    any_of(&[
        &format!(r"(?:saving|saved|stockpil\w*|hoard\w*|stash\w*|collecting|collected|storing|stored|hiding|hidden|squirrel\w* away|putting aside|put aside|been keeping|keeping) (?:up )?(?:all )?(?:of )?(?:my |the |some |a few |extra |enough )?(?:\w+ )?{MEDS}"),
        &format!(r"(?:not|haven'?t been|stopped) taking (?:my )?{MEDS} (?:so|and) (?:i can|i'?ve been|i'?m) (?:sav|keep|collect|stor)\w*"),
        r"(?:bought|buying|ordered|ordering|got|getting|picked up|purchased|applied for|looking to buy|trying to get) (?:a |some |the )?(?:gun|handgun|pistol|firearm|rope|noose|charcoal|helium|exit bag|razor blades)(?: (?:for|so) (?:myself|when|it|that|the end))?(?:$|[.!?]| online| today| yesterday| last| this| and| so| because)",
        r"(?:tied|tying|made|making) (?:a |the )?noose",
        r"(?:enough|a (?:big )?(?:pile|stash|collection|stockpile) of) (?:pills|tablets|meds|sleeping pills|painkillers)",
    ])
});

/// Means within reach now, or being at a height / edge / platform.
pub static RISK_AT_HAND_RE: LazyLock<Regex> = LazyLock::new(|| {
    any_of(&[
        r"(?:pills|tablets|meds|gun|rope|noose|razor|blade|knife|bottle) (?:is |are )?(?:ready|(?:right )?in front of me|next to me|beside me|in my (?:hand|hands|lap|pocket)|on my (?:desk|bed|table|lap)|right here|here with me|laid out|lined up|loaded)",
        r"(?:i'?m |i am )?(?:holding|staring at|looking at|counting) (?:the |my |a |all the |all my )?(?:pills|tablets|gun|rope|noose|razor|blade|knife)",
        r"(?:i'?m|i am|standing|sitting|stood|sat|been) (?:\w+ )?(?:on|at|by|near) (?:the |a )?(?:edge of (?:the |a )?|top of (?:the |a )?)?(?:train |railway |subway |metro |tube )?(?:bridge|roof|rooftop|ledge|edge|tracks|railway|train tracks|platform|cliff|cliffs|balcony|overpass|tall building|station|train line|car park roof|multi-storey|parking garage roof)",
        r"(?:looking|staring) (?:down )?(?:over|off) (?:the )?(?:edge|ledge|bridge|balcony|railing)",
        r"(?:one|a few|one more) steps? (?:away|forward|off)",
        r"(?:the )?(?:gun|pistol|rifle) is loaded",
        r"(?:pills|tablets|meds|razor|blade|knife|rope|noose|gun|shotgun|rifle|bottle|packet)\b[^.!?]{0,40}\b(?:in front of me|next to me|beside me|in my hands?|in my lap|on the (?:table|desk|bed)|lined up|laid out|counted out|right here|ready)",
        r"(?:holding|got|have|lined up|laid out|counted out|staring at|looking at)\b[^.!?]{0,25}\b(?:pills|tablets|meds|razor|blade|knife|rope|noose|gun|bottle)\b[^.!?]{0,30}\b(?:right now|in front of me|next to me|in my hands?|on the (?:table|desk|bed)|ready)",
    ])
});

/// Preparation that is unambiguous on its own (goodbye letters, notes).
pub static RISK_PREPARATORY_RE: LazyLock<Regex> = LazyLock::new(|| {
    any_of(&[
        r"(?:wrote|written|writing|write|left|leaving|drafted|drafting|finished) (?:a |my |the |some )?(?:goodbye|farewell|suicide|last|final) (?:letters?|notes?|messages?|texts?|emails?|videos?)",
        r"(?:goodbye|farewell|suicide) (?:letters?|notes?) (?:to|for) (?:my|everyone|each|all)",
        r"(?:letters?|notes?) (?:to|for) (?:my \w+|everyone|each of them|all of them) (?:saying goodbye|to say goodbye|explaining (?:why|everything))",
        r"(?:said|saying|say) my (?:final |last )?goodbyes?",
        r"(?:said|saying|say) (?:my )?(?:final |last )?goodbyes? (?:to the world|for good|for the last time|in case (?:i|something))",
        r"(?:this is|consider this) (?:my )?(?:goodbye|farewell|last message)",
    ])
});

/// Preparation that means risk only in a context of despair (giving things
/// away, a will, affairs in order, who looks after the pets).
pub static RISK_PREP_CONTEXT_RE: LazyLock<Regex> = LazyLock::new(|| {
    any_of(&[
        r"(?:giving|gave|given|give) (?:away )?(?:all )?(?:of )?(?:my|my favou?rite|my most|the) (?:\w+ ){0,2}(?:stuff|things|belongings|possessions|clothes|books|games|guitar|jewell?e?ry|collection|cat|dog|pets?|plants|savings|money|laptop)(?: away)?(?: to)?",
        r"(?:giving|gave|give) (?:\w+ )?away (?:my|all my|most of my)",
        r"(?:sorted|sorting|put|putting|getting|got) (?:all )?my (?:affairs|things|paperwork|finances|accounts|passwords) (?:in order|sorted|together|in place)",
        r"(?:made|making|wrote|writing|updated|updating|finished) (?:a |my )?will\b",
        r"(?:sorting|sorted|sort|getting|got) out my (?:will|affairs|things|paperwork|finances|accounts|passwords)",
        r"(?:saying|said|say) goodbye to (?:everyone|everybody|my family|my friends|you all|them all|people)",
        r"(?:make sure|made sure|making sure|arranged|arranging) (?:someone|somebody|my \w+|they) (?:will |can |would )?(?:take care of|look after|have|feed|get) my (?:cat|dog|pets?|kids|things|stuff)",
        r"(?:deleted|deleting|delete|closed|closing|cancelled|cancelling) (?:all )?(?:of )?my (?:accounts|social media|instagram|facebook|profiles?|subscriptions)",
        r"(?:paid|paying|paid off|settled|settling) (?:off )?(?:all )?my (?:debts|bills)",
        r"(?:cleaned|cleaning|tidied|tidying) (?:up )?(?:everything|my (?:room|flat|apartment|house)) so (?:no one|nobody|they|my \w+) (?:has|have|won'?t have) to",
        r"(?:won'?t|will not|wouldn'?t|don'?t) (?:need|be needing) (?:them|it|my \w+|these|those|any of (?:it|this|my stuff)) (?:anymore|any more|much longer|where i'?m going|after)",
        r"(?:when|after|once) i'?m (?:gone|not here|not around)",
        r"(?:wrote|written|writing|left|leaving) (?:\w+ )?(?:letters?|notes?) (?:to|for) (?:my|each|everyone|all|the)",
        r"(?:rehomed|rehoming|rehome|found a new home for|finding a new home for) (?:my )?(?:\w+ )?(?:dog|cat|pets?|rabbit|bird|horse)",
        r"(?:planned|planning|plan|made|making|picked|picking|chose|choosing|wrote|writing) (?:\w+ ){0,3}(?:for )?my (?:own )?funeral",
        r"(?:sorted|sorting) (?:out )?(?:all )?my (?:papers|paperwork|affairs|things|stuff|finances|documents)",
        r"left (?:\w+ )?instructions (?:for|with)",
        r"(?:wrote|written|writing) down (?:all )?my (?:passwords|pins|accounts|wishes)",
        r"what to do with my (?:stuff|things|belongings|pets?|cat|dog|body)",
        r"(?:messaged|texted|called|rang|wrote to|emailed) (?:all )?(?:of )?(?:my|everyone)\b[^.!?]{0,40}\b(?:thank you|thanks|sorry|goodbye|i love them|forgive)",
        r"(?:said|say|saying) goodbye to (?:\w+ ){1,3}(?:properly|for real|one last time)",
        r"(?:told|telling|tell) (?:\w+ ){0,3}i forgive",
        r"(?:gave|given|giving) (?:my )?(?:\w+ )?(?:the )?passwords",
    ])
});

/// Perceived burdensomeness (Joiner).
pub static RISK_BURDEN_RE: LazyLock<Regex> = LazyLock::new(|| {
    any_of(&[
        r"(?:i'?m|i am|feel like|feel like i'?m|i feel like i'?m|i'?ve become|i have become|i'?m just|being) (?:such |just |a |nothing but a |only a |a total |a huge |a massive |the )*(?:burden|drain|weight|problem|waste of space|waste of oxygen|waste of air)\b",
        r"(?:everyone|everybody|people|they|my (?:family|friends|kids|parents|mum|mom|dad|wife|husband|partner|children)|the world|them) (?:would|will|might|'?d) (?:all )?(?:be )?(?:better off|happier|easier|fine|better) without me",
        r"(?:better off|happier|easier|better) without me",
        r"(?:i'?m|i am|i'?ve been) (?:only |just )?(?:dragging|holding) (?:everyone|everybody|them|my \w+) (?:down|back)",
        r"i (?:only |just )?(?:make|cause|bring) (?:everyone'?s|everybody'?s|their|people'?s|my \w+'?s) (?:li(?:fe|ves)|day) (?:worse|harder)",
        r"(?:i|all i) (?:only |just |ever )?(?:cause|causes|bring|create) (?:problems|trouble|pain|misery) (?:for|to) (?:everyone|everybody|them|people|my \w+|the people (?:i love|around me|in my life))",
        r"(?:i'?m|i am) (?:ruining|wrecking) (?:everyone'?s|their|my \w+'?s) li(?:fe|ves)",
        r"(?:i'?m|i am) (?:only |just )?(?:one more |another |the )?problem for (?:my|everyone|them|the)",
        r"i cost (?:my \w+|them|everyone|my family) (?:so much|everything|a fortune|too much)",
        r"(?:they|everyone|my \w+) (?:would|'?d) (?:not have to|no longer have to|stop having to) (?:worry about|deal with|take care of|look after) me",
    ])
});

/// Thwarted belongingness (Joiner): nobody would notice or care, not belonging.
pub static RISK_BELONGING_RE: LazyLock<Regex> = LazyLock::new(|| {
    any_of(&[
        r"(?:nobody|no one|noone|anyone|anybody) (?:would|will|'?d|even) (?:even |really |actually )?(?:notice|care|miss me|mind|matter|realize|realise)\b[^.!?]{0,30}\bif i (?:was|were|wasn'?t|weren'?t|died|disappeared|was gone|were gone|left|vanished|stopped)",
        r"(?:would|will|does|did) (?:it|i) (?:even |really )?matter (?:to anyone |to anybody |to someone )?if i (?:wasn'?t|weren'?t|was not|were not|died|was gone|were gone|disappeared|didn'?t exist)",
        r"(?:would )?(?:anyone|anybody) (?:even |really )?(?:notice|care|miss me)\b[^.!?]{0,20}\bif i",
        r"(?:it|i) (?:would|will|'?d) (?:even |really )?matter (?:to anyone |to anybody |to someone )?if i (?:wasn'?t|weren'?t|was not|were not|died|was gone|were gone|disappeared|didn'?t exist)",
        r"(?:nobody|no one|noone) would (?:even )?(?:notice|care|miss me)",
        r"(?:i )?(?:don'?t|do not|never) (?:belong|fit in) (?:anywhere|here|in this world|with anyone)",
        r"(?:completely|totally|utterly) alone in (?:the|this) world",
        r"(?:nobody|no one|noone) (?:would|will) (?:come to|show up at|go to) my funeral",
        r"(?:nobody|no one|noone) cares (?:if|whether) i (?:live|die|exist|am alive|'?m alive)",
        r"(?:i'?m|i am) (?:invisible|forgotten) to (?:everyone|everybody|the world)",
        r"(?:drop|fall|fell|dropped|vanish|disappear) off the face of the (?:earth|planet)\b[^.!?]{0,40}\b(?:wouldn'?t|would not|won'?t|nobody|no one) (?:matter|notice|care|even)",
        r"(?:nobody|no one) would (?:even )?(?:ask|wonder|look for me|know) (?:where i (?:was|am|went)|if i)",
        r"not (?:really )?(?:part of|in) (?:anyone'?s|anybody'?s) li(?:fe|ves)",
        r"(?:like|feel like|i'?m) a ghost (?:in|to)",
    ])
});

/// Entrapment (IMV, AAS "Trapped").
pub static RISK_ENTRAPMENT_RE: LazyLock<Regex> = LazyLock::new(|| {
    any_of(&[
        r"(?:i'?m|i am|i feel|feel|feeling|i'?ve been feeling) (?:\w+ )?(?:completely |so |totally |utterly )?trapped",
        r"no way out",
        r"(?:no|can'?t find (?:an?|any)|there'?s no) (?:escape|exit)\b",
        r"can'?t (?:escape|get out of) (?:this|my life|it|the pain|my head)",
        r"(?:the )?only way (?:out|to (?:escape|make (?:it|this|the pain) stop|stop (?:the|this) pain))",
        r"(?:stuck|trapped) (?:in|with) (?:this|my) (?:life|pain|situation|head) (?:forever|with no way out|and (?:can'?t|there'?s no))",
        r"(?:no matter what i do|whatever i do),? (?:nothing|it) (?:changes|will change|works|helps)",
    ])
});

/// Calm after a decision: peace, relief or finality about not being around.
pub static RISK_CALM_RE: LazyLock<Regex> = LazyLock::new(|| {
    any_of(&[
        r"(?:made|making|at) (?:my )?peace with (?:it|everything|my decision|dying|death|leaving|not being here|the fact that i won'?t)",
        r"(?:i'?ve|i have|i) (?:finally )?(?:decided|made (?:up )?my (?:mind|decision)|made a decision)[^.!?]{0,30}\b(?:feel|feels|felt|i'?m|am) (?:so |much |really )?(?:calm|at peace|peaceful|relieved|lighter|better|settled|free)",
        r"(?:feel|feeling|i'?m|am|felt) (?:so |really |strangely |weirdly |oddly |finally |completely |much )?(?:calm|at peace|peaceful|relieved|lighter|settled)[^.!?]{0,30}\b(?:now that|since|because) i(?:'?ve| have)? (?:decided|made (?:up )?my mind|know (?:how|when|what i'?m going to do|it(?:'ll| will) (?:all )?be over))",
        r"(?:it|everything|this|all of this|the pain) (?:will|'?ll) (?:all )?be over (?:soon|in a (?:few|couple)|by|after|tonight|tomorrow)",
        r"(?:won'?t|will not) (?:be )?(?:a (?:problem|burden|bother)|bother(?:ing)? (?:anyone|you|them)) (?:for (?:anyone|you|them|everyone|anybody) )?(?:for |much )?(?:much |any )?longer",
        r"(?:won'?t|will not) (?:have to )?(?:be around|be here|deal with (?:it|this|anything)|suffer|hurt) (?:much|for|any) (?:longer|long|more)",
        r"(?:won'?t|will not) be (?:around|here) (?:to see (?:it|them|you|the|my|next)|much longer|any longer|by (?:then|tomorrow|the weekend|next week))",
        r"(?:soon|tomorrow|after tonight) (?:it|none of (?:it|this)|nothing) (?:won'?t|will|'?ll) (?:matter|hurt)(?: anymore)?",
        r"don'?t (?:need to )?worry about me (?:anymore|any more|after (?:today|tonight))",
        r"(?:everything|it all) (?:is|feels) (?:finally )?(?:sorted|settled|decided|figured out) now",
        r"(?:i'?ve|i have) (?:finally )?(?:figured|worked) (?:it|everything) out,? (?:i'?m|i am) (?:calm|at peace|ready)",
        r"(?:since|once|now that) i(?:'ve| have)? (?:finally )?(?:decided|made (?:up )?my (?:mind|decision)|know how (?:it|this|everything) (?:ends|will end))",
        r"(?:won'?t|will not) be long now",
        r"(?:at peace|ok|okay|fine|calm|comfortable|settled) with (?:my|the) (?:choice|decision)",
        r"(?:won'?t|will not|never) have to (?:deal with|face|feel) (?:any of )?(?:it|this|that|anything)(?: anymore| any more| again)",
        r"(?:know|knowing) how (?:it|this|everything) ends",
    ])
});

/// Fiction, media and hypothetical frames: a risk phrase inside them is not
/// the speaker's risk, and the semantic layer may not raise on it.
pub static RISK_FICTION_RE: LazyLock<Regex> = LazyLock::new(|| {
    any_of(&[
        r"(?:book|novel|film|movie|show|series|episode|season|character|characters|protagonist|villain|hero|story|stories|plot|script|screenplay|poem|song|lyrics|album|game|video game|play|musical|documentary|article|podcast|news|anime|manga|comic|fanfic|fan fiction|chapter|scene)s?",
        r"(?:writing|wrote|write|reading|read|watched|watching|playing) (?:a |an |the |my )?(?:story|essay|paper|report|assignment|novel|scene|thesis|presentation)",
        r"(?:for|in) (?:my|a|the) (?:class|course|lecture|psychology|nursing|training|essay|research|module)",
        r"(?:what (?:should|do|can) i (?:do|say)|how (?:do|can|should) i help) (?:if|when) (?:a |my |someone|somebody|a friend)",
    ])
});

/// Someone else is at risk: logged as a signal, not the speaker's risk.
pub static RISK_THIRD_PARTY_RE: LazyLock<Regex> = LazyLock::new(|| {
    any_of(&[
        r"(?:kill|killing|hurt|hurting|harm|harming|cut|cutting) (?:himself|herself|themselves|themself)",
        r"(?:he|she|they)(?:'s|'re| is| are| seems?| has been| have been| was| were) (?:been )?suicidal",
        r"(?:he|she|they) (?:wants?|wanted) to die",
        r"(?:tried|attempted) to (?:kill|end) (?:himself|herself|themselves|his life|her life|their life)",
    ])
});

/// Retractions that must not clear a crisis on their own.
pub static DENIAL_RE: LazyLock<Regex> = LazyLock::new(|| {
    any_of(&[
        r"never ?mind",
        r"(?:just |only )?(?:kidding|joking|jk)",
        r"i (?:was|am|'?m) (?:just )?(?:kidding|joking)",
        r"(?:i'?m|i am) (?:fine|ok|okay|alright|all right|good) (?:now|really|honestly|actually)?",
        r"forget (?:i said|what i said|it|about it)",
        r"i didn'?t mean (?:it|that)",
        r"(?:don'?t|do not) worry about (?:me|it)",
        r"(?:i'?m|i am) not (?:suicidal|going to do anything|serious)",
        r"(?:it'?s|it is) (?:nothing|fine)",
    ])
});

// ------------------------------------------------- risk: composed cues ---
//
// Design: the cues below are built from slots (a frame and an act, an act
// and what it is for, an injury and a body part) rather than whole phrases,
// after the warning-sign lists' own categories: AAS "IS PATH WARM" (talking
// about dying without the word, seeking means), NIMH/988 (looking for a way,
// giving things away, saying goodbye), C-SSRS 2-5 (thoughts of a method).

/// Lethal acts named as an act (no "myself" needed): the slot that a frame
/// of rumination or wishing turns into thoughts of a method (C-SSRS 3).
const LETHAL_ACT: &str = r"(?:step(?:ping)? (?:out )?in front of (?:a|the) (?:\w+ )?(?:train|bus|lorry|truck|car|tram)|(?:jump|jumping|going|go|throw(?:ing)? myself|fall(?:ing)?) (?:off|over|from) (?:the |a |my |that )?(?:\w+ )?(?:balcony|bridge|roof|building|cliff|edge|ledge|railing|window|car park|overpass|tower)|go(?:ing)? over(?: the (?:edge|side|railing|balcony|top))?(?:$|[.!?,])|walk(?:ing)? (?:out )?into the (?:sea|ocean|river|lake|water|waves)|(?:drive|driving|crash|crashing|steer|steering|swerve|swerving) (?:my |the )?(?:\w+ )?(?:car )?(?:into|off)\b|(?:crash|crashing|wrap|wrapping) (?:my|the) car|(?:take|taking|swallow|swallowing|down|downing) (?:all|every one|the whole \w+|the lot) (?:of )?|hang(?:ing)? myself|(?:use|using) (?:it|the gun|that|the rope|them) on myself|slit(?:ting)? my|drown(?:ing)? myself|shoot(?:ing)? myself|(?:the )?(?:exhaust|hose) (?:pipe )?into the car|not wake up|never wake up)";

/// A frame of rumination, wish or intent before a lethal act.
const ACT_FRAME: &str = r"(?:(?:keep|kept|been|can'?t stop|always|often|constantly|sometimes|started) (?:thinking|think|thought|picturing|imagining|fantasi[sz]ing|dreaming|daydreaming) (?:about |of |bout )?|(?:thinking|thinkin|picturing|imagining|fantasi[sz]ing) (?:about |of |bout )?|(?:reckon|think|guess) i'?d (?:just )?|i'?d just |(?:want|wanna|tempted|urge|urges) (?:to )?(?:just )?|(?:wish|wishing) i could (?:just )?|(?:how easy it would be|it would be so easy|it'?d be so easy) to (?:just )?)";

/// Thoughts of a method: a frame of rumination or wishing, then a lethal act
/// ("I keep thinking about stepping in front of the train").
pub static RISK_METHOD_THOUGHT_RE: LazyLock<Regex> =
    LazyLock::new(|| re(&format!(r"\b{ACT_FRAME}(?:\w+ ){{0,3}}{LETHAL_ACT}")));

/// What an act is for, said without naming it, or an act hidden from others
/// (purpose and concealment): gives an ordinary act (buying, saving, sorting
/// things) its meaning, as despair in the same turn does.
pub static RISK_PURPOSE_RE: LazyLock<Regex> = LazyLock::new(|| {
    any_of(&[
        r"you (?:probably |prolly |already )?know what (?:it'?s|its|they'?re|theyre|that'?s|it is|they are|it was) for",
        r"(?:i )?think you know (?:why|what (?:for|it'?s for|they'?re for|i mean))",
        r"(?:i )?know (?:what|why) i'?m (?:keeping|saving|collecting|buying|getting|holding on to|hiding) (?:them|it|these|those)",
        r"not (?:for|because of) (?:shaving|cooking|crafts?|work|the garden|gardening|hunting|sleep|sleeping|my (?:pain|back|headaches?))",
        r"(?:told|tell|telling) (?:him|her|them|everyone|the \w+|my \w+) (?:it'?s|its|they'?re) (?:for|because)[^!?]{0,40}\b(?:it'?s|its|they'?re) not",
        r"(?:it'?s|its|they'?re) not\. (?:you know|i think you know)",
        r"for when (?:i|i'?m|i'?ve|things|it|the time|the pain|everything)\b[^.!?]{0,30}\b(?:decide|ready|enough|can'?t|comes|gets (?:too|bad|worse)|had enough|need (?:it|them)|over)",
        r"for after",
        r"my (?:emergency |last |only )?(?:exit|way out|escape (?:route|plan|hatch)|insurance policy|backup plan|plan b|last resort|safety net|ticket out)",
        r"so i'?d have (?:extra|enough|more|a stash)",
        r"(?:different|other|separate) (?:chemists|pharmacies|shops|stores|doctors|gps)\b[^.!?]{0,30}\bso (?:they|nobody|no one|noone|people) (?:don'?t|won'?t|doesn'?t|wouldn'?t|can'?t) (?:notice|know|ask|see|realise|realize|twig)",
        r"(?:someone|somebody|people|a family) who'?ll (?:be around|still be here|be there|be here)",
        r"so (?:they|she|he|you|everyone|my \w+) (?:understand|understands|will understand|know|knows|will know) why i (?:did|do|had to|have to)",
        r"(?:the )?last thing i (?:needed|need|had|have) to do",
        r"(?:one less|nothing left for them to|one thing less) (?:thing )?(?:for (?:them|everyone|her|him|my \w+) to )?(?:deal with|sort out|worry about|sort)",
        r"one less thing for (?:them|everyone|her|him|my \w+)",
        r"make it (?:look|seem) like an accident",
        r"so (?:my \w+|mum|mom|dad|she|he|they) (?:gets?|can (?:get|have)|has) the (?:insurance|payout|money|house)",
        r"for when\b[^.!?]{0,40}\b(?:decide|ready|enough|can'?t|gets (?:too|bad|worse)|had enough|need (?:it|them)|over|urge)",
        r"(?:i'?ll|i will|i) know (?:it'?s|its|there'?s|they'?re) enough",
        r"where (?:they|she|he|someone|somebody|my \w+)(?:'ll| will| would|'d) find (?:them|it|me)",
        r"(?:before )?(?:leaving|going|gone|go|leave) for good",
        r"(?:it'?s|its|everything'?s|everything is) all (?:sorted|settled|done|taken care of|ready) now",
        r"not (?:joking|kidding) (?:actually|though|tho|honestly|this time)",
        r"(?:they|she|he|everyone|people) (?:think|thinks) (?:i'?m|im|i am) (?:just )?being (?:sentimental|dramatic|nice|weird|soppy)",
        r"(?:easier|better) for (?:them|everyone|her|him|my \w+) (?:after|afterwards)",
        r"(?:once|when|after) (?:my \w+|\w+) (?:dies|is gone|passes(?: away)?|has gone)\b[^.!?]{0,10}\b(?:i'?m|im|i am) (?:done|gone|out)",
    ])
});

/// Access to a means kept somewhere (possession, not yet in hand): a means
/// for the contextual rules ("the rope's in my wardrobe", "I know where
/// the key is").
pub static RISK_MEANS_KEPT_RE: LazyLock<Regex> = LazyLock::new(|| {
    any_of(&[
        r"(?:gun|shotgun|rifle|pistol|firearm|rope|noose|pills|tablets|blades?|razors?)(?:'s| is| are|'re)? (?:still |hidden |kept |stashed )?(?:in|under|at the back of|behind) (?:the|my|his|her|our) (?:cabinet|drawer|wardrobe|closet|garage|shed|cupboard|safe|bag|car|bedside|room|desk)",
        r"(?:i )?know where (?:the key|he keeps|she keeps|they keep|dad keeps|mum keeps|mom keeps) (?:is|it|the)",
        r"(?:i )?know (?:the|his|her) (?:safe|cabinet|gun safe) (?:code|combination)",
        r"(?:keep|kept|keeping) (?:a |the |my )?(?:razor|blade|rope|knife|bottle of \w+|pills|tablets)\b[^.!?]{0,30}\b(?:in my|under my|in the|for when)",
        r"(?:get|getting|got|buy|bought|find|found) (?:me|myself) (?:a|some|the) (?:gun|rope|pills|tablets|razor|blades|knife)",
        r"(?:skipping|not taking|stopped taking|haven'?t been taking) (?:my )?\w+ (?:and|so i can) (?:keep|keeping|save|saving|hide|hiding|store|storing|put|putting)",
        r"(?:in|into) my (?:basket|cart|trolley)",
        r"(?:about |like |over )?\d{2,} (?:pills|tablets|sleepers|capsules)",
    ])
});

/// Rumination on a means already named ("I look at it every night", "I
/// keep thinking about it"): with a means or a plan it is the plan itself.
pub static RISK_MEANS_RUMINATION_RE: LazyLock<Regex> = LazyLock::new(|| {
    any_of(&[
        r"(?:look|looking|stare|staring|check|checking|touch|touching|hold|holding) (?:at )?(?:it|them) (?:every|each|all) (?:night|day|morning|evening)",
        r"(?:keep|kept|can'?t stop) (?:thinking about|looking at|going back to|counting) (?:it|them|using it|using them)",
        r"(?:i )?count (?:them|it) (?:sometimes|every|each|most)",
        r"waiting for the right (?:moment|time|day|night)",
        r"(?:nobody|no one|noone) (?:goes|comes|walks|would look) (?:there|up there|out there|down there)",
        r"(?:only|just|except|but|all but) the (?:day|date|when|time)\b[^.!?]{0,20}\b(?:don'?t|do not|not|haven'?t|have not) (?:know|decided|picked|chosen|set)",
        r"(?:been|went) there (?:\w+ ){0,2}(?:times? )?to (?:check|look|see)",
    ])
});

/// A wish for one's own death put as an event that would be welcome (C-SSRS 1:
/// "wish to be dead"): "wouldn't be sad if I just stopped existing", "if God
/// took me tonight I'd be grateful", "hope I get something terminal".
pub static RISK_PASSIVE_EVENT_RE: LazyLock<Regex> = LazyLock::new(|| {
    any_of(&[
        r"(?:wouldn'?t|would not|won'?t) (?:be|feel) (?:sad|upset|the worst(?: thing)?|so bad|a bad thing|that bad|sorry|unhappy|bothered)\b[^.!?]{0,30}\bif i (?:just )?(?:stopped existing|didn'?t wake up|never woke up|didn'?t make it|died|was gone|wasn'?t here|got hit|disappeared|didn'?t exist)",
        r"if i (?:don'?t|didn'?t|never|do not) (?:wake up|woke up|make it)\b[^.!?]{0,30}\b(?:not so bad|not bad|not the worst|fine|ok|okay|relief|rest|peace|wouldn'?t (?:be|mind)|good)",
        r"if (?:god|the universe|life|death|it all|fate) (?:took|takes|would take|came for) me\b[^.!?]{0,30}\b(?:grateful|thankful|relieved|glad|fine|okay|ok|relief|happy|wouldn'?t mind)",
        r"(?:hope|hoping|wish|pray|praying) (?:that )?i (?:get|got|catch|develop|have) (?:something|cancer|an illness|a disease|an accident)\b[^.!?]{0,15}\b(?:terminal|fatal|kills me|so it'?s not)",
        r"(?:get|got|catch|develop) something terminal",
        r"(?:not|wouldn'?t be) my choice\b[^.!?]{0,10}$",
        r"(?:wouldn'?t|would not) (?:be )?(?:mind|the worst thing)\b[^.!?]{0,20}\bif i (?:didn'?t|never|don'?t) (?:make it|wake up|reach|see)",
        r"(?:going to|gonna|about to|want to|wanna) (?:go to )?sleep forever",
    ])
});

/// Sudden calm or lightness after a decision (AAS: dramatic mood change).
pub static RISK_CALM_DECISION_RE: LazyLock<Regex> = LazyLock::new(|| {
    any_of(&[
        r"(?:decision'?s|decision is|decision has been|mind is|mind'?s|choice is|choice'?s) (?:been )?(?:made|final|set|made up)\b[^.!?]{0,60}\b(?:nothing left to|nice feeling|good feeling|calm|peace|relief|relieved|lighter|weight off|free|easy|easier)",
        r"(?:know|decided|worked out) what (?:i'?m|im|i am) (?:going to|gonna) do\b[^.!?]{0,40}\b(?:weight off|lighter|relief|relieved|calm|peace|free|better|easier)",
        r"(?:seem|seems|seeming|look|looks|looking) (?:\w+ )?(?:happier|calmer|better|lighter) (?:lately|now|recently|these days)\b[^.!?]{0,60}\b(?:because|since|cause) (?:i'?ve |i )?(?:stopped|decided|made up|gave up|quit|know)",
        r"(?:stopped|stop|quit) fighting (?:it|this)\b",
    ])
});

/// Self-injury put as an implement, a body part and intent rather than the
/// word "cutting" (NSSI forms: cutting, burning, carving, scratching,
/// reopening wounds).
pub static RISK_INJURY_FORM_RE: LazyLock<Regex> = LazyLock::new(|| {
    any_of(&[
        r"(?:using|used|use|with) (?:a |the |my )?(?:compass(?: point)?|razor|blade|lighter|scissors|safety pin|pin|needle|glass|knife|cigarette|nails?|pencil sharpener blade|iron) (?:on|to|against|into|across) my",
        r"(?:held|hold|holding|pressed|press|pressing|put|putting) (?:a |the |my )?(?:\w+ ){0,2}(?:iron|lighter|cigarette|blade|razor|knife|pan|kettle|flame) (?:against|on|to|onto) my",
        r"(?:carve|carving|carved|etch|etching|etched|scratch|scratching|scratched|write|writing|wrote) (?:\w+ ){0,3}(?:in|into|on) my (?:skin|arms?|legs?|thighs?|wrists?|stomach|hips?)",
        r"(?:make|making|made|do|doing|did) (?:small |little |some |tiny |deep |new |more )*cuts (?:on|in|into|across) my",
        r"(?:picking|pick|picked|reopen\w*|opening|open) (?:at )?(?:the |my )?(?:cuts|wounds|scabs)(?: \w+)? (?:open|so (?:they|it) (?:don'?t|doesn'?t|won'?t) heal)",
        r"(?:making|make|made) new ones",
        r"(?:on|into|across) my (?:arms?|legs?|thighs?|wrists?|stomach|hips?|skin) (?:where|so) (?:no one|nobody|noone|people) (?:can|can'?t|won'?t|will) see",
        r"(?:wanted|want|needed|need) (?:it|that|myself) to (?:hurt|bleed|burn|scar)",
    ])
});

/// A farewell disclosure beside a time ("I just wanted someone to know",
/// "thanks for listening these past weeks"), and waiting to be alone — with
/// veiled talk of doing "it" and a time they are the plan with a time.
pub static RISK_FAREWELL_DISCLOSURE_RE: LazyLock<Regex> = LazyLock::new(|| {
    any_of(&[
        r"(?:just |only )?(?:wanted|want|needed) (?:someone|somebody|you|one person|at least one person) to know",
        r"(?:didn'?t|did not|don'?t) want to (?:tell|say it to) anyone else",
        r"thank(?:s| you) for (?:listening|being there|talking to me|everything)\b[^.!?]{0,30}\b(?:these|the) (?:past|last) (?:weeks|months|days)",
        r"(?:this is|it'?s) the last time (?:i'?ll|i will|we'?ll|you'?ll)",
        r"while (?:my \w+|everyone|they|the house|my flatmates|my housemates|my parents) (?:is|are|'?re) (?:away|out|gone|asleep|at work|on holiday)",
        r"(?:when|once|after|as soon as) (?:my \w+|everyone|they|the house|everybody)(?:'?s|'?re)? (?:leave|leaves|go|goes|is asleep|are asleep|asleep|gone|left|goes out|go out|are out|is out)",
        r"(?:when|once|after) (?:my \w+|they) (?:leave|leaves|go|goes) (?:for|to) (?:the |work|school)",
    ])
});

/// Past-and-resolved: the past risk is over ("glad I stuck around",
/// "3 years self-harm free", "haven't done that since I was 12").
pub static RISK_RESOLVED_RE: LazyLock<Regex> = LazyLock::new(|| {
    any_of(&[
        r"glad i (?:stuck around|stayed|survived|didn'?t|made it|held on)",
        r"(?:\d+|one|two|three|four|five|six|seven|eight|nine|ten|a few|several) (?:days?|weeks?|months?|years?) (?:self[- ]?harm[- ]?free|sh[- ]free|clean|free|sober)",
        r"(?:haven'?t|have not|never) (?:done|felt|thought) (?:that|it|anything like that|like that)(?: again)? since",
        r"(?:doing|feeling|i'?m) (?:so much |much |a lot |way )?(?:better|well|good|great) now",
        r"(?:i'?m|i am) (?:remarried|recovered|in recovery|happy|happier|okay|ok|fine) now",
        r"full circle",
        r"(?:got|get|getting|had|received) (?:the )?help (?:i needed|back then|and)",
        r"(?:proud of|celebrating) (?:myself|how far|my recovery)",
        r"that was (?:a long time|years|\d+ years|five years|ten years|ages) ago",
    ])
});

/// A past suicide attempt (kept as history even when resolved).
pub static RISK_PAST_ATTEMPT_RE: LazyLock<Regex> = LazyLock::new(|| {
    any_of(&[r"(?:tried|attempted|try) to (?:kill|end|off) (?:myself|my life|it)", r"(?:suicide |my )?attempts?\b", r"(?:overdos\w*|od'?d)", r"hospital after"])
});

/// A relapse: a resolved past is current again.
pub static RISK_RELAPSE_RE: LazyLock<Regex> = LazyLock::new(|| any_of(&[r"relaps\w*", r"after (?:\d+|one|two|three|four|five|six|seven|eight|nine|ten|a few|several) (?:days?|weeks?|months?|years?) (?:clean|free)", r"(?:broke|ruined|lost|ended) my (?:streak|clean streak)", r"(?:started|starting|doing|did) it again", r"(?:back|again) to (?:cutting|self[- ]?harm\w*|hurting myself)"]));

/// Joining someone who has died ("then I'm going to join him"): intent, only
/// with a death in the same turn.
pub static RISK_JOIN_RE: LazyLock<Regex> =
    LazyLock::new(|| re(&format!(r"\b(?:i'?m|im|i am|i'?ll|i will|i want to|i wanna) (?:going to |gonna |about to |ready to )?(?:go and )?(?:join|be with) (?:him|her|them|my \w+)(?: again)?(?:{CLAUSE_END}| soon\b| there\b| up there\b| in heaven\b| on the other side\b)")));

/// The end of a clause, for patterns that must not run on into more words
/// (the regex crate has no look-ahead, so these patterns are compiled without
/// [`any_of`]'s closing word boundary).
const CLAUSE_END: &str = r"\s*(?:$|[.!?,;:)])";

/// Cues that are risk only where the clause ends with them ("I won't be
/// needing them." but not "...needing them for the trip"): veiled purpose
/// and the start of an act.
pub static RISK_CLAUSE_END_PURPOSE_RE: LazyLock<Regex> = LazyLock::new(|| {
    re(&format!(r"\b(?:before i go(?: for good| away for good)?|won'?t be needing (?:them|it|these|those|any of (?:it|them)|my \w+)|everything (?:is|'?s) ready){CLAUSE_END}"))
});

/// "It's my last week." said as an end: the clause ends with it (or with
/// "here", "alive", "on earth"). "It's my last week at this job before I
/// start the new one" is a job ending.
pub static RISK_LAST_TIME_RE: LazyLock<Regex> = LazyLock::new(|| {
    re(&format!(r"\b(?:this is|it'?s|its) my (?:very )?last (?:weekend|week|day|night|christmas|birthday|morning)(?: (?:here|alive|on (?:this )?earth|in this world|of my life|ever|for real))?{CLAUSE_END}"))
});

/// An everyday reason for an ending or a clear-out, named in the same
/// sentence: a new job, a transfer, a move, the team. An act beside one,
/// with no despair in the turn or the turns before, is not raised by
/// likeness to a risk statement.
pub static EVERYDAY_ENDING_RE: LazyLock<Regex> = LazyLock::new(|| {
    any_of(&[
        r"new (?:job|role|post|position|school|course|flat|house|team|branch|ward|contract)",
        r"transferr\w*|relocat\w*|promot\w+|retir\w+|emigrat\w+|graduat\w+",
        r"moving (?:to|house|flat|out|in|abroad|away|back|somewhere|jobs|branch|office|in with)",
        r"(?:going|moving|heading|flying) back (?:to|home)",
        r"(?:to|for|with) (?:my|the|our) (?:team|colleagues|co-?workers|workmates|classmates)",
        r"leaving (?:do|card|party|drinks)",
    ])
});

/// A purpose someone else gave or that the speaker let them believe ("he
/// asked if I was moving house when I bought the rope, I said something
/// like that"): concealment, not a reason.
pub static REPORTED_PURPOSE_RE: LazyLock<Regex> = LazyLock::new(|| {
    any_of(&[
        r"asked (?:me )?(?:if|whether|what)",
        r"(?:i )?said (?:it was|it'?s|something like|that'?s|yes|yeah)",
        r"told (?:him|her|them|the \w+|everyone|people) (?:it'?s|it was|i was|i'?m|that)",
        r"pretend\w*|made out|cover story|excuse|(?:they|he|she|everyone) (?:think|thinks|believe|believes)",
    ])
});

/// An everyday reason for an ending named in the sentence, not one put
/// about to cover it.
pub fn everyday_ending(sentence: &str) -> bool {
    EVERYDAY_ENDING_RE.is_match(sentence) && !REPORTED_PURPOSE_RE.is_match(sentence)
}

/// An ordinary question about taking a medicine: whether two go together,
/// whether one is safe or all right to take ("is it ok to take magnesium
/// with my amitriptyline?", "can I take ibuprofen and paracetamol
/// together?"), with a medicine named and nothing of a lethal dose, an
/// overdose, a count or dying in it. The semantic layer does not read it:
/// it sits close to method research ("how many of my amitriptyline would
/// it take") in the embedding, and a pharmacist's question got the crisis
/// protocol (README, step 18). The lexical layer still reads it.
pub fn ordinary_medicine_question(sentence: &str) -> bool {
    MEDICINE_SAFETY_ASK_RE.is_match(sentence) && crate::coherence::names_medicine(sentence) && !MEDICINE_LETHAL_MARKER_RE.is_match(sentence)
}

static MEDICINE_SAFETY_ASK_RE: LazyLock<Regex> = LazyLock::new(|| {
    any_of(&[
        r"(?:is it|it'?s|would it be|will it be|is that) (?:ok|okay|safe|alright|all right|fine|bad|dangerous|harmful|a problem)(?: for me)? (?:to|if i) (?:take|have|mix|combine|use|keep|carry on|stay on)",
        r"(?:can|could|should|may|do i|ought) i (?:take|have|mix|combine|use|keep (?:on )?(?:taking|with)|carry on|stay on)",
        r"(?:do|does|will|would|did) (?:it|they|these|those|the two|both|[\w-]+) (?:interact|mix|clash|go together)|(?:go|mix|combine|interact|clash) (?:ok |okay |well |safely )?(?:with|alongside)|together|alongside",
        r"wondering (?:whether|if) i (?:ought|should|can|could|need)",
    ])
});

static MEDICINE_LETHAL_MARKER_RE: LazyLock<Regex> = LazyLock::new(|| {
    any_of(&[
        r"lethal|fatal|overdos\w*|od|too many|how many|enough to|all (?:of )?(?:my|the|them|it)|whole (?:bottle|box|pack|packet|lot|strip)|every (?:pill|tablet)",
        r"die|dying|dead|death|kill\w*|never wake|not wake|wake up|end (?:it|things|my)|stockpil\w*|saved up|hoard\w*|stash\w*",
        r"(?:[2-9]\d|[1-9]\d\d+)|twenty|thirty|forty|fifty|hundred|double|triple",
        r"alcohol|vodka|wine|beer|whisky|whiskey|gin|booze|drunk|drinking",
    ])
});

/// A means in a place where people act on it, in one sentence: a beam, a
/// rope, a gun, fumes or hidden pills in a shed, a garage, a loft, a barn.
pub static RISK_METHOD_PLACE_RE: LazyLock<Regex> = LazyLock::new(|| {
    let place = r"(?:shed|garage|loft|attic|barn|outhouse|lock-?up|workshop)";
    let means = r"(?:beams?|rafters?|rope|noose|gun|shotgun|rifle|pistol|fumes|exhaust|hose ?pipe|engine running|hid|hidden|hiding (?:them|the \w+)|stash\w*)";
    any_of(&[&format!(r"{place}\b[^.!?]{{0,60}}\b{means}"), &format!(r"{means}\b[^.!?]{{0,60}}\b{place}")])
});

/// "I just need to start." beside means lined up: the act beginning.
pub static RISK_CLAUSE_END_START_RE: LazyLock<Regex> =
    LazyLock::new(|| re(&format!(r"\b(?:i )?just need to (?:start|begin|do it){CLAUSE_END}")));


/// A death in the turn (for [`RISK_JOIN_RE`]).
pub static DEATH_CONTEXT_RE: LazyLock<Regex> =
    LazyLock::new(|| any_of(&[r"funeral", r"died", r"passed(?: away)?", r"grave", r"ashes", r"heaven", r"buried", r"memorial", r"since (?:he|she|they) (?:went|left)"]));

/// Means named in a turn whose purpose is veiled ("so I'd have extra. I
/// think you know why"): with [`RISK_PURPOSE_RE`] they are means acquired.
pub static MEANS_NOUN_RE: LazyLock<Regex> = LazyLock::new(|| {
    re(&format!(r"\b(?:{MEDS}|sleepers|repeat prescription|early repeat|repeat|chemists?|pharmac(?:y|ies)|packets|drugs|gun|shotgun|rifle|pistol|rope|noose|razors?|blades?|knife|charcoal|helium|hose|seroquel|quetiapine|zopiclone|codeine|tramadol|morphine|stuff)\b"))
});

/// Risk words under a negation, for the semantic layer: a sentence that
/// denies self-harm or suicidality in words the lexical patterns do not
/// match ("I've never self harmed") is not raised by meaning either.
pub static RISK_STEM_RE: LazyLock<Regex> = LazyLock::new(|| {
    any_of(&[
        r"self[- ]?harm\w*",
        r"suicid\w*",
        r"(?:kill|hurt|cut|harm)\w* myself",
        r"(?:want|wanna|wish) to die",
        r"overdos\w*",
        r"end (?:it|my life|things)",
        r"(?:plan|planning) to (?:do anything|hurt|end)",
    ])
});

// ---------------------------------------- risk: composed cues, round 3 ---

// Design: a third round of cues built from slots, after the kinds of cue a
// development file showed missing (never its wording): a question whether a
// means would suffice, a method named as "how I'd do it", stockpiling as
// verb × means × accumulation, a means against the body, a plan given as
// where/how/when, rehearsal (C-SSRS preparatory behaviour), a future without
// oneself beside an ordinary act, self-injury with its purpose ("on purpose",
// "the pain helps"), a decision beside a new calm, a welcome death put as a
// diagnosis or waking up, burdensomeness as "X would be freer without me".
// The guards are general too: hyperbole is a risk phrase with a trivial cause
// and a laugh, or a conditional "one more X and I'll…"; games and sport have
// their own mechanics (respawn, checkpoint); a farewell followed by a return
// ("until Monday", "going to bed") is not a farewell.

/// Like [`any_of`] without the closing word boundary: for alternatives that
/// end in punctuation, an emoji or the end of the sentence.
fn any_open(phrases: &[&str]) -> Regex {
    re(&format!(r"\b(?:{})", phrases.join("|")))
}

/// Means and lethal places named as nouns (for the composed cues below).
const MEANS_OR_PLACE: &str = r"(?:pills|tablets|meds|medication|medicine|painkillers|paracetamol|tylenol|insulin|lithium|amitriptyline|tramadol|codeine|sertraline|prescription|packets|gun|rifle|shotgun|pistol|rope|noose|belt|cord|razors?|blades?|knife|knives|exhaust|hose|charcoal|helium|bridge|motorway bridge|overpass|car park|multi[- ]?storey|roof|rooftop|cliffs?|tracks|railway|train line|balcony|ledge|top floor|(?:\d+|\w+)(?:st|nd|rd|th) floor|drugs|bottles?|medicine cabinet)";

/// A method chosen, put as "that's how I'd do it" beside a means or a place
/// named in the same turn (C-SSRS 3: active ideation with a method).
pub static RISK_METHOD_CHOICE_RE: LazyLock<Regex> = LazyLock::new(|| {
    any_of(&[
        r"(?:that'?s|thats|that is|this is|that would be|that'?d be|it would be|it'?d be|it'?s|its) (?:how|the way) (?:i'?d|i would|i'?ll|i will|i want to|i'?m going to|i'?m gonna|i plan to) (?:do it|go|end it|die|go out|finish it)",
        r"(?:how|the way) (?:i'?d|i would|i'?ll|i will) (?:do it|go|end it)\b[^.!?]{0,20}\b(?:is|would be)",
    ])
});

/// Thinking about how, left unfinished ("I've already thought about how"):
/// a method considered (C-SSRS 3).
pub static RISK_THOUGHT_HOW_RE: LazyLock<Regex> = LazyLock::new(|| {
    re(&format!(r"\b(?:thought|thinking|think|worked out|figured out) (?:a lot )?about how(?: i'?d do it| i would do it| to do it| i'?d go)?{CLAUSE_END}"))
});

/// Names a means or a lethal place (for [`RISK_METHOD_CHOICE_RE`] and the
/// sufficiency questions).
pub static MEANS_OR_PLACE_RE: LazyLock<Regex> = LazyLock::new(|| re(&format!(r"\b{MEANS_OR_PLACE}\b")));

/// A question whether a means or a height would suffice or still work
/// (method research: "would that be enough", "is it high enough", "does the
/// exhaust thing still work"); counted beside a means, a height or a large
/// number of pills in the same turn.
pub static RISK_SUFFICIENCY_RE: LazyLock<Regex> = LazyLock::new(|| {
    any_open(&[
        r"(?:would|will|could|is|are|does|do) (?:that|it|this|they|those|these|that many|that much|this many|\d+(?: of (?:them|those|these|my \w+|their \w+))?) (?:\w+ ){0,2}(?:be )?(?:enough|high enough|strong enough|tall enough|deep enough|still work|work on (?:me|a person|someone))\b",
        r"(?:high|tall|deep|strong) enough\b[^.!?]{0,20}\??\s*$",
        r"(?:want|need) to know if (?:it'?s|its|it is|that'?s|they'?re) (?:high|tall|deep|strong) enough",
        r"how many (?:of )?(?:my |their |his |her |the |these |those )?\w+ (?:would|does|will|did) it take\b",
        r"(?:does|do|would|will) (?:the )?(?:\w+ ){0,3}(?:thing|method|way) still work",
        r"(?:would|will|could|is|are) (?:[\w-]+ ){1,5}(?:do it|do the job|do the trick|be fatal|be lethal)\b",
    ])
});

/// A height named (for [`RISK_SUFFICIENCY_RE`]).
pub static RISK_HEIGHT_WORD_RE: LazyLock<Regex> =
    LazyLock::new(|| any_of(&[r"floors?|storeys?|stories|car park|multi[- ]?storey|bridge|building|roof|rooftop|cliff|balcony|tower|overpass|ledge"]));

/// Farewell words (for [`RISK_RETURN_RE`]: a goodbye said with a return).
pub static RISK_BYE_WORD_RE: LazyLock<Regex> = LazyLock::new(|| any_of(&[r"bye|goodbye|farewell|last message|forever|goodbyes"]));

/// A large number of pills named in a sufficiency question ("if someone took
/// 40 of their amitriptyline…").
pub static LARGE_DOSE_RE: LazyLock<Regex> = LazyLock::new(|| any_of(&[r"\d{2,} (?:of (?:my|their|his|her|the|these|those) )?\w+", r"(?:a whole|the whole|an entire|a full|the full) (?:box|packet|bottle|strip|pack|tub|jar)"]));

/// Saying that a question about a method is about oneself ("asking for me",
/// "need to know, for me", "For me.").
pub static RISK_FOR_ME_RE: LazyLock<Regex> = LazyLock::new(|| {
    re(&format!(r"\b(?:(?:asking|it'?s|its|this is|need to know|want to know|wondering)[,.]? for (?:me|myself)|not (?:asking )?for a friend|for me(?: personally| actually| tbh| honestly)?){CLAUSE_END}"))
});

/// Risk put in the generic second person ("how do you tell someone you want
/// to kill yourself"): the speaker's only when they say it is for them.
pub static RISK_GENERIC_YOU_RE: LazyLock<Regex> = LazyLock::new(|| {
    any_of(&[r"(?:want|wanna|wanting|going) to (?:kill|end|hurt) (?:yourself|urself|your life)", r"(?:you'?re|ur|you are) suicidal"])
});

/// Stockpiling, composed: a verb of saving or hiding beside a means (said in
/// the same turn) and a sign of accumulation ("bit by bit", "half of every
/// prescription", "building up enough", "a few months' worth").
pub static RISK_STOCK_VERB_STRONG_RE: LazyLock<Regex> = LazyLock::new(|| {
    any_of(&[r"hoard\w*", r"stash\w*", r"stockpil\w*", r"squirrel\w* (?:\w+ )?away", r"build(?:ing)? up (?:enough|a (?:supply|stash|stock|pile)|my supply)", r"(?:got|have|'ve got) a (?:stash|stockpile|supply|collection)"])
});

/// The weaker verbs of [`RISK_STOCK_VERB_STRONG_RE`]: keeping, saving, putting aside.
pub static RISK_STOCK_VERB_WEAK_RE: LazyLock<Regex> = LazyLock::new(|| {
    any_of(&[
        r"(?:put|putting|puts|set|setting|sets|keep|keeping|kept|hide|hiding|hid|store|storing|stored) (?:\w+ ){0,2}(?:aside|away|back|by)",
        r"(?:save|saving|saved|keep|keeping|kept|hide|hiding|hid|store|storing|stored) (?:it|them|half|some|a few|one|two|the rest|the spares?|the extras?|what'?s left)",
        r"(?:skip|skipping|skipped|not taking|stopped taking|pretend to take|pretending to take)",
        r"(?:pocket|pinch|nick|swipe|steal|sneak)\w* (?:a |one |two |some |a few |a couple |the odd )?(?:\w+ )?(?:of )?",
        r"(?:keep|keeping|hide|hiding|store|storing) (?:it|them) (?:in|under|at the back of) (?:the|my)",
    ])
});

/// Accumulation: the sign that saving is stockpiling.
pub static RISK_STOCK_ACCUM_RE: LazyLock<Regex> = LazyLock::new(|| {
    any_open(&[
        r"bit by bit",
        r"one (?:at a time|by one|here and there)",
        r"(?:every|each) (?:time|week|month|refill|prescription|script|night|day|visit|shift|weekend|trip)",
        r"(?:\w+ )?(?:months?|weeks?)'? worth",
        r"(?:building|build|built) (?:it )?up",
        r"enough(?:,? i think| now| soon|\.|$)",
        r"(?:just )?in case (?:i (?:need|want|decide)|things get)",
        r"(?:hasn'?t|haven'?t|won'?t|doesn'?t|don'?t) (?:noticed|notice|realised|realized|counted)",
        r"makes? me feel safer",
        r"safer knowing",
    ])
});

/// A means against the body or within reach right now ("the gun in my lap",
/// "the blade in my palm", "pills within reach").
pub static RISK_MEANS_ON_BODY_RE: LazyLock<Regex> = LazyLock::new(|| {
    any_of(&[r"(?:belt|cord|cable|ligature|rope|noose|wire|flex)\b[^.!?]{0,15}\b(?:round|around|on) my neck", r"(?:gun|pistol|rifle|shotgun|rope|noose|razor|blade)\b[^.!?]{0,15}\b(?:in my (?:lap|palm|fist|pocket|hand|hands)|on my (?:lap|knees?|chest|neck|wrist|temple)|against my (?:head|temple|chest|neck|wrist|throat)|within reach|round my neck|around my neck)"])
});

/// A plan given as where / how / when ("I know where, I know how"; "figured
/// out everything, where, how…"): C-SSRS 5 without a date.
pub static RISK_PLAN_PARTS_RE: LazyLock<Regex> = LazyLock::new(|| {
    any_open(&[
        r"(?:know|knew|figured(?: out)?|worked out|decided|planned|sorted|picked|chosen)\b[^.!?]{0,30}?\b(?:where|how|when|which \w+|what (?:time|day|date))[,;]\s*(?:and |i know |i'?ve (?:\w+ )?|i (?:\w+ )?)?(?:where|how|when|which \w+|what (?:time|day|date))\b",
        r"(?:already )?(?:picked|chosen|chose|decided|worked out|figured out|settled on) how(?:\.|$| i'?ll| i'?m going to| i'?d)",
        r"(?:figured|worked) out everything\b[^.!?]{0,30}\b(?:note|letter|where|how)",
    ])
});

/// Rehearsal (C-SSRS preparatory behaviour: a practice run).
pub static RISK_REHEARSAL_RE: LazyLock<Regex> = LazyLock::new(|| {
    any_of(&[
        r"(?:practi[sc]ed|practi[sc]ing|rehears\w*|tested|testing) (?:\w+ ){0,2}(?:tying (?:it|the knot|a knot|the noose|a noose)|the (?:knot|noose|beam)|whether (?:the )?(?:beam|rail|hook|belt|door|bar) (?:holds|would hold|takes|can take))",
        r"(?:practice|dry|trial|test) run\b[^.!?]{0,30}\b(?:rope|noose|belt|bridge|ledge|pills|car|garage|it)",
        r"(?:the )?(?:beam|hook|rail|bar|door frame) (?:will|would|can|could) (?:hold|take) (?:my weight|me)",
        r"(?:it|that|the \w+(?: \w+)?) (?:would|will|could|can) (?:hold|take|bear) (?:my weight|me)",
    ])
});

/// A ligature named (for [`RISK_REHEARSAL_RE`]).
pub static RISK_LIGATURE_RE: LazyLock<Regex> = LazyLock::new(|| any_of(&[r"rope|noose|belt|cord|ligature|cable|flex"]));

/// A stash said to be of something ("a stash of snacks").
pub static RISK_STASH_OF_RE: LazyLock<Regex> = LazyLock::new(|| any_of(&[r"(?:stash|stockpile|hoard|supply|collection) of"]));

/// One-way departure to a lethal place ("going to the bridge and not coming
/// back").
pub static RISK_ONE_WAY_RE: LazyLock<Regex> = LazyLock::new(|| {
    re(&format!(r"\b(?:going|go|heading|head|walk|walking|drive|driving) (?:\w+ ){{0,2}}(?:to|into|up to|out to) (?:the |a )?(?:\w+ )?(?:bridge|cliffs?|sea|river|lake|woods|forest|tracks|railway|roof|rooftop|car park|multi[- ]?storey|overpass|coast|quarry)\b[^.!?]{{0,20}}\b(?:and )?(?:not|never|won'?t be) (?:coming|come|going) (?:back|home)"))
});

/// A future without oneself put as the speaker's own ("I'll be gone by
/// morning", "I won't be alive by the end of the week").
pub static RISK_GONE_BY_RE: LazyLock<Regex> = LazyLock::new(|| {
    any_of(&[
        r"(?:i'?ll|i will|i'?m going to|i'?m gonna|gonna) be (?:gone|dead|not here|not around) (?:by|before|after|come|when)",
        r"(?:i )?(?:won'?t|will not|wont) be (?:alive|breathing|here|around) (?:by|before|after|come|on|at|when|this time)",
        r"by (?:the end of )?(?:this|next|tomorrow|morning|tonight|friday|saturday|sunday|monday|tuesday|wednesday|thursday|the weekend)\b[^.!?]{0,15}\b(?:i )?(?:won'?t|will not|wont) be (?:alive|breathing|here|around)",
    ])
});

/// Finality put on a future without oneself ("I've made sure of it", "it's
/// decided", "for good").
pub static RISK_FINALITY_RE: LazyLock<Regex> = LazyLock::new(|| {
    any_of(&[r"made sure of (?:it|that)", r"(?:it'?s|its|it is|that'?s|thats) (?:been )?decided", r"for good", r"(?:no|there'?s no) (?:going|turning) back", r"one way or (?:another|the other)", r"(?:i'?m|im) out\.? for good"])
});

/// A time frame named as a day or an hour ("on the 1st", "when the clock
/// hits midnight", "friday's the day").
pub static RISK_DATE_RE: LazyLock<Regex> = LazyLock::new(|| {
    any_of(&[
        r"on the (?:\d{1,2}(?:st|nd|rd|th)?|first|last day)",
        r"(?:at|by|when the clock (?:hits|strikes|says)|after) (?:midnight|\d{1,2} ?(?:am|pm|o'?clock))",
        r"(?:monday|tuesday|wednesday|thursday|friday|saturday|sunday|tomorrow|tonight|the \d{1,2}(?:st|nd|rd|th))(?:'s| is| will be) the (?:day|night|date)",
        r"by (?:morning|dawn|sunrise|the morning)",
    ])
});

/// An ordinary act given a future without oneself: no need of one's things
/// "where I'm going", "much longer" or "anymore", things found "after",
/// understood "later", nothing left "for anyone to deal with".
pub static RISK_FUTURE_ABSENCE_RE: LazyLock<Regex> = LazyLock::new(|| {
    any_open(&[
        r"(?:won'?t|will not|wont|don'?t|dont|do not) (?:really )?(?:need|be needing|be using|be playing|be wearing|be reading|be driving|be riding|have (?:any )?use for)\b[^.!?]{0,30}\b(?:anymore|any more|much longer|for much longer|any longer|for long|where i'?m going|after (?:this|today|tonight|next week|friday))",
        r"(?:won'?t|will not|wont) be (?:playing|using|wearing|needing|reading|driving|riding) (?:\w+ ){0,2}(?:anymore|any more|again|much longer)",
        r"(?:they|she|he|someone|you|my \w+)(?:'ll| will| would|'d) (?:find|get|read|open) (?:them|it|this|these|the \w+) (?:after|afterwards|later|when i'?m|once i'?m)\b",
        r"(?:she|he|they|you|everyone|my \w+)(?:'ll| will| would)? understand (?:later |one day |eventually |afterwards |after )?why",
        r"(?:she|he|they|you|everyone|my \w+) (?:won'?t|will not|wont|'ll|will|might|may) (?:only )?understand (?:it )?(?:till|until|later|one day|eventually|afterwards|after)",
        r"(?:(?:don'?t|do not|didn'?t|not) (?:want to |wanna )?)?(?:leave|leaving|left) (?:anything|nothing|a mess|stuff|things|any mess)\b[^.!?]{0,15}\bfor (?:anyone|anybody|people|them|everyone|my \w+) to (?:deal with|sort|clean|do|worry about|handle)",
        r"nothing (?:left )?for (?:anyone|anybody|people|them|everyone|my \w+) to (?:do|deal with|sort|clean up|handle)",
        r"(?:the )?last \w+(?: \w+)? i'?ll ever (?:do|have|need|make|write|see|eat)",
        r"(?:won'?t|will not|never) have to worry about anything (?:ever )?again",
        r"(?:then )?i can (?:finally )?(?:go|rest|leave)(?:\.|$)",
    ])
});

/// Giving possessions away, composed: a verb of giving or bequeathing and a
/// possession, in any order ("gave my switch and all my games to my
/// brother", "told her she can have my guitar", "wrote down who should get
/// my tools", "put my savings into my sister's account").
pub static RISK_GIVING_RE: LazyLock<Regex> = LazyLock::new(|| {
    any_of(&[
        r"(?:gave|given|giving|give|handed|handing|passed on|passing on) (?:away )?(?:my|all my|most of my)\b[^.!?]{0,40}\b(?:to (?:my|a|the|her|him|them|\w+)|away)",
        r"(?:she|he|they|you) can (?:have|keep) my \w+",
        r"(?:left|leaving|dropped off|dropping off) my (?:dog|cat|pets?|rabbit|kids?|keys|will|bank cards?) (?:with|for|on)",
        r"(?:cleaned|cleaning|tidied|tidying|sorted|sorting|cleared|clearing)(?: up| out)?(?: \w+){0,3} so (?:no one|nobody|noone|they|my \w+|people|there'?s nothing)",
        r"who (?:should|will|gets|can|is to) (?:get|have|take|keep) my \w+",
        r"(?:put|moved|transferred|sent) (?:all )?(?:of )?my (?:savings|money) (?:into|to)",
        r"(?:deleted|deleting|closed|closing|wiped|wiping) (?:all )?(?:of )?my (?:socials|social media|accounts|profiles?|photos|messages)",
        r"(?:write|wrote|written|writing|left|leaving) (?:\w+ )?(?:letters?|notes?)\b[^.!?]{0,20}\b(?:to|for) (?:my|all my|each|everyone|all|the)",
    ])
});

/// Farewell letters, composed: letters or messages and what they say
/// ("letters for all my family, to say sorry and goodbye").
pub static RISK_FAREWELL_LETTER_RE: LazyLock<Regex> = LazyLock::new(|| {
    any_of(&[r"(?:letters?|notes?|messages?|videos?|cards?)\b[^.!?]{0,40}\b(?:to say (?:sorry and |i'?m sorry and )?goodbye|saying (?:sorry and )?goodbye|to say (?:i'?m )?sorry|say goodbye)"])
});

/// Goodbyes said so that nobody notices, and purchases hidden the same way
/// (concealment): "without them realising", "so they wouldn't question".
pub static RISK_CONCEAL_RE: LazyLock<Regex> = LazyLock::new(|| {
    any_of(&[
        r"without (?:them|anyone|anybody|people|her|him|my \w+) (?:realising|realizing|knowing|noticing|suspecting|guessing)",
        r"so (?:they|nobody|no one|noone|people|the (?:pharmacist|chemist|doctor|gp|shop)|she|he) (?:wouldn'?t|won'?t|don'?t|doesn'?t|can'?t|couldn'?t|didn'?t) (?:notice|question|ask|suspect|realise|realize|twig|get suspicious|catch on|count|see)",
        r"(?:three|two|four|several|different|other|separate) (?:different )?(?:chemists|pharmacies|shops|stores|supermarkets)\b[^.!?]{0,30}\bso (?:they|nobody|no one|noone|people|i)",
        r"(?:they|she|he|nobody|no one|people|everyone) (?:don'?t|doesn'?t|won'?t|wouldn'?t|didn'?t) know (?:it'?s|its|that it'?s|that'?s) because",
    ])
});

/// A lethal agent sought by another name ("the drugs they use to put animals
/// down"): means acquiring (AAS: seeking means).
pub static RISK_LETHAL_AGENT_RE: LazyLock<Regex> = LazyLock::new(|| {
    any_of(&[r"(?:drugs?|stuff|injections?|medicine|meds) (?:that )?(?:they|vets|the vets?|you) (?:use|uses|used|give) to put (?:animals|dogs|pets|cats|horses|them) (?:down|to sleep)", r"(?:pentobarbital|nembutal)"])
});

/// Method research put as the small print ("checked the suicide clause").
pub static RISK_CLAUSE_RESEARCH_RE: LazyLock<Regex> = LazyLock::new(|| any_of(&[r"suicide (?:clause|exclusion|exclusion period)"]));

/// Self-injury with its purpose: an act on the body done "on purpose", "to
/// feel something", "until it bleeds", or "the pain helps".
pub static RISK_INJURY_PURPOSE_RE: LazyLock<Regex> = LazyLock::new(|| {
    any_of(&[
        r"(?:pick\w*|scratch\w*|burn\w*|pinch\w*|bit|bite|biting|hit\w*|punch\w*|pull\w*|tear\w*|rip\w*|dig\w*|press\w*|reopen\w*|open\w*|squeez\w*|slap\w*)\b[^.!?]{0,30}\b(?:my|the) (?:skin|scabs?|arms?|legs?|thighs?|wrists?|hands?|stomach|face|scalp|hair|cuts|wounds|scars|nails? into)\b[^.!?]{0,30}\b(?:on purpose|deliberately|to feel (?:something|the pain|real|better)|until (?:it|they|i) bleeds?|till (?:it|they|i) bleeds?|so (?:it|they) (?:hurts?|bleeds?|scars?)|(?:the )?pain helps)",
    ])
});

/// Self-injury asked about in general and then owned ("does anyone else
/// carve their skin? I did it today"): read over the whole turn.
pub static RISK_INJURY_ASKED_RE: LazyLock<Regex> = LazyLock::new(|| {
    any_of(&[r"(?:carve|carving|carved|cut|cutting|burn|burning|scratch|scratching)\b[^.!]{0,30}\b(?:their|your|people'?s|the) (?:skin|arms?|legs?|thighs?|wrists?)\b[^.!]{0,40}\bi (?:did|do|tried|have done|did that|do that) (?:it|that|this)? ?(?:today|again|too|last night|yesterday|tonight|as well)"])
});

/// Self-injury done in hiding, the act put as a bare verb ("in the work
/// toilets cutting", "locked myself in the bathroom and cut").
pub static RISK_INJURY_HIDDEN_RE: LazyLock<Regex> = LazyLock::new(|| {
    re(&format!(r"\b(?:in|into|to) (?:the |my )?(?:\w+ )?(?:toilets?|bathroom|loos?|stall|cubicle|bedroom|room|shower|stairwell|stairs|shed|garage|car|changing rooms?|locker room)\b[^.!?]{{0,20}}\b(?:cutting|to cut|and cut|and cutting|burning myself|to burn myself|and burned myself)(?: again| some more)?{CLAUSE_END}|\b(?:went|go|going|ran|snuck|sneaked|locked myself|hid|hide|hiding) (?:in|into|to|off to|up to|down to) (?:the |my |a )?(?:\w+ ){{0,3}}and (?:cut|cutting|burned myself|burnt myself)(?: again| some more)?{CLAUSE_END}"))
});

/// A decision put as going, leaving or ending it, beside a new calm (AAS:
/// dramatic mood change; calm after a decision).
pub static RISK_DECISION_ACT_RE: LazyLock<Regex> = LazyLock::new(|| {
    any_open(&[
        r"(?:made the (?:choice|decision)|made my (?:choice|decision)|decided) (?:\w+ ){0,2}about (?:ending it|ending things|ending my life|not being here)",
        r"(?:decided|made (?:up )?my mind|chosen|chose) to (?:do it|end it)(?:\.|,|$| for good)",
        r"accept(?:ed|ing)? (?:that )?(?:you'?re|i'?m|im|i am|you are) (?:leaving|going|not staying|done)(?:\.|,|$| for good)",
        r"(?:stop|stopped|stopping) fighting (?:it|this)",
    ])
});

/// A decision to go or leave, said without where (with a new calm and
/// despair or concealment near, calm after a decision).
pub static RISK_DECISION_GO_RE: LazyLock<Regex> = LazyLock::new(|| {
    any_open(&[r"(?:decided|made (?:up )?my mind|chosen|chose) to (?:go|leave|let go|stop)(?:\.|,|$| for good)"])
});

/// A new calm or lightness (for [`RISK_DECISION_ACT_RE`] and, with despair
/// near, for things being "sorted").
pub static RISK_NEW_CALM_RE: LazyLock<Regex> = LazyLock::new(|| {
    any_of(&[r"calm|calmer|calmest", r"at peace|peaceful", r"happier|lighter|relieved|relief", r"slept (?:properly|well|through)", r"no more (?:struggle|struggling|fighting|pain)", r"weight off"])
});

/// Everything put in order, said as finished ("everything's sorted now"):
/// with a new calm, calm after a decision — only with despair near.
pub static RISK_SORTED_RE: LazyLock<Regex> = LazyLock::new(|| {
    any_of(&[r"(?:everything'?s|everything is|it'?s all|its all|all) (?:sorted|settled|done|in order|taken care of|ready)(?: now)?"])
});

/// A welcome death put as a diagnosis, a waking, something happening (C-SSRS 1).
pub static RISK_WELCOME_DEATH_RE: LazyLock<Regex> = LazyLock::new(|| {
    any_open(&[
        r"if i (?:got|get|had|was given|were given|was diagnosed with|were diagnosed with|found out i had) (?:a |an |something )?(?:terminal|fatal|incurable|cancer|months to live|weeks to live)\b[^.!?]{0,40}\b(?:relieved|relief|grateful|glad|happy|thankful|wouldn'?t (?:mind|fight|treat))",
        r"(?:disappointed|upset|annoyed|angry|gutted|frustrated|sorry|sad) (?:that |when |to (?:find|realise|realize) )?i(?:'?m| am)? (?:still )?(?:woke up|wake up|still here|still alive|survived|made it through (?:another|the) night)(?:\.|,|$| again| every| each)",
        r"(?:hope|hoping|wish|wishing|pray|praying) (?:that )?(?:something|a car|a bus|someone|a lorry|a truck) (?:happens to|hits|runs me over|takes) me",
        r"(?:hope|hoping|wish|wishing)\b[^.!?]{0,40}\bi (?:just )?(?:don'?t|never|wouldn'?t) (?:come back|make it back|come home|wake up)",
        r"(?:wish|want|wanna) (?:i could )?(?:just )?(?:go|be) where (?:he|she|they) (?:is|are|went)",
        r"let nature (?:sort it out|take its course|decide)",
    ])
});

/// Stopping a life-sustaining treatment to let death come ("stop taking my
/// heart tablets and let nature sort it out"): active ideation with a method.
pub static RISK_WITHHOLD_RE: LazyLock<Regex> = LazyLock::new(|| {
    any_of(&[r"(?:stop|stopped|stopping|quit|quitting|skip|skipping) (?:taking )?(?:all )?(?:my )?(?:\w+ )?(?:heart|insulin|blood pressure|dialysis|treatment|chemo|transplant|epilepsy|seizure) ?(?:tablets|pills|meds|medication|injections|sessions)?\b[^.!?]{0,40}\b(?:let nature|see what happens|let (?:it|god|fate) (?:happen|decide|take)|and (?:just )?(?:die|fade away|slip away)|not wake)"])
});

/// Burdensomeness, composed: whoever it is, freer / lighter / better without
/// the speaker; in their way; taking up space someone else deserves.
pub static RISK_BURDEN_COMPOSED_RE: LazyLock<Regex> = LazyLock::new(|| {
    any_of(&[
        r"(?:would|will|might|'?d|could) (?:all )?(?:be )?(?:so much |much |a lot |far )?(?:better off|happier|freer|free|lighter|easier|better|calmer|relieved|richer) (?:without me|with(?:out)? one less (?:of )?me)",
        r"(?:one|1) less (?:of )?me",
        r"(?:i'?m|i am|im) (?:only |just |always )?(?:in (?:their|everyone'?s|everybody'?s|your|his|her|my \w+'?s) way|getting in (?:their|everyone'?s|everybody'?s) way)",
        r"(?:i )?take up (?:space|room|oxygen|air)\b[^.!?]{0,30}\b(?:someone|somebody|better|deserve)",
        r"deserves? (?:so much )?better than (?:me|to be (?:stuck|saddled) (?:with|caring for|looking after) me)",
    ])
});

/// Thwarted belongingness, composed: a death nobody would notice, or being
/// missed measured by silence.
pub static RISK_UNNOTICED_RE: LazyLock<Regex> = LazyLock::new(|| {
    any_of(&[
        r"if i (?:dropped dead|died|was gone|disappeared|vanished)\b[^.!?]{0,60}\b(?:the smell|(?:days|weeks|months) before|before anyone|nobody|no one|noone|the cat|the neighbou?rs)",
        r"(?:that'?s|thats|shows|proves|tells you) how much (?:i'?d|i would|i) (?:be missed|matter|am missed)",
    ])
});

/// Hopelessness as a sameness without end ("the same grey forever").
pub static RISK_SAME_FOREVER_RE: LazyLock<Regex> = LazyLock::new(|| {
    any_of(&[r"(?:will|'?ll|is going to|gonna) (?:be|stay) the same\b[^.!?]{0,20}\b(?:forever|for the rest of my life|until i die)"])
});

/// Looking at a means in a new way ("looking at the bottles in the medicine
/// cabinet differently"): rumination on a means.
pub static RISK_MEANS_GAZE_RE: LazyLock<Regex> = LazyLock::new(|| {
    re(&format!(r"\b(?:look|looking|looked|see|seeing|think about|thinking about)\b[^.!?]{{0,10}}\b(?:the |my |those |all the |all my )?(?:\w+ ){{0,4}}{MEANS_OR_PLACE}\b[^.!?]{{0,30}}\bdifferently\b"))
});

/// At a height, the thought of how easy it would be, left unfinished ("the
/// view from up here makes me think how easy it would be").
pub static RISK_EASY_HERE_RE: LazyLock<Regex> = LazyLock::new(|| {
    re(&format!(r"\b(?:from up here|up here|this high|the top floor|the edge)\b[^.!?]{{0,60}}\b(?:how easy it would be|how easy it'?d be|it would be so easy|it'?d be so easy|how easy it is){CLAUSE_END}"))
});

/// A farewell disclosure after a severe turn ("I don't know why I'm telling
/// you this").
pub static RISK_DISCLOSURE_RE: LazyLock<Regex> = LazyLock::new(|| {
    any_of(&[r"(?:don'?t|do not|dont) know why i'?m (?:telling|saying|writing|sending) (?:you )?(?:this|all this|that)"])
});

/// Laughter and irony markers (for the hyperbole guard).
const LAUGH: &str = r"(?:lol|lmao|lmfao|haha\w*|hehe\w*|jk|rofl|xd|😂|🤣|💀|😭|🙃|😩|🫠|😅)";

/// Words that take a laugh marker's place as proof of play: the trivial
/// causes of hyperbole and the vocabulary of games and sport.
/// The things of everyday annoyance, for the conditional forms (no laugh
/// needed, so no verbs: "if I lose my job again…" stays risk).
const TRIVIAL_THING: &str = r"(?:keys|essay|exam|homework|assignment|meeting|deadline|project|presentation|email|emails|bus|train|traffic|queue|commute|mondays?|lecture|quiz|test|maths|math|code|bug|printer|wifi|internet|phone|spreadsheet|taxes|laundry|dishes|tweet|text|typo|hangover|lava|diamonds|level|boss|respawn|checkpoint|save|match|game|games|ranked|penalty|goal|referee|team|season|league|playoffs?|fantasy|minecraft|fortnite|roblox|valorant|fifa|elden ring|controller|xbox|playstation|switch|steam|gym|leg day|cardio|marathon|pizza|coffee)";

/// [`TRIVIAL_THING`] and the everyday mishaps, for forms with a laugh.
const TRIVIAL: &str = r"(?:keys|essay|exam|homework|assignment|meeting|deadline|project|presentation|email|emails|bus|train|traffic|queue|commute|mondays?|lecture|quiz|test|maths|math|code|bug|printer|wifi|internet|phone|spreadsheet|taxes|laundry|dishes|tweet|text|typo|hangover|lava|diamonds|level|boss|respawn|checkpoint|save|match|game|games|ranked|penalty|goal|referee|team|season|league|playoffs?|fantasy|minecraft|fortnite|roblox|valorant|fifa|elden ring|controller|xbox|playstation|switch|steam|gym|leg day|cardio|marathon|pizza|coffee|forget\w*|forgot|burnt|spilled|dropped|missed|lost|said|sent|ate|bought|did|replied|autocorrect)";

/// Hyperbole: a self-directed risk phrase with a trivial cause and a laugh,
/// a conditional "if I have to … one more …", or "one more X and I'll …".
pub static RISK_HYPERBOLE_RE: LazyLock<Regex> = LazyLock::new(|| {
    any_open(&[
        &format!(r"(?:kill|shoot|hang|murder|end|off|drown|stab|kms|die|dead|unalive)\w*\b[^.!?]{{0,50}}\b{TRIVIAL}\b[^.!?]{{0,60}}{LAUGH}"),
        &format!(r"{TRIVIAL}\b[^.!?]{{0,60}}\b(?:kill|shoot|hang|murder|end|off|drown|stab|kms|die|dead|unalive)\w*\b[^.!?]{{0,40}}{LAUGH}"),
        &format!(r"if\b[^.!?]{{0,50}}\b(?:one more|another|once more)\b[^.!?]{{0,30}}\b{TRIVIAL_THING}\b[^.!?]{{0,60}}\b(?:i'?m|im|i am|i'?ll|i will|i'?d) (?:going to |gonna )?(?:literally |actually |genuinely )?(?:kill|shoot|hang|stab|throw|drown|unalive) myself"),
        &format!(r"if\b[^.!?]{{0,50}}\b{TRIVIAL_THING}\b[^.!?]{{0,40}}\b(?:one more|another|once more|again)\b[^.!?]{{0,40}}\b(?:i'?m|im|i am|i'?ll|i will|i'?d) (?:going to |gonna )?(?:literally |actually |genuinely )?(?:kill|shoot|hang|stab|throw|drown|unalive) myself"),
        &format!(r"{LAUGH}[^.!?]{{0,40}}\b(?:kill|shoot|hang|murder|drown|stab|kms|die|unalive)\w*\b[^.!?]{{0,60}}\b{TRIVIAL}\b"),
        &format!(r"one more (?:\w+ ){{0,4}}{TRIVIAL_THING}(?: \w+){{0,4}} and (?:i'?m|im|i am|i'?ll|i will) (?:going to |gonna )?(?:literally |actually )?(?:kill|shoot|hang|stab|drown|unalive|off) myself"),
    ])
});

/// A risk phrase in a game's frame: death as a game mechanic (respawn,
/// checkpoint, lives, a level), not the speaker's life.
pub static RISK_GAME_RE: LazyLock<Regex> = LazyLock::new(|| {
    any_of(&[r"respawn\w*", r"checkpoint", r"save ?point", r"(?:restart|reload|load) (?:from|the level|my save|the save|the game)", r"extra li(?:fe|ves)", r"(?:lives|hearts) left", r"game over", r"in[- ]game", r"my (?:character|avatar|toon|sim)", r"minecraft|fortnite|roblox|valorant|elden ring|dark souls|fifa|the sims|speedrun\w*"])
});

/// Saying it is meant for real, or real stakes (failing, losing a job, being
/// left): overrides the hyperbole and game guards.
pub static RISK_SERIOUS_RE: LazyLock<Regex> = LazyLock::new(|| {
    any_of(&[r"fail\w*", r"(?:get|got|getting) (?:fired|sacked|kicked out|dumped)", r"lose my (?:job|house|kids)", r"(?:dumps?|leaves?|left) me", r"for real", r"not (?:joking|kidding)", r"(?:i'?m )?serious(?:ly)?", r"i mean it", r"no joke", r"(?:not|isn'?t) a joke", r"actually (?:want|wanna|going)"])
});

/// Risk words that mean something else: ending a relationship or a task,
/// a job one cannot go on with, sleeping forever for a weekend.
pub static RISK_OTHER_SENSE_RE: LazyLock<Regex> = LazyLock::new(|| {
    any_of(&[
        r"(?:end|ending|ended|finish|finishing) (?:it|things) (?:with|between) (?:him|her|them|us|my \w+|\w+)",
        r"(?:end|ending) (?:it|it all|things) and (?:just )?(?:do|redo|write|finish|start) (?:it|the \w+|everything|the whole thing)(?: (?:myself|alone|over))?",
        r"can'?t (?:go on|keep going|do this anymore|take (?:it|this) anymore) (?:with|at|in) (?:this|my|the) (?:job|work|course|class|relationship|project|degree|team|manager|boss|commute|schedule|diet|routine|company|landlord|flat)",
        r"sleep (?:forever|for days|for a week|for a month|for a year) (?:this|on|at|over|during) (?:the )?(?:weekend|holiday|holidays|break|saturday|sunday|day off|half term)",
        r"no alarms",
        r"(?:decided|decision|made up my mind|chose|chosen) to (?:leave|quit|move|change|break up|apply|start|sell|buy|book|switch|drop out of|go back to|finish) (?:my |the |a |with |to |out of |from )?(?:\w+ )?(?:job|work|course|uni|university|college|school|house|flat|city|country|relationship|partner|boyfriend|girlfriend|husband|wife|team|degree|career|therapist|church|company|band)",
    ])
});

/// A goodbye followed by a return or bedtime ("bye forever… or at least
/// until Monday", "last message tonight, going to bed"): not a farewell.
pub static RISK_RETURN_RE: LazyLock<Regex> = LazyLock::new(|| {
    any_of(&[
        r"(?:going|off|heading|gotta go|have to go) to (?:bed|sleep)",
        r"(?:see|talk to|speak to|catch) (?:you|ya|u) (?:tomorrow|later|soon|on \w+day|next week|in the morning)",
        r"(?:talk|speak) (?:tomorrow|later|soon)",
        r"(?:until|till|til) (?:monday|tuesday|wednesday|thursday|friday|saturday|sunday|tomorrow|next week|later|the morning)",
        r"back (?:tomorrow|on \w+day|next week|later|in the morning)",
        r"(?:farewell|leaving) (?:do|party|drinks|lunch|card|dinner)",
        r"leaving (?:for|to start) (?:a|my|the) (?:new )?(?:job|role|school|city|country|position|course)",
    ])
});

/// Reported speech: someone else's words quoted ("my brother said 'i wish i
/// was dead'"); the quote is theirs.
pub static RISK_QUOTED_OTHER_RE: LazyLock<Regex> = LazyLock::new(|| {
    any_of(&[r#"(?:he|she|they|my \w+(?: \w+)?|(?:his|her|their) \w+) (?:said|says|told me|texted|wrote|keeps saying|kept saying|screamed|yelled|shouted|posted)[,:]? ['"]"#])
});

/// Past ideation put as "I had suicidal thoughts", and a counterfactual past
/// ("old me would have hurt myself").
pub static RISK_HISTORY_MORE_RE: LazyLock<Regex> = LazyLock::new(|| {
    any_of(&[
        r"i (?:had|'?d had|went through|struggled with|experienced|used to have) (?:\w+ )?(?:suicidal (?:thoughts|feelings|ideation|urges)|thoughts of (?:suicide|dying|killing myself|ending it)|a suicidal (?:phase|period|episode))",
        r"(?:old|the old|younger|past|teenage) me would(?:'?ve| have)",
        r"would(?:'?ve| have) (?:\w+ ){0,2}(?:hurt|cut|harmed|burned|burnt) myself (?:over|about|because of) (?:this|that|it)",
    ])
});

/// Resolution stated as now ("therapy helped and they're gone now", "clean
/// for six years", "new me went for a run instead").
pub static RISK_RESOLVED_MORE_RE: LazyLock<Regex> = LazyLock::new(|| {
    any_open(&[
        r"(?:clean|free|sober|self[- ]?harm[- ]free|sh[- ]free) (?:for|since) (?:over |more than |almost |nearly )?(?:\d+|one|two|three|four|five|six|seven|eight|nine|ten|a few|several|a couple of) (?:days?|weeks?|months?|years?)",
        r"(?:they'?re|they are|it'?s|its|those thoughts are|that'?s|the thoughts are) (?:all )?(?:gone|over|behind me|in the past) now",
        r"(?:therapy|treatment|medication|counselling|counseling|my therapist|the meds) (?:really )?helped",
        r"new me",
    ])
});

// -------------------------------------------------------------- injection --

/// Attempts to override the robot's instructions.
pub static INJECTION_RE: LazyLock<Regex> = LazyLock::new(|| {
    any_of(&[
        r"(?:ignore|disregard|forget|override|bypass)(?: all| any| the| your| my)* (?:previous|prior|above|earlier|preceding|original|system|initial|existing)?\s*(?:instructions?|prompts?|rules?|messages?|directions?|guidelines?|programming|constraints)",
        r"system ?prompt",
        r"(?:print|show|reveal|repeat|output|display|tell me|give me|leak|dump|say) (?:me )?(?:your|the) (?:full |entire |original |hidden |secret )?(?:system )?(?:prompt|instructions|rules|guidelines|initial message)",
        r"you are now (?:a|an|my|in|dan|no longer)",
        r"(?:pretend|act|behave) (?:to be|as if you|like you|as) (?:are |were )?(?:a |an |my )?(?:human|person|different|unrestricted|evil|dan|developer|admin)",
        r"developer mode",
        r"jail ?break",
        r"\bdan\b mode",
        r"new (?:instructions|rules|system prompt)",
        r"from now on,? you (?:will|must|are|should)",
        r"<\|?(?:im_start|im_end|system|endoftext|eot_id|start_header_id)\|?>",
        r"\[/?(?:inst|system)\]",
        r"###\s*(?:instruction|system)",
        r"(?:role|speaker)\s*:\s*system",
    ])
});

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_lexicon_pattern_compiles() {
        for r in [
            &*ADVICE_RE, &*IMPERATIVE_RE, &*NOT_ADVICE_OPENING_RE, &*MINIMISING_RE, &*DISTORTION_RE,
            &*RISK_EXPLICIT_RE, &*RISK_PASSIVE_RE, &*RISK_HOPELESS_RE, &*RISK_SELF_HARM_RE, &*RISK_ACCIDENT_RE,
            &*RISK_HISTORY_RE, &*RISK_PLAN_RE, &*RISK_MEANS_RE, &*RISK_TIMELINE_RE, &*RISK_INTENT_RE,
            &*RISK_GOODBYE_RE, &*DENIAL_RE, &*INJECTION_RE, &*EMOTION_RE, &*RISK_ACT_RE, &*RISK_METHOD_RESEARCH_RE,
            &*RISK_STOCKPILE_RE, &*RISK_AT_HAND_RE, &*RISK_PREPARATORY_RE, &*RISK_PREP_CONTEXT_RE, &*RISK_BURDEN_RE,
            &*RISK_BELONGING_RE, &*RISK_ENTRAPMENT_RE, &*RISK_CALM_RE, &*RISK_FICTION_RE, &*RISK_JUMP_URGE_RE,
            &*RISK_METHOD_THOUGHT_RE, &*RISK_PURPOSE_RE, &*RISK_MEANS_KEPT_RE, &*RISK_MEANS_RUMINATION_RE, &*RISK_PASSIVE_EVENT_RE,
            &*RISK_CALM_DECISION_RE, &*RISK_INJURY_FORM_RE, &*RISK_FAREWELL_DISCLOSURE_RE, &*RISK_RESOLVED_RE, &*RISK_RELAPSE_RE, &*RISK_STEM_RE,
            &*RISK_JOIN_RE, &*DEATH_CONTEXT_RE, &*MEANS_NOUN_RE, &*RISK_CLAUSE_END_PURPOSE_RE, &*RISK_CLAUSE_END_START_RE, &*RISK_PAST_ATTEMPT_RE, &*RISK_LAST_TIME_RE, &*EVERYDAY_ENDING_RE, &*RISK_METHOD_PLACE_RE, &*REPORTED_PURPOSE_RE,
        ] {
            assert!(!r.as_str().is_empty());
        }
    }

    #[test]
    fn every_emotion_form_is_listed_once() {
        let mut seen = std::collections::HashSet::new();
        for f in EMOTION_FORMS {
            assert!(seen.insert(f.form), "duplicate emotion form {:?}", f.form);
        }
    }

    #[test]
    fn feeling_bad_is_a_feeling_but_bad_at_maths_is_not() {
        assert_eq!(self_named_emotions("I feel terrible about it"), vec!["bad"]);
        assert!(self_named_emotions("I'm bad at maths").is_empty());
    }

    #[test]
    fn curly_apostrophes_match_like_straight_ones() {
        assert!(MINIMISING_RE.is_match("Don’t worry about it"));
        assert!(MINIMISING_RE.is_match("don't worry about it"));
    }

    #[test]
    fn negation_is_seen_within_the_clause() {
        let t = "I'm not angry";
        assert!(negated_before(t, t.find("angry").unwrap_or(0), 4));
        let t = "I'm not sure, but I'm angry";
        assert!(!negated_before(t, t.rfind("angry").unwrap_or(0), 4));
    }

    #[test]
    fn cannot_stop_is_not_a_negation() {
        let t = "I can't stop feeling sad";
        assert!(!negated_before(t, t.find("sad").unwrap_or(0), 4));
    }

    #[test]
    fn never_felt_so_is_an_intensifier_not_a_negation() {
        let t = "I have never felt so alone";
        assert!(!negated_before(t, t.find("alone").unwrap_or(0), 4));
    }

    #[test]
    fn a_third_person_subject_owns_the_feeling() {
        let t = "my mom is sad";
        assert_eq!(subject_before(t, t.find("sad").unwrap_or(0)), Subject::Other);
        let t = "she made me angry";
        assert_eq!(subject_before(t, t.find("angry").unwrap_or(0)), Subject::Speaker);
        let t = "I'm a bit sad";
        assert_eq!(subject_before(t, t.find("sad").unwrap_or(0)), Subject::Speaker);
    }

    #[test]
    fn context_only_forms_need_a_feeling_verb() {
        assert_eq!(self_named_emotions("I lost my keys"), Vec::<&str>::new());
        assert_eq!(self_named_emotions("I feel so lost at work"), vec!["lost"]);
        assert_eq!(self_named_emotions("sit down please"), Vec::<&str>::new());
        assert_eq!(self_named_emotions("I've been feeling really down"), vec!["down"]);
    }

    #[test]
    fn polite_afraid_is_not_fear() {
        assert!(self_named_emotions("I'm afraid I can't come tomorrow").is_empty());
        assert_eq!(self_named_emotions("I'm afraid of the dark"), vec!["scared"]);
    }

    #[test]
    fn boundary_helpers_never_split_a_char() {
        let s = "héllo";
        assert_eq!(floor_char_boundary(s, 2), 1);
        assert_eq!(ceil_char_boundary(s, 2), 3);
        assert_eq!(clause_before(s, 2), "h");
    }
}
