//! A conversation session: the one place that wires the dialogue engine to the
//! session store (and, for the local backend, to the supervised LLM server).
//! Every arm — chatbot, voice, robot — runs its turns through here, so the
//! engine, the logging and the fingerprint are identical between arms.

use crate::config::Config;
use crate::engine_args::{EngineArgs, LlmChoice, PolicyChoice};
use crate::llm_supervisor::LocalLlm;
use crate::store::{NewSession, Store, TurnFinish, TurnStart};
use anyhow::Context;
use attune_dialogue::config::{LlmMode, PolicyKind};
use attune_dialogue::engine::{Engine, EngineConfig, EngineEvent, SessionState, TurnResult};
use attune_dialogue::llm::LlmClient;
use attune_dialogue::memory::{summarize, TurnNote};
use attune_dialogue::strategy::Strategy;
use attune_dialogue::validator::Flag;
use serde::Serialize;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// Resolved settings of a session: the config with command-line overrides.
#[derive(Debug, Clone)]
pub struct Resolved {
    /// The config after overrides, validated.
    pub cfg: Config,
    /// Participant id.
    pub participant: String,
    /// Study day.
    pub day: u32,
    /// The store lives in memory only (`--ephemeral`).
    pub ephemeral: bool,
    /// A study's `[latency_matching]`, for its text arms (recorded with the
    /// session, applied by the runner); `None` outside a study.
    pub latency_matching: Option<crate::pacing::LatencyMatching>,
}

/// Loads the config and applies `--llm`, `--policy`, `--db`, `--participant`, `--day`.
pub fn resolve(args: &EngineArgs) -> anyhow::Result<Resolved> {
    let mut cfg = Config::load(args.config.as_deref())?;
    if let Some(l) = args.llm {
        cfg.llm.mode = match l {
            LlmChoice::Local => LlmMode::Local,
            LlmChoice::Openai => LlmMode::Openai,
            LlmChoice::Reflect => LlmMode::Reflect,
        };
    }
    if let Some(p) = args.policy {
        cfg.dialogue.policy = match p {
            PolicyChoice::Attuned => PolicyKind::Attuned,
            PolicyChoice::Assistant => PolicyKind::Assistant,
        };
    }
    if let Some(db) = &args.db {
        cfg.store.path = db.clone();
    }
    let in_memory = crate::store::is_ephemeral_path(&cfg.store.path);
    if args.ephemeral && !in_memory && args.db.is_some() {
        anyhow::bail!("--ephemeral keeps the store in memory, but --db names the file {}; drop one of them", cfg.store.path.display());
    }
    if in_memory && !args.ephemeral {
        let what = if args.db.is_some() { format!("--db {:?}", cfg.store.path.display().to_string()) } else { "field `store.path` (empty)".to_string() };
        anyhow::bail!(
            "{what} is an in-memory store: the session's turns, staff alerts and crisis state would vanish at exit; \
             pass --ephemeral to run one anyway, or give a database file"
        );
    }
    // Overrides can make a valid file invalid (e.g. --llm openai with no URL).
    cfg.validate().map_err(|e| anyhow::anyhow!("{e}"))?;
    let participant = args.participant.clone().unwrap_or_else(|| "anonymous".into());
    validate_participant(&participant)?;
    let day = args.day.unwrap_or(1);
    if day == 0 || day > 366 {
        anyhow::bail!("--day must be between 1 and 366, got {day}");
    }
    Ok(Resolved { cfg, participant, day, ephemeral: args.ephemeral, latency_matching: None })
}

fn validate_participant(p: &str) -> anyhow::Result<()> {
    let ok = !p.is_empty() && p.len() <= 64 && p.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if !ok {
        anyhow::bail!("--participant must be 1-64 characters of letters, digits, '-', '_' or '.', got {p:?}");
    }
    Ok(())
}

