//! attune head firmware logic, generic over embedded-hal 1.0.
//!
//! # Layout
//! - [`params`] — per-joint calibration (angle → pulse) and limits, defaults,
//!   validation (including "can every joint park within 1 s").
//! - [`motion`] — one joint: minimum-jerk reference under hard velocity,
//!   acceleration and position limits.
//! - [`core`] — [`HeadCore`], the pure state machine: `on_frame(frame, now)`
//!   → reply, `step(now)` → pulse widths; watchdog, gestures, e-stop,
//!   telemetry. It never reads a clock or touches a device.
//! - this file — [`Firmware`], the thin shell that owns one `SetDutyCycle`
//!   per servo and talks `embedded-io` serial. The Pico binary
//!   (`firmware/pico`), the host simulator and the PCA9685 backend all run
//!   this same code.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

pub mod core;
pub mod motion;
pub mod params;

pub use crate::core::HeadCore;
pub use crate::params::{Calibration, HeadParams, JointParams, ParamError};

use attune_protocol::{encode_frame, FrameDecoder, HeadMsg, HostFrame, Telemetry, JOINT_COUNT, MAX_FRAME};
use embedded_hal::pwm::SetDutyCycle;

/// Loop period: servos take a pulse every 20 ms, the head logic runs at the
/// same 50 Hz.
pub const TICK_MS: u32 = 20;

/// Duty value that makes a `pulse_us` pulse in a `period_us` period on a
/// channel whose full scale is `max_duty`, rounded to nearest.
pub fn duty_for_pulse(pulse_us: u16, period_us: u32, max_duty: u16) -> u16 {
    if period_us == 0 {
        return 0;
    }
    let d = (pulse_us as u64 * max_duty as u64 + period_us as u64 / 2) / period_us as u64;
    d.min(max_duty as u64) as u16
}

/// Errors of the firmware shell; the core itself cannot fail.
#[derive(Debug)]
pub enum FirmwareError<P> {
    /// A PWM channel refused a duty value.
    Pwm(P),
}

/// The firmware: head logic + PWM outputs + frame decoder.
pub struct Firmware<P: SetDutyCycle> {
    /// The state machine.
    pub core: HeadCore,
    /// One PWM channel per joint, in `Joint::ALL` order.
    pwm: [P; JOINT_COUNT],
    /// Full-scale duty per channel, read once at start.
    max_duty: [u16; JOINT_COUNT],
    /// Receive framing.
    decoder: FrameDecoder,
    /// Pulse widths driven at the last tick.
    last_pulse_us: [u16; JOINT_COUNT],
    /// When the next 50 Hz tick is due.
    next_tick_ms: u32,
}

impl<P: SetDutyCycle> Firmware<P> {
    /// Takes the channels and drives the park pose at once.
    pub fn new(
        params: HeadParams,
        firmware: &str,
        mut pwm: [P; JOINT_COUNT],
        now_ms: u32,
    ) -> Result<Self, FirmwareError<P::Error>> {
        let mut max_duty = [0u16; JOINT_COUNT];
        for (m, ch) in max_duty.iter_mut().zip(pwm.iter_mut()) {
            *m = ch.max_duty_cycle();
        }
        let core = HeadCore::new(params, firmware, now_ms);
        let mut fw = Firmware {
            core,
            pwm,
            max_duty,
            decoder: FrameDecoder::new(),
            last_pulse_us: [0; JOINT_COUNT],
            next_tick_ms: now_ms.wrapping_add(TICK_MS),
        };
        let park = fw.core.params().park_pose().to_array();
        let mut pulses = [0u16; JOINT_COUNT];
        for i in 0..JOINT_COUNT {
            pulses[i] = fw.core.params().joints[i].cal.pulse_us(park[i]);
        }
        fw.drive(pulses)?;
        Ok(fw)
    }

    /// Pulse widths driven at the last tick.
    pub fn pulses_us(&self) -> [u16; JOINT_COUNT] {
        self.last_pulse_us
    }

    /// Gives the channels back (e.g. to a test that checks the mock's log).
    pub fn release(self) -> [P; JOINT_COUNT] {
        self.pwm
    }

