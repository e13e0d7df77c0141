//! Endpointing bench (prints figures; `cargo bench -p attune-speech --bench endpoint`).
//!
//! Fixed endpointing (the turn ends after `[speech.vad] end_silence_ms` =
//! 700 ms of silence) side by side with adaptive endpointing (whisper hears
//! the turn so far at 300 ms of silence; a complete thought ends the turn
//! there, an unfinished one waits 1,200 ms) in two forms — trusting every
//! full stop whisper closes a reading with (`sure_end_p = 0`, as first
//! shipped) and the default (`sure_end_p` 0.6) — and the default with the
//! pitch before the pause (`prosody = true`), in one run, through the real
//! voice loop in file mode with whisper tiny.en and earshot:
//!
//! - the speech-recognition set's clips (`scripts/make-asr-set.sh`, clean
//!   and 10 dB SNR; each clip is one turn, four sentences hold a 450/600 ms
//!   pause before "and"/"she"/"because"/"so");
//! - the endpointing set (`speech/eval/endpointing/{tune,heldout}.jsonl`):
//!   turns with pauses where the participant goes on (after a conjunction,
//!   a filler, mid-clause, inside a list, after a finished sentence) and
//!   turns without, spoken by espeak-ng with the pauses inserted as silence.
//!
//! Per condition: **cut-off rate** (turns the loop ended while the
//! participant was still going: it made more than one turn of one), and
//! **turn latency** p50/p95 — end of the participant's speech to their
//! transcript reaching the dialogue engine (endpointing plus whisper: the
//! engine and TTS add the same time after it in both modes) — plus the
//! endpointing delay alone. The lexical rules' scores on the written text of
//! both splits come first; the rules were checked on `tune` only.
//!
//! Then **what a cut costs the participant**: the default mode again, with
//! an engine that answers each utterance after `ATTUNE_ENDPOINT_ANSWER_MS`
//! (1,000 by default, an LLM's time to its first sentence), once as attune
//! runs (replies held while the participant holds the floor, and withdrawn
//! when they went on before hearing them) and once with the loop as it was
//! before (`VoiceLoop::yield_to_participant = false`: audio plays as it comes
//! back): robot audio over the participant's voice, clips where a reply
//! played before their last word, replies withdrawn, and the latency of the
//! reply to their last turn (`-- --no-answers` skips this part).
//!
//! Set `ATTUNE_ASR_SET=DIR` to use an existing set; otherwise it is made in a
//! temporary directory. `ATTUNE_ENDPOINT_STIMULI=continuation` speaks a part
//! the participant goes on from with a trailing comma (the synthesiser's
//! continuation intonation) instead of as an utterance of its own;
//! `ATTUNE_ENDPOINT_VOICE=piper` speaks the pause patterns with Piper instead
//! of three espeak-ng voices. Before the loop runs, the end pitch
//! (`attune_speech::prosody`) at every stop of the pause patterns is printed,
//! where the speaker goes on and where they have finished;
//! `-- --pitch-only` stops there.

use attune_speech::asr_eval::{load_set, Listener};
use attune_speech::audio::{ms_to_samples, read_wav_16k_mono, rms};
use attune_speech::endpoint::{parse_set, score_text, EndpointItem, EndpointMode, HELDOUT_SET, TUNE_SET};
use attune_speech::file_io::{WavSink, WavSource};
use attune_speech::piper::PiperTts;
use attune_speech::prosody::{end_pitch, EndPitch};
use attune_speech::stt::{default_models_dir, SttWorker};
use attune_speech::tts::{EspeakTts, Tts, TtsWorker};
use attune_speech::voice_loop::{LoopEvent, Pacing, ReplyEvent, Responder, TurnRecord, Utterance, VoiceLoop};
use std::collections::VecDeque;
use std::time::{Duration, Instant};
use attune_speech::{SpeechConfig, TtsConfig};
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

