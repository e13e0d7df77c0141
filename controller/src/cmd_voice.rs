//! `attune run --arm voice`, `attune transcribe`, `attune say`, `attune audio`.
//!
//! The voice arm: microphone (or `--audio-in` WAV) → VAD → whisper → the same
//! [`ChatSession`] as `attune chat` → espeak-ng → speaker (or `--audio-out`).
//! The frame loop (`attune_speech::voice_loop`) runs on a blocking thread; the
//! session runs on the async runtime; they talk over bounded channels:
//! - loop → engine: 32 commands (utterances, interruptions); when full the
//!   utterance is handed back to the loop, which logs and drops it;
//! - engine → loop: 64 reply events; the engine task waits when it is full
//!   (the loop drains it every 16 ms frame).

use crate::engine_args::EngineArgs;
use crate::session::{self, ChatSession, TurnReport};
use anyhow::Context;
use attune_speech::device::{list_devices, MicSource, SpeakerSink};
use attune_speech::file_io::{WavSink, WavSource};
use attune_speech::stt::{SttWorker, WhisperStt};
use attune_speech::tts::{EspeakTts, Tts, TtsWorker};
use attune_speech::voice_loop::{
    FrameSource, LoopEvent, Pacing, PlaybackSink, ReplyEvent, Responder, TurnRecord, Utterance, VoiceLoop,
};
use attune_speech::{SpeechConfig, SpeechError};
use clap::{Args, Subcommand};
use serde::Serialize;
use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use tokio::sync::mpsc;

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Which arm: voice.
    #[arg(long)]
    pub arm: String,
    #[command(flatten)]
    pub engine: EngineArgs,
    /// Read the participant from this WAV file instead of the microphone.
    #[arg(long, value_name = "IN.wav")]
    pub audio_in: Option<PathBuf>,
    /// Write the robot's speech here (at the times it is heard) instead of the speaker.
    #[arg(long, value_name = "OUT.wav")]
    pub audio_out: Option<PathBuf>,
    /// One JSON line per turn: the chat fields plus asr_text, asr_ms,
    /// endpoint_ms, tts_first_audio_ms, turn_latency_ms.
    #[arg(long, value_name = "OUT.jsonl")]
    pub transcript: Option<PathBuf>,
    /// With --audio-in: skip idle time instead of playing the file in real time.
    #[arg(long)]
    pub fast: bool,
}

