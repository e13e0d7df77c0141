//! `attune doctor [--study DIR]`: the pre-session checklist. One line per
//! check (`PASS`, `FAIL` or `WARN`); the exit status is non-zero when
//! something a session needs is missing. What is needed follows from the
//! study's arms (audio only for voice/robot, the head only for robot, an LLM
//! only for the `local`/`openai` backends); without `--study`, everything.

use crate::study::protocol::Medium;
use crate::study::Study;
use clap::Args;
use std::path::{Path, PathBuf};

#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// The study folder to check (arms decide what is needed).
    #[arg(long)]
    pub study: Option<PathBuf>,
    /// Site config, when not checking a study folder.
    #[arg(long)]
    pub config: Option<PathBuf>,
}

/// One checklist line.
struct Check {
    /// Short name.
    name: &'static str,
    /// Passed.
    ok: bool,
    /// A failure here stops a session (otherwise it is a warning).
    needed: bool,
    /// What was found.
    detail: String,
}

/// Free bytes on the file system holding `dir` (POSIX `df -Pk`).
fn free_bytes(dir: &Path) -> Option<u64> {
    let out = std::process::Command::new("df").arg("-Pk").arg(dir).output().ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().nth(1)?;
    let avail_kb: u64 = line.split_whitespace().nth(3)?.parse().ok()?;
    Some(avail_kb * 1024)
}

fn writable(dir: &Path) -> Result<(), String> {
    let p = dir.join(format!(".attune-doctor-{}", std::process::id()));
    std::fs::write(&p, b"ok").map_err(|e| e.to_string())?;
    std::fs::remove_file(&p).map_err(|e| e.to_string())
}

fn reachable(base_url: &str) -> Result<(), String> {
    use std::net::ToSocketAddrs;
    let rest = base_url.split("://").nth(1).unwrap_or(base_url);
    let hostport = rest.split('/').next().unwrap_or("");
    let with_port = if hostport.contains(':') { hostport.to_string() } else if base_url.starts_with("https") { format!("{hostport}:443") } else { format!("{hostport}:80") };
    let addr = with_port.to_socket_addrs().map_err(|e| format!("{with_port}: {e}"))?.next().ok_or("no address")?;
    std::net::TcpStream::connect_timeout(&addr, std::time::Duration::from_secs(2)).map_err(|e| format!("{addr}: {e}"))?;
    Ok(())
}

