//! Host side of the servo head: the [`Head`] trait and its serial / pca9685 /
//! sim / none backends, the [`HeadHandle`] + [`HeadRunner`] pair the
//! supervisor spawns, and the pty simulator.
//!
//! # Layout
//! - [`config`] — `[head]`: backend, port, per-joint calibration table.
//! - [`link`] — blocking head link over a serial port or pty: handshake,
//!   acked commands with retries, telemetry.
//! - [`sim`] — `attune head sim`: the firmware behind a pseudo-terminal with
//!   a servo model, JSONL telemetry and fault injection.
//! - [`pca9685`] — PCA9685 driver whose channels are embedded-hal PWM, so the
//!   firmware logic drives a head wired to the Pi's I²C.
//! - [`backends`] — the [`Head`] implementations.
//! - this file — [`HeadHandle`] / [`HeadRunner`] and telemetry JSON.

pub mod backends;
pub mod config;
pub mod link;
pub mod pca9685;
pub mod sim;

pub use attune_firmware as firmware;
pub use attune_protocol as protocol;
pub use backends::{from_config, Head, HeadError};
pub use config::{HeadConfig, JointConfig};

use attune_firmware::TICK_MS;
use attune_protocol::{GestureKind, HostMsg, Joint, PoseTarget, Telemetry};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Telemetry as one JSON object (the `monitor` and simulator JSONL line).
pub fn telemetry_json(t: &Telemetry) -> serde_json::Value {
    let pose = |p: attune_protocol::Pose| {
        let a = p.to_array();
        let mut m = serde_json::Map::new();
        for j in Joint::ALL {
            m.insert(format!("{}_deg", j.name()), serde_json::json!(a[j.index()]));
        }
        serde_json::Value::Object(m)
    };
    let c = &t.counters;
    serde_json::json!({
        "t_ms": t.t_ms,
        "mode": t.mode.name(),
        "angles": pose(t.angles),
        "targets": pose(t.targets),
        "pulse_us": t.pulse_us,
        "faults": t.faults.0,
        "heartbeat_age_ms": t.heartbeat_age_ms,
        "counters": {
            "frames_ok": c.frames_ok, "cobs_errors": c.cobs_errors, "crc_errors": c.crc_errors,
            "version_errors": c.version_errors, "decode_errors": c.decode_errors,
            "overflows": c.overflows, "clamped": c.clamped, "rejected": c.rejected,
            "watchdog_trips": c.watchdog_trips, "tx_errors": c.tx_errors,
        },
    })
}

/// Commands queued from handles to the runner.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Queued {
    /// A head command.
    Cmd(HostMsg),
}

/// Why a handle call did not go through.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum HandleError {
    /// The queue is full; the command was dropped (the next pose supersedes it).
    #[error("head command queue full; command dropped")]
    Full,
    /// The runner has stopped.
    #[error("head runner stopped")]
    Stopped,
}

/// Cheap, cloneable handle to the head runner.
///
/// Queue semantics: pose and gesture commands go through a bounded queue of
/// `capacity`. When it is full, [`HeadHandle::set_pose`] and
/// [`HeadHandle::gesture`] return [`HandleError::Full`] and drop the command
/// at once (never block): poses are a stream and the next one supersedes.
/// [`HeadHandle::park`] never goes through the queue: it sets a flag the
/// runner checks first every tick, discarding queued poses, so "park the
/// head" is never lost behind a backlog.
#[derive(Clone)]
pub struct HeadHandle {
    /// Bounded command queue.
    tx: SyncSender<Queued>,
    /// Out-of-band park request.
    park: Arc<AtomicBool>,
    /// Telemetry subscribers.
    subs: Arc<Mutex<Vec<SyncSender<Telemetry>>>>,
    /// Asks the runner to stop.
    stop: Arc<AtomicBool>,
}

impl HeadHandle {
    fn send(&self, m: HostMsg) -> Result<(), HandleError> {
        match self.tx.try_send(Queued::Cmd(m)) {
            Ok(()) => Ok(()),
            Err(TrySendError::Full(_)) => Err(HandleError::Full),
            Err(TrySendError::Disconnected(_)) => Err(HandleError::Stopped),
        }
    }

    /// Moves to `target` over at least `duration_ms`.
    pub fn set_pose(&self, target: PoseTarget, duration_ms: u16) -> Result<(), HandleError> {
        self.send(HostMsg::SetPose { target, duration_ms })
    }

    /// Plays a gesture.
    pub fn gesture(&self, kind: GestureKind) -> Result<(), HandleError> {
        self.send(HostMsg::Gesture { kind })
    }

