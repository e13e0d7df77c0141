//! The one session orchestrator every arm runs on.
//!
//! [`run`] opens the [`ChatSession`], owns the async runtime, one shutdown
//! token (Ctrl-C or SIGTERM cancels it) and a completion channel, runs the
//! engine loop ([`serve`]) and hands a [`Transport`] what it needs to talk to it. The
//! transports — text (`attune chat`), voice (`attune run --arm voice`),
//! voice + head (`--arm robot`) — differ only in how turns come in and
//! replies go out; the session, its logging and its shutdown are this file.
//!
//! Channels (all bounded):
//! - transport → engine: [`EngineCmd`], 32; a full queue hands the command
//!   back to the sender (the voice loop logs and drops that utterance);
//! - engine → transport: reply events, 64; the engine waits when it is full;
//! - engine → observers: [`SessionEvent`], per observer; a full observer
//!   misses the event (logged) rather than stalling a turn.
//!
//! With `[bus]` the session's bus handle lives in the [`ChatSession`]; staff
//! commands are applied in [`serve`] for every arm, and the robot arm's head
//! reports faults and telemetry through [`ChatSession::bus_head_reporter`].

use crate::pacing::{LatencyMatching, TurnPacer};
use crate::session::{ChatSession, Resolved, TurnReport};
use anyhow::Context;
use attune_dialogue::crisis::Risk;
use attune_dialogue::engine::EngineEvent;
use attune_dialogue::strategy::{code_sentence, Strategy};
use attune_speech::voice_loop::{ReplyEvent, Utterance};
use futures_util::future::LocalBoxFuture;
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// Transport → engine.
#[derive(Debug)]
pub enum EngineCmd {
    /// Answer this utterance.
    Turn(Utterance),
    /// The reply to utterance `id` was cut after `spoken` characters.
    Interrupted { id: u64, spoken: usize },
    /// The participant went on talking before hearing the reply to
    /// utterance `id` (past `spoken` characters), and their next words come
    /// next: unless the reply must be heard (crisis protocol, check-in),
    /// it is recorded as withdrawn and leaves the history.
    Superseded { id: u64, spoken: usize },
    /// Log a session event.
    Event { kind: String, payload: serde_json::Value },
}

/// A turn-tagged event for observers (the head planner, a bus, a web page).
/// `utt` is the transport's utterance id, `turn` the session's turn number.
#[derive(Debug, Clone)]
// The tags are there for every observer; the head planner needs only some.
#[allow(dead_code)]
pub enum SessionEvent {
    /// The participant's turn was read (sent before any reply text).
    Analysed {
        /// Utterance id.
        utt: u64,
        /// Turn number.
        turn: u64,
        /// Risk of this turn.
        risk: Risk,
        /// Session in crisis state after it.
        crisis_active: bool,
        /// Feelings the participant named.
        emotions: Vec<String>,
        /// The participant stated self-critical or distorted beliefs.
        self_critical: bool,
    },
    /// One validated, committed reply sentence with its strategy code.
    Sentence {
        /// Utterance id.
        utt: u64,
        /// Turn number.
        turn: u64,
        /// The sentence.
        text: String,
        /// Its ESConv strategy.
        strategy: Strategy,
    },
    /// The turn is complete and stored.
    Done {
        /// Utterance id.
        utt: u64,
        /// Turn number.
        turn: u64,
    },
    /// The engine failed on this utterance.
    Failed {
        /// Utterance id.
        utt: u64,
    },
}

/// Observers of a session. Cloneable; each subscriber gets its own bounded queue.
#[derive(Clone, Default)]
pub struct Observers {
    /// One sender per subscriber.
    subs: Arc<Mutex<Vec<mpsc::Sender<SessionEvent>>>>,
}

impl Observers {
    /// A new subscriber; it misses events when `capacity` are waiting.
    pub fn subscribe(&self, capacity: usize) -> mpsc::Receiver<SessionEvent> {
        let (tx, rx) = mpsc::channel(capacity.max(1));
        if let Ok(mut s) = self.subs.lock() {
            s.push(tx);
        }
        rx
    }