/// The engine configuration (and so the fingerprint) for resolved settings.
pub fn engine_config(cfg: &Config) -> EngineConfig {
    EngineConfig {
        llm: cfg.llm.clone(),
        dialogue: cfg.dialogue.clone(),
        crisis: cfg.crisis.clone(),
        validator: cfg.validator.clone(),
        model_id: model_id(cfg),
    }
}

/// Identity of the model: for a local GGUF its file name and size, for a
/// remote server the configured model name, for reflect the engine itself.
pub fn model_id(cfg: &Config) -> String {
    match cfg.llm.mode {
        LlmMode::Reflect => "reflect".into(),
        LlmMode::Openai => format!("openai:{}", cfg.llm.model),
        LlmMode::Local => {
            let path = crate::llm_supervisor::model_path(&cfg.llm.local);
            let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
            format!("gguf:{name}:{size}")
        }
    }
}

/// `validator` field of a turn.
#[derive(Debug, Clone, Serialize)]
pub struct ValidatorReport {
    /// Flags raised on any draft of this turn.
    pub flags: Vec<Flag>,
    /// Rewrites requested.
    pub rewrites: u32,
}

/// `timings_ms` field of a turn.
#[derive(Debug, Clone, Serialize)]
pub struct Timings {
    /// Turn start → first LLM token (→ reply, for deterministic paths).
    pub first_token: u64,
    /// Turn start → reply complete.
    pub total: u64,
    /// Time spent waiting on the LLM.
    pub llm: u64,
}

/// One turn as reported on stdout by `attune chat --script` (and extended by
/// the voice arm). Field names are a contract.
#[derive(Debug, Clone, Serialize)]
pub struct TurnReport {
    pub turn: u64,
    pub user: String,
    pub reply: String,
    pub risk: attune_dialogue::crisis::Risk,
    pub crisis_active: bool,
    pub user_act: attune_dialogue::reasoner::UserAct,
    pub emotions: Vec<String>,
    pub reply_strategies: Vec<Strategy>,
    pub validator: ValidatorReport,
    pub backend: String,
    pub fallback: bool,
    pub timings_ms: Timings,
    pub fingerprint: String,
    /// What the reply set out to do.
    pub intent: attune_dialogue::policy::Intent,
    /// Where the reply came from (llm, reflect, protocol, rule).
    pub source: attune_dialogue::engine::ReplySource,
    /// A staff alert was raised on this turn.
    pub alert: bool,
    /// With `alert`: whether every configured channel took it (false when a
    /// channel failed — it is being retried — or none is configured); null
    /// without an alert.
    pub alert_delivered: Option<bool>,
    /// The participant's input was cut to `dialogue.max_input_chars`.
    pub input_truncated: bool,
    /// LLM failure on this turn, if any.
    pub llm_error: Option<String>,
    /// Session row id in the store.
    pub session: i64,
}

/// A running conversation session. See the module doc.
pub struct ChatSession {
    /// The shared dialogue engine.
    engine: Engine,
    /// Conversation state the engine advances.
    state: SessionState,
    /// Durable log.
    store: Store,
    /// Session row id.
    session_id: i64,
    /// Participant id and day.
    participant: String,
    day: u32,
    /// Turns taken so far.
    turns: u64,
    /// Per-turn notes for the end-of-session memory summary.
    notes: Vec<TurnNote>,
    /// Resolved config.
    cfg: Config,
    /// The supervised local LLM server, if the backend is local.
    local: Option<LocalLlm>,
    /// Staff-alert delivery and its retry thread.
    alerts: crate::alerts::Dispatcher,
    /// The MQTT bus to staff, when `[bus]` is configured.
    bus: Option<crate::bus::BusHandle>,
    /// Staff commands (pause, resume, stop, say) from the bus and the web dashboard.
    desk: crate::bus::desk::StaffDesk,
}

/// The session's side of the [`crate::bus::desk::StaffDesk`]: audits in the
/// store, reports on the bus when there is one.
struct DeskHooks<'a> {
    /// The session store.
    store: &'a Store,
    /// Session row id.
    session: i64,
    /// The bus, when configured.
    bus: Option<&'a mut crate::bus::BusHandle>,
}

