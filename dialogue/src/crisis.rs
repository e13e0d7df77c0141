//! Crisis layer: deterministic risk grading that runs first on every turn and
//! needs neither the LLM nor the network.

use serde::{Deserialize, Serialize};

/// Graded risk of a participant turn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Risk {
    None,
    Low,
    High,
    Imminent,
}

impl Risk {
    /// Lower-case name as written in logs and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Risk::None => "none",
            Risk::Low => "low",
            Risk::High => "high",
            Risk::Imminent => "imminent",
        }
    }
}

/// `[crisis]` section of the config: the site's protocol text and resource.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct CrisisConfig {
    /// Name of the crisis resource shown to the participant.
    pub resource_name: String,
    /// How to reach it (phone / text number, URL).
    pub resource_contact: String,
    /// Safe-messaging reply; `{resource_name}` and `{resource_contact}` are filled in.
    pub reply_template: String,
    /// Calm turns (risk none) needed after the last high/imminent turn before
    /// the crisis state clears. A single denial never clears it.
    pub calm_turns_to_clear: u32,
}

impl Default for CrisisConfig {
    fn default() -> Self {
        Self {
            resource_name: "988 Suicide & Crisis Lifeline".into(),
            resource_contact: "call or text 988 (US)".into(),
            reply_template: "I'm really glad you told me. What you're describing sounds serious, and you deserve support from a person right now. I'm a robot, so I can't keep you safe the way a person can. Please reach the {resource_name}: {resource_contact}. If you are in immediate danger, call your local emergency number. I'm also flagging this for the study team so a person can follow up with you.".into(),
            calm_turns_to_clear: 3,
        }
    }
}

/// What the crisis layer concluded for one turn.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CrisisDecision {
    /// Risk of this turn alone.
    pub risk: Risk,
    /// Whether the session is in crisis state after this turn.
    pub crisis_active: bool,
    /// True when the reply must be the protocol's safe-messaging text.
    pub use_protocol_reply: bool,
    /// True when a staff alert must be emitted for this turn.
    pub alert: bool,
    /// Cue categories that matched (for the log), e.g. "explicit_ideation".
    pub signals: Vec<String>,
}

/// Per-session crisis state machine. Pure: feed it turns, read decisions.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct CrisisTracker {
    /// Whether the session is in crisis state.
    pub active: bool,
    /// Consecutive calm turns since the last high/imminent turn.
    pub calm_streak: u32,
    /// Highest risk seen this session.
    pub peak: Option<Risk>,
}

impl CrisisTracker {
    /// Grades `text` and advances the state machine.
    ///
    /// Design: the crisis state is entered on any high/imminent turn and
    /// left only after `calm_turns_to_clear` consecutive turns graded none
    /// that are neither denials ("never mind, I'm fine", "just kidding") nor
    /// empty; a low turn restarts the count. So one retraction never clears
    /// it, whatever the config says.
    pub fn on_turn(&mut self, text: &str, cfg: &CrisisConfig) -> CrisisDecision {
        let a = assess(text, self.active);
        let mut signals: Vec<String> = a.signals.iter().map(|s| s.to_string()).collect();
        if a.risk >= Risk::High {
            self.active = true;
            self.calm_streak = 0;
        } else if self.active {
            let substantive = text.chars().any(char::is_alphanumeric);
            if a.risk == Risk::Low {
                self.calm_streak = 0;
            } else if a.denial {
                signals.push("denial_while_in_crisis".into());
            } else if substantive {
                self.calm_streak = self.calm_streak.saturating_add(1);
            }
            if self.calm_streak >= cfg.calm_turns_to_clear.max(1) {
                self.active = false;
                self.calm_streak = 0;
                signals.push("crisis_cleared".into());
            }
        }
        self.peak = Some(self.peak.map_or(a.risk, |p| p.max(a.risk)));
        let severe = a.risk >= Risk::High;
        CrisisDecision { risk: a.risk, crisis_active: self.active, use_protocol_reply: severe, alert: severe, signals }
    }
}

/// The stateless reading of one turn.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assessment {
    /// Risk of this text alone (given whether a crisis is already active).
    pub risk: Risk,
    /// Cue categories that matched, in a fixed order.
    pub signals: Vec<&'static str>,
    /// The text retracts or plays down something said before.
    pub denial: bool,
}

