//! The Piper voice with its real parts: the en_US-joe-medium model and
//! libonnxruntime.so from scripts/fetch-piper.sh, espeak-ng for phonemes,
//! whisper tiny.en listening to the result.

use attune_speech::audio::{rms, SAMPLE_RATE};
use attune_speech::piper::{PiperPaths, PiperTts};
use attune_speech::stt::{default_models_dir, WhisperStt};
use attune_speech::tts::{EspeakTts, Tts, TtsAudio, TtsJob, TtsWorker};
use attune_speech::tts_engine::{open_tts, TtsEngine, TtsFallback};
use attune_speech::wer::WordErrors;
use attune_speech::{SpeechError, SttConfig, TtsConfig};

fn piper() -> PiperTts {
    PiperTts::new(&TtsConfig::default(), &default_models_dir()).expect("the Piper voice and ONNX Runtime: run scripts/fetch-models.sh")
}

/// A models dir holding copies of the real voice config and library, with
/// `model` as the voice model.
fn models_with(model: &[u8]) -> tempfile::TempDir {
    let real = PiperPaths::resolve(&TtsConfig::default(), &default_models_dir());
    let dir = tempfile::tempdir().unwrap();
    let fake = PiperPaths::resolve(&TtsConfig::default(), dir.path());
    std::fs::create_dir_all(fake.model.parent().unwrap()).unwrap();
    std::fs::write(&fake.model, model).unwrap();
    std::fs::copy(&real.config, &fake.config).unwrap();
    std::fs::create_dir_all(fake.onnxruntime.parent().unwrap()).unwrap();
    // A link, not a copy: ONNX Runtime can only be loaded from one file per process.
    std::os::unix::fs::symlink(&real.onnxruntime, &fake.onnxruntime).unwrap();
    dir
}

#[test]
fn pipers_voice_through_whisper_gives_back_the_text() {
    let mut tts = piper();
    let mut stt = WhisperStt::load(&default_models_dir().join("ggml-tiny.en.bin"), &SttConfig::default()).unwrap();
    let sentences = [
        "I have been feeling really stressed about my exams this week.",
        "That sounds hard, and it makes sense that you feel tired.",
        "What helped you the last time you felt like this?",
    ];
    let mut total = WordErrors::default();
    for s in sentences {
        let t = std::time::Instant::now();
        let audio = tts.synthesize(s).unwrap();
        eprintln!("piper: {} ms", t.elapsed().as_millis());
        let secs = audio.len() as f32 / SAMPLE_RATE as f32;
        assert!((1.0..8.0).contains(&secs), "{s:?}: {secs} s");
        assert!(rms(&audio) > 0.03, "{s:?}: rms {}", rms(&audio));
        assert!(audio.iter().all(|x| x.is_finite() && x.abs() <= 1.0));
        let t = std::time::Instant::now();
        let heard = stt.transcribe(&audio).unwrap().text;
        eprintln!("whisper: {} ms", t.elapsed().as_millis());
        let e = WordErrors::between(s, &heard);
        eprintln!("{s:?} -> {heard:?}: WER {:.1} %", e.percent());
        total.add(e);
    }
    // whisper tiny.en hears espeak-ng's en-us voice at a few per cent; a
    // natural voice should do no worse. One word in ten is the bound.
    assert!(total.percent() < 10.0, "round-trip WER {:.1} %", total.percent());
}

/// Audio of `n` finished sentences (their last parts) from `w`, in order.
fn collect(w: &TtsWorker, n: usize) -> Vec<TtsAudio> {
    let mut out = Vec::new();
    let t0 = std::time::Instant::now();
    while out.iter().filter(|a: &&TtsAudio| a.last).count() < n {
        assert!(t0.elapsed().as_secs() < 120, "the TTS worker gave {} pieces in 2 min", out.len());
        match w.try_audio() {
            Some(a) => out.push(a),
            None => std::thread::sleep(std::time::Duration::from_millis(10)),
        }
    }
    out
}

