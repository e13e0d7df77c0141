//! llama.cpp behind a dedicated thread.
//!
//! [`LoadedModel`] + [`Session`] generate one reply with a callback per piece of
//! text; both the server's engine thread and the in-process benchmark use this
//! same code, so the benchmark's ratio measures only the server around it.
//! [`spawn_engine`] runs a session on its own OS thread and hands out an
//! [`EngineHandle`] over a bounded job queue.

use crate::api::{ApiError, ChatJob, GenParams, Message};
use crate::sse::{FinishReason, Usage};
use crate::text::{StopMatcher, Utf8Assembler};
use llama_cpp_2::context::params::LlamaContextParams;
use llama_cpp_2::context::LlamaContext;
use llama_cpp_2::llama_backend::LlamaBackend;
use llama_cpp_2::llama_batch::LlamaBatch;
use llama_cpp_2::model::params::LlamaModelParams;
use llama_cpp_2::model::{LlamaChatMessage, LlamaChatTemplate, LlamaModel};
use llama_cpp_2::sampling::LlamaSampler;
use llama_cpp_2::token::logit_bias::LlamaLogitBias;
use llama_cpp_2::token::LlamaToken;
use std::num::NonZeroU32;
use std::path::PathBuf;
use tokio::sync::{mpsc, watch};

/// Which model to load and how to run it.
#[derive(Debug, Clone)]
pub struct ModelSpec {
    /// GGUF file.
    pub path: PathBuf,
    /// CPU threads for prompt and generation.
    pub threads: u32,
    /// Context window in tokens (prompt + reply).
    pub ctx_size: u32,
}

/// Errors while loading the model.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The GGUF is not there.
    #[error("model file not found: {0} (run scripts/setup.sh to fetch the default model, or pass --model PATH)")]
    Missing(PathBuf),
    /// llama.cpp refused it.
    #[error("llama.cpp could not load {path}: {cause}")]
    Llama {
        /// The GGUF.
        path: PathBuf,
        /// llama.cpp's error.
        cause: String,
    },
}

/// A model in memory with its chat template.
pub struct LoadedModel {
    // Design: field order is drop order; the model must go before the backend.
    /// The weights.
    model: LlamaModel,
    /// The model's own template from its GGUF metadata (chatml if it has none).
    template: LlamaChatTemplate,
    /// How it was loaded.
    spec: ModelSpec,
    /// llama.cpp's global state; one per process.
    backend: LlamaBackend,
}

impl LoadedModel {
    /// Loads the GGUF (seconds; call off the async runtime).
    pub fn load(spec: &ModelSpec) -> Result<Self, LoadError> {
        if !spec.path.is_file() {
            return Err(LoadError::Missing(spec.path.clone()));
        }
        let llama_err = |cause: String| LoadError::Llama { path: spec.path.clone(), cause };
        let backend = LlamaBackend::init().map_err(|e| llama_err(e.to_string()))?;
        let model = LlamaModel::load_from_file(&backend, &spec.path, &LlamaModelParams::default())
            .map_err(|e| llama_err(e.to_string()))?;
        let template = match model.chat_template(None) {
            Ok(t) => t,
            Err(e) => {
                tracing::warn!("{}: no chat template in the GGUF metadata ({e}); using chatml", spec.path.display());
                LlamaChatTemplate::new("chatml").map_err(|e| llama_err(e.to_string()))?
            }
        };
        Ok(Self { model, template, spec: spec.clone(), backend })
    }

    /// A generation session (one llama context, reused across requests).
    pub fn session(&self) -> Result<Session<'_>, LoadError> {
        let ctx_size = NonZeroU32::new(self.spec.ctx_size)
            .ok_or_else(|| LoadError::Llama { path: self.spec.path.clone(), cause: "ctx-size must be > 0".into() })?;
        let threads = i32::try_from(self.spec.threads.max(1)).unwrap_or(i32::MAX);
        let params = LlamaContextParams::default()
            .with_n_ctx(Some(ctx_size))
            // Design: a batch as large as the context lets any prompt that fits
            // be decoded in one call.
            .with_n_batch(self.spec.ctx_size)
            .with_n_threads(threads)
            .with_n_threads_batch(threads);
        let ctx = self
            .model
            .new_context(&self.backend, params)
            .map_err(|e| LoadError::Llama { path: self.spec.path.clone(), cause: e.to_string() })?;
        let batch = LlamaBatch::new(self.spec.ctx_size as usize, 1);
        let vocab = self.model.vocab();
        let eog_tokens = vocab.tokens().filter(|t| vocab.is_eog(*t)).collect();
        Ok(Session { model: &self.model, template: &self.template, ctx, batch, eog_tokens, cached: Vec::new(), exact: 0, last_reused: 0 })
    }
}

