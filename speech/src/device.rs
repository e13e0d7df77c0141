//! cpal capture and playback.
//!
//! Design: the cpal callbacks never allocate, lock or block. Capture pushes
//! mono samples into an SPSC ring (rtrb); playback pops from one. Everything
//! else (resampling to/from 16 kHz, queueing whole sentences) happens on the
//! voice-loop thread. A full capture ring drops the newest samples and counts
//! them; the playback ring is fed only as far as it has room.

use crate::audio::{Resampler, FRAME, SAMPLE_RATE};
use crate::voice_loop::{FrameSource, PlaybackSink};
use crate::{AudioConfig, SpeechError};
use cpal::traits::{DeviceTrait, HostTrait, StreamTrait};
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// One device as `attune audio devices` shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct DeviceInfo {
    /// Human-readable name (what `input_device` / `output_device` match).
    pub name: String,
    /// Host-specific id.
    pub id: String,
    /// Default input format, e.g. "2 ch 44100 Hz F32", if it can capture.
    pub input: Option<String>,
    /// Default output format, if it can play.
    pub output: Option<String>,
    /// The host's default input.
    pub default_input: bool,
    /// The host's default output.
    pub default_output: bool,
}

fn dev_name(d: &cpal::Device) -> String {
    d.description().map(|x| x.name().to_string()).unwrap_or_else(|_| "<unnamed>".into())
}

fn dev_id(d: &cpal::Device) -> String {
    d.id().map(|x| x.to_string()).unwrap_or_default()
}

/// Lists the default host's devices.
pub fn list_devices() -> Result<Vec<DeviceInfo>, SpeechError> {
    let host = cpal::default_host();
    let def_in = host.default_input_device().map(|d| dev_id(&d));
    let def_out = host.default_output_device().map(|d| dev_id(&d));
    let devices = host.devices().map_err(|e| SpeechError::Device(format!("cannot list devices: {e}")))?;
    let fmt = |c: cpal::SupportedStreamConfig| format!("{} ch {} Hz {:?}", c.channels(), c.sample_rate(), c.sample_format());
    Ok(devices
        .map(|d| {
            let id = dev_id(&d);
            DeviceInfo {
                name: dev_name(&d),
                input: d.default_input_config().ok().map(fmt),
                output: d.default_output_config().ok().map(fmt),
                default_input: def_in.as_deref() == Some(id.as_str()),
                default_output: def_out.as_deref() == Some(id.as_str()),
                id,
            }
        })
        .collect())
}

/// Finds a device: "default" (or empty) is the host default, otherwise the
/// first device whose name or id contains `want` (case-insensitive).
fn find_device(want: &str, input: bool) -> Result<cpal::Device, SpeechError> {
    let host = cpal::default_host();
    let kind = if input { "input" } else { "output" };
    if want.is_empty() || want.eq_ignore_ascii_case("default") {
        let d = if input { host.default_input_device() } else { host.default_output_device() };
        return d.ok_or_else(|| SpeechError::Device(format!("no default {kind} device (is a sound card or PulseAudio there? see `attune audio devices`)")));
    }
    let lw = want.to_lowercase();
    let devices = host.devices().map_err(|e| SpeechError::Device(format!("cannot list devices: {e}")))?;
    let mut names = Vec::new();
    for d in devices {
        let name = dev_name(&d);
        let ok = if input { d.default_input_config().is_ok() } else { d.default_output_config().is_ok() };
        if ok && (name.to_lowercase().contains(&lw) || dev_id(&d).to_lowercase().contains(&lw)) {
            return Ok(d);
        }
        if ok {
            names.push(name);
        }
    }
    Err(SpeechError::Device(format!("no {kind} device matches {want:?}; available: {}", names.join(", "))))
}

/// Shared between a stream's error callback and the loop.
#[derive(Default)]
struct StreamHealth {
    /// Set by the error callback.
    failed: AtomicBool,
    /// The error text (the error callback is not the audio path; it may lock).
    msg: Mutex<Option<String>>,
    /// Buffer under/overruns seen (not fatal).
    xruns: AtomicU64,
}

