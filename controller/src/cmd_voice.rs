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
use crate::runner::{Ctx, EngineCmd, Transport};
use crate::session::{self, ChatSession, TurnReport};
use futures_util::future::LocalBoxFuture;
use anyhow::Context;
use attune_speech::device::{list_devices, MicSource, SpeakerSink};
use attune_speech::file_io::{WavSink, WavSource};
use attune_speech::stt::{SttWorker, WhisperStt};
use attune_speech::tts::TtsWorker;
use attune_speech::tts_engine::{TtsEngine, TtsFallback};
use attune_speech::voice_loop::{
    FrameSource, LoopEvent, Pacing, PlaybackSink, ReplyEvent, Responder, TurnRecord, Utterance, VoiceLoop,
};
use attune_speech::{SpeechConfig, SpeechError};
use clap::{Args, Subcommand};
use serde::Serialize;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use tokio::sync::mpsc;

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Which arm: voice | robot (voice + the head).
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
    /// With --audio-in: mix the robot's speech back into the input through
    /// this room impulse response (16 kHz WAV), as a speaker and microphone
    /// in one room would; `[speech.echo] mode` decides what removes it.
    #[arg(long, value_name = "IR.wav")]
    pub echo_room: Option<PathBuf>,
    /// The robot arm's head, trace and simulator flags.
    #[command(flatten)]
    pub robot: crate::robot::HeadArgs,
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
    /// The participant went on talking before hearing the reply, so it was
    /// not spoken (past `spoken_chars`); `interrupted` is set too.
    withdrawn: bool,
    /// Characters of the reply that were heard.
    spoken_chars: usize,
}

/// The [`Responder`] the voice loop sees: two bounded channels to the engine.
struct ChannelResponder {
    /// Commands to the engine (bounded, 32).
    cmd: mpsc::Sender<EngineCmd>,
    /// Reply events from it (bounded, 64).
    events: mpsc::Receiver<ReplyEvent<TurnReport>>,
    /// The last finished reply was the check-in question: a short answer
    /// over it is the participant's turn, not a backchannel.
    check_in_open: bool,
}

impl Responder<TurnReport> for ChannelResponder {
    fn submit(&mut self, utt: Utterance) -> Result<(), SpeechError> {
        self.cmd.try_send(EngineCmd::Turn(utt)).map_err(|e| SpeechError::Worker(format!("dialogue engine queue: {e}")))
    }
    fn poll(&mut self) -> Option<ReplyEvent<TurnReport>> {
        let ev = self.events.try_recv().ok();
        if let Some(ReplyEvent::Done { report, .. }) = &ev {
            self.check_in_open = report.intent == attune_dialogue::policy::Intent::CheckIn;
        }
        ev
    }
    fn answer_expected(&self) -> bool {
        self.check_in_open
    }
    fn interrupted(&mut self, id: u64, spoken_chars: usize) {
        if self.cmd.try_send(EngineCmd::Interrupted { id, spoken: spoken_chars }).is_err() {
            tracing::warn!(id, "could not record an interruption: engine queue full");
        }
    }
    fn must_be_heard(&self, report: &TurnReport) -> bool {
        report.intent.must_be_heard()
    }
    fn superseded(&mut self, id: u64, spoken_chars: usize) {
        if self.cmd.try_send(EngineCmd::Superseded { id, spoken: spoken_chars }).is_err() {
            tracing::warn!(id, "could not record a withdrawn reply: engine queue full");
        }
    }
}

