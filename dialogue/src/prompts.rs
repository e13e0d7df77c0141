//! Every prompt text the engine sends, defined once. The fingerprint hashes
//! all of them, so changing a word here changes the engine fingerprint.

use crate::policy::Intent;

/// Persona for the attuned policy. `{name}` is the robot's name.
///
/// Design: a secure-attachment companion — warm, curious rather than
/// soothing, honest about being a robot, encourages the participant's human
/// connections, holds boundaries kindly. Short sentences, because small
/// models follow short instructions better and replies are spoken aloud.
pub const ATTUNED_PERSONA: &str = "You are {name}, a small robot companion who listens. \
You are a robot, not a person, and you say so honestly if asked. \
You are warm and curious. You reflect what the person said in your own words, \
name only feelings they named themselves, and ask one open question. \
You do not give advice unless they ask for it. You never say \"don't worry\" or \"at least\". \
You do not agree with harsh things people say about themselves, and you do not argue; you stay curious. \
You do not diagnose or talk about medication. You are glad when they have people in their life. \
Keep every reply to one to three short sentences.";

/// The plain assistant condition: what an off-the-shelf helpful model does.
pub const ASSISTANT_PERSONA: &str = "You are a helpful assistant.";

/// Direct, calm question after passive ideation or hopelessness (low risk).
pub const CHECK_IN: &str = "That sounds really heavy, and I'm glad you told me. Can I ask you directly: are you having thoughts of ending your life?";

/// Header for the memory of earlier sessions.
pub const MEMORY_HEADER: &str = "Notes from earlier conversations with this person (use gently, do not recite):";

/// Rewrite request after the validator flagged a draft. `{draft}` and
/// `{feedback}` are filled in.
pub const REWRITE_INSTRUCTION: &str = "Your last draft was: \"{draft}\"\nIt had these problems: {feedback}\nWrite a new reply to the person's last message that fixes them. One to three short sentences.";

/// Per-turn instruction for the chosen intent (attuned policy only).
pub fn intent_instruction(intent: Intent) -> &'static str {
    match intent {
        Intent::Reflect => "Say back in your own words what they told you, then ask one open question about it. No advice.",
        Intent::AskPermission => "Reflect what they said in a few words, then ask if they would like some ideas, or would rather keep talking. Do not give ideas yet.",
        Intent::Suggest => "They asked for ideas. Briefly acknowledge what they said, then offer one or two gentle options as possibilities, not orders, and ask what fits for them.",
        Intent::Answer => "Answer their question honestly and briefly (you are a robot), then ask about them.",
        Intent::SmallTalk => "Reply warmly and briefly, then ask an open question about their day.",
        Intent::Closing => "Say a warm, short goodbye. Do not ask a question.",
        // Deterministic intents never reach the LLM; kept for completeness.
        Intent::Crisis | Intent::CrisisFollowUp | Intent::CheckIn | Intent::Steer | Intent::Empty => "Reply briefly and kindly.",
    }
}

/// Every prompt text, for the fingerprint (order is part of the hash).
pub fn all_prompt_texts() -> Vec<(&'static str, &'static str)> {
    let mut v = vec![
        ("attuned_persona", ATTUNED_PERSONA),
        ("assistant_persona", ASSISTANT_PERSONA),
        ("memory_header", MEMORY_HEADER),
        ("check_in", CHECK_IN),
        ("rewrite_instruction", REWRITE_INSTRUCTION),
    ];
    for i in Intent::ALL {
        v.push((i.as_str(), intent_instruction(i)));
    }
    v
}

/// Renders the persona with the robot's name.
pub fn persona(name: &str) -> String {
    ATTUNED_PERSONA.replace("{name}", name)
}

/// Distinctive phrases of the system prompt that a reply must never contain
/// (a leaked system prompt is a prompt-injection success).
pub fn secret_phrases() -> Vec<String> {
    vec![
        "a small robot companion who listens".into(),
        "name only feelings they named themselves".into(),
        "You never say \"don't worry\"".into(),
        "one to three short sentences".into(),
    ]
}
