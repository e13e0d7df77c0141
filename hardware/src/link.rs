//! Blocking host side of the head link over any byte stream (a serial port or
//! a pty): handshake, commands with acks and retries, telemetry.

use attune_protocol::{
    encode_frame, CommandError, FrameDecoder, HeadMsg, HostFrame, HostMsg, JointMask, Telemetry, MAX_FRAME,
    PROTOCOL_VERSION,
};
use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::time::{Duration, Instant};

/// Link failures, by cause.
#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    /// The port could not be opened.
    #[error("cannot open head port {path}: {source}")]
    Open {
        /// The port.
        path: String,
        /// Why.
        source: serialport::Error,
    },
    /// Reading or writing failed (port vanished, cable pulled).
    #[error("head link I/O: {0}")]
    Io(#[from] io::Error),
    /// No reply within the deadline, after retries.
    #[error("head did not answer {what} within {waited_ms} ms ({attempts} attempts)")]
    Timeout {
        /// The command.
        what: &'static str,
        /// Total wait.
        waited_ms: u64,
        /// Sends tried.
        attempts: u32,
    },
    /// The head refused the command.
    #[error("head refused {what}: {error}")]
    Refused {
        /// The command.
        what: &'static str,
        /// The head's reason.
        error: CommandError,
    },
    /// The head speaks another protocol version.
    #[error("head speaks protocol {head}, this host speaks {PROTOCOL_VERSION}")]
    Version {
        /// The head's version.
        head: u8,
    },
}

/// What the handshake learned.
#[derive(Debug, Clone, PartialEq)]
pub struct HelloInfo {
    /// Firmware name and version.
    pub firmware: String,
    /// Head protocol version.
    pub protocol: u8,
    /// Round-trip time of the handshake.
    pub rtt_ms: f64,
}

/// Host-side counters (logged and reported alongside the head's).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HostLinkStats {
    /// Commands resent after a timeout.
    pub retries: u32,
    /// Frames from the head the decoder rejected.
    pub bad_frames: u32,
    /// Replies whose sequence number matched no pending command.
    pub stray_replies: u32,
}

fn msg_name(m: &HostMsg) -> &'static str {
    match m {
        HostMsg::Hello { .. } => "hello",
        HostMsg::Heartbeat => "heartbeat",
        HostMsg::SetPose { .. } => "set_pose",
        HostMsg::Gesture { .. } => "gesture",
        HostMsg::Park => "park",
        HostMsg::Stop => "stop",
        HostMsg::EStop => "estop",
        HostMsg::Resume => "resume",
        HostMsg::Subscribe { .. } => "subscribe",
    }
}

/// Anything the link can run over.
pub trait Stream: Read + Write + Send {}
impl<T: Read + Write + Send> Stream for T {}

/// A head link over a byte stream whose reads time out quickly (≈10 ms).
pub struct HeadLink {
    /// The port.
    io: Box<dyn Stream>,
    /// Receive framing.
    dec: FrameDecoder,
    /// Next sequence number.
    seq: u16,
    /// Telemetry that arrived while waiting for acks.
    telemetry: VecDeque<Telemetry>,
    /// Host-side counters.
    pub stats: HostLinkStats,
    /// How long to wait for one reply before resending.
    pub reply_timeout: Duration,
    /// Sends per command before giving up.
    pub attempts: u32,
}

/// Opens a serial device (or pty) for the head link.
pub fn open_port(path: &str, baud: u32) -> Result<Box<dyn Stream>, LinkError> {
    let mut port = serialport::new(path, baud)
        .timeout(Duration::from_millis(10))
        .open_native()
        .map_err(|source| LinkError::Open { path: path.into(), source })?;
    // Design: serialport takes the tty exclusively; a controller killed with
    // SIGKILL cannot release that, and the next one would get EBUSY. The
    // protocol tolerates a second opener, so don't lock.
    let _ = port.set_exclusive(false);
    Ok(Box::new(port))
}