/// What a generation produced, piece by piece.
#[derive(Debug, Clone, PartialEq)]
pub enum GenEvent {
    /// The prompt is decoded; tokens follow.
    Started {
        /// Templated prompt length.
        prompt_tokens: u32,
    },
    /// Text safe to show (complete UTF-8, no part of a stop string).
    Text(String),
}

/// How a generation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// It ran to the end.
    Finished {
        /// Why it ended.
        finish: FinishReason,
        /// Token counts.
        usage: Usage,
    },
    /// The sink said stop (the client went away).
    Cancelled {
        /// Tokens generated before it stopped.
        completion_tokens: u32,
    },
}

/// One llama context over a loaded model.
pub struct Session<'m> {
    /// The weights.
    model: &'m LlamaModel,
    /// The chat template.
    template: &'m LlamaChatTemplate,
    /// KV cache and compute state; cleared per request.
    ctx: LlamaContext<'m>,
    /// Reused token batch, sized to the context.
    batch: LlamaBatch<'static>,
    /// End-of-generation tokens, masked out when a request sets `ignore_eos`.
    eog_tokens: Vec<LlamaToken>,
    /// The tokens whose keys and values are in the KV cache, at positions
    /// 0.. (the last prompt and what was decoded of its reply).
    cached: Vec<LlamaToken>,
    /// How many leading cells of `cached` were decoded as whole aligned
    /// prompt chunks (see [`PROMPT_CHUNK`]): only these may be reused.
    exact: usize,
    /// Prompt tokens the last request took from the cache instead of decoding.
    last_reused: usize,
}

/// With `exact_reuse`, prompts are decoded in batches of this many tokens
/// whose boundaries fall at multiples of it, counted from the start of the
/// prompt.
///
/// Design: the keys and values llama.cpp computes for a token depend, in the
/// last bits, on the batch it was decoded in (matrix shapes, and so the
/// order of floating-point sums). Decoding a whole prompt in one batch, or a
/// cached prefix plus a suffix, or a reply one token at a time, therefore
/// leaves slightly different caches, and a greedy reply late in a session
/// can flip at a near-tie: the same conversation got different replies with
/// and without reuse, or after another session had evicted the cache. With
/// fixed aligned chunks every prompt position is always decoded in the same
/// batch (same tokens, same positions, same cells before it), and only
/// whole chunks decoded as prompt are reused; so a reply no longer depends
/// on what the cache held. The price: each turn decodes again the tail of
/// the last prompt's partial chunk and the previous reply (decoded one
/// token at a time while generating), a few dozen tokens — on 2 cores with
/// SmolLM2-135M about 1 s to first token instead of 0.2–0.35 s, which is why
/// it is a request's choice and off by default.
pub const PROMPT_CHUNK: usize = 32;

/// How many prompt tokens may come from the cache: the prefix shared with
/// what is cached, no further than the cells decoded as whole aligned
/// chunks, leaving at least the last prompt token to decode, rounded down
/// to a chunk boundary.
fn reusable_prefix(shared: usize, exact: usize, prompt_len: usize) -> usize {
    let n = shared.min(exact).min(prompt_len.saturating_sub(1));
    n / PROMPT_CHUNK * PROMPT_CHUNK
}

/// The batches that decode prompt positions `from..len`: split at every
/// multiple of [`PROMPT_CHUNK`].
fn prompt_chunks(from: usize, len: usize) -> impl Iterator<Item = std::ops::Range<usize>> {
    let mut start = from;
    std::iter::from_fn(move || {
        if start >= len {
            return None;
        }
        let end = ((start / PROMPT_CHUNK + 1) * PROMPT_CHUNK).min(len);
        let r = start..end;
        start = end;
        Some(r)
    })
}

