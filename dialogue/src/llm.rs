//! Client for any OpenAI-compatible chat-completions server with SSE streaming
//! (vLLM, Ollama, llama.cpp's server, attune's own `attune-llm`).
//!
//! Design: one request path for every arm. Retries happen only before the
//! first token has arrived, so a participant never hears a reply restart from
//! the beginning; after the first token a failure is returned with the partial
//! text and the engine decides what to do with it.

use crate::config::{LlmConfig, SamplingParams};
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// One chat message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatMessage {
    /// "system" | "user" | "assistant".
    pub role: String,
    /// The text.
    pub content: String,
}

impl ChatMessage {
    /// A message with the given role.
    pub fn new(role: &str, content: impl Into<String>) -> Self {
        Self { role: role.to_string(), content: content.into() }
    }
}

/// What went wrong talking to the LLM, by layer.
#[derive(Debug, thiserror::Error)]
pub enum LlmError {
    /// The HTTP client could not be built (bad URL, TLS set-up).
    #[error("LLM client set-up failed: {0}")]
    Setup(String),
    /// Could not connect or send the request.
    #[error("cannot reach the LLM at {url}: {reason}")]
    Connect { url: String, reason: String },
    /// The server answered with an error status.
    #[error("LLM server answered HTTP {status}: {body}")]
    Status { status: u16, body: String },
    /// No token within the first-token deadline.
    #[error("no token from the LLM within {0} ms")]
    FirstTokenTimeout(u64),
    /// The reply did not finish within the total deadline.
    #[error("LLM reply exceeded the total deadline of {timeout_ms} ms")]
    TotalTimeout { timeout_ms: u64, partial: String },
    /// The stream broke or carried something we cannot read.
    #[error("LLM stream failed: {reason}")]
    Stream { reason: String, partial: String },
    /// The caller cancelled the request.
    #[error("LLM request cancelled")]
    Cancelled { partial: String },
    /// The server on the port could not prove it is the supervised
    /// `attune-llm`; nothing was sent to it.
    #[error("refusing the LLM server at {url}: {reason}")]
    Untrusted { url: String, reason: String },
}

impl LlmError {
    /// Text already received before the failure (empty if none).
    pub fn partial(&self) -> &str {
        match self {
            LlmError::TotalTimeout { partial, .. }
            | LlmError::Stream { partial, .. }
            | LlmError::Cancelled { partial } => partial,
            _ => "",
        }
    }

    /// Short machine-readable kind for logs.
    pub fn kind(&self) -> &'static str {
        match self {
            LlmError::Setup(_) => "setup",
            LlmError::Connect { .. } => "connect",
            LlmError::Status { .. } => "status",
            LlmError::FirstTokenTimeout(_) => "first_token_timeout",
            LlmError::TotalTimeout { .. } => "total_timeout",
            LlmError::Stream { .. } => "stream",
            LlmError::Cancelled { .. } => "cancelled",
            LlmError::Untrusted { .. } => "untrusted",
        }
    }
}

/// A finished (or deliberately stopped) completion.
#[derive(Debug, Clone, PartialEq)]
pub struct Completion {
    /// All text received.
    pub text: String,
    /// Request start → first content token, in ms.
    pub first_token_ms: u64,
    /// Request start → end of stream, in ms.
    pub total_ms: u64,
    /// The server's finish reason ("stop", "length"), or "stopped" when the
    /// caller's delta callback asked to stop.
    pub finish_reason: String,
    /// Attempts made before the first token arrived (1 = no retry).
    pub attempts: u32,
}

/// What a delta callback wants next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    /// Keep streaming.
    Continue,
    /// Stop generating: the caller has what it needs (or found a problem).
    Stop,
}