/// Grades one text. `in_crisis` says whether the session is already in
/// crisis state: then a plan, means or goodbye on its own escalates, since
/// the ideation was stated on an earlier turn.
///
/// Design (grading, after the Columbia scale's ladder): passive wishes,
/// hopelessness or past self-harm are `low`; current explicit ideation or
/// self-harm, or a farewell on its own, are `high`; ideation together with
/// intent, a plan, access to means, a time frame or goodbye behaviour is
/// `imminent`. Idioms ("killing me", "dying to"), accidents ("cut myself
/// shaving"), negations ("I'm not suicidal") and deaths of other people do
/// not count.
pub fn assess(text: &str, in_crisis: bool) -> Assessment {
    use crate::lexicon::*;
    let mut signals: Vec<&'static str> = Vec::new();
    let mut explicit = false;
    let mut passive = false;
    let mut self_harm = false;
    let mut history = false;
    let mut hopeless = false;
    let mut plan = false;
    let mut means = false;
    let mut timeline = false;
    let mut intent = false;
    let mut goodbye = false;
    for sentence in crate::text::split_sentences(text) {
        let s = sentence.as_str();
        let excluded: Vec<(usize, usize)> = RISK_ACCIDENT_RE.find_iter(s).map(|m| (m.start(), m.end())).collect();
        let is_excluded = |st: usize, en: usize| excluded.iter().any(|&(a, b)| st < b && a < en);
        let is_history = RISK_HISTORY_RE.is_match(s);
        let live = |re: &regex::Regex, check_subject: bool| -> bool {
            re.find_iter(s).any(|m| {
                if is_excluded(m.start(), m.end()) || negated_before(s, m.start(), 5) {
                    return false;
                }
                let word = m.as_str().to_lowercase();
                if word == "suicide" {
                    // The noun alone is often a topic ("a film about suicide");
                    // it counts only with a first-person verb of thinking or doing.
                    let before = tokens(clause_before(s, m.start()));
                    let after = tokens(&s[m.end()..ceil_char_boundary(s, m.end() + 40)]);
                    let verb = before.iter().rev().take(4).any(|w| {
                        matches!(w.as_str(), "thinking" | "thought" | "think" | "considering" | "considered" | "contemplating" | "commit" | "committing" | "attempt" | "attempted" | "attempting" | "planning" | "plan" | "want" | "wanna" | "tried" | "try" | "my")
                    }) || after.first().is_some_and(|w| matches!(w.as_str(), "note" | "plan" | "letter"));
                    if !verb {
                        return false;
                    }
                }
                !check_subject || matches!(subject_before(s, m.start()), Subject::Speaker | Subject::Unstated)
            })
        };
        let sentence_explicit = live(&RISK_EXPLICIT_RE, true);
        let sentence_harm = live(&RISK_SELF_HARM_RE, false);
        if (sentence_explicit || sentence_harm) && is_history {
            history = true;
        } else {
            explicit |= sentence_explicit;
            self_harm |= sentence_harm;
        }
        passive |= live(&RISK_PASSIVE_RE, true);
        hopeless |= live(&RISK_HOPELESS_RE, true);
        plan |= live(&RISK_PLAN_RE, true);
        means |= live(&RISK_MEANS_RE, true);
        timeline |= live(&RISK_TIMELINE_RE, false);
        intent |= live(&RISK_INTENT_RE, false);
        goodbye |= live(&RISK_GOODBYE_RE, false);
    }
    let ideation = explicit || self_harm || passive || intent;
    let context = ideation || in_crisis;
    // A plan or means counts only where there is something to plan: a
    // "plan for the weekend" or a kitchen knife is not a risk cue.
    let plan = plan && context;
    let means = means && context;
    let timeline = timeline && (explicit || intent || self_harm);
    let mut risk = Risk::None;
    if hopeless || passive || history {
        risk = Risk::Low;
    }
    if explicit || self_harm || goodbye {
        risk = Risk::High;
    }
    if ideation && (intent || plan || means || timeline || goodbye) {
        risk = Risk::Imminent;
    }
    if in_crisis && (plan || means || goodbye || intent) {
        risk = Risk::Imminent;
    }
    for (on, name) in [
        (explicit, "explicit_ideation"),
        (passive, "passive_ideation"),
        (self_harm, "self_harm"),
        (history, "history"),
        (hopeless, "hopelessness"),
        (intent, "intent"),
        (plan, "plan"),
        (means, "means"),
        (timeline, "timeline"),
        (goodbye, "goodbye"),
    ] {
        if on {
            signals.push(name);
        }
    }
    if RISK_THIRD_PARTY_RE.is_match(text) {
        signals.push("other_person_at_risk");
    }
    let denial = risk == Risk::None && DENIAL_RE.is_match(text);
    if denial {
        signals.push("denial");
    }
    Assessment { risk, signals, denial }
}

