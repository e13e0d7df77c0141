//! The planner: conversation events in, head targets out, one tick at a time.

use crate::config::{Profile, Settings};
use crate::event::{Behavior, CommandKind, Event, HeadCommand, Risk, ENVELOPE_FRAME_MS};
use crate::rng::Rng;
use attune_firmware::motion::brake_cap;
use attune_firmware::{HeadParams, JointParams};
use attune_protocol::JOINT_COUNT;
use core::f32::consts::PI;

/// Planner tick: the firmware's own control period (50 Hz).
pub const TICK_MS: u64 = attune_firmware::TICK_MS as u64;

const YAW: usize = 0;
const PITCH: usize = 1;
const ROLL: usize = 2;
const LEAN: usize = 3;

/// Fraction of the firmware's velocity and acceleration limits the planner
/// plans within. Design: the firmware enforces the limits anyway; planning a
/// little inside them means the head follows the plan instead of being
/// clipped by its limiter, so what the trace says is what the head did.
pub const LIMIT_FRACTION: f32 = 0.8;
/// Distance kept from each joint's mechanical limits.
pub const LIMIT_MARGIN_DEG: f32 = 0.5;
/// A gaze transient this large (any joint) is a look-away, not a shift.
const MAJOR_DEG: f32 = 2.5;
/// A change smaller than this on every joint is not sent.
const DEADBAND_DEG: f32 = 0.01;
/// Thinking with no reply for this long: back to idle attending.
const THINKING_TIMEOUT_MS: u64 = 15_000;

/// Sizes and rates of a profile.
#[derive(Debug, Clone, Copy)]
struct Style {
    /// Backchannel nod depth.
    nod_deg: f32,
    /// Chance that a qualifying pause gets a nod.
    nod_chance: f32,
    /// Shortest gap between backchannel nods.
    nod_gap_ms: (u64, u64),
    /// Turn-taking aversion, yaw.
    aversion_deg: f32,
    /// Small gaze shifts while listening/speaking.
    shift_deg: f32,
    /// Breathing sway, pitch.
    sway_pitch_deg: f32,
    /// Breathing sway, lean.
    sway_lean_deg: f32,
    /// Idle gaze drift.
    drift_deg: f32,
    /// Lean-in on a named feeling.
    lean_in_deg: f32,
    /// Pitch excursion at full speech loudness.
    speak_pitch_deg: f32,
    /// Emphasis nod depth.
    speak_nod_deg: f32,
    /// Chance of a short aversion at a sentence start.
    speak_aversion_chance: f32,
}

impl Style {
    fn of(p: Profile) -> Style {
        let full = Style {
            nod_deg: 5.0,
            nod_chance: 0.8,
            nod_gap_ms: (1500, 4000),
            aversion_deg: 9.0,
            shift_deg: 2.0,
            sway_pitch_deg: 0.8,
            sway_lean_deg: 0.5,
            drift_deg: 5.0,
            lean_in_deg: 4.0,
            speak_pitch_deg: 2.5,
            speak_nod_deg: 2.5,
            speak_aversion_chance: 0.4,
        };
        match p {
            Profile::Expressive | Profile::Still => full,
            Profile::Subtle => Style {
                nod_deg: 2.5,
                nod_chance: 0.5,
                nod_gap_ms: (3000, 6000),
                aversion_deg: 5.0,
                shift_deg: 1.0,
                sway_pitch_deg: 0.5,
                sway_lean_deg: 0.3,
                drift_deg: 2.5,
                lean_in_deg: 2.0,
                speak_pitch_deg: 1.2,
                speak_nod_deg: 1.5,
                speak_aversion_chance: 0.25,
            },
        }
    }
}

/// What the conversation is doing, as the head sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Nobody speaks.
    Idle,
    /// The participant speaks.
    Listening,
    /// Their turn ended; the robot has not spoken yet.
    Thinking,
    /// The robot speaks.
    Speaking,
    /// Session over: parked, no more commands.
    Parked,
}

/// Time profile of a transient offset.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Shape {
    /// Out and back, sin²: a nod.
    Bump,
    /// Ease out, hold, ease back: an aversion, a tilt, a shift.
    Hold,
}

