//! Echo bench (prints figures; `cargo bench -p attune-speech --bench echo`).
//!
//! The robot's voice (espeak-ng, the default robot voice) is played through
//! simulated rooms made with sox (direct-path delay, attenuation,
//! reverberation) back into the microphone, and the microphone goes through
//! the voice loop's own echo stage, earshot VAD and turn taker — the same
//! parts `attune run --arm voice` uses, without whisper (what is measured
//! here happens before it). For every room, side by side for
//! `[speech.echo] mode = "off" | "aec" | "duck"`:
//!
//! - ERLE: echo energy in / out over robot-only stretches, from the first
//!   second of a session and after the first reply (converged);
//! - false barge-ins: replies the robot's own echo interrupted, out of four;
//! - real barge-ins: a participant (another espeak-ng voice) talking over
//!   reply 3, detected or not, and how long after they started;
//! - the same over reply 1, 200 ms, 800 ms and 1.6 s in (separate runs):
//!   the first inside the first reply's learning window, where the gate
//!   measures the room, the others after it.
//!
//! Rooms 1-4 are the ones the gate's constants were chosen on; rooms 5-8
//! ("held-out") were fixed before they were first run and are only measured.
//! The robot speaks with espeak-ng and with Piper (`--voice espeak|piper|both`;
//! Piper's first synthesis is kept in target/tmp, since Piper samples its
//! voice and two builds should be compared on the same audio). `--room N`
//! (0 = none, 1-8) and `--mode off|aec|duck` pick one; `--trace` prints, for
//! the runs without a participant, every frame the gate let through as
//! voice while the robot played, and every turn event; for the runs with a
//! participant over reply 1, what the gate saw and decided on each frame of
//! their first two seconds.

use attune_speech::audio::{ms_to_samples, read_wav_16k_mono, write_wav_16k_mono, FRAME, FRAME_MS};
use attune_speech::echo::{erle_db, sox_room_ir, EchoMode, EchoPath, Room};
use attune_speech::piper::PiperTts;
use attune_speech::stt::default_models_dir;
use attune_speech::tts::{EspeakTts, Tts};
use attune_speech::turn::{TurnEvent, TurnParams, TurnTaker};
use attune_speech::vad::Vad;
use attune_speech::{SpeechConfig, TtsConfig};

const REPLIES: [&str; 4] = [
    "That sounds like an important thing to talk about, and I am glad you brought it up.",
    "Weeks can hold a lot, both the good moments and the heavy ones, and it helps to look at them.",
    "Take your time and tell me whatever part of it feels most important to you right now.",
    "There is no hurry at all, and nothing you say here has to be tidy or finished.",
];

/// Silence between replies (the participant's turn, here silent).
const GAP_MS: u64 = 2_000;
/// The participant starts this long into reply 3 (index 2).
const BARGE_AT_MS: u64 = 2_500;
/// … or, in separate runs, this long into reply 1: 200 ms is inside the
/// first reply's learning window, the later ones after it.
const EARLY_BARGE_AT_MS: [u64; 3] = [200, 800, 1_600];

static TRACE: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

struct Outcome {
    /// Replies interrupted with nobody talking.
    false_barge_ins: usize,
    /// The participant's barge-in: detected after this many ms.
    barge_ms: Option<u64>,
}