impl crate::bus::desk::DeskHooks for DeskHooks<'_> {
    fn audit(&self, kind: &str, payload: serde_json::Value) {
        if let Err(e) = self.store.event(Some(self.session), None, kind, &payload) {
            tracing::error!("could not audit {kind}: {e}");
        }
    }
    fn already_applied(&self, id: &str) -> bool {
        self.bus.as_ref().is_some_and(|b| b.already_applied(id))
    }
    fn outcome(&mut self, c: &crate::bus::message::StaffCommand, outcome: &str, turn: Option<u64>) {
        if let Some(b) = self.bus.as_mut() {
            b.command_event(c, outcome, turn);
        }
    }
    fn paused_changed(&mut self, paused: bool) {
        if let Some(b) = self.bus.as_mut() {
            b.set_paused(paused);
        }
    }
}

impl ChatSession {
    /// Opens the store, builds the engine (starting the local LLM if
    /// configured) and starts a session row. `arm` is chatbot | voice | robot.
    // Kept for embedders and hooks (the arms open through the runner).
    #[allow(dead_code)]
    pub async fn open(args: &EngineArgs, arm: &str) -> anyhow::Result<ChatSession> {
        let r = resolve(args)?;
        Self::open_resolved(r, arm).await
    }

    /// Like [`open`](Self::open) for already-resolved settings.
    pub async fn open_resolved(r: Resolved, arm: &str) -> anyhow::Result<ChatSession> {
        let Resolved { cfg, participant, day, ephemeral, .. } = r;
        let alert_warnings = crate::alerts::startup_check(&cfg.alerts).map_err(|e| anyhow::anyhow!(e))?;
        let store = if ephemeral {
            eprintln!("attune: warning: --ephemeral: the session store is in memory; turns, staff alerts and crisis state are lost at exit");
            Store::open_ephemeral()?
        } else {
            crate::diskspace::ensure_room(&cfg.store.path, cfg.store.min_free_mb)?;
            Store::open(&cfg.store.path)?
        };
        crate::recovery::close_orphans(&store, cfg.dialogue.memory_summary_chars)?;
        let (client, local) = match cfg.llm.mode {
            LlmMode::Reflect => (None, None),
            LlmMode::Openai => (Some(LlmClient::new(&cfg.llm, &cfg.llm.base_url)?), None),
            LlmMode::Local => {
                let local = LocalLlm::start(&cfg.llm).await.context("starting the local LLM server (use --llm reflect to run without an LLM)")?;
                let client = LlmClient::new(&cfg.llm, &local.base_url())?.with_server_token(local.token());
                (Some(client), Some(local))
            }
        };
        let semantic = crate::risk_model::load(&cfg.crisis);
        let semantic_unavailable = match &semantic {
            attune_dialogue::engine::SemanticLayer::Unavailable(reason) => Some(reason.clone()),
            _ => None,
        };
        let reader_absent = cfg.crisis.reader && matches!(&semantic, attune_dialogue::engine::SemanticLayer::On(s) if s.reader().is_none());
        let engine = Engine::with_semantic(engine_config(&cfg), client, semantic);
        let mut state = SessionState { memory: store.recent_summaries(&participant, cfg.dialogue.memory_sessions)?, ..Default::default() };
        let carried = store.last_session_in_crisis(&participant)?;
        let session_id = store.start_session(&NewSession {
            participant: &participant,
            day,
            arm,
            policy: cfg.dialogue.policy.as_str(),
            backend: cfg.llm.mode.as_str(),
            fingerprint: engine.fingerprint(),
        })?;
        store.event(Some(session_id), None, "session_start", &serde_json::json!({"arm": arm, "participant": participant, "day": day, "fingerprint": engine.fingerprint()}))?;
        if let Some(reason) = semantic_unavailable {
            store.event(Some(session_id), None, "semantic_unavailable", &serde_json::json!({"reason": reason, "model_dir": crate::risk_model::model_dir(&cfg.crisis)}))?;
        }
        if reader_absent {
            store.event(Some(session_id), None, "risk_reader_absent", &serde_json::json!({"reader_dir": crate::risk_model::reader_dir(&cfg.crisis)}))?;
        }
        for w in &alert_warnings {
            eprintln!("attune: warning: staff alerts: {w}");
            store.event(Some(session_id), None, "alert_channel_unavailable", &serde_json::json!({"error": w}))?;
        }
        let alerts = crate::alerts::Dispatcher::new(&cfg.alerts).context("starting the staff-alert retry thread")?;
        if carried {
            // Design: crisis state outlives a crash or restart; only calm
            // turns clear it, never a new process.
            state.crisis.active = true;
            store.set_session_crisis(session_id, true)?;
            store.event(Some(session_id), None, "crisis_carried_over", &serde_json::json!({}))?;
        }
        let desk = crate::bus::desk::StaffDesk::new();
        let bus = match &cfg.bus {
            None => None,
            Some(b) => {
                let ctx = crate::bus::SessionCtx { session: session_id, participant: participant.clone(), arm: arm.into(), day, fingerprint: engine.fingerprint().into(), crisis_active: carried };
                let bus = crate::bus::BusHandle::start(b, &cfg.store.path, ctx, desk.sender())?;
                bus.wait_online(std::time::Duration::from_millis(b.connect_wait_ms)).await;
                Some(bus)
            }
        };
        Ok(ChatSession { engine, state, store, session_id, participant, day, turns: 0, notes: Vec::new(), cfg, local, alerts, bus, desk })
    }

