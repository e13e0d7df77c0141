//! The head state machine: commands in, pulse widths out. Pure: time is passed
//! in, nothing here touches a device.

use crate::motion::Axis;
use crate::params::HeadParams;
use crate::TICK_MS;
use attune_protocol::{
    CommandError, Counters, Faults, FirmwareId, FrameError, GestureKind, HeadMsg, HostFrame, HostMsg, Joint,
    JointMask, Mode, Pose, PoseTarget, Telemetry, JOINT_COUNT, PROTOCOL_VERSION,
};

/// One keyframe of a gesture: offsets from the pose the gesture started at.
#[derive(Debug, Clone, Copy)]
struct Key {
    /// Offsets per joint (None = back to base).
    offset_deg: [f32; JOINT_COUNT],
    /// Requested segment duration.
    ms: u32,
}

const fn key(yaw: f32, pitch: f32, roll: f32, ms: u32) -> Key {
    Key { offset_deg: [yaw, pitch, roll, 0.0], ms }
}

// Design: amplitudes are small and durations near 250 ms so that a gesture
// reads as conversational backchannel, not as a big motion.
const NOD: [Key; 3] = [key(0.0, -12.0, 0.0, 260), key(0.0, 3.0, 0.0, 220), key(0.0, 0.0, 0.0, 240)];
const SHAKE: [Key; 4] = [
    key(14.0, 0.0, 0.0, 240),
    key(-14.0, 0.0, 0.0, 320),
    key(8.0, 0.0, 0.0, 260),
    key(0.0, 0.0, 0.0, 220),
];
const TILT: [Key; 3] = [key(0.0, 0.0, 12.0, 400), key(0.0, 0.0, 12.0, 500), key(0.0, 0.0, 0.0, 400)];

fn keys(kind: GestureKind) -> &'static [Key] {
    match kind {
        GestureKind::Nod => &NOD,
        GestureKind::Shake => &SHAKE,
        GestureKind::Tilt => &TILT,
    }
}

/// A gesture in progress.
#[derive(Debug, Clone, Copy)]
struct GestureRun {
    /// Which gesture.
    kind: GestureKind,
    /// Pose it started from (offsets are relative to it).
    base: [f32; JOINT_COUNT],
    /// Index of the current keyframe.
    idx: usize,
    /// When the current keyframe's segment ends.
    seg_end_ms: u32,
}

/// The head logic. Feed it frames with [`HeadCore::on_frame`] and call
/// [`HeadCore::step`] every [`TICK_MS`].
#[derive(Debug, Clone)]
pub struct HeadCore {
    /// Limits and calibration.
    params: HeadParams,
    /// Motion state per joint.
    axes: [Axis; JOINT_COUNT],
    /// Firmware identification for the handshake.
    firmware: FirmwareId,
    /// What the head is doing.
    mode: Mode,
    /// Gesture being played, if any.
    gesture: Option<GestureRun>,
    /// Last valid frame (None: none since boot; the head rests parked).
    last_rx_ms: Option<u32>,
    /// The watchdog has parked the head since the last valid frame.
    watchdog_tripped: bool,
    /// Counters reported in telemetry.
    counters: Counters,
    /// Sticky fault bits since the last telemetry sample.
    faults: u16,
    /// The last command clamped a target (sticky until the next command).
    clamped_last: bool,
    /// Telemetry decimation (0 = off).
    telemetry_every: u8,
    /// Ticks since boot, for decimation.
    ticks: u32,
    /// Time of the last step.
    last_step_ms: u32,
}

impl HeadCore {
    /// A head at rest in the park pose. `params` must have passed
    /// [`HeadParams::validate`].
    pub fn new(params: HeadParams, firmware: &str, now_ms: u32) -> Self {
        let park = params.park_pose().to_array();
        let axes = [0, 1, 2, 3].map(|i| Axis::at_rest(park[i], &params.joints[i], now_ms));
        HeadCore {
            params,
            axes,
            firmware: FirmwareId::new(firmware),
            mode: Mode::Parked,
            gesture: None,
            last_rx_ms: None,
            watchdog_tripped: false,
            counters: Counters::default(),
            faults: 0,
            clamped_last: false,
            telemetry_every: 0,
            ticks: 0,
            last_step_ms: now_ms,
        }
    }

