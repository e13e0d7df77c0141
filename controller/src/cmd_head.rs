//! `attune head ...`: servo head tools and the simulator (issue 3).
//!
//! Every command but `sim` and `calibrate` talks the head protocol over
//! `--port` (a board's serial device, or the simulator's link).

use anyhow::{bail, Context, Result};
use attune_hardware::link::HeadLink;
use attune_hardware::protocol::{GestureKind, HostMsg, Joint, Mode, PoseTarget};
use attune_hardware::sim::{self, SimOptions};
use attune_hardware::{telemetry_json, HeadConfig, JointConfig};
use clap::{Subcommand, ValueEnum};
use std::io::{BufRead, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Debug, Subcommand)]
pub enum HeadCmd {
    /// Run the firmware on this machine behind a pseudo-terminal; PATH becomes
    /// a symlink to it that every other `head` command accepts as --port.
    Sim {
        /// Where to create the symlink to the pty.
        #[arg(long)]
        link: PathBuf,
        /// Write 50 Hz telemetry as JSONL here.
        #[arg(long)]
        telemetry: Option<PathBuf>,
        /// Fault: drop each incoming byte with this probability.
        #[arg(long, default_value_t = 0.0)]
        drop: f64,
        /// Fault: flip a bit in each incoming byte with this probability.
        #[arg(long, default_value_t = 0.0)]
        corrupt: f64,
        /// Fault: stop reading the link for --stall-ms every this many ms.
        #[arg(long, default_value_t = 0)]
        stall_every_ms: u64,
        /// Fault: length of each stall.
        #[arg(long, default_value_t = 0)]
        stall_ms: u64,
        /// Fault: pull the cable (remove the pty) this many ms after the host's first byte ...
        #[arg(long)]
        disconnect_after_ms: Option<u64>,
        /// ... and plug it back in after this many ms.
        #[arg(long, default_value_t = 1000)]
        disconnect_for_ms: u64,
        /// Seed for the fault RNG.
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
    /// Handshake; prints {"firmware", "protocol", "rtt_ms"}.
    Ping(PortArgs),
    /// Move joints (degrees) and wait until the head holds the pose.
    Move {
        #[command(flatten)]
        port: PortArgs,
        /// Yaw target.
        #[arg(long, allow_hyphen_values = true)]
        yaw: Option<f32>,
        /// Pitch target.
        #[arg(long, allow_hyphen_values = true)]
        pitch: Option<f32>,
        /// Roll target.
        #[arg(long, allow_hyphen_values = true)]
        roll: Option<f32>,
        /// Lean target.
        #[arg(long, allow_hyphen_values = true)]
        lean: Option<f32>,
        /// Move duration (stretched if the limits need longer).
        #[arg(long, default_value_t = 600)]
        ms: u16,
    },
    /// Play a gesture and wait until it is done.
    Gesture {
        #[command(flatten)]
        port: PortArgs,
        /// Which gesture.
        kind: GestureArg,
    },
    /// Ease to the park pose and wait until parked.
    Park(PortArgs),
    /// Print telemetry (JSONL, 50 Hz) for a while.
    Monitor {
        #[command(flatten)]
        port: PortArgs,
        /// How long.
        #[arg(long, default_value_t = 5.0)]
        seconds: f64,
    },
    /// Interactive per-joint calibration; prints the `[head.<joint>]` tables.
    Calibrate,
}

#[derive(Debug, clap::Args)]
pub struct PortArgs {
    /// Serial device of the head (or the simulator's --link).
    #[arg(long)]
    port: String,
    /// Baud rate (boards on a UART; ignored by USB CDC and the simulator).
    #[arg(long, default_value_t = 115_200)]
    baud: u32,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum GestureArg {
    Nod,
    Shake,
    Tilt,
}

impl From<GestureArg> for GestureKind {
    fn from(g: GestureArg) -> Self {
        match g {
            GestureArg::Nod => GestureKind::Nod,
            GestureArg::Shake => GestureKind::Shake,
            GestureArg::Tilt => GestureKind::Tilt,
        }
    }
}

pub fn run(cmd: HeadCmd) -> Result<()> {
    match cmd {
        HeadCmd::Sim {
            link,
            telemetry,
            drop,
            corrupt,
            stall_every_ms,
            stall_ms,
            disconnect_after_ms,
            disconnect_for_ms,
            seed,
        } => {
            for (name, p) in [("--drop", drop), ("--corrupt", corrupt)] {
                if !(0.0..=1.0).contains(&p) {
                    bail!("{name} must be a probability in [0, 1], got {p}");
                }
            }
            let opts = SimOptions {
                link,
                telemetry,
                params: HeadConfig::default().params(),
                servo: sim::ServoModel::default(),
                faults: sim::Faults {
                    drop_rate: drop,
                    corrupt_rate: corrupt,
                    stall_every_ms,
                    stall_ms,
                    disconnect_after_ms,
                    disconnect_for_ms,
                    seed,
                },
            };
            let stop = Arc::new(AtomicBool::new(false));
            spawn_signal_watcher(stop.clone())?;
            eprintln!("attune head sim: link {}", opts.link.display());
            sim::run(opts, stop)?;
            Ok(())
        }
        HeadCmd::Ping(p) => {
            let mut link = HeadLink::open(&p.port, p.baud)?;
            let info = link.hello()?;
            println!(
                "{}",
                serde_json::json!({"firmware": info.firmware, "protocol": info.protocol, "rtt_ms": round2(info.rtt_ms)})
            );
            Ok(())
        }
        HeadCmd::Move { port, yaw, pitch, roll, lean, ms } => {
            let target = PoseTarget { yaw_deg: yaw, pitch_deg: pitch, roll_deg: roll, lean_deg: lean };
            if target.to_array().iter().all(Option::is_none) {
                bail!("move: give at least one of --yaw, --pitch, --roll, --lean");
            }
            for (j, v) in Joint::ALL.iter().zip(target.to_array()) {
                if let Some(v) = v.filter(|v| !v.is_finite()) {
                    bail!("move: --{} must be a finite angle in degrees, got {v} (not finite)", j.name());
                }
            }
            drive(&port, HostMsg::SetPose { target, duration_ms: ms }, &[Mode::Holding])
        }
        HeadCmd::Gesture { port, kind } => drive(&port, HostMsg::Gesture { kind: kind.into() }, &[Mode::Holding]),
        HeadCmd::Park(port) => drive(&port, HostMsg::Park, &[Mode::Parked]),
        HeadCmd::Monitor { port, seconds } => monitor(&port, seconds),
        HeadCmd::Calibrate => {
            let stdin = std::io::stdin();
            let mut out = std::io::stdout();
            calibrate(&mut stdin.lock(), &mut out)
        }
    }
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// Stops the simulator on SIGINT/SIGTERM so it removes its link.
fn spawn_signal_watcher(stop: Arc<AtomicBool>) -> Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    std::thread::spawn(move || {
        rt.block_on(async move {
            let Ok(mut term) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) else {
                return;
            };
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            stop.store(true, Ordering::SeqCst);
        })
    });
    Ok(())
}

/// Sends of a pose whose new target the head does not report.
const POSE_ATTEMPTS: u32 = 4;

/// How long after an acknowledged pose the head's telemetry must show the
/// new target before the pose is sent again.
const CONFIRM_WAIT: Duration = Duration::from_millis(400);

/// Whether telemetry `t` shows the targets of a pose command: joints the head
/// did not clamp hold exactly the requested angle; a clamped one holds a
/// limit between the centre (0°, inside every joint's range) and the
/// requested angle. (The host does not know a board's limits, so a clamped
/// joint is the weaker check; the other joints are exact.)
fn pose_confirmed(t: &attune_hardware::protocol::Telemetry, want: &[Option<f32>; 4], clamped: attune_hardware::protocol::JointMask) -> bool {
    let have = t.targets.to_array();
    Joint::ALL.iter().all(|j| match want[j.index()] {
        None => true,
        Some(w) if clamped.contains(*j) => {
            let h = have[j.index()];
            h.abs() < w.abs() && (h == 0.0 || h.signum() == w.signum())
        }
        Some(w) => (have[j.index()] - w).abs() < 1e-3,
    })
}

fn describe_targets(want: &[Option<f32>; 4], t: Option<&attune_hardware::protocol::Telemetry>) -> String {
    Joint::ALL
        .iter()
        .filter_map(|j| {
            let w = want[j.index()]?;
            let have = t.map(|t| format!("{}", t.targets.to_array()[j.index()])).unwrap_or_else(|| "nothing".into());
            Some(format!("{} target {w} (head reports {have})", j.name()))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Sends one command, then keeps the watchdog fed until the head reports a
/// `done` mode; prints one JSON line with the outcome.
///
/// Design: an ack alone is not taken as proof for a pose: the head must
/// report the new target in its telemetry. If it does not within
/// [`CONFIRM_WAIT`], the pose is sent again (up to [`POSE_ATTEMPTS`] times),
/// and then the command fails with the targets the head does report.
fn drive(port: &PortArgs, msg: HostMsg, done: &[Mode]) -> Result<()> {
    let mut link = HeadLink::open(&port.port, port.baud)?;
    link.hello()?;
    link.command(HostMsg::Subscribe { every_ticks: 1 })?;
    let t0 = Instant::now();
    let want = match msg {
        HostMsg::SetPose { target, .. } => Some(target.to_array()),
        _ => None,
    };
    let mut clamped = link.command(msg)?;
    let mut attempts = 1u32;
    let mut sent_at = Instant::now();
    let mut confirmed = want.is_none();
    let mut last_seen: Option<attune_hardware::protocol::Telemetry> = None;
    let deadline = t0 + Duration::from_secs(10);
    let mut last_hb = Instant::now();
    let mut busy_seen = false;
    let final_t = loop {
        if Instant::now() > deadline {
            bail!("head did not finish within 10 s");
        }
        if last_hb.elapsed() >= Duration::from_millis(100) {
            link.command(HostMsg::Heartbeat)?;
            last_hb = Instant::now();
        }
        let sample = link.next_telemetry(Duration::from_millis(100))?;
        if let (Some(w), false) = (&want, confirmed) {
            if let Some(t) = &sample {
                last_seen = Some(*t);
                confirmed = pose_confirmed(t, w, clamped);
            }
            if !confirmed && sent_at.elapsed() >= CONFIRM_WAIT {
                if attempts >= POSE_ATTEMPTS {
                    bail!(
                        "head acknowledged the move but never reported the new target after {attempts} attempts: {}",
                        describe_targets(w, last_seen.as_ref())
                    );
                }
                tracing::warn!("head acknowledged the move but does not report its target; sending it again");
                clamped = link.command(msg)?;
                attempts += 1;
                sent_at = Instant::now();
            }
            continue;
        }
        let Some(t) = sample else { continue };
        if want.is_some() {
            // The target is confirmed, so this sample is from after the
            // command: holding means the move is complete.
            if done.contains(&t.mode) {
                break t;
            }
            continue;
        }
        // Design: the first samples may predate the command; wait until the
        // head has left the done state once (or is already there after the
        // move's own duration for a no-op move).
        if !done.contains(&t.mode) {
            busy_seen = true;
            continue;
        }
        if busy_seen || t0.elapsed() > Duration::from_millis(200) {
            break t;
        }
    };
    let _ = link.command(HostMsg::Subscribe { every_ticks: 0 });
    let clamped: Vec<&str> = Joint::ALL.iter().filter(|j| clamped.contains(**j)).map(|j| j.name()).collect();
    let mut v = telemetry_json(&final_t);
    v["ok"] = serde_json::json!(true);
    v["attempts"] = serde_json::json!(attempts);
    v["clamped"] = serde_json::json!(clamped);
    v["elapsed_ms"] = serde_json::json!(t0.elapsed().as_millis() as u64);
    println!("{v}");
    Ok(())
}

fn monitor(port: &PortArgs, seconds: f64) -> Result<()> {
    if !(seconds.is_finite() && seconds > 0.0) {
        bail!("--seconds must be positive, got {seconds}");
    }
    let end = Instant::now() + Duration::from_secs_f64(seconds);
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    // Reconnects if the port vanishes (cable pulled, simulator restarted).
    while Instant::now() < end {
        let mut link = match HeadLink::open(&port.port, port.baud).and_then(|mut l| {
            l.hello()?;
            l.command(HostMsg::Subscribe { every_ticks: 1 })?;
            Ok(l)
        }) {
            Ok(l) => l,
            Err(e) => {
                eprintln!("attune head monitor: {e}; retrying");
                std::thread::sleep(Duration::from_millis(200));
                continue;
            }
        };
        loop {
            if Instant::now() >= end {
                let _ = link.command(HostMsg::Subscribe { every_ticks: 0 });
                return Ok(());
            }
            match link.next_telemetry(Duration::from_millis(200)) {
                Ok(Some(t)) => {
                    if let Err(e) = writeln!(out, "{}", telemetry_json(&t)) {
                        // A closed pipe (`monitor | head`) is the reader saying
                        // it has enough: stop quietly, like other Unix tools.
                        let _ = link.command(HostMsg::Subscribe { every_ticks: 0 });
                        if e.kind() == std::io::ErrorKind::BrokenPipe {
                            return Ok(());
                        }
                        return Err(e).context("writing telemetry to stdout");
                    }
                }
                Ok(None) => {}
                Err(e) => {
                    eprintln!("attune head monitor: link lost: {e}; reconnecting");
                    break;
                }
            }
        }
    }
    Ok(())
}

/// Interactive calibration: for each joint, asks for two measured
/// (angle, pulse) points and the limits; an empty answer keeps the default.
/// Prints the resulting `[head.<joint>]` TOML tables, validated.
pub fn calibrate(input: &mut dyn BufRead, out: &mut dyn Write) -> Result<()> {
    let mut cfg = HeadConfig::default();
    writeln!(
        out,
        "Calibrate each joint: drive the servo to two known angles (e.g. with a servo tester),\n\
         note the pulse widths, and enter them. Press Enter to keep a default."
    )?;
    for j in Joint::ALL {
        let d = cfg.joint(j);
        writeln!(out, "--- {} ---", j.name())?;
        let mut c: JointConfig = d;
        c.cal_a_deg = ask(input, out, &format!("{} first angle deg", j.name()), d.cal_a_deg)?;
        c.cal_a_us = ask(input, out, &format!("{} pulse us at {} deg", j.name(), c.cal_a_deg), d.cal_a_us)?;
        c.cal_b_deg = ask(input, out, &format!("{} second angle deg", j.name()), d.cal_b_deg)?;
        c.cal_b_us = ask(input, out, &format!("{} pulse us at {} deg", j.name(), c.cal_b_deg), d.cal_b_us)?;
        c.min_deg = ask(input, out, &format!("{} min deg", j.name()), d.min_deg)?;
        c.max_deg = ask(input, out, &format!("{} max deg", j.name()), d.max_deg)?;
        c.park_deg = ask(input, out, &format!("{} park deg", j.name()), d.park_deg)?;
        cfg.set_joint(j, c);
    }
    cfg.validate().context("calibration rejected")?;
    writeln!(out, "# Paste into your attune config:")?;
    for j in Joint::ALL {
        let table = toml::to_string(&cfg.joint(j)).context("rendering TOML")?;
        writeln!(out, "[head.{}]\n{}", j.name(), table)?;
    }
    Ok(())
}

fn ask<T: std::str::FromStr + std::fmt::Display>(
    input: &mut dyn BufRead,
    out: &mut dyn Write,
    prompt: &str,
    default: T,
) -> Result<T> {
    loop {
        write!(out, "{prompt} [{default}]: ")?;
        out.flush()?;
        let mut line = String::new();
        if input.read_line(&mut line)? == 0 {
            bail!("calibration input ended at \"{prompt}\"");
        }
        let s = line.trim();
        if s.is_empty() {
            return Ok(default);
        }
        match s.parse::<T>() {
            Ok(v) => return Ok(v),
            Err(_) => writeln!(out, "not a number: {s:?}; try again")?,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use attune_hardware::protocol::{Counters, Faults, JointMask, Pose, Telemetry};

    fn sample(targets: Pose) -> Telemetry {
        Telemetry {
            t_ms: 0,
            angles: targets,
            targets,
            pulse_us: [1500; 4],
            mode: Mode::Moving,
            faults: Faults::default(),
            heartbeat_age_ms: 0,
            counters: Counters::default(),
        }
    }

    #[test]
    fn a_pose_is_confirmed_only_by_telemetry_showing_its_new_target() {
        let want = [Some(30.0), None, None, None];
        let old = sample(Pose { yaw_deg: 20.0, ..Pose::default() });
        let new = sample(Pose { yaw_deg: 30.0, pitch_deg: 5.0, ..Pose::default() });
        assert!(!pose_confirmed(&old, &want, JointMask::default()), "the old target is not a confirmation");
        assert!(pose_confirmed(&new, &want, JointMask::default()), "joints not asked for may hold anything");
        // Clamped: the head holds its limit between the centre and the request.
        let mut clamped = JointMask::default();
        clamped.insert(Joint::Yaw);
        let want = [Some(120.0), None, None, None];
        assert!(pose_confirmed(&sample(Pose { yaw_deg: 80.0, ..Pose::default() }), &want, clamped));
        assert!(!pose_confirmed(&sample(Pose { yaw_deg: -10.0, ..Pose::default() }), &want, clamped));
        assert!(describe_targets(&[Some(30.0), None, None, None], Some(&old)).contains("yaw target 30 (head reports 20)"));
    }
}
