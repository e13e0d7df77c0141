//! The MQTT bus: live state, events and crisis alerts out, staff commands
//! and alert acknowledgements in, under `attune/<site>/<robot>/`.
//!
//! # Layout
//! - [`config`] — `[bus]` in the site config, validated.
//! - [`message`] — the envelope, incoming commands/acks, the say-vs-crisis rule (pure).
//! - [`dedup`] — idempotent consumption (drop a message id already seen).
//! - [`desk`] — a session's staff commands from the bus and the web dashboard, applied in one place.
//! - [`outbox`] — the durable outbox and alert table in the session store.
//! - [`runner`] — rumqttc's event loop (a task) and the outbox publisher (a thread).
//! - [`cli`] — `attune bus monitor | ack | cmd`.
//!
//! A session holds a [`BusHandle`] (when `[bus]` is configured). Every call
//! on it writes the message to the outbox (SQLite, fsynced) and returns; the
//! runner publishes it when the broker is reachable. A broker that is down,
//! slow or refusing never blocks or fails a turn.

pub mod cli;
pub mod config;
pub mod dedup;
pub mod desk;
pub mod message;
pub mod outbox;
pub mod runner;

pub use config::BusConfig;

use crate::session::TurnReport;
use message::{Leaf, StaffCommand};
use runner::{Shared, Signal};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::SyncSender;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// A message id unique across processes and robots: a random per-process
/// prefix and a counter. Stored in the payload, so redelivery keeps it.
pub fn new_id() -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    format!("{}-{}", process_prefix(), N.fetch_add(1, Ordering::Relaxed) + 1)
}

/// The random per-process part of [`new_id`] (16 hex digits).
pub fn process_prefix() -> &'static str {
    static PREFIX: OnceLock<String> = OnceLock::new();
    PREFIX.get_or_init(|| {
        use std::io::Read;
        let mut b = [0u8; 8];
        let random = std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut b)).is_ok();
        if !random {
            // No urandom: hash what differs between processes.
            use sha2::Digest;
            let h = sha2::Sha256::digest(format!("{}-{}-{:?}", std::process::id(), crate::store::now_ms(), Instant::now()));
            b.copy_from_slice(&h[..8]);
        }
        hex::encode(b)
    })
}

/// What an arm does after checking for staff commands between turns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    /// Take the next turn.
    Continue,
    /// Staff stopped the session: end it as if the participant had finished.
    Stop,
}

/// Who the session is, for the messages.
#[derive(Debug, Clone)]
pub struct SessionCtx {
    /// Session row id.
    pub session: i64,
    /// Participant pseudonym.
    pub participant: String,
    /// chatbot | voice | robot.
    pub arm: String,
    /// Study day.
    pub day: u32,
    /// Engine fingerprint.
    pub fingerprint: String,
    /// Crisis state carried over from an earlier session.
    pub crisis_active: bool,
}

/// Writes one message to the outbox over `conn` and wakes the publisher.
/// Returns its id. A store failure is logged and does not fail the caller.
fn publish_to(cfg: &BusConfig, conn: &rusqlite::Connection, sig: &SyncSender<Signal>, leaf: Leaf, kind: &str, fields: Value) -> String {
    let id = new_id();
    let now = crate::store::now_ms();
    let payload = message::envelope(&id, kind, now, &cfg.site, &cfg.robot, fields);
    let retain = leaf == Leaf::State;
    if let Err(e) = outbox::push(conn, &id, &cfg.topic(leaf.as_str()), &payload.to_string(), retain, now) {
        tracing::error!(target: "bus", "bus: could not write {kind} to the outbox: {e}");
    }
    let _ = sig.try_send(Signal::Wake);
    id
}

/// The robot arm's head on the bus: `head_fault` events and `head_telemetry`
/// at most once per `telemetry_interval_ms`. Send, so the head's own thread
/// owns it; see [`BusHandle::head_reporter`].
pub struct HeadReporter {
    /// `[bus]`.
    cfg: BusConfig,
    /// Its own connection to the outbox.
    conn: rusqlite::Connection,
    /// Wakes the outbox thread.
    sig: SyncSender<Signal>,
    /// Session row id.
    session: i64,
    /// Participant pseudonym.
    participant: String,
    /// When telemetry was last published.
    last_telemetry: Option<Instant>,
}