/// `talk`: the participant talks over reply `.0`, `.1` ms into it.
fn run(mode: EchoMode, ir: Option<&[f32]>, robot: &[Vec<f32>], participant: &[f32], talk_at: Option<(usize, u64)>) -> Outcome {
    let cfg = SpeechConfig::default();
    let (mut echo, _) = EchoPath::new(mode, ir.map(|ir| Room::from_impulse_response(ir).expect("room")));
    let mut vad = Vad::new(cfg.vad.threshold);
    let mut turn;
    let mut pushed = 0u64;
    let mut now = 0u64;
    let mut false_barge = 0;
    let mut barge_ms = None;
    let tail = cfg.turn.mic_tail_ms as u64;
    let mut last_audible: Option<u64> = None;
    for (r, reply) in robot.iter().enumerate() {
        let barge_at = talk_at.filter(|t| t.0 == r).map(|t| t.1);
        let talk = barge_at.is_some();
        let barge_at = barge_at.unwrap_or(0);
        echo.pushed(reply);
        pushed += reply.len() as u64;
        let frames = reply.len().div_ceil(FRAME) + (GAP_MS / FRAME_MS) as usize;
        let mut played = pushed - reply.len() as u64;
        let mut stopped = false;
        let start_ms = now;
        turn = TurnTaker::new(TurnParams::from_config(&cfg.vad, &cfg.turn));
        for _ in 0..frames {
            let remaining = pushed - played;
            let playing = remaining > 0 && !stopped;
            // The participant's voice, if they talk over this reply.
            let mut mic = [0.0f32; FRAME];
            let at = now - start_ms;
            if talk && at >= barge_at {
                let off = ms_to_samples(at - barge_at);
                for (i, m) in mic.iter_mut().enumerate() {
                    *m = participant.get(off + i).copied().unwrap_or(0.0);
                }
            }
            let mut frame = mic;
            echo.process(&mut frame, played);
            if playing {
                last_audible = Some(now);
            }
            let audible = last_audible.is_some_and(|t| now <= t + tail);
            let heard = vad.frame(&frame).0;
            let voiced = heard && !echo.deaf(audible);
            if TRACE.load(std::sync::atomic::Ordering::Relaxed) && talk && r == 0 && at + 200 >= barge_at && at <= barge_at + 2_000 {
                let g = echo.last_frame();
                let gate = if g.robot {
                    format!(
                        "raw {:.1} out {:.1} residual {:.1} learned {:.1} dB{}{}{}",
                        g.raw_db, g.out_db, g.residual_db, g.learned_db,
                        if g.learning { " learning" } else { "" },
                        if g.clear { " clear" } else { "" },
                        if g.near_end { " open" } else { " shut" },
                    )
                } else {
                    "no robot audio, open".to_string()
                };
                println!("    trace reply 0, participant from {barge_at} ms, at {at} ms: {gate} vad {} -> {}", if heard { "voice" } else { "-" }, if voiced { "VOICED" } else { "-" });
            }
            if TRACE.load(std::sync::atomic::Ordering::Relaxed) && talk_at.is_none() && voiced && playing {
                println!("    trace reply {r} at {at} ms: voiced through the gate (residual {:.1} dB)", echo.residual_db());
            }
            let ev = turn.on_frame(voiced, playing, now);
            if TRACE.load(std::sync::atomic::Ordering::Relaxed) && talk_at.is_none() && ev.is_some() {
                println!("    trace reply {r} at {at} ms: {ev:?}");
            }
            if let Some(TurnEvent::BargeIn { .. }) = ev {
                if talk && at >= barge_at {
                    barge_ms.get_or_insert(at - barge_at);
                } else {
                    false_barge += 1;
                }
                echo.stopped();
                stopped = true;
                played = pushed;
            }
            if !stopped {
                played = (played + FRAME as u64).min(pushed);
            }
            now += FRAME_MS;
        }
    }
    Outcome { false_barge_ins: false_barge, barge_ms }
}

