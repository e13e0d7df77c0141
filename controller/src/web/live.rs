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

use crate::runner::{Ctx, EngineCmd, Transport};
use crate::session::{Resolved, TurnReport};
use attune_speech::voice_loop::{ReplyEvent, Utterance};
use futures_util::future::LocalBoxFuture;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::{broadcast, mpsc};

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
}

/// A live chat session (see the module doc).
pub struct Live {
    /// Turns and end state.
    inner: Mutex<Inner>,
    /// Utterance ids that changed (subscribers re-read the turn); 0 = the session ended.
    updates: broadcast::Sender<u64>,
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
}

impl Live {
    /// Starts the session thread for `resolved` (the chatbot arm).
    pub fn start(resolved: Resolved, idle: std::time::Duration) -> anyhow::Result<Arc<Live>> {
        let (tx, rx) = mpsc::channel::<Utterance>(8);
        let (updates, _) = broadcast::channel(256);
        let live = Arc::new(Live { inner: Mutex::new(Inner::default()), updates, tx: Mutex::new(Some(tx)), next: AtomicU64::new(1), thread: Mutex::new(None) });
        let transport = WebTransport { live: live.clone(), rx, idle };
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
        if self.ended() {
            return Err(SendError::Ended);
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
}

impl Transport for WebTransport {
    fn run(self: Box<Self>, ctx: Ctx) -> LocalBoxFuture<'static, anyhow::Result<()>> {
        let WebTransport { live, mut rx, idle } = *self;
        Box::pin(async move {
            let Ctx { cmds, mut replies, shutdown, done, .. } = ctx;
            let mut last = tokio::time::Instant::now();
            loop {
                tokio::select! {
                    _ = shutdown.cancelled() => break,
                    _ = tokio::time::sleep_until(last + idle) => {
                        if !live.busy() {
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
        Resolved { cfg, participant: "P1".into(), day: 1, ephemeral: false }
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