    /// The engine fingerprint.
    pub fn fingerprint(&self) -> &str {
        self.engine.fingerprint()
    }

    /// The resolved config.
    pub fn config(&self) -> &Config {
        &self.cfg
    }

    /// One participant turn. Each validated sentence is committed to the
    /// store and then sent on `sentences` (if given) as soon as it is ready.
    /// The whole turn is committed before this returns.
    #[allow(dead_code)] // the runner uses turn_observed; kept as the simple entry point
    pub async fn turn(&mut self, text: &str, sentences: Option<&mpsc::Sender<String>>) -> anyhow::Result<TurnReport> {
        self.turn_observed(text, sentences, None, &CancellationToken::new()).await
    }

    /// Turns taken so far (the next turn is `turns() + 1`).
    pub fn turns(&self) -> u64 {
        self.turns
    }

    /// The check-in question (the last reply) was still unheard when the
    /// participant spoke again: their next words are not its answer (see
    /// `SessionState::check_in_unheard`).
    pub fn check_in_unheard(&mut self) {
        self.state.check_in_unheard = true;
    }

    /// The engine's history, oldest first: (what the participant said,
    /// what they heard of the reply).
    #[cfg(test)]
    pub fn history(&self) -> &[(String, String)] {
        &self.state.history
    }

