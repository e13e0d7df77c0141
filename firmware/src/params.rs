//! Per-joint calibration and limits, with defaults for the attune head.

use attune_protocol::{Joint, Pose, JOINT_COUNT};

/// Linear angle → pulse-width map through two measured points (what
/// `attune head calibrate` records per joint).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Calibration {
    /// First reference angle.
    pub angle_a_deg: f32,
    /// Pulse that puts the horn at `angle_a_deg`.
    pub pulse_a_us: u16,
    /// Second reference angle.
    pub angle_b_deg: f32,
    /// Pulse that puts the horn at `angle_b_deg`.
    pub pulse_b_us: u16,
}

/// Hobby-servo pulses outside this band can drive the horn into its end stops.
pub const PULSE_MIN_US: u16 = 500;
/// Upper end of the safe pulse band.
pub const PULSE_MAX_US: u16 = 2500;

impl Calibration {
    /// The common 500..2500 µs ↔ -90..+90° servo.
    pub const STANDARD: Calibration =
        Calibration { angle_a_deg: -90.0, pulse_a_us: 500, angle_b_deg: 90.0, pulse_b_us: 2500 };

    /// Pulse width for `angle_deg`, rounded to the nearest µs and kept inside
    /// [`PULSE_MIN_US`, `PULSE_MAX_US`].
    pub fn pulse_us(&self, angle_deg: f32) -> u16 {
        let span = self.angle_b_deg - self.angle_a_deg;
        let us_per_deg = (self.pulse_b_us as f32 - self.pulse_a_us as f32) / span;
        let p = self.pulse_a_us as f32 + (angle_deg - self.angle_a_deg) * us_per_deg;
        let p = libm::roundf(p);
        #[allow(clippy::neg_cmp_op_on_partial_ord)] // NaN lands here too
        if !(p >= PULSE_MIN_US as f32) {
            PULSE_MIN_US
        } else if p > PULSE_MAX_US as f32 {
            PULSE_MAX_US
        } else {
            p as u16
        }
    }

    /// Angle a pulse width encodes (the inverse map; used by the simulator).
    pub fn angle_deg(&self, pulse_us: u16) -> f32 {
        let span_us = self.pulse_b_us as f32 - self.pulse_a_us as f32;
        let deg_per_us = (self.angle_b_deg - self.angle_a_deg) / span_us;
        self.angle_a_deg + (pulse_us as f32 - self.pulse_a_us as f32) * deg_per_us
    }
}

/// Limits and calibration of one joint.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct JointParams {
    /// Mechanical lower limit.
    pub min_deg: f32,
    /// Mechanical upper limit.
    pub max_deg: f32,
    /// Rest pose, where the watchdog and `Park` take the joint.
    pub park_deg: f32,
    /// Speed limit.
    pub max_vel_deg_s: f32,
    /// Acceleration limit.
    pub max_acc_deg_s2: f32,
    /// Angle → pulse map.
    pub cal: Calibration,
}

/// Everything the head logic needs to know about the hardware.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HeadParams {
    /// Per joint, in [`Joint::ALL`] order.
    pub joints: [JointParams; JOINT_COUNT],
    /// PWM period (50 Hz servos: 20 000 µs).
    pub pwm_period_us: u32,
    /// Silence on the link after which the head parks itself.
    pub watchdog_ms: u32,
    /// Requested duration of a park move.
    pub park_ms: u32,
    /// Deadline from watchdog trip to being parked (issue 3: 1 s).
    pub park_deadline_ms: u32,
}

/// Why a parameter set is refused.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ParamError {
    /// Limits empty or not finite.
    Limits(Joint),
    /// Park pose outside the limits.
    Park(Joint),
    /// Velocity or acceleration limit not positive and finite.
    Rates(Joint),
    /// The two calibration points coincide or lie outside the pulse band.
    Calibration(Joint),
    /// With these limits the joint cannot reach park from its far limit
    /// within `park_deadline_ms`.
    ParkTooSlow {
        /// Which joint.
        joint: Joint,
        /// The worst-case time it would take.
        needed_ms: u32,
    },
    /// PWM period or timing values are zero.
    Timing,
}

impl core::fmt::Display for ParamError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            ParamError::Limits(j) => write!(f, "{}: min_deg must be below max_deg, both finite", j.name()),
            ParamError::Park(j) => write!(f, "{}: park_deg must lie within [min_deg, max_deg]", j.name()),
            ParamError::Rates(j) => {
                write!(f, "{}: max_vel_deg_s and max_acc_deg_s2 must be positive and finite", j.name())
            }
            ParamError::Calibration(j) => write!(
                f,
                "{}: calibration points must differ and lie within {PULSE_MIN_US}..{PULSE_MAX_US} us",
                j.name()
            ),
            ParamError::ParkTooSlow { joint, needed_ms } => write!(
                f,
                "{}: limits allow parking from the far limit only in {needed_ms} ms (deadline too short)",
                joint.name()
            ),
            ParamError::Timing => write!(f, "pwm_period_us, watchdog_ms and park_deadline_ms must be non-zero"),
        }
    }
}