/// Handle to one OpenAI-compatible server. Cheap to clone.
#[derive(Debug, Clone)]
pub struct LlmClient {
    /// Shared connection pool.
    http: reqwest::Client,
    /// `.../v1` base; `/chat/completions` is appended.
    base_url: String,
    /// Model name sent with each request.
    model: String,
    /// Bearer key, read from the environment variable named in config.
    api_key: Option<String>,
    /// First-token deadline.
    first_token_timeout: Duration,
    /// Whole-reply deadline.
    total_timeout: Duration,
    /// Retries before the first token.
    retries: u32,
    /// Secret shared with a supervised `attune-llm` (see
    /// [`crate::identity`]): the server must prove it holds it before any
    /// request is sent, and every request carries it as the bearer token.
    server_token: Option<String>,
    /// Sends `"exact_reuse": true` (only ever to the embedded server, whose
    /// own field it is; see [`crate::config::LocalLlmConfig::exact_reuse`]).
    exact_reuse: bool,
}

impl LlmClient {
    /// Builds a client for `base_url` with the timeouts and model in `cfg`.
    pub fn new(cfg: &LlmConfig, base_url: &str) -> Result<Self, LlmError> {
        let base = base_url.trim_end_matches('/').to_string();
        let url = reqwest::Url::parse(&base).map_err(|e| LlmError::Setup(format!("bad base URL {base:?}: {e}")))?;
        let mut b = reqwest::Client::builder().connect_timeout(Duration::from_millis(cfg.connect_timeout_ms));
        let loopback = matches!(url.host_str(), Some("127.0.0.1") | Some("localhost") | Some("[::1]") | Some("::1"));
        if loopback {
            // A proxy from the environment must never intercept the local model.
            b = b.no_proxy();
        }
        let http = b.build().map_err(|e| LlmError::Setup(e.to_string()))?;
        let api_key = std::env::var(&cfg.api_key_env).ok().filter(|k| !k.trim().is_empty());
        Ok(Self {
            http,
            base_url: base,
            model: cfg.model.clone(),
            api_key,
            first_token_timeout: Duration::from_millis(cfg.first_token_timeout_ms),
            total_timeout: Duration::from_millis(cfg.total_timeout_ms),
            retries: cfg.retries,
            server_token: None,
            exact_reuse: cfg.sends_exact_reuse(),
        })
    }

    /// Requires the server to prove it holds `token` before each request
    /// (a fresh challenge on `/health`), and sends it as the bearer token.
    pub fn with_server_token(mut self, token: impl Into<String>) -> Self {
        self.server_token = Some(token.into());
        self
    }

    /// Asks the server for a proof of the shared secret over a fresh
    /// challenge; `Err` when it cannot give one (a stranger on the port).
    async fn verify_server(&self, token: &str, deadline: Instant) -> Result<(), LlmError> {
        let root = self.base_url.trim_end_matches("/v1");
        let challenge = crate::identity::random_hex(16).map_err(|e| LlmError::Setup(format!("no randomness for the challenge: {e}")))?;
        let url = format!("{root}/health?challenge={challenge}");
        let check = async {
            let resp = self.http.get(&url).send().await.map_err(|e| LlmError::Connect { url: url.clone(), reason: error_chain(&e) })?;
            let status = resp.status();
            let body: serde_json::Value = resp.json().await.unwrap_or(serde_json::Value::Null);
            let proof = body["proof"].as_str().unwrap_or("");
            let want = crate::identity::health_proof(token, &challenge);
            if status.is_success() && crate::identity::constant_time_eq(proof.as_bytes(), want.as_bytes()) {
                return Ok(());
            }
            let reason = if proof.is_empty() {
                format!("it answered /health with HTTP {} but no proof of the shared secret; it is not the attune-llm this session started", status.as_u16())
            } else {
                "its /health proof does not match the shared secret; it is not the attune-llm this session started".to_string()
            };
            tracing::error!(url = %self.base_url, "{reason}; no participant text is sent to it");
            Err(LlmError::Untrusted { url: self.base_url.clone(), reason })
        };
        match tokio::time::timeout_at(deadline.into(), check).await {
            Ok(r) => r,
            Err(_) => Err(LlmError::FirstTokenTimeout(self.first_token_timeout.as_millis() as u64)),
        }
    }

