//! The head simulator: the firmware ([`attune_firmware::Firmware`]) on the
//! host, behind a pseudo-terminal, driving a servo model.
//!
//! The controller cannot tell it from a board: it opens the pty slave (via
//! the symlink at `link`) like any serial port.

use crate::telemetry_json;
use attune_firmware::{Firmware, HeadParams, TICK_MS};
use attune_protocol::{HeadMsg, Joint, Telemetry, JOINT_COUNT};
use embedded_hal::pwm::{ErrorType, SetDutyCycle};
use nix::fcntl::{fcntl, FcntlArg, OFlag};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::termios;
use std::cell::Cell;
use std::fs::File;
use std::io::{self, BufWriter, Read, Write};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Firmware name the simulator reports.
pub const SIM_FIRMWARE: &str = concat!("attune-head-sim ", env!("CARGO_PKG_VERSION"));

/// Faults the simulator can inject into its link.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Faults {
    /// Probability that an incoming byte is dropped.
    pub drop_rate: f64,
    /// Probability that an incoming byte has one bit flipped.
    pub corrupt_rate: f64,
    /// Every this many ms, stop reading the link...
    pub stall_every_ms: u64,
    /// ... for this long.
    pub stall_ms: u64,
    /// This long after the first byte from a host, close the pty and remove
    /// the link (cable pulled)...
    pub disconnect_after_ms: Option<u64>,
    /// ... and bring a new one up at the same path after this long.
    pub disconnect_for_ms: u64,
    /// RNG seed so runs are repeatable.
    pub seed: u64,
}

/// Servo model: what the horn does with the pulses.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ServoModel {
    /// Top horn speed (a typical SG90 under load: 0.12 s/60° = 500 °/s).
    pub max_speed_deg_s: f32,
    /// First-order lag of the horn behind the commanded angle.
    pub lag_ms: f32,
}

impl Default for ServoModel {
    fn default() -> Self {
        ServoModel { max_speed_deg_s: 500.0, lag_ms: 40.0 }
    }
}

/// Simulator options.
#[derive(Debug, Clone)]
pub struct SimOptions {
    /// Where to put the symlink to the pty slave.
    pub link: PathBuf,
    /// JSONL telemetry at 50 Hz, if wanted.
    pub telemetry: Option<PathBuf>,
    /// Joint table.
    pub params: HeadParams,
    /// Servo model.
    pub servo: ServoModel,
    /// Injected faults.
    pub faults: Faults,
}

/// Simulator failures.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// Creating the pty failed.
    #[error("cannot create a pseudo-terminal: {0}")]
    Pty(#[from] nix::Error),
    /// File system trouble (link, telemetry file).
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// Why it failed.
        source: io::Error,
    },
    /// The link path exists and is not a symlink; refuse to clobber it.
    #[error("{0} exists and is not a symlink; refusing to replace it")]
    LinkOccupied(PathBuf),
    /// Invalid joint table.
    #[error("invalid head parameters: {0}")]
    Params(String),
}

/// A PWM channel whose duty the servo model reads back.
#[derive(Debug, Clone)]
pub struct SimPwm {
    /// Last duty set, shared with the model.
    duty: Rc<Cell<u16>>,
}

/// Full scale of a simulated channel: one count per µs of a 20 ms period.
pub const SIM_MAX_DUTY: u16 = 20_000;

impl ErrorType for SimPwm {
    type Error = core::convert::Infallible;
}

impl SetDutyCycle for SimPwm {
    fn max_duty_cycle(&self) -> u16 {
        SIM_MAX_DUTY
    }
    fn set_duty_cycle(&mut self, duty: u16) -> Result<(), Self::Error> {
        self.duty.set(duty);
        Ok(())
    }
}

/// Small deterministic RNG (xorshift64*), so fault runs repeat with a seed.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// Seeded generator (0 is remapped, xorshift needs a non-zero state).
    pub fn new(seed: u64) -> Self {
        Rng(seed ^ 0x9E37_79B9_7F4A_7C15 | 1)
    }
    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// One open pty: master for us, a held slave so the line settings persist
