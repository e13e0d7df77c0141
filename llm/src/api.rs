//! The OpenAI chat-completions request as it arrives, and its validation into
//! a [`ChatJob`] the engine can run. Pure: no I/O, no model.

use serde::Deserialize;
use serde_json::Value;

/// Most stop sequences a request may carry (the OpenAI API allows four).
pub const MAX_STOP_SEQUENCES: usize = 4;

/// A request error with the HTTP status it maps to and a message that names
/// what is wrong. Serialised as `{"error": {"message", "type", "param"}}`.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct ApiError {
    /// HTTP status code (400, 404, 503, 500).
    pub status: u16,
    /// OpenAI-style error type, e.g. `invalid_request_error`.
    pub kind: &'static str,
    /// Human-readable cause naming the offending field or limit.
    pub message: String,
    /// The request field at fault, when there is one.
    pub param: Option<String>,
}

impl ApiError {
    /// 400: the request body is wrong.
    pub fn invalid(message: impl Into<String>, param: Option<&str>) -> Self {
        Self { status: 400, kind: "invalid_request_error", message: message.into(), param: param.map(str::to_owned) }
    }
    /// 503: the model is busy (queue full) or not loaded yet.
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self { status: 503, kind: "server_busy", message: message.into(), param: None }
    }
    /// 500: the engine failed while generating.
    pub fn internal(message: impl Into<String>) -> Self {
        Self { status: 500, kind: "server_error", message: message.into(), param: None }
    }
    /// 404: no such route.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self { status: 404, kind: "not_found_error", message: message.into(), param: None }
    }
    /// The JSON body sent to the client.
    pub fn to_json(&self) -> Value {
        serde_json::json!({
            "error": { "message": self.message, "type": self.kind, "param": self.param, "code": Value::Null }
        })
    }
}

/// A chat role the model's template understands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Instructions (OpenAI's `developer` role maps here too).
    System,
    /// The person.
    User,
    /// Earlier model turns.
    Assistant,
}

impl Role {
    /// Name passed to the chat template.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::System => "system",
            Role::User => "user",
            Role::Assistant => "assistant",
        }
    }
}

/// One validated message.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    /// Who said it.
    pub role: Role,
    /// What was said (no NUL bytes; the template is C code).
    pub content: String,
}

/// Sampling and stopping rules for one generation.
#[derive(Debug, Clone, PartialEq)]
pub struct GenParams {
    /// Softmax temperature; 0 means greedy.
    pub temperature: f32,
    /// Nucleus mass in (0, 1].
    pub top_p: f32,
    /// Cap on generated tokens; `None` = until the context is full.
    pub max_tokens: Option<u32>,
    /// Seed for the sampler; `None` = a fresh random seed.
    pub seed: Option<u64>,
    /// Generation ends before any of these strings; they are not returned.
    pub stop: Vec<String>,
    /// Never end on an end-of-generation token (llama.cpp server's
    /// `ignore_eos` extension); runs to `max_tokens`. For benchmarks and tests.
    pub ignore_eos: bool,
    /// Penalty on tokens generated within the last `repeat_last_n` (llama.cpp
    /// server's `repeat_penalty`); 1.0 = off.
    pub repeat_penalty: f32,
    /// How many recent generated tokens the repetition penalty looks at.
    pub repeat_last_n: u32,
    /// Reuse the key-value cache of the longest token prefix shared with the
    /// previous request (llama.cpp server's `cache_prompt`, default on).
    pub cache_prompt: bool,
    /// Decode prompts so that the reply never depends on what the cache held
    /// (fixed aligned chunks, see `engine::PROMPT_CHUNK`); attune-llm's own
    /// request field `exact_reuse`, default off: it costs time to first
    /// token (README, "Embedded LLM server").
    pub exact_reuse: bool,
}

impl Default for GenParams {
    fn default() -> Self {
        // OpenAI's defaults: temperature 1, top_p 1, no cap, no stop.
        // Repetition penalty off, as in OpenAI's API; prompt cache on, as in
        // llama.cpp's server.
        Self {
            temperature: 1.0,
            top_p: 1.0,
            max_tokens: None,
            seed: None,
            stop: Vec::new(),
            ignore_eos: false,
            repeat_penalty: 1.0,
            repeat_last_n: 64,
            cache_prompt: true,
            exact_reuse: false,
        }
    }
}

/// A validated chat-completions request.
#[derive(Debug, Clone, PartialEq)]
pub struct ChatJob {
    /// The conversation, in order.
    pub messages: Vec<Message>,
    /// Sampling parameters.
    pub params: GenParams,
    /// SSE stream (true) or one JSON body (false).
    pub stream: bool,
}