impl StreamHealth {
    fn error_fn(self: &Arc<Self>) -> impl FnMut(cpal::Error) + Send + 'static {
        let h = self.clone();
        move |e| {
            // Design: an xrun (the loop or the server was late once) is
            // counted, not fatal; only a gone or broken stream ends the run.
            // Backend errors such as the PulseAudio ALSA plugin's EIO from
            // snd_pcm_avail_delay are transient too; a device that really
            // stopped is caught by the stall checks in the source and sink.
            if !matches!(
                e.kind(),
                cpal::ErrorKind::DeviceNotAvailable | cpal::ErrorKind::StreamInvalidated | cpal::ErrorKind::HostUnavailable
            ) {
                tracing::debug!("audio stream: {e} (continuing)");
                h.xruns.fetch_add(1, Ordering::Relaxed);
                return;
            }
            if let Ok(mut m) = h.msg.lock() {
                m.get_or_insert_with(|| e.to_string());
            }
            h.failed.store(true, Ordering::Release);
        }
    }

    fn check(&self, what: &str) -> Result<(), SpeechError> {
        if self.failed.load(Ordering::Acquire) {
            let m = self.msg.lock().ok().and_then(|m| m.clone()).unwrap_or_default();
            return Err(SpeechError::DeviceLost(format!("{what}: {m}")));
        }
        Ok(())
    }
}

/// The microphone as a [`FrameSource`].
pub struct MicSource {
    /// Keeps the stream running.
    _stream: cpal::Stream,
    /// Mono samples at the device rate, from the callback.
    ring: rtrb::Consumer<f32>,
    /// Device rate → 16 kHz.
    resampler: Resampler,
    /// 16 kHz samples not yet handed out.
    ready: VecDeque<f32>,
    /// Scratch for one ring read.
    scratch: Vec<f32>,
    /// Out out 16 kHz resampler output.
    out16: Vec<f32>,
    /// Stream errors.
    health: Arc<StreamHealth>,
    /// Samples dropped because the ring was full.
    dropped: Arc<AtomicU64>,
    /// Silence from the device for this long means it is gone.
    stall_limit: Duration,
    /// Device name, for messages.
    name: String,
    /// Set when the session is ending: a wait for samples returns "end".
    stop: Option<Arc<AtomicBool>>,
}

impl MicSource {
    /// Ends the stream (`Ok(false)`) instead of waiting once `stop` is set.
    pub fn with_stop(mut self, stop: Arc<AtomicBool>) -> MicSource {
        self.stop = Some(stop);
        self
    }

    /// Opens the input device named in config and starts capturing.
    pub fn open(cfg: &AudioConfig) -> Result<MicSource, SpeechError> {
        let dev = find_device(&cfg.input_device, true)?;
        let name = dev_name(&dev);
        let sc = dev.default_input_config().map_err(|e| SpeechError::Device(format!("{name}: no input config: {e}")))?;
        let channels = sc.channels().max(1) as usize;
        let rate = sc.sample_rate();
        let cap = (rate as u64 * cfg.capture_buffer_ms as u64 / 1000) as usize;
        let (mut prod, cons) = rtrb::RingBuffer::<f32>::new(cap.max(FRAME * 4));
        let health = Arc::new(StreamHealth::default());
        let dropped = Arc::new(AtomicU64::new(0));
        let drop_ctr = dropped.clone();
        let config: cpal::StreamConfig = sc.config();
        let err_fn = health.error_fn();
        let stream = match sc.sample_format() {
            cpal::SampleFormat::F32 => dev.build_input_stream::<f32, _, _>(
                config,
                move |data: &[f32], _| push_mono(&mut prod, data, channels, &drop_ctr, |s| s),
                err_fn,
                None,
            ),
            cpal::SampleFormat::I16 => dev.build_input_stream::<i16, _, _>(
                config,
                move |data: &[i16], _| push_mono(&mut prod, data, channels, &drop_ctr, |s| s as f32 / 32768.0),
                err_fn,
                None,
            ),
            f => return Err(SpeechError::Device(format!("{name}: unsupported input sample format {f:?}"))),
        }
        .map_err(|e| SpeechError::Device(format!("{name}: cannot open input stream: {e}")))?;
        stream.play().map_err(|e| SpeechError::Device(format!("{name}: cannot start input: {e}")))?;
        Ok(MicSource {
            _stream: stream,
            ring: cons,
            resampler: Resampler::new(rate, SAMPLE_RATE),
            ready: VecDeque::with_capacity(FRAME * 8),
            scratch: vec![0.0; 4096],
            out16: Vec::with_capacity(4096),
            health,
            dropped,
            stall_limit: Duration::from_secs(3),
            name,
            stop: None,
        })
    }