impl Session<'_> {
    /// Context window in tokens.
    pub fn n_ctx(&self) -> u32 {
        self.ctx.n_ctx()
    }

    /// Tokens whose KV cells the next request may reuse.
    pub fn cached_tokens(&self) -> usize {
        self.cached.len()
    }

    /// Prompt tokens the last request reused from the cache.
    pub fn last_reused_tokens(&self) -> usize {
        self.last_reused
    }

    /// Drops the KV cache and what it held (after a failed decode its
    /// contents are unknown).
    pub fn clear_cache(&mut self) {
        self.ctx.clear_kv_cache();
        self.cached.clear();
        self.exact = 0;
    }

    /// Renders `messages` with the model's chat template, ready for the assistant.
    pub fn render_prompt(&self, messages: &[Message]) -> Result<String, ApiError> {
        let chat = messages
            .iter()
            .map(|m| LlamaChatMessage::new(m.role.as_str().to_owned(), m.content.clone()))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| ApiError::invalid(format!("a message cannot be passed to the template: {e}"), Some("messages")))?;
        self.model
            .apply_chat_template(self.template, &chat, true)
            .map_err(|e| ApiError::invalid(format!("the model's chat template cannot render these messages: {e}"), Some("messages")))
    }

    /// Generates a reply. `sink` gets each event and returns false to cancel.
    pub fn generate(
        &mut self,
        messages: &[Message],
        params: &GenParams,
        sink: &mut dyn FnMut(GenEvent) -> bool,
    ) -> Result<Outcome, ApiError> {
        let prompt = self.render_prompt(messages)?;
        let tokens = self.model.vocab().tokenize(prompt.as_bytes(), true, true);
        let n_ctx = self.n_ctx();
        let n_prompt = u32::try_from(tokens.len()).unwrap_or(u32::MAX);
        if n_prompt == 0 {
            return Err(ApiError::invalid("the prompt rendered to zero tokens", Some("messages")));
        }
        if n_prompt >= n_ctx {
            return Err(ApiError::invalid(
                format!(
                    "the prompt is {n_prompt} tokens but the context holds {n_ctx} tokens \
                     (server --ctx-size); shorten the messages"
                ),
                Some("messages"),
            ));
        }
        let room = n_ctx - n_prompt;
        let budget = params.max_tokens.map_or(room, |m| m.min(room));

        // Design: as llama.cpp's server does, keep the KV cells of the
        // longest token prefix this prompt shares with what is cached (the
        // system prompt and the conversation so far), remove the cells after
        // it, and decode only the new suffix. At least the last prompt token
        // is decoded again so that its logits are fresh for sampling. With
        // `exact_reuse` only whole aligned chunks decoded as prompt are kept
        // and the rest is decoded in aligned chunks, so that the cache is bit
        // for bit what decoding the whole prompt would give (`PROMPT_CHUNK`).
        let shared = common_prefix(&self.cached, &tokens);
        let keep = match (params.cache_prompt, params.exact_reuse) {
            (false, _) => 0,
            (true, false) => shared.min(tokens.len() - 1),
            (true, true) => reusable_prefix(shared, self.exact, tokens.len()),
        };
        let removed = keep > 0
            && self
                .ctx
                .clear_kv_cache_seq(Some(0), Some(keep as u32), None)
                .unwrap_or(false);
        let keep = if removed { keep } else { 0 };
        if keep == 0 {
            self.ctx.clear_kv_cache();
        }
        // Until the decode succeeds nothing past `keep` is trustworthy.
        self.cached.truncate(keep);
        self.exact = self.exact.min(keep);
        self.last_reused = 0;
        let last = tokens.len() - 1;
        let batches: Vec<std::ops::Range<usize>> =
            if params.exact_reuse { prompt_chunks(keep, tokens.len()).collect() } else { vec![keep..tokens.len()] };
        for chunk in batches {
            self.batch.clear();
            for i in chunk {
                self.batch
                    .add(tokens[i], i as i32, &[0], i == last)
                    .map_err(|e| ApiError::internal(format!("prompt batch: {e}")))?;
            }
            if let Err(e) = self.ctx.decode(&mut self.batch) {
                self.clear_cache();
                return Err(ApiError::internal(format!("llama.cpp failed to decode the prompt: {e}")));
            }
        }
        self.cached.extend_from_slice(&tokens[keep..]);
        if params.exact_reuse {
            self.exact = tokens.len() / PROMPT_CHUNK * PROMPT_CHUNK;
        }
        self.last_reused = keep;
        tracing::debug!(prompt_tokens = n_prompt, reused = keep, "prompt decoded");
        if !sink(GenEvent::Started { prompt_tokens: n_prompt }) {
            return Ok(Outcome::Cancelled { completion_tokens: 0 });
        }

        let mut sampler = build_sampler(params, self.model.n_vocab(), &self.eog_tokens);
        let mut utf8 = Utf8Assembler::default();
        let mut stop = StopMatcher::new(&params.stop);
        let mut n_gen: u32 = 0;
        let mut pos = n_prompt as i32;
        let mut hit_stop_string = false;
        let finish = loop {
            let token = sampler.sample(&self.ctx, self.batch.n_tokens() - 1);
            if self.model.vocab().is_eog(token) && !params.ignore_eos {
                break FinishReason::Stop;
            }
            n_gen += 1;
            let piece = self.model.vocab().token_to_piece(token, false, None);
            let out = stop.push(&utf8.push(&piece));
            if !out.emit.is_empty() && !sink(GenEvent::Text(out.emit)) {
                return Ok(Outcome::Cancelled { completion_tokens: n_gen });
            }
            if out.stopped {
                hit_stop_string = true;
                break FinishReason::Stop;
            }
            if n_gen >= budget {
                break FinishReason::Length;
            }
            self.batch.clear();
            if let Err(e) = self.batch.add(token, pos, &[0], true) {
                self.clear_cache();
                return Err(ApiError::internal(format!("token batch: {e}")));
            }
            pos += 1;
            if let Err(e) = self.ctx.decode(&mut self.batch) {
                self.clear_cache();
                return Err(ApiError::internal(format!("llama.cpp failed to decode at position {pos}: {e}")));
            }
            self.cached.push(token);
        };
        if !hit_stop_string {
            // Flush a dangling partial character and text held for a stop
            // string that never completed.
            let out = stop.push(&utf8.finish());
            let mut rest = out.emit;
            if !out.stopped {
                rest.push_str(&stop.finish());
            }
            if !rest.is_empty() && !sink(GenEvent::Text(rest)) {
                return Ok(Outcome::Cancelled { completion_tokens: n_gen });
            }
        }
        Ok(Outcome::Finished { finish, usage: Usage { prompt_tokens: n_prompt, completion_tokens: n_gen } })
    }
}