/// A motion added on top of the base pose for a while.
#[derive(Debug, Clone, Copy)]
struct Transient {
    /// What it is (the trace label while it runs).
    behavior: Behavior,
    /// When it starts (may be in the future: scheduled).
    start_ms: u64,
    /// How long it lasts.
    dur_ms: u64,
    /// Offset per joint at full strength.
    offset: [f32; JOINT_COUNT],
    /// Time profile.
    shape: Shape,
}

fn smoothstep(x: f32) -> f32 {
    let x = x.clamp(0.0, 1.0);
    x * x * (3.0 - 2.0 * x)
}

impl Transient {
    fn weight(&self, now_ms: u64) -> f32 {
        if now_ms < self.start_ms || self.dur_ms == 0 {
            return 0.0;
        }
        let s = (now_ms - self.start_ms) as f32 / self.dur_ms as f32;
        if s >= 1.0 {
            return 0.0;
        }
        match self.shape {
            Shape::Bump => {
                let v = (PI * s).sin();
                v * v
            }
            Shape::Hold => {
                const RAMP: f32 = 0.25;
                if s < RAMP {
                    // Ease-out on the way there: the motion is visible from
                    // the first tick (the limiter caps the acceleration).
                    let x = s / RAMP;
                    1.0 - (1.0 - x) * (1.0 - x)
                } else if s > 1.0 - RAMP {
                    smoothstep((1.0 - s) / RAMP)
                } else {
                    1.0
                }
            }
        }
    }
    fn active(&self, now_ms: u64) -> bool {
        now_ms >= self.start_ms && now_ms < self.start_ms + self.dur_ms
    }
    fn ended(&self, now_ms: u64) -> bool {
        now_ms >= self.start_ms + self.dur_ms
    }
}

/// The robot's speech being played.
#[derive(Debug, Clone)]
struct Speech {
    /// When the sentence started.
    start_ms: u64,
    /// Its length.
    dur_ms: u64,
    /// Loudness per [`ENVELOPE_FRAME_MS`].
    envelope: Vec<f32>,
}

/// The behaviour planner. Pure: no clock, no I/O; feed it events with their
/// session time and call [`Planner::tick`] every [`TICK_MS`].
#[derive(Debug, Clone)]
pub struct Planner {
    /// Joint limits: the firmware's table.
    params: HeadParams,
    /// Profile and switches.
    settings: Settings,
    /// Sizes of the profile.
    style: Style,
    /// Seeded randomness.
    rng: Rng,
    /// Conversation state.
    mode: Mode,
    /// When `mode` was entered.
    mode_since_ms: u64,
    /// Risk high/imminent or crisis state active.
    calm_risk: bool,
    /// The latest turn stated a self-critical or distorted belief.
    calm_critical: bool,
    /// Planned position per joint (what was last commanded, or the start).
    pos_deg: [f32; JOINT_COUNT],
    /// Planned velocity per joint.
    vel_deg_s: [f32; JOINT_COUNT],
    /// Time of the last tick that ran.
    last_tick_ms: Option<u64>,
    /// Pose last sent.
    last_sent: Option<[f32; JOINT_COUNT]>,
    /// Running and scheduled motions.
    transients: Vec<Transient>,
    /// Next small gaze shift (listening, thinking, speaking).
    next_shift_ms: u64,
    /// Next idle gaze drift.
    next_drift_ms: u64,
    /// Next thinking aversion while the reply takes long.
    next_think_ms: u64,
    /// Earliest time of the next backchannel nod.
    nod_ok_after_ms: u64,
    /// Last time speech gave an emphasis nod.
    last_speak_nod_ms: u64,
    /// Lean the posture is easing to.
    lean_goal_deg: f32,
    /// Current eased lean.
    lean_deg: f32,
    /// A lean-in on a named feeling holds until then.
    lean_in_until_ms: u64,
    /// Breathing phase (radians).
    sway_phase: f32,
    /// Breathing period of the current cycle.
    sway_period_s: f32,
    /// Sentence being spoken.
    speech: Option<Speech>,
    /// Smoothed speech loudness.
    level: f32,
    /// Park was requested; the next tick sends it.
    park_pending: bool,
}

