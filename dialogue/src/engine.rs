//! The turn pipeline: crisis layer → reasoner → policy → guide (LLM, streamed
//! sentence by sentence) → validator on every sentence before it is released →
//! one rewrite → reflective fallback.
//!
//! Design: the engine owns no I/O besides the LLM client handed to it. It
//! emits [`EngineEvent`]s on a bounded channel: first the analysis, then each
//! validated sentence, so a voice arm can commit and speak the first sentence
//! while the rest is still being generated. Nothing reaches the channel that
//! the validator has not passed (attuned policy).

use crate::config::{DialogueConfig, LlmConfig, LlmMode, PolicyKind};
use crate::crisis::{protocol_reply, CrisisConfig, CrisisDecision, CrisisTracker, Risk};
use crate::llm::{ChatMessage, Flow, LlmClient, LlmError};
use crate::policy::{decide, Decision, Intent, PolicyState};
use crate::prompts;
use crate::reasoner::{analyze, Analysis, ReasonerContext};
use crate::reflect::{reflect_reply, ReflectState};
use crate::strategy::{code_reply, Strategy};
use crate::semantic::SemanticRisk;
use crate::text::{sanitize_input, SentenceSplitter};
use crate::validator::{validate, Finding, Flag, ValidationInput, ValidatorConfig};
use serde::Serialize;
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// Everything the engine needs to know; hashed into the fingerprint.
#[derive(Debug, Clone, Default)]
pub struct EngineConfig {
    /// LLM mode and client settings.
    pub llm: LlmConfig,
    /// Policy, persona, sampling, memory.
    pub dialogue: DialogueConfig,
    /// Crisis protocol.
    pub crisis: CrisisConfig,
    /// Validator limits.
    pub validator: ValidatorConfig,
    /// Identity of the model (name, and for a local GGUF its file name and size).
    pub model_id: String,
}

/// Per-session conversation state. Owned by the caller, advanced by `turn`.
#[derive(Debug, Clone, Default)]
pub struct SessionState {
    /// Crisis state machine.
    pub crisis: CrisisTracker,
    /// Policy memory (disclosures, offers).
    pub policy: PolicyState,
    /// Reflective engine rotation.
    pub reflect: ReflectState,
    /// Earlier (participant, reply) pairs of this session.
    pub history: Vec<(String, String)>,
    /// Summaries of earlier sessions (memory), oldest first.
    pub memory: Vec<String>,
    /// The check-in question was followed up after an unclear answer
    /// ("maybe", "I don't know"); a second unclear answer counts as yes.
    pub check_in_followed_up: bool,
    /// The check-in question was still unheard when the participant spoke
    /// again (the voice arm holds a reply while they talk and plays it when
    /// they finish): their next words are not its answer.
    pub check_in_unheard: bool,
}

/// What the engine streams to its caller during a turn.
#[derive(Debug, Clone)]
pub enum EngineEvent {
    /// The participant's turn has been read; sent before any reply text.
    Analysed {
        /// Sanitised participant text (as the LLM sees it: cut at `max_input_chars`).
        user: String,
        /// What the participant said, sanitised, up to [`MAX_STORED_INPUT_CHARS`]
        /// (what the crisis layer read and the store keeps).
        participant_text: String,
        /// The input was cut at `max_input_chars`.
        input_truncated: bool,
        /// The reasoner's reading.
        analysis: Analysis,
        /// The crisis layer's decision.
        crisis: CrisisDecision,
        /// The policy's decision.
        decision: Decision,
    },
    /// One validated reply sentence, ready to show or speak.
    Sentence(String),
}

/// Where the reply text came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ReplySource {
    /// The LLM (first draft or the rewrite).
    Llm,
    /// The deterministic reflective engine.
    Reflect,
    /// The crisis protocol text.
    Protocol,
    /// A fixed engine text (empty input, follow-up, assistant apology).
    Rule,
    /// A staff member's line sent over the bus (wizard of oz); set by the
    /// controller, never by the engine.
    Staff,
}

/// Everything about one finished turn (what the store and the CLI record).
#[derive(Debug, Clone, Serialize)]
pub struct TurnResult {
    /// Sanitised participant text (cut at `max_input_chars`, as the LLM sees it).
    pub user: String,
    /// What the participant said, up to [`MAX_STORED_INPUT_CHARS`] (what the
    /// crisis layer read and the store keeps).
    #[serde(skip)]
    pub participant_text: String,
    /// Input was cut at `max_input_chars`.
    pub input_truncated: bool,
    /// The reasoner's reading.
    pub analysis: Analysis,
    /// Crisis decision.
    pub crisis: CrisisDecision,
    /// Policy decision.
    pub decision: Decision,
    /// The reply as shown/spoken.
    pub reply: String,
    /// The reply's sentences, in order.
    pub sentences: Vec<String>,
    /// ESConv strategies of the reply.
    pub strategies: Vec<Strategy>,
    /// Validator findings on every draft of this turn.
    pub findings: Vec<Finding>,
    /// Rewrites requested (0 or 1).
    pub rewrites: u32,
    /// Where the reply came from.
    pub source: ReplySource,
    /// The reply is a fallback because the LLM failed or stayed flagged.
    pub fallback: bool,
    /// Generation stopped early (length cap or a flagged later sentence).
    pub truncated: bool,
    /// The caller cancelled the turn while the LLM was writing (a staff line
    /// replaces the reply, or the participant went on talking before
    /// hearing it): the sentences released before stand, no fallback
    /// replaces the rest, and the cancellation is not an LLM error.
    pub stopped: bool,
    /// LLM failure, if any ("kind: message").
    pub llm_error: Option<String>,
    /// Turn start → first LLM token (or to the reply for deterministic paths).
    pub first_token_ms: u64,
    /// Turn start → reply complete.
    pub total_ms: u64,
    /// Time spent waiting on the LLM (for engine-overhead measurement).
    pub llm_ms: u64,
}

