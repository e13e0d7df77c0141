//! `[head]` config: backend choice, port, and the per-joint table that
//! `attune head calibrate` produces.

use attune_firmware::{Calibration, HeadParams, JointParams};
use attune_protocol::Joint;
use serde::{Deserialize, Serialize};

/// `[head]` section of the attune config.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct HeadConfig {
    /// Which backend drives the head: "serial" | "pca9685" | "sim" | "none".
    pub backend: String,
    /// Serial device of the head board (backend "serial").
    pub port: String,
    /// Serial baud rate (ignored by USB CDC and ptys).
    pub baud: u32,
    /// I²C bus device (backend "pca9685").
    pub i2c_bus: String,
    /// 7-bit I²C address of the PCA9685.
    pub pca9685_address: u8,
    /// PCA9685 output per joint: yaw, pitch, roll, lean.
    pub pca9685_channels: [u8; 4],
    /// Heartbeat period of the serial backend (the head parks after 500 ms
    /// without a frame, so keep this well below).
    pub heartbeat_ms: u64,
    /// Longest wait between reconnect attempts after the port vanished.
    pub reconnect_max_ms: u64,
    /// Yaw calibration and limits.
    #[serde(deserialize_with = "joint_table::<_, 0>")]
    pub yaw: JointConfig,
    /// Pitch calibration and limits.
    #[serde(deserialize_with = "joint_table::<_, 1>")]
    pub pitch: JointConfig,
    /// Roll calibration and limits.
    #[serde(deserialize_with = "joint_table::<_, 2>")]
    pub roll: JointConfig,
    /// Lean calibration and limits.
    #[serde(deserialize_with = "joint_table::<_, 3>")]
    pub lean: JointConfig,
}

/// `[head.<joint>]`: limits and the two-point calibration of one joint.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct JointConfig {
    /// Lower limit.
    pub min_deg: f32,
    /// Upper limit.
    pub max_deg: f32,
    /// Rest pose.
    pub park_deg: f32,
    /// Speed limit.
    pub max_vel_deg_s: f32,
    /// Acceleration limit.
    pub max_acc_deg_s2: f32,
    /// First calibration angle.
    pub cal_a_deg: f32,
    /// Pulse at `cal_a_deg`.
    pub cal_a_us: u16,
    /// Second calibration angle.
    pub cal_b_deg: f32,
    /// Pulse at `cal_b_deg`.
    pub cal_b_us: u16,
}

/// `[head.<joint>]` as written: every field optional.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PartialJoint {
    min_deg: Option<f32>,
    max_deg: Option<f32>,
    park_deg: Option<f32>,
    max_vel_deg_s: Option<f32>,
    max_acc_deg_s2: Option<f32>,
    cal_a_deg: Option<f32>,
    cal_a_us: Option<u16>,
    cal_b_deg: Option<f32>,
    cal_b_us: Option<u16>,
}

/// Reads a joint table, taking each missing field from joint `I`'s default.
///
/// Design: the defaults differ per joint, so `#[serde(default)]` on
/// [`JointConfig`] cannot fill them; a partial table (only `max_deg`, say)
/// is completed here from the same [`HeadParams::DEFAULT`] the firmware uses.
fn joint_table<'de, D: serde::Deserializer<'de>, const I: usize>(d: D) -> Result<JointConfig, D::Error> {
    let p = PartialJoint::deserialize(d)?;
    let def: JointConfig = HeadParams::DEFAULT.joints[I].into();
    Ok(JointConfig {
        min_deg: p.min_deg.unwrap_or(def.min_deg),
        max_deg: p.max_deg.unwrap_or(def.max_deg),
        park_deg: p.park_deg.unwrap_or(def.park_deg),
        max_vel_deg_s: p.max_vel_deg_s.unwrap_or(def.max_vel_deg_s),
        max_acc_deg_s2: p.max_acc_deg_s2.unwrap_or(def.max_acc_deg_s2),
        cal_a_deg: p.cal_a_deg.unwrap_or(def.cal_a_deg),
        cal_a_us: p.cal_a_us.unwrap_or(def.cal_a_us),
        cal_b_deg: p.cal_b_deg.unwrap_or(def.cal_b_deg),
        cal_b_us: p.cal_b_us.unwrap_or(def.cal_b_us),
    })
}

impl From<JointParams> for JointConfig {
    fn from(p: JointParams) -> Self {
        JointConfig {
            min_deg: p.min_deg,
            max_deg: p.max_deg,
            park_deg: p.park_deg,
            max_vel_deg_s: p.max_vel_deg_s,
            max_acc_deg_s2: p.max_acc_deg_s2,
            cal_a_deg: p.cal.angle_a_deg,
            cal_a_us: p.cal.pulse_a_us,
            cal_b_deg: p.cal.angle_b_deg,
            cal_b_us: p.cal.pulse_b_us,
        }
    }
}

impl From<JointConfig> for JointParams {
    fn from(c: JointConfig) -> Self {
        JointParams {
            min_deg: c.min_deg,
            max_deg: c.max_deg,
            park_deg: c.park_deg,
            max_vel_deg_s: c.max_vel_deg_s,
            max_acc_deg_s2: c.max_acc_deg_s2,
            cal: Calibration {
                angle_a_deg: c.cal_a_deg,
                pulse_a_us: c.cal_a_us,
                angle_b_deg: c.cal_b_deg,
                pulse_b_us: c.cal_b_us,
            },
        }
    }
}

