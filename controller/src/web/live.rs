//! Live participant chats: the web transport on the one session runner.
//!
//! Each participant day that is chatting has one [`Live`]: a thread running
//! [`crate::runner::run`] for the `chatbot` arm with a [`WebTransport`], the
//! same engine, store, crisis layer, alerts and bus as `attune chat`. The
//! page posts messages into it and follows its replies over SSE.
//!
//! Design: the reply is not the HTTP request's. A turn runs to its end in the
//! session whatever happens to the connection that sent it; every sentence is
//! in the store before it is released (the runner's rule) and in
//! [`Live`]'s turn list right after, so a page reopened mid-reply shows what
//! was said so far and the rest as it comes. Two tabs on one day share the
//! same `Live` (same session, same conversation), never two sessions.
//!
//! Staff control a live chat from the dashboard through the session's staff
//! desk ([`crate::bus::desk`]), the same queue and state machine the bus's
//! `cmd` topic feeds: [`Live::command`] only sends; pause, stop and the
//! staff line take effect in the session runner, and the page follows the
//! desk's state (paused / stopped) over SSE.

use crate::bus::desk::DeskState;
use crate::bus::message::{Action, StaffCommand};
use crate::runner::{Ctx, EngineCmd, Transport};
use crate::session::{ChatSession, Resolved, TurnReport};
use attune_speech::voice_loop::{ReplyEvent, Utterance};
use futures_util::future::LocalBoxFuture;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::{broadcast, mpsc, watch};

/// The update id that means "the staff state (paused / stopped) changed".
pub const STATUS_CHANGED: u64 = u64::MAX;

/// One exchange as the page shows it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct LiveTurn {
    /// Utterance id (the page's key for it).
    pub utt: u64,
    /// What the participant wrote.
    pub user: String,
    /// Reply sentences released so far.
    pub sentences: Vec<String>,
    /// The reply is complete (or failed).
    pub done: bool,
    /// The turn failed; the page says so.
    pub error: Option<String>,
    /// The session is in crisis state after this turn (the page shows the resource).
    pub crisis: bool,
    /// Risk grade of the turn, once analysed.
    pub risk: Option<String>,
}

/// Shared state of one live chat.
#[derive(Debug, Default)]
struct Inner {
    /// Exchanges in order.
    turns: Vec<LiveTurn>,
    /// The session has ended (finished, idle, shut down or failed to start).
    ended: bool,
    /// Why it ended, when it failed.
    failure: Option<String>,
    /// Staff hold it paused / stopped it (the session's staff desk).
    staff: DeskState,
}

/// A live chat session (see the module doc).
pub struct Live {
    /// Turns and end state.
    inner: Mutex<Inner>,
    /// Utterance ids that changed (subscribers re-read the turn); 0 = the
    /// session ended; [`STATUS_CHANGED`] = paused / resumed / stopped.
    updates: broadcast::Sender<u64>,
    /// The store's session row id, once the session is open (0 before).
    session: AtomicI64,
    /// Staff commands into the session's desk, once it is open.
    staff: Mutex<Option<mpsc::Sender<StaffCommand>>>,
    /// Messages to the transport; `None` once the participant finished.
    tx: Mutex<Option<mpsc::Sender<Utterance>>>,
    /// Next utterance id.
    next: AtomicU64,
    /// The session thread, joined by [`Live::finish`].
    thread: Mutex<Option<std::thread::JoinHandle<anyhow::Result<()>>>>,
}

/// Why a message was not taken.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    #[error("this chat has ended")]
    Ended,
    #[error("the previous messages are still being answered; please wait a moment")]
    Busy,
    #[error("the study team has paused this chat for a moment; nothing was sent, and your message is still in the box: send it when the chat continues")]
    Paused,
}

/// Why a staff command was not taken.
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    #[error("this chat has ended")]
    Ended,
    #[error("this chat is still starting; try again in a moment")]
    NotOpen,
    #[error("too many staff commands are waiting for this session; try again in a moment")]
    Full,
}