    /// Microphone samples dropped so far because the loop fell behind.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

/// The capture callback body: downmix to mono and push; no allocation, no locks.
fn push_mono<T: Copy>(prod: &mut rtrb::Producer<f32>, data: &[T], ch: usize, dropped: &AtomicU64, conv: impl Fn(T) -> f32) {
    for f in data.chunks_exact(ch) {
        let mut s = 0.0;
        for &x in f {
            s += conv(x);
        }
        if prod.push(s / ch as f32).is_err() {
            dropped.fetch_add(1, Ordering::Relaxed);
        }
    }
}

impl FrameSource for MicSource {
    fn next_frame(&mut self, out: &mut [f32; FRAME]) -> Result<bool, SpeechError> {
        let since = Instant::now();
        while self.ready.len() < FRAME {
            if self.stop.as_ref().is_some_and(|s| s.load(Ordering::Relaxed)) {
                return Ok(false);
            }
            self.health.check(&format!("{} (input)", self.name))?;
            let n = self.ring.slots().min(self.scratch.len());
            if n == 0 {
                if since.elapsed() > self.stall_limit {
                    return Err(SpeechError::DeviceLost(format!("{}: no audio for {} s", self.name, self.stall_limit.as_secs())));
                }
                std::thread::sleep(Duration::from_millis(2));
                continue;
            }
            if let Ok(chunk) = self.ring.read_chunk(n) {
                let (a, b) = chunk.as_slices();
                self.scratch[..a.len()].copy_from_slice(a);
                self.scratch[a.len()..a.len() + b.len()].copy_from_slice(b);
                chunk.commit_all();
            }
            self.out16.clear();
            self.resampler.process(&self.scratch[..n], &mut self.out16);
            self.ready.extend(self.out16.iter().copied());
        }
        for o in out.iter_mut() {
            *o = self.ready.pop_front().unwrap_or(0.0);
        }
        Ok(true)
    }

    fn is_live(&self) -> bool {
        true
    }
}

/// The speaker as a [`PlaybackSink`].
pub struct SpeakerSink {
    /// Keeps the stream running.
    _stream: cpal::Stream,
    /// Interleaved device-format samples for the callback.
    ring: rtrb::Producer<f32>,
    /// Ring capacity (samples).
    ring_cap: usize,
    /// 16 kHz audio not yet in the ring.
    queue: VecDeque<f32>,
    /// 16 kHz → device rate.
    resampler: Resampler,
    /// Device rate.
    rate: u32,
    /// Device channels.
    channels: usize,
    /// Asks the callback to drop everything in the ring.
    flush: Arc<AtomicBool>,
    /// Stream errors.
    health: Arc<StreamHealth>,
    /// Scratch buffers.
    chunk16: Vec<f32>,
    /// See above.
    chunk_dev: Vec<f32>,
    /// Device name.
    name: String,
}

impl SpeakerSink {
    /// Opens the output device named in config.
    pub fn open(cfg: &AudioConfig) -> Result<SpeakerSink, SpeechError> {
        let dev = find_device(&cfg.output_device, false)?;
        let name = dev_name(&dev);
        let sc = dev.default_output_config().map_err(|e| SpeechError::Device(format!("{name}: no output config: {e}")))?;
        let channels = sc.channels().max(1) as usize;
        let rate = sc.sample_rate();
        let ring_cap = ((rate as u64 * cfg.playback_buffer_ms as u64 / 1000) as usize * channels).max(4096);
        let (prod, mut cons) = rtrb::RingBuffer::<f32>::new(ring_cap);
        let flush = Arc::new(AtomicBool::new(false));
        let fl = flush.clone();
        let health = Arc::new(StreamHealth::default());
        let config: cpal::StreamConfig = sc.config();
        let err_fn = health.error_fn();
        let stream = match sc.sample_format() {
            cpal::SampleFormat::F32 => dev.build_output_stream::<f32, _, _>(
                config,
                move |data: &mut [f32], _| pop_into(&mut cons, data, &fl, |s| s),
                err_fn,
                None,
            ),
            cpal::SampleFormat::I16 => dev.build_output_stream::<i16, _, _>(
                config,
                move |data: &mut [i16], _| pop_into(&mut cons, data, &fl, crate::audio::to_i16),
                err_fn,
                None,
            ),
            f => return Err(SpeechError::Device(format!("{name}: unsupported output sample format {f:?}"))),
        }
        .map_err(|e| SpeechError::Device(format!("{name}: cannot open output stream: {e}")))?;
        stream.play().map_err(|e| SpeechError::Device(format!("{name}: cannot start output: {e}")))?;
        Ok(SpeakerSink {
            _stream: stream,
            ring: prod,
            ring_cap,
            queue: VecDeque::new(),
            resampler: Resampler::new(SAMPLE_RATE, rate),
            rate,
            channels,
            flush,
            health,
            chunk16: Vec::with_capacity(FRAME * 4),
            chunk_dev: Vec::with_capacity(FRAME * 16),
            name,
        })
    }