impl TurnResult {
    /// Distinct validator flags raised this turn, in order of first appearance.
    pub fn flags(&self) -> Vec<Flag> {
        let mut v = Vec::new();
        for f in &self.findings {
            if !v.contains(&f.flag) {
                v.push(f.flag);
            }
        }
        v
    }
}

/// The dialogue engine. Cheap to share between tasks.
#[derive(Debug, Clone)]
pub struct Engine {
    /// Configuration (also the fingerprint's input).
    cfg: EngineConfig,
    /// LLM client; `None` in reflect mode.
    client: Option<LlmClient>,
    /// Precomputed fingerprint.
    fingerprint: String,
    /// The crisis layer's semantic second opinion, when loaded.
    semantic: Option<Arc<SemanticRisk>>,
}

/// The crisis layer's semantic second opinion as the engine runs it; part
/// of the fingerprint, so an arm that runs without it cannot share a
/// fingerprint with one that runs it.
#[derive(Debug, Clone)]
pub enum SemanticLayer {
    /// Turned off in the config (`crisis.semantic = false`).
    Off,
    /// Loaded and used.
    On(Arc<SemanticRisk>),
    /// Configured but the model could not be loaded: lexical layer alone.
    Unavailable(String),
}

/// Participant input kept (and read by the crisis layer) up to this many
/// characters; only the LLM prompt is cut at `dialogue.max_input_chars`.
pub const MAX_STORED_INPUT_CHARS: usize = 65_536;

/// Reply for an empty turn.
pub const EMPTY_REPLY: &str = "I'm here whenever you're ready.";
/// Reply in the assistant condition when the LLM fails.
pub const ASSISTANT_APOLOGY: &str = "Sorry, I couldn't answer just now. Could you say that again?";

/// Follow-up while crisis state is active.
pub fn crisis_follow_up(cfg: &CrisisConfig) -> String {
    format!(
        "Thank you for still talking with me. What you shared earlier matters, and I'd still like you to reach a person: the {}, {}. How are you doing right now?",
        cfg.resource_name, cfg.resource_contact
    )
}

/// Earlier replies of the session the validator compares against.
const RECENT_REPLIES: usize = 3;

/// What the validator needs from the session besides the turn itself.
struct CheckContext<'a> {
    /// Earlier participant turns.
    earlier: &'a [String],
    /// The robot's last [`RECENT_REPLIES`] replies.
    recent: &'a [String],
    /// System-prompt phrases that must not leak.
    secrets: &'a [String],
}

struct Draft {
    sentences: Vec<String>,
    /// The sentence the validator rejected (the draft shown in the rewrite).
    rejected: Option<String>,
    findings: Vec<Finding>,
    /// Whether a finding stopped the draft (vs. a clean end).
    flagged: bool,
    truncated: bool,
    error: Option<LlmError>,
    first_token_ms: Option<u64>,
    llm_ms: u64,
}

impl Engine {
    /// Builds an engine. `client` must be `Some` unless the mode is reflect.
    pub fn new(cfg: EngineConfig, client: Option<LlmClient>) -> Self {
        let layer = if cfg.crisis.semantic { SemanticLayer::Unavailable("not loaded".into()) } else { SemanticLayer::Off };
        Self::with_semantic(cfg, client, layer)
    }

    /// Builds an engine with the crisis layer's semantic second opinion
    /// (loaded by the caller, so a binary loads the model once).
    pub fn with_semantic(mut cfg: EngineConfig, client: Option<LlmClient>, layer: SemanticLayer) -> Self {
        // Per-model settings are resolved once, before the fingerprint, so
        // the fingerprint records what is actually sent.
        cfg.dialogue.sampling.repeat_penalty = cfg.dialogue.sampling.effective_repeat_penalty(cfg.llm.mode);
        if let Some(n) = cfg.llm.history_turns {
            cfg.dialogue.history_turns = n;
        }
        let fingerprint = crate::fingerprint::fingerprint_with(&cfg, &layer);
        let semantic = match layer {
            SemanticLayer::On(s) => Some(s),
            _ => None,
        };
        Self { cfg, client, fingerprint, semantic }
    }

    /// The semantic layer in use, if any (its embedder is reusable).
    pub fn semantic(&self) -> Option<&Arc<SemanticRisk>> {
        self.semantic.as_ref()
    }

    /// The engine fingerprint.
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// The configuration.
    pub fn config(&self) -> &EngineConfig {
        &self.cfg
    }

    /// Runs one participant turn. Events go to `events` if given (the channel
    /// is bounded; a slow consumer slows generation rather than losing text).
    /// The caller may read the events while the turn runs or after it.
    pub async fn turn(
        &self,
        st: &mut SessionState,
        raw: &str,
        events: Option<&mpsc::Sender<EngineEvent>>,
        cancel: &CancellationToken,
    ) -> TurnResult {
        self.run_turn(st, raw, events, cancel, false).await
    }

