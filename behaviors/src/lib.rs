//! The behaviour planner: gaze, nods and posture driven by the conversation.
//!
//! Pure: no I/O and no clock. The controller feeds it conversation events
//! with their session time and runs [`Driver::advance_to`] as time passes; it
//! returns head commands on a fixed 50 Hz grid, each within the joint, speed
//! and acceleration limits of the firmware's own parameter table. All
//! randomness comes from one seed, so a trace replays identically
//! ([`replay`]).
//!
//! # Layout
//! - [`config`] — `[behaviors]`: profile (`expressive`, `subtle`, `still`) and
//!   one switch per behaviour.
//! - [`event`] — planner inputs ([`Event`]), outputs ([`HeadCommand`]) and
//!   their trace lines ([`TraceLine`]).
//! - [`planner`] — the state machine and the limiter.
//! - [`rng`] — the seeded generator.
//! - this file — [`Driver`], which puts events and ticks in one order, and [`replay`].

pub mod config;
pub mod event;
pub mod planner;
pub mod rng;

pub use config::{BehaviorsConfig, BehaviorsConfigError, Profile, Settings, Switches};
pub use event::{Behavior, CommandKind, Event, HeadCommand, Risk, TraceLine, ENVELOPE_FRAME_MS};
pub use planner::{Mode, Planner, TICK_MS};

use attune_firmware::HeadParams;

/// Runs the planner on a fixed tick grid (0, 20, 40, … ms) and orders
/// events between ticks.
///
/// Design: an event at `t` is applied after every tick at or before `t`, and
/// ticks run at grid times, not at the moment the thread woke. The live
/// session and [`replay`] both go through this type, so the same events at
/// the same times give the same commands, whatever the scheduler did.
#[derive(Debug, Clone)]
pub struct Driver {
    /// The planner.
    planner: Planner,
    /// The next grid tick.
    next_tick_ms: u64,
}

impl Driver {
    /// A driver whose first tick is at `start_ms`.
    pub fn new(planner: Planner, start_ms: u64) -> Driver {
        Driver { planner, next_tick_ms: start_ms }
    }

    /// The planner.
    pub fn planner(&self) -> &Planner {
        &self.planner
    }

    /// Runs every tick due by `now_ms`; returns their commands with their grid times.
    pub fn advance_to(&mut self, now_ms: u64) -> Vec<(u64, HeadCommand)> {
        let mut out = Vec::new();
        while self.next_tick_ms <= now_ms {
            let t = self.next_tick_ms;
            if let Some(c) = self.planner.tick(t) {
                out.push((t, c));
            }
            self.next_tick_ms += TICK_MS;
        }
        out
    }

    /// Applies `ev` at `now_ms` after the ticks due by then (returned).
    pub fn event(&mut self, ev: &Event, now_ms: u64) -> Vec<(u64, HeadCommand)> {
        let out = self.advance_to(now_ms);
        self.planner.on_event(ev, now_ms);
        out
    }

    /// Time of the next grid tick.
    pub fn next_tick_ms(&self) -> u64 {
        self.next_tick_ms
    }
}

/// Why a trace cannot be replayed.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ReplayError {
    /// The first event is not `session_started` (it holds seed and settings).
    #[error("the trace does not start with a session_started event")]
    NoStart,
}

/// Re-runs the planner on the events of a trace (with the head's `params`)
/// until `end_ms`; returns the commands it produces.
pub fn replay(params: HeadParams, lines: &[TraceLine], end_ms: u64) -> Result<Vec<(u64, HeadCommand)>, ReplayError> {
    let mut events = lines.iter().filter_map(|l| match l {
        TraceLine::Event { t_ms, event } => Some((*t_ms, event)),
        TraceLine::Command { .. } => None,
    });
    let Some((t0, first)) = events.next() else { return Err(ReplayError::NoStart) };
    let Event::SessionStarted { seed, settings } = first else { return Err(ReplayError::NoStart) };
    let mut d = Driver::new(Planner::new(params, *settings, *seed), t0);
    let mut out = d.event(first, t0);
    for (t, ev) in events {
        out.extend(d.event(ev, t));
    }
    out.extend(d.advance_to(end_ms));
    Ok(out)
}

#[cfg(test)]
mod tests;
