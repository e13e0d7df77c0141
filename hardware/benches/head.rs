//! Head benchmarks (`cargo bench -p attune-hardware --bench head`). Prints
//! figures, each beside a reference measured in the same run:
//! 1. codec frames/s: our framing (postcard + CRC + COBS, fixed-buffer
//!    decoder) vs bare postcard vs serde_json of the same messages;
//! 2. command-to-PWM latency over a real pty to the simulator, p50/p99, vs
//!    the bare handshake round trip on the same pty;
//! 3. a look-away streamed at 50 Hz as the behaviour planner sends it: time
//!    until the head's commanded angle is within 10 % of it, vs the stream
//!    itself and vs the same angle sent as one move from rest;
//! 4. 50 Hz loop period jitter p99, idle vs with every core busy.

use attune_hardware::backends::SimHead;
use attune_hardware::firmware::HeadParams;
use attune_hardware::link::HeadLink;
use attune_hardware::protocol::{
    encode_frame, Counters, Faults, FrameDecoder, HeadMsg, HostFrame, HostMsg, Mode, Pose, PoseTarget, Telemetry,
    MAX_FRAME,
};
use attune_hardware::sim::{self, SimOptions};
use std::hint::black_box;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn pct(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    if v.is_empty() {
        return f64::NAN;
    }
    v[((v.len() - 1) as f64 * p).round() as usize]
}

fn telemetry() -> HeadMsg {
    HeadMsg::Telemetry(Telemetry {
        t_ms: 123_456,
        angles: Pose { yaw_deg: 12.5, pitch_deg: -3.0, roll_deg: 4.0, lean_deg: 1.0 },
        targets: Pose { yaw_deg: 20.0, pitch_deg: -5.0, roll_deg: 0.0, lean_deg: 2.0 },
        pulse_us: [1639, 1467, 1544, 1511],
        mode: Mode::Moving,
        faults: Faults(0),
        heartbeat_age_ms: 40,
        counters: Counters { frames_ok: 9_000, crc_errors: 3, ..Counters::default() },
    })
}

fn codec() {
    let cmd = HostFrame {
        seq: 77,
        msg: HostMsg::SetPose {
            target: PoseTarget { yaw_deg: Some(20.0), pitch_deg: Some(-5.0), roll_deg: None, lean_deg: Some(2.0) },
            duration_ms: 400,
        },
    };
    let tel = telemetry();
    let n = 200_000u32;
    println!("codec (encode + decode, {n} frames each)");
    println!("  {:<28} {:>14} {:>14}", "", "SetPose fr/s", "Telemetry fr/s");
    let bench = |f: &dyn Fn() -> usize| {
        let t0 = Instant::now();
        let mut acc = 0usize;
        for _ in 0..n {
            acc = acc.wrapping_add(f());
        }
        black_box(acc);
        n as f64 / t0.elapsed().as_secs_f64()
    };
    let framed_cmd = bench(&|| {
        let mut out = [0u8; MAX_FRAME];
        let len = encode_frame(black_box(&cmd), &mut out).unwrap_or(0);
        let mut d = FrameDecoder::new();
        out[..len].iter().filter(|&&b| d.push::<HostFrame>(b).is_some()).count()
    });
    let framed_tel = bench(&|| {
        let mut out = [0u8; MAX_FRAME];
        let len = encode_frame(black_box(&tel), &mut out).unwrap_or(0);
        let mut d = FrameDecoder::new();
        out[..len].iter().filter(|&&b| d.push::<HeadMsg>(b).is_some()).count()
    });
    println!("  {:<28} {:>14.0} {:>14.0}", "attune frame (COBS+CRC)", framed_cmd, framed_tel);
    let raw_cmd = bench(&|| {
        let mut out = [0u8; MAX_FRAME];
        let s = postcard::to_slice(black_box(&cmd), &mut out).map(|s| s.len()).unwrap_or(0);
        postcard::from_bytes::<HostFrame>(&out[..s]).map(|_| 1).unwrap_or(0)
    });
    let raw_tel = bench(&|| {
        let mut out = [0u8; MAX_FRAME];
        let s = postcard::to_slice(black_box(&tel), &mut out).map(|s| s.len()).unwrap_or(0);
        postcard::from_bytes::<HeadMsg>(&out[..s]).map(|_| 1).unwrap_or(0)
    });
    println!("  {:<28} {:>14.0} {:>14.0}", "reference: bare postcard", raw_cmd, raw_tel);
    let json_cmd = bench(&|| {
        let s = serde_json::to_vec(black_box(&cmd)).unwrap_or_default();
        serde_json::from_slice::<HostFrame>(&s).map(|_| 1).unwrap_or(0)
    });
    let json_tel = bench(&|| {
        let s = serde_json::to_vec(black_box(&tel)).unwrap_or_default();
        serde_json::from_slice::<HeadMsg>(&s).map(|_| 1).unwrap_or(0)
    });
    println!("  {:<28} {:>14.0} {:>14.0}", "reference: serde_json", json_cmd, json_tel);
}