    /// Like [`turn`](Self::turn), also handing every engine event
    /// (`Analysed` first, then each sentence) to `observer` once it is
    /// committed to the store. Cancelling `stop` ends the LLM's writing: the
    /// sentences released before stand and the turn is stored as usual
    /// (with a `generation_stopped` event); nothing replaces the rest.
    pub async fn turn_observed(
        &mut self,
        text: &str,
        sentences: Option<&mpsc::Sender<String>>,
        observer: Option<&mpsc::Sender<EngineEvent>>,
        stop: &CancellationToken,
    ) -> anyhow::Result<TurnReport> {
        self.turns += 1;
        let idx = self.turns;
        let crisis_before = self.state.crisis.active;
        let backend = self.cfg.llm.mode.as_str();
        let fingerprint = self.engine.fingerprint().to_string();
        let (etx, mut erx) = mpsc::channel::<EngineEvent>(8);
        let cancel = stop.child_token();
        // A staff line queued on the bus (wizard of oz) replaces this turn's
        // reply unless the crisis layer says otherwise; see bus::message::decide_say.
        if let Some(b) = self.bus.as_mut() {
            b.turn_started(idx);
        }
        let staff_line = self.desk.queued_say();
        let mut say_decision = None;
        let cancel_gen = cancel.clone();

        let engine = &self.engine;
        let state = &mut self.state;
        let store = &self.store;
        let session_id = self.session_id;
        let gen = async move {
            let r = engine.turn_stored_first(state, text, &etx, &cancel).await;
            drop(etx);
            r
        };
        let say_slot = &mut say_decision;
        let log = async {
            let mut row: Option<i64> = None;
            let mut failure: Option<anyhow::Error> = None;
            while let Some(ev) = erx.recv().await {
                if failure.is_some() {
                    continue; // drain so the engine never blocks
                }
                let step: anyhow::Result<()> = (|| {
                    match &ev {
                        EngineEvent::Analysed { participant_text, input_truncated, analysis, crisis, decision, .. } => {
                            if let Some((_, aware)) = &staff_line {
                                let d = crate::bus::message::decide_say(*aware, crisis.use_protocol_reply, crisis.crisis_active);
                                if d == crate::bus::message::SayDecision::Speak {
                                    cancel_gen.cancel(); // the engine's own reply is not used
                                }
                                *say_slot = Some(d);
                            }
                            let analysis_json = serde_json::to_string(analysis)?;
                            row = Some(store.begin_turn(
                                session_id,
                                &TurnStart {
                                    idx,
                                    participant_text,
                                    input_truncated: *input_truncated,
                                    analysis_json: &analysis_json,
                                    risk: crisis.risk.as_str(),
                                    crisis_active: crisis.crisis_active,
                                    intent: decision.intent.as_str(),
                                    backend,
                                    fingerprint: &fingerprint,
                                },
                            )?);
                        }
                        EngineEvent::Sentence(_) if *say_slot == Some(crate::bus::message::SayDecision::Speak) => {}
                        EngineEvent::Sentence(s) => {
                            if let Some(r) = row {
                                store.append_sentence(r, s)?;
                            }
                        }
                    }
                    Ok(())
                })();
                match step {
                    Err(e) => failure = Some(e),
                    // A staff line replaces the engine's sentences (the analysis still goes out).
                    Ok(()) if *say_slot == Some(crate::bus::message::SayDecision::Speak) && matches!(ev, EngineEvent::Sentence(_)) => {}
                    Ok(()) => {
                        if let Some(o) = observer {
                            let _ = o.send(ev.clone()).await;
                        }
                        if let (EngineEvent::Sentence(s), Some(tx)) = (&ev, sentences) {
                            let _ = tx.send(s.clone()).await;
                        }
                    }
                }
            }
            (row, failure)
        };
        let (mut result, (row, failure)) = tokio::join!(gen, log);
        if let Some(e) = failure {
            return Err(e.context("writing the turn to the session store"));
        }
        let row = row.context("engine produced no analysis event")?;
        let staff = match (say_decision, staff_line) {
            (Some(d), Some((text, _))) => {
                let mut hooks = DeskHooks { store: &self.store, session: self.session_id, bus: self.bus.as_mut() };
                self.desk.say_outcome(idx, d, &mut hooks).map(|c| (c, text))
            }
            _ => None,
        };
        if let Some((cmd, text)) = staff.as_ref().filter(|_| say_decision == Some(crate::bus::message::SayDecision::Speak)) {
            // Design: the staff line is stored before it is shown or spoken,
            // like every reply sentence, and the engine's history holds what
            // the participant actually heard.
            self.store.append_sentence(row, text)?;
            if let Some(o) = observer {
                let _ = o.send(EngineEvent::Sentence(text.clone())).await;
            }
            if let Some(tx) = sentences {
                let _ = tx.send(text.clone()).await;
            }
            result.reply = text.clone();
            result.sentences = vec![text.clone()];
            result.strategies = Vec::new();
            result.findings = Vec::new();
            result.rewrites = 0;
            result.source = attune_dialogue::engine::ReplySource::Staff;
            result.fallback = false;
            result.llm_error = None;
            if let Some(h) = self.state.history.last_mut() {
                h.1 = text.clone();
            }
            self.store.event(Some(self.session_id), Some(idx), "staff_say", &serde_json::json!({"command": cmd.id, "by": cmd.by, "sent_at": crate::bus::message::utc(cmd.at_ms), "crisis_active": result.crisis.crisis_active}))?;
        } else if let Some((cmd, _)) = &staff {
            self.store.event(Some(self.session_id), Some(idx), "staff_say_refused", &serde_json::json!({"command": cmd.id, "by": cmd.by, "reason": "crisis protocol active; line not marked crisis_aware"}))?;
        }
        let report = self.finish(row, idx, &result, crisis_before)?;
        if let Some(b) = self.bus.as_mut() {
            b.turn_finished(&report);
        }
        Ok(report)
    }