    fn send(&self, ev: &SessionEvent) {
        if let Ok(mut subs) = self.subs.lock() {
            subs.retain(|s| match s.try_send(ev.clone()) {
                Ok(()) => true,
                Err(mpsc::error::TrySendError::Full(_)) => {
                    tracing::warn!("a session observer is full; it misses one event");
                    true
                }
                Err(mpsc::error::TrySendError::Closed(_)) => false,
            });
        }
    }
}

/// What a transport gets from the runner.
pub struct Ctx {
    /// Commands to the engine.
    pub cmds: mpsc::Sender<EngineCmd>,
    /// Reply events for submitted utterances, in order.
    pub replies: mpsc::Receiver<ReplyEvent<TurnReport>>,
    /// Cancelled on Ctrl-C or SIGTERM (or by the transport) to end the session.
    pub shutdown: CancellationToken,
    /// Completion: every task or thread the transport starts holds a clone;
    /// the runner closes the session only after all are dropped.
    pub done: mpsc::Sender<()>,
    /// Session observers.
    pub observers: Observers,
    /// The runtime, for tasks a transport spawns.
    pub rt: tokio::runtime::Handle,
}

/// How turns come in and replies go out.
pub trait Transport {
    /// Called once the session row exists, before any turn: banners,
    /// session events (the robot arm records its behaviour settings here).
    fn opened(&mut self, _session: &ChatSession) -> anyhow::Result<()> {
        Ok(())
    }

    /// Runs to the end of the input or the shutdown. The future runs on the
    /// session's thread beside the engine; it must drop `ctx.cmds` (and
    /// everything holding a clone) when it is done.
    fn run(self: Box<Self>, ctx: Ctx) -> LocalBoxFuture<'static, anyhow::Result<()>>;
}

/// Runs a session of `arm` over `transport`: open, serve turns until the
/// transport ends, wait for every task to finish, close.
///
/// With `resolved.latency_matching` (a study's text arm) the settings are
/// recorded with the session (`latency_matching` event) and applied to every
/// turn (see [`crate::pacing`]).
pub fn run(resolved: Resolved, arm: &str, mut transport: Box<dyn Transport>) -> anyhow::Result<()> {
    let rt = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    let matching = resolved.latency_matching;
    let session = rt.block_on(ChatSession::open_resolved(resolved, arm))?;
    if let Some(m) = matching {
        if let Err(e) = session.event("latency_matching", &m.to_json()) {
            let _ = rt.block_on(session.close());
            return Err(e.context("recording the session's latency matching"));
        }
    }
    if let Err(e) = transport.opened(&session) {
        let _ = rt.block_on(session.close());
        return Err(e);
    }
    let shutdown = CancellationToken::new();
    // Design: SIGTERM (a service manager stopping attune) ends the session
    // like Ctrl-C: a turn in progress finishes and is stored, then the
    // session is closed with its summary. The handler is installed here,
    // before any turn, so a SIGTERM never meets the default action.
    let term = {
        let _rt = rt.enter();
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
    };
    let mut term = match term {
        Ok(t) => t,
        Err(e) => {
            let _ = rt.block_on(session.close());
            return Err(anyhow::Error::new(e).context("installing the SIGTERM handler"));
        }
    };
    {
        let token = shutdown.clone();
        rt.spawn(async move {
            // A failed Ctrl-C handler leaves SIGTERM watched.
            let ctrl_c = async {
                if tokio::signal::ctrl_c().await.is_err() {
                    std::future::pending::<()>().await;
                }
            };
            tokio::select! {
                _ = ctrl_c => {}
                _ = term.recv() => {}
            }
            token.cancel();
        });
    }
    let (cmd_tx, cmd_rx) = mpsc::channel::<EngineCmd>(32);
    let (rep_tx, rep_rx) = mpsc::channel::<ReplyEvent<TurnReport>>(64);
    let (done_tx, mut done_rx) = mpsc::channel::<()>(1);
    let observers = Observers::default();
    let ctx = Ctx {
        cmds: cmd_tx,
        replies: rep_rx,
        shutdown: shutdown.clone(),
        done: done_tx,
        observers: observers.clone(),
        rt: rt.handle().clone(),
    };
    let fut = transport.run(ctx);
    // The session's turn future holds the SQLite connection (not Send), so
    // the engine runs here on this thread; it ends when the transport drops
    // its command senders.
    let (session, outcome) = rt.block_on(async { tokio::join!(serve(session, cmd_rx, rep_tx, observers, shutdown, matching), fut) });
    // Completion: every transport task has dropped its `done` clone.
    rt.block_on(async { while done_rx.recv().await.is_some() {} });
    let closed = rt.block_on(session.close());
    outcome?;
    closed
}

