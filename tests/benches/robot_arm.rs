//! The robot arm's timing, printed side by side with a reference measured in
//! the same run:
//! 1. planner tick cost vs the firmware core's own 50 Hz step;
//! 2. end of turn → first head motion through the pty simulator, planner
//!    path vs a bare `set_pose` sent at the same instant (the link floor);
//! 3. 50 Hz output lateness of a real `attune run --arm robot --head sim`
//!    session with whisper and the local LLM busy, vs an idle session.
//!
//! Run: `cargo build -p attune -p attune-llm && cargo bench -p attune-tests --bench robot_arm`.

use attune_behaviors::{Driver, Event, Planner, Settings, TICK_MS};
use attune_hardware::firmware::{HeadCore, HeadParams};
use attune_hardware::link::HeadLink;
use attune_hardware::protocol::{HostFrame, HostMsg, PoseTarget};
use attune_hardware::sim::{self, SimOptions};
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn pct(v: &mut [f64], p: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    let i = ((v.len() as f64 - 1.0) * p).round() as usize;
    v[i.min(v.len() - 1)]
}

fn tick_cost() {
    const N: u64 = 200_000;
    let s = Settings::default();
    let mut p = Planner::new(HeadParams::DEFAULT, s, 1);
    p.on_event(&Event::SessionStarted { seed: 1, settings: s }, 0);
    let t0 = Instant::now();
    let mut sent = 0u64;
    for k in 0..N {
        let now = k * TICK_MS;
        // A conversation every 10 s: speech with pauses, end of turn, a reply.
        match now % 10_000 {
            0 => p.on_event(&Event::ParticipantStarted { barge_in: false }, now),
            1000 | 2000 | 3000 => p.on_event(&Event::ParticipantPaused, now),
            4000 => p.on_event(&Event::ParticipantStopped, now),
            5000 => p.on_event(
                &Event::AgentSentence { text: "That sounds hard, and I am here.".into(), strategy: String::new(), duration_ms: 3000, envelope: vec![0.7; 60], continued: false },
                now,
            ),
            8000 => p.on_event(&Event::AgentFinished, now),
            _ => {}
        }
        if p.tick(now).is_some() {
            sent += 1;
        }
    }
    let planner_ns = t0.elapsed().as_nanos() as f64 / N as f64;
    let mut core = HeadCore::new(HeadParams::DEFAULT, "bench", 0);
    let t0 = Instant::now();
    for k in 0..N {
        let now = (k * TICK_MS) as u32;
        if k % 5 == 0 {
            let yaw = ((k / 5) % 40) as f32 - 20.0;
            core.on_frame(HostFrame { seq: k as u16, msg: HostMsg::SetPose { target: PoseTarget { yaw_deg: Some(yaw), ..Default::default() }, duration_ms: 100 } }, now);
        }
        std::hint::black_box(core.step(now));
    }
    let core_ns = t0.elapsed().as_nanos() as f64 / N as f64;
    println!("1. tick cost over {N} ticks ({sent} commands):");
    println!("   planner tick            {planner_ns:8.0} ns  ({:.4} % of the 20 ms budget)", planner_ns / 200_000.0);
    println!("   firmware core step (ref) {core_ns:7.0} ns");
}

/// Runs the simulator on a pty in this process; returns its link and stop flag.
fn start_sim(dir: &Path) -> (String, Arc<AtomicBool>, std::thread::JoinHandle<()>) {
    let link = dir.join("head");
    let stop = Arc::new(AtomicBool::new(false));
    let s2 = stop.clone();
    let opts = SimOptions { link: link.clone(), telemetry: None, params: HeadParams::DEFAULT, servo: sim::ServoModel::default(), faults: sim::Faults::default() };
    let th = std::thread::spawn(move || sim::run(opts, s2).expect("simulator"));
    while std::fs::symlink_metadata(&link).is_err() {
        std::thread::sleep(Duration::from_millis(5));
    }
    (link.to_string_lossy().into_owned(), stop, th)
}

/// Trials of "end of turn at t0 → first telemetry sample whose yaw moved".
/// `planner`: through the planner (its thinking cue); otherwise a bare
/// 10° set_pose sent at t0.
fn turn_to_motion(link: &mut HeadLink, planner: bool, trials: usize) -> Vec<f64> {
    let mut out = Vec::new();
    for trial in 0..trials {
        let s = Settings::default();
        let mut d = Driver::new(Planner::new(HeadParams::DEFAULT, s, trial as u64), 0);
        let start = Instant::now();
        let now_ms = || start.elapsed().as_millis() as u64;
        let send = |link: &mut HeadLink, cmds: Vec<(u64, attune_behaviors::HeadCommand)>| {
            if let Some((_, c)) = cmds.last() {
                link.command(HostMsg::SetPose { target: PoseTarget::full(c.pose()), duration_ms: c.duration_ms as u16 }).expect("set_pose");
            }
        };
        d.event(&Event::SessionStarted { seed: trial as u64, settings: s }, 0);
        d.event(&Event::ParticipantStarted { barge_in: false }, 0);
        // Listen for 1.2 s (the head settles on the participant).
        while now_ms() < 1200 {
            let c = d.advance_to(now_ms());
            send(link, c);
            while link.next_telemetry(Duration::ZERO).ok().flatten().is_some() {}
            std::thread::sleep(Duration::from_millis(2));
        }
        let mut base_yaw = None;
        while base_yaw.is_none() {
            base_yaw = link.next_telemetry(Duration::from_millis(50)).ok().flatten().map(|t| t.angles.yaw_deg);
        }
        let base_yaw = base_yaw.unwrap_or(0.0);
        let t0 = Instant::now();
        if planner {
            let c = d.event(&Event::ParticipantStopped, now_ms());
            send(link, c);
        } else {
            link.command(HostMsg::SetPose { target: PoseTarget { yaw_deg: Some(base_yaw + 10.0), ..Default::default() }, duration_ms: 300 }).expect("set_pose");
        }
        let deadline = t0 + Duration::from_millis(1500);
        let mut moved = None;
        while Instant::now() < deadline && moved.is_none() {
            if planner {
                let c = d.advance_to(now_ms());
                send(link, c);
            }
            while let Ok(Some(t)) = link.next_telemetry(Duration::from_millis(1)) {
                if (t.angles.yaw_deg - base_yaw).abs() > 0.2 {
                    moved = Some(t0.elapsed().as_secs_f64() * 1000.0);
                    break;
                }
            }
        }
        if let Some(ms) = moved {
            out.push(ms);
        }
        link.command(HostMsg::Park).expect("park");
        std::thread::sleep(Duration::from_millis(800));
        while link.next_telemetry(Duration::ZERO).ok().flatten().is_some() {}
    }
    out
}