#[derive(Debug, Args)]
pub struct TranscribeArgs {
    /// WAV file (any rate, any channel count).
    pub file: PathBuf,
    /// Config file (TOML) for `[speech.stt]`.
    #[arg(long)]
    pub config: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct SayArgs {
    /// Text to speak.
    pub text: String,
    /// Output WAV (16 kHz mono).
    #[arg(long)]
    pub out: PathBuf,
    /// Config file (TOML) for `[speech.tts]`.
    #[arg(long)]
    pub config: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum AudioCmd {
    /// List audio devices.
    Devices,
}

/// One transcript line of the voice arm.
#[derive(Serialize)]
struct VoiceTurn {
    /// The chat fields, exactly as `attune chat --script` prints them.
    #[serde(flatten)]
    chat: TurnReport,
    /// What whisper heard.
    asr_text: String,
    /// whisper's time for the utterance.
    asr_ms: u64,
    /// End of participant speech → end of turn decided.
    endpoint_ms: u64,
    /// First sentence → its synthesised audio.
    tts_first_audio_ms: Option<u64>,
    /// End of participant speech → first robot audio heard.
    turn_latency_ms: Option<u64>,
    /// The participant cut the reply off.
    interrupted: bool,
    /// Characters of the reply that were heard.
    spoken_chars: usize,
}

/// Loop → engine task.
enum EngineCmd {
    /// Answer this utterance.
    Turn(Utterance),
    /// The reply to utterance `id` was cut after `spoken` characters.
    Interrupted { id: u64, spoken: usize },
    /// Log a session event.
    Event { kind: String, payload: serde_json::Value },
}

/// The [`Responder`] the voice loop sees: two bounded channels to the engine task.
struct ChannelResponder {
    /// Commands to the engine task (bounded, 32).
    cmd: mpsc::Sender<EngineCmd>,
    /// Reply events from it (bounded, 64).
    events: mpsc::Receiver<ReplyEvent<TurnReport>>,
}

impl Responder<TurnReport> for ChannelResponder {
    fn submit(&mut self, utt: Utterance) -> Result<(), SpeechError> {
        self.cmd.try_send(EngineCmd::Turn(utt)).map_err(|e| SpeechError::Worker(format!("dialogue engine queue: {e}")))
    }
    fn poll(&mut self) -> Option<ReplyEvent<TurnReport>> {
        self.events.try_recv().ok()
    }
    fn interrupted(&mut self, id: u64, spoken_chars: usize) {
        if self.cmd.try_send(EngineCmd::Interrupted { id, spoken: spoken_chars }).is_err() {
            tracing::warn!(id, "could not record an interruption: engine queue full");
        }
    }
}

/// Runs turns on the session as commands arrive; returns the session at the end.
async fn engine_task(
    mut session: ChatSession,
    mut cmds: mpsc::Receiver<EngineCmd>,
    events: mpsc::Sender<ReplyEvent<TurnReport>>,
) -> ChatSession {
    let mut turn_of: HashMap<u64, u64> = HashMap::new();
    while let Some(cmd) = cmds.recv().await {
        match cmd {
            EngineCmd::Turn(utt) => {
                let (stx, mut srx) = mpsc::channel::<String>(16);
                let result = {
                    let fut = session.turn(&utt.text, Some(&stx));
                    tokio::pin!(fut);
                    loop {
                        tokio::select! {
                            r = &mut fut => break r,
                            Some(s) = srx.recv() => {
                                let _ = events.send(ReplyEvent::Sentence { id: utt.id, text: s }).await;
                            }
                        }
                    }
                };
                drop(stx);
                while let Ok(s) = srx.try_recv() {
                    let _ = events.send(ReplyEvent::Sentence { id: utt.id, text: s }).await;
                }
                let ev = match result {
                    Ok(report) => {
                        turn_of.insert(utt.id, report.turn);
                        ReplyEvent::Done { id: utt.id, report }
                    }
                    Err(e) => ReplyEvent::Failed { id: utt.id, error: format!("{e:#}") },
                };
                let _ = events.send(ev).await;
            }
            EngineCmd::Interrupted { id, spoken } => match turn_of.get(&id) {
                Some(&turn) => {
                    if let Err(e) = session.mark_interrupted(turn, spoken) {
                        tracing::warn!("could not mark turn {turn} interrupted: {e:#}");
                    }
                }
                None => tracing::warn!(id, "interruption for an unknown utterance"),
            },
            EngineCmd::Event { kind, payload } => {
                if let Err(e) = session.event(&kind, &payload) {
                    tracing::warn!("could not log {kind}: {e:#}");
                }
            }
        }
    }
    session
}

pub fn run_arm(a: RunArgs) -> anyhow::Result<()> {
    if a.arm != "voice" {
        anyhow::bail!("--arm {:?}: `attune run` runs the voice arm (--arm voice); the chatbot arm is `attune chat`", a.arm);
    }
    if a.fast && a.audio_in.is_none() {
        anyhow::bail!("--fast needs --audio-in (a microphone cannot be fast-forwarded)");
    }
    let resolved = session::resolve(&a.engine)?;
    let speech = resolved.cfg.speech.clone();
    speech.validate().map_err(|e| anyhow::anyhow!("{e}"))?;
    // Everything that can fail on a bad file or a missing model fails here,
    // before a session row exists.
    let source_file = match &a.audio_in {
        Some(p) => Some(WavSource::open(p)?),
        None => None,
    };
    let model = speech.stt.model_path(&crate::config::data_dir().join("models"));
    let stt = SttWorker::start(&model, &speech.stt)?;
    let tts = TtsWorker::start(Box::new(EspeakTts::new(&speech.tts)?));
    let mut transcript = match &a.transcript {
        Some(p) => Some(std::io::BufWriter::new(
            std::fs::File::create(p).with_context(|| format!("cannot create transcript {}", p.display()))?,
        )),
        None => None,
    };

    let rt = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    let session = rt.block_on(ChatSession::open_resolved(resolved, "voice"))?;
    let live = a.audio_in.is_none();
    if live {
        eprintln!("attune: voice arm (engine {}). Speak after the beep-less prompt; Ctrl-C to end.", session.fingerprint());
    }
    let (cmd_tx, cmd_rx) = mpsc::channel::<EngineCmd>(32);
    let (ev_tx, ev_rx) = mpsc::channel::<ReplyEvent<TurnReport>>(64);
    let stop = Arc::new(AtomicBool::new(false));
    {
        let stop = stop.clone();
        rt.spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                stop.store(true, Ordering::Relaxed);
            }
        });
    }

    let audio_out = a.audio_out.clone();
    let pacing = if a.fast { Pacing::Fast } else { Pacing::RealTime };
    let cmd_for_events = cmd_tx.clone();
    let mut responder = ChannelResponder { cmd: cmd_tx, events: ev_rx };
    // The loop owns cpal streams, which must stay on the thread that made them.
    let handle = std::thread::Builder::new()
        .name("attune-voice".into())
        .spawn(move || -> anyhow::Result<()> {
            let mut source: Box<dyn FrameSource> = match source_file {
                Some(f) => Box::new(f),
                None => Box::new(MicSource::open(&speech.audio)?.with_stop(stop.clone())),
            };
            let mut sink: Box<dyn PlaybackSink> = match &audio_out {
                Some(p) => Box::new(WavSink::create(p)?),
                None => Box::new(SpeakerSink::open(&speech.audio)?),
            };
            let mut vl = VoiceLoop::new(&speech, &stt, &tts, &mut responder, pacing);
            let mut write_err: Option<std::io::Error> = None;
            let mut on_turn = |r: TurnRecord<TurnReport>| {
                if live {
                    eprintln!("you: {}", r.asr_text);
                    eprintln!("attune: {}{}", r.report.reply, if r.interrupted { " [interrupted]" } else { "" });
                }
                let line = VoiceTurn {
                    asr_text: r.asr_text,
                    asr_ms: r.asr_ms,
                    endpoint_ms: r.endpoint_ms,
                    tts_first_audio_ms: r.tts_first_audio_ms,
                    turn_latency_ms: r.turn_latency_ms,
                    interrupted: r.interrupted,
                    spoken_chars: r.spoken_chars,
                    chat: r.report,
                };
                if let Some(w) = transcript.as_mut() {
                    // Flushed per line: committed turns survive a later failure.
                    let res = serde_json::to_writer(&mut *w, &line)
                        .map_err(std::io::Error::other)
                        .and_then(|_| w.write_all(b"\n"))
                        .and_then(|_| w.flush());
                    if let Err(e) = res {
                        write_err.get_or_insert(e);
                    }
                }
            };
            let mut on_event = |e: LoopEvent| match e {
                LoopEvent::Warning { msg } => eprintln!("attune: warning: {msg}"),
                LoopEvent::BargeIn { id, spoken_chars, .. } => tracing::info!(id, spoken_chars, "barge-in"),
                other => tracing::debug!(?other, "voice loop"),
            };
            let res = vl.run(source.as_mut(), sink.as_mut(), &stop, &mut on_turn, &mut on_event);
            if let Some(e) = write_err {
                return Err(anyhow::anyhow!("writing the transcript: {e}"));
            }
            match res {
                Ok(sum) => {
                    tracing::info!(?sum, "voice loop finished");
                    Ok(())
                }
                Err(e @ SpeechError::DeviceLost(_)) if live => {
                    let _ = cmd_for_events.try_send(EngineCmd::Event {
                        kind: "audio_device_lost".into(),
                        payload: serde_json::json!({ "error": e.to_string() }),
                    });
                    Err(anyhow::anyhow!("{e}; the session is saved (every completed turn is committed). Continue in text with `attune chat`"))
                }
                Err(e) => Err(e.into()),
            }
        })
        .context("starting the voice loop thread")?;
    // The session's turn future holds the SQLite connection (not Send), so
    // the engine runs here on the main thread; it ends when the loop thread
    // drops its command senders.
    let session = rt.block_on(engine_task(session, cmd_rx, ev_tx));
    let loop_result = handle.join().unwrap_or_else(|_| Err(anyhow::anyhow!("voice loop thread panicked")));
    rt.block_on(session.close())?;
    loop_result
}