    /// The parameters in force.
    pub fn params(&self) -> &HeadParams {
        &self.params
    }

    /// Current mode.
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// Commanded pose this tick.
    pub fn pose(&self) -> Pose {
        Pose::from_array(self.axes.map(|a| a.pos_deg))
    }

    /// Commanded velocities this tick (deg/s).
    pub fn velocities_deg_s(&self) -> [f32; JOINT_COUNT] {
        self.axes.map(|a| a.vel_deg_s)
    }

    /// Current goals.
    pub fn targets(&self) -> Pose {
        Pose::from_array(self.axes.map(|a| a.goal_deg))
    }

    /// Counters so far.
    pub fn counters(&self) -> Counters {
        self.counters
    }

    /// Counts a frame the decoder dropped.
    pub fn on_bad_frame(&mut self, e: FrameError) {
        let c = &mut self.counters;
        let slot = match e {
            FrameError::Cobs => &mut c.cobs_errors,
            FrameError::Crc => &mut c.crc_errors,
            FrameError::Version(_) => &mut c.version_errors,
            FrameError::Overflow => &mut c.overflows,
            FrameError::TooShort | FrameError::Decode | FrameError::TooLarge => &mut c.decode_errors,
        };
        *slot = slot.saturating_add(1);
        self.faults |= Faults::BAD_FRAME;
    }

    /// Counts a reply that could not be sent.
    pub fn on_tx_error(&mut self) {
        self.counters.tx_errors = self.counters.tx_errors.saturating_add(1);
        self.faults |= Faults::TX;
    }

    fn reject(&mut self, seq: u16, error: CommandError) -> HeadMsg {
        self.counters.rejected = self.counters.rejected.saturating_add(1);
        HeadMsg::Nack { seq, error }
    }

    /// Handles one valid frame; returns the reply to send.
    pub fn on_frame(&mut self, f: HostFrame, now_ms: u32) -> HeadMsg {
        // Any valid frame feeds the watchdog, even one that is refused: the
        // host is alive.
        self.last_rx_ms = Some(now_ms);
        self.watchdog_tripped = false;
        self.counters.frames_ok = self.counters.frames_ok.saturating_add(1);
        let seq = f.seq;
        let ack = HeadMsg::Ack { seq, clamped: JointMask::default() };
        match f.msg {
            HostMsg::Hello { protocol } => {
                if protocol != PROTOCOL_VERSION {
                    return self.reject(seq, CommandError::ProtocolMismatch { head: PROTOCOL_VERSION });
                }
                HeadMsg::Hello { seq, protocol: PROTOCOL_VERSION, firmware: self.firmware }
            }
            HostMsg::Heartbeat => ack,
            HostMsg::Subscribe { every_ticks } => {
                self.telemetry_every = every_ticks;
                ack
            }
            HostMsg::EStop => {
                self.mode = Mode::EStop;
                self.gesture = None;
                for a in &mut self.axes {
                    a.vel_deg_s = 0.0;
                    a.hold(now_ms);
                }
                ack
            }
            HostMsg::Resume => {
                if self.mode == Mode::EStop {
                    self.mode = Mode::Holding;
                }
                ack
            }
            _ if self.mode == Mode::EStop => self.reject(seq, CommandError::EStopped),
            HostMsg::Stop => {
                self.gesture = None;
                for a in &mut self.axes {
                    a.hold(now_ms);
                }
                self.mode = Mode::Holding;
                ack
            }
            HostMsg::Park => {
                self.start_park(now_ms);
                ack
            }
            HostMsg::SetPose { target, duration_ms } => self.set_pose(seq, target, duration_ms as u32, now_ms),
            HostMsg::Gesture { kind } => {
                let base = self.axes.map(|a| a.goal_deg);
                let mut g = GestureRun { kind, base, idx: 0, seg_end_ms: now_ms };
                self.start_key(&mut g, now_ms);
                self.gesture = Some(g);
                self.mode = Mode::Gesture;
                ack
            }
        }
    }