    fn feed(&mut self) {
        if self.flush.load(Ordering::Acquire) {
            return; // the callback has not dropped the old audio yet
        }
        loop {
            let free = self.ring.slots();
            // Resample a chunk only when its output surely fits.
            let per16 = self.rate as f64 / SAMPLE_RATE as f64 * self.channels as f64;
            let can16 = ((free as f64 / per16) as usize).saturating_sub(4).min(FRAME * 4);
            if can16 == 0 || self.queue.is_empty() {
                return;
            }
            self.chunk16.clear();
            for _ in 0..can16.min(self.queue.len()) {
                if let Some(s) = self.queue.pop_front() {
                    self.chunk16.push(s);
                }
            }
            self.chunk_dev.clear();
            self.resampler.process(&self.chunk16, &mut self.chunk_dev);
            for &s in &self.chunk_dev {
                for _ in 0..self.channels {
                    if self.ring.push(s).is_err() {
                        return;
                    }
                }
            }
        }
    }
}

/// The playback callback body: no allocation, no locks.
fn pop_into<T: Copy>(cons: &mut rtrb::Consumer<f32>, data: &mut [T], flush: &AtomicBool, conv: impl Fn(f32) -> T) {
    if flush.load(Ordering::Acquire) {
        let n = cons.slots();
        if let Ok(c) = cons.read_chunk(n) {
            c.commit_all();
        }
        flush.store(false, Ordering::Release);
    }
    let n = cons.slots().min(data.len());
    let mut i = 0;
    if let Ok(c) = cons.read_chunk(n) {
        let (a, b) = c.as_slices();
        for &s in a.iter().chain(b.iter()) {
            data[i] = conv(s);
            i += 1;
        }
        c.commit_all();
    }
    for d in data[i..].iter_mut() {
        *d = conv(0.0);
    }
}

impl PlaybackSink for SpeakerSink {
    fn push(&mut self, samples: &[f32]) -> Result<(), SpeechError> {
        self.health.check(&format!("{} (output)", self.name))?;
        self.queue.extend(samples.iter().copied());
        self.feed();
        Ok(())
    }

    fn stop(&mut self) {
        self.queue.clear();
        self.resampler = Resampler::new(SAMPLE_RATE, self.rate);
        self.flush.store(true, Ordering::Release);
    }

    fn pending(&self) -> usize {
        if self.flush.load(Ordering::Acquire) {
            return self.queue.len();
        }
        let in_ring = self.ring_cap - self.ring.slots();
        let in_ring16 = (in_ring as f64 / self.channels as f64 * SAMPLE_RATE as f64 / self.rate as f64) as usize;
        self.queue.len() + in_ring16
    }

    fn tick(&mut self) -> Result<(), SpeechError> {
        self.health.check(&format!("{} (output)", self.name))?;
        self.feed();
        Ok(())
    }

    fn finish(&mut self) -> Result<(), SpeechError> {
        // Let queued speech play out (bounded), so a last reply is not cut.
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.pending() > 0 && Instant::now() < deadline {
            self.health.check(&format!("{} (output)", self.name))?;
            self.feed();
            std::thread::sleep(Duration::from_millis(10));
        }
        Ok(())
    }
}