impl Planner {
    /// A planner for a head with `params`, starting at the park pose.
    pub fn new(params: HeadParams, settings: Settings, seed: u64) -> Planner {
        let mut rng = Rng::new(seed);
        let sway_period_s = rng.range(3.8, 5.2);
        Planner {
            params,
            settings,
            style: Style::of(settings.profile),
            rng,
            mode: Mode::Idle,
            mode_since_ms: 0,
            calm_risk: false,
            calm_critical: false,
            pos_deg: params.park_pose().to_array(),
            vel_deg_s: [0.0; JOINT_COUNT],
            last_tick_ms: None,
            last_sent: None,
            transients: Vec::new(),
            next_shift_ms: 0,
            next_drift_ms: 0,
            next_think_ms: u64::MAX,
            nod_ok_after_ms: 0,
            last_speak_nod_ms: 0,
            lean_goal_deg: 0.0,
            lean_deg: 0.0,
            lean_in_until_ms: 0,
            sway_phase: 0.0,
            sway_period_s,
            speech: None,
            level: 0.0,
            park_pending: false,
        }
    }

    /// Current mode.
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// Whether the crisis stillness is on (risk, crisis state or a self-critical statement).
    pub fn calm(&self) -> bool {
        self.calm_risk || self.calm_critical
    }

    /// The joint table the planner keeps within.
    pub fn params(&self) -> &HeadParams {
        &self.params
    }

    fn set_mode(&mut self, m: Mode, now_ms: u64) {
        if self.mode != m {
            self.mode = m;
            self.mode_since_ms = now_ms;
        }
    }

    fn drop_where(&mut self, f: impl Fn(&Transient) -> bool) {
        self.transients.retain(|t| !f(t));
    }

    fn sign(&mut self) -> f32 {
        if self.rng.unit() < 0.5 {
            -1.0
        } else {
            1.0
        }
    }

