//! `attune behaviors plot TRACE --out FILE.png|FILE.svg`: a behaviour trace
//! as a picture — who spoke and what the head did when (upper panel), and the
//! four joint angles (lower panel).

use anyhow::Context;
use attune_behaviors::{Behavior, CommandKind, Event, Risk, TraceLine};
use clap::{Args, Subcommand};
use plotters::coord::Shift;
use plotters::prelude::*;
use std::io::BufRead;
use std::path::{Path, PathBuf};

#[derive(Debug, Subcommand)]
pub enum BehaviorsCmd {
    /// Plot a behaviour trace (`attune run --arm robot --behavior-trace FILE`).
    Plot(PlotArgs),
}

#[derive(Debug, Args)]
pub struct PlotArgs {
    /// The trace (JSONL).
    pub trace: PathBuf,
    /// Output picture: `.png` or `.svg`.
    #[arg(long, value_name = "FILE.png|FILE.svg")]
    pub out: PathBuf,
}

pub fn run(cmd: BehaviorsCmd) -> anyhow::Result<()> {
    match cmd {
        BehaviorsCmd::Plot(a) => plot(&a.trace, &a.out),
    }
}

/// Places a TTF is commonly found on Linux (fonts-dejavu-core first, which
/// scripts/setup.sh installs).
const FONT_PATHS: [&str; 5] = [
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
    "/usr/share/fonts/truetype/noto/NotoSans-Regular.ttf",
];

/// Registers a sans-serif TTF for plotters' text (ab_glyph).
fn load_font() -> anyhow::Result<()> {
    let env = std::env::var_os("ATTUNE_PLOT_FONT").map(PathBuf::from);
    let candidates = env.iter().cloned().chain(FONT_PATHS.iter().map(PathBuf::from));
    for p in candidates {
        if let Ok(bytes) = std::fs::read(&p) {
            // Design: plotters keeps registered fonts for the process; one
            // leaked copy per `attune behaviors plot` run.
            let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
            if plotters::style::register_font("sans-serif", FontStyle::Normal, bytes).is_ok() {
                return Ok(());
            }
        }
    }
    anyhow::bail!(
        "no TrueType font found for the plot's labels (looked in {}); install fonts-dejavu-core (scripts/setup.sh does) or set ATTUNE_PLOT_FONT to a .ttf",
        FONT_PATHS.join(", ")
    )
}

/// What the plot needs from a trace.
#[derive(Debug, Default)]
struct Timeline {
    /// Participant speech spans (s).
    participant: Vec<(f64, f64)>,
    /// Participant pauses (s).
    pauses: Vec<f64>,
    /// Robot sentences (s).
    robot: Vec<(f64, f64)>,
    /// End of turn → first robot sentence (s).
    thinking: Vec<(f64, f64)>,
    /// Crisis stillness spans (s).
    crisis: Vec<(f64, f64)>,
    /// Commands: time (s), behaviour, joint targets.
    commands: Vec<(f64, Behavior, [f32; 4])>,
    /// Last time in the trace (s).
    end_s: f64,
}