impl Live {
    /// Starts the session thread for `resolved` (the chatbot arm).
    pub fn start(resolved: Resolved, idle: std::time::Duration) -> anyhow::Result<Arc<Live>> {
        let (tx, rx) = mpsc::channel::<Utterance>(8);
        let (updates, _) = broadcast::channel(256);
        let live = Arc::new(Live {
            inner: Mutex::new(Inner::default()),
            updates,
            session: AtomicI64::new(0),
            staff: Mutex::new(None),
            tx: Mutex::new(Some(tx)),
            next: AtomicU64::new(1),
            thread: Mutex::new(None),
        });
        let transport = WebTransport { live: live.clone(), rx, idle, staff: None };
        let l2 = live.clone();
        let h = std::thread::Builder::new().name("web-session".into()).spawn(move || {
            let r = crate::runner::run(resolved, "chatbot", Box::new(transport));
            let mut g = l2.inner.lock().unwrap_or_else(|p| p.into_inner());
            g.ended = true;
            if let Err(e) = &r {
                g.failure = Some(format!("{e:#}"));
            }
            drop(g);
            let _ = l2.updates.send(0);
            r
        })?;
        *live.thread.lock().unwrap_or_else(|p| p.into_inner()) = Some(h);
        Ok(live)
    }

    /// Queues a participant message; returns its utterance id.
    pub fn send(&self, text: String) -> Result<u64, SendError> {
        let g = self.tx.lock().unwrap_or_else(|p| p.into_inner());
        let Some(tx) = g.as_ref() else { return Err(SendError::Ended) };
        let (ended, staff) = self.with(|i| (i.ended, i.staff));
        if ended || staff.stopped {
            return Err(SendError::Ended);
        }
        // Design: while staff hold the chat, a message is refused (and stays
        // in the page's box) rather than queued: it would otherwise be
        // answered minutes later, after whatever made staff pause.
        if staff.paused {
            return Err(SendError::Paused);
        }
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        // Shown at once (the page's own echo), answered in order.
        self.with(|i| i.turns.push(LiveTurn { utt: id, user: text.clone(), sentences: vec![], done: false, error: None, crisis: false, risk: None }));
        match tx.try_send(Utterance { id, text }) {
            Ok(()) => {
                let _ = self.updates.send(id);
                Ok(id)
            }
            Err(e) => {
                self.with(|i| i.turns.retain(|t| t.utt != id));
                Err(match e {
                    mpsc::error::TrySendError::Full(_) => SendError::Busy,
                    mpsc::error::TrySendError::Closed(_) => SendError::Ended,
                })
            }
        }
    }

    /// All exchanges so far.
    pub fn turns(&self) -> Vec<LiveTurn> {
        self.with(|i| i.turns.clone())
    }

    /// One exchange.
    pub fn turn(&self, utt: u64) -> Option<LiveTurn> {
        self.with(|i| i.turns.iter().find(|t| t.utt == utt).cloned())
    }

    /// Whether the session has ended.
    pub fn ended(&self) -> bool {
        self.with(|i| i.ended)
    }

    /// Why the session failed, if it did.
    pub fn failure(&self) -> Option<String> {
        self.with(|i| i.failure.clone())
    }

    /// Paused / stopped by staff.
    pub fn staff_state(&self) -> DeskState {
        self.with(|i| i.staff)
    }

    /// The store's session row id (None until the session is open).
    pub fn session_id(&self) -> Option<i64> {
        Some(self.session.load(Ordering::Relaxed)).filter(|&id| id > 0)
    }

    /// Sends a staff command (pause, resume, stop, say) from `by` into the
    /// session's staff desk; returns the command id. It is applied, audited
    /// and reported by the session runner as a bus command is.
    pub fn command(&self, by: &str, action: Action) -> Result<String, CommandError> {
        if self.ended() {
            return Err(CommandError::Ended);
        }
        let g = self.staff.lock().unwrap_or_else(|p| p.into_inner());
        let Some(tx) = g.as_ref() else { return Err(CommandError::NotOpen) };
        let c = StaffCommand { id: crate::bus::new_id(), by: by.to_string(), at_ms: crate::store::now_ms(), action };
        let id = c.id.clone();
        match tx.try_send(c) {
            Ok(()) => Ok(id),
            Err(mpsc::error::TrySendError::Full(_)) => Err(CommandError::Full),
            Err(mpsc::error::TrySendError::Closed(_)) => Err(CommandError::Ended),
        }
    }

    fn set_staff_state(&self, s: DeskState) {
        self.with(|i| i.staff = s);
        let _ = self.updates.send(STATUS_CHANGED);
    }

    /// Whether a reply is still being written.
    pub fn busy(&self) -> bool {
        self.with(|i| i.turns.iter().any(|t| !t.done))
    }