    /// Takes one conversation event at `now_ms`.
    pub fn on_event(&mut self, ev: &Event, now_ms: u64) {
        if self.mode == Mode::Parked {
            return;
        }
        let sw = self.settings.switches;
        let st = self.style;
        match ev {
            Event::SessionStarted { .. } => {
                self.set_mode(Mode::Idle, now_ms);
                self.next_drift_ms = now_ms + self.rng.range_ms(2500, 5000);
            }
            Event::ParticipantStarted { barge_in } => {
                if *barge_in || self.mode == Mode::Speaking {
                    // Barge-in: stop moving as if speaking, listen at once.
                    self.speech = None;
                    self.level = 0.0;
                }
                self.drop_where(|t| t.behavior != Behavior::BackchannelNod);
                self.set_mode(Mode::Listening, now_ms);
                self.next_shift_ms = now_ms + self.rng.range_ms(1500, 4000);
            }
            Event::ParticipantPaused => {
                if self.mode != Mode::Listening || !sw.backchannel_nod || self.calm() || now_ms < self.nod_ok_after_ms {
                    return;
                }
                if self.rng.unit() >= st.nod_chance {
                    return;
                }
                // Design: a listener's nod begins within a few hundred ms of
                // the pause (issue 8: ≤ 300 ms); size, speed and the gap to the
                // next one are drawn each time so it never becomes a metronome.
                let start = now_ms + self.rng.range_ms(40, 160);
                let depth = st.nod_deg * self.rng.range(0.7, 1.2);
                let dur = self.rng.range_ms(380, 560);
                self.push(Behavior::BackchannelNod, start, dur, [0.0, -depth, 0.0, 0.0], Shape::Bump);
                if self.rng.unit() < 0.25 {
                    // Sometimes a double nod, the second smaller.
                    self.push(Behavior::BackchannelNod, start + dur, dur * 4 / 5, [0.0, -depth * 0.6, 0.0, 0.0], Shape::Bump);
                }
                self.nod_ok_after_ms = now_ms + self.rng.range_ms(st.nod_gap_ms.0, st.nod_gap_ms.1);
            }
            Event::ParticipantStopped => {
                self.set_mode(Mode::Thinking, now_ms);
                self.drop_where(|t| t.behavior == Behavior::BackchannelNod || t.behavior == Behavior::Gaze);
                if sw.turn_ack {
                    let start = now_ms + self.rng.range_ms(0, 40);
                    if self.calm() {
                        // Calm: no look-away from a disclosure; a slow, small
                        // settling towards the participant instead.
                        self.push(Behavior::TurnAck, start, 1400, [0.0, -1.5, 0.0, 1.5], Shape::Hold);
                    } else {
                        // People look away while they start to think
                        // (Argyle & Cook 1976; Kendon 1967).
                        let side = self.sign();
                        let yaw = side * st.aversion_deg * self.rng.range(0.8, 1.2);
                        let pitch = st.aversion_deg * 0.35 * self.rng.range(0.6, 1.0);
                        let dur = self.rng.range_ms(800, 1200);
                        self.push(Behavior::TurnAck, start, dur, [yaw, pitch, 0.0, 0.0], Shape::Hold);
                    }
                }
                self.next_think_ms = now_ms + self.rng.range_ms(2500, 3500);
            }
            Event::AgentThinking { feelings, self_critical } => {
                self.calm_critical = *self_critical;
                if self.calm() {
                    self.drop_nods();
                }
                if !feelings.is_empty() && sw.lean {
                    self.lean_in_until_ms = now_ms + 8000;
                }
            }
            Event::RiskChanged { risk, crisis_active } => {
                self.calm_risk = *risk >= Risk::High || *crisis_active;
                if self.calm() {
                    self.drop_nods();
                }
            }
            Event::AgentSentence { duration_ms, envelope, continued: true, .. } => {
                // The rest of a sentence already begun: the head follows the
                // new audio's loudness and nods at its phrase boundaries;
                // no tilt or glance, which belong to a sentence's start.
                self.set_mode(Mode::Speaking, now_ms);
                let dur = (*duration_ms as u64).max(1);
                self.speech = Some(Speech { start_ms: now_ms, dur_ms: dur, envelope: envelope.clone() });
                if sw.speak_nod && !self.calm() {
                    self.speak_nods(now_ms, &phrase_boundaries_ms(envelope, dur, ""));
                }
            }
            Event::AgentSentence { text, strategy, duration_ms, envelope, continued: false } => {
                let first = self.mode != Mode::Speaking;
                self.set_mode(Mode::Speaking, now_ms);
                self.drop_where(|t| t.behavior == Behavior::TurnAck || t.behavior == Behavior::SpeakNod);
                let dur = (*duration_ms as u64).max(1);
                self.speech = Some(Speech { start_ms: now_ms, dur_ms: dur, envelope: envelope.clone() });
                let question = text.trim_end().ends_with('?') || strategy == "Questions";
                let calm = self.calm();
                if sw.gaze && question {
                    // A slight head tilt on a question.
                    let roll = self.sign() * 3.0 * if calm { 0.5 } else { 1.0 };
                    self.push(Behavior::Gaze, now_ms, dur.min(2500), [0.0, 0.0, roll, 0.0], Shape::Hold);
                } else if sw.gaze && !calm && !first && self.rng.unit() < st.speak_aversion_chance {
                    // Speakers glance away at some sentence starts and back.
                    let yaw = self.sign() * st.aversion_deg * 0.6 * self.rng.range(0.7, 1.1);
                    let d = self.rng.range_ms(400, 700);
                    self.push(Behavior::Gaze, now_ms, d, [yaw, 1.0, 0.0, 0.0], Shape::Hold);
                }
                if sw.speak_nod && !calm {
                    self.speak_nods(now_ms, &phrase_boundaries_ms(envelope, dur, text));
                }
            }
            Event::AgentFinished => {
                self.speech = None;
                self.drop_where(|t| t.behavior == Behavior::SpeakNod);
                self.set_mode(Mode::Idle, now_ms);
                self.next_drift_ms = now_ms + self.rng.range_ms(2500, 5000);
            }
            Event::SessionEnded => {
                self.park_pending = true;
                self.transients.clear();
            }
        }
    }

    fn drop_nods(&mut self) {
        self.drop_where(|t| matches!(t.behavior, Behavior::BackchannelNod | Behavior::SpeakNod));
    }

    fn push(&mut self, behavior: Behavior, start_ms: u64, dur_ms: u64, offset: [f32; JOINT_COUNT], shape: Shape) {
        self.transients.push(Transient { behavior, start_ms, dur_ms, offset, shape });
    }