/// while controllers come and go.
struct Pty {
    /// Our end, non-blocking.
    master: File,
    /// Held open so the slave's raw mode survives controller restarts and
    /// reads never see a hang-up.
    _slave: OwnedFd,
}

fn io_err(what: impl Into<String>) -> impl FnOnce(io::Error) -> SimError {
    let what = what.into();
    move |source| SimError::Io { what, source }
}

fn open_pty(link: &Path) -> Result<Pty, SimError> {
    let pty = nix::pty::openpty(None, None)?;
    // Raw mode: no echo, no CR/LF translation, no signals: a binary line.
    let mut t = termios::tcgetattr(&pty.slave)?;
    termios::cfmakeraw(&mut t);
    termios::tcsetattr(&pty.slave, termios::SetArg::TCSANOW, &t)?;
    let slave_path = nix::unistd::ttyname(pty.slave.as_fd())?;
    let flags = OFlag::from_bits_truncate(fcntl(pty.master.as_raw_fd(), FcntlArg::F_GETFL)?);
    fcntl(pty.master.as_raw_fd(), FcntlArg::F_SETFL(flags | OFlag::O_NONBLOCK))?;
    match std::fs::symlink_metadata(link) {
        Ok(m) if m.file_type().is_symlink() => {
            std::fs::remove_file(link).map_err(io_err(format!("removing old link {}", link.display())))?
        }
        Ok(_) => return Err(SimError::LinkOccupied(link.to_path_buf())),
        Err(_) => {}
    }
    std::os::unix::fs::symlink(&slave_path, link)
        .map_err(io_err(format!("linking {} -> {}", link.display(), slave_path.display())))?;
    Ok(Pty { master: File::from(pty.master), _slave: pty.slave })
}

/// Simulated horn angles behind the PWM.
#[derive(Debug, Clone)]
pub struct ServoState {
    /// Horn angle per joint.
    pub angle_deg: [f32; JOINT_COUNT],
}

impl ServoState {
    /// Advances the horns towards the angles the pulses encode.
    pub fn step(&mut self, params: &HeadParams, model: &ServoModel, duties: [u16; JOINT_COUNT], dt_s: f32) {
        for i in 0..JOINT_COUNT {
            if duties[i] == 0 {
                continue; // no pulse: the servo goes limp and stays put
            }
            let pulse_us = (duties[i] as u32 * params.pwm_period_us / SIM_MAX_DUTY as u32) as u16;
            let cmd = params.joints[i].cal.angle_deg(pulse_us);
            let err = cmd - self.angle_deg[i];
            let alpha = (dt_s * 1000.0 / model.lag_ms).min(1.0);
            let max_step = model.max_speed_deg_s * dt_s;
            self.angle_deg[i] += (err * alpha).clamp(-max_step, max_step);
        }
    }
}

/// One telemetry line of the simulator: the firmware's view plus the horns.
pub fn sim_telemetry_json(t: &Telemetry, servo: &ServoState) -> serde_json::Value {
    let mut v = telemetry_json(t);
    let mut horns = serde_json::Map::new();
    for j in Joint::ALL {
        horns.insert(format!("{}_deg", j.name()), serde_json::json!(servo.angle_deg[j.index()]));
    }
    v["servo"] = serde_json::Value::Object(horns);
    v
}

/// Runs the simulator until `stop` is set. Removes the link on the way out.
pub fn run(opts: SimOptions, stop: Arc<AtomicBool>) -> Result<(), SimError> {
    opts.params.validate().map_err(|e| SimError::Params(e.to_string()))?;
    let result = run_inner(&opts, &stop);
    if let Ok(m) = std::fs::symlink_metadata(&opts.link) {
        if m.file_type().is_symlink() {
            let _ = std::fs::remove_file(&opts.link);
        }
    }
    result
}