/// ERLE of the echo stage alone on robot-only audio: the room's echo in,
/// the stage's output out, over the first reply and over the rest.
fn erle(mode: EchoMode, ir: &[f32], robot: &[Vec<f32>]) -> (f64, f64) {
    let (mut with_room, _) = EchoPath::new(EchoMode::Off, Some(Room::from_impulse_response(ir).expect("room")));
    let (mut stage, _) = EchoPath::new(mode, None);
    let (mut a_in, mut a_out, mut b_in, mut b_out) = (vec![], vec![], vec![], vec![]);
    let mut pushed = 0u64;
    for (r, reply) in robot.iter().enumerate() {
        with_room.pushed(reply);
        stage.pushed(reply);
        let start = pushed;
        pushed += reply.len() as u64;
        let frames = reply.len().div_ceil(FRAME) + (GAP_MS / FRAME_MS) as usize;
        let mut played = start;
        for _ in 0..frames {
            played = (played + FRAME as u64).min(pushed);
            let mut echo = [0.0f32; FRAME];
            with_room.process(&mut echo, played);
            let mut out = echo;
            stage.process(&mut out, played);
            let (i, o) = if r == 0 { (&mut a_in, &mut a_out) } else { (&mut b_in, &mut b_out) };
            i.extend_from_slice(&echo);
            o.extend_from_slice(&out);
        }
    }
    (erle_db(&a_in, &a_out), erle_db(&b_in, &b_out))
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.iter().any(|a| a == "--list") {
        return;
    }
    // Optional filters: `--room N` (0 = none, 1-8) and `--mode off|aec|duck`.
    let pick = |flag: &str| args.iter().position(|a| a == flag).and_then(|i| args.get(i + 1)).cloned();
    let only_room: Option<usize> = pick("--room").and_then(|r| r.parse().ok());
    let only_mode = pick("--mode");
    TRACE.store(args.iter().any(|a| a == "--trace"), std::sync::atomic::Ordering::Relaxed);
    // `--voice espeak|piper|both` (default both): the robot's voice. Piper
    // is the default voice where the set-up installed it; espeak-ng is the
    // fallback, and the voice the gate's constants were first measured with.
    let voices: Vec<&str> = match pick("--voice").as_deref() {
        None | Some("both") => vec!["espeak-ng", "piper"],
        Some("espeak") | Some("espeak-ng") => vec!["espeak-ng"],
        Some("piper") => vec!["piper"],
        Some(v) => panic!("--voice {v}: use espeak, piper or both"),
    };
    let mut person = EspeakTts::new(&TtsConfig { voice: "en-gb".into(), rate_wpm: 160, ..TtsConfig::default() }).expect("espeak-ng");
    let participant = person.synthesize("Wait, stop please, I need to tell you something else first.").expect("synthesis");
    // Rooms 1-4 are the ones the gate's constants were chosen on; rooms 5-8
    // were added later, their settings fixed before they were first run, and
    // nothing has been tuned on them.
    let rooms: [(u32, f32, u32, &str); 8] = [
        (20, -10.0, 20, "20 ms, -10 dB, reverb 20"),
        (40, -6.0, 50, "40 ms, -6 dB, reverb 50"),
        (80, -6.0, 80, "80 ms, -6 dB, reverb 80"),
        (40, 0.0, 50, "40 ms, 0 dB, reverb 50 (loud)"),
        (30, -8.0, 35, "held-out: 30 ms, -8 dB, reverb 35"),
        (60, -3.0, 65, "held-out: 60 ms, -3 dB, reverb 65"),
        (50, -6.0, 90, "held-out: 50 ms, -6 dB, reverb 90"),
        (70, -4.0, 40, "held-out: 70 ms, -4 dB, reverb 40"),
    ];
    for voice in voices {
        let mut tts: Box<dyn Tts> = if voice == "piper" {
            match PiperTts::new(&TtsConfig::default(), &default_models_dir()) {
                Ok(p) => Box::new(p),
                Err(e) => {
                    println!("robot voice piper: {e} (scripts/fetch-piper.sh); skipped");
                    continue;
                }
            }
        } else {
            Box::new(EspeakTts::new(&TtsConfig::default()).expect("espeak-ng"))
        };
        // Piper samples its voice (noise inside the model), so each synthesis
        // differs a little; the first one is kept in target/tmp so that two
        // builds are compared on the same audio.
        let robot: Vec<Vec<f32>> = REPLIES
            .iter()
            .enumerate()
            .map(|(i, t)| {
                if voice != "piper" {
                    return tts.synthesize(t).expect("synthesis");
                }
                let kept = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("echo-bench-piper-{i}-{:016x}.wav", text_hash(t)));
                if let Ok(x) = read_wav_16k_mono(&kept) {
                    return x;
                }
                let x = tts.synthesize(t).expect("synthesis");
                let _ = write_wav_16k_mono(&kept, &x);
                x
            })
            .collect();
        bench_voice(voice, &robot, &participant, &rooms, only_room, only_mode.as_deref());
    }
}