    /// Staff hold the session paused (command `pause`, from the bus or the web dashboard).
    pub fn paused(&self) -> bool {
        self.desk.paused()
    }

    /// The session row id in the store.
    pub fn id(&self) -> i64 {
        self.session_id
    }

    /// A sender of staff commands into this session (the web dashboard's
    /// path; the bus has its own clone). Bounded: `try_send` fails when full.
    pub fn staff_sender(&self) -> tokio::sync::mpsc::Sender<crate::bus::message::StaffCommand> {
        self.desk.sender()
    }

    /// Follows whether staff hold the session paused or stopped it.
    pub fn watch_staff(&self) -> tokio::sync::watch::Receiver<crate::bus::desk::DeskState> {
        self.desk.watch_state()
    }

    /// The robot arm's head reporter on the bus (faults, telemetry); `None`
    /// without `[bus]`.
    pub fn bus_head_reporter(&self) -> Option<crate::bus::HeadReporter> {
        self.bus.as_ref().and_then(|b| b.head_reporter())
    }

    /// Resolves when a staff command arrives (bus or web dashboard).
    pub async fn staff_command_arrived(&mut self) {
        self.desk.command_arrived().await
    }

    /// Applies staff commands between turns (pause waits here for resume or
    /// stop). The session runner calls it before each turn and when a
    /// command arrives while idle.
    pub async fn between_turns(&mut self) -> crate::bus::Flow {
        let mut hooks = DeskHooks { store: &self.store, session: self.session_id, bus: self.bus.as_mut() };
        self.desk.between_turns(&mut hooks).await
    }

