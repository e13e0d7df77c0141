//! The [`Head`] trait and its backends, chosen by `[head] backend`.

use crate::config::HeadConfig;
use crate::link::{HeadLink, LinkError};
use crate::pca9685::{Pca9685, Pca9685Channel};
use attune_firmware::{Firmware, HeadCore, HeadParams};
use attune_protocol::{HeadMsg, HostFrame, HostMsg, Telemetry};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Backend failures.
#[derive(Debug, thiserror::Error)]
pub enum HeadError {
    /// The serial link failed.
    #[error(transparent)]
    Link(#[from] LinkError),
    /// The head is not connected right now (reconnecting).
    #[error("head not connected (reconnecting)")]
    Disconnected,
    /// The head refused a command.
    #[error("head refused the command: {0:?}")]
    Refused(attune_protocol::CommandError),
    /// I²C / PCA9685 failure.
    #[error("pca9685: {0}")]
    Pca9685(String),
    /// Bad configuration.
    #[error(transparent)]
    Config(#[from] crate::config::HeadConfigError),
}

/// A servo head, as the runner sees it.
pub trait Head: Send {
    /// Backend name for logs.
    fn name(&self) -> &'static str;
    /// Executes one command.
    fn command(&mut self, cmd: HostMsg) -> Result<(), HeadError>;
    /// Called every 20 ms; returns the telemetry gathered since the last call.
    fn tick(&mut self, now: Instant) -> Result<Vec<Telemetry>, HeadError>;
}

/// The chatbot and voice arms: no body.
pub struct NoneHead;

impl Head for NoneHead {
    fn name(&self) -> &'static str {
        "none"
    }
    fn command(&mut self, _: HostMsg) -> Result<(), HeadError> {
        Ok(())
    }
    fn tick(&mut self, _: Instant) -> Result<Vec<Telemetry>, HeadError> {
        Ok(Vec::new())
    }
}

/// In-process simulation: the firmware core, no link.
pub struct SimHead {
    /// The head logic.
    core: HeadCore,
    /// Time zero of the core's clock.
    start: Instant,
    /// Sequence numbers for commands.
    seq: u16,
}

impl SimHead {
    /// A simulated head with `params`.
    pub fn new(params: HeadParams) -> Self {
        SimHead { core: HeadCore::new(params, crate::sim::SIM_FIRMWARE, 0), start: Instant::now(), seq: 0 }
    }
    fn now_ms(&self) -> u32 {
        self.start.elapsed().as_millis() as u32
    }
}

impl Head for SimHead {
    fn name(&self) -> &'static str {
        "sim"
    }
    fn command(&mut self, msg: HostMsg) -> Result<(), HeadError> {
        self.seq = self.seq.wrapping_add(1);
        let now = self.now_ms();
        match self.core.on_frame(HostFrame { seq: self.seq, msg }, now) {
            HeadMsg::Nack { error, .. } => Err(HeadError::Refused(error)),
            _ => Ok(()),
        }
    }
    fn tick(&mut self, _: Instant) -> Result<Vec<Telemetry>, HeadError> {
        let now = self.now_ms();
        // In-process there is no link to go quiet; the runner is the host.
        self.core.on_frame(HostFrame { seq: 0, msg: HostMsg::Heartbeat }, now);
        let pulses = self.core.step(now);
        Ok(vec![self.core.take_telemetry(now, pulses)])
    }
}

/// A board on a serial port: handshake, 10 Hz heartbeats, telemetry,
/// reconnect with exponential backoff after the port vanishes. While
/// disconnected, commands fail with [`HeadError::Disconnected`] and the
/// session goes on without the body.
pub struct SerialHead {
    /// Device path.
    path: String,
    /// Baud rate.
    baud: u32,
    /// The open link, if connected.
    link: Option<HeadLink>,
    /// Heartbeat period.
    heartbeat: Duration,
    /// Last frame sent.
    last_tx: Instant,
    /// Next reconnect attempt.
    retry_at: Instant,
    /// Current backoff.
    backoff: Duration,
    /// Backoff ceiling.
    backoff_max: Duration,
    /// Round-trip time of the last handshake.
    pub last_rtt_ms: Option<f64>,
    /// Successful (re)connections so far.
    pub connects: u32,
}