/// The real barge-in column: how long after the participant started it was
/// detected, or "missed".
fn heard_after(barge_ms: Option<u64>) -> String {
    barge_ms.map_or_else(|| "missed".to_string(), |ms| format!("after {ms} ms"))
}

/// FNV-1a of a reply's text (names its kept synthesis).
fn text_hash(t: &str) -> u64 {
    t.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ b as u64).wrapping_mul(0x0100_0000_01b3))
}

fn bench_voice(voice: &str, robot: &[Vec<f32>], participant: &[f32], rooms: &[(u32, f32, u32, &str)], only_room: Option<usize>, only_mode: Option<&str>) {
    println!("\necho bench: robot voice {voice}, 4 replies ({:.1} s of robot speech), rooms made with sox", robot.iter().map(|r| r.len()).sum::<usize>() as f64 / 16_000.0);
    println!("{:<36} {:<5} {:>11} {:>11} {:>13} {:>14} {:>22}", "room", "mode", "ERLE 1st dB", "ERLE 2-4 dB", "false barge", "real barge-in", "reply 1 @200/800/1600");
    // Over reply 1, one run per start time: ms after the participant
    // started, "-" where missed.
    let early = |mode: EchoMode, ir: Option<&[f32]>| -> String {
        EARLY_BARGE_AT_MS
            .iter()
            .map(|&at| run(mode, ir, robot, participant, Some((0, at))).barge_ms.map_or_else(|| "-".to_string(), |ms| ms.to_string()))
            .collect::<Vec<_>>()
            .join("/")
    };
    // No room at all (headphones): the echo stage must cost the participant
    // nothing (`aec` against `off`, room 0 in `--room`).
    if only_room.is_none_or(|r| r == 0) {
        for mode in [EchoMode::Off, EchoMode::Aec] {
            if only_mode.is_some_and(|m| m != mode.as_str()) {
                continue;
            }
            let quiet = run(mode, None, &robot, &participant, None);
            let talk = run(mode, None, &robot, &participant, Some((2, BARGE_AT_MS)));
            let real = heard_after(talk.barge_ms);
            println!("{:<36} {:<5} {:>11} {:>11} {:>13} {:>14} {:>22}", "no room (headphones)", mode.as_str(), "-", "-", format!("{}/4", quiet.false_barge_ins), real, early(mode, None));
        }
    }
    for (k, &(delay, gain, rev, name)) in rooms.iter().enumerate() {
        if only_room.is_some_and(|r| r != k + 1) {
            continue;
        }
        let ir = match sox_room_ir(delay, gain, rev) {
            Ok(ir) => ir,
            Err(e) => {
                println!("{name}: {e}");
                continue;
            }
        };
        for mode in [EchoMode::Off, EchoMode::Aec, EchoMode::Duck] {
            if only_mode.is_some_and(|m| m != mode.as_str()) {
                continue;
            }
            let (e1, e2) = erle(mode, &ir, &robot);
            let quiet = run(mode, Some(&ir), &robot, &participant, None);
            let talk = run(mode, Some(&ir), &robot, &participant, Some((2, BARGE_AT_MS)));
            let real = heard_after(talk.barge_ms);
            println!("{:<36} {:<5} {:>11.1} {:>11.1} {:>13} {:>14} {:>22}", name, mode.as_str(), e1, e2, format!("{}/4", quiet.false_barge_ins), real, early(mode, Some(&ir)));
        }
    }
}