/// The error a turn gets when staff stopped the session before it.
pub const STOPPED_BY_STAFF: &str = "session stopped by staff";

/// The engine loop: runs turns as commands arrive, streams their sentences
/// to the transport and their events to observers; returns the session
/// when every command sender is gone.
///
/// Staff commands (from the bus, or the web dashboard through the
/// session's [`crate::bus::desk::StaffDesk`]) are applied here, for every arm:
/// before each turn, and at once when one arrives while the engine is idle.
/// `pause` holds the next turn (utterances wait in the bounded queue);
/// `stop` cancels `shutdown` (the transport ends as on Ctrl-C) and refuses
/// every later turn with [`STOPPED_BY_STAFF`].
///
/// With `matching` enabled (a study's `[latency_matching]`, text arms only)
/// each reply sentence is held until its matched time before it reaches the
/// transport and the observers; see [`crate::pacing`].
pub async fn serve(
    mut session: ChatSession,
    mut cmds: mpsc::Receiver<EngineCmd>,
    replies: mpsc::Sender<ReplyEvent<TurnReport>>,
    observers: Observers,
    shutdown: CancellationToken,
    matching: Option<LatencyMatching>,
) -> ChatSession {
    // Utterance id → (turn, the reply, its intent).
    let mut turn_of: HashMap<u64, (u64, String, attune_dialogue::policy::Intent)> = HashMap::new();
    // Commands that came while a turn ran, in order (at most `BACKLOG`).
    let mut backlog: VecDeque<EngineCmd> = VecDeque::new();
    let mut stopped = false;
    loop {
        let cmd = if let Some(c) = backlog.pop_front() {
            c
        } else {
            tokio::select! {
            c = cmds.recv() => match c { Some(c) => c, None => break },
            // A staff command while nobody speaks (stop, pause) applies at once.
            _ = session.staff_command_arrived(), if !stopped => {
                stopped = staff_check(&mut session, &shutdown).await;
                continue;
            }
            }
        };
        match cmd {
            EngineCmd::Turn(utt) => {
                if !stopped {
                    stopped = staff_check(&mut session, &shutdown).await;
                }
                if stopped {
                    observers.send(&SessionEvent::Failed { utt: utt.id });
                    let _ = replies.send(ReplyEvent::Failed { id: utt.id, error: STOPPED_BY_STAFF.into() }).await;
                    continue;
                }
                let turn = session.turns() + 1;
                let mut incoming = Incoming { cmds: &mut cmds, backlog: &mut backlog, closed: false };
                let (result, pacer) = paced_turn(&mut session, &utt, turn, matching, &replies, &observers, &shutdown, &mut incoming).await;
                if let Some(p) = &pacer {
                    if let Ok(r) = &result {
                        let mut rec = p.record();
                        rec["turn"] = serde_json::json!(r.turn);
                        if let Err(e) = session.turn_event(r.turn, "latency_matched", &rec) {
                            tracing::warn!("could not record the matched timing of turn {}: {e:#}", r.turn);
                        }
                    }
                }
                let ev = match result {
                    Ok(report) => {
                        turn_of.insert(utt.id, (report.turn, report.reply.clone(), report.intent));
                        observers.send(&SessionEvent::Done { utt: utt.id, turn: report.turn });
                        ReplyEvent::Done { id: utt.id, report }
                    }
                    Err(e) => {
                        observers.send(&SessionEvent::Failed { utt: utt.id });
                        ReplyEvent::Failed { id: utt.id, error: format!("{e:#}") }
                    }
                };
                let _ = replies.send(ev).await;
            }
            EngineCmd::Interrupted { id, spoken } => match turn_of.get(&id) {
                Some((turn, reply, _)) => {
                    if let Err(e) = session.mark_interrupted(*turn, reply, spoken, false) {
                        tracing::warn!("could not mark turn {turn} interrupted: {e:#}");
                    }
                }
                None => tracing::warn!(id, "interruption for an unknown utterance"),
            },
            // Design: the transport decides with the same rule
            // (`Intent::must_be_heard`) whether it plays the reply, so the
            // store and the history agree with what was heard.
            // A check-in question kept for after the participant's next
            // words: those words are not its answer.
            EngineCmd::Superseded { id, spoken } => match turn_of.get(&id) {
                // Still unheard after more words (the participant went on
                // twice) is still unheard: the loop plays replies in order,
                // so no later question was heard either.
                Some((_, _, intent)) if intent.must_be_heard() => {
                    if *intent == attune_dialogue::policy::Intent::CheckIn {
                        session.check_in_unheard();
                    }
                }
                Some((turn, reply, _)) => {
                    if let Err(e) = session.mark_interrupted(*turn, reply, spoken, true) {
                        tracing::warn!("could not mark turn {turn} withdrawn: {e:#}");
                    }
                }
                None => tracing::warn!(id, "a withdrawn reply for an unknown utterance"),
            },
            EngineCmd::Event { kind, payload } => {
                if let Err(e) = session.event(&kind, &payload) {
                    tracing::warn!("could not log {kind}: {e:#}");
                }
            }
        }
    }
    session
}