    /// Follows changes (utterance ids; 0 when the session ends).
    pub fn subscribe(&self) -> broadcast::Receiver<u64> {
        self.updates.subscribe()
    }

    /// Ends the chat: stops taking messages, lets the turn in progress finish,
    /// and waits (off the async runtime) for the session to close.
    pub fn finish(&self) -> anyhow::Result<()> {
        self.tx.lock().unwrap_or_else(|p| p.into_inner()).take();
        let h = self.thread.lock().unwrap_or_else(|p| p.into_inner()).take();
        match h {
            Some(h) => h.join().map_err(|_| anyhow::anyhow!("the chat session thread panicked"))?,
            None => Ok(()),
        }
    }

    fn with<T>(&self, f: impl FnOnce(&mut Inner) -> T) -> T {
        let mut g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut g)
    }

    fn on_reply(&self, ev: ReplyEvent<TurnReport>) {
        let id = match ev {
            ReplyEvent::Sentence { id, text } => {
                self.with(|i| {
                    if let Some(t) = i.turns.iter_mut().find(|t| t.utt == id) {
                        t.sentences.push(text);
                    }
                });
                id
            }
            ReplyEvent::Done { id, report } => {
                self.with(|i| {
                    if let Some(t) = i.turns.iter_mut().find(|t| t.utt == id) {
                        t.done = true;
                        t.crisis = report.crisis_active;
                        t.risk = Some(report.risk.as_str().to_string());
                        // The stored reply is the truth (a staff line may have replaced it).
                        if t.sentences.is_empty() && !report.reply.is_empty() {
                            t.sentences.push(report.reply.clone());
                        }
                    }
                });
                id
            }
            ReplyEvent::Failed { id, error } => {
                tracing::warn!("web chat turn {id} failed: {error}");
                self.with(|i| {
                    if let Some(t) = i.turns.iter_mut().find(|t| t.utt == id) {
                        t.done = true;
                        t.error = Some(if error == crate::runner::STOPPED_BY_STAFF {
                            "The session was ended by the study team.".into()
                        } else {
                            "Sorry, something went wrong answering this message. It was saved; the study team can see it.".into()
                        });
                    }
                });
                id
            }
        };
        let _ = self.updates.send(id);
    }
}

/// The web page as a transport: messages in from [`Live::send`], replies out into [`Live`].
struct WebTransport {
    /// Where replies go.
    live: Arc<Live>,
    /// Messages from the page.
    rx: mpsc::Receiver<Utterance>,
    /// The chat ends after this long without a message.
    idle: std::time::Duration,
    /// The session's staff state, once opened.
    staff: Option<watch::Receiver<DeskState>>,
}

impl Transport for WebTransport {
    fn opened(&mut self, session: &ChatSession) -> anyhow::Result<()> {
        self.live.session.store(session.id(), Ordering::Relaxed);
        *self.live.staff.lock().unwrap_or_else(|p| p.into_inner()) = Some(session.staff_sender());
        self.staff = Some(session.watch_staff());
        Ok(())
    }