/// The body as OpenAI clients send it. Fields we do not use (`n`,
/// `presence_penalty`, `stream_options`, ...) are accepted and ignored, as
/// other OpenAI-compatible servers do.
#[derive(Debug, Deserialize)]
struct RawRequest {
    #[serde(default)]
    messages: Option<Vec<RawMessage>>,
    #[serde(default)]
    stream: Option<bool>,
    #[serde(default)]
    temperature: Option<f32>,
    #[serde(default)]
    top_p: Option<f32>,
    #[serde(default)]
    max_tokens: Option<i64>,
    #[serde(default)]
    max_completion_tokens: Option<i64>,
    #[serde(default)]
    seed: Option<i64>,
    #[serde(default)]
    stop: Option<Value>,
    #[serde(default)]
    n: Option<i64>,
    #[serde(default)]
    ignore_eos: Option<bool>,
    #[serde(default)]
    repeat_penalty: Option<f32>,
    #[serde(default)]
    repeat_last_n: Option<i64>,
    #[serde(default)]
    cache_prompt: Option<bool>,
    #[serde(default)]
    exact_reuse: Option<bool>,
}

#[derive(Debug, Deserialize)]
struct RawMessage {
    role: Option<String>,
    content: Option<Value>,
}

/// Parses and validates a request body. Every error names the field.
pub fn parse_chat_request(body: &[u8]) -> Result<ChatJob, ApiError> {
    if body.iter().all(|b| b.is_ascii_whitespace()) {
        return Err(ApiError::invalid("request body is empty; expected a JSON object with `messages`", None));
    }
    let raw: RawRequest = serde_json::from_slice(body)
        .map_err(|e| ApiError::invalid(format!("request body is not a valid chat-completions JSON object: {e}"), None))?;

    let raw_messages = raw
        .messages
        .ok_or_else(|| ApiError::invalid("missing field `messages`", Some("messages")))?;
    if raw_messages.is_empty() {
        return Err(ApiError::invalid("`messages` must contain at least one message", Some("messages")));
    }
    let mut messages = Vec::with_capacity(raw_messages.len());
    for (i, m) in raw_messages.into_iter().enumerate() {
        let param = format!("messages[{i}]");
        let role = match m.role.as_deref() {
            Some("system") | Some("developer") => Role::System,
            Some("user") => Role::User,
            Some("assistant") => Role::Assistant,
            Some(other) => {
                return Err(ApiError::invalid(
                    format!("{param}.role: unknown role {other:?}; expected system, user or assistant"),
                    Some(&format!("{param}.role")),
                ))
            }
            None => return Err(ApiError::invalid(format!("{param}: missing field `role`"), Some(&format!("{param}.role")))),
        };
        let content = content_text(m.content, &param)?;
        if content.contains('\0') {
            return Err(ApiError::invalid(
                format!("{param}.content contains a NUL character"),
                Some(&format!("{param}.content")),
            ));
        }
        messages.push(Message { role, content });
    }

    let mut params = GenParams::default();
    if let Some(t) = raw.temperature {
        if !(0.0..=2.0).contains(&t) {
            return Err(ApiError::invalid(format!("`temperature` must be within 0..=2, got {t}"), Some("temperature")));
        }
        params.temperature = t;
    }
    if let Some(p) = raw.top_p {
        if !(p > 0.0 && p <= 1.0) {
            return Err(ApiError::invalid(format!("`top_p` must be within (0, 1], got {p}"), Some("top_p")));
        }
        params.top_p = p;
    }
    // `max_completion_tokens` is the newer name; `max_tokens` wins when both come.
    for (name, v) in [("max_completion_tokens", raw.max_completion_tokens), ("max_tokens", raw.max_tokens)] {
        if let Some(n) = v {
            if n < 1 || n > i64::from(u32::MAX) {
                return Err(ApiError::invalid(format!("`{name}` must be a positive integer, got {n}"), Some(name)));
            }
            params.max_tokens = Some(n as u32);
        }
    }
    if let Some(s) = raw.seed {
        // Negative seeds are accepted by OpenAI; keep their bits.
        params.seed = Some(s as u64);
    }
    if let Some(n) = raw.n {
        if n != 1 {
            return Err(ApiError::invalid(format!("`n` must be 1 (one choice per request), got {n}"), Some("n")));
        }
    }
    params.stop = parse_stop(raw.stop)?;
    params.ignore_eos = raw.ignore_eos.unwrap_or(false);
    if let Some(p) = raw.repeat_penalty {
        if !(p.is_finite() && (0.5..=3.0).contains(&p)) {
            return Err(ApiError::invalid(format!("`repeat_penalty` must be within 0.5..=3 (1 = off), got {p}"), Some("repeat_penalty")));
        }
        params.repeat_penalty = p;
    }
    if let Some(n) = raw.repeat_last_n {
        if !(0..=4096).contains(&n) {
            return Err(ApiError::invalid(format!("`repeat_last_n` must be within 0..=4096, got {n}"), Some("repeat_last_n")));
        }
        params.repeat_last_n = n as u32;
    }
    params.cache_prompt = raw.cache_prompt.unwrap_or(true);
    params.exact_reuse = raw.exact_reuse.unwrap_or(false);
    Ok(ChatJob { messages, params, stream: raw.stream.unwrap_or(false) })
}