/// The most commands kept aside while a turn runs; past it the transport's
/// bounded queue fills, as it did before commands were read during turns.
const BACKLOG: usize = 32;

/// Commands arriving while a turn runs: read at once (so that a withdrawn
/// reply stops being written), kept in order for after the turn.
struct Incoming<'a> {
    cmds: &'a mut mpsc::Receiver<EngineCmd>,
    backlog: &'a mut VecDeque<EngineCmd>,
    /// Every sender is gone; nothing more will come.
    closed: bool,
}

/// Runs one turn, forwarding its events; with `matching` enabled, each
/// sentence is held until its matched time (the engine goes on writing the
/// next ones meanwhile: holding never stalls generation or the store).
/// Returns the turn's result and its pacer (for the record).
///
/// Commands that arrive meanwhile wait in `incoming.backlog`, except that a
/// [`EngineCmd::Superseded`] for this very utterance also stops the LLM
/// writing its reply — once the turn's intent is known and is not one that
/// must be heard (crisis protocol, follow-up, check-in: deterministic, and
/// never withdrawn). The participant went on talking before hearing it, so
/// nobody will: on a machine with two to four cores the rest of it would
/// only delay the answer to what they said next.
#[allow(clippy::too_many_arguments)]
async fn paced_turn(
    session: &mut ChatSession,
    utt: &Utterance,
    turn: u64,
    matching: Option<LatencyMatching>,
    replies: &mpsc::Sender<ReplyEvent<TurnReport>>,
    observers: &Observers,
    shutdown: &CancellationToken,
    incoming: &mut Incoming<'_>,
) -> (anyhow::Result<TurnReport>, Option<TurnPacer>) {
    let t0 = tokio::time::Instant::now();
    let mut pacer = matching.filter(|m| m.enabled).map(TurnPacer::new);
    // Sentences waiting for their release time, in order.
    let mut held: VecDeque<Held> = VecDeque::new();
    let (etx, mut erx) = mpsc::channel::<EngineEvent>(16);
    let stop = CancellationToken::new();
    let mut intent: Option<attune_dialogue::policy::Intent> = None;
    let mut superseded = false;
    let result = {
        let fut = session.turn_observed(&utt.text, None, Some(&etx), &stop);
        tokio::pin!(fut);
        loop {
            if superseded && intent.is_some_and(|i| !i.must_be_heard()) {
                stop.cancel();
            }
            // Design: a session being shut down (Ctrl-C, SIGTERM, staff
            // stop) shows what it holds at once: it is stored already.
            let due = held.front().map(|(at, _, _)| if shutdown.is_cancelled() { tokio::time::Instant::now() } else { *at });
            let listening = !incoming.closed && incoming.backlog.len() < BACKLOG;
            tokio::select! {
                r = &mut fut => break r,
                c = incoming.cmds.recv(), if listening => match c {
                    Some(c) => {
                        superseded |= matches!(c, EngineCmd::Superseded { id, .. } if id == utt.id);
                        incoming.backlog.push_back(c);
                    }
                    None => incoming.closed = true,
                },
                Some(ev) = erx.recv() => {
                    if let EngineEvent::Analysed { decision, .. } = &ev {
                        intent = Some(decision.intent);
                    }
                    hold_or_forward(ev, t0, &mut pacer, &mut held, utt.id, turn, replies, observers).await
                }
                _ = tokio::time::sleep_until(due.unwrap_or(t0)), if due.is_some() => {
                    if let Some((_, ev, i)) = held.pop_front() {
                        release(ev, i, t0, &mut pacer, utt.id, turn, replies, observers).await;
                    }
                }
                _ = shutdown.cancelled(), if !held.is_empty() && !shutdown.is_cancelled() => {}
            }
        }
    };
    drop(etx);
    while let Ok(ev) = erx.try_recv() {
        hold_or_forward(ev, t0, &mut pacer, &mut held, utt.id, turn, replies, observers).await;
    }
    while let Some((at, ev, i)) = held.pop_front() {
        tokio::select! {
            _ = tokio::time::sleep_until(at) => {}
            _ = shutdown.cancelled() => {}
        }
        release(ev, i, t0, &mut pacer, utt.id, turn, replies, observers).await;
    }
    (result, pacer)
}