    /// Like [`Engine::turn`], for a caller that reads `events` while the turn
    /// runs and stores the participant's words when it takes `Analysed`: no
    /// LLM request goes out before the receiver has taken that event, so a
    /// kill -9 while the request is in flight still leaves the words stored.
    pub async fn turn_stored_first(
        &self,
        st: &mut SessionState,
        raw: &str,
        events: &mpsc::Sender<EngineEvent>,
        cancel: &CancellationToken,
    ) -> TurnResult {
        self.run_turn(st, raw, Some(events), cancel, true).await
    }

    async fn run_turn(
        &self,
        st: &mut SessionState,
        raw: &str,
        events: Option<&mpsc::Sender<EngineEvent>>,
        cancel: &CancellationToken,
        wait_taken: bool,
    ) -> TurnResult {
        let start = Instant::now();
        let (user, input_truncated) = sanitize_input(raw, self.cfg.dialogue.max_input_chars);
        // Design: the crisis layer reads the whole input (up to the store's
        // far larger bound) before anything is cut for the LLM: a crisis
        // sentence after 2,000 characters of ordinary text is still heard.
        let participant_text = if input_truncated { sanitize_input(raw, MAX_STORED_INPUT_CHARS).0 } else { user.clone() };

        // 1. Crisis layer, always first, under every policy.
        let mut crisis = self.crisis_turn(st, &participant_text).await;
        // Design: words spoken before the check-in question was heard are
        // not its answer. They are graded on their own, and unless they
        // need the protocol, the reply is empty (the question, played after
        // them, is what the participant hears last) and the question stays
        // open for the answer that follows it.
        let check_in_unheard = std::mem::take(&mut st.check_in_unheard) && st.policy.asked_check_in;
        if check_in_unheard {
            st.policy.asked_check_in = false;
        }
        if st.policy.asked_check_in && is_affirmative(&user) && !is_unclear_answer(&user) && !crisis.use_protocol_reply {
            // "Yes" to "are you having thoughts of ending your life?" is
            // explicit ideation, even though the words alone carry no cue.
            crisis.risk = crisis.risk.max(Risk::High);
            crisis.crisis_active = true;
            crisis.use_protocol_reply = true;
            crisis.alert = true;
            crisis.signals.push("affirmed_on_check_in".into());
            st.crisis.active = true;
            st.crisis.calm_streak = 0;
            st.crisis.peak = Some(st.crisis.peak.map_or(Risk::High, |p| p.max(Risk::High)));
        }
        // An unclear answer to the check-in question is not a "no": it gets a
        // gentle follow-up (once) and the check-in stays open.
        let mut unclear_check_in = false;
        if st.policy.asked_check_in && !crisis.use_protocol_reply && is_unclear_answer(&user) {
            if st.check_in_followed_up {
                // Design: two unclear answers in a row to a direct question
                // about suicide are treated as yes (safe-messaging: when in
                // doubt, give the resource and a person).
                crisis.risk = crisis.risk.max(Risk::High);
                crisis.crisis_active = true;
                crisis.use_protocol_reply = true;
                crisis.alert = true;
                crisis.signals.push("unclear_on_check_in_twice".into());
                st.crisis.active = true;
                st.crisis.calm_streak = 0;
                st.crisis.peak = Some(st.crisis.peak.map_or(Risk::High, |p| p.max(Risk::High)));
            } else {
                unclear_check_in = true;
            }
        }
        // 2. Reasoner.
        let analysis = analyze(&user, &ReasonerContext { offered_suggestions: st.policy.offered_suggestions });
        // 3. Policy.
        let mut decision = decide(&analysis, &crisis, &mut st.policy);
        st.check_in_followed_up = false;
        let awaiting_check_in = check_in_unheard && !matches!(decision.intent, Intent::Crisis | Intent::CrisisFollowUp);
        if awaiting_check_in {
            decision = Decision { intent: Intent::CheckIn, suggestions_allowed: false };
            st.policy.asked_check_in = true;
        }
        if unclear_check_in && !decision.intent.is_deterministic() {
            decision = Decision { intent: Intent::CheckIn, suggestions_allowed: false };
            st.policy.asked_check_in = true;
            st.check_in_followed_up = true;
        }
        emit(events, EngineEvent::Analysed { user: user.clone(), participant_text: participant_text.clone(), input_truncated, analysis: analysis.clone(), crisis: crisis.clone(), decision }).await;
        if wait_taken {
            taken(events).await;
        }

        let mut result = TurnResult {
            user: user.clone(),
            participant_text,
            input_truncated,
            analysis,
            crisis,
            decision,
            reply: String::new(),
            sentences: Vec::new(),
            strategies: Vec::new(),
            findings: Vec::new(),
            rewrites: 0,
            source: ReplySource::Rule,
            fallback: false,
            truncated: false,
            stopped: false,
            llm_error: None,
            first_token_ms: 0,
            total_ms: 0,
            llm_ms: 0,
        };

        let deterministic = match decision.intent {
            Intent::Crisis => Some((protocol_reply(&self.cfg.crisis), ReplySource::Protocol)),
            Intent::CheckIn if awaiting_check_in => Some((String::new(), ReplySource::Rule)),
            Intent::CheckIn if unclear_check_in => Some((prompts::CHECK_IN_FOLLOW_UP.to_string(), ReplySource::Rule)),
            Intent::CheckIn => Some((prompts::CHECK_IN.to_string(), ReplySource::Rule)),
            Intent::CrisisFollowUp => Some((crisis_follow_up(&self.cfg.crisis), ReplySource::Rule)),
            Intent::Empty => Some((EMPTY_REPLY.to_string(), ReplySource::Rule)),
            Intent::Steer => Some((reflect_reply(&user, &result.analysis, &mut st.reflect), ReplySource::Reflect)),
            _ if self.client.is_none() || self.cfg.llm.mode == LlmMode::Reflect => {
                Some((reflect_reply(&user, &result.analysis, &mut st.reflect), ReplySource::Reflect))
            }
            _ => None,
        };

        if let Some((text, source)) = deterministic {
            result.source = source;
            result.first_token_ms = start.elapsed().as_millis() as u64;
            result.sentences = release_fixed(&text, events).await;
        } else {
            self.generate(st, &mut result, events, cancel, start).await;
        }

        result.reply = result.sentences.join(" ");
        // Design: suggestions count as offered only when the reply spoken
        // offered them. The policy asks for an offer, but a reply that came
        // from the fallback or the LLM without one ("What happened next?")
        // must not turn the participant's next "Yeah." into consent to a
        // generic tip.
        if st.policy.offered_suggestions && !crate::coherence::offers_suggestions(&result.reply) {
            st.policy.offered_suggestions = false;
        }
        result.strategies = code_reply(&result.reply);
        result.total_ms = start.elapsed().as_millis() as u64;
        st.history.push((user, result.reply.clone()));
        let keep = self.cfg.dialogue.history_turns.max(1) * 4;
        if st.history.len() > keep {
            let drop = st.history.len() - keep;
            st.history.drain(..drop);
        }
        result
    }

