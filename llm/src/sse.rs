//! OpenAI response shapes: `chat.completion.chunk` SSE events for streaming
//! and the `chat.completion` body otherwise. Pure formatting.

use serde_json::{json, Value};

/// Why generation ended, as OpenAI names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FinishReason {
    /// End-of-generation token or a stop sequence.
    Stop,
    /// `max_tokens` reached or the context is full.
    Length,
}

impl FinishReason {
    /// The JSON string.
    pub fn as_str(self) -> &'static str {
        match self {
            FinishReason::Stop => "stop",
            FinishReason::Length => "length",
        }
    }
}

/// Token counts for the `usage` object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Usage {
    /// Tokens in the templated prompt.
    pub prompt_tokens: u32,
    /// Tokens generated.
    pub completion_tokens: u32,
}

impl Usage {
    fn to_json(self) -> Value {
        json!({
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "total_tokens": self.prompt_tokens + self.completion_tokens,
        })
    }
}

/// Identity shared by every chunk of one completion.
#[derive(Debug, Clone)]
pub struct CompletionMeta {
    /// `chatcmpl-...`, the same on every chunk.
    pub id: String,
    /// Unix seconds when the request was accepted.
    pub created: u64,
    /// Model name as served.
    pub model: String,
}

impl CompletionMeta {
    fn chunk(&self, delta: Value, finish: Option<FinishReason>) -> Value {
        json!({
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": [{ "index": 0, "delta": delta, "finish_reason": finish.map(FinishReason::as_str) }],
        })
    }

    /// First chunk: announces the assistant role.
    pub fn role_chunk(&self) -> Value {
        self.chunk(json!({ "role": "assistant", "content": "" }), None)
    }

    /// A piece of the reply.
    pub fn content_chunk(&self, text: &str) -> Value {
        self.chunk(json!({ "content": text }), None)
    }

    /// Last chunk: empty delta, the finish reason, and usage (as OpenAI's
    /// `stream_options.include_usage` would add; extra fields are harmless).
    pub fn final_chunk(&self, finish: FinishReason, usage: Usage) -> Value {
        let mut v = self.chunk(json!({}), Some(finish));
        v["usage"] = usage.to_json();
        v
    }

    /// The non-streaming `chat.completion` body.
    pub fn completion(&self, content: &str, finish: FinishReason, usage: Usage) -> Value {
        json!({
            "id": self.id,
            "object": "chat.completion",
            "created": self.created,
            "model": self.model,
            "choices": [{
                "index": 0,
                "message": { "role": "assistant", "content": content },
                "finish_reason": finish.as_str(),
            }],
            "usage": usage.to_json(),
        })
    }
}

/// One SSE event carrying `value` as its data line.
pub fn event(value: &Value) -> String {
    // serde_json never emits raw newlines (they are escaped in strings), so
    // one `data:` line always holds the whole object.
    format!("data: {value}\n\n")
}

/// The terminator OpenAI clients wait for.
pub const DONE: &str = "data: [DONE]\n\n";

#[cfg(test)]
mod tests {
    use super::*;

    fn meta() -> CompletionMeta {
        CompletionMeta { id: "chatcmpl-1".into(), created: 5, model: "m".into() }
    }

    #[test]
    fn content_chunks_carry_the_delta_and_a_null_finish_reason() {
        let c = meta().content_chunk("hi\nthere");
        assert_eq!(c["object"], "chat.completion.chunk");
        assert_eq!(c["id"], "chatcmpl-1");
        assert_eq!(c["model"], "m");
        assert_eq!(c["choices"][0]["index"], 0);
        assert_eq!(c["choices"][0]["delta"]["content"], "hi\nthere");
        assert!(c["choices"][0]["finish_reason"].is_null());
    }

    #[test]
    fn the_role_chunk_names_the_assistant() {
        assert_eq!(meta().role_chunk()["choices"][0]["delta"]["role"], "assistant");
    }

    #[test]
    fn the_final_chunk_has_an_empty_delta_and_the_reason() {
        let c = meta().final_chunk(FinishReason::Length, Usage { prompt_tokens: 3, completion_tokens: 4 });
        assert_eq!(c["choices"][0]["finish_reason"], "length");
        assert_eq!(c["choices"][0]["delta"], json!({}));
        assert_eq!(c["usage"]["total_tokens"], 7);
    }

    #[test]
    fn an_event_is_one_data_line_even_when_the_text_has_newlines() {
        let e = event(&meta().content_chunk("a\n\nb"));
        assert!(e.starts_with("data: {"));
        assert!(e.ends_with("}\n\n"));
        assert_eq!(e.matches('\n').count(), 2);
    }

    #[test]
    fn a_completion_body_has_message_finish_reason_and_usage() {
        let c = meta().completion("hello", FinishReason::Stop, Usage { prompt_tokens: 1, completion_tokens: 2 });
        assert_eq!(c["object"], "chat.completion");
        assert_eq!(c["choices"][0]["message"]["content"], "hello");
        assert_eq!(c["choices"][0]["message"]["role"], "assistant");
        assert_eq!(c["choices"][0]["finish_reason"], "stop");
        assert_eq!(c["usage"]["completion_tokens"], 2);
    }
}
