//! The staff desk: one session's staff commands (pause, resume, stop, say)
//! from every source — the bus's `cmd` topic and the web dashboard of this
//! process — queued on one bounded channel and applied by one state machine.
//!
//! Design: one source of truth for "is this session paused, is a staff line
//! waiting". The bus runner and the web dashboard are only senders into
//! [`StaffDesk`]'s queue; [`StaffDesk::apply`] is the only code that changes
//! the state, audits the command in the session store (`staff_command`) and
//! reports its outcome (on the bus, when there is one). A session without
//! `[bus]` still has a desk, so the web dashboard can pause, stop and speak
//! through a web chat exactly as the bus does for any arm.

use super::message::{Action, SayDecision, StaffCommand};
use super::Flow;
use serde_json::{json, Value};
use tokio::sync::{mpsc, watch};

/// What the desk tells the world; the session implements it over its store
/// and (when configured) its bus.
pub trait DeskHooks {
    /// Records an applied command in the session store (`kind` is `staff_command`).
    fn audit(&self, kind: &str, payload: Value);
    /// Whether a command with this id was already applied (a bus redelivery to a later process).
    fn already_applied(&self, id: &str) -> bool;
    /// What became of a command (`accepted`, `queued`, `spoken`, ...; the bus's `staff_command` event).
    fn outcome(&mut self, c: &StaffCommand, outcome: &str, turn: Option<u64>);
    /// The pause state changed (the bus republishes its retained state).
    fn paused_changed(&mut self, paused: bool);
}

/// Hooks that only audit (tests, and a session whose store is its only witness).
#[cfg(test)]
pub struct AuditOnly<F: Fn(&str, Value)>(pub F);

#[cfg(test)]
impl<F: Fn(&str, Value)> DeskHooks for AuditOnly<F> {
    fn audit(&self, kind: &str, payload: Value) {
        (self.0)(kind, payload)
    }
    fn already_applied(&self, _id: &str) -> bool {
        false
    }
    fn outcome(&mut self, _c: &StaffCommand, _outcome: &str, _turn: Option<u64>) {}
    fn paused_changed(&mut self, _paused: bool) {}
}

/// What transports may watch: staff hold the session, or stopped it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct DeskState {
    /// Paused by staff (turns wait).
    pub paused: bool,
    /// Stopped by staff (the session is ending).
    pub stopped: bool,
}

/// A session's staff commands. See the module doc.
pub struct StaffDesk {
    /// Handed out to the bus runner and the web dashboard (see [`StaffDesk::sender`]).
    tx: mpsc::Sender<StaffCommand>,
    /// Commands not yet applied. Bounded ([`super::runner::COMMAND_CAPACITY`]):
    /// when full, a sender's `try_send` fails and it says so (the bus audits a
    /// `staff_command_rejected`, the dashboard shows the refusal).
    rx: mpsc::Receiver<StaffCommand>,
    /// Paused / stopped; watched by transports (the web page says so).
    state: watch::Sender<DeskState>,
    /// A staff line waiting for the next turn.
    say: Option<StaffCommand>,
    /// A command taken off the queue by [`StaffDesk::command_arrived`], applied next.
    arrived: Option<StaffCommand>,
}

impl Default for StaffDesk {
    fn default() -> Self {
        Self::new()
    }
}

impl StaffDesk {
    /// An empty desk.
    pub fn new() -> StaffDesk {
        let (tx, rx) = mpsc::channel(super::runner::COMMAND_CAPACITY);
        StaffDesk { tx, rx, state: watch::channel(DeskState::default()).0, say: None, arrived: None }
    }

    /// A sender of commands into this desk (bounded; `try_send` fails when full).
    pub fn sender(&self) -> mpsc::Sender<StaffCommand> {
        self.tx.clone()
    }

    /// Follows the pause / stop state.
    pub fn watch_state(&self) -> watch::Receiver<DeskState> {
        self.state.subscribe()
    }

    /// Staff hold the session paused.
    pub fn paused(&self) -> bool {
        self.state.borrow().paused
    }

    fn set_paused(&self, paused: bool) -> bool {
        let mut was = false;
        self.state.send_modify(|s| {
            was = s.paused;
            s.paused = paused;
        });
        was
    }

    /// The staff line waiting for the next turn, if any: its text and whether
    /// it was written for a participant in crisis.
    pub fn queued_say(&self) -> Option<(String, bool)> {
        match &self.say {
            Some(StaffCommand { action: Action::Say { text, crisis_aware }, .. }) => Some((text.clone(), *crisis_aware)),
            _ => None,
        }
    }

    /// The queued line was spoken on `turn` (`Speak`), held, or refused.
    /// Returns the command for the store's audit when it was consumed.
    pub fn say_outcome(&mut self, turn: u64, d: SayDecision, hooks: &mut dyn DeskHooks) -> Option<StaffCommand> {
        let outcome = match d {
            SayDecision::Hold => return None,
            SayDecision::Speak => "spoken",
            SayDecision::Refuse => "refused_crisis",
        };
        let c = self.say.take()?;
        if d == SayDecision::Refuse {
            tracing::warn!(target: "bus", "bus: staff line {:?} from {} refused: the crisis protocol is active and the line is not marked crisis_aware", c.id, c.by);
        }
        hooks.outcome(&c, outcome, Some(turn));
        Some(c)
    }

