//! Policy: chooses the intent of the reply from the reasoner's reading, the
//! crisis decision and the conversation so far. Pure.

use crate::crisis::{CrisisDecision, Risk};
use crate::reasoner::{Analysis, UserAct};
use serde::{Deserialize, Serialize};

/// What the reply should do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Intent {
    /// Protocol safe-messaging reply (deterministic, no LLM).
    Crisis,
    /// Crisis state still active after a calmer turn: reflect and keep the
    /// resource in view (deterministic, no LLM).
    CrisisFollowUp,
    /// Reflect, validate, ask an open question.
    Reflect,
    /// Reflect, then ask whether they would like ideas.
    AskPermission,
    /// Offer suggestions (asked for, or consented to).
    Suggest,
    /// Answer a question to the robot honestly, then turn back.
    Answer,
    /// Small talk.
    SmallTalk,
    /// Goodbye.
    Closing,
    /// Low risk (passive ideation, hopelessness): reflect and ask directly
    /// about thoughts of suicide (deterministic, no LLM). Asking does not
    /// raise risk and is what safe-messaging guidance recommends.
    CheckIn,
    /// Prompt injection: steer back without following it (deterministic).
    Steer,
    /// Nothing was said (deterministic).
    Empty,
}

impl Intent {
    /// A reply the participant must hear even when they went on talking
    /// before it was spoken (the voice arm withdraws other replies then):
    /// the crisis protocol, its follow-up and the check-in question.
    pub fn must_be_heard(self) -> bool {
        matches!(self, Intent::Crisis | Intent::CrisisFollowUp | Intent::CheckIn)
    }

    /// Every intent, in a fixed order (for the fingerprint).
    pub const ALL: [Intent; 11] = [
        Intent::Crisis,
        Intent::CrisisFollowUp,
        Intent::Reflect,
        Intent::AskPermission,
        Intent::Suggest,
        Intent::Answer,
        Intent::SmallTalk,
        Intent::Closing,
        Intent::CheckIn,
        Intent::Steer,
        Intent::Empty,
    ];

    /// snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Intent::Crisis => "crisis",
            Intent::CrisisFollowUp => "crisis_follow_up",
            Intent::Reflect => "reflect",
            Intent::AskPermission => "ask_permission",
            Intent::Suggest => "suggest",
            Intent::Answer => "answer",
            Intent::SmallTalk => "small_talk",
            Intent::Closing => "closing",
            Intent::CheckIn => "check_in",
            Intent::Steer => "steer",
            Intent::Empty => "empty",
        }
    }

    /// True when the reply is produced without any LLM.
    pub fn is_deterministic(self) -> bool {
        matches!(self, Intent::Crisis | Intent::CrisisFollowUp | Intent::CheckIn | Intent::Steer | Intent::Empty)
    }
}

/// Conversation facts the policy remembers between turns.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct PolicyState {
    /// Disclosures so far this session.
    pub disclosures: u32,
    /// The last reply asked permission to offer ideas.
    pub offered_suggestions: bool,
    /// The participant declined ideas this session (do not keep offering).
    pub declined_suggestions: bool,
    /// The last reply asked directly about thoughts of suicide; an
    /// affirmative answer now escalates to the crisis protocol.
    pub asked_check_in: bool,
    /// A check-in was already asked this session (ask once, not every turn).
    pub checked_in: bool,
}

/// Disclosures after which the robot may ask whether ideas would help.
pub const DISCLOSURES_BEFORE_OFFER: u32 = 3;

/// The policy's decision for one turn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Decision {
    /// What the reply should do.
    pub intent: Intent,
    /// Suggestions may appear in the reply (asked for or consented to).
    pub suggestions_allowed: bool,
}

