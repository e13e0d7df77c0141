//! Short overlaps as the loop reads them: each line of the overlap files
//! spoken by espeak-ng (the participant's voice of the loop tests), heard by
//! whisper tiny.en, then read by `overlap::classify`. The text figures of
//! the same files are in `overlap.rs`'s tests; these add what whisper makes
//! of "mm-hmm" and "nah".

use attune_speech::overlap::{classify, classify_heard, parse_items, score, OverlapItem, OverlapWords};
use attune_speech::stt::{default_models_dir, WhisperStt};
use attune_speech::tts::{EspeakTts, Tts};
use attune_speech::audio::ms_to_samples;
use attune_speech::{SpeechConfig, SttConfig, TtsConfig};

fn items(name: &str) -> Vec<OverlapItem> {
    let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("eval/overlap").join(name);
    parse_items(&std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))).unwrap()
}

#[test]
fn overlaps_spoken_and_heard_by_whisper_are_read_as_backchannel_or_turn() {
    let model = default_models_dir().join("ggml-tiny.en.bin");
    assert!(model.exists(), "{} missing: run scripts/fetch-models.sh", model.display());
    let mut stt = WhisperStt::load(&model, &SttConfig::default()).unwrap();
    if std::env::var("OVERLAP_FULL_CTX").is_ok() {
        stt.set_scale_audio_ctx(false);
    }
    let mut tts = EspeakTts::new(&TtsConfig { voice: "en-gb".into(), rate_wpm: 160, ..TtsConfig::default() }).unwrap();
    for name in ["tune.jsonl", "heldout.jsonl"] {
        let set = items(name);
        let mut heard = std::collections::HashMap::new();
        for it in &set {
            // As the loop hands it to whisper: the pre-roll's quiet before
            // the voice and the pause that ended the overlap after it.
            let mut audio = vec![0.0; ms_to_samples(SpeechConfig::default().vad.preroll_ms as u64)];
            audio.extend(tts.synthesize(&it.text).unwrap());
            audio.extend(vec![0.0; ms_to_samples(SpeechConfig::default().vad.pause_ms as u64)]);
            let t = stt.transcribe(&audio).unwrap();
            heard.insert(it.text.clone(), (t.text, t.mean_p));
        }
        let (s, wrong) = score(&set, |t| classify_heard(&heard[t].0, heard[t].1, &[], false));
        let wrong: Vec<String> = wrong
            .iter()
            .map(|w| match heard.iter().find(|(k, _)| w.ends_with(&format!("{k:?}"))) {
                Some((_, (text, p))) => format!("{w} (heard {text:?}, p {p:.2})"),
                None => w.clone(),
            })
            .collect();
        eprintln!(
            "{name} through espeak-ng and whisper: backchannels {}/{}, content {}/{}\n  {}",
            s.backchannel_right, s.backchannels, s.content_right, s.contents, wrong.join("\n  ")
        );
        // Floors under the figures measured when this was written (README,
        // "Short overlaps"); content dropped costs more than a backchannel
        // answered, so its floor is the higher.
        let (bc_floor, ct_floor) = if name == "tune.jsonl" { (0.85, 0.85) } else { (0.80, 0.85) };
        assert!(s.backchannel_right as f64 >= bc_floor * s.backchannels as f64, "{name}: {s:?}");
        assert!(s.content_right as f64 >= ct_floor * s.contents as f64, "{name}: {s:?}");
    }
    // Whisper's own rendering of silence-adjacent noise is nothing, not a turn.
    assert_ne!(classify("you", &[]), OverlapWords::Turn);
}