fn pty_latency() {
    let dir = match tempfile::tempdir() {
        Ok(d) => d,
        Err(e) => {
            println!("pty latency: skipped, no temp dir: {e}");
            return;
        }
    };
    let link_path = dir.path().join("head");
    let stop = Arc::new(AtomicBool::new(false));
    let opts = SimOptions {
        link: link_path.clone(),
        telemetry: None,
        params: HeadParams::DEFAULT,
        servo: sim::ServoModel::default(),
        faults: sim::Faults::default(),
    };
    let s2 = stop.clone();
    let th = std::thread::spawn(move || sim::run(opts, s2));
    while !link_path.exists() {
        std::thread::sleep(Duration::from_millis(5));
    }
    let run = || -> Result<(Vec<f64>, Vec<f64>, Vec<f64>), attune_hardware::link::LinkError> {
        let mut link = HeadLink::open(link_path.to_str().unwrap_or_default(), 115_200)?;
        let mut rtt = Vec::new();
        for _ in 0..200 {
            rtt.push(link.hello()?.rtt_ms);
        }
        link.command(HostMsg::Subscribe { every_ticks: 1 })?;
        let mut lat = Vec::new();
        let mut seen = Vec::new();
        let mut last_pulse = 0u16;
        for i in 0..150 {
            // Alternate small yaw steps; the first tick after the command
            // already drives a new pulse (the limiter moves at once).
            let yaw = if i % 2 == 0 { 5.0 } else { -5.0 };
            while link.next_telemetry(Duration::ZERO)?.is_some() {}
            let t0 = Instant::now();
            link.command(HostMsg::SetPose {
                target: PoseTarget { yaw_deg: Some(yaw), ..PoseTarget::default() },
                duration_ms: 100,
            })?;
            let mut target_seen = false;
            loop {
                let Some(t) = link.next_telemetry(Duration::from_millis(200))? else { break };
                if !target_seen && t.targets.yaw_deg == yaw {
                    target_seen = true;
                    seen.push(t0.elapsed().as_secs_f64() * 1000.0);
                }
                if t.pulse_us[0] != last_pulse && ((yaw > 0.0) == (t.pulse_us[0] > last_pulse)) {
                    lat.push(t0.elapsed().as_secs_f64() * 1000.0);
                    last_pulse = t.pulse_us[0];
                    break;
                }
                last_pulse = t.pulse_us[0];
            }
            // Let the head settle so each command starts from rest; the odd
            // offset spreads the command over the 20 ms tick phase.
            std::thread::sleep(Duration::from_millis(150 + (i % 13) as u64));
        }
        Ok((rtt, lat, seen))
    };
    match run() {
        Ok((mut rtt, mut lat, mut seen)) => {
            println!("command-to-PWM over a pty to the simulator ({} commands)", lat.len());
            println!("  {:<40} p50 {:>7.2} ms  p99 {:>7.2} ms", "SetPose -> new pulse in telemetry", pct(&mut lat, 0.5), pct(&mut lat, 0.99));
            println!("  {:<40} p50 {:>7.2} ms  p99 {:>7.2} ms", "SetPose -> first tick acting on it", pct(&mut seen, 0.5), pct(&mut seen, 0.99));
            println!("  {:<40} p50 {:>7.2} ms  p99 {:>7.2} ms", "reference: handshake round trip", pct(&mut rtt, 0.5), pct(&mut rtt, 0.99));
            println!("  (a command waits 0..20 ms for the next tick; min-jerk starts gently, so the");
            println!("   pulse often changes by a whole µs only on the tick after)");
        }
        Err(e) => println!("pty latency: failed: {e}"),
    }
    match look_away(&link_path) {
        Ok((mut streamed, mut single)) => {
            println!("a 9° look-away, ramped at 60 °/s in 50 Hz frames of 20 ms each (the planner's way), {} runs (NaN: not within 3 s)", streamed.len());
            println!("  {:<40} p50 {:>7.1} ms  p99 {:>7.1} ms", "stream start -> head angle within 0.9°", pct(&mut streamed, 0.5), pct(&mut streamed, 0.99));
            println!("  {:<40} {:>11.1} ms", "reference: the stream itself", LOOK_AWAY_DEG * 0.9 / LOOK_AWAY_DEG_S * 1000.0);
            println!("  {:<40} p50 {:>7.1} ms  p99 {:>7.1} ms", "reference: one SetPose 9°, duration 0", pct(&mut single, 0.5), pct(&mut single, 0.99));
        }
        Err(e) => println!("look-away: failed: {e}"),
    }
    stop.store(true, Ordering::SeqCst);
    let _ = th.join();
}

const LOOK_AWAY_DEG: f32 = 9.0;
const LOOK_AWAY_DEG_S: f32 = 60.0;