impl SerialHead {
    /// A serial head; connects on the first tick.
    pub fn new(path: &str, baud: u32, heartbeat: Duration, backoff_max: Duration) -> Self {
        SerialHead {
            path: path.into(),
            baud,
            link: None,
            heartbeat,
            last_tx: Instant::now(),
            retry_at: Instant::now(),
            backoff: Duration::from_millis(100),
            backoff_max,
            last_rtt_ms: None,
            connects: 0,
        }
    }

    /// Whether the link is up.
    pub fn connected(&self) -> bool {
        self.link.is_some()
    }

    fn connect(&mut self) -> Result<(), LinkError> {
        let mut link = HeadLink::open(&self.path, self.baud)?;
        let info = link.hello()?;
        // 10 Hz telemetry: every 5th tick of the 50 Hz loop.
        link.command(HostMsg::Subscribe { every_ticks: 5 })?;
        tracing::info!("head connected on {}: {} (rtt {:.1} ms)", self.path, info.firmware, info.rtt_ms);
        self.last_rtt_ms = Some(info.rtt_ms);
        self.link = Some(link);
        self.connects += 1;
        self.backoff = Duration::from_millis(100);
        self.last_tx = Instant::now();
        Ok(())
    }

    fn lost(&mut self, e: &LinkError) {
        tracing::warn!("head link on {} lost: {e}; reconnecting", self.path);
        self.link = None;
        self.retry_at = Instant::now() + self.backoff;
        self.backoff = (self.backoff * 2).min(self.backoff_max);
    }
}

impl Head for SerialHead {
    fn name(&self) -> &'static str {
        "serial"
    }
    fn command(&mut self, msg: HostMsg) -> Result<(), HeadError> {
        let Some(link) = self.link.as_mut() else { return Err(HeadError::Disconnected) };
        match link.command(msg) {
            Ok(_) => {
                self.last_tx = Instant::now();
                Ok(())
            }
            Err(LinkError::Refused { error, .. }) => Err(HeadError::Refused(error)),
            Err(e) => {
                self.lost(&e);
                Err(e.into())
            }
        }
    }
    fn tick(&mut self, now: Instant) -> Result<Vec<Telemetry>, HeadError> {
        if self.link.is_none() {
            if now < self.retry_at {
                return Ok(Vec::new());
            }
            if let Err(e) = self.connect() {
                tracing::debug!("reconnect to {} failed: {e}", self.path);
                self.retry_at = now + self.backoff;
                self.backoff = (self.backoff * 2).min(self.backoff_max);
                return Ok(Vec::new());
            }
        }
        if now.duration_since(self.last_tx) >= self.heartbeat {
            self.command(HostMsg::Heartbeat)?;
        }
        let mut out = Vec::new();
        if let Some(link) = self.link.as_mut() {
            match link.next_telemetry(Duration::ZERO) {
                Ok(Some(t)) => {
                    out.push(t);
                    while let Ok(Some(t)) = link.next_telemetry(Duration::ZERO) {
                        out.push(t);
                    }
                }
                Ok(None) => {}
                Err(e) => {
                    self.lost(&e);
                    return Err(e.into());
                }
            }
        }
        Ok(out)
    }
}

/// A head on a PCA9685 on the Pi's I²C, driven by the firmware logic itself.
pub struct Pca9685Head<I: embedded_hal::i2c::I2c + Send> {
    /// Firmware over four PCA9685 channels.
    fw: Firmware<Pca9685Channel<I>>,
    /// Clock origin.
    start: Instant,
    /// Sequence numbers.
    seq: u16,
}

impl<I: embedded_hal::i2c::I2c + Send> Pca9685Head<I>
where
    I::Error: std::fmt::Debug,
{
    /// Configures the chip and drives the park pose.
    pub fn new(i2c: I, addr: u8, channels: [u8; 4], params: HeadParams) -> Result<Self, HeadError> {
        let chip = Pca9685::new(i2c, addr).map_err(|e| HeadError::Pca9685(format!("{e:?}")))?;
        let chip = Arc::new(Mutex::new(chip));
        let chans = channels.map(|c| Pca9685Channel::new(chip.clone(), c));
        let fw = Firmware::new(params, "attune-head-pca9685", chans, 0)
            .map_err(|attune_firmware::FirmwareError::Pwm(e)| HeadError::Pca9685(format!("{e:?}")))?;
        Ok(Pca9685Head { fw, start: Instant::now(), seq: 0 })
    }
}

