//! Message types of the head link. Angles are degrees (`*_deg`), durations
//! milliseconds (`*_ms`), pulse widths microseconds (`*_us`).

use serde::{Deserialize, Serialize};

/// Number of joints on the head.
pub const JOINT_COUNT: usize = 4;

/// One joint of the head.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Joint {
    /// Pan, left/right; positive looks to the head's left.
    Yaw,
    /// Nod, up/down; positive looks up.
    Pitch,
    /// Tilt, ear to shoulder; positive tilts to the head's left.
    Roll,
    /// Body posture, leaning towards (positive) or away from the person.
    Lean,
}

impl Joint {
    /// All joints in wire/array order.
    pub const ALL: [Joint; JOINT_COUNT] = [Joint::Yaw, Joint::Pitch, Joint::Roll, Joint::Lean];

    /// Index into per-joint arrays.
    pub const fn index(self) -> usize {
        self as usize
    }

    /// Lower-case name, as used on the CLI and in telemetry.
    pub const fn name(self) -> &'static str {
        match self {
            Joint::Yaw => "yaw",
            Joint::Pitch => "pitch",
            Joint::Roll => "roll",
            Joint::Lean => "lean",
        }
    }
}

/// A full pose, every joint in degrees.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct Pose {
    /// Yaw angle.
    pub yaw_deg: f32,
    /// Pitch angle.
    pub pitch_deg: f32,
    /// Roll angle.
    pub roll_deg: f32,
    /// Lean angle.
    pub lean_deg: f32,
}

impl Pose {
    /// Joint angles in [`Joint::ALL`] order.
    pub const fn to_array(self) -> [f32; JOINT_COUNT] {
        [self.yaw_deg, self.pitch_deg, self.roll_deg, self.lean_deg]
    }

    /// Pose from angles in [`Joint::ALL`] order.
    pub const fn from_array(a: [f32; JOINT_COUNT]) -> Self {
        Pose { yaw_deg: a[0], pitch_deg: a[1], roll_deg: a[2], lean_deg: a[3] }
    }
}

/// A pose target: joints left `None` keep their current target.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct PoseTarget {
    /// Yaw target, if it changes.
    pub yaw_deg: Option<f32>,
    /// Pitch target, if it changes.
    pub pitch_deg: Option<f32>,
    /// Roll target, if it changes.
    pub roll_deg: Option<f32>,
    /// Lean target, if it changes.
    pub lean_deg: Option<f32>,
}

impl PoseTarget {
    /// Targets in [`Joint::ALL`] order.
    pub const fn to_array(self) -> [Option<f32>; JOINT_COUNT] {
        [self.yaw_deg, self.pitch_deg, self.roll_deg, self.lean_deg]
    }

    /// Target from [`Joint::ALL`]-ordered options.
    pub const fn from_array(a: [Option<f32>; JOINT_COUNT]) -> Self {
        PoseTarget { yaw_deg: a[0], pitch_deg: a[1], roll_deg: a[2], lean_deg: a[3] }
    }

    /// A target that sets every joint.
    pub const fn full(p: Pose) -> Self {
        PoseTarget {
            yaw_deg: Some(p.yaw_deg),
            pitch_deg: Some(p.pitch_deg),
            roll_deg: Some(p.roll_deg),
            lean_deg: Some(p.lean_deg),
        }
    }
}

/// Gesture primitives the firmware plays from its own keyframes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum GestureKind {
    /// Pitch down and back: agreement, "I hear you".
    Nod,
    /// Yaw left-right-left: "no".
    Shake,
    /// Roll to one side and back: curiosity, attention.
    Tilt,
}

impl GestureKind {
    /// Lower-case name, as used on the CLI.
    pub const fn name(self) -> &'static str {
        match self {
            GestureKind::Nod => "nod",
            GestureKind::Shake => "shake",
            GestureKind::Tilt => "tilt",
        }
    }
}

/// Host → head commands.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum HostMsg {
    /// Handshake: the host's protocol version. Answered by [`HeadMsg::Hello`].
    Hello {
        /// Host protocol version.
        protocol: u8,
    },
    /// Keeps the watchdog fed; acknowledged.
    Heartbeat,
    /// Move to `target`, taking at least `duration_ms` (longer if the
    /// velocity/acceleration limits require it).
    SetPose {
        /// Joint targets.
        target: PoseTarget,
        /// Requested move duration.
        duration_ms: u16,
    },
    /// Play a gesture around the current pose.
    Gesture {
        /// Which gesture.
        kind: GestureKind,
    },
    /// Ease to the park pose.
    Park,
    /// Hold the current position (cancel motion and gestures).
    Stop,
    /// Emergency stop: drive no pulses (servos go limp) until [`HostMsg::Resume`].
    EStop,
    /// Clear an e-stop; the head holds its last commanded pose.
    Resume,
    /// Stream telemetry every `every_ticks` 50 Hz ticks (0 = off).
    Subscribe {
        /// Decimation of the 50 Hz loop.
        every_ticks: u8,
    },
}

/// A host command with its sequence number, echoed in the ack.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct HostFrame {
    /// Sequence number chosen by the host.
    pub seq: u16,
    /// The command.
    pub msg: HostMsg,
}

/// Why a command was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum CommandError {
    /// The host speaks another protocol version.
    ProtocolMismatch {
        /// The head's version.
        head: u8,
    },
    /// A target was not finite (NaN or infinite); nothing moved.
    NotFinite,
    /// The head is e-stopped; send `Resume` first.
    EStopped,
}

