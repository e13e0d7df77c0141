//! Strategy coder: labels a reply's sentences with the eight ESConv helping
//! strategies (Liu et al., ACL 2021).

use serde::{Deserialize, Serialize};

/// The eight ESConv strategies; serialised with their ESConv names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Strategy {
    #[serde(rename = "Questions")]
    Questions,
    #[serde(rename = "Restatement or Paraphrasing")]
    Restatement,
    #[serde(rename = "Reflection of feelings")]
    Reflection,
    #[serde(rename = "Self-disclosure")]
    SelfDisclosure,
    #[serde(rename = "Affirmation and Reassurance")]
    Affirmation,
    #[serde(rename = "Providing Suggestions")]
    Suggestions,
    #[serde(rename = "Information")]
    Information,
    #[serde(rename = "Other")]
    Other,
}

impl Strategy {
    /// The ESConv label.
    pub fn label(self) -> &'static str {
        match self {
            Strategy::Questions => "Questions",
            Strategy::Restatement => "Restatement or Paraphrasing",
            Strategy::Reflection => "Reflection of feelings",
            Strategy::SelfDisclosure => "Self-disclosure",
            Strategy::Affirmation => "Affirmation and Reassurance",
            Strategy::Suggestions => "Providing Suggestions",
            Strategy::Information => "Information",
            Strategy::Other => "Other",
        }
    }
}

/// Codes a reply: the distinct strategies its sentences use, in order of
/// first appearance.
pub fn code_reply(reply: &str) -> Vec<Strategy> {
    let mut out = Vec::new();
    for sentence in crate::text::split_sentences(reply) {
        let s = code_sentence(&sentence);
        if !out.contains(&s) {
            out.push(s);
        }
    }
    out
}

/// Codes one sentence with a single strategy.
///
/// Design: rules are tried from the most specific to the most generic, so
/// "Have you tried journaling?" is a suggestion before it is a question,
/// and "So you feel stuck?" is a restatement before it is a question.
/// Advice uses the validator's own detector, so the two cannot disagree
/// about what a suggestion is.
pub fn code_sentence(sentence: &str) -> Strategy {
    let s = sentence.trim();
    if !s.chars().any(char::is_alphanumeric) {
        return Strategy::Other;
    }
    if crate::validator::advice_evidence(s).is_some() || SUGGESTION_RE.is_match(s) {
        return Strategy::Suggestions;
    }
    if RESTATEMENT_RE.is_match(s) {
        return if reflects_feeling(s) { Strategy::Reflection } else { Strategy::Restatement };
    }
    let question = s.ends_with('?') || (QUESTION_OPENING_RE.is_match(s) && !s.ends_with('.') && !s.ends_with('!'));
    if question {
        return Strategy::Questions;
    }
    if reflects_feeling(s) {
        return Strategy::Reflection;
    }
    if SELF_DISCLOSURE_RE.is_match(s) && !NOT_SELF_DISCLOSURE_RE.is_match(s) {
        return Strategy::SelfDisclosure;
    }
    if INFORMATION_RE.is_match(s) {
        return Strategy::Information;
    }
    if AFFIRMATION_RE.is_match(s) {
        return Strategy::Affirmation;
    }
    Strategy::Other
}

/// One label for a whole reply, for comparison with ESConv's one label per
/// supporter turn: the highest-ranked strategy among its sentences.
///
/// Design: the rank puts the rarer, more specific moves first (a turn that
/// suggests something anywhere is labelled a suggestion by ESConv's
/// annotators far more often than by its pleasantries).
pub fn primary_strategy(reply: &str) -> Strategy {
    const RANK: [Strategy; 8] = [
        Strategy::Suggestions,
        Strategy::Restatement,
        Strategy::Reflection,
        Strategy::SelfDisclosure,
        Strategy::Information,
        Strategy::Questions,
        Strategy::Affirmation,
        Strategy::Other,
    ];
    let codes = code_reply(reply);
    RANK.into_iter().find(|r| codes.contains(r)).unwrap_or(Strategy::Other)
}