/// Milliseconds from the first frame until the head's commanded yaw is
/// within 10 % of the look-away: streamed, and as one move from rest.
fn look_away(link_path: &std::path::Path) -> Result<(Vec<f64>, Vec<f64>), attune_hardware::link::LinkError> {
    let mut link = HeadLink::open(link_path.to_str().unwrap_or_default(), 115_200)?;
    link.command(HostMsg::Subscribe { every_ticks: 1 })?;
    let pose = |yaw: f32, duration_ms: u16| HostMsg::SetPose { target: PoseTarget { yaw_deg: Some(yaw), ..PoseTarget::default() }, duration_ms };
    // Only a tick that already acts on this run's targets counts (telemetry
    // sent before the command may still be queued on the link).
    let reached = |t: &Telemetry, sign: f32| t.targets.yaw_deg * sign > 0.0 && t.angles.yaw_deg * sign >= LOOK_AWAY_DEG * 0.9;
    // Back at the centre and at rest before each run.
    let centre = |link: &mut HeadLink| -> Result<(), attune_hardware::link::LinkError> {
        link.command(pose(0.0, 0))?;
        let t0 = Instant::now();
        while t0.elapsed() < Duration::from_secs(3) {
            if let Some(t) = link.next_telemetry(Duration::from_millis(50))? {
                if t.targets.yaw_deg == 0.0 && t.angles.yaw_deg == 0.0 && t.mode != Mode::Moving {
                    break;
                }
            }
        }
        Ok(())
    };
    let (mut streamed, mut single) = (Vec::new(), Vec::new());
    for i in 0..12 {
        let sign = if i % 2 == 0 { 1.0 } else { -1.0 };
        centre(&mut link)?;
        // An odd wait spreads the first frame over the head's tick phase.
        std::thread::sleep(Duration::from_millis(7 * i as u64));
        let t0 = Instant::now();
        let mut done = None;
        let mut k = 0u32;
        while done.is_none() && t0.elapsed() < Duration::from_secs(3) {
            // One frame every 20 ms on the host's own clock, as the planner.
            let due = Duration::from_millis(20 * k as u64);
            if t0.elapsed() >= due {
                let yaw = (LOOK_AWAY_DEG_S * 0.02 * (k + 1) as f32).min(LOOK_AWAY_DEG);
                link.command(pose(sign * yaw, 20))?;
                k += 1;
            }
            if let Some(t) = link.next_telemetry(Duration::from_millis(2))? {
                if reached(&t, sign) {
                    done = Some(t0.elapsed().as_secs_f64() * 1000.0);
                }
            }
        }
        streamed.push(done.unwrap_or(f64::NAN));
        centre(&mut link)?;
        std::thread::sleep(Duration::from_millis(7 * i as u64));
        let t0 = Instant::now();
        link.command(pose(sign * LOOK_AWAY_DEG, 0))?;
        let mut done = None;
        while done.is_none() && t0.elapsed() < Duration::from_secs(3) {
            if let Some(t) = link.next_telemetry(Duration::from_millis(50))? {
                if reached(&t, sign) {
                    done = Some(t0.elapsed().as_secs_f64() * 1000.0);
                }
            }
        }
        single.push(done.unwrap_or(f64::NAN));
    }
    Ok((streamed, single))
}

fn loop_jitter(busy: bool) -> (f64, f64, f64) {
    let hogs = Arc::new(AtomicBool::new(busy));
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2);
    let mut handles = Vec::new();
    if busy {
        for _ in 0..cores * 2 {
            let h = hogs.clone();
            handles.push(std::thread::spawn(move || {
                let mut x = 0u64;
                while h.load(Ordering::Relaxed) {
                    x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
                    black_box(x);
                }
            }));
        }
    }
    let (h, runner) = attune_hardware::head_channel(Box::new(SimHead::new(HeadParams::DEFAULT)), 8);
    let rx = h.subscribe(1024);
    let th = std::thread::spawn(move || runner.run());
    let mut times = Vec::new();
    while times.len() < 250 {
        match rx.recv_timeout(Duration::from_secs(1)) {
            Ok(_) => times.push(Instant::now()),
            Err(_) => break,
        }
    }
    h.shutdown();
    let _ = th.join();
    hogs.store(false, Ordering::Relaxed);
    for t in handles {
        let _ = t.join();
    }
    let mut periods: Vec<f64> = times.windows(2).map(|w| (w[1] - w[0]).as_secs_f64() * 1000.0).collect();
    let mut jit: Vec<f64> = periods.iter().map(|p| (p - 20.0).abs()).collect();
    (pct(&mut periods, 0.5), pct(&mut jit, 0.99), jit.iter().cloned().fold(0.0, f64::max))
}

fn main() {
    codec();
    pty_latency();
    let (p50_idle, j99_idle, jmax_idle) = loop_jitter(false);
    let (p50_busy, j99_busy, jmax_busy) = loop_jitter(true);
    println!("50 Hz head loop (HeadRunner + firmware core), 250 periods");
    println!("  {:<34} period p50 {:>6.2} ms  |jitter| p99 {:>6.2} ms  max {:>6.2} ms", "reference: machine idle", p50_idle, j99_idle, jmax_idle);
    println!("  {:<34} period p50 {:>6.2} ms  |jitter| p99 {:>6.2} ms  max {:>6.2} ms", "every core busy (2 hogs per core)", p50_busy, j99_busy, jmax_busy);
}
