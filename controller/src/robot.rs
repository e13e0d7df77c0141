//! The robot arm's body: the behaviour planner driving the head.
//!
//! The voice arm's transport carries a [`Robot`] when `--arm robot`: its
//! voice-loop events and the session's observed events become planner
//! events ([`attune_behaviors::Event`]); a planner thread ticks the planner
//! at 50 Hz on the session clock, writes the behaviour trace and hands each
//! target to the head through [`HeadHandle`]; a [`HeadRunner`] thread drives
//! the backend (`sim` = the firmware simulator on a pseudo-terminal, started
//! here, reached over the serial link like a board).
//!
//! Queues: voice loop / observers → planner thread: 256 events; when full an
//! event is dropped with a warning (the planner's timeouts recover).
//! Planner → head: the head handle's queue of 8; a full queue drops the
//! pose (the next tick's supersedes it); park never waits behind it.

use crate::config::Config;
use crate::runner::SessionEvent;
use crate::session::ChatSession;
use anyhow::Context;
use attune_behaviors::{CommandKind, Driver, Event, HeadCommand, Planner, Risk, Settings, TraceLine, TICK_MS};
use attune_hardware::backends::{SerialHead, HeadError};
use attune_hardware::protocol::{Faults, HostMsg, Mode, PoseTarget, Telemetry};
use attune_hardware::sim::{self, SimOptions};
use attune_hardware::{firmware::HeadParams, head_channel, Head, HeadHandle, HeadRunner};
use attune_speech::voice_loop::LoopEvent;
use clap::{Args, ValueEnum};
use std::collections::HashMap;
use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Which head drives the robot arm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum HeadChoice {
    /// The firmware simulator on a pseudo-terminal, started by attune.
    Sim,
    /// A head board on a serial port (`--head-port`).
    Serial,
    /// A PCA9685 on the Pi's I²C (`[head] i2c_bus`, `pca9685_address`).
    Pca9685,
    /// No head: the planner runs and the trace shows what it would do.
    None,
}

/// The robot arm's flags.
#[derive(Debug, Clone, Args)]
pub struct HeadArgs {
    /// Head for `--arm robot`: sim | serial | pca9685 | none (default: `[head] backend`).
    #[arg(long, value_enum)]
    pub head: Option<HeadChoice>,
    /// Serial device of the head board (`--head serial`).
    #[arg(long, value_name = "PATH")]
    pub head_port: Option<PathBuf>,
    /// JSONL of every planner input event and every head command.
    #[arg(long, value_name = "FILE")]
    pub behavior_trace: Option<PathBuf>,
    /// With `--head sim`: the simulator's 50 Hz telemetry (JSONL).
    #[arg(long, value_name = "FILE")]
    pub head_telemetry: Option<PathBuf>,
}

impl HeadArgs {
    /// Refuses robot flags on another arm.
    pub fn check_unused(&self) -> anyhow::Result<()> {
        for (set, flag) in [
            (self.head.is_some(), "--head"),
            (self.head_port.is_some(), "--head-port"),
            (self.behavior_trace.is_some(), "--behavior-trace"),
            (self.head_telemetry.is_some(), "--head-telemetry"),
        ] {
            if set {
                anyhow::bail!("{flag} is for the robot arm (--arm robot)");
            }
        }
        Ok(())
    }
}

/// Messages to the planner thread.
enum PlanMsg {
    /// A planner input.
    Event(Event),
    /// The session is over: park and stop.
    End,
}

/// Reply sentences by utterance, so a playback start can name its text.
#[derive(Default)]
struct SentenceBook {
    /// Sentences (text, strategy label) per utterance id, in release order.
    by_utt: HashMap<u64, Vec<(String, String)>>,
}

/// How the 50 Hz output kept time, recorded at the end of a session.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct TickStats {
    /// Ticks run.
    pub ticks: u64,
    /// Commands the planner produced.
    pub commands: u64,
    /// Commands not sent because a later tick's superseded them (catch-up after a late wake).
    pub superseded: u64,
    /// Wake-up lateness past each tick's grid time, median.
    pub late_p50_ms: f64,
    /// 99th percentile.
    pub late_p99_ms: f64,
    /// Worst.
    pub late_max_ms: f64,
}

