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
            reply_template: "I'm really glad you told me. What you're describing sounds serious, and you deserve support from a person right now. I'm a robot, so I can't keep you safe the way a person can. Please reach the {resource_name}: {resource_contact}. If you are in immediate danger, call your local emergency number. I've also let the study staff know so someone can check in with you.".into(),
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
    pub fn on_turn(&mut self, text: &str, cfg: &CrisisConfig) -> CrisisDecision {
        let _ = (text, cfg);
        todo!("crisis layer")
    }
}

/// Renders the protocol reply for the configured resource.
pub fn protocol_reply(cfg: &CrisisConfig) -> String {
    cfg.reply_template
        .replace("{resource_name}", &cfg.resource_name)
        .replace("{resource_contact}", &cfg.resource_contact)
}