/// Every strategy, in ESConv order.
pub const ALL: [Strategy; 8] = [
    Strategy::Questions,
    Strategy::Restatement,
    Strategy::Reflection,
    Strategy::SelfDisclosure,
    Strategy::Affirmation,
    Strategy::Suggestions,
    Strategy::Information,
    Strategy::Other,
];

impl Strategy {
    /// Parses an ESConv label.
    pub fn from_label(label: &str) -> Option<Strategy> {
        ALL.into_iter().find(|s| s.label().eq_ignore_ascii_case(label.trim()))
    }
}

/// A sentence names a feeling as the listener's reading of the other
/// person ("you sound exhausted", "that must be so scary", "I can see how
/// hurt you are").
fn reflects_feeling(s: &str) -> bool {
    if FEELING_REFLECTION_RE.is_match(s) {
        return true;
    }
    crate::lexicon::emotion_hits(s).iter().any(|h| !h.negated && h.subject == crate::lexicon::Subject::Addressee)
}

use crate::lexicon::{any_of, re};
use regex::Regex;
use std::sync::LazyLock;

static SUGGESTION_RE: LazyLock<Regex> = LazyLock::new(|| {
    any_of(&[
        r"(?:maybe|perhaps) (?:try|talk|go|take|get|find|write|reach|ask|consider|look|start|see|join)",
        r"(?:would|could|can) (?:it|that) help (?:to|if you)",
        r"(?:is there|are there) (?:someone|anyone|a friend|somebody) you (?:could|can) (?:talk|reach|turn|ask)",
        r"(?:would you|could you) (?:consider|try|be willing to|be able to)",
        r"(?:do|would) you think (?:it would|you could|you might|that would) (?:help|be)",
        r"what (?:about|if you) (?:trying|talking|going|taking|asking|writing|getting|you)",
        r"(?:one|a good|another) (?:way|option|thing|idea|step) (?:is|would be|might be|could be)",
        r"you (?:can|could) (?:always )?(?:ask|talk|call|contact|reach|look|find|join|use|check|apply|go)",
        r"a good (?:first )?step",
        r"(?:some|many|other|a lot of) people find (?:it )?(?:helps?|useful|helpful)",
        r"helps? me (?:a lot|when|to)",
    ])
});

static RESTATEMENT_RE: LazyLock<Regex> = LazyLock::new(|| {
    re(r"^\W*(?:(?:ok(?:ay)?|so|alright|right|i see|hmm|oh)[, ]+)*(?:so,? (?:you|your|it (?:sounds|seems))|it (?:sounds|seems) (?:like|as if|as though|that)|you (?:said|mentioned|are saying|'re saying|told me|feel like|are feeling like)|if i (?:understand|hear|'m hearing|am hearing)|what i(?:'m| am) hearing|in other words|correct me if|sounds like|it seems to me|from what you(?:'ve| have)? (?:said|told|described|shared)|you(?:'ve| have) (?:said|mentioned)|it appears)")
});

static FEELING_REFLECTION_RE: LazyLock<Regex> = LazyLock::new(|| {
    any_of(&[
        r"i can (?:see|tell|imagine|hear|understand|sense|feel) (?:how|that|why|what) (?:you|this|that|it)",
        r"(?:that|this|it) (?:must|would|could|can) (?:be|have been|feel|make you feel) (?:so |very |really |quite |incredibly |extremely )?(?:hard|difficult|tough|painful|frustrating|scary|stressful|upsetting|lonely|overwhelming|heartbreaking|devastating|confusing|exhausting|draining|frightening|terrifying|depressing|sad|awful|rough|hurtful|disappointing|annoying|worrying|isolating)",
        r"you (?:seem|sound|must be|must feel|are feeling|'re feeling|feel|appear) (?:so |very |really |quite |a bit |a little |pretty )?(?:\w+ed|upset|sad|down|anxious|lonely|hurt|angry|scared|afraid|hopeless|lost|happy|glad|tired|nervous|stressed|overwhelmed|frustrated)",
        r"(?:how|why) (?:you(?:'re| are) feeling|you feel) (?:this|that|the) way",
        r"(?:your|those|these) feelings",
        r"understandable (?:that|to) (?:you )?feel",
    ])
});