    /// Runs the crisis tracker on the whole input. With the semantic layer
    /// the embedding work runs on a blocking thread, off the async runtime.
    async fn crisis_turn(&self, st: &mut SessionState, text: &str) -> CrisisDecision {
        let Some(sem) = self.semantic.clone() else {
            return st.crisis.on_turn(text, &self.cfg.crisis);
        };
        let mut tracker = st.crisis.clone();
        let cfg = self.cfg.crisis.clone();
        let owned = text.to_string();
        match tokio::task::spawn_blocking(move || {
            let d = tracker.on_turn_with(&owned, &cfg, Some(&sem));
            (tracker, d)
        })
        .await
        {
            Ok((tracker, d)) => {
                st.crisis = tracker;
                d
            }
            Err(e) => {
                tracing::warn!(error = %e, "semantic crisis layer failed; lexical grade only for this turn");
                st.crisis.on_turn(text, &self.cfg.crisis)
            }
        }
    }

    async fn generate(
        &self,
        st: &mut SessionState,
        result: &mut TurnResult,
        events: Option<&mpsc::Sender<EngineEvent>>,
        cancel: &CancellationToken,
        start: Instant,
    ) {
        let Some(client) = &self.client else { return };
        let attuned = self.cfg.dialogue.policy == PolicyKind::Attuned;
        let mut messages = self.messages(st, &result.user, result.decision.intent);
        let earlier: Vec<String> = st.history.iter().map(|(u, _)| u.clone()).collect();
        let recent: Vec<String> = st.history.iter().rev().take(RECENT_REPLIES).rev().map(|(_, r)| r.clone()).collect();
        let secrets = prompts::secret_phrases();
        let ctx = CheckContext { earlier: &earlier, recent: &recent, secrets: &secrets };

        let mut draft = self
            .draft(client, &messages, result, &ctx, attuned, events, cancel, start)
            .await;
        result.llm_ms += draft.llm_ms;
        result.first_token_ms = draft.first_token_ms.unwrap_or(0);
        result.findings.extend(draft.findings.iter().cloned());

        if attuned && draft.sentences.is_empty() && draft.flagged && !cancel.is_cancelled() {
            // One rewrite with the validator's feedback.
            result.rewrites = 1;
            let bad = draft.rejected.clone().unwrap_or_default();
            let feedback: Vec<String> = draft.findings.iter().map(|f| f.feedback.clone()).collect();
            messages.push(ChatMessage::new("assistant", bad.clone()));
            messages.push(ChatMessage::new(
                "user",
                prompts::REWRITE_INSTRUCTION.replace("{draft}", &bad).replace("{feedback}", &feedback.join(" ")),
            ));
            draft = self
                .draft(client, &messages, result, &ctx, attuned, events, cancel, start)
                .await;
            result.llm_ms += draft.llm_ms;
            if result.first_token_ms == 0 {
                result.first_token_ms = draft.first_token_ms.unwrap_or(0);
            }
            result.findings.extend(draft.findings.iter().cloned());
        }

        result.truncated = draft.truncated;
        // Design: a reply nobody will hear is not worth the machine's time:
        // once the caller cancels, generation ends and nothing is written in
        // its place (the fallback would be withdrawn or replaced as well).
        if cancel.is_cancelled() {
            result.stopped = true;
            result.source = ReplySource::Llm;
            result.sentences = draft.sentences;
            if result.first_token_ms == 0 {
                result.first_token_ms = start.elapsed().as_millis() as u64;
            }
            return;
        }
        if let Some(e) = &draft.error {
            result.llm_error = Some(format!("{}: {e}", e.kind()));
            tracing::warn!(error = %e, "LLM failed during the turn");
        }
        if !draft.sentences.is_empty() {
            result.source = ReplySource::Llm;
            result.sentences = draft.sentences;
            return;
        }

        // Nothing usable from the LLM: fall back.
        result.fallback = true;
        let text = if attuned {
            result.source = ReplySource::Reflect;
            reflect_reply(&result.user, &result.analysis, &mut st.reflect)
        } else {
            result.source = ReplySource::Rule;
            ASSISTANT_APOLOGY.to_string()
        };
        if result.first_token_ms == 0 {
            result.first_token_ms = start.elapsed().as_millis() as u64;
        }
        result.sentences = release_fixed(&text, events).await;
    }