/// Length of the longest common prefix of two token sequences.
fn common_prefix(a: &[LlamaToken], b: &[LlamaToken]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
}

/// Temperature 0 is greedy; otherwise top-p, temperature, then a seeded draw.
/// With `ignore_eos`, end-of-generation tokens are masked first; a
/// repetition penalty (over the tokens generated so far) comes before both.
fn build_sampler(params: &GenParams, n_vocab: i32, eog: &[LlamaToken]) -> LlamaSampler {
    let mut chain = Vec::new();
    if params.ignore_eos {
        let biases: Vec<LlamaLogitBias> = eog.iter().map(|t| LlamaLogitBias::new(*t, f32::NEG_INFINITY)).collect();
        chain.push(LlamaSampler::logit_bias(n_vocab, &biases));
    }
    if (params.repeat_penalty - 1.0).abs() > f32::EPSILON && params.repeat_last_n > 0 {
        let last_n = i32::try_from(params.repeat_last_n).unwrap_or(i32::MAX);
        chain.push(LlamaSampler::penalties(n_vocab, last_n, params.repeat_penalty, 0.0, 0.0));
    }
    if params.temperature <= 0.0 {
        chain.push(LlamaSampler::greedy());
    } else {
        chain.push(LlamaSampler::top_p(params.top_p, 1));
        chain.push(LlamaSampler::temp(params.temperature));
        chain.push(LlamaSampler::dist(sampler_seed(params.seed)));
    }
    LlamaSampler::chain_simple(chain)
}

