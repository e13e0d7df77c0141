//! What goes into the planner and what comes out, and their trace lines.

use crate::config::Settings;
use attune_protocol::Pose;
use serde::{Deserialize, Serialize};

/// The crisis layer's risk grade as the planner sees it (the controller maps
/// the dialogue engine's grade onto this; the planner only needs the order).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Risk {
    /// No risk cue.
    None,
    /// Passive ideation, hopelessness.
    Low,
    /// Explicit ideation.
    High,
    /// Plan, means, intent.
    Imminent,
}

/// One planner input. Serialised as a trace line's `"event"` and its fields.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// The session began; records what the planner runs with so a trace replays.
    SessionStarted {
        /// Seed of the planner's randomness.
        seed: u64,
        /// Profile, switches, participant direction.
        #[serde(flatten)]
        settings: Settings,
    },
    /// The participant started speaking (`barge_in`: over the robot, who stopped).
    ParticipantStarted {
        /// They talked over the robot and it stopped speaking.
        #[serde(default)]
        barge_in: bool,
    },
    /// A pause inside the participant's turn (a backchannel opportunity).
    ParticipantPaused,
    /// The participant's turn ended (the end of turn was decided).
    ParticipantStopped,
    /// The engine read the turn and is working on the reply.
    AgentThinking {
        /// Feelings the participant named.
        #[serde(default)]
        feelings: Vec<String>,
        /// The participant stated a self-critical or distorted belief.
        #[serde(default)]
        self_critical: bool,
    },
    /// One robot sentence starts playing.
    AgentSentence {
        /// The sentence.
        text: String,
        /// Its ESConv strategy label.
        #[serde(default)]
        strategy: String,
        /// Its audio length.
        duration_ms: u32,
        /// Loudness per [`ENVELOPE_FRAME_MS`], 0..1 (peak-normalised RMS).
        #[serde(default)]
        envelope: Vec<f32>,
        /// The rest of the sentence before, whose first clause played as its
        /// own audio (the voice synthesised it first to speak sooner): the
        /// head goes on moving with the voice and starts nothing new.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        continued: bool,
    },
    /// The robot finished its reply (or had nothing to say).
    AgentFinished,
    /// The crisis state changed.
    RiskChanged {
        /// Risk of the latest turn.
        risk: Risk,
        /// The session is in crisis state.
        #[serde(default)]
        crisis_active: bool,
    },
    /// The session ended: park.
    SessionEnded,
}

/// Frame of [`Event::AgentSentence`]'s loudness envelope.
pub const ENVELOPE_FRAME_MS: u32 = 50;

/// What produced a head command (the trace's `"behavior"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Behavior {
    /// A listener's nod on a pause.
    BackchannelNod,
    /// The thinking cue at the end of the participant's turn.
    TurnAck,
    /// Mutual gaze and its shifts, aversions, question tilts.
    Gaze,
    /// An emphasis nod at a phrase boundary of the robot's speech.
    SpeakNod,
    /// Motion following the robot's speech loudness.
    SpeakMotion,
    /// Leaning in.
    Lean,
    /// Breathing sway and gaze drift.
    Idle,
    /// The rest pose at the end.
    Park,
}

impl Behavior {
    /// Every label, in plot order.
    pub const ALL: [Behavior; 8] = [
        Behavior::BackchannelNod,
        Behavior::TurnAck,
        Behavior::Gaze,
        Behavior::SpeakNod,
        Behavior::SpeakMotion,
        Behavior::Lean,
        Behavior::Idle,
        Behavior::Park,
    ];

    /// Trace name.
    pub fn name(self) -> &'static str {
        match self {
            Behavior::BackchannelNod => "backchannel_nod",
            Behavior::TurnAck => "turn_ack",
            Behavior::Gaze => "gaze",
            Behavior::SpeakNod => "speak_nod",
            Behavior::SpeakMotion => "speak_motion",
            Behavior::Lean => "lean",
            Behavior::Idle => "idle",
            Behavior::Park => "park",
        }
    }
}

/// How the command reaches the head.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CommandKind {
    /// `HeadHandle::set_pose(target, duration_ms)`.
    SetPose,
    /// `HeadHandle::park()` (the target is the park pose).
    Park,
}

/// One head command. Serialised as a trace line's `"command"` and its fields.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct HeadCommand {
    /// How it is sent.
    pub command: CommandKind,
    /// What produced it.
    pub behavior: Behavior,
    /// Yaw target.
    #[serde(rename = "yaw")]
    pub yaw_deg: f32,
    /// Pitch target.
    #[serde(rename = "pitch")]
    pub pitch_deg: f32,
    /// Roll target.
    #[serde(rename = "roll")]
    pub roll_deg: f32,
    /// Lean target.
    #[serde(rename = "lean")]
    pub lean_deg: f32,
    /// Move duration handed to the head.
    pub duration_ms: u32,
}

impl HeadCommand {
    /// The target as a pose.
    pub fn pose(&self) -> Pose {
        Pose::from_array([self.yaw_deg, self.pitch_deg, self.roll_deg, self.lean_deg])
    }
}

/// One JSONL line of a behaviour trace.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum TraceLine {
    /// A planner input.
    Event {
        /// Session time.
        t_ms: u64,
        /// The event.
        #[serde(flatten)]
        event: Event,
    },
    /// A head command.
    Command {
        /// Session time.
        t_ms: u64,
        /// The command.
        #[serde(flatten)]
        command: HeadCommand,
    },
}

impl TraceLine {
    /// Session time of the line.
    pub fn t_ms(&self) -> u64 {
        match self {
            TraceLine::Event { t_ms, .. } | TraceLine::Command { t_ms, .. } => *t_ms,
        }
    }
}