#[test]
fn a_replys_first_sentence_is_spoken_clause_first_and_the_parts_say_the_whole_sentence() {
    let text = "It sounds like this week has been really heavy for you, and I am glad that you told me about it.";
    let w = TtsWorker::start(Box::new(piper()));
    // The same sentence as a reply's first and as a later one.
    w.submit(TtsJob { utt: 1, seq: 0, text: text.into(), first: true }).unwrap();
    w.submit(TtsJob { utt: 1, seq: 1, text: text.into(), first: false }).unwrap();
    let got = collect(&w, 2);
    let parts: Vec<(u32, u32, bool)> = got.iter().map(|a| (a.seq, a.part, a.last)).collect();
    assert_eq!(parts, vec![(0, 0, false), (0, 1, true), (1, 0, true)]);
    let audio = |a: &TtsAudio| a.audio.as_ref().unwrap().clone();
    assert_eq!(got[0].chars + got[1].chars, text.chars().count(), "the parts' characters add up to the sentence's");
    assert_eq!(got[2].chars, text.chars().count());
    // The first clause is the shorter audio, so the reply can start sooner.
    let (head, rest, whole) = (audio(&got[0]), audio(&got[1]), audio(&got[2]));
    assert!(head.len() * 4 < whole.len() * 3 && rest.len() * 4 > whole.len(), "{} + {} samples vs {}", head.len(), rest.len(), whole.len());
    // Played one after the other, whisper hears the whole sentence.
    let mut stt = WhisperStt::load(&default_models_dir().join("ggml-tiny.en.bin"), &SttConfig::default()).unwrap();
    let joined: Vec<f32> = head.iter().chain(rest.iter()).copied().collect();
    let heard = stt.transcribe(&joined).unwrap().text;
    let e = WordErrors::between(text, &heard);
    assert!(e.percent() < 15.0, "{heard:?}: WER {:.1} %", e.percent());
    // espeak-ng synthesises a sentence in tens of ms: it keeps it whole.
    let w = TtsWorker::start(Box::new(EspeakTts::new(&TtsConfig::default()).unwrap()));
    w.submit(TtsJob { utt: 2, seq: 0, text: text.into(), first: true }).unwrap();
    let got = collect(&w, 1);
    assert_eq!(got.iter().map(|a| (a.part, a.last)).collect::<Vec<_>>(), vec![(0, true)]);
}

#[test]
fn an_empty_sentence_is_silence_not_an_error() {
    let mut tts = piper();
    assert!(tts.synthesize("  ").unwrap().is_empty());
    assert!(tts.synthesize("...").unwrap().is_empty());
}

#[test]
fn a_corrupt_voice_model_is_an_error_naming_the_file() {
    let garbage = models_with(b"this is not an onnx model at all");
    let e = PiperTts::new(&TtsConfig::default(), garbage.path()).unwrap_err();
    assert!(matches!(e, SpeechError::TtsModel { .. }), "{e}");
    assert!(e.to_string().contains("en_US-joe-medium.onnx"), "{e}");
    // The first megabyte of the real model: a truncated download.
    let real = PiperPaths::resolve(&TtsConfig::default(), &default_models_dir());
    let head: Vec<u8> = std::fs::read(&real.model).unwrap().into_iter().take(1 << 20).collect();
    let truncated = models_with(&head);
    let e = PiperTts::new(&TtsConfig::default(), truncated.path()).unwrap_err().to_string();
    assert!(e.contains(&truncated.path().display().to_string()) && e.contains("en_US-joe-medium.onnx"), "{e}");
}

#[test]
fn a_missing_onnxruntime_library_is_an_error_naming_it_or_falls_back_to_espeak() {
    let cfg = TtsConfig { onnxruntime: "/nonexistent/libonnxruntime.so".into(), ..TtsConfig::default() };
    let e = PiperTts::new(&cfg, &default_models_dir()).unwrap_err();
    assert!(matches!(e, SpeechError::OnnxRuntime { .. }), "{e}");
    assert!(e.to_string().contains("/nonexistent/libonnxruntime.so"), "{e}");

    let strict = TtsConfig { fallback: TtsFallback::None, ..cfg.clone() };
    let e = open_tts(&strict, &default_models_dir(), false).err().expect("no fallback: an error").to_string();
    assert!(e.contains("/nonexistent/libonnxruntime.so"), "{e}");

    let mut opened = open_tts(&cfg, &default_models_dir(), false).unwrap();
    assert_eq!(opened.engine, TtsEngine::EspeakNg);
    assert!(opened.description.contains("espeak-ng") && opened.description.contains("/nonexistent/libonnxruntime.so"), "{}", opened.description);
    assert!(opened.tts.synthesize("Still speaking.").unwrap().len() > SAMPLE_RATE as usize / 2);
}

#[test]
fn a_file_that_is_not_onnx_runtime_is_refused_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let lib = dir.path().join("libonnxruntime.so");
    std::fs::write(&lib, b"\x7fELF but not really").unwrap();
    let cfg = TtsConfig { onnxruntime: lib.clone(), ..TtsConfig::default() };
    let e = PiperTts::new(&cfg, &default_models_dir()).unwrap_err().to_string();
    assert!(e.contains(&lib.display().to_string()), "{e}");
}

#[test]
fn the_default_engine_is_piper_and_it_starts_when_installed() {
    let opened = open_tts(&TtsConfig::default(), &default_models_dir(), true).unwrap();
    assert_eq!(opened.engine, TtsEngine::Piper, "{}", opened.description);
    assert!(opened.fallback_reason.is_none());
    assert!(opened.description.contains("en_US-joe-medium.onnx") && opened.description.contains("libonnxruntime.so"), "{}", opened.description);
}
