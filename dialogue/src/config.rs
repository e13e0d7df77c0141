//! Config sections owned by the dialogue engine: `[llm]` and `[dialogue]`.

use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// Which LLM path answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LlmMode {
    /// The embedded `attune-llm` server, started and supervised by attune.
    Local,
    /// An external OpenAI-compatible server at `base_url`.
    Openai,
    /// No LLM: the deterministic reflective-listening engine.
    Reflect,
}

impl LlmMode {
    /// Name as used on the command line and in the JSON `backend` field.
    pub fn as_str(self) -> &'static str {
        match self {
            LlmMode::Local => "local",
            LlmMode::Openai => "openai",
            LlmMode::Reflect => "reflect",
        }
    }
}

/// `[llm]`: where replies come from and how long we wait for them.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct LlmConfig {
    /// local | openai | reflect; `--llm` overrides it.
    pub mode: LlmMode,
    /// Base URL of an OpenAI-compatible server (mode = openai), e.g.
    /// `http://127.0.0.1:11434/v1`. Ignored for local (attune picks it).
    pub base_url: String,
    /// Model name sent in requests and recorded in the fingerprint.
    pub model: String,
    /// Environment variable holding the API key (never put keys in the file).
    pub api_key_env: String,
    /// TCP connect timeout.
    pub connect_timeout_ms: u64,
    /// Deadline from request to first streamed token.
    pub first_token_timeout_ms: u64,
    /// Deadline for the whole reply.
    pub total_timeout_ms: u64,
    /// Retries, only ever before the first token has arrived.
    pub retries: u32,
    /// The embedded server (mode = local).
    pub local: LocalLlmConfig,
    /// Earlier turns of the session given to this model; overrides
    /// `dialogue.history_turns` (a small model drifts on a long history, a
    /// large one uses it). Unset = `dialogue.history_turns`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub history_turns: Option<usize>,
}

impl Default for LlmConfig {
    fn default() -> Self {
        Self {
            mode: LlmMode::Local,
            base_url: "http://127.0.0.1:11434/v1".into(),
            model: "SmolLM2-135M-Instruct".into(),
            api_key_env: "ATTUNE_LLM_API_KEY".into(),
            connect_timeout_ms: 2_000,
            first_token_timeout_ms: 20_000,
            total_timeout_ms: 60_000,
            retries: 1,
            local: LocalLlmConfig::default(),
            history_turns: None,
        }
    }
}

impl LlmConfig {
    /// Whether requests carry `"exact_reuse": true`: only to the embedded
    /// server (attune-llm's own field), and only when configured.
    pub fn sends_exact_reuse(&self) -> bool {
        self.mode == LlmMode::Local && self.local.exact_reuse
    }

    /// Checks values types cannot; errors name the field.
    pub fn validate(&self) -> Result<(), String> {
        if self.mode == LlmMode::Openai
            && !(self.base_url.starts_with("http://") || self.base_url.starts_with("https://"))
        {
            return Err(format!("field `llm.base_url`: must start with http:// or https://, got {:?}", self.base_url));
        }
        if self.model.trim().is_empty() {
            return Err("field `llm.model`: must not be empty".into());
        }
        for (name, v) in [
            ("llm.connect_timeout_ms", self.connect_timeout_ms),
            ("llm.first_token_timeout_ms", self.first_token_timeout_ms),
            ("llm.total_timeout_ms", self.total_timeout_ms),
        ] {
            if v == 0 {
                return Err(format!("field `{name}`: must be greater than 0"));
            }
        }
        if self.first_token_timeout_ms > self.total_timeout_ms {
            return Err("field `llm.first_token_timeout_ms`: must not exceed llm.total_timeout_ms".into());
        }
        if self.retries > 5 {
            return Err("field `llm.retries`: at most 5".into());
        }
        if self.local.threads > 256 {
            return Err("field `llm.local.threads`: at most 256 (0 = automatic)".into());
        }
        if self.history_turns.is_some_and(|n| n > 64) {
            return Err("field `llm.history_turns`: at most 64".into());
        }
        if self.local.ctx_size < 256 {
            return Err("field `llm.local.ctx_size`: must be at least 256".into());
        }
        Ok(())
    }
}

/// `[llm.local]`: how attune runs its embedded server.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct LocalLlmConfig {
    /// GGUF file; unset means `<data dir>/models/SmolLM2-135M-Instruct.Q4_1.gguf`
    /// where the set-up script puts it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model_path: Option<PathBuf>,
    /// Loopback port; 0 lets attune pick a free one.
    pub port: u16,
    /// CPU threads for generation; 0 = half the CPU cores, at least 1.
    /// Design: llama.cpp's workers spin; on a 2-core machine that also runs
    /// whisper and the audio thread, 2 threads collapsed to ~10 tok/s under
    /// load while 1 thread held ~70 tok/s (measured here).
    pub threads: u32,
    /// Context window in tokens.
    pub ctx_size: u32,
    /// How long to wait for the server to load the model and answer health.
    pub startup_timeout_ms: u64,
    /// Ask the embedded server for exact prefix reuse (`exact_reuse` in the
    /// request): the prompt is decoded in fixed aligned chunks and only whole
    /// chunks are reused, so a reply never depends on what the shared cache
    /// held (another session, an eviction).
    ///
    /// Design: off by default. Plain reuse can flip a greedy near-tie from
    /// the third turn of a session; exact reuse removes that but costs time to
    /// first token (median over turns 2-12 of the scripted session, 1 thread:
    /// 949 ms against 275 ms). A study that wants reproducible replies turns
    /// it on and pays for it; it is part of the fingerprint.
    pub exact_reuse: bool,
}

