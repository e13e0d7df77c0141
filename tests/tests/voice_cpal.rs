//! The live voice arm through cpal, for real, on a machine with no sound
//! card: `scripts/services.d/20-pulseaudio.sh` starts a userspace PulseAudio
//! with a null sink (the speaker; its monitor is recorded with `parec`) and a
//! pipe source (the microphone; this test writes speech into its FIFO in real
//! time). cpal reaches it through ALSA's pulse plugin. Without that service
//! (`ATTUNE_TEST_PULSE_FIFO` unset) the test says so and does nothing.

use attune_tests::attune_bin;
use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[test]
fn live_voice_arm_hears_the_microphone_and_speaks_into_the_speaker() {
    let Some(fifo) = std::env::var_os("ATTUNE_TEST_PULSE_FIFO") else {
        eprintln!("skipped: ATTUNE_TEST_PULSE_FIFO not set (source scripts/services.d/20-pulseaudio.sh)");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let wav = dir.path().join("u.wav");
    let st = Command::new(attune_bin()).args(["say", "Hello, I feel quite tired today.", "--out"]).arg(&wav).status().unwrap();
    assert!(st.success());
    let speech: Vec<i16> = hound::WavReader::open(&wav).unwrap().into_samples::<i16>().map(|s| s.unwrap()).collect();

    // Record what the speaker plays (null sink monitor), 16 kHz mono.
    let mon_path = dir.path().join("mon.raw");
    let mut parec = Command::new("parec")
        .args(["-d", "attune_null.monitor", "--rate=16000", "--channels=1", "--format=s16le"])
        .stdout(std::fs::File::create(&mon_path).unwrap())
        .spawn()
        .expect("parec (pulseaudio-utils) is needed with the PulseAudio service");

    // The microphone: keep the FIFO fed (silence, speech, silence) in real time.
    let fifo2 = fifo.clone();
    let writer = std::thread::spawn(move || {
        let mut f = std::fs::OpenOptions::new().write(true).open(&fifo2).unwrap();
        let mut audio = vec![0i16; 16_000 * 3];
        audio.extend(&speech);
        audio.extend(vec![0i16; 16_000 * 14]);
        let t0 = Instant::now();
        for (i, chunk) in audio.chunks(320).enumerate() {
            let bytes: Vec<u8> = chunk.iter().flat_map(|s| s.to_le_bytes()).collect();
            if f.write_all(&bytes).is_err() {
                return;
            }
            let due = t0 + Duration::from_millis(20 * (i as u64 + 1));
            if let Some(d) = due.checked_duration_since(Instant::now()) {
                std::thread::sleep(d);
            }
        }
    });
    std::thread::sleep(Duration::from_millis(300));
    let transcript = dir.path().join("t.jsonl");
    let mut attune = Command::new(attune_bin())
        .args(["run", "--arm", "voice", "--llm", "reflect", "--transcript"])
        .arg(&transcript)
        .arg("--db")
        .arg(dir.path().join("s.db"))
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.path().join("err.txt")).unwrap())
        .spawn()
        .unwrap();
    writer.join().unwrap();
    // Ctrl-C ends a live session.
    let st = Command::new("kill").args(["-INT", &attune.id().to_string()]).status().unwrap();
    assert!(st.success());
    let deadline = Instant::now() + Duration::from_secs(20);
    let code = loop {
        if let Some(s) = attune.try_wait().unwrap() {
            break s.code();
        }
        if Instant::now() > deadline {
            let _ = attune.kill();
            panic!("attune did not stop within 20 s of Ctrl-C");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let _ = parec.kill();
    let _ = parec.wait();
    let err = std::fs::read_to_string(dir.path().join("err.txt")).unwrap_or_default();
    assert_eq!(code, Some(0), "{err}");
    let text = std::fs::read_to_string(&transcript).unwrap();
    let lines: Vec<serde_json::Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 1, "{text}\n{err}");
    let asr = lines[0]["asr_text"].as_str().unwrap().to_lowercase();
    assert!(asr.contains("tired"), "{asr:?}");
    assert!(lines[0]["turn_latency_ms"].as_u64().is_some());
    let mon = std::fs::read(&mon_path).unwrap();
    let loud = mon.chunks_exact(2).filter(|c| i16::from_le_bytes([c[0], c[1]]).unsigned_abs() > 1_000).count();
    assert!(loud > 8_000, "the speaker played almost nothing ({loud} loud samples)");
}