pub fn run(a: DoctorArgs) -> anyhow::Result<()> {
    let mut checks = Vec::new();
    let (cfg, media, dir) = match &a.study {
        Some(d) => match Study::open(d) {
            Ok(s) => {
                let media: Vec<Medium> = s.protocol.arms.iter().map(|x| x.medium).collect();
                let key = s.meta("key_id").ok().map(|id| crate::study::allocation::key_path(&s.protocol.study.id, &s.protocol.study.site, &s.protocol.study.robot, &id));
                let key_ok = key.as_ref().is_some_and(|k| k.is_file());
                checks.push(Check { name: "study", ok: true, needed: true, detail: format!("{} opens; protocol {:?} valid", d.display(), s.protocol.study.id) });
                checks.push(Check {
                    name: "allocation key",
                    ok: key_ok,
                    needed: false,
                    detail: key.map(|k| format!("{} {}", k.display(), if key_ok { "present" } else { "missing (needed to enrol, not for sessions)" })).unwrap_or_default(),
                });
                (s.site_config()?, media, d.clone())
            }
            Err(e) => {
                checks.push(Check { name: "study", ok: false, needed: true, detail: format!("{e:#}") });
                (crate::config::Config::load(a.config.as_deref())?, vec![Medium::Robot, Medium::Voice, Medium::Chatbot], d.clone())
            }
        },
        None => (crate::config::Config::load(a.config.as_deref())?, vec![Medium::Robot, Medium::Voice, Medium::Chatbot], crate::config::data_dir()),
    };
    let spoken = media.iter().any(|m| matches!(m, Medium::Voice | Medium::Robot));
    let robot = media.contains(&Medium::Robot);
    let converses = media.iter().any(|m| m.converses());

    // Clock: a wrong clock corrupts the schedule and every timestamp.
    let now_s = crate::store::now_ms() / 1000;
    let year_2025 = 1_735_689_600;
    checks.push(Check { name: "clock", ok: now_s > year_2025, needed: true, detail: format!("system time {now_s} s since 1970 (UTC)") });

    // Study folder writable + disk space.
    let target = if dir.exists() { dir.clone() } else { dir.parent().map(Path::to_path_buf).unwrap_or_else(|| PathBuf::from(".")) };
    match writable(&target) {
        Ok(()) => checks.push(Check { name: "folder writable", ok: true, needed: true, detail: target.display().to_string() }),
        Err(e) => checks.push(Check { name: "folder writable", ok: false, needed: true, detail: format!("{}: {e}", target.display()) }),
    }
    // Design: below `[store] min_free_mb` a session refuses to start
    // (diskspace.rs), so that is a failure here; below 1 GiB a warning.
    let min_free: u64 = cfg.store.min_free_mb.saturating_mul(1 << 20);
    match free_bytes(&target) {
        Some(b) => checks.push(Check {
            name: "disk space",
            ok: b >= min_free && b >= 1 << 30,
            needed: b < min_free,
            detail: format!("{:.1} GiB free (sessions refuse to start below {} MiB, [store] min_free_mb; 1 GiB recommended)", b as f64 / (1u64 << 30) as f64, cfg.store.min_free_mb),
        }),
        None => checks.push(Check { name: "disk space", ok: false, needed: true, detail: "could not read free space (df)".into() }),
    }

    // LLM.
    use attune_dialogue::config::LlmMode;
    match cfg.llm.mode {
        LlmMode::Reflect => checks.push(Check { name: "LLM", ok: true, needed: converses, detail: "reflect backend: no LLM needed".into() }),
        LlmMode::Local => {
            let m = crate::llm_supervisor::model_path(&cfg.llm.local);
            checks.push(Check { name: "LLM model file", ok: m.is_file(), needed: converses, detail: m.display().to_string() });
            match crate::llm_supervisor::find_llm_binary() {
                Ok(p) => checks.push(Check { name: "LLM server binary", ok: true, needed: converses, detail: p.display().to_string() }),
                Err(e) => checks.push(Check { name: "LLM server binary", ok: false, needed: converses, detail: format!("{e:#}") }),
            }
        }
        LlmMode::Openai => match reachable(&cfg.llm.base_url) {
            Ok(()) => checks.push(Check { name: "LLM reachable", ok: true, needed: converses, detail: cfg.llm.base_url.clone() }),
            Err(e) => checks.push(Check { name: "LLM reachable", ok: false, needed: converses, detail: format!("{}: {e}", cfg.llm.base_url) }),
        },
    }

    // The crisis layer's risk reader: without it sessions still run (loudly,
    // with a fingerprint that says so), so it is not needed, but staff see it.
    if cfg.crisis.semantic && cfg.crisis.reader {
        let dir = crate::risk_model::reader_dir(&cfg.crisis);
        match attune_dialogue::reader::RiskReader::load(&dir, &crate::risk_model::model_dir(&cfg.crisis)) {
            Ok(r) => checks.push(Check { name: "risk reader", ok: true, needed: false, detail: format!("{} (weights sha256 {})", dir.display(), &r.weights_sha256()[..12]) }),
            Err(e) => checks.push(Check { name: "risk reader", ok: false, needed: false, detail: format!("{e}") }),
        }
    }

    // Speech.
    let stt = cfg.speech.stt.model_path(&crate::config::data_dir().join("models"));
    checks.push(Check { name: "whisper model", ok: stt.is_file(), needed: spoken, detail: stt.display().to_string() });
    let espeak = std::process::Command::new("espeak-ng").arg("--version").output().map(|o| o.status.success()).unwrap_or(false);
    checks.push(Check { name: "TTS (espeak-ng)", ok: espeak, needed: spoken, detail: if espeak { "espeak-ng runs".into() } else { "espeak-ng not found".into() } });
    match attune_speech::device::list_devices() {
        Ok(devs) => {
            let inp = devs.iter().filter(|d| d.input.is_some()).count();
            let out = devs.iter().filter(|d| d.output.is_some()).count();
            checks.push(Check {
                name: "audio devices",
                ok: inp > 0 && out > 0,
                needed: false,
                detail: format!("{inp} input, {out} output (needed for live sessions; file mode --audio-in/--audio-out works without)"),
            });
        }
        Err(e) => checks.push(Check { name: "audio devices", ok: false, needed: false, detail: format!("{e}") }),
    }

    // Head link and calibration.
    let h = &cfg.head;
    let (link_ok, link) = match h.backend.as_str() {
        "serial" => (Path::new(&h.port).exists(), format!("serial port {}", h.port)),
        "pca9685" => (Path::new(&h.i2c_bus).exists(), format!("I2C bus {}", h.i2c_bus)),
        other => (true, format!("backend {other:?} (simulator or no head)")),
    };
    checks.push(Check { name: "head link", ok: link_ok, needed: robot, detail: link });
    let default_head = attune_hardware::HeadConfig::default();
    let calibrated = h.yaw != default_head.yaw || h.pitch != default_head.pitch || h.roll != default_head.roll || h.lean != default_head.lean;
    let real = matches!(h.backend.as_str(), "serial" | "pca9685");
    checks.push(Check {
        name: "head calibration",
        ok: calibrated || !real,
        needed: false,
        detail: match h.validate() {
            Err(e) => format!("invalid: {e}"),
            Ok(()) if calibrated => "site calibration present".into(),
            Ok(()) => "default joint table (run `attune head calibrate` for a real head)".into(),
        },
    });

    let mut failed = 0;
    for c in &checks {
        let tag = if c.ok { "PASS" } else if c.needed { "FAIL" } else { "WARN" };
        if !c.ok && c.needed {
            failed += 1;
        }
        println!("{tag} {:<18} {}", c.name, c.detail);
    }
    if failed > 0 {
        anyhow::bail!("{failed} check(s) a session needs failed");
    }
    Ok(())
}