impl HeadReporter {
    /// A head fault (`error` says what, in words).
    pub fn head_fault(&mut self, error: &str) {
        tracing::warn!(target: "bus", "bus: head fault: {error}");
        let fields = json!({"session": self.session, "participant": self.participant, "error": error});
        publish_to(&self.cfg, &self.conn, &self.sig, Leaf::Event, "head_fault", fields);
    }

    /// Head telemetry, at most once per `telemetry_interval_ms` (the rest is
    /// dropped). Returns whether this sample was published.
    pub fn telemetry(&mut self, head: Value) -> bool {
        let every = Duration::from_millis(self.cfg.telemetry_interval_ms);
        if self.last_telemetry.is_some_and(|t| t.elapsed() < every) {
            return false;
        }
        self.last_telemetry = Some(Instant::now());
        publish_to(&self.cfg, &self.conn, &self.sig, Leaf::Telemetry, "head_telemetry", json!({"session": self.session, "head": head}));
        true
    }
}

/// A session's end of the bus. See the module doc.
pub struct BusHandle {
    /// `[bus]`.
    cfg: BusConfig,
    /// The session side's connection to the store (outbox writes).
    conn: rusqlite::Connection,
    /// Wakes the outbox thread (bounded; see [`runner::SIGNAL_CAPACITY`]).
    sig: SyncSender<Signal>,
    /// Connection state and backlog.
    shared: Arc<Shared>,
    /// Stops the event-loop task.
    shutdown: CancellationToken,
    /// The outbox thread.
    thread: Option<std::thread::JoinHandle<()>>,
    /// The event-loop task.
    task: Option<tokio::task::JoinHandle<()>>,
    /// Session identity.
    ctx: SessionCtx,
    /// Staff paused the session (a mirror of the session's [`desk::StaffDesk`], for `state`).
    paused: bool,
    /// Risk of the previous turn (for `risk_changed`).
    last_risk: String,
    /// The session store (the outbox), for [`head_reporter`](Self::head_reporter).
    store_path: std::path::PathBuf,
}

impl BusHandle {
    /// Connects (in the background) and announces the session. Fails only on
    /// local misconfiguration (password variable unset, CA file unreadable,
    /// store unreadable); an unreachable or refusing broker is logged and
    /// retried while the session goes on.
    /// Validated commands go to `cmds` (the session's [`desk::StaffDesk`]).
    pub fn start(cfg: &BusConfig, store_path: &std::path::Path, ctx: SessionCtx, cmds: mpsc::Sender<StaffCommand>) -> anyhow::Result<BusHandle> {
        cfg.validate().map_err(|e| anyhow::anyhow!("{e}"))?;
        let password = cfg.password().map_err(|e| anyhow::anyhow!("{e}"))?;
        let ca_pem = match &cfg.ca_file {
            Some(p) => Some(std::fs::read(p).map_err(|e| anyhow::anyhow!("field `bus.ca_file`: cannot read {}: {e}", p.display()))?),
            None => None,
        };
        let conn = outbox::connect(store_path).map_err(|e| anyhow::anyhow!("bus outbox {}: {e}", store_path.display()))?;
        let shutdown = CancellationToken::new();
        let rctx = runner::RunnerCtx { cfg: cfg.clone(), password, ca_pem, session: Some(ctx.session) };
        let (sig, shared, thread, task) = runner::start(rctx, store_path, shutdown.clone(), cmds).map_err(|e| anyhow::anyhow!("{e}"))?;
        let mut h = BusHandle {
            cfg: cfg.clone(),
            conn,
            sig,
            shared,
            shutdown,
            thread: Some(thread),
            task: Some(task),
            last_risk: "none".into(),
            ctx,
            paused: false,
            store_path: store_path.to_path_buf(),
        };
        let c = &h.ctx;
        let fields = json!({"session": c.session, "participant": c.participant, "arm": c.arm, "day": c.day, "fingerprint": c.fingerprint});
        h.publish(Leaf::Event, "session_started", fields);
        h.publish_state();
        Ok(h)
    }