struct Clip {
    /// Name for the per-clip lines.
    name: String,
    /// "wer", "tune" or "held-out".
    group: &'static str,
    /// Kind of pause (endpointing set) or "wer".
    kind: String,
    /// Pauses the participant goes on after.
    pauses: usize,
    /// What is said.
    text: String,
    /// 16 kHz audio.
    samples: Vec<f32>,
    /// The voice at each stop (pattern clips): (the participant goes on
    /// after it, its end pitch, how long reading it took in µs).
    stops: Vec<(bool, Option<EndPitch>, u64)>,
}

#[derive(Debug, Clone, Default)]
struct Outcome {
    /// Turns the loop made of the clip.
    turns: usize,
    /// Last turn: speech end → transcript handed to the engine.
    heard_ms: Option<u64>,
    /// Last turn: speech end → end of turn decided.
    endpoint_ms: Option<u64>,
    /// Probes taken / used as the transcript.
    probes: usize,
    probes_used: usize,
    /// The transcripts, " | " between turns.
    text: String,
}

fn run(cfg: &SpeechConfig, stt: &SttWorker, tts: &TtsWorker, samples: &[f32], scratch: &Path) -> Outcome {
    let mut listener = Listener::default();
    let mut source = WavSource::from_samples(samples.to_vec());
    let mut sink = WavSink::create(&scratch.join("out.wav")).expect("scratch wav");
    let mut turns: Vec<TurnRecord<()>> = Vec::new();
    let summary = {
        let mut vl = VoiceLoop::new(cfg, stt, tts, &mut listener, Pacing::Fast);
        vl.drain_limit_ms = 600_000;
        vl.run(&mut source, &mut sink, &AtomicBool::new(false), &mut |t| turns.push(t), &mut |_| {}).expect("voice loop")
    };
    Outcome {
        turns: turns.len(),
        heard_ms: turns.last().map(|t| t.heard_ms),
        endpoint_ms: turns.last().map(|t| t.endpoint_ms),
        probes: summary.probes,
        probes_used: summary.probes_used,
        text: turns.iter().map(|t| t.asr_text.as_str()).collect::<Vec<_>>().join(" | "),
    }
}

/// An engine that answers every utterance with one sentence `delay` after
/// it is submitted (an LLM's time to its first sentence).
struct Answering {
    out: VecDeque<(Instant, ReplyEvent<()>)>,
    delay: Duration,
}

impl Responder<()> for Answering {
    fn submit(&mut self, utt: Utterance) -> Result<(), attune_speech::SpeechError> {
        let at = Instant::now() + self.delay;
        self.out.push_back((at, ReplyEvent::Sentence { id: utt.id, text: "I hear you.".into() }));
        self.out.push_back((at, ReplyEvent::Done { id: utt.id, report: () }));
        Ok(())
    }
    fn poll(&mut self) -> Option<ReplyEvent<()>> {
        if self.out.front().is_some_and(|(at, _)| *at <= Instant::now()) {
            return self.out.pop_front().map(|(_, e)| e);
        }
        None
    }
    fn interrupted(&mut self, _id: u64, _spoken_chars: usize) {}
}

/// What the participant heard from a clip run with an answering engine.
#[derive(Debug, Clone, Default)]
struct Answered {
    /// Turns the loop made.
    turns: usize,
    /// Replies that came back while the participant held the floor (or while
    /// a later turn of theirs was being read) and were held: without the
    /// hold each would have been spoken over them or to half a thought.
    held: usize,
    /// … of which withdrawn (their later words answered instead).
    withdrawn: usize,
    /// Replies that played.
    spoken: usize,
    /// Robot audio over the participant's voice (16 ms frames both above
    /// -40 dBFS), ms.
    over_ms: u64,
    /// A reply that played before the participant's last word.
    answered_early: bool,
    /// End of the participant's last turn → the robot's first audio after it.
    last_latency_ms: Option<u64>,
}