    /// Runs one 50 Hz tick at `now_ms`; returns the command to send, if any.
    /// Calls sooner than [`TICK_MS`] after the last one do nothing, so
    /// commands never go out faster than 50 Hz.
    pub fn tick(&mut self, now_ms: u64) -> Option<HeadCommand> {
        if self.mode == Mode::Parked {
            return None;
        }
        if matches!(self.last_tick_ms, Some(last) if now_ms < last + TICK_MS) {
            return None;
        }
        if self.park_pending {
            self.mode = Mode::Parked;
            let park = self.params.park_pose().to_array();
            let mut dur_s = self.params.park_ms as f32 / 1000.0;
            for (i, p) in self.params.joints.iter().enumerate() {
                dur_s = dur_s.max(attune_firmware::params::min_duration_s(park[i] - self.pos_deg[i], p));
            }
            self.pos_deg = park;
            self.vel_deg_s = [0.0; JOINT_COUNT];
            self.last_tick_ms = Some(now_ms);
            return Some(command(CommandKind::Park, Behavior::Park, park, (dur_s * 1000.0).ceil() as u32));
        }
        // Design: every tick is one fixed 20 ms step of the limiter, even
        // when a tick comes late. The stopping-distance bound holds only for
        // a constant step (as in the firmware); a late tick just delays the
        // motion, which lowers its speed as seen on the wall clock.
        let dt_s = TICK_MS as f32 / 1000.0;
        self.last_tick_ms = Some(now_ms);
        self.schedule(now_ms);
        let desired = self.desired(now_ms, dt_s);
        for i in 0..JOINT_COUNT {
            let (p, v) = follow(self.pos_deg[i], self.vel_deg_s[i], desired[i], &self.params.joints[i], dt_s);
            self.pos_deg[i] = p;
            self.vel_deg_s[i] = v;
        }
        let label = self.label(now_ms);
        self.transients.retain(|t| !t.ended(now_ms));
        let moved = match self.last_sent {
            None => true,
            Some(s) => (0..JOINT_COUNT).any(|i| (s[i] - self.pos_deg[i]).abs() >= DEADBAND_DEG),
        };
        if !moved {
            return None;
        }
        self.last_sent = Some(self.pos_deg);
        Some(command(CommandKind::SetPose, label, self.pos_deg, TICK_MS as u32))
    }

    /// Time-driven behaviour: gaze shifts, drifts, thinking cues, timeouts.
    fn schedule(&mut self, now_ms: u64) {
        let sw = self.settings.switches;
        let st = self.style;
        if self.mode == Mode::Thinking && now_ms >= self.mode_since_ms + THINKING_TIMEOUT_MS {
            self.set_mode(Mode::Idle, now_ms);
            self.next_drift_ms = now_ms + self.rng.range_ms(2500, 5000);
        }
        let gaze_busy = self.transients.iter().any(|t| matches!(t.behavior, Behavior::Gaze | Behavior::TurnAck | Behavior::Idle) && !t.ended(now_ms));
        match self.mode {
            Mode::Listening | Mode::Speaking if sw.gaze && !gaze_busy && now_ms >= self.next_shift_ms => {
                // Small shifts within mutual gaze (eyes move between the
                // other's eyes and mouth; the head follows a little).
                let k = if self.calm() { 0.4 } else { 1.0 };
                let yaw = self.rng.range(-1.0, 1.0) * st.shift_deg * k;
                let pitch = self.rng.range(-0.6, 0.6) * st.shift_deg * k;
                let d = self.rng.range_ms(900, 2000);
                self.push(Behavior::Gaze, now_ms, d, [yaw, pitch, 0.0, 0.0], Shape::Hold);
                self.next_shift_ms = now_ms + d + self.rng.range_ms(1500, 4000);
            }
            Mode::Thinking if sw.turn_ack && !self.calm() && !gaze_busy && now_ms >= self.next_think_ms => {
                // A long wait for the reply: another brief look away, so the
                // head visibly keeps thinking instead of freezing.
                let yaw = self.sign() * st.aversion_deg * 0.6 * self.rng.range(0.7, 1.1);
                let d = self.rng.range_ms(700, 1000);
                self.push(Behavior::Gaze, now_ms, d, [yaw, 2.0, 0.0, 0.0], Shape::Hold);
                self.next_think_ms = now_ms + d + self.rng.range_ms(2500, 4000);
            }
            Mode::Idle if sw.idle && !gaze_busy && now_ms >= self.next_drift_ms => {
                let k = if self.calm() { 0.3 } else { 1.0 };
                let yaw = self.rng.range(-1.0, 1.0) * st.drift_deg * k;
                let pitch = self.rng.range(-0.5, 0.3) * st.drift_deg * k;
                let d = self.rng.range_ms(1500, 3500);
                self.push(Behavior::Idle, now_ms, d, [yaw, pitch, 0.0, 0.0], Shape::Hold);
                self.next_drift_ms = now_ms + d + self.rng.range_ms(3000, 8000);
            }
            _ => {}
        }
    }