/// llama.cpp's seed is 32-bit and `u32::MAX` means "random".
fn sampler_seed(seed: Option<u64>) -> u32 {
    match seed {
        None => u32::MAX,
        Some(s) => {
            let folded = (s ^ (s >> 32)) as u32;
            if folded == u32::MAX {
                u32::MAX - 1
            } else {
                folded
            }
        }
    }
}

/// What the engine thread reports to a request.
#[derive(Debug, Clone, PartialEq)]
pub enum JobEvent {
    /// Generation began (the request left the queue and its prompt fits).
    Started {
        /// Templated prompt length.
        prompt_tokens: u32,
    },
    /// A piece of the reply.
    Text(String),
    /// The reply is complete.
    Done {
        /// Why it ended.
        finish: FinishReason,
        /// Token counts.
        usage: Usage,
    },
    /// The request failed (before or during generation).
    Failed(ApiError),
}

/// A request waiting for the model.
pub struct EngineJob {
    /// What to generate.
    pub job: ChatJob,
    /// Where events go; dropping the receiver cancels the job.
    pub events: mpsc::Sender<JobEvent>,
}

/// Model state as `/health` reports it.
#[derive(Debug, Clone, PartialEq)]
pub enum EngineState {
    /// Still loading the GGUF.
    Loading,
    /// Serving.
    Ready {
        /// Context window in tokens.
        n_ctx: u32,
    },
    /// Loading failed; the server cannot answer.
    Failed(String),
}

/// Cheap cloneable handle to the engine thread.
#[derive(Clone)]
pub struct EngineHandle {
    /// Bounded queue of waiting jobs; when full, requests get 503.
    jobs: mpsc::Sender<EngineJob>,
    /// Loading / ready / failed.
    state: watch::Receiver<EngineState>,
    /// Queue capacity, for the error message.
    queue_depth: usize,
}

impl EngineHandle {
    /// Current state.
    pub fn state(&self) -> EngineState {
        self.state.borrow().clone()
    }

    /// Waits until loading has finished one way or the other.
    pub async fn loaded(&self) -> EngineState {
        let mut rx = self.state.clone();
        let state = rx.wait_for(|s| !matches!(s, EngineState::Loading)).await.map(|s| s.clone());
        state.unwrap_or_else(|_| EngineState::Failed("the engine thread exited".into()))
    }

    /// Queues a job, or says why it cannot wait.
    pub fn try_submit(&self, job: EngineJob) -> Result<(), ApiError> {
        match self.state() {
            EngineState::Loading => return Err(ApiError::unavailable("the model is still loading; retry shortly")),
            EngineState::Failed(why) => return Err(ApiError::unavailable(format!("the model failed to load: {why}"))),
            EngineState::Ready { .. } => {}
        }
        self.jobs.try_send(job).map_err(|e| match e {
            mpsc::error::TrySendError::Full(_) => ApiError::unavailable(format!(
                "server busy: one generation is running and {} request(s) are already waiting; retry later",
                self.queue_depth
            )),
            mpsc::error::TrySendError::Closed(_) => ApiError::unavailable("the generation engine has stopped"),
        })
    }
}

/// Starts the engine thread: it loads the model, then runs queued jobs one
/// at a time. `queue_depth` (at least 1) requests may wait behind the running
/// one; further requests are refused with 503 at once.
pub fn spawn_engine(spec: ModelSpec, queue_depth: usize) -> std::io::Result<EngineHandle> {
    let queue_depth = queue_depth.max(1);
    let (jobs_tx, jobs_rx) = mpsc::channel::<EngineJob>(queue_depth);
    let (state_tx, state_rx) = watch::channel(EngineState::Loading);
    std::thread::Builder::new()
        .name("llama-engine".into())
        .spawn(move || engine_thread(spec, jobs_rx, state_tx))?;
    Ok(EngineHandle { jobs: jobs_tx, state: state_rx, queue_depth })
}