/// Message content: a string, or OpenAI's array of `{"type":"text","text":..}` parts.
fn content_text(content: Option<Value>, param: &str) -> Result<String, ApiError> {
    let field = format!("{param}.content");
    match content {
        Some(Value::String(s)) => Ok(s),
        Some(Value::Array(parts)) => {
            let mut out = String::new();
            for (j, part) in parts.iter().enumerate() {
                match (part.get("type").and_then(Value::as_str), part.get("text").and_then(Value::as_str)) {
                    (Some("text"), Some(t)) => out.push_str(t),
                    _ => {
                        return Err(ApiError::invalid(
                            format!("{field}[{j}]: only text parts ({{\"type\":\"text\",\"text\":...}}) are supported"),
                            Some(&field),
                        ))
                    }
                }
            }
            Ok(out)
        }
        Some(Value::Null) | None => Err(ApiError::invalid(format!("{field}: missing; expected a string"), Some(&field))),
        Some(other) => Err(ApiError::invalid(
            format!("{field}: expected a string or an array of text parts, got {}", json_kind(&other)),
            Some(&field),
        )),
    }
}

fn parse_stop(stop: Option<Value>) -> Result<Vec<String>, ApiError> {
    let list = match stop {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::String(s)) => vec![s],
        Some(Value::Array(items)) => {
            let mut v = Vec::with_capacity(items.len());
            for (i, it) in items.into_iter().enumerate() {
                match it {
                    Value::String(s) => v.push(s),
                    other => {
                        return Err(ApiError::invalid(
                            format!("`stop[{i}]` must be a string, got {}", json_kind(&other)),
                            Some("stop"),
                        ))
                    }
                }
            }
            v
        }
        Some(other) => {
            return Err(ApiError::invalid(
                format!("`stop` must be a string or an array of strings, got {}", json_kind(&other)),
                Some("stop"),
            ))
        }
    };
    if list.len() > MAX_STOP_SEQUENCES {
        return Err(ApiError::invalid(
            format!("`stop` holds {} sequences; at most {MAX_STOP_SEQUENCES} are allowed", list.len()),
            Some("stop"),
        ));
    }
    if list.iter().any(String::is_empty) {
        return Err(ApiError::invalid("`stop` sequences must not be empty strings", Some("stop")));
    }
    Ok(list)
}

fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<ChatJob, ApiError> {
        parse_chat_request(s.as_bytes())
    }

    #[test]
    fn a_minimal_streaming_request_parses_with_openai_defaults() {
        let job = parse(r#"{"model":"x","stream":true,"messages":[{"role":"user","content":"hi"}]}"#).unwrap();
        assert!(job.stream);
        assert_eq!(job.messages, vec![Message { role: Role::User, content: "hi".into() }]);
        assert_eq!(job.params, GenParams::default());
    }

    #[test]
    fn sampling_fields_and_a_stop_list_are_carried_over() {
        let job = parse(
            r#"{"messages":[{"role":"system","content":"s"},{"role":"user","content":"u"}],
               "temperature":0.2,"top_p":0.5,"max_tokens":7,"seed":42,"stop":["\n","END"],"ignore_eos":true}"#,
        )
        .unwrap();
        assert!(!job.stream);
        assert_eq!(job.params.temperature, 0.2);
        assert_eq!(job.params.top_p, 0.5);
        assert_eq!(job.params.max_tokens, Some(7));
        assert_eq!(job.params.seed, Some(42));
        assert_eq!(job.params.stop, vec!["\n".to_string(), "END".to_string()]);
        assert!(job.params.ignore_eos);
    }

    #[test]
    fn repetition_penalty_and_prompt_cache_options_are_carried_over() {
        let job = parse(r#"{"messages":[{"role":"user","content":"a"}],"repeat_penalty":1.2,"repeat_last_n":32,"cache_prompt":false}"#).unwrap();
        assert_eq!(job.params.repeat_penalty, 1.2);
        assert_eq!(job.params.repeat_last_n, 32);
        assert!(!job.params.cache_prompt);
        assert!(!job.params.exact_reuse, "exact reuse is off unless asked for");
        let job = parse(r#"{"messages":[{"role":"user","content":"a"}]}"#).unwrap();
        assert_eq!(job.params.repeat_penalty, 1.0);
        assert!(job.params.cache_prompt);
        let job = parse(r#"{"messages":[{"role":"user","content":"a"}],"exact_reuse":true}"#).unwrap();
        assert!(job.params.exact_reuse && job.params.cache_prompt);
        assert!(parse(r#"{"messages":[{"role":"user","content":"a"}],"exact_reuse":"yes"}"#).is_err(), "a non-boolean is refused");
    }

    #[test]
    fn a_single_stop_string_becomes_a_one_item_list() {
        let job = parse(r#"{"messages":[{"role":"user","content":"u"}],"stop":"."}"#).unwrap();
        assert_eq!(job.params.stop, vec![".".to_string()]);
    }

    #[test]
    fn text_parts_are_joined_into_the_content() {
        let job = parse(r#"{"messages":[{"role":"user","content":[{"type":"text","text":"a"},{"type":"text","text":"b"}]}]}"#)
            .unwrap();
        assert_eq!(job.messages[0].content, "ab");
    }

    #[test]
    fn developer_role_is_treated_as_system() {
        let job = parse(r#"{"messages":[{"role":"developer","content":"d"}]}"#).unwrap();
        assert_eq!(job.messages[0].role, Role::System);
    }

    #[test]
    fn malformed_json_is_a_400_that_says_so() {
        let e = parse("{not json").unwrap_err();
        assert_eq!(e.status, 400);
        assert!(e.message.contains("not a valid"), "{}", e.message);
    }

    #[test]
    fn an_empty_body_is_rejected() {
        assert_eq!(parse("  ").unwrap_err().status, 400);
    }

    #[test]
    fn missing_or_empty_messages_are_rejected_naming_the_field() {
        let e = parse(r#"{"model":"x"}"#).unwrap_err();
        assert_eq!(e.param.as_deref(), Some("messages"));
        let e = parse(r#"{"messages":[]}"#).unwrap_err();
        assert!(e.message.contains("at least one message"), "{}", e.message);
    }

    #[test]
    fn an_unknown_role_is_rejected_with_its_index_and_name() {
        let e = parse(r#"{"messages":[{"role":"user","content":"a"},{"role":"wizard","content":"b"}]}"#).unwrap_err();
        assert_eq!(e.status, 400);
        assert!(e.message.contains("messages[1].role"), "{}", e.message);
        assert!(e.message.contains("wizard"), "{}", e.message);
    }

    #[test]
    fn non_text_content_and_nul_bytes_are_rejected() {
        assert!(parse(r#"{"messages":[{"role":"user","content":5}]}"#).unwrap_err().message.contains("a number"));
        assert!(parse(r#"{"messages":[{"role":"user"}]}"#).unwrap_err().message.contains("content"));
        assert!(parse(r#"{"messages":[{"role":"user","content":"a\u0000b"}]}"#).unwrap_err().message.contains("NUL"));
        assert!(parse(r#"{"messages":[{"role":"user","content":[{"type":"image_url"}]}]}"#).is_err());
    }

    #[test]
    fn out_of_range_sampling_values_are_rejected_naming_the_field() {
        let base = r#""messages":[{"role":"user","content":"a"}]"#;
        for (extra, field) in [
            (r#""temperature":3"#, "temperature"),
            (r#""temperature":-1"#, "temperature"),
            (r#""top_p":0"#, "top_p"),
            (r#""max_tokens":0"#, "max_tokens"),
            (r#""max_tokens":-5"#, "max_tokens"),
            (r#""n":2"#, "n"),
            (r#""stop":[1]"#, "stop"),
            (r##""stop":"""##, "stop"),
            (r#""stop":["a","b","c","d","e"]"#, "stop"),
            (r#""repeat_penalty":0"#, "repeat_penalty"),
            (r#""repeat_penalty":9"#, "repeat_penalty"),
            (r#""repeat_last_n":-1"#, "repeat_last_n"),
        ] {
            let e = parse(&format!("{{{base},{extra}}}")).unwrap_err();
            assert_eq!(e.param.as_deref(), Some(field), "{extra}: {}", e.message);
        }
    }

    #[test]
    fn a_wrongly_typed_stream_flag_is_rejected() {
        assert_eq!(parse(r#"{"messages":[{"role":"user","content":"a"}],"stream":"yes"}"#).unwrap_err().status, 400);
    }

    #[test]
    fn error_json_has_the_openai_shape() {
        let j = ApiError::invalid("bad", Some("messages")).to_json();
        assert_eq!(j["error"]["message"], "bad");
        assert_eq!(j["error"]["type"], "invalid_request_error");
        assert_eq!(j["error"]["param"], "messages");
    }
}