/// Everything checked and opened before the session starts.
pub struct Prepared {
    /// Profile and switches.
    settings: Settings,
    /// The planner's seed.
    seed: u64,
    /// Joint table (the one the firmware/simulator runs).
    params: HeadParams,
    /// The trace file.
    trace: Option<(PathBuf, std::fs::File)>,
    /// The head backend, if any.
    backend: Option<Box<dyn Head>>,
    /// Which head.
    choice: HeadChoice,
    /// The simulator thread and its stop flag.
    sim: Option<(Arc<AtomicBool>, std::thread::JoinHandle<()>)>,
    /// The bus, for head faults and telemetry (`[bus]`).
    bus: Option<crate::bus::HeadReporter>,
}

/// The robot arm's body while a session runs.
pub struct Robot {
    /// To the planner thread.
    tx: SyncSender<PlanMsg>,
    /// Sentences of each reply.
    book: Arc<Mutex<SentenceBook>>,
    /// Planner thread (returns its timing).
    planner: Option<std::thread::JoinHandle<TickStats>>,
    /// Head runner thread.
    head_thread: Option<std::thread::JoinHandle<()>>,
    /// The head, if any.
    head: Option<HeadHandle>,
    /// The simulator, if we started it.
    sim: Option<(Arc<AtomicBool>, std::thread::JoinHandle<()>)>,
    /// The thread reporting the head on the bus, and its stop flag.
    head_bus: Option<(Arc<AtomicBool>, std::thread::JoinHandle<()>)>,
}

/// The simulator's pty link for this process.
fn sim_link() -> PathBuf {
    std::env::temp_dir().join(format!("attune-head-sim-{}", std::process::id()))
}