/// Renders the protocol reply for the configured resource.
pub fn protocol_reply(cfg: &CrisisConfig) -> String {
    cfg.reply_template
        .replace("{resource_name}", &cfg.resource_name)
        .replace("{resource_contact}", &cfg.resource_contact)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn risk(text: &str) -> Risk {
        assess(text, false).risk
    }

    fn run(turns: &[&str]) -> Vec<CrisisDecision> {
        let cfg = CrisisConfig::default();
        let mut t = CrisisTracker::default();
        turns.iter().map(|x| t.on_turn(x, &cfg)).collect()
    }

    #[test]
    fn idiom_about_an_exam_is_not_risk() {
        assert_eq!(risk("This exam is killing me"), Risk::None);
        assert_eq!(risk("my feet are killing me after that hike"), Risk::None);
    }

    #[test]
    fn idioms_about_coffee_and_dying_to_see_are_not_risk() {
        for t in [
            "I could kill for a coffee right now",
            "I'm dying to see the new film",
            "I nearly died laughing",
            "I could die of embarrassment",
            "I'd rather die than sing in public",
            "I'm killing myself at the gym lately",
            "I could have killed myself for forgetting her birthday",
        ] {
            assert_eq!(risk(t), Risk::None, "{t}");
        }
    }

    #[test]
    fn deaths_not_about_the_speaker_are_not_risk() {
        for t in [
            "My grandma died last year",
            "The character kills himself in the book",
            "we watched a documentary about suicide prevention",
            "I read a novel about suicide",
            "my friend committed suicide two years ago and I miss him",
            "I'm worried my brother is suicidal",
            "He wants to die at home, not in hospital",
        ] {
            assert_eq!(risk(t), Risk::None, "{t}");
        }
    }

    #[test]
    fn explicit_ideation_is_high() {
        for t in ["I want to kill myself", "I just want to die", "I've been feeling suicidal", "I keep thinking about suicide", "I want to end my life", "I'd be better off dead", "I don't want to live anymore"] {
            assert_eq!(risk(t), Risk::High, "{t}");
        }
    }

    #[test]
    fn negated_ideation_is_not_risk() {
        for t in ["I'm not suicidal, just tired", "I would never kill myself", "I don't want to die, I'm just scared of the surgery"] {
            assert_eq!(risk(t), Risk::None, "{t}");
        }
    }

    #[test]
    fn not_sure_i_want_to_live_is_not_a_negation() {
        assert!(risk("I'm not sure I want to live anymore") >= Risk::Low);
        assert!(risk("I don't know if I want to be alive") >= Risk::Low);
    }

    #[test]
    fn cannot_stop_thinking_about_it_is_still_ideation() {
        assert_eq!(risk("I can't stop thinking about killing myself"), Risk::High);
    }

    #[test]
    fn passive_ideation_is_low() {
        for t in ["Sometimes I wish I could go to sleep and never wake up", "Everyone would be better off without me", "I wish I'd never been born", "There's no point in living"] {
            assert_eq!(risk(t), Risk::Low, "{t}");
        }
    }

    #[test]
    fn hopelessness_alone_is_low() {
        assert_eq!(risk("I feel completely hopeless about my job"), Risk::Low);
    }

    #[test]
    fn current_self_harm_is_high_but_accidents_are_not() {
        assert_eq!(risk("I cut myself last night"), Risk::High);
        assert_eq!(risk("I've been hurting myself again"), Risk::High);
        assert_eq!(risk("I cut myself shaving this morning"), Risk::None);
        assert_eq!(risk("I hurt myself playing football"), Risk::None);
    }

    #[test]
    fn past_self_harm_is_history_and_low() {
        let a = assess("I used to cut myself when I was a teenager", false);
        assert_eq!(a.risk, Risk::Low);
        assert!(a.signals.contains(&"history"));
    }

    #[test]
    fn ideation_with_a_plan_or_means_or_time_is_imminent() {
        for t in [
            "I want to kill myself and I have a plan",
            "I want to die. I've been saving up my pills.",
            "I'm going to kill myself tonight",
            "I want to end my life, I bought a rope",
            "I don't want to live anymore. This is goodbye.",
        ] {
            assert_eq!(risk(t), Risk::Imminent, "{t}");
        }
    }

    #[test]
    fn a_plan_for_the_weekend_is_not_a_plan_to_die() {
        assert_eq!(risk("I have a plan for the weekend, I bought a knife for the kitchen"), Risk::None);
    }

    #[test]
    fn goodbye_behaviour_alone_is_high() {
        assert_eq!(risk("I've been giving away my things. You won't hear from me again."), Risk::High);
        assert_eq!(risk("Goodbye, see you tomorrow!"), Risk::None);
    }

    #[test]
    fn means_after_earlier_ideation_escalates_to_imminent() {
        let d = run(&["I want to die", "I have the pills next to me"]);
        assert_eq!(d[0].risk, Risk::High);
        assert_eq!(d[1].risk, Risk::Imminent);
    }

    #[test]
    fn threatening_someone_else_in_jest_is_not_intent() {
        assert_eq!(risk("I'm going to kill my brother if he eats my cake again"), Risk::None);
    }

    #[test]
    fn an_overdose_is_high() {
        assert_eq!(risk("I took too many pills last night"), Risk::High);
    }

    #[test]
    fn not_wanting_to_be_here_anymore_or_wake_up_is_at_least_low() {
        for t in ["i dont want to be here anymore", "Honestly I'd rather not wake up tomorrow", "I want to disappear", "I feel like giving up"] {
            assert!(risk(t) >= Risk::Low, "{t}");
        }
        assert_eq!(risk("I don't want to be here at this party"), Risk::None);
    }

    #[test]
    fn someone_else_at_risk_is_a_signal_but_not_the_speakers_risk() {
        let a = assess("She said she wants to kill herself and I don't know what to do", false);
        assert_eq!(a.risk, Risk::None);
        assert!(a.signals.contains(&"other_person_at_risk"));
    }

    #[test]
    fn high_risk_uses_the_protocol_reply_and_alerts() {
        let d = run(&["I want to kill myself"]);
        assert!(d[0].use_protocol_reply && d[0].alert && d[0].crisis_active);
        assert!(d[0].signals.iter().any(|s| s == "explicit_ideation"));
    }

    #[test]
    fn low_risk_neither_alerts_nor_enters_crisis() {
        let d = run(&["I wish I could disappear forever"]);
        assert_eq!(d[0].risk, Risk::Low);
        assert!(!d[0].use_protocol_reply && !d[0].alert && !d[0].crisis_active);
    }

    #[test]
    fn single_denial_does_not_clear_crisis() {
        let d = run(&["I want to kill myself", "never mind, I'm fine"]);
        assert!(d[1].crisis_active);
        assert_eq!(d[1].risk, Risk::None);
        let d = run(&["I want to die", "just kidding", "just kidding", "just kidding", "just kidding"]);
        assert!(d.iter().all(|x| x.crisis_active));
    }

    #[test]
    fn crisis_clears_only_after_the_configured_calm_turns() {
        let d = run(&["I want to kill myself", "I talked to my sister", "we had dinner", "then I watched a film"]);
        assert!(d[1].crisis_active && d[2].crisis_active);
        assert!(!d[3].crisis_active);
    }

    #[test]
    fn a_low_turn_restarts_the_calm_count() {
        let d = run(&["I want to kill myself", "ok", "ok", "I still feel hopeless", "ok", "ok", "ok"]);
        assert!(d[5].crisis_active);
        assert!(!d[6].crisis_active);
    }

    #[test]
    fn empty_turns_do_not_count_as_calm() {
        let d = run(&["I want to kill myself", "", "   ", "...", "ok"]);
        assert!(d[4].crisis_active);
    }

    #[test]
    fn calm_turns_zero_in_config_still_needs_one_real_calm_turn() {
        let cfg = CrisisConfig { calm_turns_to_clear: 0, ..CrisisConfig::default() };
        let mut t = CrisisTracker::default();
        t.on_turn("I want to die", &cfg);
        assert!(t.on_turn("never mind", &cfg).crisis_active);
        assert!(!t.on_turn("I went for a walk", &cfg).crisis_active);
    }

    #[test]
    fn peak_remembers_the_highest_risk() {
        let cfg = CrisisConfig::default();
        let mut t = CrisisTracker::default();
        t.on_turn("hello", &cfg);
        t.on_turn("I'm going to kill myself tonight", &cfg);
        t.on_turn("ok", &cfg);
        assert_eq!(t.peak, Some(Risk::Imminent));
    }

    #[test]
    fn internet_slang_for_suicide_is_recognised() {
        assert_eq!(risk("honestly i just want to kms"), Risk::High);
        assert_eq!(risk("I want to unalive myself"), Risk::High);
    }

    #[test]
    fn curly_apostrophes_and_caps_are_read_like_plain_text() {
        assert_eq!(risk("I DON’T WANT TO LIVE ANYMORE"), Risk::High);
    }

    #[test]
    fn protocol_reply_fills_in_the_resource() {
        let r = protocol_reply(&CrisisConfig::default());
        assert!(r.contains("988") && !r.contains('{'));
    }
}