    fn finish(&mut self, row: i64, idx: u64, r: &TurnResult, crisis_before: bool) -> anyhow::Result<TurnReport> {
        let flags = r.flags();
        let validator = ValidatorReport { flags, rewrites: r.rewrites };
        let findings_json = serde_json::json!({"flags": validator.flags, "rewrites": r.rewrites, "findings": r.findings, "truncated": r.truncated});
        let source = serde_json::to_value(r.source)?.as_str().unwrap_or("").to_string();
        self.store.finish_turn(
            row,
            &TurnFinish {
                reply: &r.reply,
                strategies_json: &serde_json::to_string(&r.strategies)?,
                validator_json: &findings_json.to_string(),
                source: &source,
                fallback: r.fallback,
                llm_error: r.llm_error.as_deref(),
                first_token_ms: r.first_token_ms,
                total_ms: r.total_ms,
                llm_ms: r.llm_ms,
            },
        )?;
        let sid = Some(self.session_id);
        let mut alert_delivered = None;
        if r.stopped {
            self.store.event(sid, Some(idx), "generation_stopped", &serde_json::json!({"sentences": r.sentences.len(), "llm_ms": r.llm_ms}))?;
        }
        if r.input_truncated {
            self.store.event(sid, Some(idx), "input_truncated", &serde_json::json!({"max_chars": self.cfg.dialogue.max_input_chars}))?;
        }
        if r.crisis.alert {
            // The staff alert; the study bus forwards these events to staff.
            self.store.event(sid, Some(idx), "staff_alert", &serde_json::json!({
                "participant": self.participant, "day": self.day, "risk": r.crisis.risk, "signals": r.crisis.signals,
            }))?;
            tracing::info!(target: "staff_alert", participant = %self.participant, risk = r.crisis.risk.as_str(), "staff alert raised");
            let alert = serde_json::json!({
                "kind": "staff_alert", "at_ms": crate::store::now_ms(), "session": self.session_id, "turn": idx,
                "participant": self.participant, "day": self.day, "risk": r.crisis.risk, "signals": r.crisis.signals,
            });
            let sent = self.alerts.send(idx, &alert);
            for failure in &sent.failures {
                let next = if sent.retrying { "; retrying until the session ends" } else { "" };
                eprintln!("attune: STAFF ALERT NOT DELIVERED (turn {idx}): {failure}{next}");
                self.store.event(sid, Some(idx), "alert_delivery_failed", &serde_json::json!({"error": failure}))?;
            }
            alert_delivered = Some(sent.delivered);
        }
        self.store_alert_outcomes(self.alerts.drain())?;
        if r.crisis.crisis_active != crisis_before {
            let kind = if r.crisis.crisis_active { "crisis_enter" } else { "crisis_clear" };
            self.store.event(sid, Some(idx), kind, &serde_json::json!({"risk": r.crisis.risk}))?;
            self.store.set_session_crisis(self.session_id, r.crisis.crisis_active)?;
        }
        if let Some(e) = &r.llm_error {
            self.store.event(sid, Some(idx), "llm_error", &serde_json::json!({"error": e, "fallback": r.fallback}))?;
        }
        self.notes.push(TurnNote {
            act: r.analysis.user_act,
            emotions: r.analysis.emotions.clone(),
            text: r.user.clone(),
            crisis: r.crisis.use_protocol_reply,
        });
        Ok(TurnReport {
            turn: idx,
            user: r.user.clone(),
            reply: r.reply.clone(),
            risk: r.crisis.risk,
            crisis_active: r.crisis.crisis_active,
            user_act: r.analysis.user_act,
            emotions: r.analysis.emotions.clone(),
            reply_strategies: r.strategies.clone(),
            validator,
            backend: self.cfg.llm.mode.as_str().to_string(),
            fallback: r.fallback,
            timings_ms: Timings { first_token: r.first_token_ms, total: r.total_ms, llm: r.llm_ms },
            fingerprint: self.engine.fingerprint().to_string(),
            intent: r.decision.intent,
            source: r.source,
            alert: r.crisis.alert,
            alert_delivered,
            input_truncated: r.input_truncated,
            llm_error: r.llm_error.clone(),
            session: self.session_id,
        })
    }

    /// Records that the reply `reply` of `turn` was interrupted after
    /// `spoken_chars` characters (`withdrawn`: the participant went on
    /// talking before hearing it, so it was not spoken past them).
    ///
    /// Design: the engine's history then holds what the participant heard
    /// (the reply up to the last whole word heard, or nothing), so the next
    /// prompt does not say the robot told them what they never heard. The
    /// history entry is found by its reply text, nearest the turn's place;
    /// if it is gone (trimmed by the history window) only the store changes.
    pub fn mark_interrupted(&mut self, turn: u64, reply: &str, spoken_chars: usize, withdrawn: bool) -> anyhow::Result<()> {
        self.store.mark_interrupted(self.session_id, turn, spoken_chars)?;
        let kind = if withdrawn { "withdrawn" } else { "interrupted" };
        self.store.event(Some(self.session_id), Some(turn), kind, &serde_json::json!({"spoken_chars": spoken_chars}))?;
        let h = &mut self.state.history;
        let back = self.turns.saturating_sub(turn) as usize;
        let at = h.len().checked_sub(back + 1).filter(|&i| h[i].1 == reply).or_else(|| h.iter().rposition(|e| e.1 == reply));
        if let Some(i) = at {
            h[i].1 = heard_part(reply, spoken_chars);
        }
        Ok(())
    }

    /// Logs an event of turn `turn` (the runner's matched reply timing).
    pub fn turn_event(&self, turn: u64, kind: &str, payload: &serde_json::Value) -> anyhow::Result<()> {
        self.store.event(Some(self.session_id), Some(turn), kind, payload)?;
        Ok(())
    }