/// A held sentence: its release time, the event, its index in the turn.
type Held = (tokio::time::Instant, EngineEvent, usize);

/// Releases a held sentence and notes when it actually went out.
#[allow(clippy::too_many_arguments)]
async fn release(
    ev: EngineEvent,
    i: usize,
    t0: tokio::time::Instant,
    pacer: &mut Option<TurnPacer>,
    utt: u64,
    turn: u64,
    replies: &mpsc::Sender<ReplyEvent<TurnReport>>,
    observers: &Observers,
) {
    if let Some(p) = pacer.as_mut() {
        p.shown(i, t0.elapsed().as_millis() as u64);
    }
    forward(&ev, utt, turn, replies, observers).await;
}

/// Forwards an engine event now, or holds a sentence for its matched time.
#[allow(clippy::too_many_arguments)]
async fn hold_or_forward(
    ev: EngineEvent,
    t0: tokio::time::Instant,
    pacer: &mut Option<TurnPacer>,
    held: &mut VecDeque<Held>,
    utt: u64,
    turn: u64,
    replies: &mpsc::Sender<ReplyEvent<TurnReport>>,
    observers: &Observers,
) {
    let Some(p) = pacer.as_mut() else { return forward(&ev, utt, turn, replies, observers).await };
    match &ev {
        EngineEvent::Analysed { crisis, .. } => {
            // Design: safety first — the crisis reply, its resource and the
            // check-in question are never held, nor is any turn while the
            // session is in crisis state or one that raises a staff alert.
            if crisis.use_protocol_reply || crisis.crisis_active || crisis.alert {
                p.exempt();
            }
            forward(&ev, utt, turn, replies, observers).await;
        }
        EngineEvent::Sentence(s) => {
            let now_ms = t0.elapsed().as_millis() as u64;
            let i = p.scheduled();
            let at = p.release_at(now_ms, s.chars().count() as u64);
            if held.is_empty() && at <= now_ms {
                forward(&ev, utt, turn, replies, observers).await;
            } else {
                held.push_back((t0 + std::time::Duration::from_millis(at), ev, i));
            }
        }
    }
}

/// Applies staff commands between turns; true when the session must end
/// (staff said stop, or the shutdown came while staff held it paused).
async fn staff_check(session: &mut ChatSession, shutdown: &CancellationToken) -> bool {
    let flow = tokio::select! {
        biased;
        f = session.between_turns() => f,
        // Ctrl-C during a pause: end without answering what waits.
        _ = shutdown.cancelled() => return session.paused(),
    };
    if flow == crate::bus::Flow::Stop {
        eprintln!("attune: {STOPPED_BY_STAFF}");
        shutdown.cancel();
        return true;
    }
    false
}