    /// Streams one draft, validating each sentence before releasing it.
    #[allow(clippy::too_many_arguments)]
    async fn draft(
        &self,
        client: &LlmClient,
        messages: &[ChatMessage],
        result: &TurnResult,
        ctx: &CheckContext<'_>,
        attuned: bool,
        events: Option<&mpsc::Sender<EngineEvent>>,
        cancel: &CancellationToken,
        turn_start: Instant,
    ) -> Draft {
        // Design: deltas travel on an unbounded channel from the generation
        // task; it is bounded in practice by `max_tokens` deltas per draft.
        let (dtx, mut drx) = mpsc::unbounded_channel::<String>();
        let stop = cancel.child_token();
        let mut gen = {
            let client = client.clone();
            let messages = messages.to_vec();
            let params = self.cfg.dialogue.sampling.clone();
            let stop = stop.clone();
            tokio::spawn(async move {
                let mut cb = |d: &str| {
                    if dtx.send(d.to_string()).is_err() {
                        Flow::Stop
                    } else {
                        Flow::Continue
                    }
                };
                client.stream_chat(&messages, &params, &stop, &mut cb).await
            })
        };

        let mut d = Draft { sentences: Vec::new(), rejected: None, findings: Vec::new(), flagged: false, truncated: false, error: None, first_token_ms: None, llm_ms: 0 };
        let mut splitter = SentenceSplitter::new();
        let max_sentences = self.cfg.validator.max_sentences as usize;
        let mut done = false;
        let mut pending: Vec<String> = Vec::new();
        // Sentences that pass every check but do no listener's act yet,
        // held until a later sentence of the same reply does one.
        let mut held: Vec<String> = Vec::new();
        let mut outcome = None;
        // The unfinished tail of a stream that was cut without [DONE].
        let mut cut_tail: Option<String> = None;
        let llm_start = Instant::now();
        while !done {
            match drx.recv().await {
                Some(delta) => {
                    if d.first_token_ms.is_none() {
                        d.first_token_ms = Some(turn_start.elapsed().as_millis() as u64);
                    }
                    pending.extend(splitter.push(&delta));
                }
                None => {
                    // The stream is over: learn how before releasing its
                    // tail. Design: the unfinished tail of a stream that
                    // failed (total deadline, dropped connection) is never
                    // shown as if finished ("I am a"); complete sentences
                    // before it were validated and stand.
                    let o = (&mut gen).await;
                    // A stream that ended without [DONE] or a finish reason
                    // was cut (the server died, a proxy or the network
                    // dropped it): every server attune speaks to ends a
                    // finished reply with [DONE].
                    let eof = matches!(&o, Ok(Ok(c)) if c.finish_reason == "eof");
                    let clean = (matches!(o, Ok(Ok(_))) && !eof) || (stop.is_cancelled() && !cancel.is_cancelled());
                    outcome = Some(o);
                    match splitter.finish() {
                        Some(tail) if (clean || eof) && ends_a_sentence(&tail) => pending.push(tail),
                        // A whole reply without end punctuation.
                        Some(tail) if clean && d.sentences.is_empty() && pending.is_empty() => pending.push(tail),
                        // A tail without end punctuation after released
                        // sentences was cut by the token cap: drop it.
                        Some(tail) => {
                            d.truncated = true;
                            if eof {
                                cut_tail = Some(tail);
                            }
                        }
                        None => {}
                    }
                    done = true;
                }
            }
            let last = pending.len();
            for (i, sentence) in pending.drain(..).enumerate() {
                if d.flagged || d.truncated {
                    break;
                }
                // The held sentences go out with this one or not at all.
                let mut group = std::mem::take(&mut held);
                group.push(sentence);
                if attuned {
                    match self.check(&d.sentences, &group.join(" "), result, ctx) {
                        Ok(()) => {}
                        // Design: the listener's act is judged on the whole
                        // reply, but sentences are released one by one; a
                        // first sentence that only sets the scene is held
                        // (not spoken) until a later one acts. A stream that
                        // ends before one does is flagged below.
                        Err(findings)
                            if findings.iter().all(|f| f.flag == Flag::Ungrounded && crate::coherence::mendable(&f.evidence))
                                && !(done && i + 1 == last)
                                && d.sentences.len() + group.len() < max_sentences =>
                        {
                            held = group;
                            continue;
                        }
                        Err(findings) => {
                            let only_length = findings.iter().all(|f| f.flag == Flag::TooLong);
                            if only_length && !d.sentences.is_empty() {
                                d.truncated = true;
                            } else {
                                d.findings.extend(findings);
                                d.flagged = true;
                                d.rejected = Some(group.join(" "));
                                if !d.sentences.is_empty() {
                                    d.truncated = true;
                                }
                            }
                            stop.cancel();
                            break;
                        }
                    }
                }
                for sentence in group {
                    emit(events, EngineEvent::Sentence(sentence.clone())).await;
                    d.sentences.push(sentence);
                }
                if attuned && d.sentences.len() >= max_sentences {
                    d.truncated = !done;
                    stop.cancel();
                    break;
                }
            }
            // The stream ended with sentences still held: the reply never
            // did a listener's act (or answered, or said goodbye).
            if done && !held.is_empty() && !d.flagged {
                let reply = d.sentences.iter().chain(held.iter()).cloned().collect::<Vec<_>>().join(" ");
                d.findings.push(Finding {
                    flag: Flag::Ungrounded,
                    evidence: format!("{}{reply}", crate::coherence::NO_ACT),
                    feedback: "Say only a short reflection of the person's own words, a plain acknowledgement (\"That sounds hard.\"), or an open question about what they said.".into(),
                });
                d.flagged = true;
                d.rejected = Some(held.join(" "));
                if !d.sentences.is_empty() {
                    d.truncated = true;
                }
                held.clear();
            }
            if d.flagged || d.truncated {
                break;
            }
        }
        drop(drx);
        let outcome = match outcome {
            Some(o) => o,
            None => gen.await,
        };
        d.llm_ms = llm_start.elapsed().as_millis() as u64;
        match outcome {
            Ok(Ok(_)) => {}
            Ok(Err(LlmError::Cancelled { .. })) if stop.is_cancelled() && !cancel.is_cancelled() => {}
            Ok(Err(e)) => d.error = Some(e),
            Err(join) => d.error = Some(LlmError::Stream { reason: format!("generation task failed: {join}"), partial: String::new() }),
        }
        if let Some(partial) = cut_tail {
            d.error = Some(LlmError::Stream { reason: "the stream ended without [DONE] in the middle of a sentence".into(), partial });
        }
        if attuned && d.sentences.is_empty() && !d.flagged && d.error.is_none() {
            // The model produced nothing usable (only whitespace).
            d.findings.push(Finding { flag: Flag::Empty, evidence: String::new(), feedback: "Reply with one to three short sentences.".into() });
            d.flagged = true;
        }
        d
    }