fn engine_thread(spec: ModelSpec, mut jobs: mpsc::Receiver<EngineJob>, state: watch::Sender<EngineState>) {
    let model = match LoadedModel::load(&spec) {
        Ok(m) => m,
        Err(e) => {
            let _ = state.send(EngineState::Failed(e.to_string()));
            return;
        }
    };
    let mut session = match model.session() {
        Ok(s) => s,
        Err(e) => {
            let _ = state.send(EngineState::Failed(e.to_string()));
            return;
        }
    };
    let _ = state.send(EngineState::Ready { n_ctx: session.n_ctx() });
    // Ends when every handle (the server) is gone.
    while let Some(EngineJob { job, events }) = jobs.blocking_recv() {
        if events.is_closed() {
            tracing::debug!("request left while queued; skipped");
            continue;
        }
        let mut sink = |ev: GenEvent| {
            let msg = match ev {
                GenEvent::Started { prompt_tokens } => JobEvent::Started { prompt_tokens },
                GenEvent::Text(t) => JobEvent::Text(t),
            };
            events.blocking_send(msg).is_ok()
        };
        match session.generate(&job.messages, &job.params, &mut sink) {
            Ok(Outcome::Finished { finish, usage }) => {
                let _ = events.blocking_send(JobEvent::Done { finish, usage });
            }
            Ok(Outcome::Cancelled { completion_tokens }) => {
                tracing::info!("client went away; generation cancelled after {completion_tokens} tokens");
            }
            Err(e) => {
                let _ = events.blocking_send(JobEvent::Failed(e));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reuse_stops_at_whole_chunks_decoded_as_prompt_and_leaves_the_last_token() {
        let c = PROMPT_CHUNK;
        // Shared far past the exact cells: only the exact whole chunks.
        assert_eq!(reusable_prefix(10 * c, 3 * c, 20 * c), 3 * c);
        // Shared part ends inside a chunk: back to its start.
        assert_eq!(reusable_prefix(3 * c + 5, 10 * c, 20 * c), 3 * c);
        // A prompt that is exactly the cached chunks: its last chunk is decoded again.
        assert_eq!(reusable_prefix(4 * c, 4 * c, 4 * c), 3 * c);
        assert_eq!(reusable_prefix(c - 1, c, 5 * c), 0);
        assert_eq!(reusable_prefix(7, 0, 1), 0);
    }

    #[test]
    fn prompt_chunks_split_at_multiples_of_the_chunk_from_any_start() {
        let c = PROMPT_CHUNK;
        let v: Vec<_> = prompt_chunks(0, 2 * c + 3).collect();
        assert_eq!(v, vec![0..c, c..2 * c, 2 * c..2 * c + 3]);
        let v: Vec<_> = prompt_chunks(c, c + 1).collect();
        assert_eq!(v, vec![c..c + 1]);
        assert_eq!(prompt_chunks(5, 5).count(), 0);
        // Whatever the start, the batches are the same as from 0 from the
        // first boundary on.
        let from0: Vec<_> = prompt_chunks(0, 5 * c + 7).filter(|r| r.start >= 2 * c).collect();
        let from2: Vec<_> = prompt_chunks(2 * c, 5 * c + 7).collect();
        assert_eq!(from0, from2);
    }

    #[test]
    fn the_common_prefix_stops_at_the_first_difference() {
        let t = |v: &[i32]| v.iter().map(|&x| LlamaToken(x)).collect::<Vec<_>>();
        assert_eq!(common_prefix(&t(&[1, 2, 3, 4]), &t(&[1, 2, 9, 4])), 2);
        assert_eq!(common_prefix(&t(&[1, 2]), &t(&[1, 2, 3])), 2);
        assert_eq!(common_prefix(&t(&[]), &t(&[1])), 0);
    }

    #[test]
    fn a_user_seed_never_maps_to_llamas_random_sentinel() {
        assert_ne!(sampler_seed(Some(u64::from(u32::MAX))), u32::MAX);
        assert_eq!(sampler_seed(None), u32::MAX);
        assert_eq!(sampler_seed(Some(7)), 7);
    }
}
