//! Validator: checks every draft reply before it is shown or spoken.

use crate::reasoner::Analysis;
use serde::{Deserialize, Serialize};

/// What a draft did wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Flag {
    /// Advice or suggestions the participant did not ask or consent to.
    UnsolicitedAdvice,
    /// States as fact a feeling the participant never expressed.
    AttributedEmotion,
    /// Minimises or soothes the emotion away ("don't worry", "at least").
    Minimising,
    /// Agrees with a self-critical overgeneralisation or false belief.
    Sycophancy,
    /// Claims to be human, or otherwise breaks the robot persona.
    PersonaBreak,
    /// Promises, exclusive attachment, diagnoses or medication advice.
    BoundaryBreak,
    /// Leaks the system prompt or follows injected instructions.
    PromptLeak,
    /// Too long to speak comfortably.
    TooLong,
    /// Empty or unusable draft.
    Empty,
}

/// `[validator]` section of the config.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ValidatorConfig {
    /// Longest acceptable reply, in words.
    pub max_words: u32,
    /// Longest acceptable reply, in sentences.
    pub max_sentences: u32,
}

impl Default for ValidatorConfig {
    fn default() -> Self {
        Self { max_words: 70, max_sentences: 4 }
    }
}

/// One problem found in a draft.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    pub flag: Flag,
    /// The words in the draft that triggered it.
    pub evidence: String,
    /// Instruction for the rewrite ("do not give advice; reflect instead").
    pub feedback: String,
}

/// Everything the validator looks at.
#[derive(Debug, Clone)]
pub struct ValidationInput<'a> {
    /// The draft reply.
    pub reply: &'a str,
    /// What the participant said this turn.
    pub user_text: &'a str,
    /// The reasoner's reading of it.
    pub analysis: &'a Analysis,
    /// Earlier participant turns of this session (for emotions named before).
    pub earlier_user_texts: &'a [String],
    /// Suggestions are allowed this turn (asked for or consented to).
    pub suggestions_allowed: bool,
    /// Phrases of the system prompt that must never appear in a reply.
    pub secret_phrases: &'a [String],
}

/// Checks a draft; an empty result means it may be spoken.
pub fn validate(input: &ValidationInput<'_>, cfg: &ValidatorConfig) -> Vec<Finding> {
    let _ = (input, cfg);
    todo!("validator")
}
