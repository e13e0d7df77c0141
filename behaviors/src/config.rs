//! `[behaviors]`: a profile and one switch per behaviour.

use serde::{Deserialize, Serialize};

/// `[behaviors]` section of the attune config.
///
/// Design: a switch left unset takes the profile's value, so
/// `profile = "expressive"` plus `backchannel_nod = false` is "the expressive
/// robot without nods" — the arm a study compares.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct BehaviorsConfig {
    /// `expressive` | `subtle` | `still`.
    pub profile: String,
    /// Seed of the planner's randomness; unset = drawn per session (and
    /// recorded in the trace and the session record).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    /// Where the participant sits relative to the head's zero, yaw.
    pub participant_yaw_deg: f32,
    /// Where the participant's face is relative to the head's zero, pitch.
    pub participant_pitch_deg: f32,
    /// Mutual gaze with small shifts (off: the head looks straight at the participant).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gaze: Option<bool>,
    /// Backchannel nods on the participant's pauses.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backchannel_nod: Option<bool>,
    /// Gaze aversion / thinking cue at the end of the participant's turn.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub turn_ack: Option<bool>,
    /// Small emphasis nods at phrase boundaries while the robot speaks.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub speak_nod: Option<bool>,
    /// Motion following the loudness of the robot's speech.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub speak_motion: Option<bool>,
    /// Lean-in when the participant names a feeling.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lean: Option<bool>,
    /// Breathing sway and gaze drift between turns.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub idle: Option<bool>,
}

impl Default for BehaviorsConfig {
    fn default() -> Self {
        BehaviorsConfig {
            profile: "expressive".into(),
            seed: None,
            participant_yaw_deg: 0.0,
            participant_pitch_deg: 0.0,
            gaze: None,
            backchannel_nod: None,
            turn_ack: None,
            speak_nod: None,
            speak_motion: None,
            lean: None,
            idle: None,
        }
    }
}

/// A profile: how large and how frequent the motions are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Profile {
    /// Full-size, frequent motions.
    Expressive,
    /// Half-size, rarer motions.
    Subtle,
    /// Nothing but looking at the participant and parking (a control arm).
    Still,
}

impl Profile {
    /// Profile names as written in config.
    pub const NAMES: [&'static str; 3] = ["expressive", "subtle", "still"];

    /// Parses a config name.
    pub fn from_name(s: &str) -> Option<Profile> {
        match s {
            "expressive" => Some(Profile::Expressive),
            "subtle" => Some(Profile::Subtle),
            "still" => Some(Profile::Still),
            _ => None,
        }
    }

    /// Config name.
    pub fn name(self) -> &'static str {
        match self {
            Profile::Expressive => "expressive",
            Profile::Subtle => "subtle",
            Profile::Still => "still",
        }
    }
}

/// Which behaviours run (resolved from profile + switches).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Switches {
    /// See [`BehaviorsConfig::gaze`].
    pub gaze: bool,
    /// See [`BehaviorsConfig::backchannel_nod`].
    pub backchannel_nod: bool,
    /// See [`BehaviorsConfig::turn_ack`].
    pub turn_ack: bool,
    /// See [`BehaviorsConfig::speak_nod`].
    pub speak_nod: bool,
    /// See [`BehaviorsConfig::speak_motion`].
    pub speak_motion: bool,
    /// See [`BehaviorsConfig::lean`].
    pub lean: bool,
    /// See [`BehaviorsConfig::idle`].
    pub idle: bool,
}

impl Switches {
    /// Every behaviour on or off.
    pub const fn all(on: bool) -> Switches {
        Switches { gaze: on, backchannel_nod: on, turn_ack: on, speak_nod: on, speak_motion: on, lean: on, idle: on }
    }
}

/// A `[behaviors]` section that cannot run; the message names the field.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("behaviors.{field}: {reason}")]
pub struct BehaviorsConfigError {
    /// Field below `behaviors`.
    pub field: String,
    /// What is wrong.
    pub reason: String,
}

/// Profile, switches and placement after resolution: what the planner runs
/// with and what the session record stores.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Settings {
    /// The profile.
    pub profile: Profile,
    /// Behaviours on/off.
    pub switches: Switches,
    /// Participant direction, yaw.
    pub participant_yaw_deg: f32,
    /// Participant direction, pitch.
    pub participant_pitch_deg: f32,
}

impl Default for Settings {
    fn default() -> Self {
        Settings { profile: Profile::Expressive, switches: Switches::all(true), participant_yaw_deg: 0.0, participant_pitch_deg: 0.0 }
    }
}

impl BehaviorsConfig {
    /// Checks the section; the error names the field.
    pub fn validate(&self) -> Result<(), BehaviorsConfigError> {
        self.settings().map(|_| ())
    }

    /// The profile with the switches applied.
    pub fn settings(&self) -> Result<Settings, BehaviorsConfigError> {
        let name = self.profile.as_str();
        let profile = Profile::from_name(name).ok_or_else(|| BehaviorsConfigError {
            field: "profile".into(),
            reason: format!("unknown profile {name:?}; use {}", Profile::NAMES.join(", ")),
        })?;
        for (field, v) in [("participant_yaw_deg", self.participant_yaw_deg), ("participant_pitch_deg", self.participant_pitch_deg)] {
            if !v.is_finite() || v.abs() > 45.0 {
                return Err(BehaviorsConfigError { field: field.into(), reason: format!("must be within ±45°, got {v}") });
            }
        }
        let base = Switches::all(profile != Profile::Still);
        let pick = |o: Option<bool>, d: bool| o.unwrap_or(d);
        let switches = Switches {
            gaze: pick(self.gaze, base.gaze),
            backchannel_nod: pick(self.backchannel_nod, base.backchannel_nod),
            turn_ack: pick(self.turn_ack, base.turn_ack),
            speak_nod: pick(self.speak_nod, base.speak_nod),
            speak_motion: pick(self.speak_motion, base.speak_motion),
            lean: pick(self.lean, base.lean),
            idle: pick(self.idle, base.idle),
        };
        Ok(Settings {
            profile,
            switches,
            participant_yaw_deg: self.participant_yaw_deg,
            participant_pitch_deg: self.participant_pitch_deg,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unknown_profile_is_refused_naming_the_field() {
        let c = BehaviorsConfig { profile: "lively".into(), ..Default::default() };
        let e = c.validate().unwrap_err();
        assert_eq!(e.field, "profile");
        assert!(e.to_string().contains("lively"), "{e}");
    }

    #[test]
    fn a_switch_overrides_the_profile() {
        let c = BehaviorsConfig { profile: "expressive".into(), backchannel_nod: Some(false), ..Default::default() };
        let s = c.settings().unwrap();
        assert!(!s.switches.backchannel_nod);
        assert!(s.switches.gaze && s.switches.turn_ack);
        let still = BehaviorsConfig { profile: "still".into(), idle: Some(true), ..Default::default() }.settings().unwrap();
        assert!(still.switches.idle && !still.switches.backchannel_nod);
    }

    #[test]
    fn the_default_profile_is_expressive_with_every_behaviour_on() {
        let s = BehaviorsConfig::default().settings().unwrap();
        assert_eq!(s.profile, Profile::Expressive);
        assert_eq!(s.switches, Switches::all(true));
    }
}