    fn run(self: Box<Self>, ctx: Ctx) -> LocalBoxFuture<'static, anyhow::Result<()>> {
        let WebTransport { live, mut rx, idle, staff } = *self;
        Box::pin(async move {
            let Ctx { cmds, mut replies, shutdown, done, .. } = ctx;
            let mut last = tokio::time::Instant::now();
            let mut staff = staff.unwrap_or_else(|| watch::channel(DeskState::default()).1);
            let mut staff_open = true;
            loop {
                tokio::select! {
                    _ = shutdown.cancelled() => {
                        live.set_staff_state(*staff.borrow());
                        break;
                    }
                    r = staff.changed(), if staff_open => match r {
                        Ok(()) => {
                            let s = *staff.borrow_and_update();
                            live.set_staff_state(s);
                            // A paused chat does not time out: staff hold it.
                            last = tokio::time::Instant::now();
                        }
                        Err(_) => staff_open = false,
                    },
                    _ = tokio::time::sleep_until(last + idle) => {
                        if !live.busy() && !live.staff_state().paused {
                            let _ = cmds.send(EngineCmd::Event { kind: "web_idle_end".into(), payload: serde_json::json!({"idle_s": idle.as_secs()}) }).await;
                            break;
                        }
                        last = tokio::time::Instant::now();
                    }
                    m = rx.recv() => match m {
                        None => break,
                        Some(u) => {
                            last = tokio::time::Instant::now();
                            if cmds.send(EngineCmd::Turn(u)).await.is_err() {
                                break;
                            }
                        }
                    },
                    ev = replies.recv() => match ev {
                        Some(ev) => live.on_reply(ev),
                        None => break,
                    },
                }
            }
            // Messages still queued are answered before the session closes.
            rx.close();
            while let Ok(u) = rx.try_recv() {
                if cmds.send(EngineCmd::Turn(u)).await.is_err() {
                    break;
                }
            }
            drop(cmds);
            while let Some(ev) = replies.recv().await {
                live.on_reply(ev);
            }
            drop(done);
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolved(db: &std::path::Path) -> Resolved {
        let mut cfg = crate::config::Config::default();
        cfg.llm.mode = attune_dialogue::config::LlmMode::Reflect;
        cfg.crisis.semantic = false;
        cfg.store.path = db.to_path_buf();
        Resolved { cfg, participant: "P1".into(), day: 1, ephemeral: false, latency_matching: None }
    }

    fn wait_done(live: &Live, utt: u64) -> LiveTurn {
        let t0 = std::time::Instant::now();
        loop {
            if let Some(t) = live.turn(utt).filter(|t| t.done) {
                return t;
            }
            assert!(t0.elapsed() < std::time::Duration::from_secs(60), "turn {utt} did not finish");
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
    }

    #[test]
    fn a_web_chat_runs_on_the_session_runner_and_stores_every_turn_before_it_closes() {
        let d = tempfile::tempdir().unwrap();
        let db = d.path().join("s.db");
        let live = Live::start(resolved(&db), std::time::Duration::from_secs(600)).unwrap();
        let a = live.send("I feel lonely since I moved.".into()).unwrap();
        let b = live.send("I want to kill myself tonight, I have the pills here.".into()).unwrap();
        let ta = wait_done(&live, a);
        let tb = wait_done(&live, b);
        assert!(!ta.sentences.is_empty() && !ta.crisis, "{ta:?}");
        assert!(tb.crisis && tb.risk.as_deref() == Some("imminent") && tb.sentences.join(" ").contains("988"), "{tb:?}");
        live.finish().unwrap();
        assert!(live.ended() && live.failure().is_none());
        assert!(matches!(live.send("hello?".into()), Err(SendError::Ended)));
        let c = rusqlite::Connection::open(&db).unwrap();
        let (arm, ended): (String, Option<i64>) = c.query_row("SELECT arm, ended_at_ms FROM sessions", [], |r| Ok((r.get(0)?, r.get(1)?))).unwrap();
        assert_eq!(arm, "chatbot");
        assert!(ended.is_some(), "the session was closed");
        let replies: Vec<String> = c.prepare("SELECT reply FROM turns WHERE status = 'complete' ORDER BY idx").unwrap().query_map([], |r| r.get(0)).unwrap().map(Result::unwrap).collect();
        assert_eq!(replies, vec![ta.sentences.join(" "), tb.sentences.join(" ")]);
        let alerts: i64 = c.query_row("SELECT COUNT(*) FROM events WHERE kind = 'staff_alert'", [], |r| r.get(0)).unwrap();
        assert_eq!(alerts, 1);
    }

    fn wait(what: &str, mut f: impl FnMut() -> bool) {
        let t0 = std::time::Instant::now();
        while !f() {
            assert!(t0.elapsed() < std::time::Duration::from_secs(60), "{what}");
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
    }

    #[test]
    fn staff_commands_reach_a_web_chat_through_its_staff_desk_and_are_audited() {
        let d = tempfile::tempdir().unwrap();
        let db = d.path().join("s.db");
        let live = Live::start(resolved(&db), std::time::Duration::from_secs(600)).unwrap();
        wait("the session opened", || live.session_id().is_some());
        live.command("dr.lee", Action::Pause).unwrap();
        wait("the chat paused", || live.staff_state().paused);
        assert!(matches!(live.send("hello?".into()), Err(SendError::Paused)), "refused, not queued, while paused");
        assert!(live.turns().is_empty());
        live.command("dr.lee", Action::Resume).unwrap();
        wait("the chat resumed", || !live.staff_state().paused);
        let line = "A member of our team will join you in a moment.";
        live.command("dr.lee", Action::Say { text: line.into(), crisis_aware: false }).unwrap();
        let a = live.send("Are you still there?".into()).unwrap();
        assert_eq!(wait_done(&live, a).sentences, vec![line.to_string()]);
        live.command("dr.lee", Action::Stop).unwrap();
        wait("the chat ended", || live.ended());
        assert!(live.staff_state().stopped && live.failure().is_none());
        assert!(matches!(live.command("dr.lee", Action::Pause), Err(CommandError::Ended)));
        let c = rusqlite::Connection::open(&db).unwrap();
        let sid = live.session_id().unwrap();
        let kinds: Vec<String> = c
            .prepare("SELECT json_extract(payload, '$.kind') FROM events WHERE kind = 'staff_command' AND session_id = ?1 AND json_extract(payload, '$.by') = 'dr.lee' ORDER BY id")
            .unwrap()
            .query_map([sid], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert_eq!(kinds, ["pause", "resume", "say", "stop"]);
        let (source, reply): (String, String) = c.query_row("SELECT source, reply FROM turns WHERE session_id = ?1", [sid], |r| Ok((r.get(0)?, r.get(1)?))).unwrap();
        assert_eq!((source.as_str(), reply.as_str()), ("staff", line));
        let ended: Option<i64> = c.query_row("SELECT ended_at_ms FROM sessions WHERE id = ?1", [sid], |r| r.get(0)).unwrap();
        assert!(ended.is_some());
    }

    #[test]
    fn with_latency_matching_no_sentence_reaches_the_page_state_before_its_matched_time() {
        let d = tempfile::tempdir().unwrap();
        let db = d.path().join("s.db");
        let mut r = resolved(&db);
        let m = crate::pacing::LatencyMatching { enabled: true, first_sentence_min_ms: 1500, ms_per_char: 5, max_hold_ms: 5000 };
        r.latency_matching = Some(m);
        let live = Live::start(r, std::time::Duration::from_secs(600)).unwrap();
        let t0 = std::time::Instant::now();
        let a = live.send("I feel lonely since I moved.".into()).unwrap();
        // What the SSE stream and a reloaded page read is this state: poll it.
        let mut first_seen = None;
        while first_seen.is_none() {
            if live.turn(a).is_some_and(|t| !t.sentences.is_empty()) {
                first_seen = Some(t0.elapsed());
            }
            assert!(t0.elapsed() < std::time::Duration::from_secs(60), "no sentence");
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        // A lower bound that holds on any machine: sent before the session took it up.
        assert!(first_seen.unwrap() >= std::time::Duration::from_millis(1500), "{first_seen:?}");
        let b = live.send("I want to kill myself tonight, I have the pills here.".into()).unwrap();
        let tb = wait_done(&live, b);
        assert!(tb.crisis && tb.sentences.join(" ").contains("988"), "{tb:?}");
        live.finish().unwrap();
        let c = rusqlite::Connection::open(&db).unwrap();
        let rec: Vec<String> = c.prepare("SELECT payload FROM events WHERE kind = 'latency_matched' ORDER BY turn_idx").unwrap().query_map([], |r| r.get(0)).unwrap().map(Result::unwrap).collect();
        let rec: Vec<serde_json::Value> = rec.iter().map(|p| serde_json::from_str(p).unwrap()).collect();
        assert_eq!((rec[0]["exempt"].as_bool(), rec[1]["exempt"].as_bool(), rec[1]["held_ms"].as_u64()), (Some(false), Some(true), Some(0)), "{rec:?}");
        let set: String = c.query_row("SELECT payload FROM events WHERE kind = 'latency_matching'", [], |r| r.get(0)).unwrap();
        assert_eq!(serde_json::from_str::<serde_json::Value>(&set).unwrap(), m.to_json());
    }

    #[test]
    fn a_chat_idle_past_its_limit_ends_and_says_so_in_the_store() {
        let d = tempfile::tempdir().unwrap();
        let db = d.path().join("s.db");
        let live = Live::start(resolved(&db), std::time::Duration::from_millis(300)).unwrap();
        let t0 = std::time::Instant::now();
        while !live.ended() {
            assert!(t0.elapsed() < std::time::Duration::from_secs(60), "the idle chat never ended");
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        live.finish().unwrap();
        let c = rusqlite::Connection::open(&db).unwrap();
        let n: i64 = c.query_row("SELECT COUNT(*) FROM events WHERE kind = 'web_idle_end'", [], |r| r.get(0)).unwrap();
        assert_eq!(n, 1);
    }
}