    /// Validates `sentence` appended to the already released `prefix`.
    fn check(&self, prefix: &[String], sentence: &str, result: &TurnResult, ctx: &CheckContext<'_>) -> Result<(), Vec<Finding>> {
        let mut reply = prefix.join(" ");
        if !reply.is_empty() {
            reply.push(' ');
        }
        reply.push_str(sentence);
        let input = ValidationInput {
            reply: &reply,
            user_text: &result.user,
            analysis: &result.analysis,
            earlier_user_texts: ctx.earlier,
            suggestions_allowed: result.decision.suggestions_allowed,
            secret_phrases: ctx.secrets,
            recent_replies: ctx.recent,
            // Seam: `coherence::topic_similarity` with the semantic layer's
            // embedder plugs in here. Measured on the held-out coherence set
            // it did no better than the validator's own content-word overlap
            // (README), so the lexical measure decides.
            topic_similarity: None,
        };
        let findings = validate(&input, &self.cfg.validator.resolved(self.cfg.llm.mode == crate::config::LlmMode::Local));
        if findings.is_empty() {
            Ok(())
        } else {
            Err(findings)
        }
    }

    /// The messages sent to the LLM for this turn.
    pub fn messages(&self, st: &SessionState, user: &str, intent: Intent) -> Vec<ChatMessage> {
        let mut system = match self.cfg.dialogue.policy {
            PolicyKind::Attuned => prompts::persona(&self.cfg.dialogue.robot_name),
            PolicyKind::Assistant => prompts::ASSISTANT_PERSONA.to_string(),
        };
        if self.cfg.dialogue.policy == PolicyKind::Attuned {
            if !st.memory.is_empty() {
                system.push_str("\n\n");
                system.push_str(prompts::MEMORY_HEADER);
                for m in st.memory.iter().rev().take(self.cfg.dialogue.memory_sessions).rev() {
                    system.push_str("\n- ");
                    system.push_str(m);
                }
            }
            system.push_str("\n\nFor this reply: ");
            system.push_str(prompts::intent_instruction(intent));
        }
        let mut msgs = vec![ChatMessage::new("system", system)];
        let n = self.cfg.dialogue.history_turns;
        let skip = st.history.len().saturating_sub(n);
        for (u, r) in st.history.iter().skip(skip) {
            msgs.push(ChatMessage::new("user", u.clone()));
            if !r.is_empty() {
                msgs.push(ChatMessage::new("assistant", r.clone()));
            }
        }
        msgs.push(ChatMessage::new("user", user.to_string()));
        msgs
    }
}

