//! TTS benchmark (prints figures; `cargo bench -p attune-speech --bench tts`).
//!
//! 1. Time to first audio per engine, espeak-ng (the reference) and Piper side
//!    by side in one run, for sentences of different lengths: the voice loop
//!    streams per sentence, so a reply's first audio waits for exactly one
//!    sentence's synthesis. With real-time factor (synthesis time / audio).
//!    A reply's first sentence, clause first (what the voice loop does with
//!    Piper): time to first audio for the first clause vs the whole
//!    sentence, and whether the rest is ready before the first clause has
//!    played (else a gap at the seam).
//! 2. Start-up: Piper's model load and its first (cold) synthesis.
//! 3. Round trip: each engine's audio through whisper tiny.en, WER against
//!    the text (espeak-ng again the reference).
//!
//! Needs scripts/fetch-models.sh (whisper tiny.en, the Piper voice, ONNX Runtime).

use attune_speech::audio::SAMPLE_RATE;
use attune_speech::piper::PiperTts;
use attune_speech::stt::{default_models_dir, WhisperStt};
use attune_speech::tts::{split_first_clause, EspeakTts, Tts};
use attune_speech::wer::WordErrors;
use attune_speech::{SttConfig, TtsConfig};
use std::time::Instant;

const RUNS: usize = 5;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn main() {
    let models = default_models_dir();
    let cfg = TtsConfig::default();
    let t = Instant::now();
    let mut piper = match PiperTts::new(&cfg, &models) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("bench: {e}; run scripts/fetch-models.sh");
            std::process::exit(1);
        }
    };
    let load_ms = t.elapsed().as_secs_f64() * 1e3;
    let t = Instant::now();
    piper.synthesize("Hello.").expect("piper");
    let cold_ms = t.elapsed().as_secs_f64() * 1e3;
    let mut espeak = EspeakTts::new(&cfg).expect("espeak-ng");
    println!("== Piper start-up: {} ==", piper.describe());
    println!("model load {load_ms:.0} ms, first (cold) synthesis of \"Hello.\" {cold_ms:.0} ms, {} intra-op threads", cfg.piper_thread_count());

    let sentences = [
        ("short", "Thank you for telling me."),
        ("medium", "It sounds like this week has been really hard for you."),
        (
            "long",
            "When you feel this stressed before your exams, it can help to take a short walk, breathe slowly, and talk to someone you trust about it.",
        ),
    ];
    println!("\n== Time to first audio (one sentence's synthesis), median of {RUNS} runs ==");
    println!("{:<7} {:>6} {:>9} {:>11} {:>9} {:>11} {:>9} {:>10}", "length", "words", "audio_s", "espeak_ms", "espeak", "piper_ms", "piper", "piper/esp");
    println!("{:<7} {:>6} {:>9} {:>11} {:>9} {:>11} {:>9} {:>10}", "", "", "(piper)", "", "RTF", "", "RTF", "");
    for (label, s) in sentences {
        let mut e_ms = vec![];
        let mut p_ms = vec![];
        let mut e_len = 0;
        let mut p_len = 0;
        for _ in 0..RUNS {
            let t = Instant::now();
            e_len = espeak.synthesize(s).expect("espeak").len();
            e_ms.push(t.elapsed().as_secs_f64() * 1e3);
            let t = Instant::now();
            p_len = piper.synthesize(s).expect("piper").len();
            p_ms.push(t.elapsed().as_secs_f64() * 1e3);
        }
        let (e, p) = (median(e_ms), median(p_ms));
        let e_s = e_len as f64 / SAMPLE_RATE as f64;
        let p_s = p_len as f64 / SAMPLE_RATE as f64;
        println!(
            "{label:<7} {:>6} {:>9.2} {:>11.1} {:>9.3} {:>11.1} {:>9.3} {:>9.1}x",
            s.split_whitespace().count(),
            p_s,
            e,
            e / 1e3 / e_s,
            p,
            p / 1e3 / p_s,
            p / e
        );
    }

    // Reply openings with a clause first, as the engine's replies begin.
    let openings = [
        "It sounds like this week has been really heavy for you, and I am glad you told me.",
        "Moving somewhere new can feel lonely at first, especially when everyone else seems settled.",
        "I hear how much that grade meant to you, so it makes sense that you feel let down.",
        "When you say nobody calls you back, that sounds like it really hurts.",
        "That was a lot to carry on your own, and you did keep going.",
        "Thank you for trusting me with something so personal; it matters that you said it.",
    ];
    println!("\n== A reply's first sentence, clause first (Piper), median of {RUNS} runs ==");
    println!("{:<5} {:>9} {:>10} {:>8} {:>10} {:>9} {:>8}", "", "whole_ms", "clause_ms", "saved", "clause_s", "rest_ms", "gap_ms");
    let (mut whole_all, mut clause_all) = (vec![], vec![]);
    for (i, s) in openings.iter().enumerate() {
        let Some((head, rest)) = split_first_clause(s) else {
            println!("{:<5} not split: {s}", i + 1);
            continue;
        };
        let (mut w_ms, mut h_ms, mut r_ms) = (vec![], vec![], vec![]);
        let mut h_len = 0;
        for _ in 0..RUNS {
            let t = Instant::now();
            piper.synthesize(s).expect("piper");
            w_ms.push(t.elapsed().as_secs_f64() * 1e3);
            let t = Instant::now();
            h_len = piper.synthesize(head).expect("piper").len();
            h_ms.push(t.elapsed().as_secs_f64() * 1e3);
            let t = Instant::now();
            piper.synthesize(rest).expect("piper");
            r_ms.push(t.elapsed().as_secs_f64() * 1e3);
        }
        let (w, h, r) = (median(w_ms), median(h_ms), median(r_ms));
        let h_s = h_len as f64 / SAMPLE_RATE as f64;
        // The rest is synthesised while the first clause plays.
        let gap = (r - h_s * 1e3).max(0.0);
        println!("{:<5} {w:>9.0} {h:>10.0} {:>7.0}% {h_s:>10.2} {r:>9.0} {gap:>8.0}", i + 1, 100.0 * (w - h) / w);
        whole_all.push(w);
        clause_all.push(h);
    }
    if !whole_all.is_empty() {
        println!("median  whole {:.0} ms  clause first {:.0} ms  (reference: the whole first sentence, what the loop waited for before)", median(whole_all), median(clause_all));
    }

    let whisper = models.join("ggml-tiny.en.bin");
    let mut stt = match WhisperStt::load(&whisper, &SttConfig::default()) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("bench: {e}; run scripts/fetch-models.sh");
            std::process::exit(1);
        }
    };
    let round_trip = [
        "I have been feeling really stressed about my exams this week.",
        "That sounds hard, and it makes sense that you feel tired.",
        "What helped you the last time you felt like this?",
        "My sister called me this morning, and we talked for almost an hour.",
        "Would you like to tell me more about your family?",
        "It is okay to take things one day at a time.",
        "The doctor said my results were fine, so I feel calmer now.",
        "Thank you for sharing that with me.",
    ];
    println!("\n== Round trip: TTS → whisper tiny.en, WER % per sentence ==");
    println!("{:>8} {:>8}  sentence / piper heard", "espeak", "piper");
    let mut tot_e = WordErrors::default();
    let mut tot_p = WordErrors::default();
    for s in round_trip {
        let he = stt.transcribe(&espeak.synthesize(s).expect("espeak")).expect("stt").text;
        let hp = stt.transcribe(&piper.synthesize(s).expect("piper")).expect("stt").text;
        let (we, wp) = (WordErrors::between(s, &he), WordErrors::between(s, &hp));
        println!("{:>8.1} {:>8.1}  {s} / {hp}", we.percent(), wp.percent());
        tot_e.add(we);
        tot_p.add(wp);
    }
    println!("{:>8.1} {:>8.1}  all ({} words)", tot_e.percent(), tot_p.percent(), tot_e.ref_words);
}