    /// The server's base URL.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// Streams a chat completion. `on_delta` sees each content delta and may
    /// ask to stop early. Retries (up to `retries`) only before the first
    /// token; deadlines cover connect + first token and the whole reply.
    pub async fn stream_chat(
        &self,
        messages: &[ChatMessage],
        params: &SamplingParams,
        cancel: &CancellationToken,
        on_delta: &mut (dyn FnMut(&str) -> Flow + Send),
    ) -> Result<Completion, LlmError> {
        let start = Instant::now();
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            match self.attempt(messages, params, cancel, on_delta, start, attempt).await {
                Ok(c) => return Ok(c),
                Err(AttemptError::BeforeFirstToken(e)) => {
                    let retryable = !matches!(e, LlmError::Cancelled { .. } | LlmError::Setup(_) | LlmError::Untrusted { .. })
                        && !matches!(e, LlmError::Status { status, .. } if (400..500).contains(&status) && status != 429 && status != 408);
                    let deadline_left = self.first_token_timeout.saturating_sub(start.elapsed());
                    if attempt > self.retries || !retryable || deadline_left.is_zero() {
                        return Err(e);
                    }
                    tracing::warn!(attempt, error = %e, "LLM request failed before the first token; retrying");
                    tokio::time::sleep(Duration::from_millis(100).min(deadline_left)).await;
                }
                Err(AttemptError::AfterFirstToken(e)) => return Err(e),
            }
        }
    }

    async fn attempt(
        &self,
        messages: &[ChatMessage],
        params: &SamplingParams,
        cancel: &CancellationToken,
        on_delta: &mut (dyn FnMut(&str) -> Flow + Send),
        start: Instant,
        attempt: u32,
    ) -> Result<Completion, AttemptError> {
        let before = AttemptError::BeforeFirstToken;
        let url = format!("{}/chat/completions", self.base_url);
        let mut body = serde_json::json!({
            "model": self.model,
            "messages": messages,
            "stream": true,
            "temperature": params.temperature,
            "top_p": params.top_p,
            "max_tokens": params.max_tokens,
        });
        if let Some(seed) = params.seed {
            body["seed"] = serde_json::json!(seed);
        }
        if let Some(p) = params.repeat_penalty {
            body["repeat_penalty"] = serde_json::json!(p);
        }
        if self.exact_reuse {
            body["exact_reuse"] = serde_json::json!(true);
        }
        let first_deadline = start + self.first_token_timeout;
        let mut req = self.http.post(&url).json(&body);
        if let Some(token) = &self.server_token {
            // Design: the identity check comes first, so a stranger on the
            // port never sees the prompt, the participant's words or the secret.
            tokio::select! {
                _ = cancel.cancelled() => return Err(before(LlmError::Cancelled { partial: String::new() })),
                r = self.verify_server(token, first_deadline) => r.map_err(before)?,
            }
            req = req.bearer_auth(token);
        } else if let Some(k) = &self.api_key {
            req = req.bearer_auth(k);
        }
        let total_deadline = start + self.total_timeout;
        let ft_ms = self.first_token_timeout.as_millis() as u64;

        let send = tokio::time::timeout_at(first_deadline.into(), req.send());
        let resp = tokio::select! {
            _ = cancel.cancelled() => return Err(before(LlmError::Cancelled { partial: String::new() })),
            r = send => match r {
                Err(_) => return Err(before(LlmError::FirstTokenTimeout(ft_ms))),
                Ok(Err(e)) => return Err(before(LlmError::Connect { url: url.clone(), reason: error_chain(&e) })),
                Ok(Ok(r)) => r,
            }
        };
        let status = resp.status();
        if !status.is_success() {
            let body = tokio::time::timeout(Duration::from_secs(2), resp.text()).await.ok().and_then(|r| r.ok()).unwrap_or_default();
            let body: String = body.chars().take(500).collect();
            return Err(before(LlmError::Status { status: status.as_u16(), body }));
        }

        let mut stream = resp.bytes_stream();
        let mut parser = SseParser::default();
        let mut text = String::new();
        let mut first_token_ms: Option<u64> = None;
        let mut finish_reason = String::new();
        loop {
            let deadline = if first_token_ms.is_none() { first_deadline } else { total_deadline };
            let next = tokio::select! {
                _ = cancel.cancelled() => {
                    let e = LlmError::Cancelled { partial: text.clone() };
                    return Err(if first_token_ms.is_none() { before(e) } else { AttemptError::AfterFirstToken(e) });
                }
                n = tokio::time::timeout_at(deadline.into(), stream.next()) => n,
            };
            let chunk = match next {
                Err(_) => {
                    return Err(match first_token_ms {
                        None => before(LlmError::FirstTokenTimeout(ft_ms)),
                        Some(_) => AttemptError::AfterFirstToken(LlmError::TotalTimeout {
                            timeout_ms: self.total_timeout.as_millis() as u64,
                            partial: text,
                        }),
                    })
                }
                Ok(None) => {
                    // Stream ended without [DONE]: accept what we have if any
                    // content arrived, otherwise it is a broken reply.
                    if first_token_ms.is_none() {
                        return Err(before(LlmError::Stream { reason: "stream ended before any content".into(), partial: String::new() }));
                    }
                    if finish_reason.is_empty() {
                        finish_reason = "eof".into();
                    }
                    break;
                }
                Ok(Some(Err(e))) => {
                    let err = LlmError::Stream { reason: error_chain(&e), partial: text.clone() };
                    return Err(if first_token_ms.is_none() { before(err) } else { AttemptError::AfterFirstToken(err) });
                }
                Ok(Some(Ok(bytes))) => bytes,
            };
            let mut stop = false;
            for ev in parser.push(&chunk) {
                match ev {
                    SseEvent::Done => {
                        stop = true;
                        if finish_reason.is_empty() {
                            finish_reason = "stop".into();
                        }
                    }
                    SseEvent::Error(msg) => {
                        let err = LlmError::Stream { reason: format!("server error in stream: {msg}"), partial: text.clone() };
                        return Err(if first_token_ms.is_none() { before(err) } else { AttemptError::AfterFirstToken(err) });
                    }
                    SseEvent::Delta { content, finish } => {
                        if let Some(f) = finish {
                            finish_reason = f;
                        }
                        // Design: the same character rule as participant
                        // input, before anything sees the draft (validator,
                        // terminal, JSON, store, TTS).
                        let content = crate::text::strip_controls(&content);
                        if !content.is_empty() {
                            if first_token_ms.is_none() {
                                first_token_ms = Some(start.elapsed().as_millis() as u64);
                            }
                            text.push_str(&content);
                            if on_delta(&content) == Flow::Stop {
                                finish_reason = "stopped".into();
                                stop = true;
                                break;
                            }
                        }
                    }
                    SseEvent::Malformed(line) => {
                        tracing::warn!(line = %line.chars().take(200).collect::<String>(), "ignoring malformed SSE data line");
                    }
                }
            }
            if stop {
                break;
            }
        }
        Ok(Completion {
            text,
            first_token_ms: first_token_ms.unwrap_or_else(|| start.elapsed().as_millis() as u64),
            total_ms: start.elapsed().as_millis() as u64,
            finish_reason,
            attempts: attempt,
        })
    }
}