    /// Logs an arbitrary session event (device lost, degraded to text, ...).
    pub fn event(&self, kind: &str, payload: &serde_json::Value) -> anyhow::Result<()> {
        self.store.event(Some(self.session_id), None, kind, payload)?;
        Ok(())
    }

    /// Stores the final word on alerts whose first delivery failed.
    fn store_alert_outcomes(&self, outcomes: Vec<crate::alerts::Outcome>) -> anyhow::Result<()> {
        for o in outcomes {
            let payload = serde_json::json!({"channel": o.channel, "attempts": o.attempts, "error": o.error});
            if o.delivered {
                eprintln!("attune: staff alert of turn {} delivered to {} after {} attempts", o.turn, o.channel, o.attempts);
                self.store.event(Some(self.session_id), Some(o.turn), "alert_delivered", &payload)?;
            } else {
                eprintln!(
                    "attune: STAFF ALERT NEVER DELIVERED (turn {}) to {} after {} attempts: {}",
                    o.turn,
                    o.channel,
                    o.attempts,
                    o.error.as_deref().unwrap_or("")
                );
                self.store.event(Some(self.session_id), Some(o.turn), "alert_undelivered", &payload)?;
            }
        }
        Ok(())
    }

    /// Ends the session: settles pending staff alerts, writes the memory
    /// summary and stops the local LLM.
    pub async fn close(mut self) -> anyhow::Result<()> {
        // Blocks for at most one last try per failing channel.
        let outcomes = self.alerts.finish();
        self.store_alert_outcomes(outcomes)?;
        let summary = summarize(self.day, &self.notes, self.cfg.dialogue.memory_summary_chars);
        self.store.end_session(self.session_id, &summary, self.state.crisis.active)?;
        self.store.event(Some(self.session_id), None, "session_end", &serde_json::json!({"turns": self.turns}))?;
        let mut hooks = DeskHooks { store: &self.store, session: self.session_id, bus: self.bus.as_mut() };
        self.desk.close(&mut hooks);
        if let Some(b) = self.bus {
            b.close(self.turns).await;
        }
        if let Some(l) = self.local {
            l.shutdown().await;
        }
        Ok(())
    }
}

/// The part of `reply` a participant heard after `spoken_chars` characters:
/// up to the last word heard whole, with a dash where it was cut off;
/// empty when nothing was heard.
pub fn heard_part(reply: &str, spoken_chars: usize) -> String {
    if spoken_chars >= reply.chars().count() {
        return reply.to_string();
    }
    let cut: String = reply.chars().take(spoken_chars).collect();
    // A word is heard whole only if the reply breaks right after it.
    let next_is_break = reply.chars().nth(spoken_chars).is_none_or(char::is_whitespace);
    let whole = if next_is_break { cut.as_str() } else { cut.rsplit_once(char::is_whitespace).map_or("", |(a, _)| a) };
    let whole = whole.trim_end();
    if whole.is_empty() {
        String::new()
    } else {
        format!("{whole} —")
    }
}

#[cfg(test)]
mod heard_tests {
    use super::heard_part;

    #[test]
    fn the_heard_part_of_a_reply_ends_at_the_last_whole_word() {
        let r = "That sounds hard. What happened next?";
        assert_eq!(heard_part(r, 0), "");
        assert_eq!(heard_part(r, 3), "", "half a word is not a word heard");
        assert_eq!(heard_part(r, 4), "That —");
        assert_eq!(heard_part(r, 5), "That —");
        assert_eq!(heard_part(r, 17), "That sounds hard. —");
        assert_eq!(heard_part(r, 20), "That sounds hard. —");
        assert_eq!(heard_part(r, r.len()), r);
        assert_eq!(heard_part(r, 10_000), r);
        // Characters, not bytes.
        assert_eq!(heard_part("Café crème, s'il vous plaît.", 11), "Café crème, —");
    }
}