    fn set_pose(&mut self, seq: u16, target: PoseTarget, duration_ms: u32, now_ms: u32) -> HeadMsg {
        let t = target.to_array();
        if t.iter().flatten().any(|x| !x.is_finite()) {
            return self.reject(seq, CommandError::NotFinite);
        }
        let mut clamped = JointMask::default();
        self.gesture = None;
        for j in Joint::ALL {
            let i = j.index();
            let Some(goal) = t[i] else { continue };
            let p = &self.params.joints[i];
            if goal < p.min_deg || goal > p.max_deg {
                clamped.insert(j);
                self.counters.clamped = self.counters.clamped.saturating_add(1);
            }
            self.axes[i].retarget(goal, duration_ms, p, now_ms);
        }
        self.clamped_last = !clamped.is_empty();
        if self.clamped_last {
            self.faults |= Faults::CLAMPED;
        }
        self.mode = Mode::Moving;
        HeadMsg::Ack { seq, clamped }
    }

    fn start_park(&mut self, now_ms: u32) {
        self.gesture = None;
        let park = self.params.park_pose().to_array();
        for (i, a) in self.axes.iter_mut().enumerate() {
            a.retarget(park[i], self.params.park_ms, &self.params.joints[i], now_ms);
        }
        self.mode = Mode::Parking;
    }

    fn start_key(&mut self, g: &mut GestureRun, now_ms: u32) {
        let k = keys(g.kind)[g.idx];
        let mut longest = 0;
        for i in 0..JOINT_COUNT {
            let d = self.axes[i].retarget(g.base[i] + k.offset_deg[i], k.ms, &self.params.joints[i], now_ms);
            longest = longest.max(d);
        }
        g.seg_end_ms = now_ms.wrapping_add(longest);
    }

    /// Advances the head to `now_ms`; returns the pulse width per joint
    /// (0 = no pulse, in e-stop).
    pub fn step(&mut self, now_ms: u32) -> [u16; JOINT_COUNT] {
        let dt_ms = now_ms.wrapping_sub(self.last_step_ms);
        self.last_step_ms = now_ms;
        // Design: a late tick (stall, long ISR) is integrated as at most two
        // ticks, so the limiter never takes one huge step.
        let dt_s = (dt_ms.min(2 * TICK_MS)) as f32 / 1000.0;
        self.ticks = self.ticks.wrapping_add(1);

        if self.mode == Mode::EStop {
            return [0; JOINT_COUNT];
        }
        if let Some(last) = self.last_rx_ms {
            if !self.watchdog_tripped && now_ms.wrapping_sub(last) > self.params.watchdog_ms {
                self.watchdog_tripped = true;
                self.counters.watchdog_trips = self.counters.watchdog_trips.saturating_add(1);
                self.faults |= Faults::WATCHDOG;
                self.start_park(now_ms);
            }
        }
        if let Some(mut g) = self.gesture {
            if now_ms.wrapping_sub(g.seg_end_ms) < u32::MAX / 2 {
                g.idx += 1;
                if g.idx < keys(g.kind).len() {
                    self.start_key(&mut g, now_ms);
                    self.gesture = Some(g);
                } else {
                    self.gesture = None;
                    self.mode = Mode::Moving;
                }
            }
        }
        for (i, a) in self.axes.iter_mut().enumerate() {
            a.step(now_ms, dt_s, &self.params.joints[i]);
        }
        if matches!(self.mode, Mode::Moving | Mode::Parking) && self.axes.iter().all(|a| a.settled(now_ms)) {
            self.mode = if self.mode == Mode::Parking { Mode::Parked } else { Mode::Holding };
        }
        let mut out = [0u16; JOINT_COUNT];
        for i in 0..JOINT_COUNT {
            out[i] = self.params.joints[i].cal.pulse_us(self.axes[i].pos_deg);
        }
        out
    }

    /// Whether a telemetry sample is due after this tick.
    pub fn telemetry_due(&self) -> bool {
        self.telemetry_every != 0 && self.ticks % self.telemetry_every as u32 == 0
    }

    /// A telemetry sample; clears the sticky fault bits it reports.
    pub fn take_telemetry(&mut self, now_ms: u32, pulse_us: [u16; JOINT_COUNT]) -> Telemetry {
        let t = self.telemetry(now_ms, pulse_us);
        self.faults = 0;
        t
    }