enum AttemptError {
    BeforeFirstToken(LlmError),
    AfterFirstToken(LlmError),
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(inner) = src {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        src = inner.source();
    }
    s
}

/// One parsed server-sent event of a chat-completions stream.
#[derive(Debug, Clone, PartialEq)]
pub enum SseEvent {
    /// A content delta (possibly empty) and maybe a finish reason.
    Delta { content: String, finish: Option<String> },
    /// `data: [DONE]`.
    Done,
    /// An `{"error": ...}` object in the stream.
    Error(String),
    /// A data line that is not valid chunk JSON.
    Malformed(String),
}

/// Incremental SSE parser: bytes in, events out. Handles events split across
/// network chunks, CRLF line ends, comments and multi-byte characters split
/// between chunks. Bounded: a line longer than 1 MiB is dropped as malformed.
#[derive(Debug, Default)]
pub struct SseParser {
    /// Bytes of the current, incomplete line.
    line: Vec<u8>,
    /// Set while skipping the rest of an over-long line.
    skipping: bool,
}

const MAX_SSE_LINE: usize = 1 << 20;

impl SseParser {
    /// Feeds bytes; returns the events completed by them.
    pub fn push(&mut self, bytes: &[u8]) -> Vec<SseEvent> {
        let mut out = Vec::new();
        for &b in bytes {
            if b == b'\n' {
                if self.skipping {
                    self.skipping = false;
                    out.push(SseEvent::Malformed("<over-long line dropped>".into()));
                } else {
                    let line = std::mem::take(&mut self.line);
                    if let Some(ev) = parse_line(&line) {
                        out.push(ev);
                    }
                }
                continue;
            }
            if self.skipping {
                continue;
            }
            if self.line.len() >= MAX_SSE_LINE {
                self.line.clear();
                self.skipping = true;
                continue;
            }
            self.line.push(b);
        }
        out
    }
}

