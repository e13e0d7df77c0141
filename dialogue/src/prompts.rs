//! Every prompt text the engine sends, defined once. The fingerprint hashes
//! all of them, so changing a word here changes the engine fingerprint.

use crate::policy::Intent;

/// Persona for the attuned policy. `{name}` is the robot's name.
///
/// Design: a secure-attachment companion — curious rather than soothing,
/// honest about being a robot, holds boundaries kindly. Written for a 135M
/// model, which copies sentences from its prompt: every line is a plain
/// instruction about *how to reply* in the imperative, with no first-person
/// line and no emotional phrase it could say back. The old ending "You are
/// glad when they have people in their life" came back as "I'm so glad to
/// hear that" after a family fight. Feelings, promises, roles and medicine
/// are covered by the validator, so they are named here only briefly.
pub const ATTUNED_PERSONA: &str = "{name} is a small robot that listens. {name} is not a person, not a doctor and not a therapist. \
Write {name}'s next reply to the user. \
Rules for the reply: \
Use one to three short sentences. \
Repeat back what the user said, in other words. \
Ask one open question about what the user said. \
Talk only about what the user said. \
Give no advice unless the user asks for it. \
Do not name feelings the user did not name. \
Do not talk about medicine. \
Do not make promises. \
Do not talk about a life, a family or feelings of {name}'s own.";

/// The plain assistant condition: what an off-the-shelf helpful model does.
pub const ASSISTANT_PERSONA: &str = "You are a helpful assistant.";

/// Direct, calm question after passive ideation or hopelessness (low risk).
pub const CHECK_IN: &str = "That sounds really heavy, and I'm glad you told me. Can I ask you directly: are you having thoughts of ending your life?";

/// Gentle follow-up when the answer to [`CHECK_IN`] was unclear ("maybe",
/// "I don't know"): the question stays open, asked again without pressure.
pub const CHECK_IN_FOLLOW_UP: &str = "It's okay not to be sure, and you can tell me either way. When things feel this heavy, do thoughts of ending your life come up for you, even now and then?";

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
        ("check_in_follow_up", CHECK_IN_FOLLOW_UP),
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
        "is a small robot that listens".into(),
        "Rules for the reply".into(),
        "Repeat back what the user said".into(),
        "one to three short sentences".into(),
        "Do not name feelings the user did not name".into(),
    ]
}