fn motion_latency() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (link_path, stop, th) = start_sim(dir.path());
    let mut link = HeadLink::open(&link_path, 115_200).expect("open the simulator link");
    link.hello().expect("hello");
    link.command(HostMsg::Subscribe { every_ticks: 1 }).expect("subscribe");
    const TRIALS: usize = 30;
    let mut planner = turn_to_motion(&mut link, true, TRIALS);
    let mut bare = turn_to_motion(&mut link, false, TRIALS);
    stop.store(true, Ordering::SeqCst);
    let _ = th.join();
    println!("2. end of turn → first head motion through the pty simulator ({TRIALS} trials each):");
    println!("   planner (thinking cue)   p50 {:6.1} ms   p99 {:6.1} ms   moved {}/{TRIALS}", pct(&mut planner.clone(), 0.5), pct(&mut planner, 0.99), planner.len());
    println!("   bare set_pose (ref)      p50 {:6.1} ms   p99 {:6.1} ms   moved {}/{TRIALS}", pct(&mut bare.clone(), 0.5), pct(&mut bare, 0.99), bare.len());
}

fn attune(name: &str) -> std::path::PathBuf {
    attune_tests::bin(name)
}

/// One robot session; returns its `behaviors_timing` event.
fn session(dir: &Path, wav: &Path, llm: &str) -> Option<serde_json::Value> {
    let db = dir.join(format!("{llm}.db"));
    let out = Command::new(attune("attune"))
        .args(["run", "--arm", "robot", "--head", "sim", "--llm", llm, "--audio-in"])
        .arg(wav)
        .arg("--audio-out")
        .arg(dir.join(format!("{llm}.wav")))
        .arg("--db")
        .arg(&db)
        .output()
        .ok()?;
    if !out.status.success() {
        eprintln!("session with --llm {llm} failed: {}", String::from_utf8_lossy(&out.stderr));
        return None;
    }
    let c = rusqlite::Connection::open(&db).ok()?;
    let p: String = c.query_row("SELECT payload FROM events WHERE kind = 'behaviors_timing'", [], |r| r.get(0)).ok()?;
    serde_json::from_str(&p).ok()
}

fn write_wav(path: &Path, samples: &[i16]) {
    let spec = hound::WavSpec { channels: 1, sample_rate: 16_000, bits_per_sample: 16, sample_format: hound::SampleFormat::Int };
    let mut w = hound::WavWriter::create(path, spec).expect("wav");
    for &s in samples {
        w.write_sample(s).expect("wav sample");
    }
    w.finalize().expect("wav");
}

fn jitter() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut speech: Vec<i16> = vec![0; 8_000];
    for (i, text) in ["I have been feeling lonely since I moved here.", "Work has been a lot, and I barely sleep."].iter().enumerate() {
        let p = dir.path().join(format!("u{i}.wav"));
        let ok = Command::new(attune("attune")).args(["say", text, "--out"]).arg(&p).status().map(|s| s.success()).unwrap_or(false);
        assert!(ok, "attune say failed");
        let mut r = hound::WavReader::open(&p).expect("say wav");
        speech.extend(r.samples::<i16>().map(|s| s.expect("sample")));
        speech.extend(vec![0i16; 16_000 * 10]);
    }
    let busy_wav = dir.path().join("busy.wav");
    write_wav(&busy_wav, &speech);
    let idle_wav = dir.path().join("idle.wav");
    write_wav(&idle_wav, &vec![0i16; speech.len()]);
    let idle = session(dir.path(), &idle_wav, "reflect");
    let busy = session(dir.path(), &busy_wav, "local");
    println!("3. 50 Hz output lateness past the tick grid, real `attune run --arm robot --head sim` sessions ({} s of audio):", speech.len() / 16_000);
    for (name, v) in [("idle session (ref)", idle), ("whisper + local LLM busy", busy)] {
        match v {
            Some(v) => println!(
                "   {name:<26} p50 {:5.2} ms  p99 {:5.2} ms  max {:6.2} ms  commands {}  superseded {}",
                v["late_p50_ms"].as_f64().unwrap_or(f64::NAN),
                v["late_p99_ms"].as_f64().unwrap_or(f64::NAN),
                v["late_max_ms"].as_f64().unwrap_or(f64::NAN),
                v["commands"],
                v["superseded"]
            ),
            None => println!("   {name:<26} (no session: see the error above)"),
        }
    }
}

fn main() {
    tick_cost();
    motion_latency();
    jitter();
}