fn run_inner(opts: &SimOptions, stop: &AtomicBool) -> Result<(), SimError> {
    let mut telem = match &opts.telemetry {
        Some(p) => Some(BufWriter::new(
            File::create(p).map_err(io_err(format!("creating telemetry file {}", p.display())))?,
        )),
        None => None,
    };
    let duties: [Rc<Cell<u16>>; JOINT_COUNT] = std::array::from_fn(|_| Rc::new(Cell::new(0)));
    let pwm: [SimPwm; JOINT_COUNT] = std::array::from_fn(|i| SimPwm { duty: duties[i].clone() });
    let start = Instant::now();
    let now_ms = || start.elapsed().as_millis() as u32;
    let Ok(mut fw) = Firmware::new(opts.params, SIM_FIRMWARE, pwm, now_ms());
    // Telemetry is also streamed to a host that subscribes; the file gets
    // every tick regardless.
    let mut servo = ServoState { angle_deg: opts.params.park_pose().to_array() };
    let mut rng = Rng::new(opts.faults.seed);
    let mut pty = Some(open_pty(&opts.link)?);
    let mut down_until: Option<Instant> = None;
    let mut disconnected_once = false;
    // Design: the cable pull is timed from the host's first byte, not from
    // the simulator's start, so a host that is slow to start (a loaded
    // machine) still meets the fault mid-session.
    let mut first_host_byte: Option<Instant> = None;
    let tick = Duration::from_millis(TICK_MS as u64);
    let mut last_tick = Instant::now();
    // Design: ticks are scheduled on a fixed grid (next += 20 ms), not
    // "20 ms after the last one", so the rate stays 50 Hz on average; after
    // a stall longer than a tick the grid re-anchors instead of bursting.
    let mut next_tick = last_tick + tick;
    let mut buf = [0u8; 512];
    tracing::info!("head simulator on {}", opts.link.display());

    while !stop.load(Ordering::Relaxed) {
        let elapsed_ms = start.elapsed().as_millis() as u64;
        // Fault: the cable is pulled once, then plugged back in.
        if let (Some(after), false, Some(first)) = (opts.faults.disconnect_after_ms, disconnected_once, first_host_byte) {
            if first.elapsed().as_millis() as u64 >= after {
                disconnected_once = true;
                pty = None;
                let _ = std::fs::remove_file(&opts.link);
                down_until = Some(Instant::now() + Duration::from_millis(opts.faults.disconnect_for_ms));
                tracing::info!("fault: link down for {} ms", opts.faults.disconnect_for_ms);
            }
        }
        if let Some(until) = down_until {
            if Instant::now() >= until {
                down_until = None;
                pty = Some(open_pty(&opts.link)?);
                tracing::info!("fault: link back up");
            }
        }
        let stalled = opts.faults.stall_every_ms > 0
            && elapsed_ms % opts.faults.stall_every_ms.max(1) < opts.faults.stall_ms;

        // Wait for bytes or the next tick, whichever first.
        let wait_ms = next_tick.saturating_duration_since(Instant::now()).as_millis().min(TICK_MS as u128) as u32;
        let readable = match (&pty, stalled) {
            (Some(p), false) => {
                let mut fds = [PollFd::new(p.master.as_fd(), PollFlags::POLLIN)];
                let to = PollTimeout::try_from(wait_ms as i32).unwrap_or(PollTimeout::ZERO);
                matches!(poll(&mut fds, to), Ok(n) if n > 0)
            }
            _ => {
                std::thread::sleep(Duration::from_millis(wait_ms.min(5) as u64));
                false
            }
        };
        if readable {
            if let Some(p) = pty.as_mut() {
                match p.master.read(&mut buf) {
                    Ok(n) => {
                        if n > 0 && first_host_byte.is_none() {
                            first_host_byte = Some(Instant::now());
                        }
                        let now = now_ms();
                        for &b0 in &buf[..n] {
                            if opts.faults.drop_rate > 0.0 && rng.unit() < opts.faults.drop_rate {
                                continue;
                            }
                            let mut b = b0;
                            if opts.faults.corrupt_rate > 0.0 && rng.unit() < opts.faults.corrupt_rate {
                                b ^= 1 << ((rng.unit() * 8.0) as u8 & 7);
                            }
                            if let Some(reply) = fw.on_byte(b, now) {
                                let mut w = PtyWriter(&mut p.master);
                                fw.send(&mut w, &reply);
                            }
                        }
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    // EIO: no controller has the slave open; nothing to read.
                    Err(_) => std::thread::sleep(Duration::from_millis(2)),
                }
            }
        }
        if Instant::now() >= next_tick {
            let dt_s = last_tick.elapsed().as_secs_f32().min(0.1);
            last_tick = Instant::now();
            next_tick += tick;
            if next_tick < last_tick {
                next_tick = last_tick + tick;
            }
            // Design: a fresh clock here; `now` was read before this
            // iteration's bytes, which stamped the firmware's last-frame time
            // later. Ticking at the older time made the heartbeat age negative
            // (it wraps to ~4e9 ms) and tripped the watchdog under a 50 Hz
            // pose stream.
            let now = now_ms();
            let Ok(streamed) = fw.poll_tick(now);
            servo.step(&opts.params, &opts.servo, duties.clone().map(|d| d.get()), dt_s);
            if let Some(t) = streamed {
                if let Some(p) = pty.as_mut() {
                    let mut w = PtyWriter(&mut p.master);
                    fw.send(&mut w, &HeadMsg::Telemetry(t));
                }
            }
            if let Some(out) = telem.as_mut() {
                // The streamed sample (if any) already took this tick's
                // sticky fault bits; reuse it so the file sees them too.
                let t = match streamed {
                    Some(t) => t,
                    None => fw.core.take_telemetry(now, fw.pulses_us()),
                };
                let line = sim_telemetry_json(&t, &servo);
                if writeln!(out, "{line}").and_then(|_| out.flush()).is_err() {
                    tracing::warn!("telemetry file write failed; stopping telemetry");
                    telem = None;
                }
            }
        }
    }
    Ok(())
}

/// embedded-io writer over the non-blocking pty master. A full buffer (no
/// controller reading) fails the write; the firmware counts it as a tx error
/// instead of blocking the 50 Hz loop.
struct PtyWriter<'a>(&'a mut File);