impl<I: embedded_hal::i2c::I2c + Send> Head for Pca9685Head<I>
where
    I::Error: std::fmt::Debug,
{
    fn name(&self) -> &'static str {
        "pca9685"
    }
    fn command(&mut self, msg: HostMsg) -> Result<(), HeadError> {
        self.seq = self.seq.wrapping_add(1);
        let now = self.start.elapsed().as_millis() as u32;
        match self.fw.core.on_frame(HostFrame { seq: self.seq, msg }, now) {
            HeadMsg::Nack { error, .. } => Err(HeadError::Refused(error)),
            _ => Ok(()),
        }
    }
    fn tick(&mut self, _: Instant) -> Result<Vec<Telemetry>, HeadError> {
        let now = self.start.elapsed().as_millis() as u32;
        // The runner is the host here; it feeds the watchdog while alive.
        self.fw.core.on_frame(HostFrame { seq: 0, msg: HostMsg::Heartbeat }, now);
        let _ = self.fw.core.params();
        match self.fw.tick(now) {
            Ok(_) => Ok(vec![self.fw.core.take_telemetry(now, self.fw.pulses_us())]),
            Err(attune_firmware::FirmwareError::Pwm(e)) => Err(HeadError::Pca9685(format!("{e:?}"))),
        }
    }
}

/// The backend `cfg` names, validated first.
pub fn from_config(cfg: &HeadConfig) -> Result<Box<dyn Head>, HeadError> {
    cfg.validate()?;
    Ok(match cfg.backend.as_str() {
        "serial" => Box::new(SerialHead::new(
            &cfg.port,
            cfg.baud,
            Duration::from_millis(cfg.heartbeat_ms),
            Duration::from_millis(cfg.reconnect_max_ms),
        )),
        "pca9685" => {
            let i2c = linux_embedded_hal::I2cdev::new(&cfg.i2c_bus)
                .map_err(|e| HeadError::Pca9685(format!("opening {}: {e}", cfg.i2c_bus)))?;
            Box::new(Pca9685Head::new(i2c, cfg.pca9685_address, cfg.pca9685_channels, cfg.params())?)
        }
        "sim" => Box::new(SimHead::new(cfg.params())),
        _ => Box::new(NoneHead),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::head_channel;
    use attune_protocol::{GestureKind, Mode, PoseTarget};

    #[test]
    fn a_handle_drives_the_sim_backend_and_park_is_never_lost_behind_a_full_queue() {
        let (h, runner) = head_channel(Box::new(SimHead::new(HeadParams::DEFAULT)), 2);
        let tel = h.subscribe(256);
        // Fill the queue before the runner starts: the third pose is refused.
        let t = PoseTarget { yaw_deg: Some(30.0), ..PoseTarget::default() };
        h.set_pose(t, 300).unwrap();
        h.gesture(GestureKind::Nod).unwrap();
        assert_eq!(h.set_pose(t, 300), Err(crate::HandleError::Full));
        h.park();
        let th = std::thread::spawn(move || runner.run());
        // Park came first and dropped the queued poses: the head parks.
        let mut parked = false;
        let deadline = Instant::now() + Duration::from_secs(3);
        while Instant::now() < deadline {
            if let Ok(s) = tel.recv_timeout(Duration::from_millis(200)) {
                assert!(s.angles.yaw_deg.abs() < 1e-3, "a dropped pose moved yaw: {}", s.angles.yaw_deg);
                if s.mode == Mode::Parked {
                    parked = true;
                    break;
                }
            }
        }
        assert!(parked);
        h.set_pose(t, 300).unwrap();
        let mut reached = false;
        while let Ok(s) = tel.recv_timeout(Duration::from_millis(500)) {
            if (s.angles.yaw_deg - 30.0).abs() < 1e-3 {
                reached = true;
                break;
            }
        }
        assert!(reached);
        h.shutdown();
        th.join().unwrap();
    }
}