/// Checks the robot flags and config, opens the trace, starts the simulator
/// or checks the port: every bad-input error happens here, before a session row.
pub fn prepare(cfg: &Config, args: &HeadArgs) -> anyhow::Result<Prepared> {
    let settings = cfg.behaviors.settings().map_err(|e| anyhow::anyhow!("{e}"))?;
    let seed = cfg.behaviors.seed.unwrap_or_else(|| {
        let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(0);
        t ^ ((std::process::id() as u64) << 32)
    });
    let choice = match args.head {
        Some(c) => c,
        None => match cfg.head.backend.as_str() {
            "sim" => HeadChoice::Sim,
            "serial" => HeadChoice::Serial,
            "pca9685" => HeadChoice::Pca9685,
            _ => HeadChoice::None,
        },
    };
    if args.head_port.is_some() && choice != HeadChoice::Serial {
        anyhow::bail!("--head-port is for --head serial");
    }
    if args.head_telemetry.is_some() && choice != HeadChoice::Sim {
        anyhow::bail!("--head-telemetry is for --head sim (a board's telemetry: `attune head monitor`)");
    }
    let params = cfg.head.params();
    cfg.head.validate().map_err(|e| anyhow::anyhow!("{e}"))?;
    let trace = match &args.behavior_trace {
        Some(p) => Some((
            p.clone(),
            std::fs::File::create(p).with_context(|| format!("cannot write the behaviour trace {}", p.display()))?,
        )),
        None => None,
    };
    let heartbeat = Duration::from_millis(cfg.head.heartbeat_ms);
    let backoff = Duration::from_millis(cfg.head.reconnect_max_ms);
    let mut sim_thread = None;
    let backend: Option<Box<dyn Head>> = match choice {
        HeadChoice::None => None,
        HeadChoice::Serial => {
            let port = match (&args.head_port, cfg.head.backend.as_str()) {
                (Some(p), _) => p.clone(),
                (None, "serial") => PathBuf::from(&cfg.head.port),
                (None, _) => anyhow::bail!("--head serial needs --head-port PATH (the head board's serial device)"),
            };
            let port_s = port.to_string_lossy().into_owned();
            if !port.exists() {
                anyhow::bail!("head port {} does not exist (is the head plugged in? `attune head ping --port PATH` checks it)", port.display());
            }
            attune_hardware::link::HeadLink::open(&port_s, cfg.head.baud)
                .with_context(|| format!("cannot open the head port {}", port.display()))?;
            Some(Box::new(QuietHead::new(Box::new(SerialHead::new(&port_s, cfg.head.baud, heartbeat, backoff)))))
        }
        HeadChoice::Pca9685 => {
            let mut hc = cfg.head.clone();
            hc.backend = "pca9685".into();
            Some(attune_hardware::from_config(&hc).context("starting the PCA9685 head")?)
        }
        HeadChoice::Sim => {
            let link = sim_link();
            let opts = SimOptions {
                link: link.clone(),
                telemetry: args.head_telemetry.clone(),
                params,
                servo: sim::ServoModel::default(),
                faults: sim::Faults::default(),
            };
            if let Some(t) = &args.head_telemetry {
                // Fail here, not in the simulator thread, on an unwritable path.
                std::fs::File::create(t).with_context(|| format!("cannot write the head telemetry {}", t.display()))?;
            }
            let stop = Arc::new(AtomicBool::new(false));
            let s2 = stop.clone();
            let th = std::thread::Builder::new()
                .name("attune-head-sim".into())
                .spawn(move || {
                    if let Err(e) = sim::run(opts, s2) {
                        tracing::warn!("head simulator stopped: {e}");
                    }
                })
                .context("starting the head simulator")?;
            let deadline = Instant::now() + Duration::from_secs(3);
            while std::fs::symlink_metadata(&link).is_err() {
                if Instant::now() > deadline || th.is_finished() {
                    stop.store(true, Ordering::SeqCst);
                    anyhow::bail!("the head simulator did not come up on {}", link.display());
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            sim_thread = Some((stop, th));
            let port_s = link.to_string_lossy().into_owned();
            Some(Box::new(QuietHead::new(Box::new(SerialHead::new(&port_s, cfg.head.baud, heartbeat, backoff)))))
        }
    };
    Ok(Prepared { settings, seed, params, trace, backend, choice, sim: sim_thread, bus: None })
}

impl Prepared {
    /// Records the behaviour settings next to the engine fingerprint.
    pub fn record(&self, session: &ChatSession) -> anyhow::Result<()> {
        session.event(
            "behaviors",
            &serde_json::json!({
                "profile": self.settings.profile,
                "switches": self.settings.switches,
                "seed": self.seed,
                "participant_yaw_deg": self.settings.participant_yaw_deg,
                "participant_pitch_deg": self.settings.participant_pitch_deg,
                "head": format!("{:?}", self.choice).to_lowercase(),
                "fingerprint": session.fingerprint(),
                // Where the behaviour trace goes (the web dashboard draws it).
                "trace": self.trace.as_ref().map(|(p, _)| std::fs::canonicalize(p).unwrap_or_else(|_| p.clone())),
            }),
        )
    }

    /// Takes the session's bus reporter (with `[bus]`): the head's faults and
    /// throttled telemetry go to staff while the session runs.
    pub fn attach_bus(&mut self, session: &ChatSession) {
        self.bus = session.bus_head_reporter();
    }

    /// Starts the head runner and the planner; `done` is held until both end.
    pub fn start(mut self, done: tokio::sync::mpsc::Sender<()>) -> anyhow::Result<Robot> {
        let (head, head_thread) = match self.backend.take() {
            Some(b) => {
                let (h, runner) = head_channel(b, 8);
                let d = done.clone();
                let th = std::thread::Builder::new()
                    .name("attune-head".into())
                    .spawn(move || {
                        let _done = d;
                        runner_run(runner)
                    })
                    .context("starting the head runner")?;
                (Some(h), Some(th))
            }
            None => (None, None),
        };
        let head_bus = match (&head, self.bus.take()) {
            (Some(h), Some(reporter)) => {
                let telemetry = h.subscribe(64);
                let stop = Arc::new(AtomicBool::new(false));
                let s2 = stop.clone();
                let th = std::thread::Builder::new()
                    .name("attune-head-bus".into())
                    .spawn(move || report_head(telemetry, reporter, &s2))
                    .context("starting the head's bus reporter")?;
                Some((stop, th))
            }
            _ => None,
        };
        let (tx, rx) = sync_channel::<PlanMsg>(256);
        let planner = Planner::new(self.params, self.settings, self.seed);
        let trace = self.trace.take().map(|(p, f)| TraceSink { path: p, out: Some(std::io::BufWriter::new(f)) });
        let h2 = head.clone();
        let (seed, settings) = (self.seed, self.settings);
        let planner_thread = std::thread::Builder::new()
            .name("attune-behaviors".into())
            .spawn(move || {
                let _done = done;
                plan_loop(rx, planner, seed, settings, h2, trace)
            })
            .context("starting the behaviour planner")?;
        Ok(Robot { tx, book: Arc::default(), planner: Some(planner_thread), head_thread, head, sim: self.sim.take(), head_bus })
    }

    /// Stops the simulator if the session never started.
    pub fn abandon(self) {
        drop(self)
    }
}

/// Stops a simulator and removes its link (the simulator does on exit).
fn stop_sim(sim: &mut Option<(Arc<AtomicBool>, std::thread::JoinHandle<()>)>) {
    if let Some((stop, th)) = sim.take() {
        stop.store(true, Ordering::SeqCst);
        let _ = th.join();
    }
}

impl Drop for Prepared {
    fn drop(&mut self) {
        stop_sim(&mut self.sim);
    }
}

impl Drop for Robot {
    fn drop(&mut self) {
        stop_head_bus(&mut self.head_bus);
        stop_sim(&mut self.sim);
    }
}

/// Stops the head's bus reporter.
fn stop_head_bus(t: &mut Option<(Arc<AtomicBool>, std::thread::JoinHandle<()>)>) {
    if let Some((stop, th)) = t.take() {
        stop.store(true, Ordering::SeqCst);
        let _ = th.join();
    }
}

/// No telemetry for this long: the head is reported lost on the bus.
// Design: the firmware parks itself after 1 s without frames and boards send
// 10-50 Hz telemetry; twice the park time keeps a loaded host from crying wolf.
const HEAD_SILENT_MS: u64 = 2_000;

/// The fault bits staff hear about (clamped targets and single bad frames
/// are counted in telemetry, not raised).
const REPORTED_FAULTS: [(u16, &str); 3] = [
    (Faults::WATCHDOG, "watchdog parked the head (no valid frames from the host)"),
    (Faults::ESTOP, "e-stop latched"),
    (Faults::TX, "the head could not send a reply"),
];

/// The head's faults as words, for the bits newly set since `before`.
fn new_faults(before: u16, now: u16) -> Vec<&'static str> {
    REPORTED_FAULTS.iter().filter(|(bit, _)| now & bit != 0 && before & bit == 0).map(|(_, what)| *what).collect()
}

/// The head → bus thread: each fault bit as it is raised, a head that went
/// silent, and telemetry (the reporter throttles it to `telemetry_interval_ms`).
fn report_head(rx: Receiver<Telemetry>, mut bus: crate::bus::HeadReporter, stop: &AtomicBool) {
    let mut last_sample = Instant::now();
    let mut silent = false;
    let mut faults = 0u16;
    while !stop.load(Ordering::SeqCst) {
        match rx.recv_timeout(Duration::from_millis(100)) {
            Ok(t) => {
                last_sample = Instant::now();
                if std::mem::take(&mut silent) {
                    tracing::warn!("head telemetry is back");
                }
                for what in new_faults(faults, t.faults.0) {
                    bus.head_fault(what);
                }
                faults = t.faults.0;
                bus.telemetry(attune_hardware::telemetry_json(&t));
            }
            Err(RecvTimeoutError::Timeout) => {
                let ms = last_sample.elapsed().as_millis() as u64;
                if !silent && ms >= HEAD_SILENT_MS {
                    silent = true;
                    bus.head_fault(&format!("no telemetry from the head for {ms} ms (disconnected or powered off)"));
                }
            }
            Err(RecvTimeoutError::Disconnected) => break,
        }
    }
}

fn runner_run(r: HeadRunner) {
    r.run()
}

impl Robot {
    /// The mapper the voice loop thread uses for its events.
    pub fn loop_events(&self) -> LoopMapper {
        LoopMapper { tx: self.tx.clone(), book: self.book.clone(), after_barge: false }
    }

    /// Feeds the session's observed events to the planner (a task on `rt`).
    pub fn observe(&self, rt: &tokio::runtime::Handle, mut rx: tokio::sync::mpsc::Receiver<SessionEvent>) {
        let tx = self.tx.clone();
        let book = self.book.clone();
        rt.spawn(async move {
            let mut last: (Risk, bool) = (Risk::None, false);
            while let Some(ev) = rx.recv().await {
                let out = match ev {
                    SessionEvent::Analysed { risk, crisis_active, emotions, self_critical, .. } => {
                        let r = match risk {
                            attune_dialogue::crisis::Risk::None => Risk::None,
                            attune_dialogue::crisis::Risk::Low => Risk::Low,
                            attune_dialogue::crisis::Risk::High => Risk::High,
                            attune_dialogue::crisis::Risk::Imminent => Risk::Imminent,
                        };
                        let mut v = Vec::new();
                        if (r, crisis_active) != last {
                            last = (r, crisis_active);
                            v.push(Event::RiskChanged { risk: r, crisis_active });
                        }
                        v.push(Event::AgentThinking { feelings: emotions, self_critical });
                        v
                    }
                    SessionEvent::Sentence { utt, text, strategy, .. } => {
                        if let Ok(mut b) = book.lock() {
                            b.by_utt.entry(utt).or_default().push((text, strategy.label().to_string()));
                        }
                        Vec::new()
                    }
                    SessionEvent::Done { .. } | SessionEvent::Failed { .. } => Vec::new(),
                };
                for e in out {
                    if let Err(TrySendError::Full(_)) = tx.try_send(PlanMsg::Event(e)) {
                        tracing::warn!("behaviour planner queue full; event dropped");
                    }
                }
            }
        });
    }

    /// Ends the session: park, wait for the head to settle (≤ 1.5 s), stop
    /// the threads and the simulator. Returns the planner's timing.
    pub fn finish(mut self) -> TickStats {
        let parked = self.head.as_ref().map(|h| h.subscribe(64));
        let _ = self.tx.send(PlanMsg::End);
        let stats = self.planner.take().and_then(|t| t.join().ok()).unwrap_or_default();
        if let Some(rx) = parked {
            let t0 = Instant::now();
            let deadline = t0 + Duration::from_millis(1500);
            let mut last = None;
            while let Some(left) = deadline.checked_duration_since(Instant::now()) {
                match rx.recv_timeout(left) {
                    Ok(t) => {
                        last = Some(t.mode);
                        if t.mode == Mode::Parked {
                            break;
                        }
                    }
                    Err(_) => break,
                }
            }
            tracing::debug!(?last, waited_ms = t0.elapsed().as_millis() as u64, "head park at session end");
        }
        stop_head_bus(&mut self.head_bus);
        if let Some(h) = &self.head {
            h.shutdown();
        }
        if let Some(t) = self.head_thread.take() {
            let _ = t.join();
        }
        stop_sim(&mut self.sim);
        stats
    }
}

/// Voice-loop events → planner events, on the voice loop's thread (never blocks).
pub struct LoopMapper {
    /// To the planner thread.
    tx: SyncSender<PlanMsg>,
    /// Reply sentences, for playback starts.
    book: Arc<Mutex<SentenceBook>>,
    /// A barge-in was just reported; its speech start is the same event.
    after_barge: bool,
}

impl LoopMapper {
    /// A reply was fully played (its turn record is out): back to idle.
    pub fn turn_done(&self) {
        if let Err(TrySendError::Full(_)) = self.tx.try_send(PlanMsg::Event(Event::AgentFinished)) {
            tracing::warn!("behaviour planner queue full; event dropped");
        }
    }

    /// Maps and forwards one loop event.
    pub fn on_loop_event(&mut self, e: &LoopEvent) {
        let ev = match e {
            LoopEvent::SpeechStart { .. } if self.after_barge => {
                self.after_barge = false;
                return;
            }
            LoopEvent::SpeechStart { .. } => Event::ParticipantStarted { barge_in: false },
            LoopEvent::Pause { .. } => Event::ParticipantPaused,
            LoopEvent::EndOfTurn { .. } => Event::ParticipantStopped,
            LoopEvent::BargeIn { .. } => {
                self.after_barge = true;
                Event::ParticipantStarted { barge_in: true }
            }
            LoopEvent::Empty { .. } => Event::AgentFinished,
            LoopEvent::PlaybackStart { id, seq, part, duration_ms, envelope, .. } => {
                let (text, strategy) = self
                    .book
                    .lock()
                    .ok()
                    .and_then(|b| b.by_utt.get(id).and_then(|v| v.get(*seq as usize).cloned()))
                    .unwrap_or_default();
                Event::AgentSentence {
                    text,
                    strategy,
                    duration_ms: (*duration_ms).min(u32::MAX as u64) as u32,
                    envelope: envelope.clone(),
                    continued: *part > 0,
                }
            }
            // Backchannels over the robot's speech, playback ends (the turn
            // record says when a reply is done) and warnings do not move the head.
            _ => return,
        };
        if let Err(TrySendError::Full(_)) = self.tx.try_send(PlanMsg::Event(ev)) {
            tracing::warn!("behaviour planner queue full; event dropped");
        }
    }
}

/// The behaviour trace file.
struct TraceSink {
    /// Its path, for the warning.
    path: PathBuf,
    /// The writer; `None` after a write failed.
    out: Option<std::io::BufWriter<std::fs::File>>,
}

impl TraceSink {
    fn line(&mut self, l: &TraceLine) {
        let Some(w) = self.out.as_mut() else { return };
        let r = serde_json::to_writer(&mut *w, l).map_err(std::io::Error::other).and_then(|_| w.write_all(b"\n"));
        if let Err(e) = r {
            tracing::warn!("behaviour trace {}: {e}; tracing stopped, the session goes on", self.path.display());
            self.out = None;
        }
    }
    fn flush(&mut self) {
        if let Some(w) = self.out.as_mut() {
            if let Err(e) = w.flush() {
                tracing::warn!("behaviour trace {}: {e}; tracing stopped, the session goes on", self.path.display());
                self.out = None;
            }
        }
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// The planner thread: session clock, 50 Hz grid, trace, head.
fn plan_loop(
    rx: Receiver<PlanMsg>,
    planner: Planner,
    seed: u64,
    settings: Settings,
    head: Option<HeadHandle>,
    mut trace: Option<TraceSink>,
) -> TickStats {
    let start = Instant::now();
    let elapsed_ms = || start.elapsed().as_millis() as u64;
    let mut d = Driver::new(planner, 0);
    let mut stats = TickStats::default();
    let mut late_ms: Vec<f64> = Vec::new();
    let first = Event::SessionStarted { seed, settings };
    let emit = |cmds: Vec<(u64, HeadCommand)>, trace: &mut Option<TraceSink>, stats: &mut TickStats, late: &mut Vec<f64>| {
        let n = cmds.len();
        for (i, (t, c)) in cmds.into_iter().enumerate() {
            stats.commands += 1;
            if let Some(tr) = trace.as_mut() {
                tr.line(&TraceLine::Command { t_ms: t, command: c });
            }
            // Design: after a late wake the driver runs the missed ticks (so
            // the plan replays exactly) but only the newest target goes to
            // the head: the head never gets poses faster than 50 Hz.
            if i + 1 < n && c.command == CommandKind::SetPose {
                stats.superseded += 1;
                continue;
            }
            late.push(start.elapsed().as_secs_f64() * 1000.0 - t as f64);
            if let Some(h) = &head {
                match c.command {
                    CommandKind::Park => h.park(),
                    CommandKind::SetPose => {
                        let _ = h.set_pose(PoseTarget::full(c.pose()), c.duration_ms.min(u16::MAX as u32) as u16);
                    }
                }
            }
        }
    };
    if let Some(tr) = trace.as_mut() {
        tr.line(&TraceLine::Event { t_ms: 0, event: first.clone() });
    }
    let cmds = d.event(&first, 0);
    emit(cmds, &mut trace, &mut stats, &mut late_ms);
    loop {
        let now = elapsed_ms();
        let wait = d.next_tick_ms().saturating_sub(now);
        let msg = rx.recv_timeout(Duration::from_millis(wait));
        let now = elapsed_ms();
        match msg {
            Ok(PlanMsg::Event(ev)) => {
                let cmds = d.event(&ev, now);
                emit(cmds, &mut trace, &mut stats, &mut late_ms);
                if let Some(tr) = trace.as_mut() {
                    tr.line(&TraceLine::Event { t_ms: now, event: ev });
                }
            }
            Ok(PlanMsg::End) | Err(RecvTimeoutError::Disconnected) => {
                let cmds = d.event(&Event::SessionEnded, now);
                emit(cmds, &mut trace, &mut stats, &mut late_ms);
                if let Some(tr) = trace.as_mut() {
                    tr.line(&TraceLine::Event { t_ms: now, event: Event::SessionEnded });
                }
                let next = d.next_tick_ms();
                let cmds = d.advance_to(next);
                emit(cmds, &mut trace, &mut stats, &mut late_ms);
                break;
            }
            Err(RecvTimeoutError::Timeout) => {
                let before = d.next_tick_ms();
                let cmds = d.advance_to(now);
                stats.ticks += (d.next_tick_ms() - before) / TICK_MS;
                emit(cmds, &mut trace, &mut stats, &mut late_ms);
                if let Some(tr) = trace.as_mut() {
                    tr.flush();
                }
            }
        }
    }
    if let Some(tr) = trace.as_mut() {
        tr.flush();
    }
    late_ms.sort_by(|a, b| a.total_cmp(b));
    stats.late_p50_ms = percentile(&late_ms, 0.5);
    stats.late_p99_ms = percentile(&late_ms, 0.99);
    stats.late_max_ms = late_ms.last().copied().unwrap_or(0.0);
    stats
}

/// A head whose disconnects are logged once, not at 50 Hz.
///
/// Design: while a serial head is away, every pose fails with
/// `Disconnected`; the runner would log each one. This wrapper logs the loss
/// and the return, and lets the backend's own reconnect logic retry. The
/// head itself parks by its watchdog after 500 ms without frames.
struct QuietHead {
    /// The backend.
    inner: Box<dyn Head>,
    /// When the head went away.
    down_since: Option<Instant>,
}

impl QuietHead {
    fn new(inner: Box<dyn Head>) -> Self {
        QuietHead { inner, down_since: None }
    }
    fn up(&mut self) {
        if let Some(t) = self.down_since.take() {
            tracing::warn!("head {} back after {} ms", self.inner.name(), t.elapsed().as_millis());
        }
    }
}

impl Head for QuietHead {
    fn name(&self) -> &'static str {
        self.inner.name()
    }
    fn command(&mut self, cmd: HostMsg) -> Result<(), HeadError> {
        match self.inner.command(cmd) {
            Ok(()) => {
                self.up();
                Ok(())
            }
            Err(HeadError::Disconnected) => Ok(()),
            Err(e @ HeadError::Link(_)) => {
                if self.down_since.is_none() {
                    self.down_since = Some(Instant::now());
                    tracing::warn!("head {} disconnected: {e}; the conversation goes on, reconnecting", self.inner.name());
                }
                Ok(())
            }
            Err(e) => Err(e),
        }
    }
    fn tick(&mut self, now: Instant) -> Result<Vec<Telemetry>, HeadError> {
        match self.inner.tick(now) {
            Ok(t) => {
                if !t.is_empty() {
                    self.up();
                }
                Ok(t)
            }
            Err(e) => {
                if self.down_since.is_none() {
                    self.down_since = Some(Instant::now());
                    tracing::warn!("head {} disconnected: {e}; the conversation goes on, reconnecting", self.inner.name());
                }
                Ok(Vec::new())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_head_fault_is_reported_once_when_its_bit_is_raised_and_again_only_after_it_cleared() {
        assert!(new_faults(0, 0).is_empty());
        let w = new_faults(0, Faults::WATCHDOG);
        assert_eq!(w.len(), 1);
        assert!(w[0].contains("watchdog"));
        // Still set: not again. Clamped targets and bad frames are not raised.
        assert!(new_faults(Faults::WATCHDOG, Faults::WATCHDOG | Faults::CLAMPED | Faults::BAD_FRAME).is_empty());
        // E-stop added while the watchdog bit stays.
        assert_eq!(new_faults(Faults::WATCHDOG, Faults::WATCHDOG | Faults::ESTOP), vec!["e-stop latched"]);
        // Cleared, then raised again: reported again.
        assert!(new_faults(Faults::WATCHDOG, 0).is_empty());
        assert_eq!(new_faults(0, Faults::WATCHDOG).len(), 1);
    }
}
