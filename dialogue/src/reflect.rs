//! `reflect`: deterministic reflective listening in the ELIZA tradition.
//! Reflects what the person actually said, names only feelings they named,
//! asks open questions, never advises. Fallback whenever the LLM fails and a
//! selectable study condition.

use crate::reasoner::Analysis;

/// Per-session state so consecutive replies vary.
#[derive(Debug, Clone, Default)]
pub struct ReflectState {
    /// Turns answered so far (rotates templates deterministically).
    pub turns: u64,
}

/// Produces a reflective reply to `user_text`.
pub fn reflect_reply(user_text: &str, analysis: &Analysis, state: &mut ReflectState) -> String {
    let _ = (user_text, analysis, state);
    todo!("reflect")
}