    fn drive(&mut self, pulses: [u16; JOINT_COUNT]) -> Result<(), FirmwareError<P::Error>> {
        let period = self.core.params().pwm_period_us;
        for i in 0..JOINT_COUNT {
            let duty = duty_for_pulse(pulses[i], period, self.max_duty[i]);
            self.pwm[i].set_duty_cycle(duty).map_err(FirmwareError::Pwm)?;
        }
        self.last_pulse_us = pulses;
        Ok(())
    }

    /// Feeds one received byte; returns the reply to send when it completed a
    /// valid frame. Bad frames are counted in the core.
    pub fn on_byte(&mut self, byte: u8, now_ms: u32) -> Option<HeadMsg> {
        match self.decoder.push::<HostFrame>(byte)? {
            Ok(f) => Some(self.core.on_frame(f, now_ms)),
            Err(e) => {
                self.core.on_bad_frame(e);
                None
            }
        }
    }

    /// Runs the 50 Hz tick if it is due: steps the core, drives the PWM.
    /// Returns a telemetry sample when one is due. Missed ticks are not
    /// replayed: the schedule re-anchors to `now_ms`.
    pub fn poll_tick(&mut self, now_ms: u32) -> Result<Option<Telemetry>, FirmwareError<P::Error>> {
        if (now_ms.wrapping_sub(self.next_tick_ms) as i32) < 0 {
            return Ok(None);
        }
        self.next_tick_ms = self.next_tick_ms.wrapping_add(TICK_MS);
        if (now_ms.wrapping_sub(self.next_tick_ms) as i32) >= 0 {
            self.next_tick_ms = now_ms.wrapping_add(TICK_MS);
        }
        self.tick(now_ms)
    }

    /// Steps unconditionally (for callers that keep their own timer).
    pub fn tick(&mut self, now_ms: u32) -> Result<Option<Telemetry>, FirmwareError<P::Error>> {
        let pulses = self.core.step(now_ms);
        self.drive(pulses)?;
        if self.core.telemetry_due() {
            Ok(Some(self.core.take_telemetry(now_ms, pulses)))
        } else {
            Ok(None)
        }
    }

    /// Reads every byte the serial port has ready, answering each command.
    /// Never blocks on reads; a failed reply is counted, not fatal.
    pub fn service_rx<S>(&mut self, serial: &mut S, now_ms: u32)
    where
        S: embedded_io::Read + embedded_io::ReadReady + embedded_io::Write,
    {
        let mut buf = [0u8; 64];
        loop {
            match serial.read_ready() {
                Ok(true) => {}
                _ => return,
            }
            let n = match serial.read(&mut buf) {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            };
            for &b in &buf[..n] {
                if let Some(reply) = self.on_byte(b, now_ms) {
                    self.send(serial, &reply);
                }
            }
        }
    }