fn run_answering(cfg: &SpeechConfig, stt: &SttWorker, tts: &TtsWorker, samples: &[f32], scratch: &Path, delay: Duration, yielding: bool) -> Answered {
    let mut engine = Answering { out: VecDeque::new(), delay };
    let mut source = WavSource::from_samples(samples.to_vec());
    let out_path = scratch.join("answered.wav");
    let mut sink = WavSink::create(&out_path).expect("scratch wav");
    let mut turns: Vec<TurnRecord<()>> = Vec::new();
    let mut starts: Vec<u64> = Vec::new();
    let summary = {
        let mut vl = VoiceLoop::new(cfg, stt, tts, &mut engine, Pacing::Fast);
        vl.drain_limit_ms = 600_000;
        vl.yield_to_participant = yielding;
        vl.run(&mut source, &mut sink, &AtomicBool::new(false), &mut |t| turns.push(t), &mut |e| {
            if let LoopEvent::PlaybackStart { at_ms, .. } = e {
                starts.push(at_ms);
            }
        })
        .expect("voice loop")
    };
    let out = read_wav_16k_mono(&out_path).expect("answered wav");
    let n = ms_to_samples(16);
    let loud = |x: &[f32]| rms(x) > 0.01;
    let voiced: Vec<bool> = samples.chunks(n).map(loud).collect();
    let robot: Vec<bool> = out.chunks(n).map(loud).collect();
    let over = voiced.iter().zip(robot.iter()).filter(|(a, b)| **a && **b).count() as u64 * 16;
    let last_word_ms = voiced.iter().rposition(|v| *v).map_or(0, |i| i as u64 * 16);
    Answered {
        turns: turns.len(),
        held: summary.withdrawn + summary.held_then_spoken,
        withdrawn: summary.withdrawn,
        spoken: starts.len(),
        over_ms: over,
        answered_early: starts.iter().any(|&t| t < last_word_ms),
        last_latency_ms: turns.last().and_then(|t| starts.iter().find(|&&s| s >= t.speech_end_ms).map(|s| s - t.speech_end_ms)),
    }
}

fn silence(ms: u64) -> Vec<f32> {
    vec![0.0; ms_to_samples(ms)]
}

/// How the parts of a paused turn are spoken (`ATTUNE_ENDPOINT_STIMULI`).
#[derive(Clone, Copy, PartialEq)]
enum Stimuli {
    /// Each part as an utterance of its own (falling, finished intonation
    /// before every pause), as the bench was first measured.
    Parts,
    /// A part the participant goes on from, if it does not end a sentence,
    /// is spoken with a trailing comma: the synthesiser's continuation
    /// intonation (espeak-ng: level or rising) before the pause.
    Continuation,
}

fn stimuli() -> Stimuli {
    match std::env::var("ATTUNE_ENDPOINT_STIMULI").as_deref() {
        Ok("continuation") => Stimuli::Continuation,
        Ok("parts") | Err(_) => Stimuli::Parts,
        Ok(other) => panic!("ATTUNE_ENDPOINT_STIMULI={other}: use parts or continuation"),
    }
}

fn pattern_clips(items: &[EndpointItem], group: &'static str, style: Stimuli, piper: bool) -> Vec<Clip> {
    let voices = ["en-us", "en-gb", "en-us+f3"];
    let mut piper_tts = piper.then(|| PiperTts::new(&TtsConfig::default(), &default_models_dir()).expect("Piper voice (scripts/fetch-piper.sh)"));
    items
        .iter()
        .enumerate()
        .map(|(i, it)| {
            let cfg = TtsConfig { voice: voices[i % voices.len()].into(), rate_wpm: 160, ..TtsConfig::default() };
            let mut espeak = EspeakTts::new(&cfg).expect("espeak-ng");
            let tts: &mut dyn Tts = match piper_tts.as_mut() {
                Some(p) => p,
                None => &mut espeak,
            };
            let segs = it.segments().expect("set parses");
            let mut samples = silence(500);
            let mut stops = Vec::new();
            for s in &segs {
                let goes_on = s.pause_ms > 0;
                let spoken = if style == Stimuli::Continuation && goes_on && !s.text.ends_with(['.', '?', '!', ',']) {
                    format!("{},", s.text)
                } else {
                    s.text.clone()
                };
                let mut said = tts.synthesize(&spoken).expect("the voice speaks");
                // Without espeak-ng's trailing silence (~360 ms), so the
                // pause inserted is the pause heard.
                let last = said.iter().rposition(|x| x.abs() > 0.01).unwrap_or(0);
                said.truncate((last + ms_to_samples(20)).min(said.len()));
                samples.extend(said);
                let t0 = std::time::Instant::now();
                let pitch = end_pitch(&samples);
                stops.push((goes_on, pitch, t0.elapsed().as_micros() as u64));
                samples.extend(silence(s.pause_ms));
            }
            samples.extend(silence(3_000));
            let text = segs.iter().map(|s| s.text.as_str()).collect::<Vec<_>>().join(" ");
            Clip { name: it.id.clone(), group, kind: it.kind.clone(), pauses: segs.len() - 1, text, samples, stops }
        })
        .collect()
}