    /// The pose the behaviours ask for now, before the limits.
    fn desired(&mut self, now_ms: u64, dt_s: f32) -> [f32; JOINT_COUNT] {
        let sw = self.settings.switches;
        let st = self.style;
        let calm = self.calm();
        let mut d = [self.settings.participant_yaw_deg, self.settings.participant_pitch_deg, 0.0, 0.0];
        if sw.idle {
            // Breathing: one slow sine, its period redrawn each cycle.
            self.sway_phase += 2.0 * PI * dt_s / self.sway_period_s;
            if self.sway_phase >= 2.0 * PI {
                self.sway_phase -= 2.0 * PI;
                self.sway_period_s = self.rng.range(3.8, 5.2);
            }
            let k = if calm { 0.6 } else { 1.0 };
            d[PITCH] += st.sway_pitch_deg * k * self.sway_phase.sin();
            d[LEAN] += st.sway_lean_deg * k * self.sway_phase.sin();
        }
        // Posture: attentive lean while thinking or calm, more on a feeling.
        let mut goal = 0.0;
        if sw.lean {
            if matches!(self.mode, Mode::Thinking) || calm {
                goal = st.lean_in_deg * 0.4;
            }
            if now_ms < self.lean_in_until_ms {
                goal = st.lean_in_deg;
            }
        }
        self.lean_goal_deg = goal;
        let a = (dt_s / 0.6).min(1.0);
        self.lean_deg += (goal - self.lean_deg) * a;
        d[LEAN] += self.lean_deg;
        // Speech: the head rises a little with loudness.
        if let (true, Some(sp)) = (sw.speak_motion, &self.speech) {
            let el = now_ms.saturating_sub(sp.start_ms);
            let raw = if el >= sp.dur_ms {
                0.0
            } else if sp.envelope.is_empty() {
                0.5
            } else {
                let i = (el / ENVELOPE_FRAME_MS as u64) as usize;
                sp.envelope.get(i).copied().unwrap_or(0.0).clamp(0.0, 1.0)
            };
            let a = (dt_s / 0.12).min(1.0);
            self.level += (raw - self.level) * a;
            let k = if calm { 0.3 } else { 1.0 };
            d[PITCH] += st.speak_pitch_deg * k * (self.level - 0.3);
            d[ROLL] += st.speak_pitch_deg * 0.2 * k * self.level;
        } else {
            let a = (dt_s / 0.12).min(1.0);
            self.level -= self.level * a;
        }
        for t in &self.transients {
            let w = t.weight(now_ms);
            for i in 0..JOINT_COUNT {
                d[i] += t.offset[i] * w;
            }
        }
        for (i, p) in self.params.joints.iter().enumerate() {
            d[i] = d[i].clamp(p.min_deg + LIMIT_MARGIN_DEG, p.max_deg - LIMIT_MARGIN_DEG);
        }
        d
    }

    /// Emphasis nods at `boundaries` (ms after `now_ms`), at most one per 900 ms.
    fn speak_nods(&mut self, now_ms: u64, boundaries: &[u64]) {
        for &at in boundaries {
            let t = now_ms + at;
            if t < self.last_speak_nod_ms + 900 {
                continue;
            }
            self.last_speak_nod_ms = t;
            let depth = self.style.speak_nod_deg * self.rng.range(0.7, 1.1);
            self.push(Behavior::SpeakNod, t.saturating_sub(80), 320, [0.0, -depth, 0.0, 0.0], Shape::Bump);
        }
    }