    /// The session is ending: a line still waiting was never spoken.
    pub fn close(&mut self, hooks: &mut dyn DeskHooks) {
        if let Some(c) = self.say.take() {
            hooks.outcome(&c, "not_spoken_session_ended", None);
        }
    }

    /// Applies the commands that have arrived; while paused, waits for
    /// resume or stop. Call it between turns (the session runner does).
    pub async fn between_turns(&mut self, hooks: &mut dyn DeskHooks) -> Flow {
        if let Some(c) = self.arrived.take() {
            if self.apply(c, hooks) == Flow::Stop {
                return Flow::Stop;
            }
        }
        loop {
            while let Ok(c) = self.rx.try_recv() {
                if self.apply(c, hooks) == Flow::Stop {
                    return Flow::Stop;
                }
            }
            if !self.paused() {
                return Flow::Continue;
            }
            // The desk holds a sender itself, so the queue never closes.
            match self.rx.recv().await {
                Some(c) => {
                    if self.apply(c, hooks) == Flow::Stop {
                        return Flow::Stop;
                    }
                }
                None => {
                    self.set_paused(false);
                    return Flow::Continue;
                }
            }
        }
    }

    /// Resolves when a command arrives, so a session waiting for the
    /// participant reacts to `stop` or `pause` at once; the command is
    /// applied by the next [`between_turns`](Self::between_turns). Cancel-safe.
    pub async fn command_arrived(&mut self) {
        if self.arrived.is_some() {
            return;
        }
        match self.rx.recv().await {
            Some(c) => self.arrived = Some(c),
            None => std::future::pending::<()>().await,
        }
    }

    fn apply(&mut self, c: StaffCommand, hooks: &mut dyn DeskHooks) -> Flow {
        if hooks.already_applied(&c.id) {
            tracing::info!(target: "bus", "bus: staff command {} {:?} from {} was already applied (delivered again); ignored", c.action.kind(), c.id, c.by);
            return Flow::Continue;
        }
        let record = json!({"id": c.id, "kind": c.action.kind(), "by": c.by, "sent_at": super::message::utc(c.at_ms), "received_at": super::message::utc(crate::store::now_ms())});
        hooks.audit("staff_command", record);
        match &c.action {
            Action::Pause => {
                self.set_paused(true);
                hooks.outcome(&c, "accepted", None);
                hooks.paused_changed(true);
            }
            Action::Resume => {
                let was = self.set_paused(false);
                hooks.outcome(&c, if was { "accepted" } else { "ignored_not_paused" }, None);
                hooks.paused_changed(false);
            }
            Action::Stop => {
                self.state.send_modify(|s| s.stopped = true);
                hooks.outcome(&c, "accepted", None);
                return Flow::Stop;
            }
            Action::Say { .. } => {
                if let Some(old) = self.say.take() {
                    hooks.outcome(&old, "superseded", None);
                }
                hooks.outcome(&c, "queued", None);
                self.say = Some(c);
            }
        }
        Flow::Continue
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    fn cmd(id: &str, action: Action) -> StaffCommand {
        StaffCommand { id: id.into(), by: "dr.lee".into(), at_ms: 0, action }
    }

    #[tokio::test]
    async fn a_paused_desk_waits_for_resume_and_audits_every_command_in_order() {
        let mut desk = StaffDesk::new();
        let log = std::sync::Arc::new(Mutex::new(Vec::<String>::new()));
        let l2 = log.clone();
        let mut hooks = AuditOnly(move |_k: &str, v: Value| l2.lock().unwrap().push(v["kind"].as_str().unwrap().to_string()));
        let tx = desk.sender();
        let mut watch = desk.watch_state();
        tx.try_send(cmd("a", Action::Pause)).unwrap();
        let resume = tokio::spawn(async move {
            watch.wait_for(|s| s.paused).await.unwrap();
            tx.try_send(cmd("b", Action::Resume)).unwrap();
        });
        assert_eq!(desk.between_turns(&mut hooks).await, Flow::Continue);
        resume.await.unwrap();
        assert!(!desk.paused());
        assert_eq!(*log.lock().unwrap(), vec!["pause", "resume"]);
    }

    #[tokio::test]
    async fn a_stop_ends_even_a_paused_session_and_a_new_line_supersedes_the_old() {
        let mut desk = StaffDesk::new();
        let mut hooks = AuditOnly(|_k: &str, _v: Value| {});
        let tx = desk.sender();
        tx.try_send(cmd("s1", Action::Say { text: "Hello.".into(), crisis_aware: false })).unwrap();
        tx.try_send(cmd("s2", Action::Say { text: "Hi again.".into(), crisis_aware: true })).unwrap();
        assert_eq!(desk.between_turns(&mut hooks).await, Flow::Continue);
        assert_eq!(desk.queued_say(), Some(("Hi again.".into(), true)));
        assert_eq!(desk.say_outcome(1, SayDecision::Hold, &mut hooks), None, "a held line stays queued");
        assert!(desk.queued_say().is_some());
        assert_eq!(desk.say_outcome(2, SayDecision::Speak, &mut hooks).map(|c| c.id), Some("s2".into()));
        assert_eq!(desk.queued_say(), None);
        tx.try_send(cmd("p", Action::Pause)).unwrap();
        tx.try_send(cmd("x", Action::Stop)).unwrap();
        assert_eq!(desk.between_turns(&mut hooks).await, Flow::Stop);
        assert_eq!(*desk.watch_state().borrow(), DeskState { paused: true, stopped: true });
    }
}