fn wer_clips() -> Vec<Clip> {
    let (dir, _keep) = match std::env::var_os("ATTUNE_ASR_SET") {
        Some(d) => (PathBuf::from(d), None),
        None => {
            let t = tempfile_dir();
            let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/make-asr-set.sh");
            let st = std::process::Command::new("bash").arg(&script).arg(&t.0).status().expect("run make-asr-set.sh");
            assert!(st.success(), "make-asr-set.sh failed");
            (t.0.clone(), Some(t))
        }
    };
    let set = load_set(&dir).expect("asr set");
    set.iter()
        // espeak-ng's clips only, as when the bench was first measured (the
        // set also holds Piper clips where Piper is installed).
        .filter(|c| (c.snr_db.is_none() || c.snr_db == Some(10)) && c.voice != "piper")
        .map(|c| {
            let mut samples = read_wav_16k_mono(&dir.join(&c.clip)).expect("clip");
            samples.extend(silence(2_000));
            Clip {
                name: c.clip.trim_end_matches(".wav").to_string(),
                group: "wer",
                kind: "wer".into(),
                pauses: usize::from(c.pause_ms > 0),
                text: c.text.clone(),
                samples,
                stops: Vec::new(),
            }
        })
        .collect()
}

/// A temporary directory removed on drop.
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn tempfile_dir() -> TempDir {
    let p = std::env::temp_dir().join(format!("attune-bench-endpoint-{}", std::process::id()));
    std::fs::create_dir_all(&p).expect("temp dir");
    TempDir(p)
}

fn pct(xs: &mut [u64], q: f64) -> String {
    if xs.is_empty() {
        return "-".into();
    }
    xs.sort_unstable();
    let i = ((xs.len() as f64 - 1.0) * q).round() as usize;
    format!("{}", xs[i])
}

struct Stats {
    clips: usize,
    cut: usize,
    lost: usize,
    heard: Vec<u64>,
    endpoint: Vec<u64>,
    probes: usize,
    probes_used: usize,
}

fn stats<'a>(rows: impl Iterator<Item = &'a Outcome>) -> Stats {
    let mut s = Stats { clips: 0, cut: 0, lost: 0, heard: vec![], endpoint: vec![], probes: 0, probes_used: 0 };
    for o in rows {
        s.clips += 1;
        if o.turns > 1 {
            s.cut += 1;
        }
        if o.turns == 0 {
            s.lost += 1;
        }
        s.heard.extend(o.heard_ms);
        s.endpoint.extend(o.endpoint_ms);
        s.probes += o.probes;
        s.probes_used += o.probes_used;
    }
    s
}

fn cell(s: &mut Stats) -> String {
    format!(
        "{:>3}/{:<3} {:>5.1}%  {:>5} /{:>5}  {:>5} /{:>5}",
        s.cut,
        s.clips,
        100.0 * s.cut as f64 / s.clips.max(1) as f64,
        pct(&mut s.heard, 0.5),
        pct(&mut s.heard, 0.95),
        pct(&mut s.endpoint, 0.5),
        pct(&mut s.endpoint, 0.95)
    )
}