/// A yes-like answer to a direct question ("yes", "sometimes", "kind of").
pub fn is_affirmative(text: &str) -> bool {
    let t = text.trim().to_lowercase();
    let t = t.trim_start_matches(|c: char| !c.is_alphanumeric());
    if ["no", "nope", "not really", "never", "nah", "not at all", "i'm not", "im not", "i am not"].iter().any(|n| t.starts_with(n)) {
        return false;
    }
    ["yes", "yeah", "yep", "yup", "ya", "sometimes", "kind of", "kinda", "sort of", "maybe", "i guess", "a little", "a bit", "i do", "i am", "i have", "honestly yes", "often", "all the time", "lately", "i think so", "probably", "true"]
        .iter()
        .any(|a| t == *a || t.starts_with(&format!("{a} ")) || t.starts_with(&format!("{a},")) || t.starts_with(&format!("{a}.")))
}

/// Whether `s` ends like a finished sentence.
fn ends_a_sentence(s: &str) -> bool {
    s.trim_end().ends_with(['.', '!', '?', '…', '"', '”', ')'])
}

/// An answer to the check-in question that is neither yes nor no:
/// "maybe", "I don't know", "sometimes", or a no taken back ("no. well,
/// maybe yes").
pub fn is_unclear_answer(text: &str) -> bool {
    let t = text.trim().to_lowercase().replace('’', "'");
    let toks = crate::lexicon::tokens(&t);
    if toks.is_empty() || toks.len() > 12 {
        return false;
    }
    let hedge = UNCLEAR.iter().any(|h| {
        let hw = crate::lexicon::tokens(h);
        toks.windows(hw.len()).any(|w| w == hw.as_slice())
    });
    let no = toks.iter().any(|w| matches!(w.as_str(), "no" | "nope" | "nah" | "never"));
    let yes = toks.iter().any(|w| matches!(w.as_str(), "yes" | "yeah" | "yep" | "yup"));
    (hedge && !yes) || (no && (yes || hedge))
}

/// Hedges that leave a yes/no question open.
const UNCLEAR: &[&str] = &[
    "maybe", "perhaps", "possibly", "sometimes", "i don't know", "i dont know", "don't know", "dont know", "idk", "dunno",
    "not sure", "unsure", "hard to say", "can't say", "it depends", "who knows", "not certain", "on and off", "now and then",
    "at times",
];

/// Releases a reply that needs no validation pass (protocol, rule and
/// reflect texts) sentence by sentence; returns its sentences.
async fn release_fixed(text: &str, events: Option<&mpsc::Sender<EngineEvent>>) -> Vec<String> {
    let sentences = crate::text::split_sentences(text);
    for s in &sentences {
        emit(events, EngineEvent::Sentence(s.clone())).await;
    }
    sentences
}

async fn emit(events: Option<&mpsc::Sender<EngineEvent>>, ev: EngineEvent) {
    if let Some(tx) = events {
        // A dropped receiver means nobody listens any more; the turn goes on.
        let _ = tx.send(ev).await;
    }
}

