//! Per-arm plots of the export (SVG and PNG): distress change from baseline
//! per participant with the arm mean, and adherence per arm.
//!
//! Text is drawn with ab_glyph from a TrueType font registered at run time:
//! `$ATTUNE_PLOT_FONT`, else DejaVu Sans (Debian `fonts-dejavu-core`, in the
//! set-up), so no fontconfig is needed.

use super::protocol::Protocol;
use anyhow::{bail, Context};
use plotters::coord::Shift;
use plotters::prelude::*;
use std::path::Path;
use std::sync::OnceLock;

const FONT_CANDIDATES: &[&str] = &[
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
];

fn ensure_font() -> anyhow::Result<()> {
    static DONE: OnceLock<Result<(), String>> = OnceLock::new();
    DONE.get_or_init(|| {
        let path = std::env::var_os("ATTUNE_PLOT_FONT")
            .map(std::path::PathBuf::from)
            .or_else(|| FONT_CANDIDATES.iter().map(std::path::PathBuf::from).find(|p| p.exists()))
            .ok_or_else(|| "no font for plot labels: install fonts-dejavu-core or set ATTUNE_PLOT_FONT to a .ttf file".to_string())?;
        let bytes = std::fs::read(&path).map_err(|e| format!("reading font {}: {e}", path.display()))?;
        // Registered once per process; plotters keeps a 'static reference.
        let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
        plotters::style::register_font("sans-serif", FontStyle::Normal, bytes).map_err(|_| format!("{} is not a usable TrueType font", path.display()))
    })
    .clone()
    .map_err(|e| anyhow::anyhow!(e))
}

fn e<E: std::fmt::Debug>(x: E) -> anyhow::Error {
    anyhow::anyhow!("drawing: {x:?}")
}

/// Draws the plots into `out`; `outcomes` is (arm, distress change, days completed)
/// per participant. Returns the file names written.
pub fn draw(out: &Path, p: &Protocol, outcomes: &[(String, Option<f64>, f64)]) -> anyhow::Result<Vec<String>> {
    ensure_font()?;
    let mut files = Vec::new();
    for stem in ["distress_change", "adherence"] {
        let svg = out.join(format!("{stem}.svg"));
        let png = out.join(format!("{stem}.png"));
        {
            let root = SVGBackend::new(&svg, (720, 440)).into_drawing_area();
            draw_any(&root, stem, p, outcomes)?;
            root.present().map_err(e).with_context(|| format!("writing {}", svg.display()))?;
        }
        {
            let root = BitMapBackend::new(&png, (720, 440)).into_drawing_area();
            draw_any(&root, stem, p, outcomes)?;
            root.present().map_err(e).with_context(|| format!("writing {}", png.display()))?;
        }
        files.push(format!("{stem}.svg"));
        files.push(format!("{stem}.png"));
    }
    Ok(files)
}

fn chart_change<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, p: &Protocol, o: &[(String, Option<f64>, f64)]) -> anyhow::Result<()> {
    let arms: Vec<&str> = p.arms.iter().map(|a| a.name.as_str()).collect();
    let vals: Vec<f64> = o.iter().filter_map(|x| x.1).collect();
    let lo = vals.iter().cloned().fold(0.0f64, f64::min) - 1.0;
    let hi = vals.iter().cloned().fold(0.0f64, f64::max) + 1.0;
    root.fill(&WHITE).map_err(e)?;
    let dname = p.distress().map(|q| q.id.as_str()).unwrap_or("distress");
    let mut chart = ChartBuilder::on(root)
        .caption(format!("Change in {dname} total, final - baseline"), ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(48)
        .build_cartesian_2d(-0.5f64..(arms.len() as f64 - 0.5), lo..hi)
        .map_err(e)?;
    let names = arms.clone();
    chart
        .configure_mesh()
        .x_labels(arms.len())
        .x_label_formatter(&|x| {
            let i = x.round();
            if (x - i).abs() < 0.01 && i >= 0.0 { names.get(i as usize).map(|s| s.to_string()).unwrap_or_default() } else { String::new() }
        })
        .y_desc("change (points)")
        .disable_x_mesh()
        .draw()
        .map_err(e)?;
    chart.draw_series(LineSeries::new(vec![(-0.5, 0.0), (arms.len() as f64 - 0.5, 0.0)], BLACK.mix(0.4))).map_err(e)?;
    for (i, arm) in arms.iter().enumerate() {
        let v: Vec<f64> = o.iter().filter(|x| x.0 == *arm).filter_map(|x| x.1).collect();
        let n = v.len().max(1) as f64;
        chart
            .draw_series(v.iter().enumerate().map(|(j, y)| Circle::new((i as f64 - 0.15 + 0.3 * (j as f64 + 0.5) / n, *y), 4, Palette99::pick(i).filled())))
            .map_err(e)?;
        if !v.is_empty() {
            let m = v.iter().sum::<f64>() / v.len() as f64;
            chart.draw_series(LineSeries::new(vec![(i as f64 - 0.3, m), (i as f64 + 0.3, m)], BLACK.stroke_width(3))).map_err(e)?;
        }
    }
    Ok(())
}

fn chart_adherence<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, p: &Protocol, o: &[(String, Option<f64>, f64)]) -> anyhow::Result<()> {
    let arms: Vec<&str> = p.arms.iter().map(|a| a.name.as_str()).collect();
    let days = p.study.days as f64;
    root.fill(&WHITE).map_err(e)?;
    let mut chart = ChartBuilder::on(root)
        .caption(format!("Adherence: share of the {} days completed", p.study.days), ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(48)
        .build_cartesian_2d(-0.5f64..(arms.len() as f64 - 0.5), 0.0f64..1.05)
        .map_err(e)?;
    let names = arms.clone();
    chart
        .configure_mesh()
        .x_labels(arms.len())
        .x_label_formatter(&|x| {
            let i = x.round();
            if (x - i).abs() < 0.01 && i >= 0.0 { names.get(i as usize).map(|s| s.to_string()).unwrap_or_default() } else { String::new() }
        })
        .y_desc("mean share of days")
        .disable_x_mesh()
        .draw()
        .map_err(e)?;
    for (i, arm) in arms.iter().enumerate() {
        let v: Vec<f64> = o.iter().filter(|x| x.0 == *arm).map(|x| x.2 / days).collect();
        if v.is_empty() {
            continue;
        }
        let m = v.iter().sum::<f64>() / v.len() as f64;
        chart.draw_series(std::iter::once(Rectangle::new([(i as f64 - 0.3, 0.0), (i as f64 + 0.3, m)], Palette99::pick(i).filled()))).map_err(e)?;
    }
    Ok(())
}

/// Draws one chart function on any backend (used for the PNG copies).
pub fn draw_any<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, which: &str, p: &Protocol, o: &[(String, Option<f64>, f64)]) -> anyhow::Result<()> {
    match which {
        "distress_change" => chart_change(root, p, o),
        "adherence" => chart_adherence(root, p, o),
        other => bail!("unknown chart {other}"),
    }
}