/// Shortest duration of a minimum-jerk move over `dist_deg` that respects
/// the velocity and acceleration limits. Minimum-jerk peaks are
/// v = 1.875·d/T and a = 5.7735·d/T² (Flash & Hogan 1985, the quintic
/// 10s³-15s⁴+6s⁵).
pub fn min_duration_s(dist_deg: f32, p: &JointParams) -> f32 {
    let d = libm::fabsf(dist_deg);
    let t_vel = 1.875 * d / p.max_vel_deg_s;
    let t_acc = libm::sqrtf(5.773_503 * d / p.max_acc_deg_s2);
    if t_vel > t_acc {
        t_vel
    } else {
        t_acc
    }
}

impl HeadParams {
    /// The attune head: standard servos, comfortable conversational speeds.
    pub const DEFAULT: HeadParams = HeadParams {
        joints: [
            // yaw
            JointParams {
                min_deg: -70.0,
                max_deg: 70.0,
                park_deg: 0.0,
                max_vel_deg_s: 240.0,
                max_acc_deg_s2: 1800.0,
                cal: Calibration::STANDARD,
            },
            // pitch
            JointParams {
                min_deg: -30.0,
                max_deg: 30.0,
                park_deg: -10.0,
                max_vel_deg_s: 180.0,
                max_acc_deg_s2: 1500.0,
                cal: Calibration::STANDARD,
            },
            // roll
            JointParams {
                min_deg: -25.0,
                max_deg: 25.0,
                park_deg: 0.0,
                max_vel_deg_s: 150.0,
                max_acc_deg_s2: 1200.0,
                cal: Calibration::STANDARD,
            },
            // lean
            JointParams {
                min_deg: -15.0,
                max_deg: 20.0,
                park_deg: 0.0,
                max_vel_deg_s: 60.0,
                max_acc_deg_s2: 300.0,
                cal: Calibration::STANDARD,
            },
        ],
        pwm_period_us: 20_000,
        watchdog_ms: 500,
        park_ms: 700,
        park_deadline_ms: 1000,
    };

    /// The park pose.
    pub fn park_pose(&self) -> Pose {
        Pose::from_array([
            self.joints[0].park_deg,
            self.joints[1].park_deg,
            self.joints[2].park_deg,
            self.joints[3].park_deg,
        ])
    }

    /// Checks the set is safe to run; the error names the joint and field.
    pub fn validate(&self) -> Result<(), ParamError> {
        if self.pwm_period_us == 0 || self.watchdog_ms == 0 || self.park_deadline_ms == 0 {
            return Err(ParamError::Timing);
        }
        for j in Joint::ALL {
            let p = &self.joints[j.index()];
            if !(p.min_deg.is_finite() && p.max_deg.is_finite() && p.min_deg < p.max_deg) {
                return Err(ParamError::Limits(j));
            }
            if !(p.park_deg >= p.min_deg && p.park_deg <= p.max_deg) {
                return Err(ParamError::Park(j));
            }
            let rate_ok = |x: f32| x.is_finite() && x > 0.0;
            if !(rate_ok(p.max_vel_deg_s) && rate_ok(p.max_acc_deg_s2)) {
                return Err(ParamError::Rates(j));
            }
            let c = &p.cal;
            let band = PULSE_MIN_US..=PULSE_MAX_US;
            if !(c.angle_a_deg.is_finite() && c.angle_b_deg.is_finite())
                || c.angle_a_deg == c.angle_b_deg
                || c.pulse_a_us == c.pulse_b_us
                || !band.contains(&c.pulse_a_us)
                || !band.contains(&c.pulse_b_us)
            {
                return Err(ParamError::Calibration(j));
            }
            // Design: worst case is a trip while moving at full speed away
            // from park at the far limit: first brake (v/a), then the
            // park move itself.
            let far = libm::fmaxf(p.park_deg - p.min_deg, p.max_deg - p.park_deg);
            let move_s = libm::fmaxf(min_duration_s(far, p), self.park_ms as f32 / 1000.0);
            let brake_s = p.max_vel_deg_s / p.max_acc_deg_s2;
            let needed_ms = ((move_s + brake_s) * 1000.0) as u32 + 2 * crate::TICK_MS;
            if needed_ms > self.park_deadline_ms {
                return Err(ParamError::ParkTooSlow { joint: j, needed_ms });
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn standard_calibration_maps_centre_and_ends() {
        let c = Calibration::STANDARD;
        assert_eq!(c.pulse_us(0.0), 1500);
        assert_eq!(c.pulse_us(-90.0), 500);
        assert_eq!(c.pulse_us(90.0), 2500);
        assert_eq!(c.pulse_us(45.0), 2000);
        assert_eq!(c.pulse_us(f32::NAN), PULSE_MIN_US);
        assert_eq!(c.pulse_us(1e9), PULSE_MAX_US);
        assert!((c.angle_deg(2000) - 45.0).abs() < 1e-4);
    }

    #[test]
    fn the_default_parameters_are_valid() {
        assert_eq!(HeadParams::DEFAULT.validate(), Ok(()));
    }

    #[test]
    fn a_joint_too_slow_to_park_within_the_deadline_is_refused_by_name() {
        let mut p = HeadParams::DEFAULT;
        p.joints[3].max_vel_deg_s = 10.0;
        assert!(matches!(p.validate(), Err(ParamError::ParkTooSlow { joint: Joint::Lean, .. })));
    }

    #[test]
    fn a_park_pose_outside_the_limits_is_refused() {
        let mut p = HeadParams::DEFAULT;
        p.joints[1].park_deg = 45.0;
        assert_eq!(p.validate(), Err(ParamError::Park(Joint::Pitch)));
    }
}
