//! `attune-llm`: serves a GGUF model through llama.cpp on the OpenAI-compatible
//! chat-completions API with SSE streaming.
fn main() -> anyhow::Result<()> {
    anyhow::bail!("attune-llm: not built yet")
}