    /// Sends one message; a failure is counted in telemetry.
    pub fn send<S: embedded_io::Write>(&mut self, serial: &mut S, msg: &HeadMsg) {
        let mut out = [0u8; MAX_FRAME];
        let ok = match encode_frame(msg, &mut out) {
            Ok(n) => serial.write_all(&out[..n]).is_ok(),
            Err(_) => false,
        };
        if !ok {
            self.core.on_tx_error();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use attune_protocol::{HostMsg, Mode, PoseTarget};
    use embedded_hal_mock::eh1::pwm::{Mock as PwmMock, Transaction as T};

    fn frame_bytes(seq: u16, msg: HostMsg) -> Vec<u8> {
        let mut out = [0u8; MAX_FRAME];
        let n = encode_frame(&HostFrame { seq, msg }, &mut out).unwrap();
        out[..n].to_vec()
    }

    /// Pitch parks at -10°: 1500 - 10·(2000/180) = 1388.9 µs → 1389.
    const PARK_US: [u16; 4] = [1500, 1389, 1500, 1500];

    #[test]
    fn the_board_drives_the_park_pose_with_exact_duties_at_start() {
        // max_duty 20000 over 20 ms: one count per µs; 65535: rounded scale.
        let mut chans = Vec::new();
        for (i, &us) in PARK_US.iter().enumerate() {
            let max = if i == 0 { 65535 } else { 20000 };
            let duty = duty_for_pulse(us, 20_000, max);
            chans.push(PwmMock::new(&[T::max_duty_cycle(max), T::set_duty_cycle(duty)]));
        }
        assert_eq!(duty_for_pulse(1500, 20_000, 65535), 4915);
        assert_eq!(duty_for_pulse(1389, 20_000, 20000), 1389);
        let pwm: [PwmMock; 4] = chans.try_into().unwrap();
        let fw = Firmware::new(HeadParams::DEFAULT, "t", pwm, 0).unwrap();
        for mut ch in fw.release() {
            ch.done();
        }
    }

    #[test]
    fn a_calibrated_target_and_a_clamped_target_reach_their_exact_duties() {
        // Yaw to +45° (2000 µs) and pitch to +80°, clamped at +30°
        // (1500 + 30·11.11 = 1833.3 → 1833 µs), with 1 count per µs.
        let mut expect: Vec<Vec<T>> = (0..4).map(|i| vec![T::max_duty_cycle(20000), T::set_duty_cycle(PARK_US[i])]).collect();
        let mut params = HeadParams::DEFAULT;
        params.joints[1].park_deg = 0.0;
        expect[1][1] = T::set_duty_cycle(1500);
        // Predict the trajectory with a second core so the mock can check
        // every tick's exact duty.
        let mut model = HeadCore::new(params, "t", 0);
        let cmd = HostFrame {
            seq: 1,
            msg: HostMsg::SetPose {
                target: PoseTarget { yaw_deg: Some(45.0), pitch_deg: Some(80.0), ..PoseTarget::default() },
                duration_ms: 400,
            },
        };
        model.on_frame(cmd, 0);
        // 24 ticks = 480 ms: settled, and still inside the 500 ms watchdog.
        let ticks = 24u32;
        let mut last = [0u16; 4];
        for k in 1..=ticks {
            last = model.step(k * TICK_MS);
            for i in 0..4 {
                expect[i].push(T::set_duty_cycle(last[i]));
            }
        }
        assert_eq!(last, [2000, 1833, 1500, 1500], "model did not settle: {:?}", model.pose());
        let pwm: [PwmMock; 4] = expect.iter().map(|e| PwmMock::new(e)).collect::<Vec<_>>().try_into().unwrap();
        let mut fw = Firmware::new(params, "t", pwm, 0).unwrap();
        for b in frame_bytes(1, cmd.msg) {
            fw.on_byte(b, 0);
        }
        for k in 1..=ticks {
            fw.tick(k * TICK_MS).unwrap();
        }
        assert_eq!(fw.pulses_us(), [2000, 1833, 1500, 1500]);
        for mut ch in fw.release() {
            ch.done();
        }
    }

    #[test]
    fn estop_sets_every_channel_to_zero_duty() {
        let pwm: [PwmMock; 4] = ::core::array::from_fn(|i| {
            PwmMock::new(&[T::max_duty_cycle(20000), T::set_duty_cycle(PARK_US[i]), T::set_duty_cycle(0)])
        });
        let mut fw = Firmware::new(HeadParams::DEFAULT, "t", pwm, 0).unwrap();
        for b in frame_bytes(1, HostMsg::EStop) {
            fw.on_byte(b, 0);
        }
        fw.tick(20).unwrap();
        assert_eq!(fw.core.mode(), Mode::EStop);
        for mut ch in fw.release() {
            ch.done();
        }
    }

    #[test]
    fn garbage_on_the_line_is_counted_and_the_next_command_still_works() {
        let pwm: [PwmMock; 4] =
            ::core::array::from_fn(|i| PwmMock::new(&[T::max_duty_cycle(20000), T::set_duty_cycle(PARK_US[i])]));
        let mut fw = Firmware::new(HeadParams::DEFAULT, "t", pwm, 0).unwrap();
        for b in [1u8, 2, 3, 0, 0xFF, 0x10, 0] {
            assert!(fw.on_byte(b, 0).is_none());
        }
        let mut reply = None;
        for b in frame_bytes(4, HostMsg::Heartbeat) {
            reply = reply.or(fw.on_byte(b, 0));
        }
        assert!(matches!(reply, Some(HeadMsg::Ack { seq: 4, .. })));
        let c = fw.core.counters();
        assert_eq!(c.frames_ok, 1);
        assert!(c.cobs_errors + c.crc_errors + c.decode_errors >= 2);
        for mut ch in fw.release() {
            ch.done();
        }
    }
}