pub fn run_transcribe(a: TranscribeArgs) -> anyhow::Result<()> {
    let speech = speech_config(a.config.as_deref())?;
    let audio = attune_speech::audio::read_wav_16k_mono(&a.file)?;
    let model = speech.stt.model_path(&crate::config::data_dir().join("models"));
    let mut stt = WhisperStt::load(&model, &speech.stt)?;
    println!("{}", attune_speech::stt::transcribe_long(&mut stt, &audio)?);
    Ok(())
}

pub fn run_say(a: SayArgs) -> anyhow::Result<()> {
    let speech = speech_config(a.config.as_deref())?;
    if a.text.trim().is_empty() {
        anyhow::bail!("nothing to say: the text is empty");
    }
    let mut tts = EspeakTts::new(&speech.tts)?;
    let audio = tts.synthesize(&a.text)?;
    attune_speech::audio::write_wav_16k_mono(&a.out, &audio)?;
    Ok(())
}

pub fn run_audio(c: AudioCmd) -> anyhow::Result<()> {
    match c {
        AudioCmd::Devices => {
            let devs = list_devices()?;
            if devs.is_empty() {
                println!("no audio devices found (no sound card and no PulseAudio/PipeWire server?)");
            }
            for d in devs {
                let mark = match (d.default_input, d.default_output) {
                    (true, true) => " [default in+out]",
                    (true, false) => " [default in]",
                    (false, true) => " [default out]",
                    _ => "",
                };
                println!("{}{mark}", d.name);
                println!("    id: {}", d.id);
                if let Some(i) = d.input {
                    println!("    input:  {i}");
                }
                if let Some(o) = d.output {
                    println!("    output: {o}");
                }
            }
            Ok(())
        }
    }
}

/// The `[speech]` section of a config file (or the defaults), validated.
fn speech_config(path: Option<&Path>) -> anyhow::Result<SpeechConfig> {
    let cfg = crate::config::Config::load(path)?;
    cfg.speech.validate().map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(cfg.speech)
}