    /// What the command of this tick is labelled with: the most salient
    /// behaviour running. Small gaze shifts rank below speech motion; a
    /// look-away or a question tilt ranks above it.
    fn label(&self, now_ms: u64) -> Behavior {
        let running = |b: Behavior, major: bool| {
            self.transients.iter().any(|t| {
                t.behavior == b && t.active(now_ms) && (!major || t.offset.iter().any(|o| o.abs() >= MAJOR_DEG))
            })
        };
        for b in [Behavior::TurnAck, Behavior::BackchannelNod, Behavior::SpeakNod] {
            if running(b, false) {
                return b;
            }
        }
        if running(Behavior::Gaze, true) {
            return Behavior::Gaze;
        }
        if self.mode == Mode::Speaking && self.settings.switches.speak_motion && self.speech.is_some() {
            return Behavior::SpeakMotion;
        }
        if (self.lean_deg - self.lean_goal_deg).abs() > 0.05 {
            return Behavior::Lean;
        }
        if running(Behavior::Gaze, false) {
            return Behavior::Gaze;
        }
        if running(Behavior::Idle, false) || self.settings.switches.idle {
            Behavior::Idle
        } else {
            Behavior::Gaze
        }
    }
}

fn command(kind: CommandKind, behavior: Behavior, p: [f32; JOINT_COUNT], duration_ms: u32) -> HeadCommand {
    HeadCommand {
        command: kind,
        behavior,
        yaw_deg: p[YAW],
        pitch_deg: p[PITCH],
        roll_deg: p[ROLL],
        lean_deg: p[LEAN],
        duration_ms,
    }
}

/// One joint one tick towards `desired`, within [`LIMIT_FRACTION`] of the
/// firmware's speed and acceleration limits and inside its travel.
///
/// Design: the same order as the firmware's limiter (`motion::Axis::step`):
/// velocity towards the goal capped by the stopping distance (the firmware's
/// own [`brake_cap`]), then acceleration, speed and position clamps.
pub fn follow(pos: f32, vel: f32, desired: f32, p: &JointParams, dt_s: f32) -> (f32, f32) {
    let a = p.max_acc_deg_s2 * LIMIT_FRACTION;
    let vmax = p.max_vel_deg_s * LIMIT_FRACTION;
    let lo = p.min_deg + LIMIT_MARGIN_DEG;
    let hi = p.max_deg - LIMIT_MARGIN_DEG;
    let desired = if desired.is_finite() { desired.clamp(lo, hi) } else { pos };
    let cap = |d: f32| brake_cap(d, a, dt_s);
    let mut v = (desired - pos) / dt_s;
    let c = cap((desired - pos).abs());
    v = v.clamp(-c, c);
    v = v.clamp(-cap(pos - lo), cap(hi - pos));
    let dv = a * dt_s;
    v = v.clamp(vel - dv, vel + dv);
    v = v.clamp(-vmax, vmax);
    let mut next = pos + v * dt_s;
    if next < lo || next > hi {
        next = next.clamp(lo, hi);
        v = (next - pos) / dt_s;
    }
    (next, v)
}

/// Where a sentence's phrases end, in ms from its start: the loudness falls
/// into a pause after voiced speech (or, without an envelope, the commas).
fn phrase_boundaries_ms(envelope: &[f32], dur_ms: u64, text: &str) -> Vec<u64> {
    let mut out = Vec::new();
    if envelope.len() >= 4 {
        let peak = envelope.iter().cloned().fold(0.0f32, f32::max);
        if peak <= 0.0 {
            return out;
        }
        let quiet = 0.2 * peak;
        let mut voiced_run = 0;
        for (i, &e) in envelope.iter().enumerate() {
            if e >= quiet {
                voiced_run += 1;
            } else {
                let at = i as u64 * ENVELOPE_FRAME_MS as u64;
                if voiced_run >= 4 && at >= 400 && at + 300 < dur_ms {
                    out.push(at);
                }
                voiced_run = 0;
            }
        }
        return out;
    }
    let n = text.chars().count().max(1) as u64;
    for (i, c) in text.chars().enumerate() {
        if matches!(c, ',' | ';' | ':') {
            out.push(dur_ms * i as u64 / n);
        }
    }
    out
}