impl HeadLink {
    /// A link over `io` (see [`open_port`]).
    pub fn new(io: Box<dyn Stream>) -> Self {
        // Design: each link starts at its own sequence number, so a reply
        // left in the port's buffer by an earlier process (the same numbers,
        // had every process started at 0) can never acknowledge this one's
        // command.
        let seed = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0);
        let seq = (seed ^ (seed >> 16) ^ std::process::id()) as u16;
        HeadLink {
            io,
            dec: FrameDecoder::new(),
            seq,
            telemetry: VecDeque::new(),
            stats: HostLinkStats::default(),
            reply_timeout: Duration::from_millis(250),
            attempts: 5,
        }
    }

    /// Opens `path` and returns a link (no handshake yet).
    pub fn open(path: &str, baud: u32) -> Result<Self, LinkError> {
        Ok(Self::new(open_port(path, baud)?))
    }

    /// Decoder counters for frames from the head.
    pub fn decoder_stats(&self) -> attune_protocol::DecoderStats {
        self.dec.stats
    }

    fn send(&mut self, f: &HostFrame) -> Result<(), LinkError> {
        let mut out = [0u8; MAX_FRAME + 1];
        // A leading delimiter ends any half frame the head still holds.
        out[0] = 0;
        let mut frame = [0u8; MAX_FRAME];
        let n = encode_frame(f, &mut frame).map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e.to_string()))?;
        out[1..=n].copy_from_slice(&frame[..n]);
        self.io.write_all(&out[..=n])?;
        self.io.flush()?;
        Ok(())
    }

    /// Reads whatever arrives until `deadline`, returning the first
    /// non-telemetry message (telemetry is queued). With `stop_on_telemetry`
    /// it also returns as soon as telemetry is queued.
    fn read_until(&mut self, deadline: Instant, stop_on_telemetry: bool) -> Result<Option<HeadMsg>, LinkError> {
        let mut buf = [0u8; 256];
        loop {
            let n = match self.io.read(&mut buf) {
                // Design: a raw tty may legitimately return 0 bytes, so 0 is
                // "nothing yet", not end-of-file. A vanished port (board
                // unplugged, simulator gone) fails the read with EIO instead,
                // which ends up in the error arm and triggers a reconnect.
                Ok(n) => n,
                Err(e) if matches!(e.kind(), io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted) => 0,
                Err(e) => return Err(e.into()),
            };
            let mut found = None;
            for &b in &buf[..n] {
                match self.dec.push::<HeadMsg>(b) {
                    Some(Ok(HeadMsg::Telemetry(t))) => {
                        if self.telemetry.len() >= 256 {
                            self.telemetry.pop_front();
                        }
                        self.telemetry.push_back(t);
                    }
                    Some(Ok(m)) if found.is_none() => found = Some(m),
                    Some(Ok(_)) => self.stats.stray_replies += 1,
                    Some(Err(e)) => {
                        self.stats.bad_frames += 1;
                        tracing::debug!("bad frame from head: {e}");
                    }
                    None => {}
                }
            }
            if found.is_some() || (stop_on_telemetry && !self.telemetry.is_empty()) {
                // Design: bytes after the reply in this read were fed to
                // the decoder already; only a second reply could be lost,
                // and it is counted as stray.
                return Ok(found);
            }
            if Instant::now() >= deadline {
                return Ok(None);
            }
        }
    }

    /// Sends `msg` and waits for its reply, resending on timeout.
    pub fn request(&mut self, msg: HostMsg) -> Result<HeadMsg, LinkError> {
        self.seq = self.seq.wrapping_add(1);
        let f = HostFrame { seq: self.seq, msg };
        let start = Instant::now();
        for attempt in 0..self.attempts {
            if attempt > 0 {
                self.stats.retries += 1;
                tracing::debug!("resending {} (attempt {})", msg_name(&msg), attempt + 1);
            }
            self.send(&f)?;
            let deadline = Instant::now() + self.reply_timeout;
            while let Some(reply) = self.read_until(deadline, false)? {
                let seq = match reply {
                    HeadMsg::Hello { seq, .. } | HeadMsg::Ack { seq, .. } | HeadMsg::Nack { seq, .. } => seq,
                    HeadMsg::Telemetry(_) => continue,
                };
                if seq != f.seq {
                    self.stats.stray_replies += 1;
                    continue;
                }
                if let HeadMsg::Nack { error, .. } = reply {
                    if let CommandError::ProtocolMismatch { head } = error {
                        return Err(LinkError::Version { head });
                    }
                    return Err(LinkError::Refused { what: msg_name(&msg), error });
                }
                return Ok(reply);
            }
        }
        Err(LinkError::Timeout {
            what: msg_name(&msg),
            waited_ms: start.elapsed().as_millis() as u64,
            attempts: self.attempts,
        })
    }

    /// Handshake; measures the round trip.
    pub fn hello(&mut self) -> Result<HelloInfo, LinkError> {
        let t0 = Instant::now();
        match self.request(HostMsg::Hello { protocol: PROTOCOL_VERSION })? {
            HeadMsg::Hello { protocol, firmware, .. } => {
                let rtt_ms = t0.elapsed().as_secs_f64() * 1000.0;
                if protocol != PROTOCOL_VERSION {
                    return Err(LinkError::Version { head: protocol });
                }
                Ok(HelloInfo { firmware: firmware.as_str().to_string(), protocol, rtt_ms })
            }
            other => Err(LinkError::Io(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("unexpected handshake reply {other:?}"),
            ))),
        }
    }

    /// Sends a command expecting an ack; returns the clamped joints.
    pub fn command(&mut self, msg: HostMsg) -> Result<JointMask, LinkError> {
        match self.request(msg)? {
            HeadMsg::Ack { clamped, .. } => Ok(clamped),
            _ => Ok(JointMask::default()),
        }
    }

    /// Next telemetry sample, waiting up to `timeout`.
    pub fn next_telemetry(&mut self, timeout: Duration) -> Result<Option<Telemetry>, LinkError> {
        if let Some(t) = self.telemetry.pop_front() {
            return Ok(Some(t));
        }
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Some(m) = self.read_until(deadline, true)? {
                self.stats.stray_replies += 1;
                tracing::debug!("unsolicited reply {m:?}");
            }
            if let Some(t) = self.telemetry.pop_front() {
                return Ok(Some(t));
            }
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use attune_protocol::FirmwareId;
    use std::os::unix::net::UnixStream;

    /// A scripted head on the other end of a socket pair: answers each
    /// command with `reply(seq)`, after writing `noise` first.
    fn fake_head(noise: Vec<u8>, reply: fn(u16) -> HeadMsg) -> (HeadLink, std::thread::JoinHandle<()>) {
        let (host, mut head) = UnixStream::pair().unwrap();
        host.set_read_timeout(Some(Duration::from_millis(10))).unwrap();
        let th = std::thread::spawn(move || {
            let mut dec = FrameDecoder::new();
            let mut buf = [0u8; 64];
            let _ = head.write_all(&noise);
            while let Ok(n) = head.read(&mut buf) {
                if n == 0 {
                    return;
                }
                for &b in &buf[..n] {
                    if let Some(Ok(f)) = dec.push::<HostFrame>(b) {
                        let mut out = [0u8; MAX_FRAME];
                        let len = encode_frame(&reply(f.seq), &mut out).unwrap();
                        let _ = head.write_all(&out[..len]);
                    }
                }
            }
        });
        (HeadLink::new(Box::new(host)), th)
    }

    #[test]
    fn a_head_speaking_another_protocol_version_is_reported_as_such() {
        let (mut link, th) = fake_head(Vec::new(), |seq| HeadMsg::Hello {
            seq,
            protocol: PROTOCOL_VERSION + 1,
            firmware: FirmwareId::new("future"),
        });
        match link.hello() {
            Err(LinkError::Version { head }) => assert_eq!(head, PROTOCOL_VERSION + 1),
            other => panic!("expected a version error, got {other:?}"),
        }
        drop(link);
        th.join().unwrap();
    }

    #[test]
    fn garbage_from_the_head_is_counted_and_the_reply_still_arrives() {
        let noise = [0x13u8, 0x37, 0, 0xFF, 0xFF, 0x01, 0].repeat(5);
        let (mut link, th) = fake_head(noise, |seq| HeadMsg::Ack { seq, clamped: JointMask(0b10) });
        let clamped = link.command(HostMsg::Heartbeat).unwrap();
        assert_eq!(clamped, JointMask(0b10));
        assert!(link.stats.bad_frames >= 5, "{:?}", link.stats);
        drop(link);
        th.join().unwrap();
    }

    #[test]
    fn a_silent_head_times_out_after_the_configured_attempts() {
        let (host, _head) = UnixStream::pair().unwrap();
        host.set_read_timeout(Some(Duration::from_millis(10))).unwrap();
        let mut link = HeadLink::new(Box::new(host));
        link.reply_timeout = Duration::from_millis(30);
        link.attempts = 2;
        match link.command(HostMsg::Park) {
            Err(LinkError::Timeout { what: "park", attempts: 2, .. }) => {}
            other => panic!("expected a timeout, got {other:?}"),
        }
        assert_eq!(link.stats.retries, 1);
    }
}
