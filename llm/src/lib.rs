//! attune's embedded LLM server: a GGUF model through llama.cpp on the
//! OpenAI-compatible chat-completions API (`stream: true` as SSE).
//!
//! It is a separate process from the controller because `whisper-rs` and
//! `llama-cpp-2` each bundle their own ggml and cannot link into one binary.
//!
//! # Layout
//! - [`api`] — request parsing and validation into a [`api::ChatJob`] (pure).
//! - [`text`] — UTF-8 assembly of token pieces and stop-string matching (pure).
//! - [`sse`] — `chat.completion(.chunk)` JSON and SSE framing (pure).
//! - [`engine`] — llama.cpp on a dedicated thread behind a bounded job queue;
//!   also the in-process generator the benchmark compares against.
//! - [`server`] — axum routes; takes its listener and shutdown signal.
//! - [`bench`] — `attune-llm bench`: HTTP vs in-process figures.

pub mod api;
pub mod bench;
pub mod engine;
pub mod server;
pub mod sse;
pub mod text;