fn read_trace(path: &Path) -> anyhow::Result<Timeline> {
    let f = std::fs::File::open(path).with_context(|| format!("cannot open trace {}", path.display()))?;
    let mut tl = Timeline::default();
    let mut speaking_since: Option<f64> = None;
    let mut thinking_since: Option<f64> = None;
    let mut crisis_since: Option<f64> = None;
    let mut lines = 0usize;
    for (i, line) in std::io::BufReader::new(f).lines().enumerate() {
        let line = line.with_context(|| format!("reading trace {}", path.display()))?;
        if line.trim().is_empty() {
            continue;
        }
        let l: TraceLine = serde_json::from_str(&line)
            .with_context(|| format!("{} line {}: not a behaviour trace line", path.display(), i + 1))?;
        lines += 1;
        let t = l.t_ms() as f64 / 1000.0;
        tl.end_s = tl.end_s.max(t);
        match l {
            TraceLine::Command { command: c, .. } => {
                let a = c.pose().to_array();
                tl.commands.push((t, c.behavior, a));
                if c.command == CommandKind::Park {
                    tl.end_s = tl.end_s.max(t + c.duration_ms as f64 / 1000.0);
                }
            }
            TraceLine::Event { event, .. } => match event {
                Event::ParticipantStarted { .. } => {
                    speaking_since.get_or_insert(t);
                }
                Event::ParticipantPaused => tl.pauses.push(t),
                Event::ParticipantStopped => {
                    if let Some(s) = speaking_since.take() {
                        tl.participant.push((s, t));
                    }
                    thinking_since = Some(t);
                }
                Event::AgentSentence { duration_ms, .. } => {
                    if let Some(s) = thinking_since.take() {
                        tl.thinking.push((s, t));
                    }
                    tl.robot.push((t, t + duration_ms as f64 / 1000.0));
                }
                Event::AgentFinished => {
                    if let Some(s) = thinking_since.take() {
                        tl.thinking.push((s, t));
                    }
                }
                Event::RiskChanged { risk, crisis_active } => {
                    let on = risk >= Risk::High || crisis_active;
                    match (on, crisis_since) {
                        (true, None) => crisis_since = Some(t),
                        (false, Some(s)) => {
                            tl.crisis.push((s, t));
                            crisis_since = None;
                        }
                        _ => {}
                    }
                }
                Event::SessionStarted { .. } | Event::AgentThinking { .. } | Event::SessionEnded => {}
            },
        }
    }
    if lines == 0 {
        anyhow::bail!("trace {} is empty", path.display());
    }
    let end = tl.end_s;
    if let Some(s) = speaking_since {
        tl.participant.push((s, end));
    }
    if let Some(s) = crisis_since {
        tl.crisis.push((s, end));
    }
    Ok(tl)
}

fn plot(trace: &Path, out: &Path) -> anyhow::Result<()> {
    let ext = out.extension().and_then(|e| e.to_str()).map(|e| e.to_ascii_lowercase());
    let svg = match ext.as_deref() {
        Some("png") => false,
        Some("svg") => true,
        _ => anyhow::bail!("--out {}: the picture must end in .png or .svg", out.display()),
    };
    let tl = read_trace(trace)?;
    load_font()?;
    // Fail on an unwritable path with its name, not plotters' generic error.
    std::fs::File::create(out).with_context(|| format!("cannot write {}", out.display()))?;
    let size = (1600u32, 900u32);
    let r = if svg {
        draw(SVGBackend::new(out, size).into_drawing_area(), &tl).map_err(|e| e.to_string())
    } else {
        draw(BitMapBackend::new(out, size).into_drawing_area(), &tl).map_err(|e| e.to_string())
    };
    r.map_err(|e| anyhow::anyhow!("drawing {}: {e}", out.display()))
}

/// A behaviour trace drawn as SVG text (the same picture as `attune
/// behaviors plot --out FILE.svg`), for the web dashboard.
pub fn svg_string(trace: &Path) -> anyhow::Result<String> {
    let tl = read_trace(trace)?;
    font_once()?;
    let mut out = String::new();
    draw(SVGBackend::with_string(&mut out, (1600, 900)).into_drawing_area(), &tl).map_err(|e| anyhow::anyhow!("drawing the timeline of {}: {e}", trace.display()))?;
    Ok(out)
}

/// [`load_font`] once per process (a server draws many timelines).
fn font_once() -> anyhow::Result<()> {
    static LOADED: std::sync::OnceLock<Result<(), String>> = std::sync::OnceLock::new();
    LOADED.get_or_init(|| load_font().map_err(|e| e.to_string())).clone().map_err(|e| anyhow::anyhow!(e))
}

/// Colour of a behaviour's marks.
fn colour(b: Behavior) -> RGBColor {
    match b {
        Behavior::BackchannelNod => RGBColor(0x1b, 0x9e, 0x77),
        Behavior::TurnAck => RGBColor(0xd9, 0x5f, 0x02),
        Behavior::Gaze => RGBColor(0x75, 0x70, 0xb3),
        Behavior::SpeakNod => RGBColor(0xe7, 0x29, 0x8a),
        Behavior::SpeakMotion => RGBColor(0x66, 0xa6, 0x1e),
        Behavior::Lean => RGBColor(0xe6, 0xab, 0x02),
        Behavior::Idle => RGBColor(0xa6, 0x76, 0x1d),
        Behavior::Park => RGBColor(0x40, 0x40, 0x40),
    }
}

type DrawResult<DB> = Result<(), DrawingAreaErrorKind<<DB as DrawingBackend>::ErrorType>>;