fn parse_line(raw: &[u8]) -> Option<SseEvent> {
    let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
    let line = String::from_utf8_lossy(raw);
    let data = line.strip_prefix("data:")?.trim_start();
    if data == "[DONE]" {
        return Some(SseEvent::Done);
    }
    let v: serde_json::Value = match serde_json::from_str(data) {
        Ok(v) => v,
        Err(_) => return Some(SseEvent::Malformed(data.to_string())),
    };
    if let Some(err) = v.get("error") {
        let msg = err.get("message").and_then(|m| m.as_str()).map(str::to_string).unwrap_or_else(|| err.to_string());
        return Some(SseEvent::Error(msg));
    }
    let choice = v.get("choices").and_then(|c| c.get(0));
    let Some(choice) = choice else {
        return Some(SseEvent::Malformed(data.to_string()));
    };
    let content = choice
        .get("delta")
        .and_then(|d| d.get("content"))
        .and_then(|c| c.as_str())
        .unwrap_or("")
        .to_string();
    let finish = choice.get("finish_reason").and_then(|f| f.as_str()).map(str::to_string);
    Some(SseEvent::Delta { content, finish })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sse_events_split_across_chunks_are_reassembled() {
        let mut p = SseParser::default();
        let whole = "data: {\"choices\":[{\"delta\":{\"content\":\"Hé\"},\"finish_reason\":null}]}\r\n\r\ndata: [DONE]\n\n";
        let bytes = whole.as_bytes();
        let mut events = Vec::new();
        // Split in the middle of the two-byte 'é'.
        let cut = whole.find('é').unwrap() + 1;
        events.extend(p.push(&bytes[..cut]));
        assert!(events.is_empty());
        events.extend(p.push(&bytes[cut..]));
        assert_eq!(
            events,
            vec![SseEvent::Delta { content: "Hé".into(), finish: None }, SseEvent::Done]
        );
    }

    #[test]
    fn sse_comments_and_other_fields_are_ignored() {
        let mut p = SseParser::default();
        let ev = p.push(b": keep-alive\nevent: message\nid: 3\n\n");
        assert!(ev.is_empty());
    }

    #[test]
    fn sse_error_object_becomes_an_error_event() {
        let mut p = SseParser::default();
        let ev = p.push(b"data: {\"error\":{\"message\":\"context full\"}}\n");
        assert_eq!(ev, vec![SseEvent::Error("context full".into())]);
    }

    #[test]
    fn sse_garbage_data_is_reported_not_fatal() {
        let mut p = SseParser::default();
        let ev = p.push(b"data: {not json\ndata: {\"choices\":[{\"delta\":{\"content\":\"ok\"},\"finish_reason\":\"stop\"}]}\n");
        assert!(matches!(ev[0], SseEvent::Malformed(_)));
        assert_eq!(ev[1], SseEvent::Delta { content: "ok".into(), finish: Some("stop".into()) });
    }

    #[test]
    fn sse_over_long_line_is_dropped_and_parsing_continues() {
        let mut p = SseParser::default();
        let mut big = b"data: ".to_vec();
        big.extend(std::iter::repeat_n(b'x', MAX_SSE_LINE + 10));
        big.extend(b"\ndata: [DONE]\n");
        let ev = p.push(&big);
        assert_eq!(ev.len(), 2);
        assert_eq!(ev[1], SseEvent::Done);
    }
}