/// Waits until the receiver has taken every event sent so far (or is gone).
/// A receiver handles an event in the same poll in which it takes it, so
/// when the channel is empty its handling of the last event has begun; a
/// receiver polled in the same task (`join!`) has finished it.
async fn taken(events: Option<&mpsc::Sender<EngineEvent>>) {
    let Some(tx) = events else { return };
    let mut spins = 0u32;
    while tx.capacity() < tx.max_capacity() && !tx.is_closed() {
        if spins < 64 {
            spins += 1;
            tokio::task::yield_now().await;
        } else {
            tokio::time::sleep(std::time::Duration::from_millis(1)).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reflect_engine() -> Engine {
        let mut cfg = EngineConfig::default();
        cfg.llm.mode = LlmMode::Reflect;
        Engine::new(cfg, None)
    }

    async fn say(e: &Engine, st: &mut SessionState, text: &str) -> TurnResult {
        e.turn(st, text, None, &CancellationToken::new()).await
    }

    /// A receiver that takes `Analysed` late: `turn_stored_first` goes no
    /// further until it has; plain `turn` (whose caller may read afterwards)
    /// does not wait.
    async fn finished_before_taken(stored_first: bool) -> bool {
        let e = reflect_engine();
        let mut st = SessionState::default();
        let (tx, mut rx) = mpsc::channel(8);
        let taker = tokio::spawn(async move {
            tokio::time::sleep(std::time::Duration::from_millis(300)).await;
            let first = rx.recv().await;
            let at = Instant::now();
            while rx.recv().await.is_some() {}
            (matches!(first, Some(EngineEvent::Analysed { .. })), at)
        });
        let cancel = CancellationToken::new();
        let r = if stored_first {
            e.turn_stored_first(&mut st, "My week was awful.", &tx, &cancel).await
        } else {
            e.turn(&mut st, "My week was awful.", Some(&tx), &cancel).await
        };
        let done = Instant::now();
        assert!(!r.reply.is_empty());
        drop(tx);
        let (analysed_first, taken_at) = taker.await.unwrap();
        assert!(analysed_first);
        done < taken_at
    }

    #[tokio::test]
    async fn turn_stored_first_waits_until_the_analysis_is_taken() {
        assert!(!finished_before_taken(true).await);
        assert!(finished_before_taken(false).await, "the control: plain turn does not wait");
    }

    #[test]
    fn yes_like_answers_are_affirmative_and_no_like_answers_are_not() {
        for a in ["yes", "Yeah, sometimes", "sometimes", "kind of", "I guess", "a little.", "i do"] {
            assert!(is_affirmative(a), "{a}");
        }
        for n in ["no", "Nope", "not really", "no, just tired", "I'm not", "what?", "yesterday was bad", ""] {
            assert!(!is_affirmative(n), "{n}");
        }
    }

    #[tokio::test]
    async fn passive_ideation_gets_a_direct_question_and_yes_starts_the_crisis_protocol() {
        let e = reflect_engine();
        let mut st = SessionState::default();
        let r = say(&e, &mut st, "Honestly I don't want to be here anymore.").await;
        assert_eq!(r.crisis.risk, Risk::Low, "{:?}", r.crisis);
        assert_eq!(r.decision.intent, Intent::CheckIn);
        assert!(r.reply.contains("thoughts of ending your life"), "{}", r.reply);
        let r = say(&e, &mut st, "yeah, sometimes").await;
        assert_eq!(r.decision.intent, Intent::Crisis);
        assert!(r.crisis.alert && r.crisis.crisis_active);
        assert_eq!(r.source, ReplySource::Protocol);
        assert!(st.crisis.active);
    }

    #[tokio::test]
    async fn no_to_the_check_in_continues_the_conversation() {
        let e = reflect_engine();
        let mut st = SessionState::default();
        say(&e, &mut st, "Honestly I don't want to be here anymore.").await;
        let r = say(&e, &mut st, "no, I'm just exhausted with everything").await;
        assert!(!r.crisis.crisis_active);
        assert_ne!(r.decision.intent, Intent::Crisis);
        assert!(!r.crisis.alert);
    }

    #[test]
    fn unclear_answers_are_neither_yes_nor_no() {
        for a in ["maybe", "I don't know", "sometimes", "no. well, maybe yes", "not sure", "idk", "No... yes?", "hard to say"] {
            assert!(is_unclear_answer(a), "{a}");
        }
        for a in ["yes", "yeah, sometimes", "no", "no, I'm just exhausted with everything", "I had a long day", ""] {
            assert!(!is_unclear_answer(a), "{a}");
        }
    }

    #[tokio::test]
    async fn an_unclear_check_in_answer_gets_a_gentle_follow_up_and_keeps_the_check_in_open() {
        for answer in ["maybe", "I don't know", "sometimes", "no. well, maybe yes"] {
            let e = reflect_engine();
            let mut st = SessionState::default();
            say(&e, &mut st, "Honestly I don't want to be here anymore.").await;
            let r = say(&e, &mut st, answer).await;
            assert_eq!(r.decision.intent, Intent::CheckIn, "{answer}");
            assert_eq!(r.reply, prompts::CHECK_IN_FOLLOW_UP, "{answer}");
            assert_eq!(r.source, ReplySource::Rule);
            assert!(!r.crisis.alert, "{answer}");
            assert!(st.policy.asked_check_in, "{answer}: the check-in stays open");
            // A clear yes now starts the crisis protocol.
            let r = say(&e, &mut st, "yes").await;
            assert_eq!(r.decision.intent, Intent::Crisis, "{answer}");
        }
    }

    #[tokio::test]
    async fn a_no_after_the_follow_up_closes_the_check_in() {
        let e = reflect_engine();
        let mut st = SessionState::default();
        say(&e, &mut st, "Honestly I don't want to be here anymore.").await;
        say(&e, &mut st, "I don't know").await;
        let r = say(&e, &mut st, "no, I'm not thinking of that").await;
        assert_ne!(r.decision.intent, Intent::Crisis);
        assert!(!st.policy.asked_check_in);
    }

    #[tokio::test]
    async fn two_unclear_answers_in_a_row_are_taken_as_yes() {
        let e = reflect_engine();
        let mut st = SessionState::default();
        say(&e, &mut st, "Honestly I don't want to be here anymore.").await;
        say(&e, &mut st, "maybe").await;
        let r = say(&e, &mut st, "I don't know").await;
        assert_eq!(r.decision.intent, Intent::Crisis);
        assert!(r.crisis.alert);
        assert!(r.crisis.signals.iter().any(|s| s == "unclear_on_check_in_twice"));
    }

    #[tokio::test]
    async fn a_yes_after_a_reply_that_offered_nothing_is_not_consent_to_a_tip() {
        // The policy wants an offer at the third disclosure; the reflective
        // reply made none ("What happened next?"), so "Yeah." is an answer,
        // not consent (the fifth writer's "Yeah." got a generic tip).
        let e = reflect_engine();
        let mut st = SessionState::default();
        for t in ["Long shift today. Nine hours on my feet.", "Boiler's broken again. Landlord says maybe next week.", "I've got forty quid till Friday and Ellie needs new school shoes."] {
            let r = say(&e, &mut st, t).await;
            assert!(!crate::coherence::offers_suggestions(&r.reply), "{}", r.reply);
        }
        assert!(!st.policy.offered_suggestions);
        let r = say(&e, &mut st, "Yeah.").await;
        assert!(!r.reply.contains("Some people find") && !r.reply.contains("One option") && !r.reply.contains("talking it over"), "{}", r.reply);
    }

    #[tokio::test]
    async fn yes_without_a_check_in_is_not_a_crisis() {
        let e = reflect_engine();
        let mut st = SessionState::default();
        say(&e, &mut st, "I had a long day at work.").await;
        let r = say(&e, &mut st, "yes").await;
        assert!(!r.crisis.crisis_active);
    }
}