    /// Writes one message to the outbox and wakes the publisher. Returns its id.
    /// A store failure is logged (the session store's own tables still hold
    /// the facts) and does not fail the turn.
    pub fn publish(&mut self, leaf: Leaf, kind: &str, fields: Value) -> String {
        publish_to(&self.cfg, &self.conn, &self.sig, leaf, kind, fields)
    }

    fn status(&self) -> &'static str {
        if self.paused {
            "paused"
        } else if self.ctx.crisis_active {
            "crisis"
        } else {
            "in_session"
        }
    }

    fn publish_state(&mut self) {
        let c = &self.ctx;
        let fields = json!({"status": self.status(), "session": c.session, "participant": c.participant, "arm": c.arm, "day": c.day});
        self.publish(Leaf::State, "state", fields);
    }

    /// A participant turn began.
    pub fn turn_started(&mut self, turn: u64) {
        let fields = json!({"session": self.ctx.session, "participant": self.ctx.participant, "turn": turn});
        self.publish(Leaf::Event, "turn_started", fields);
    }

    /// A turn finished: `turn_finished`, and `risk_changed`, `crisis_changed`,
    /// `fallback` and a `crisis_alert` where they apply.
    pub fn turn_finished(&mut self, r: &TurnReport) {
        let (s, p) = (self.ctx.session, self.ctx.participant.clone());
        let mut f = json!({
            "session": s, "participant": p, "turn": r.turn, "risk": r.risk, "crisis_active": r.crisis_active,
            "source": r.source, "fallback": r.fallback, "alert": r.alert,
            "timings_ms": {"first_token": r.timings_ms.first_token, "total": r.timings_ms.total, "llm": r.timings_ms.llm},
        });
        if self.cfg.publish_text {
            f["user"] = json!(r.user);
            f["reply"] = json!(r.reply);
        }
        self.publish(Leaf::Event, "turn_finished", f);
        let risk = r.risk.as_str().to_string();
        if risk != self.last_risk {
            let from = std::mem::replace(&mut self.last_risk, risk.clone());
            self.publish(Leaf::Event, "risk_changed", json!({"session": s, "participant": p, "turn": r.turn, "from": from, "to": risk}));
        }
        if r.fallback {
            self.publish(Leaf::Event, "fallback", json!({"session": s, "participant": p, "turn": r.turn, "llm_error": r.llm_error.is_some()}));
        }
        if r.alert {
            self.alert(r);
        }
        if r.crisis_active != self.ctx.crisis_active {
            self.ctx.crisis_active = r.crisis_active;
            self.publish(Leaf::Event, "crisis_changed", json!({"session": s, "participant": p, "turn": r.turn, "active": r.crisis_active}));
            self.publish_state();
        }
    }

    /// A crisis alert: pseudonym, risk, turn and time only; republished
    /// every `alert_repeat_ms` until a staff member acknowledges it.
    fn alert(&mut self, r: &TurnReport) {
        let id = new_id();
        let now = crate::store::now_ms();
        let c = &self.ctx;
        let fields = json!({"session": c.session, "participant": c.participant, "day": c.day, "turn": r.turn, "risk": r.risk, "repeat": 0});
        let payload = message::envelope(&id, "crisis_alert", now, &self.cfg.site, &self.cfg.robot, fields).to_string();
        let topic = self.cfg.topic(Leaf::Alert.as_str());
        let res: rusqlite::Result<()> = (|| {
            let tx = self.conn.unchecked_transaction()?;
            outbox::push(&tx, &id, &topic, &payload, false, now)?;
            outbox::add_alert(&tx, &id, c.session, r.turn, &topic, &payload, now)?;
            tx.commit()
        })();
        match res {
            Ok(()) => tracing::warn!(target: "bus", "bus: crisis alert {id} for participant {} (turn {}) queued", c.participant, r.turn),
            Err(e) => tracing::error!(target: "bus", "bus: could not write crisis alert to the outbox: {e}"),
        }
        let _ = self.sig.try_send(Signal::Wake);
    }

    /// A sender for the robot arm's head thread: head faults and throttled
    /// telemetry, written to the same outbox over its own connection (the
    /// head runs on its own thread; this handle lives with the session).
    /// `None` when the outbox cannot be opened (logged; the session goes on).
    pub fn head_reporter(&self) -> Option<HeadReporter> {
        match outbox::connect(&self.store_path) {
            Ok(conn) => Some(HeadReporter {
                cfg: self.cfg.clone(),
                conn,
                sig: self.sig.clone(),
                session: self.ctx.session,
                participant: self.ctx.participant.clone(),
                last_telemetry: None,
            }),
            Err(e) => {
                tracing::error!(target: "bus", "bus: no head reports on the bus: cannot open the outbox: {e}");
                None
            }
        }
    }

    /// What became of a staff command (`staff_command` event on the bus).
    pub fn command_event(&mut self, c: &StaffCommand, outcome: &str, turn: Option<u64>) {
        let mut f = json!({"session": self.ctx.session, "participant": self.ctx.participant, "command": c.id, "command_kind": c.action.kind(), "by": c.by, "outcome": outcome});
        if let Some(t) = turn {
            f["turn"] = json!(t);
        }
        self.publish(Leaf::Event, "staff_command", f);
    }

    /// Whether the store already audited a staff command with this id (a
    /// redelivery to a later process: the broker resends a QoS 1 message whose
    /// acknowledgement was lost when the earlier process exited).
    pub fn already_applied(&self, id: &str) -> bool {
        let sql = "SELECT EXISTS (SELECT 1 FROM events WHERE kind = 'staff_command' \
                   AND CASE WHEN json_valid(payload) THEN json_extract(payload, '$.id') END = ?1)";
        match self.conn.query_row(sql, [id], |r| r.get::<_, bool>(0)) {
            Ok(b) => b,
            Err(e) => {
                tracing::error!(target: "bus", "bus: could not check staff command {id:?} against the audit: {e}; applying it");
                false
            }
        }
    }

    /// The session's pause state changed: republish the retained state.
    pub fn set_paused(&mut self, paused: bool) {
        self.paused = paused;
        self.publish_state();
    }

    /// Waits up to `limit` for the first connection, so the retained state is
    /// current and staff commands queued on the broker while the robot was
    /// away arrive before the first turn. A down broker costs only `limit`.
    pub async fn wait_online(&self, limit: Duration) {
        let end = Instant::now() + limit;
        while !self.online() && Instant::now() < end {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        if !self.online() {
            tracing::warn!(target: "bus", "bus: not connected to {} yet; the session starts anyway and its messages wait in the outbox", self.cfg.url);
        } else {
            // Commands queued for us arrive right after the subscription; give them a moment.
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Connected to the broker and subscribed right now.
    pub fn online(&self) -> bool {
        self.shared.online_flag.load(Ordering::Relaxed)
    }

    /// Ends the session on the bus (`session_ended`, state `idle`), waits up
    /// to `drain_timeout_ms` for the backlog, and stops the runner. What is
    /// not delivered stays in the outbox for the next run.
    pub async fn close(mut self, turns: u64) {
        self.publish(Leaf::Event, "session_ended", json!({"session": self.ctx.session, "participant": self.ctx.participant, "turns": turns}));
        self.publish(Leaf::State, "state", json!({"status": "idle"}));
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        let deadline = Instant::now() + Duration::from_millis(self.cfg.drain_timeout_ms);
        let left = if self.sig.try_send(Signal::Drain { deadline, reply: tx }).is_ok() {
            tokio::task::spawn_blocking(move || rx.recv_timeout(Duration::from_millis(200) + deadline.saturating_duration_since(Instant::now())).ok())
                .await
                .ok()
                .flatten()
        } else {
            None
        };
        match left {
            Some(0) => tracing::info!(target: "bus", "bus: every message delivered"),
            Some(n) => tracing::warn!(target: "bus", "bus: {n} messages not yet delivered; they stay in the outbox and go out with the next session on this store"),
            None => tracing::warn!(target: "bus", "bus: could not confirm delivery before closing; undelivered messages stay in the outbox"),
        }
        self.shutdown.cancel();
        let _ = self.sig.try_send(Signal::Shutdown);
        if let Some(t) = self.task.take() {
            let _ = tokio::time::timeout(Duration::from_secs(2), t).await;
        }
        if let Some(t) = self.thread.take() {
            let _ = tokio::task::spawn_blocking(move || t.join()).await;
        }
    }
}