async fn forward(
    ev: &EngineEvent,
    utt: u64,
    turn: u64,
    replies: &mpsc::Sender<ReplyEvent<TurnReport>>,
    observers: &Observers,
) {
    match ev {
        EngineEvent::Analysed { analysis, crisis, .. } => observers.send(&SessionEvent::Analysed {
            utt,
            turn,
            risk: crisis.risk,
            crisis_active: crisis.crisis_active,
            emotions: analysis.emotions.clone(),
            self_critical: !analysis.distortions.is_empty(),
        }),
        EngineEvent::Sentence(s) => {
            observers.send(&SessionEvent::Sentence { utt, turn, text: s.clone(), strategy: code_sentence(s) });
            let _ = replies.send(ReplyEvent::Sentence { id: utt, text: s.clone() }).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine_args::{EngineArgs, LlmChoice};
    use attune_dialogue::policy::Intent;

    /// Sends `text` as utterance `id` and waits for its report.
    async fn turn(cmd: &mpsc::Sender<EngineCmd>, replies: &mut mpsc::Receiver<ReplyEvent<TurnReport>>, id: u64, text: &str) -> TurnReport {
        cmd.send(EngineCmd::Turn(Utterance { id, text: text.into() })).await.unwrap();
        loop {
            match replies.recv().await.expect("the engine answered") {
                ReplyEvent::Done { id: d, report } if d == id => return report,
                ReplyEvent::Failed { error, .. } => panic!("turn {id} failed: {error}"),
                _ => {}
            }
        }
    }

    /// A reflect-engine voice session on a store in `dir`.
    async fn open(dir: &std::path::Path) -> ChatSession {
        let args = EngineArgs {
            llm: Some(LlmChoice::Reflect),
            policy: None,
            db: Some(dir.join("s.db")),
            participant: Some("p01".into()),
            day: None,
            config: None,
            ephemeral: false,
        };
        ChatSession::open(&args, "voice").await.unwrap()
    }

    /// Runs `texts` as utterances 1, 2, …; after utterance `after` of each
    /// `(after, id)` in `superseded` the voice loop says the participant
    /// went on before hearing the reply to `id`.
    async fn check_in_session(texts: &[&str], superseded: &[(u64, u64)]) -> Vec<TurnReport> {
        let dir = tempfile::tempdir().unwrap();
        let session = open(dir.path()).await;
        let (cmd, cmds) = mpsc::channel(8);
        let (rtx, mut replies) = mpsc::channel(64);
        let engine = serve(session, cmds, rtx, Observers::default(), CancellationToken::new(), None);
        let drive = async {
            let mut out = Vec::new();
            for (i, t) in texts.iter().enumerate() {
                let id = i as u64 + 1;
                out.push(turn(&cmd, &mut replies, id, t).await);
                for &(_, of) in superseded.iter().filter(|(after, _)| *after == id) {
                    cmd.send(EngineCmd::Superseded { id: of, spoken: 0 }).await.unwrap();
                }
            }
            drop(cmd);
            out
        };
        let (session, out) = tokio::join!(engine, drive);
        session.close().await.unwrap();
        out
    }

    #[tokio::test]
    async fn words_said_before_the_check_in_question_was_heard_are_not_its_answer() {
        let texts = ["Sometimes I wish I could go to sleep and not wake up.", "And my exams start next week.", "yes"];
        let r = check_in_session(&texts, &[(1, 1)]).await;
        assert_eq!(r[0].intent, Intent::CheckIn, "{:?}", r[0].reply);
        // The second part came before the question was heard: graded on its
        // own, no reply of its own (the question plays after it), and the
        // question stays open.
        assert_eq!(r[1].intent, Intent::CheckIn, "{:?}", r[1].reply);
        assert_eq!(r[1].reply, "");
        assert_eq!(r[2].intent, Intent::Crisis, "the answer to the question was not read as one: {:?}", r[2].reply);
        // Without the loop's word, the second part is read as the answer
        // ("no"), the question closes, and the "yes" that follows it is not
        // heard as an answer to it.
        let r = check_in_session(&texts, &[]).await;
        assert_eq!(r[0].intent, Intent::CheckIn);
        assert_ne!(r[1].intent, Intent::CheckIn);
        assert_ne!(r[2].intent, Intent::Crisis, "{:?}", r[2].reply);
        // The participant goes on twice before the question plays: neither
        // part is its answer.
        let texts = ["Sometimes I wish I could go to sleep and not wake up.", "And my exams start next week.", "No idea how I will manage.", "yes"];
        let r = check_in_session(&texts, &[(1, 1), (2, 1)]).await;
        assert_eq!((r[1].intent, r[2].intent), (Intent::CheckIn, Intent::CheckIn), "{:?} {:?}", r[1].reply, r[2].reply);
        assert_eq!((r[1].reply.as_str(), r[2].reply.as_str()), ("", ""));
        assert_eq!(r[3].intent, Intent::Crisis, "{:?}", r[3].reply);
    }

    #[tokio::test]
    async fn a_withdrawn_reply_leaves_the_history_and_the_store_says_so_unless_it_must_be_heard() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("s.db");
        let session = open(dir.path()).await;
        let (cmd, cmds) = mpsc::channel(8);
        let (rtx, mut replies) = mpsc::channel(64);
        let engine = serve(session, cmds, rtx, Observers::default(), CancellationToken::new(), None);
        let drive = async {
            let r1 = turn(&cmd, &mut replies, 1, "My dog died on Friday.").await;
            cmd.send(EngineCmd::Superseded { id: 1, spoken: 0 }).await.unwrap();
            let r2 = turn(&cmd, &mut replies, 2, "He was fourteen and slept at the end of my bed.").await;
            let r3 = turn(&cmd, &mut replies, 3, "I keep expecting him at the door when I get home.").await;
            cmd.send(EngineCmd::Interrupted { id: 3, spoken: 12 }).await.unwrap();
            let r4 = turn(&cmd, &mut replies, 4, "I have a plan to kill myself tonight.").await;
            cmd.send(EngineCmd::Superseded { id: 4, spoken: 0 }).await.unwrap();
            drop(cmd);
            [r1, r2, r3, r4]
        };
        let (session, [r1, r2, r3, r4]) = tokio::join!(engine, drive);
        assert!(!r1.reply.is_empty() && !r3.reply.is_empty());
        assert!(!r1.intent.must_be_heard() && r4.intent.must_be_heard(), "{:?} {:?}", r1.intent, r4.intent);
        let h = session.history().to_vec();
        assert_eq!(h.len(), 4, "{h:?}");
        assert_eq!(h[0], ("My dog died on Friday.".to_string(), String::new()), "the unheard reply stays in the history");
        assert_eq!(h[1].1, r2.reply);
        assert_eq!(h[2].1, crate::session::heard_part(&r3.reply, 12));
        assert!(h[2].1.len() < r3.reply.len(), "{:?}", h[2].1);
        assert_eq!(h[3].1, r4.reply, "the crisis protocol was heard, so it stays");
        session.close().await.unwrap();
        let c = rusqlite::Connection::open(&db).unwrap();
        let row = |idx: i64| -> (String, i64) {
            c.query_row("SELECT status, spoken_chars FROM turns WHERE idx = ?1", [idx], |r| Ok((r.get(0)?, r.get::<_, Option<i64>>(1)?.unwrap_or(-1)))).unwrap()
        };
        assert_eq!(row(1), ("interrupted".into(), 0));
        assert_eq!(row(2).0, "complete");
        assert_eq!(row(3), ("interrupted".into(), 12));
        assert_eq!(row(4).0, "complete");
        let kinds: Vec<(i64, String)> = c
            .prepare("SELECT turn_idx, kind FROM events WHERE kind IN ('withdrawn', 'interrupted') ORDER BY id")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .map(|r| r.unwrap())
            .collect();
        assert_eq!(kinds, vec![(1, "withdrawn".to_string()), (3, "interrupted".to_string())]);
    }
}