impl LocalLlmConfig {
    /// The thread count to use: `threads`, or half the cores (at least 1) when 0.
    pub fn effective_threads(&self) -> u32 {
        if self.threads > 0 {
            return self.threads;
        }
        let cores = std::thread::available_parallelism().map(|n| n.get() as u32).unwrap_or(1);
        (cores / 2).max(1)
    }
}

impl Default for LocalLlmConfig {
    fn default() -> Self {
        Self { model_path: None, port: 0, threads: 0, ctx_size: 2048, startup_timeout_ms: 60_000, exact_reuse: false }
    }
}

/// Which dialogue policy runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PolicyKind {
    /// Attunement-first: reflect, validate, ask; validator on every draft.
    Attuned,
    /// Plain helpful assistant, straight to the LLM, no validator.
    Assistant,
}

impl PolicyKind {
    /// Name as used on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            PolicyKind::Attuned => "attuned",
            PolicyKind::Assistant => "assistant",
        }
    }
}

/// Sampling parameters sent with every request (part of the fingerprint).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct SamplingParams {
    /// Softmax temperature.
    pub temperature: f64,
    /// Nucleus sampling mass.
    pub top_p: f64,
    /// Cap on generated tokens per reply (replies must be speakable).
    pub max_tokens: u32,
    /// Fixed seed for reproducible runs; unset = server's choice.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    /// Penalty on tokens the reply already used (llama.cpp's
    /// `repeat_penalty`, 1.0 = off). Unset = [`DEFAULT_LOCAL_REPEAT_PENALTY`]
    /// with the embedded model and nothing sent to other servers (OpenAI's
    /// API rejects the field).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub repeat_penalty: Option<f64>,
}

/// Repetition penalty used with the embedded model when none is configured.
///
/// Design: a mild penalty in the range llama.cpp's own default (1.1) and
/// common chat presets (1.1–1.2) use. In the one 12-turn SmolLM2-135M
/// session run with it here, no sentence was repeated within a reply; a
/// side-by-side sweep (1.0 / 1.1 / 1.15 / 1.3 with `attune eval replies`)
/// is still to be done and may move it.
pub const DEFAULT_LOCAL_REPEAT_PENALTY: f64 = 1.15;

impl SamplingParams {
    /// The repetition penalty to send for `mode`, if any.
    pub fn effective_repeat_penalty(&self, mode: LlmMode) -> Option<f64> {
        match (self.repeat_penalty, mode) {
            (Some(p), _) => Some(p),
            (None, LlmMode::Local) => Some(DEFAULT_LOCAL_REPEAT_PENALTY),
            (None, _) => None,
        }
    }
}

impl Default for SamplingParams {
    fn default() -> Self {
        Self { temperature: 0.6, top_p: 0.9, max_tokens: 96, seed: Some(7), repeat_penalty: None }
    }
}

/// `[dialogue]`: policy, persona, sampling, memory.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct DialogueConfig {
    /// attuned | assistant; `--policy` overrides it.
    pub policy: PolicyKind,
    /// The robot's name in the persona.
    pub robot_name: String,
    /// Sampling parameters.
    pub sampling: SamplingParams,
    /// Participant input beyond this many characters is cut (and logged).
    pub max_input_chars: usize,
    /// Earlier turns of this session included in the prompt.
    pub history_turns: usize,
    /// Summaries of earlier sessions fed into a new one.
    pub memory_sessions: usize,
    /// Cap on one session summary, in characters.
    pub memory_summary_chars: usize,
}

impl Default for DialogueConfig {
    fn default() -> Self {
        Self {
            policy: PolicyKind::Attuned,
            robot_name: "Robin".into(),
            sampling: SamplingParams::default(),
            max_input_chars: 2_000,
            history_turns: 6,
            memory_sessions: 3,
            memory_summary_chars: 400,
        }
    }
}

impl DialogueConfig {
    /// Checks values types cannot; errors name the field.
    pub fn validate(&self) -> Result<(), String> {
        let s = &self.sampling;
        if !(0.0..=2.0).contains(&s.temperature) {
            return Err(format!("field `dialogue.sampling.temperature`: must be within 0..=2, got {}", s.temperature));
        }
        if !(s.top_p > 0.0 && s.top_p <= 1.0) {
            return Err(format!("field `dialogue.sampling.top_p`: must be within (0, 1], got {}", s.top_p));
        }
        if s.repeat_penalty.is_some_and(|p| !(0.5..=3.0).contains(&p)) {
            return Err("field `dialogue.sampling.repeat_penalty`: must be within 0.5..=3 (1 = off)".into());
        }
        if s.max_tokens == 0 || s.max_tokens > 1024 {
            return Err("field `dialogue.sampling.max_tokens`: must be within 1..=1024".into());
        }
        if self.robot_name.trim().is_empty() {
            return Err("field `dialogue.robot_name`: must not be empty".into());
        }
        if self.max_input_chars < 16 {
            return Err("field `dialogue.max_input_chars`: must be at least 16".into());
        }
        if self.memory_summary_chars > 4_000 {
            return Err("field `dialogue.memory_summary_chars`: at most 4000 (memory stays bounded)".into());
        }
        Ok(())
    }
}