/// Chooses the reply intent and updates the policy state.
pub fn decide(analysis: &Analysis, crisis: &CrisisDecision, st: &mut PolicyState) -> Decision {
    let offered_before = std::mem::replace(&mut st.offered_suggestions, false);
    if analysis.declined_suggestions {
        st.declined_suggestions = true;
    }
    if crisis.use_protocol_reply {
        return Decision { intent: Intent::Crisis, suggestions_allowed: false };
    }
    st.asked_check_in = false;
    if crisis.crisis_active {
        return Decision { intent: Intent::CrisisFollowUp, suggestions_allowed: false };
    }
    if crisis.risk == Risk::Low && !st.checked_in {
        st.checked_in = true;
        st.asked_check_in = true;
        return Decision { intent: Intent::CheckIn, suggestions_allowed: false };
    }
    if analysis.prompt_injection {
        return Decision { intent: Intent::Steer, suggestions_allowed: false };
    }
    let asked = analysis.asked_for_suggestions || (offered_before && analysis.consented_to_suggestions);
    let intent = match analysis.user_act {
        UserAct::Empty => Intent::Empty,
        _ if asked => Intent::Suggest,
        UserAct::AdviceRequest => Intent::Suggest,
        UserAct::Closing => Intent::Closing,
        UserAct::Question => Intent::Answer,
        UserAct::SmallTalk => Intent::SmallTalk,
        UserAct::Response => Intent::Reflect,
        UserAct::Disclosure => {
            st.disclosures += 1;
            if st.disclosures >= DISCLOSURES_BEFORE_OFFER
                && !st.declined_suggestions
                && crisis.risk == Risk::None
                && st.disclosures % DISCLOSURES_BEFORE_OFFER == 0
            {
                Intent::AskPermission
            } else {
                Intent::Reflect
            }
        }
    };
    if intent == Intent::AskPermission {
        st.offered_suggestions = true;
    }
    Decision { intent, suggestions_allowed: intent == Intent::Suggest }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn analysis(act: UserAct) -> Analysis {
        Analysis {
            user_act: act,
            emotions: vec![],
            asked_for_suggestions: false,
            consented_to_suggestions: false,
            declined_suggestions: false,
            prompt_injection: false,
            distortions: vec![],
        }
    }

    fn calm() -> CrisisDecision {
        CrisisDecision { risk: Risk::None, crisis_active: false, use_protocol_reply: false, alert: false, signals: vec![] }
    }

    #[test]
    fn disclosure_gets_reflection_without_suggestions() {
        let mut st = PolicyState::default();
        let d = decide(&analysis(UserAct::Disclosure), &calm(), &mut st);
        assert_eq!(d.intent, Intent::Reflect);
        assert!(!d.suggestions_allowed);
    }

    #[test]
    fn permission_is_asked_after_several_disclosures_and_consent_unlocks_suggestions() {
        let mut st = PolicyState::default();
        for _ in 0..DISCLOSURES_BEFORE_OFFER - 1 {
            assert_eq!(decide(&analysis(UserAct::Disclosure), &calm(), &mut st).intent, Intent::Reflect);
        }
        assert_eq!(decide(&analysis(UserAct::Disclosure), &calm(), &mut st).intent, Intent::AskPermission);
        let mut yes = analysis(UserAct::Response);
        yes.consented_to_suggestions = true;
        let d = decide(&yes, &calm(), &mut st);
        assert_eq!(d.intent, Intent::Suggest);
        assert!(d.suggestions_allowed);
    }

    #[test]
    fn consent_without_an_offer_does_not_unlock_suggestions() {
        let mut st = PolicyState::default();
        let mut yes = analysis(UserAct::Response);
        yes.consented_to_suggestions = true;
        assert_eq!(decide(&yes, &calm(), &mut st).intent, Intent::Reflect);
    }

    #[test]
    fn declining_ideas_stops_further_offers() {
        let mut st = PolicyState::default();
        let mut no = analysis(UserAct::Response);
        no.declined_suggestions = true;
        decide(&no, &calm(), &mut st);
        for _ in 0..10 {
            assert_eq!(decide(&analysis(UserAct::Disclosure), &calm(), &mut st).intent, Intent::Reflect);
        }
    }

    #[test]
    fn asking_for_advice_gets_suggestions() {
        let mut st = PolicyState::default();
        let d = decide(&analysis(UserAct::AdviceRequest), &calm(), &mut st);
        assert_eq!(d.intent, Intent::Suggest);
        assert!(d.suggestions_allowed);
    }

    #[test]
    fn crisis_overrides_an_advice_request() {
        let mut st = PolicyState::default();
        let c = CrisisDecision { risk: Risk::High, crisis_active: true, use_protocol_reply: true, alert: true, signals: vec![] };
        let d = decide(&analysis(UserAct::AdviceRequest), &c, &mut st);
        assert_eq!(d.intent, Intent::Crisis);
        assert!(!d.suggestions_allowed);
    }

    #[test]
    fn active_crisis_after_a_denial_stays_deterministic() {
        let mut st = PolicyState::default();
        let c = CrisisDecision { risk: Risk::None, crisis_active: true, use_protocol_reply: false, alert: false, signals: vec![] };
        assert_eq!(decide(&analysis(UserAct::SmallTalk), &c, &mut st).intent, Intent::CrisisFollowUp);
    }

    #[test]
    fn low_risk_gets_one_direct_check_in_per_session() {
        let mut st = PolicyState::default();
        let low = CrisisDecision { risk: Risk::Low, crisis_active: false, use_protocol_reply: false, alert: false, signals: vec![] };
        let d = decide(&analysis(UserAct::Disclosure), &low, &mut st);
        assert_eq!(d.intent, Intent::CheckIn);
        assert!(st.asked_check_in);
        let d = decide(&analysis(UserAct::Disclosure), &low, &mut st);
        assert_eq!(d.intent, Intent::Reflect);
        assert!(!st.asked_check_in);
    }

    #[test]
    fn injection_is_steered_not_answered() {
        let mut st = PolicyState::default();
        let mut a = analysis(UserAct::Question);
        a.prompt_injection = true;
        assert_eq!(decide(&a, &calm(), &mut st).intent, Intent::Steer);
    }
}