static QUESTION_OPENING_RE: LazyLock<Regex> = LazyLock::new(|| {
    re(r"^\W*(?:(?:and|so|but|well|ok|okay|hi|hello|hey)[, ]+)?(?:who|what|when|where|why|how|which|are you|is it|is there|do you|does|did you|can you|could you|will you|would you|have you|has)\b")
});

static SELF_DISCLOSURE_RE: LazyLock<Regex> = LazyLock::new(|| {
    any_of(&[
        r"i (?:have|had|was|went|used to|remember|once|myself|lost|got|did|know how (?:it|that) feels|felt|feel the same|also|too|am also|live|work|moved|tried|find|found|love|like|enjoy|struggled|struggle|experienced|dealt|deal|lived|grew|spent|started|would be|would feel|can relate|relate|personally|'ve (?:been|had|gone|lost|felt|found|tried|struggled|experienced|dealt|noticed|learned|always))",
        r"(?:^|\W)my (?:own|husband|wife|kids|son|daughter|mom|mum|dad|mother|father|friend|friends|sister|brother|family|boyfriend|girlfriend|partner|experience|job|work|boss|dog|cat|parents|grandma|grandmother|children|cousin|niece|nephew|uncle|aunt)",
        r"me too|same here|happened to me|when i was|(?:i'?m|i am) (?:also|in the same|going through)|in my (?:case|experience|opinion)|for me",
    ])
});

static NOT_SELF_DISCLOSURE_RE: LazyLock<Regex> =
    LazyLock::new(|| re(r"^\W*i(?:'m| am)? ?(?:sorry|glad|happy to|hope|think you|understand|see|know you|believe|can tell|can see|agree|wish you)\b"));

static INFORMATION_RE: LazyLock<Regex> = LazyLock::new(|| {
    any_of(&[
        r"stud(?:y|ies) (?:show|have shown|suggest|found)",
        r"research(?:ers)? (?:shows?|has shown|suggests?|found)",
        r"according to",
        r"statistic\w*",
        r"\d+ ?(?:%|percent)",
        r"(?:many|a lot of|most|lots of|millions of|plenty of|some) (?:people|others|folks|students|adults|parents|americans)",
        r"it(?:'s| is) (?:very |quite |really |pretty |actually )?(?:common|normal|typical|known|recommended|proven)",
        r"there (?:are|is) (?:many|lots of|a lot of|some|several|plenty of|a number of|various) (?:resources|websites|ways|groups|programs|options|organi[sz]ations|hotlines|apps|services|books|support|places|jobs|studies|people)",
        r"(?:cdc|who|fda|nhs|government|hotline|helpline|vaccines?|covid|virus|pandemic|unemployment|benefits|symptoms|therapy|therapists|counsel(?:l)?ors|website|online)",
        r"(?:usually|typically|generally|normally|often) (?:\w+ )?(?:is|are|takes|helps|happens|causes|means)",
        r"(?:can|may|will) (?:cause|lead to|result in|affect|increase|reduce)",
        r"(?:it'?s|this is) called",
        r"is a (?:common|normal|natural|sign|symptom)",
    ])
});