impl embedded_io::ErrorType for PtyWriter<'_> {
    type Error = embedded_io::ErrorKind;
}

impl embedded_io::Write for PtyWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> Result<usize, Self::Error> {
        match self.0.write(buf) {
            Ok(n) => Ok(n),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Err(embedded_io::ErrorKind::Other),
            Err(_) => Err(embedded_io::ErrorKind::BrokenPipe),
        }
    }
    fn flush(&mut self) -> Result<(), Self::Error> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_servo_model_lags_and_respects_its_speed() {
        let p = HeadParams::DEFAULT;
        let m = ServoModel::default();
        let mut s = ServoState { angle_deg: [0.0; 4] };
        // 2000 µs = +45° on yaw.
        let duties = [2000, 1500, 1500, 1500];
        s.step(&p, &m, duties, 0.02);
        assert!(s.angle_deg[0] > 0.0 && s.angle_deg[0] <= 500.0 * 0.02 + 1e-3, "{}", s.angle_deg[0]);
        for _ in 0..100 {
            s.step(&p, &m, duties, 0.02);
        }
        assert!((s.angle_deg[0] - 45.0).abs() < 0.1);
    }

    #[test]
    fn a_limp_servo_keeps_its_angle() {
        let p = HeadParams::DEFAULT;
        let mut s = ServoState { angle_deg: [10.0; 4] };
        s.step(&p, &ServoModel::default(), [0; 4], 0.02);
        assert_eq!(s.angle_deg, [10.0; 4]);
    }

    #[test]
    fn the_simulator_refuses_to_replace_a_regular_file() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("head");
        std::fs::write(&f, b"keep me").unwrap();
        assert!(matches!(open_pty(&f), Err(SimError::LinkOccupied(_))));
        assert_eq!(std::fs::read(&f).unwrap(), b"keep me");
    }
}