impl core::fmt::Display for CommandError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            CommandError::ProtocolMismatch { head } => write!(f, "the head speaks protocol {head}"),
            CommandError::NotFinite => f.write_str("a target angle was not finite (NaN or infinite); nothing moved"),
            CommandError::EStopped => f.write_str("the head is e-stopped; send resume first"),
        }
    }
}

/// Bitmask of joints, bit `i` = `Joint::ALL[i]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct JointMask(pub u8);

impl JointMask {
    /// Whether `j` is in the mask.
    pub const fn contains(self, j: Joint) -> bool {
        self.0 & (1 << j as u8) != 0
    }
    /// Adds `j`.
    pub fn insert(&mut self, j: Joint) {
        self.0 |= 1 << j as u8;
    }
    /// Whether no joint is set.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }
}

/// What the head is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Mode {
    /// Holding a pose (at target).
    Holding,
    /// Moving towards a commanded pose.
    Moving,
    /// Playing a gesture.
    Gesture,
    /// Easing to park (commanded or by the watchdog).
    Parking,
    /// At the park pose.
    Parked,
    /// E-stopped: no pulses.
    EStop,
}

impl Mode {
    /// Lower-case name for telemetry.
    pub const fn name(self) -> &'static str {
        match self {
            Mode::Holding => "holding",
            Mode::Moving => "moving",
            Mode::Gesture => "gesture",
            Mode::Parking => "parking",
            Mode::Parked => "parked",
            Mode::EStop => "estop",
        }
    }
}

/// Fault bits reported in telemetry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Faults(pub u16);

impl Faults {
    /// The watchdog parked the head (cleared by the next valid frame).
    pub const WATCHDOG: u16 = 1 << 0;
    /// The last command asked for a target outside a joint's limits.
    pub const CLAMPED: u16 = 1 << 1;
    /// E-stop latched.
    pub const ESTOP: u16 = 1 << 2;
    /// A bad frame arrived since the last telemetry.
    pub const BAD_FRAME: u16 = 1 << 3;
    /// A reply could not be sent.
    pub const TX: u16 = 1 << 4;
    /// Whether `bit` is set.
    pub const fn has(self, bit: u16) -> bool {
        self.0 & bit != 0
    }
}

/// Link and safety counters since boot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Counters {
    /// Valid frames received.
    pub frames_ok: u32,
    /// Frames with broken COBS stuffing.
    pub cobs_errors: u32,
    /// Frames whose CRC did not match.
    pub crc_errors: u32,
    /// Frames with a foreign protocol version byte.
    pub version_errors: u32,
    /// Frames that failed to deserialize (or were too short).
    pub decode_errors: u32,
    /// Frames longer than the receive buffer.
    pub overflows: u32,
    /// Joint targets clamped to limits.
    pub clamped: u32,
    /// Commands refused (NaN, e-stop, version).
    pub rejected: u32,
    /// Watchdog trips.
    pub watchdog_trips: u32,
    /// Replies that failed to send.
    pub tx_errors: u32,
}

/// One telemetry sample from the 50 Hz loop.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Telemetry {
    /// Head clock.
    pub t_ms: u32,
    /// Commanded joint angles this tick (what the PWM encodes).
    pub angles: Pose,
    /// Current move targets.
    pub targets: Pose,
    /// Pulse widths driven this tick (0 = no pulse).
    pub pulse_us: [u16; JOINT_COUNT],
    /// What the head is doing.
    pub mode: Mode,
    /// Fault bits.
    pub faults: Faults,
    /// Time since the last valid frame (saturating).
    pub heartbeat_age_ms: u32,
    /// Link and safety counters.
    pub counters: Counters,
}

/// Firmware identification, fixed size so it needs no allocator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct FirmwareId {
    /// UTF-8 bytes, `len` of them valid.
    pub bytes: [u8; 24],
    /// Valid length.
    pub len: u8,
}

impl FirmwareId {
    /// Builds an id, truncating at 24 bytes on a char boundary.
    pub fn new(s: &str) -> Self {
        let mut bytes = [0u8; 24];
        let mut len = 0usize;
        for (i, c) in s.char_indices() {
            let end = i + c.len_utf8();
            if end > bytes.len() {
                break;
            }
            len = end;
        }
        bytes[..len].copy_from_slice(&s.as_bytes()[..len]);
        FirmwareId { bytes, len: len as u8 }
    }

    /// The id as text (empty if the bytes are not UTF-8).
    pub fn as_str(&self) -> &str {
        let n = (self.len as usize).min(self.bytes.len());
        core::str::from_utf8(&self.bytes[..n]).unwrap_or("")
    }
}

/// Head → host messages.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum HeadMsg {
    /// Handshake reply.
    Hello {
        /// Echo of the host's sequence number.
        seq: u16,
        /// The head's protocol version.
        protocol: u8,
        /// Firmware name and version.
        firmware: FirmwareId,
    },
    /// Command accepted.
    Ack {
        /// The command's sequence number.
        seq: u16,
        /// Joints whose targets were clamped to their limits.
        clamped: JointMask,
    },
    /// Command refused; nothing changed.
    Nack {
        /// The command's sequence number.
        seq: u16,
        /// Why.
        error: CommandError,
    },
    /// A telemetry sample.
    Telemetry(Telemetry),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn firmware_id_truncates_on_a_char_boundary() {
        let id = FirmwareId::new("attune-head-sim 0.1.0 ééééé");
        assert!(id.as_str().len() <= 24);
        assert!(id.as_str().starts_with("attune-head-sim 0.1.0"));
    }

    #[test]
    fn joint_mask_tracks_joints() {
        let mut m = JointMask::default();
        assert!(m.is_empty());
        m.insert(Joint::Roll);
        assert!(m.contains(Joint::Roll));
        assert!(!m.contains(Joint::Yaw));
    }
}