/// The voice at each stop of the pause patterns: where the speaker goes on
/// and where they have finished, per split.
fn print_stop_pitch(clips: &[Clip]) {
    println!("\nend pitch at each stop (slope st/s, end vs median st): goes on | finished");
    for g in ["tune", "held-out"] {
        for goes_on in [true, false] {
            let mut v: Vec<String> = Vec::new();
            let mut none = 0;
            for c in clips.iter().filter(|c| c.group == g) {
                for (on, p, _) in &c.stops {
                    if *on != goes_on {
                        continue;
                    }
                    match p {
                        Some(p) => v.push(format!("{}:{:+.0}/{:+.1}", c.name, p.slope_st_per_s, p.end_vs_median_st)),
                        None => none += 1,
                    }
                }
            }
            println!("  {g:<8} {:<8} ({} unread) {}", if goes_on { "goes on" } else { "finished" }, none, v.join(" "));
        }
    }
    let mut us: Vec<u64> = clips.iter().flat_map(|c| c.stops.iter().map(|s| s.2)).collect();
    println!(
        "end_pitch cost ({} profile, up to {} ms of audio before each stop): p50 {} µs, max {} µs over {} stops",
        if cfg!(debug_assertions) { "dev" } else { "release" },
        attune_speech::prosody::TAIL_MS,
        pct(&mut us, 0.5),
        us.iter().max().copied().unwrap_or(0),
        us.len()
    );
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let tune = parse_set(TUNE_SET).expect("tune split");
    let held = parse_set(HELDOUT_SET).expect("held-out split");
    println!("endpointing bench — lexical rules on the written text (`.`/`?`/`!` only where a sentence ended)");
    println!("{:<10} {:>6} {:>15} {:>17} {:>6} {:>17} {:>15}", "split", "ends", "ends→complete", "ends→incomplete", "holds", "holds→incomplete", "holds→complete");
    for (name, items) in [("tune", &tune), ("held-out", &held)] {
        let s = score_text(items).expect("scores");
        println!(
            "{:<10} {:>6} {:>15} {:>17} {:>6} {:>17} {:>15}",
            name, s.ends, s.ends_complete, s.ends_incomplete, s.holds, s.holds_incomplete, s.holds_complete
        );
    }

    let model = default_models_dir().join("ggml-tiny.en.bin");
    let mut clips = wer_clips();
    let style = stimuli();
    // `ATTUNE_ENDPOINT_VOICE=piper` speaks the pause patterns with Piper
    // (a voice whose intonation was learned from a person, not written as rules).
    let piper = std::env::var("ATTUNE_ENDPOINT_VOICE").is_ok_and(|v| v == "piper");
    clips.extend(pattern_clips(&tune, "tune", style, piper));
    clips.extend(pattern_clips(&held, "held-out", style, piper));
    println!(
        "pause patterns spoken by {}, {}",
        if piper { "Piper" } else { "espeak-ng" },
        if style == Stimuli::Continuation { "a part the speaker goes on from with continuation intonation (a trailing comma)" } else { "each part as an utterance of its own" }
    );
    print_stop_pitch(&clips);
    if std::env::args().any(|a| a == "--pitch-only") {
        return;
    }
    // `-- --only GROUP` (wer, tune or held-out) runs one group's clips, for a
    // machine too slow to run all 82 in one sitting.
    let args: Vec<String> = std::env::args().collect();
    if let Some(g) = args.iter().position(|a| a == "--only").and_then(|i| args.get(i + 1)) {
        clips.retain(|c| c.group == g);
        assert!(!clips.is_empty(), "--only {g}: no clips (groups: wer, tune, held-out)");
    }
    let base = SpeechConfig::default();
    let stt = SttWorker::start(&model, &base.stt).expect("whisper model (scripts/fetch-models.sh)");
    let tts = TtsWorker::start(Box::new(EspeakTts::new(&base.tts).expect("espeak-ng")));
    let scratch = tempfile_dir();
    let mut fixed_cfg = base.clone();
    fixed_cfg.endpointing.mode = EndpointMode::Fixed;
    // Adaptive as first shipped: every `.`/`?`/`!` whisper closes a reading
    // with is taken as a finished thought.
    let mut trusting_cfg = base.clone();
    trusting_cfg.endpointing.mode = EndpointMode::Adaptive;
    trusting_cfg.endpointing.sure_end_p = 0.0;
    let mut adaptive_cfg = base.clone();
    adaptive_cfg.endpointing.mode = EndpointMode::Adaptive;
    // The default plus the voice before the pause (`prosody = true`).
    let mut prosody_cfg = adaptive_cfg.clone();
    prosody_cfg.endpointing.prosody = true;
    let e = &adaptive_cfg.endpointing;
    println!(
        "\n{} clips through the voice loop (whisper tiny.en, {} threads): fixed {} ms vs adaptive {}/{}/{} ms trusting every close vs adaptive with sure_end_p {} vs the same with prosody",
        clips.len(),
        base.stt.thread_count(),
        base.vad.end_silence_ms,
        e.short_silence_ms,
        base.vad.end_silence_ms,
        e.long_silence_ms,
        e.sure_end_p
    );
    let modes = ["fixed", "trusting", "adaptive", "prosody"];
    let mut rows: Vec<[Outcome; 4]> = Vec::new();
    for c in &clips {
        let r = [
            run(&fixed_cfg, &stt, &tts, &c.samples, &scratch.0),
            run(&trusting_cfg, &stt, &tts, &c.samples, &scratch.0),
            run(&adaptive_cfg, &stt, &tts, &c.samples, &scratch.0),
            run(&prosody_cfg, &stt, &tts, &c.samples, &scratch.0),
        ];
        let mut line = format!("  {:<14} {:<18} pauses {} ", c.name, c.kind, c.pauses);
        for (m, o) in modes.iter().zip(r.iter()) {
            line.push_str(&format!(
                " {m}: {} turn(s) heard {:>5} ms",
                o.turns,
                o.heard_ms.map(|x| x.to_string()).unwrap_or("-".into())
            ));
        }
        line.push_str(&format!("  {:?} →", c.text));
        for (m, o) in modes.iter().zip(r.iter()) {
            line.push_str(&format!(" {m} {:?}", o.text));
        }
        println!("{line}");
        rows.push(r);
    }

    println!("\nturn latency = end of speech → transcript at the engine (ms); endpoint = end of speech → end of turn (ms)");
    println!("each mode: cut-off, turn latency p50/p95, endpoint p50/p95");
    println!(
        "{:<20} | {:^44} | {:^44} | {:^44} | {:^44} | {:>9}",
        "clips", "fixed 700 ms", "adaptive, every close trusted", "adaptive, sure closes only (default)", "default + prosody", "probes"
    );
    let groups: Vec<(String, Box<dyn Fn(&Clip) -> bool>)> = vec![
        ("asr set (clean+10dB)".into(), Box::new(|c: &Clip| c.group == "wer")),
        ("pause patterns tune".into(), Box::new(|c: &Clip| c.group == "tune")),
        ("pause patterns held".into(), Box::new(|c: &Clip| c.group == "held-out")),
        ("held-out + asr set".into(), Box::new(|c: &Clip| c.group != "tune")),
        ("all".into(), Box::new(|_: &Clip| true)),
    ];
    let kinds = ["complete", "question", "conjunction", "filler", "mid-sentence", "list", "sentence-then-more"];
    let mut all_groups = groups;
    for k in kinds {
        all_groups.push((format!("  held-out {k}"), Box::new(move |c: &Clip| c.group == "held-out" && c.kind == k)));
    }
    for (name, pick) in &all_groups {
        let sel: Vec<&[Outcome; 4]> = clips.iter().zip(rows.iter()).filter(|(c, _)| pick(c)).map(|(_, r)| r).collect();
        if sel.is_empty() {
            continue;
        }
        let mut st: Vec<Stats> = (0..4).map(|i| stats(sel.iter().map(|r| &r[i]))).collect();
        let lost: Vec<usize> = st.iter().map(|s| s.lost).collect();
        let (used, taken) = (st[2].probes_used, st[2].probes);
        println!(
            "{:<20} | {} | {} | {} | {} | {:>4}/{:<4}{}",
            name,
            cell(&mut st[0]),
            cell(&mut st[1]),
            cell(&mut st[2]),
            cell(&mut st[3]),
            used,
            taken,
            if lost.iter().any(|&l| l > 0) { format!("  (no turn: {lost:?})") } else { String::new() }
        );
    }
    println!("probes = the default adaptive mode's transcriptions at a short silence used as the turn's transcript / taken (the rest is the extra whisper work)");

    // What a cut costs the participant: the default mode again, now with an
    // engine that answers each utterance after a delay, as an LLM does.
    // `-- --no-answers` skips this part.
    if args.iter().any(|a| a == "--no-answers") {
        return;
    }
    let delay = Duration::from_millis(std::env::var("ATTUNE_ENDPOINT_ANSWER_MS").ok().and_then(|v| v.parse().ok()).unwrap_or(1_000));
    println!(
        "\nthe default mode with an engine answering {} ms after each utterance: replies held (came back while the participant held the floor, or before their next turn was read; without the hold each would have been spoken over them or to half a thought), withdrawn, robot audio over their voice, clips where a reply played before their last word",
        delay.as_millis()
    );
    let mut answered: Vec<[Answered; 2]> = Vec::new();
    for c in &clips {
        let pair = [true, false].map(|y| run_answering(&adaptive_cfg, &stt, &tts, &c.samples, &scratch.0, delay, y));
        let mut line = format!("  {:<14} {:<18}", c.name, c.kind);
        for (m, a) in ["held", "as before"].iter().zip(pair.iter()) {
            line.push_str(&format!(
                "  {m}: turns {} withdrawn {} spoken {} over {:>4} ms latency {:>5}{}",
                a.turns,
                a.withdrawn,
                a.spoken,
                a.over_ms,
                a.last_latency_ms.map(|x| x.to_string()).unwrap_or("-".into()),
                if a.answered_early { " EARLY" } else { "" }
            ));
        }
        println!("{line}");
        answered.push(pair);
    }
    println!("each: cut off (more than one turn), replies withdrawn, replies spoken, ms of robot audio over the participant's voice, clips answered before their last word, end of last turn → first robot audio after it p50/p95 ms");
    println!("{:<26} | {:^58} | {:^58} | held", "clips", "replies held and withdrawn (attune)", "as before: audio plays as it comes back");
    for (name, pick) in &all_groups {
        let sel: Vec<&[Answered; 2]> = clips.iter().zip(answered.iter()).filter(|(c, _)| pick(c)).map(|(_, a)| a).collect();
        if sel.is_empty() {
            continue;
        }
        let cell = |i: usize| {
            let mut lat: Vec<u64> = sel.iter().filter_map(|a| a[i].last_latency_ms).collect();
            format!(
                "{:>2}/{:<3} wd {:>2} spoken {:>3} over {:>5} early {:>2} {:>5}/{:>5}",
                sel.iter().filter(|a| a[i].turns > 1).count(),
                sel.len(),
                sel.iter().map(|a| a[i].withdrawn).sum::<usize>(),
                sel.iter().map(|a| a[i].spoken).sum::<usize>(),
                sel.iter().map(|a| a[i].over_ms).sum::<u64>(),
                sel.iter().filter(|a| a[i].answered_early).count(),
                pct(&mut lat, 0.5),
                pct(&mut lat.clone(), 0.95)
            )
        };
        println!("{:<26} | {:<58} | {:<58} | {}", name, cell(0), cell(1), sel.iter().map(|a| a[0].held).sum::<usize>());
    }
}
