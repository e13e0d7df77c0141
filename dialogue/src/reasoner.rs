//! Reasoner: what the participant did this turn, which emotions they named
//! themselves, and whether they asked for or consented to suggestions.

use serde::{Deserialize, Serialize};

/// The participant's dialogue act this turn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UserAct {
    /// Shares a feeling or an experience.
    Disclosure,
    /// Asks for advice, suggestions or what to do.
    AdviceRequest,
    /// Asks the robot a question (about itself, facts, the study).
    Question,
    /// Greetings, chit-chat, neutral remarks.
    SmallTalk,
    /// Ends the conversation.
    Closing,
    /// Answers yes/no to something the robot asked (e.g. permission).
    Response,
    /// Nothing usable (empty, noise).
    Empty,
}

/// Context from earlier turns that the reasoner needs.
#[derive(Debug, Clone, Default)]
pub struct ReasonerContext {
    /// The robot's previous reply asked permission to offer a suggestion.
    pub offered_suggestions: bool,
}

/// The reasoner's reading of one participant turn.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Analysis {
    pub user_act: UserAct,
    /// Emotions the participant named themselves, canonical lower-case words
    /// ("sad", "anxious", ...), in order of appearance, no duplicates.
    pub emotions: Vec<String>,
    /// The participant asked for suggestions / advice this turn.
    pub asked_for_suggestions: bool,
    /// The participant said yes to an offer of suggestions.
    pub consented_to_suggestions: bool,
    /// The participant declined suggestions ("no, I just want to vent").
    pub declined_suggestions: bool,
    /// Looks like an attempt to override instructions ("ignore previous ...").
    pub prompt_injection: bool,
    /// Self-critical overgeneralisations or distorted beliefs stated by the
    /// participant ("I always ruin everything"), verbatim snippets.
    pub distortions: Vec<String>,
}

/// Analyses one participant turn.
pub fn analyze(text: &str, ctx: &ReasonerContext) -> Analysis {
    let _ = (text, ctx);
    todo!("reasoner")
}