fn draw<DB: DrawingBackend>(root: DrawingArea<DB, Shift>, tl: &Timeline) -> DrawResult<DB> {
    root.fill(&WHITE)?;
    let (top, bottom) = root.split_vertically(360);
    let x_end = tl.end_s.max(1.0) * 1.01;

    // --- upper panel: rows of spans and marks --------------------------------
    // Rows from the top: participant, pauses, robot speech, thinking, crisis,
    // then one row per behaviour label.
    let rows: Vec<String> = ["participant speaks", "pause", "robot speaks", "thinking", "crisis (still)"]
        .into_iter()
        .map(String::from)
        .chain(Behavior::ALL.iter().map(|b| b.name().to_string()))
        .collect();
    let n = rows.len() as f64;
    let mut ev = ChartBuilder::on(&top)
        .caption("attune robot arm: conversation and head behaviour", ("sans-serif", 24))
        .margin(10)
        .x_label_area_size(25)
        .y_label_area_size(150)
        .build_cartesian_2d(0f64..x_end, 0f64..n)?;
    let labels = rows.clone();
    ev.configure_mesh()
        .disable_y_mesh()
        .y_labels(rows.len() * 2 + 1)
        .y_label_formatter(&move |y| {
            let k = *y - y.floor();
            if (k - 0.5).abs() > 0.01 {
                return String::new();
            }
            let i = (n - 1.0 - y.floor()) as isize;
            labels.get(i.max(0) as usize).cloned().unwrap_or_default()
        })
        .x_desc("session time (s)")
        .draw()?;
    let row_y = |i: usize| n - 1.0 - i as f64;
    let span = |i: usize, s: f64, e: f64, c: RGBColor| Rectangle::new([(s, row_y(i) + 0.15), (e.max(s + 0.02), row_y(i) + 0.85)], c.mix(0.7).filled());
    ev.draw_series(tl.participant.iter().map(|&(s, e)| span(0, s, e, RGBColor(0x31, 0x82, 0xbd))))?;
    ev.draw_series(tl.pauses.iter().map(|&t| span(1, t, t + 0.05, RGBColor(0x31, 0x82, 0xbd))))?;
    ev.draw_series(tl.robot.iter().map(|&(s, e)| span(2, s, e, RGBColor(0xe6, 0x55, 0x0d))))?;
    ev.draw_series(tl.thinking.iter().map(|&(s, e)| span(3, s, e, RGBColor(0x99, 0x99, 0x99))))?;
    ev.draw_series(tl.crisis.iter().map(|&(s, e)| span(4, s, e, RGBColor(0xc0, 0x00, 0x00))))?;
    for (k, b) in Behavior::ALL.iter().enumerate() {
        let row = 5 + k;
        let c = colour(*b);
        ev.draw_series(tl.commands.iter().filter(|(_, cb, _)| cb == b).map(|&(t, _, _)| span(row, t, t + 0.02, c)))?;
    }

    // --- lower panel: joint angles -------------------------------------------
    let (lo, hi) = tl.commands.iter().flat_map(|(_, _, a)| a.iter()).fold((-5f32, 5f32), |(lo, hi), &v| (lo.min(v), hi.max(v)));
    let mut ch = ChartBuilder::on(&bottom)
        .margin(10)
        .x_label_area_size(35)
        .y_label_area_size(150)
        .build_cartesian_2d(0f64..x_end, (lo as f64 - 1.0)..(hi as f64 + 1.0))?;
    ch.configure_mesh().x_desc("session time (s)").y_desc("joint target (deg)").draw()?;
    let joints = [("yaw", RGBColor(0x1f, 0x77, 0xb4)), ("pitch", RGBColor(0xd6, 0x27, 0x28)), ("roll", RGBColor(0x2c, 0xa0, 0x2c)), ("lean", RGBColor(0x94, 0x67, 0xbd))];
    for (j, (name, c)) in joints.iter().enumerate() {
        let c = *c;
        ch.draw_series(LineSeries::new(tl.commands.iter().map(|(t, _, a)| (*t, a[j] as f64)), c.stroke_width(2)))?
            .label(*name)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], c.stroke_width(2)));
    }
    ch.configure_series_labels().background_style(WHITE.mix(0.8)).border_style(BLACK).draw()?;
    root.present()?;
    Ok(())
}