    /// Parks the head; never dropped (see the type's doc).
    pub fn park(&self) {
        self.park.store(true, Ordering::SeqCst);
    }

    /// Receives telemetry (10–50 Hz, backend-dependent). A subscriber that
    /// falls `capacity` samples behind misses samples rather than slowing the
    /// runner.
    pub fn subscribe(&self, capacity: usize) -> Receiver<Telemetry> {
        let (tx, rx) = sync_channel(capacity.max(1));
        if let Ok(mut s) = self.subs.lock() {
            s.push(tx);
        }
        rx
    }

    /// Asks the runner to park and stop.
    pub fn shutdown(&self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

/// `b` over `a`: joints `b` sets win, the others keep `a`'s.
fn merge_pose(a: PoseTarget, b: PoseTarget) -> PoseTarget {
    let (a, b) = (a.to_array(), b.to_array());
    PoseTarget::from_array(std::array::from_fn(|i| b[i].or(a[i])))
}

/// Drives a [`Head`] backend at 50 Hz; only the supervisor runs it, on its
/// own thread (the serial backend blocks on I/O).
pub struct HeadRunner {
    /// Command queue.
    rx: Receiver<Queued>,
    /// Out-of-band park request.
    park: Arc<AtomicBool>,
    /// Telemetry subscribers.
    subs: Arc<Mutex<Vec<SyncSender<Telemetry>>>>,
    /// Stop request.
    stop: Arc<AtomicBool>,
    /// The head.
    backend: Box<dyn Head>,
}

/// A handle and its runner over `backend`, with a command queue of `capacity`.
pub fn head_channel(backend: Box<dyn Head>, capacity: usize) -> (HeadHandle, HeadRunner) {
    let (tx, rx) = sync_channel(capacity.max(1));
    let park = Arc::new(AtomicBool::new(false));
    let subs = Arc::new(Mutex::new(Vec::new()));
    let stop = Arc::new(AtomicBool::new(false));
    (
        HeadHandle { tx, park: park.clone(), subs: subs.clone(), stop: stop.clone() },
        HeadRunner { rx, park, subs, stop, backend },
    )
}

impl HeadRunner {
    /// Runs until [`HeadHandle::shutdown`] or until every handle is dropped;
    /// parks the head on the way out. Backend failures are logged and
    /// contained: the session goes on without the body.
    pub fn run(mut self) {
        let tick = Duration::from_millis(TICK_MS as u64);
        let mut next = Instant::now();
        loop {
            if self.stop.load(Ordering::SeqCst) {
                break;
            }
            if self.park.swap(false, Ordering::SeqCst) {
                while self.rx.try_recv().is_ok() {}
                self.exec(HostMsg::Park);
            }
            // Design: consecutive poses queued within one tick merge into
            // one (later joints win), so the head gets at most one pose per
            // 20 ms tick however the senders are phased against this loop.
            let mut pose: Option<(PoseTarget, u16)> = None;
            loop {
                match self.rx.try_recv() {
                    Ok(Queued::Cmd(HostMsg::SetPose { target, duration_ms })) => {
                        pose = Some(match pose {
                            None => (target, duration_ms),
                            Some((t, _)) => (merge_pose(t, target), duration_ms),
                        });
                    }
                    Ok(Queued::Cmd(m)) => {
                        if let Some((target, duration_ms)) = pose.take() {
                            self.exec(HostMsg::SetPose { target, duration_ms });
                        }
                        self.exec(m)
                    }
                    Err(std::sync::mpsc::TryRecvError::Empty) => break,
                    Err(std::sync::mpsc::TryRecvError::Disconnected) => {
                        self.stop.store(true, Ordering::SeqCst);
                        break;
                    }
                }
            }
            if let Some((target, duration_ms)) = pose.take() {
                self.exec(HostMsg::SetPose { target, duration_ms });
            }
            match self.backend.tick(Instant::now()) {
                Ok(samples) => {
                    if !samples.is_empty() {
                        if let Ok(mut subs) = self.subs.lock() {
                            subs.retain(|s| {
                                samples.iter().all(|t| !matches!(s.try_send(*t), Err(TrySendError::Disconnected(_))))
                            });
                        }
                    }
                }
                Err(e) => tracing::warn!("head {}: {e}", self.backend.name()),
            }
            next += tick;
            let now = Instant::now();
            if next > now {
                std::thread::sleep(next - now);
            } else {
                next = now;
            }
        }
        self.exec(HostMsg::Park);
    }

    fn exec(&mut self, m: HostMsg) {
        if let Err(e) = self.backend.command(m) {
            tracing::warn!("head {}: command failed: {e}", self.backend.name());
        }
    }
}
