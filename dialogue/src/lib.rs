//! attune's dialogue engine: the attunement-first turn pipeline that every arm
//! (robot, voice, chatbot) shares, so that embodiment is the only difference
//! between study conditions.
//!
//! # Layout
//! - [`text`] — input sanitising, streaming sentence splitting.
//! - [`lexicon`] — one source for emotion words, advice, minimising and risk cues.
//! - [`crisis`] — deterministic risk grading and crisis state (runs first).
//! - [`reasoner`] — what the participant did this turn.
//! - [`strategy`] — ESConv strategy coder for replies.
//! - [`validator`] — checks each draft before it is spoken.
//! - [`coherence`] — the validator's coherence and honesty detectors.
//! - [`reflect`] — deterministic reflective-listening fallback.
//! - [`config`] — `[llm]` and `[dialogue]` config sections.
//! - [`llm`] — OpenAI-compatible streaming client (retry only before the first token).
//! - [`prompts`] — every prompt text, defined once.
//! - [`policy`] — chooses the reply intent.
//! - [`engine`] — the turn pipeline tying the stages together.
//! - [`fingerprint`] — the engine fingerprint.
//! - [`template`] — placeholder checks for config texts (the crisis template).
//! - [`evalset`] — scoring of the coherence flags on labelled sets and ESConv.
//! - [`identity`] — proof that the local LLM server is the supervised child.
//! - [`memory`] — bounded summaries of earlier sessions.
//! - [`warning_signs`] — the crisis layer's warning-sign categories, grades, sources; risk text normalisation.
//! - [`embed`] — in-process sentence embeddings (all-MiniLM-L6-v2 on candle).
//! - [`semantic`] — the crisis layer's semantic second opinion (exemplars, two tiers).
//! - [`reader`] — the crisis layer's fine-tuned risk reader (trained here, a third opinion).
//! - [`risk_eval`] — scoring the crisis layer on a labelled JSONL set.

pub mod coherence;
pub mod config;
pub mod crisis;
pub mod embed;
pub mod lexicon;
pub mod engine;
pub mod evalset;
pub mod fingerprint;
pub mod identity;
pub mod llm;
pub mod memory;
pub mod policy;
pub mod reader;
pub mod prompts;
pub mod reasoner;
pub mod reflect;
pub mod risk_eval;
pub mod semantic;
pub mod strategy;
pub mod template;
pub mod text;
pub mod validator;
pub mod warning_signs;