    /// A telemetry sample that leaves the sticky fault bits alone (for a
    /// second observer, e.g. the simulator's file next to the link stream).
    pub fn telemetry(&self, now_ms: u32, pulse_us: [u16; JOINT_COUNT]) -> Telemetry {
        let mut faults = self.faults;
        if self.watchdog_tripped {
            faults |= Faults::WATCHDOG;
        }
        if self.mode == Mode::EStop {
            faults |= Faults::ESTOP;
        }
        if self.clamped_last {
            faults |= Faults::CLAMPED;
        }
        Telemetry {
            t_ms: now_ms,
            angles: self.pose(),
            targets: self.targets(),
            pulse_us,
            mode: self.mode,
            faults: Faults(faults),
            heartbeat_age_ms: match self.last_rx_ms {
                Some(t) => now_ms.wrapping_sub(t),
                None => u32::MAX,
            },
            counters: self.counters,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use attune_protocol::PoseTarget;
    use proptest::prelude::*;

    fn frame(seq: u16, msg: HostMsg) -> HostFrame {
        HostFrame { seq, msg }
    }

    fn run(core: &mut HeadCore, from: u32, to: u32) -> u32 {
        let mut t = from;
        while t < to {
            t += TICK_MS;
            core.step(t);
        }
        t
    }

    #[test]
    fn the_watchdog_parks_within_a_second_after_500_ms_of_silence() {
        let p = HeadParams::DEFAULT;
        let mut c = HeadCore::new(p, "test", 0);
        let far = Pose { yaw_deg: 70.0, pitch_deg: 30.0, roll_deg: -25.0, lean_deg: 20.0 };
        let r = c.on_frame(frame(1, HostMsg::SetPose { target: PoseTarget::full(far), duration_ms: 0 }), 0);
        assert!(matches!(r, HeadMsg::Ack { seq: 1, .. }));
        // Keep the watchdog fed until the head has arrived.
        let mut t = 0;
        while t < 3000 {
            t += TICK_MS;
            if t % 100 == 0 {
                c.on_frame(frame(2, HostMsg::Heartbeat), t);
            }
            c.step(t);
        }
        assert_eq!(c.pose(), far);
        let last_rx = 3000;
        // Silence from here: not parked before the watchdog, parked by +1 s after it.
        let t = run(&mut c, t, last_rx + 500);
        assert_eq!(c.mode(), Mode::Holding);
        let t = run(&mut c, t, last_rx + 520);
        assert_eq!(c.mode(), Mode::Parking);
        run(&mut c, t, last_rx + 500 + 1000);
        assert_eq!(c.mode(), Mode::Parked);
        assert_eq!(c.pose(), p.park_pose());
        assert_eq!(c.counters().watchdog_trips, 1);
    }

    #[test]
    fn nan_targets_are_refused_and_nothing_moves() {
        let mut c = HeadCore::new(HeadParams::DEFAULT, "test", 0);
        let before = c.targets();
        let t = PoseTarget { yaw_deg: Some(f32::NAN), ..PoseTarget::default() };
        let r = c.on_frame(frame(5, HostMsg::SetPose { target: t, duration_ms: 100 }), 0);
        assert_eq!(r, HeadMsg::Nack { seq: 5, error: CommandError::NotFinite });
        assert_eq!(c.targets(), before);
        assert_eq!(c.counters().rejected, 1);
    }

    #[test]
    fn an_out_of_range_target_is_clamped_and_reported() {
        let mut c = HeadCore::new(HeadParams::DEFAULT, "test", 0);
        let t = PoseTarget { pitch_deg: Some(89.0), ..PoseTarget::default() };
        let r = c.on_frame(frame(6, HostMsg::SetPose { target: t, duration_ms: 100 }), 0);
        let HeadMsg::Ack { clamped, .. } = r else { panic!("expected ack, got {r:?}") };
        assert!(clamped.contains(Joint::Pitch));
        assert_eq!(c.targets().pitch_deg, 30.0);
        let tel = c.take_telemetry(0, [0; 4]);
        assert!(tel.faults.has(Faults::CLAMPED));
        assert_eq!(tel.counters.clamped, 1);
    }

    #[test]
    fn estop_drives_no_pulses_and_refuses_moves_until_resume() {
        let mut c = HeadCore::new(HeadParams::DEFAULT, "test", 0);
        c.on_frame(frame(1, HostMsg::EStop), 0);
        assert_eq!(c.step(20), [0; 4]);
        let r = c.on_frame(frame(2, HostMsg::Park), 20);
        assert_eq!(r, HeadMsg::Nack { seq: 2, error: CommandError::EStopped });
        c.on_frame(frame(3, HostMsg::Resume), 40);
        assert_ne!(c.step(60), [0; 4]);
    }

    #[test]
    fn a_hello_with_another_protocol_version_is_refused() {
        let mut c = HeadCore::new(HeadParams::DEFAULT, "test", 0);
        let r = c.on_frame(frame(1, HostMsg::Hello { protocol: PROTOCOL_VERSION + 1 }), 0);
        assert_eq!(r, HeadMsg::Nack { seq: 1, error: CommandError::ProtocolMismatch { head: PROTOCOL_VERSION } });
    }

    #[test]
    fn a_nod_moves_pitch_down_and_returns_to_where_it_started() {
        let mut c = HeadCore::new(HeadParams::DEFAULT, "test", 0);
        let start = c.pose();
        c.on_frame(frame(1, HostMsg::Gesture { kind: GestureKind::Nod }), 0);
        let mut min_pitch = f32::MAX;
        let mut t = 0;
        while t < 2000 {
            t += TICK_MS;
            if t % 100 == 0 {
                c.on_frame(frame(2, HostMsg::Heartbeat), t);
            }
            c.step(t);
            min_pitch = min_pitch.min(c.pose().pitch_deg);
        }
        assert!(min_pitch < start.pitch_deg - 8.0, "nod too shallow: {min_pitch}");
        assert_eq!(c.pose(), start);
        assert_eq!(c.mode(), Mode::Holding);
    }

    fn arb_cmd() -> impl Strategy<Value = HostMsg> {
        let ang = prop_oneof![-200.0f32..200.0, Just(f32::NAN), Just(f32::INFINITY)];
        let tgt = proptest::array::uniform4(proptest::option::of(ang)).prop_map(PoseTarget::from_array);
        prop_oneof![
            4 => (tgt, 0u16..2000).prop_map(|(target, duration_ms)| HostMsg::SetPose { target, duration_ms }),
            1 => Just(HostMsg::Park),
            1 => Just(HostMsg::Stop),
            1 => prop_oneof![Just(GestureKind::Nod), Just(GestureKind::Shake), Just(GestureKind::Tilt)]
                .prop_map(|kind| HostMsg::Gesture { kind }),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        #[test]
        fn any_command_flood_stays_within_position_speed_and_acceleration_limits(
            cmds in proptest::collection::vec((arb_cmd(), 0u32..60), 1..60)
        ) {
            let p = HeadParams::DEFAULT;
            let mut c = HeadCore::new(p, "test", 0);
            let mut t = 0u32;
            let mut prev_v = c.velocities_deg_s();
            let mut prev_pos = c.pose().to_array();
            for (i, (cmd, gap_ms)) in cmds.into_iter().enumerate() {
                // Commands arrive between ticks, often faster than 50 Hz.
                c.on_frame(HostFrame { seq: i as u16, msg: cmd }, t + gap_ms / 3);
                for _ in 0..(gap_ms / TICK_MS + 1) {
                    t += TICK_MS;
                    c.step(t);
                    let pos = c.pose().to_array();
                    let v = c.velocities_deg_s();
                    for j in 0..4 {
                        let jp = &p.joints[j];
                        prop_assert!(pos[j] >= jp.min_deg && pos[j] <= jp.max_deg, "joint {} at {}", j, pos[j]);
                        let speed = (pos[j] - prev_pos[j]).abs() / 0.02;
                        prop_assert!(speed <= jp.max_vel_deg_s * 1.001 + 1.0, "joint {} speed {}", j, speed);
                        let acc = (v[j] - prev_v[j]).abs() / 0.02;
                        prop_assert!(acc <= jp.max_acc_deg_s2 * 1.001 + 0.5, "joint {} acc {}", j, acc);
                    }
                    prev_pos = pos;
                    prev_v = v;
                }
            }
        }
    }
}