impl Default for HeadConfig {
    fn default() -> Self {
        let d = HeadParams::DEFAULT;
        Self {
            backend: "none".into(),
            port: "/dev/ttyACM0".into(),
            baud: 115_200,
            i2c_bus: "/dev/i2c-1".into(),
            pca9685_address: 0x40,
            pca9685_channels: [0, 1, 2, 3],
            heartbeat_ms: 100,
            reconnect_max_ms: 2_000,
            yaw: d.joints[0].into(),
            pitch: d.joints[1].into(),
            roll: d.joints[2].into(),
            lean: d.joints[3].into(),
        }
    }
}

/// A `[head]` section that cannot run; the message names the field.
#[derive(Debug, thiserror::Error)]
#[error("head.{field}: {reason}")]
pub struct HeadConfigError {
    /// Dotted field path below `head`.
    pub field: String,
    /// What is wrong.
    pub reason: String,
}

impl HeadConfig {
    /// The joint table as firmware parameters.
    pub fn params(&self) -> HeadParams {
        let mut p = HeadParams::DEFAULT;
        p.joints = [self.yaw.into(), self.pitch.into(), self.roll.into(), self.lean.into()];
        p
    }

    /// Checks everything before anything starts.
    pub fn validate(&self) -> Result<(), HeadConfigError> {
        let err = |field: &str, reason: String| HeadConfigError { field: field.into(), reason };
        match self.backend.as_str() {
            "serial" | "pca9685" | "sim" | "none" => {}
            other => {
                return Err(err("backend", format!("unknown backend {other:?}; use serial, pca9685, sim or none")))
            }
        }
        if self.heartbeat_ms == 0 || self.heartbeat_ms >= 500 {
            return Err(err("heartbeat_ms", "must be between 1 and 499 (the head's watchdog is 500 ms)".into()));
        }
        if self.pca9685_channels.iter().any(|&c| c > 15) {
            return Err(err("pca9685_channels", "PCA9685 outputs are 0..=15".into()));
        }
        if self.pca9685_address > 0x7F {
            return Err(err("pca9685_address", "not a 7-bit I2C address".into()));
        }
        self.params().validate().map_err(|e| {
            let joint = match e {
                attune_firmware::ParamError::Limits(j)
                | attune_firmware::ParamError::Park(j)
                | attune_firmware::ParamError::Rates(j)
                | attune_firmware::ParamError::Calibration(j)
                | attune_firmware::ParamError::ParkTooSlow { joint: j, .. } => j.name(),
                attune_firmware::ParamError::Timing => "timing",
            };
            err(joint, e.to_string())
        })
    }

    /// Replaces one joint's table entry.
    pub fn set_joint(&mut self, j: Joint, c: JointConfig) {
        match j {
            Joint::Yaw => self.yaw = c,
            Joint::Pitch => self.pitch = c,
            Joint::Roll => self.roll = c,
            Joint::Lean => self.lean = c,
        }
    }

    /// One joint's table entry.
    pub fn joint(&self, j: Joint) -> JointConfig {
        match j {
            Joint::Yaw => self.yaw,
            Joint::Pitch => self.pitch,
            Joint::Roll => self.roll,
            Joint::Lean => self.lean,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_head_config_is_valid_and_matches_the_firmware_defaults() {
        let c = HeadConfig::default();
        c.validate().unwrap();
        assert_eq!(c.params(), HeadParams::DEFAULT);
    }

    #[test]
    fn an_unknown_backend_is_refused_by_field_name() {
        let c = HeadConfig { backend: "usb".into(), ..HeadConfig::default() };
        let e = c.validate().unwrap_err().to_string();
        assert!(e.starts_with("head.backend:"), "{e}");
    }

    #[test]
    fn an_unknown_field_in_toml_is_an_error() {
        let e = serde_json::from_str::<HeadConfig>(r#"{"backend":"sim","bogus":1}"#).unwrap_err();
        assert!(e.to_string().contains("bogus"));
    }

    #[test]
    fn a_partial_joint_table_takes_that_joints_defaults_for_missing_fields() {
        let c: HeadConfig = serde_json::from_str(r#"{"pitch":{"max_deg":10.0}}"#).unwrap();
        let d = HeadConfig::default();
        assert_eq!(c.pitch, JointConfig { max_deg: 10.0, ..d.pitch });
        assert_eq!((c.yaw, c.roll, c.lean), (d.yaw, d.roll, d.lean));
        let e = serde_json::from_str::<HeadConfig>(r#"{"yaw":{"max_degs":10.0}}"#).unwrap_err();
        assert!(e.to_string().contains("max_degs"), "{e}");
    }

    #[test]
    fn a_joint_too_slow_to_park_is_refused_naming_the_joint() {
        let mut c = HeadConfig::default();
        c.lean.max_vel_deg_s = 5.0;
        let e = c.validate().unwrap_err();
        assert_eq!(e.field, "lean");
    }
}