static AFFIRMATION_RE: LazyLock<Regex> = LazyLock::new(|| {
    any_of(&[
        r"you(?:'re| are) (?:doing|not alone|strong|brave|a (?:good|great|kind|strong|caring|wonderful)|so (?:strong|brave|kind|smart)|very (?:strong|brave|kind|smart|resilient|capable)|capable|smart|resilient|on the right track|right to|worth|welcome|amazing|awesome)",
        r"you (?:can|will|'ll|could) (?:do (?:it|this)|get through|make it|handle|overcome|figure|manage|find)",
        r"i(?:'m| am) (?:sure|confident|certain|positive) (?:you|that|things|it|he|she|they)",
        r"i (?:believe|know) (?:in )?you",
        r"(?:good|great|nice|well done|awesome|wonderful) (?:for you|job|idea|to hear|that you|thinking|work)",
        r"that(?:'s| is) (?:great|good|wonderful|awesome|amazing|a (?:good|great|wise|smart|brave|positive)|smart|brave|understandable|completely understandable|normal|okay|ok|fine|excellent|fantastic|really good|very good|a good thing|admirable|impressive)",
        r"it(?:'s| is) (?:okay|ok|normal|understandable|natural|fine|alright|all right|completely normal|perfectly normal|human|valid) (?:to|that|if)",
        r"proud of you",
        r"you deserve",
        r"hang in there|you(?:'ve| have) got this|keep (?:it )?up|stay strong",
        r"(?:things|it|everything) will (?:get better|work out|improve|be (?:okay|ok|fine|better|alright))",
        r"(?:don'?t|do not) be (?:so )?hard on yourself",
        r"you(?:'re| are) not (?:alone|to blame|a failure|the only one)",
        r"(?:that|this) (?:is|sounds) (?:so |really |very )?(?:hard|difficult|tough|rough)",
        r"i(?:'m| am) (?:so |really |very )?(?:sorry|glad)",
        r"i understand",
        r"(?:definitely|absolutely|of course|certainly)",
    ])
});

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_question_is_coded_as_questions() {
        assert_eq!(code_sentence("How long has this been going on?"), Strategy::Questions);
        assert_eq!(code_sentence("what happened next"), Strategy::Questions);
    }

    #[test]
    fn a_suggestion_phrased_as_a_question_is_a_suggestion() {
        assert_eq!(code_sentence("Have you tried talking to your manager?"), Strategy::Suggestions);
        assert_eq!(code_sentence("You could try writing in a journal."), Strategy::Suggestions);
    }

    #[test]
    fn restating_their_words_is_restatement() {
        assert_eq!(code_sentence("So you lost your job last week and your rent is due."), Strategy::Restatement);
        assert_eq!(code_sentence("It sounds like the move was not your choice, is that right?"), Strategy::Restatement);
    }

    #[test]
    fn naming_their_feeling_is_reflection() {
        assert_eq!(code_sentence("You sound really exhausted."), Strategy::Reflection);
        assert_eq!(code_sentence("That must be so frustrating."), Strategy::Reflection);
        assert_eq!(code_sentence("It sounds like you're feeling lonely."), Strategy::Reflection);
    }

    #[test]
    fn sharing_own_experience_is_self_disclosure() {
        assert_eq!(code_sentence("I went through a breakup last year too."), Strategy::SelfDisclosure);
        assert_eq!(code_sentence("My sister had the same problem."), Strategy::SelfDisclosure);
    }

    #[test]
    fn encouragement_is_affirmation() {
        assert_eq!(code_sentence("You're doing the best you can."), Strategy::Affirmation);
        assert_eq!(code_sentence("I'm sure you will get through this."), Strategy::Affirmation);
    }

    #[test]
    fn facts_are_information() {
        assert_eq!(code_sentence("Many people feel anxious after losing a job."), Strategy::Information);
        assert_eq!(code_sentence("Studies show exercise reduces stress."), Strategy::Information);
    }

    #[test]
    fn pleasantries_are_other() {
        assert_eq!(code_sentence("Hello there."), Strategy::Other);
        assert_eq!(code_sentence("Have a good night!"), Strategy::Other);
        assert_eq!(code_sentence(""), Strategy::Other);
    }

    #[test]
    fn a_reply_lists_its_distinct_strategies_in_order() {
        let r = "That must be so frustrating. How long has it been? What happened then?";
        assert_eq!(code_reply(r), vec![Strategy::Reflection, Strategy::Questions]);
        assert!(code_reply("").is_empty());
    }

    #[test]
    fn the_primary_strategy_prefers_the_specific_move() {
        assert_eq!(primary_strategy("I'm sorry to hear that. Have you tried talking to her?"), Strategy::Suggestions);
        assert_eq!(primary_strategy("I'm sorry to hear that. How are you holding up?"), Strategy::Questions);
    }

    #[test]
    fn labels_round_trip_through_esconv_names() {
        for s in ALL {
            assert_eq!(Strategy::from_label(s.label()), Some(s));
            let json = serde_json::to_string(&s).unwrap_or_default();
            assert_eq!(json, format!("\"{}\"", s.label()));
        }
        assert_eq!(Strategy::from_label("nonsense"), None);
    }
}