pub fn run_arm(a: RunArgs) -> anyhow::Result<()> {
    let robot = match a.arm.as_str() {
        "voice" => {
            a.robot.check_unused()?;
            false
        }
        "robot" => true,
        other => anyhow::bail!(
            "--arm {other:?}: `attune run` runs the voice arm (--arm voice) or the robot arm (--arm robot); the chatbot arm is `attune chat`"
        ),
    };
    if a.fast && a.audio_in.is_none() {
        anyhow::bail!("--fast needs --audio-in (a microphone cannot be fast-forwarded)");
    }
    if a.echo_room.is_some() && a.audio_in.is_none() {
        anyhow::bail!("--echo-room needs --audio-in (a real room makes its own echo)");
    }
    // Design: WavSink truncates its file at once, so the same file as input
    // and output would destroy the recording before a word is heard. The
    // robot arm's trace and telemetry files are outputs too.
    let files = [
        ("--audio-in", &a.audio_in),
        ("--audio-out", &a.audio_out),
        ("--transcript", &a.transcript),
        ("--behavior-trace", &a.robot.behavior_trace),
        ("--head-telemetry", &a.robot.head_telemetry),
    ];
    for (i, (fa, pa)) in files.iter().enumerate() {
        for (fb, pb) in &files[i + 1..] {
            if let (Some(pa), Some(pb)) = (pa, pb) {
                if crate::paths::same_file(pa, pb) {
                    anyhow::bail!("{fa} {} and {fb} {} are the same file; the output would overwrite the input", pa.display(), pb.display());
                }
            }
        }
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
    let room = match &a.echo_room {
        Some(p) => {
            let ir = attune_speech::audio::read_wav_16k_mono(p)?;
            Some(attune_speech::echo::Room::from_impulse_response(&ir).map_err(|e| anyhow::anyhow!("--echo-room {}: {e}", p.display()))?)
        }
        None => None,
    };
    // The robot's head and trace are checked (and the simulator started)
    // before the models load, so a bad port or path fails at once.
    let body = if robot { Some(crate::robot::prepare(&resolved.cfg, &a.robot)?) } else { None };
    let workers = (|| -> anyhow::Result<_> {
        let model = speech.stt.model_path(&crate::config::data_dir().join("models"));
        let stt = SttWorker::start(&model, &speech.stt)?;
        let tts = TtsWorker::start(open_voice(&speech, true)?);
        let transcript = match &a.transcript {
            Some(p) => Some(std::io::BufWriter::new(
                std::fs::File::create(p).with_context(|| format!("cannot create transcript {}", p.display()))?,
            )),
            None => None,
        };
        Ok((stt, tts, transcript))
    })();
    let (stt, tts, transcript) = match workers {
        Ok(w) => w,
        Err(e) => {
            if let Some(b) = body {
                b.abandon();
            }
            return Err(e);
        }
    };
    let transport = VoiceTransport {
        speech,
        source_file,
        audio_out: a.audio_out.clone(),
        pacing: if a.fast { Pacing::Fast } else { Pacing::RealTime },
        room,
        stt,
        tts,
        transcript,
        body,
        arm: if robot { "robot" } else { "voice" },
    };
    crate::runner::run(resolved, if robot { "robot" } else { "voice" }, Box::new(transport))
}

/// The voice transport (and, with a body, the robot arm's): the frame loop
/// on a blocking thread, speaking to the engine over bounded channels; the
/// head planner beside it.
struct VoiceTransport {
    /// `[speech]`.
    speech: SpeechConfig,
    /// `--audio-in`, opened; `None` = microphone.
    source_file: Option<WavSource>,
    /// `--audio-out`; `None` = speaker.
    audio_out: Option<PathBuf>,
    /// File pacing.
    pacing: Pacing,
    /// `--echo-room`, loaded.
    room: Option<attune_speech::echo::Room>,
    /// whisper.
    stt: SttWorker,
    /// espeak-ng.
    tts: TtsWorker,
    /// `--transcript`, opened.
    transcript: Option<std::io::BufWriter<std::fs::File>>,
    /// The robot arm's head and planner, prepared.
    body: Option<crate::robot::Prepared>,
    /// Arm name for the banner.
    arm: &'static str,
}

impl Transport for VoiceTransport {
    fn opened(&mut self, session: &ChatSession) -> anyhow::Result<()> {
        if let Some(b) = &mut self.body {
            b.record(session)?;
            b.attach_bus(session);
        }
        if self.source_file.is_none() {
            eprintln!("attune: {} arm (engine {}). Speak after the beep-less prompt; Ctrl-C to end.", self.arm, session.fingerprint());
        }
        Ok(())
    }

    fn run(self: Box<Self>, ctx: Ctx) -> LocalBoxFuture<'static, anyhow::Result<()>> {
        Box::pin(async move {
            let VoiceTransport { speech, source_file, audio_out, pacing, room, stt, tts, mut transcript, body, .. } = *self;
            let Ctx { cmds, replies, shutdown, done, observers, rt } = ctx;
            let live = source_file.is_none();
            let stop = Arc::new(AtomicBool::new(false));
            {
                let stop = stop.clone();
                let token = shutdown.clone();
                rt.spawn(async move {
                    token.cancelled().await;
                    stop.store(true, Ordering::Relaxed);
                });
            }
            let robot = match body {
                Some(b) => {
                    let r = b.start(done.clone())?;
                    r.observe(&rt, observers.subscribe(64));
                    Some(r)
                }
                None => None,
            };
            let mut mapper = robot.as_ref().map(|r| r.loop_events());
            let cmd_for_events = cmds.clone();
            let mut responder = ChannelResponder { cmd: cmds.clone(), events: replies, check_in_open: false };
            let (res_tx, res_rx) = tokio::sync::oneshot::channel::<anyhow::Result<()>>();
            let thread_done = done.clone();
            let robot_turn_done = robot.as_ref().map(|r| r.loop_events());
            // The loop owns cpal streams, which must stay on the thread that made them.
            std::thread::Builder::new()
                .name("attune-voice".into())
                .spawn(move || {
                    let _done = thread_done;
                    let r = (|| -> anyhow::Result<()> {
                        let mut source: Box<dyn FrameSource> = match source_file {
                            Some(f) => Box::new(f),
                            None => Box::new(MicSource::open(&speech.audio)?.with_stop(stop.clone())),
                        };
                        let mut sink: Box<dyn PlaybackSink> = match &audio_out {
                            Some(p) => Box::new(WavSink::create(p)?),
                            None => Box::new(SpeakerSink::open(&speech.audio)?),
                        };
                        let mut vl = VoiceLoop::new(&speech, &stt, &tts, &mut responder, pacing);
                        vl.room = room;
                        let mut write_err: Option<std::io::Error> = None;
                        let mut on_turn = |r: TurnRecord<TurnReport>| {
                            // A withdrawn reply was never spoken and the
                            // participant's next turn is under way: the head
                            // stays with them instead of going idle.
                            if let Some(m) = robot_turn_done.as_ref().filter(|_| !r.withdrawn) {
                                m.turn_done();
                            }
                            if live {
                                eprintln!("you: {}", r.asr_text);
                                let mark = if r.withdrawn {
                                    " [withdrawn: you went on]"
                                } else if r.interrupted {
                                    " [interrupted]"
                                } else {
                                    ""
                                };
                                eprintln!("attune: {}{mark}", r.report.reply);
                            }
                            let line = VoiceTurn {
                                asr_text: r.asr_text,
                                asr_ms: r.asr_ms,
                                endpoint_ms: r.endpoint_ms,
                                tts_first_audio_ms: r.tts_first_audio_ms,
                                turn_latency_ms: r.turn_latency_ms,
                                interrupted: r.interrupted,
                                withdrawn: r.withdrawn,
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
                        let mut on_event = |e: LoopEvent| {
                            if let Some(m) = mapper.as_mut() {
                                m.on_loop_event(&e);
                            }
                            match e {
                                LoopEvent::Warning { msg } => eprintln!("attune: warning: {msg}"),
                                LoopEvent::Echo { description, .. } if live => eprintln!("attune: echo: {description}"),
                                LoopEvent::Echo { description, .. } => tracing::info!(%description, "echo"),
                                LoopEvent::BargeIn { id, spoken_chars, .. } => tracing::info!(id, spoken_chars, "barge-in"),
                                LoopEvent::Withdrawn { id, spoken_chars, .. } => tracing::info!(id, spoken_chars, "reply withdrawn: the participant went on"),
                                other => tracing::debug!(?other, "voice loop"),
                            }
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
                    })();
                    // The responder (and its command sender) is dropped with
                    // this closure's captures when the thread ends.
                    let _ = res_tx.send(r);
                })
                .context("starting the voice loop thread")?;
            let result = res_rx.await.unwrap_or_else(|_| Err(anyhow::anyhow!("voice loop thread panicked")));
            if let Some(r) = robot {
                let stats = r.finish();
                tracing::info!(?stats, "behaviour planner timing");
                let _ = cmds.send(EngineCmd::Event { kind: "behaviors_timing".into(), payload: serde_json::to_value(&stats).unwrap_or_default() }).await;
            }
            drop(cmds);
            drop(done);
            result
        })
    }
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
    let mut tts = open_voice(&speech, false)?;
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
/// Starts the configured voice (`[speech.tts] engine`, or its fallback) and
/// says on stderr which one speaks and, for a fallback, why.
pub(crate) fn open_voice(speech: &SpeechConfig, warm_up: bool) -> anyhow::Result<Box<dyn attune_speech::tts::Tts>> {
    let models = crate::config::data_dir().join("models");
    let opened = attune_speech::tts_engine::open_tts(&speech.tts, &models, warm_up).map_err(|e| match speech.tts.fallback {
        TtsFallback::None if speech.tts.engine == TtsEngine::Piper => {
            anyhow::anyhow!("{e} (speech.tts.fallback = \"none\"; set it to \"espeak-ng\" to speak with espeak-ng instead)")
        }
        _ => anyhow::anyhow!("{e}"),
    })?;
    if let Some(why) = &opened.fallback_reason {
        eprintln!("attune: warning: piper did not start ({why}); speaking with espeak-ng");
    }
    eprintln!("attune: tts: {}", opened.description);
    Ok(opened.tts)
}

fn speech_config(path: Option<&Path>) -> anyhow::Result<SpeechConfig> {
    let cfg = crate::config::Config::load(path)?;
    cfg.speech.validate().map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(cfg.speech)
}
