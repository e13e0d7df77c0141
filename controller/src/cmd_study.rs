//! `attune study ...` and `attune session start`: the study runner's CLI.
//! The arms themselves run through [`run_arm_conversation`], the one adapter
//! between the study runner and the session code of `attune chat` / `attune run`.

use crate::cmd_chat::ChatArgs;
use crate::cmd_voice::RunArgs;
use crate::engine_args::{EngineArgs, LlmChoice, PolicyChoice};
use crate::study::protocol::{Arm, ArmPolicy, Medium, Protocol, EXAMPLE};
use crate::study::{self, check_parity_with, questionnaire, worksheet, DayRecord, Study};
use anyhow::{bail, Context};
use clap::{Args, Subcommand};
use rusqlite::OptionalExtension;
use std::path::{Path, PathBuf};

#[derive(Debug, Subcommand)]
pub enum StudyCmd {
    /// Create a study folder from a protocol (the shipped example when omitted).
    Init {
        /// The study folder to create.
        #[arg(long)]
        study: PathBuf,
        /// Protocol file (TOML); default: the shipped example protocol.
        #[arg(long)]
        protocol: Option<PathBuf>,
        /// Site config (TOML) for the engine; default: the compiled-in defaults.
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Enrol a participant: records consent and prints `{"participant": ID, "arm": NAME}`.
    Enroll {
        #[arg(long)]
        study: PathBuf,
        /// Pseudonymous participant id.
        #[arg(long)]
        participant: String,
        /// Allocation stratum (stratified protocols only).
        #[arg(long)]
        stratum: Option<String>,
    },
    /// Schedule, adherence and alerts per participant.
    Status {
        #[arg(long)]
        study: PathBuf,
        /// One JSON object instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Withdraw a participant; `--purge` deletes everything they said and answered.
    Withdraw {
        #[arg(long)]
        study: PathBuf,
        #[arg(long)]
        participant: String,
        /// Delete the participant's transcripts, audio, memory summaries and answers everywhere.
        #[arg(long)]
        purge: bool,
    },
    /// Print an unguessable link that opens a participant's day in the web
    /// front (`attune web`); `--revoke` withdraws that day's links instead.
    Link {
        #[arg(long)]
        study: PathBuf,
        #[arg(long)]
        participant: String,
        #[arg(long)]
        day: u32,
        /// Base URL of the web front (default http://127.0.0.1:8080).
        #[arg(long)]
        base: Option<String>,
        /// Withdraw every link of this participant's day.
        #[arg(long)]
        revoke: bool,
    },
    /// Analysis-ready export (CSV + JSONL, data dictionary, summary, plots).
    /// Several `--study` folders of one study (sites, robots) are merged.
    Export {
        #[arg(long, required = true, num_args = 1..)]
        study: Vec<PathBuf>,
        #[arg(long)]
        out: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
pub enum SessionCmd {
    /// Run a participant's arm for one study day, with its questionnaires.
    Start(SessionStartArgs),
}

#[derive(Debug, Args)]
pub struct SessionStartArgs {
    #[arg(long)]
    pub study: PathBuf,
    #[arg(long)]
    pub participant: String,
    /// Study day (1-based); days run in order, each once.
    #[arg(long)]
    pub day: u32,
    /// Chatbot arm: one participant turn per line (`-` = stdin).
    #[arg(long)]
    pub script: Option<PathBuf>,
    /// Voice/robot arm: read the participant from this WAV instead of the microphone.
    #[arg(long, value_name = "IN.wav")]
    pub audio_in: Option<PathBuf>,
    /// Voice/robot arm: write the robot's speech here instead of the speaker.
    #[arg(long, value_name = "OUT.wav")]
    pub audio_out: Option<PathBuf>,
    /// Voice/robot arm: also copy the turn transcript (JSONL) here.
    #[arg(long, value_name = "OUT.jsonl")]
    pub transcript: Option<PathBuf>,
    /// Voice/robot arm with --audio-in: skip idle time.
    #[arg(long)]
    pub fast: bool,
    /// Robot arm: head backend (sim | none | serial | pca9685); default from the site config.
    #[arg(long)]
    pub head: Option<String>,
    /// LLM path: local | openai | reflect (default from the study's site config).
    #[arg(long, value_enum)]
    pub llm: Option<LlmChoice>,
    /// Questionnaire answers (JSON) for offline rehearsal; default: asked on stdin.
    #[arg(long)]
    pub answers: Option<PathBuf>,
}

pub fn run(cmd: StudyCmd) -> anyhow::Result<()> {
    match cmd {
        StudyCmd::Init { study, protocol, config } => {
            let text = match &protocol {
                Some(p) => std::fs::read_to_string(p).with_context(|| format!("reading protocol {}", p.display()))?,
                None => EXAMPLE.to_string(),
            };
            let (s, key) = Study::init(&study, &text, config.as_deref()).map_err(|e| match &protocol {
                Some(p) => e.context(format!("protocol {}", p.display())),
                None => e,
            })?;
            let fps = check_parity_with(&s.protocol, &s.site_config()?, None, None)?;
            eprintln!("attune: study {:?} (site {}, robot {}) created in {}", s.protocol.study.id, s.protocol.study.site, s.protocol.study.robot, study.display());
            eprintln!("attune: allocation key written to {} — keep it outside the study folder, with the data manager", key.display());
            for (engine, fp) in fps {
                eprintln!("attune: engine {engine:?}: fingerprint {fp} (every arm of it matches)");
            }
            eprintln!("attune: {}", s.protocol.latency_matching.describe());
            Ok(())
        }
        StudyCmd::Enroll { study, participant, stratum } => {
            let mut s = Study::open(&study)?;
            let p = s.enroll(&participant, stratum.as_deref())?;
            println!("{}", serde_json::json!({"participant": p.id, "arm": p.arm}));
            Ok(())
        }
        StudyCmd::Status { study, json } => status(&study, json),
        StudyCmd::Withdraw { study, participant, purge } => {
            let mut s = Study::open(&study)?;
            let report = s.withdraw(&participant, purge)?;
            if purge {
                // Earlier exports hold the participant's words too: rewrite them.
                let exports = s.exports()?;
                drop(s);
                for out in exports {
                    if out.join("manifest.json").exists() {
                        let folders = export_folders(&out).unwrap_or_else(|_| vec![study.clone()]);
                        crate::study::export::export(&folders, &out).with_context(|| format!("rewriting export {} without the participant", out.display()))?;
                        eprintln!("attune: rewrote export {}", out.display());
                    }
                }
            }
            println!("{report}");
            Ok(())
        }
        StudyCmd::Link { study, participant, day, base, revoke } => crate::web::link_cmd(&study, &participant, day, base.as_deref(), revoke),
        StudyCmd::Export { study, out } => {
            let files = crate::study::export::export(&study, &out)?;
            eprintln!("attune: wrote {} files to {}", files.len(), out.display());
            Ok(())
        }
    }
}

/// The study folders an export was made from (its manifest).
fn export_folders(out: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let m: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(out.join("manifest.json"))?)?;
    let v: Vec<PathBuf> = m["folders"].as_array().context("manifest folders")?.iter().filter_map(|f| f["path"].as_str().map(PathBuf::from)).collect();
    if v.is_empty() {
        bail!("empty manifest");
    }
    Ok(v)
}

fn status(dir: &Path, json: bool) -> anyhow::Result<()> {
    let s = Study::open(dir)?;
    let p = &s.protocol;
    let now = crate::store::now_ms();
    let store = if s.store_path().exists() { Some(rusqlite::Connection::open_with_flags(s.store_path(), rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)?) } else { None };
    let mut rows = Vec::new();
    for part in s.participants()? {
        let days = s.days(Some(&part.id))?;
        let done = days.len() as u32;
        let complete = days
            .iter()
            .filter(|d| p.arm(&d.arm).map(|a| a.medium == Medium::Worksheet).unwrap_or(false) || d.turns >= p.session.min_turns)
            .count() as u32;
        // Calendar: day N is due on the (N-1)th day after enrolment.
        let elapsed_days = ((now - part.enrolled_at_ms).max(0) / 86_400_000) as u32;
        let due = (elapsed_days + 1).min(p.study.days);
        let (alerts, in_crisis) = match &store {
            Some(c) => (
                c.query_row(
                    "SELECT COUNT(*) FROM events e JOIN sessions s ON e.session_id = s.id WHERE s.participant = ?1 AND e.kind = 'staff_alert'",
                    [&part.id],
                    |r| r.get::<_, i64>(0),
                )?,
                c.query_row("SELECT crisis_active FROM sessions WHERE participant = ?1 ORDER BY id DESC LIMIT 1", [&part.id], |r| r.get::<_, i64>(0))
                    .optional()?
                    .unwrap_or(0)
                    != 0,
            ),
            None => (0, false),
        };
        let next = if part.status != "active" || done >= p.study.days { None } else { Some(done + 1) };
        rows.push(serde_json::json!({
            "participant": part.id, "arm": part.arm, "status": part.status, "stratum": part.stratum,
            "days_done": done, "days_complete": complete, "next_day": next, "due_by_calendar": due,
            "behind": if part.status == "active" { due.saturating_sub(done) } else { 0 },
            "adherence": if part.status == "active" || done > 0 { ((complete as f64 / due.max(done).max(1) as f64) * 100.0).round() / 100.0 } else { 0.0 },
            "staff_alerts": alerts, "in_crisis": in_crisis,
        }));
    }
    let spoken = crate::study::export::spoken_turn_latencies(&s)?;
    let q = |x| crate::study::export::quantile(&spoken, x);
    if json {
        let out = serde_json::json!({
            "spoken_turn_latency_ms": q(0.5).map(|p50| serde_json::json!({"p50": p50, "p95": q(0.95), "n": spoken.len()})),
            "study": p.study.id, "site": p.study.site, "robot": p.study.robot, "days": p.study.days,
            "participants": rows, "purges": s.purges()?.len(),
            "latency_matching": p.latency_matching.to_json(),
            "engine_pins": s.pins()?.into_iter().map(|(e, b, f)| serde_json::json!({"engine": e, "backend": b, "fingerprint": f})).collect::<Vec<_>>(),
        });
        println!("{out}");
        return Ok(());
    }
    println!("study {} · site {} · robot {} · {} days · {} participants", p.study.id, p.study.site, p.study.robot, p.study.days, rows.len());
    println!("{}", p.latency_matching.describe());
    match (q(0.5), q(0.95)) {
        (Some(p50), Some(p95)) => println!(
            "spoken arms' measured turn latency (end of speech → first audio): p50 {p50} ms, p95 {p95} ms over {} turns (latency_matching.first_sentence_min_ms is {} ms)",
            spoken.len(),
            p.latency_matching.first_sentence_min_ms
        ),
        _ => println!("spoken arms' measured turn latency: no robot or voice turns recorded yet"),
    }
    println!("{:<16} {:<12} {:<10} {:>5} {:>5} {:>6} {:>10} {:>7}  alerts", "participant", "arm", "status", "done", "next", "behind", "adherence", "crisis");
    for r in &rows {
        println!(
            "{:<16} {:<12} {:<10} {:>5} {:>5} {:>6} {:>10} {:>7}  {}",
            r["participant"].as_str().unwrap_or(""),
            r["arm"].as_str().unwrap_or(""),
            r["status"].as_str().unwrap_or(""),
            r["days_done"].to_string(),
            r["next_day"].as_u64().map(|d| d.to_string()).unwrap_or_else(|| "-".into()),
            r["behind"].to_string(),
            r["adherence"].to_string(),
            if r["in_crisis"] == serde_json::json!(true) { "YES" } else { "no" },
            r["staff_alerts"],
        );
    }
    Ok(())
}

/// Offline inputs of one arm's session.
pub struct ArmInputs {
    pub script: Option<PathBuf>,
    pub audio_in: Option<PathBuf>,
    pub audio_out: Option<PathBuf>,
    pub transcript: Option<PathBuf>,
    pub fast: bool,
    /// The robot arm's head (`--head`), default the site config's `[head] backend`.
    pub head: Option<crate::robot::HeadChoice>,
    /// The robot arm's behaviour trace (the study keeps one per robot day).
    pub behavior_trace: Option<PathBuf>,
    /// The protocol's `[latency_matching]` (applied to the chatbot arm only).
    pub latency_matching: Option<crate::pacing::LatencyMatching>,
}

/// Design: the ONE adapter between the study runner and the arms' session
/// code. It calls the same entry points as `attune chat` and `attune run`
/// (so the engine, the store and the fingerprint are those of the arms),
/// never a copy of their wiring: both run on the one session orchestrator
/// (`runner`), the robot arm with its planner driving the head.
pub fn run_arm_conversation(medium: Medium, engine: EngineArgs, inputs: ArmInputs) -> anyhow::Result<()> {
    match medium {
        // Design: the chatbot arm's day is matched as in the web front (same
        // runner, same setting); the spoken arms are the reference.
        Medium::Chatbot => crate::cmd_chat::run_chat_matched(ChatArgs { script: inputs.script, engine }, inputs.latency_matching),
        Medium::Voice | Medium::Robot => crate::cmd_voice::run_arm(RunArgs {
            arm: if medium == Medium::Robot { "robot".into() } else { "voice".into() },
            robot: crate::robot::HeadArgs { head: inputs.head, head_port: None, behavior_trace: inputs.behavior_trace, head_telemetry: None },
            engine,
            audio_in: inputs.audio_in,
            audio_out: inputs.audio_out,
            transcript: inputs.transcript,
            fast: inputs.fast,
            echo_room: None,
        }),
        Medium::Worksheet => bail!("the worksheet arm has no conversation"),
    }
}

fn check_inputs(arm: &Arm, a: &SessionStartArgs) -> anyhow::Result<()> {
    let audio = a.audio_in.is_some() || a.audio_out.is_some() || a.transcript.is_some() || a.fast;
    match arm.medium {
        Medium::Chatbot if audio || a.head.is_some() => bail!("arm {:?} is a text chatbot: use --script (not --audio-in/--audio-out/--transcript/--fast/--head)", arm.name),
        Medium::Voice | Medium::Robot if a.script.is_some() => bail!("arm {:?} is spoken ({}): use --audio-in/--audio-out/--transcript/--fast, not --script", arm.name, arm.medium.as_str()),
        Medium::Voice if a.head.is_some() => bail!("arm {:?} is voice-only: it has no head (--head is for the robot arm)", arm.name),
        Medium::Worksheet if audio || a.script.is_some() || a.head.is_some() || a.llm.is_some() => {
            bail!("arm {:?} is the worksheet arm: it takes no conversation inputs (only --answers)", arm.name)
        }
        _ => {}
    }
    if a.fast && a.audio_in.is_none() {
        bail!("--fast needs --audio-in (a microphone cannot be fast-forwarded)");
    }
    if let Some(h) = &a.head {
        if !["sim", "none", "serial", "pca9685"].contains(&h.as_str()) {
            bail!("--head {h:?}: expected sim | none | serial | pca9685");
        }
    }
    Ok(())
}

pub fn run_session(cmd: SessionCmd) -> anyhow::Result<()> {
    match cmd {
        SessionCmd::Start(a) => session_start(a),
    }
}

fn session_start(a: SessionStartArgs) -> anyhow::Result<()> {
    study::check_participant_id(&a.participant)?;
    let mut s = Study::open(&a.study)?;
    let Some(part) = s.participant(&a.participant)? else {
        bail!("participant {:?} is not enrolled in {}; enrol with `attune study enroll`", a.participant, a.study.display());
    };
    s.check_day(&part, a.day)?;
    let protocol: Protocol = s.protocol.clone();
    let arm = protocol.arm(&part.arm).cloned().with_context(|| format!("participant's arm {:?} is not in the protocol", part.arm))?;
    let exercise = protocol.exercise_for(a.day).cloned().context("no exercise planned for this day")?;
    check_inputs(&arm, &a)?;
    for p in [&a.script, &a.audio_in, &a.answers].into_iter().flatten() {
        if p.as_os_str() != "-" && !p.exists() {
            bail!("{} does not exist", p.display());
        }
    }

    // Arm parity before anything is asked or run.
    let mut fingerprint = None;
    if arm.medium.converses() {
        let cfg = s.site_config()?;
        let fps = check_parity_with(&protocol, &cfg, a.llm, Some(&s))?;
        fingerprint = fps.get(&arm.engine).cloned();
    }

    // Questionnaires: a file is checked whole before the session starts.
    let before = questionnaire::due(&protocol, a.day, true);
    let after = questionnaire::due(&protocol, a.day, false);
    let mut answers = match &a.answers {
        Some(f) => {
            let all: Vec<_> = before.iter().chain(after.iter()).cloned().collect();
            questionnaire::from_file(f, &all)?
        }
        None => {
            let stdin = std::io::stdin();
            questionnaire::interactive(&before, &mut stdin.lock(), &mut std::io::stderr())?
        }
    };

    let started = crate::store::now_ms();
    let store_path = s.store_path();
    let last_before = last_store_session(&store_path, &part.id)?;
    let mut head = None;
    if arm.medium == Medium::Worksheet {
        let html = worksheet::render(&protocol, &part.id, a.day, &exercise);
        let path = a.study.join("worksheets").join(&part.id).join(format!("day-{:02}.html", a.day));
        study::write_atomic(&path, html.as_bytes())?;
        eprintln!("attune: worksheet for day {} written to {} — print it (or save as PDF) for the participant", a.day, path.display());
    } else {
        let transcript = a.study.join("transcripts").join(&part.id).join(format!("day-{:02}.jsonl", a.day));
        let spoken = matches!(arm.medium, Medium::Voice | Medium::Robot);
        if spoken {
            std::fs::create_dir_all(transcript.parent().unwrap_or(Path::new("."))).context("creating the transcripts folder")?;
        }
        if arm.medium == Medium::Robot {
            head = Some(a.head.clone().unwrap_or_else(|| s.site_config().map(|c| c.head.backend).unwrap_or_default()));
        }
        let engine = EngineArgs {
            llm: a.llm,
            policy: arm.policy.map(|p| match p {
                ArmPolicy::Attuned => PolicyChoice::Attuned,
                ArmPolicy::Assistant => PolicyChoice::Assistant,
            }),
            db: Some(store_path.clone()),
            participant: Some(part.id.clone()),
            day: Some(a.day),
            config: Some(s.site_path()),
            // Design: a study day is always stored in the study's own
            // database (the day record names its store session), so
            // `session start` has no --ephemeral.
            ephemeral: false,
        };
        eprintln!("attune: day {} of {} for {} (arm {}): {}", a.day, protocol.study.days, part.id, arm.name, exercise.title);
        let inputs = ArmInputs {
            script: a.script.clone(),
            audio_in: a.audio_in.clone(),
            audio_out: a.audio_out.clone(),
            transcript: spoken.then(|| transcript.clone()),
            fast: a.fast,
            head: match a.head.as_deref() {
                None => None,
                Some(h) => Some(<crate::robot::HeadChoice as clap::ValueEnum>::from_str(h, true).map_err(|e| anyhow::anyhow!("--head: {e}"))?),
            },
            // Design: every robot day keeps its behaviour trace in the study
            // folder (DIR/traces/P/day-NN-<ms>.jsonl; the store's `behaviors`
            // event names it), so the dashboard can draw the session's
            // timeline. A rerun of a day gets its own file.
            behavior_trace: if arm.medium == Medium::Robot {
                let d = a.study.join("traces").join(&part.id);
                std::fs::create_dir_all(&d).with_context(|| format!("creating {}", d.display()))?;
                Some(d.join(format!("day-{:02}-{}.jsonl", a.day, crate::store::now_ms())))
            } else {
                None
            },
            latency_matching: Some(protocol.latency_matching),
        };
        run_arm_conversation(arm.medium, engine, inputs).with_context(|| format!("day {} was not recorded; it can be run again", a.day))?;
        if spoken {
            if let Some(copy) = &a.transcript {
                std::fs::copy(&transcript, copy).with_context(|| format!("copying the transcript to {}", copy.display()))?;
            }
            if protocol.retention.raw_audio {
                if let Some(inp) = &a.audio_in {
                    let dst = a.study.join("audio").join(&part.id).join(format!("day-{:02}.wav", a.day));
                    std::fs::create_dir_all(dst.parent().unwrap_or(Path::new("."))).context("creating the audio folder")?;
                    std::fs::copy(inp, &dst).with_context(|| format!("keeping raw audio in {}", dst.display()))?;
                }
            }
        }
    }
    let (store_session, turns) = match arm.medium {
        Medium::Worksheet => (None, 0),
        _ => match last_store_session(&store_path, &part.id)? {
            Some((id, n)) if last_before.map(|b| id > b.0).unwrap_or(true) => (Some(id), n),
            _ => bail!("the arm ran but left no session in {}; day {} was not recorded", store_path.display(), a.day),
        },
    };
    if a.answers.is_none() {
        let stdin = std::io::stdin();
        answers.extend(questionnaire::interactive(&after, &mut stdin.lock(), &mut std::io::stderr())?);
    }
    let rec = DayRecord {
        participant: part.id.clone(),
        day: a.day,
        arm: arm.name.clone(),
        exercise: exercise.id.clone(),
        started_at_ms: started,
        ended_at_ms: crate::store::now_ms(),
        store_session,
        fingerprint,
        turns,
        head,
    };
    s.record_day(&rec, &answers)?;
    eprintln!("attune: day {} recorded for {} ({} turns, {} answers)", a.day, part.id, turns, answers.iter().map(|x| x.2.len()).sum::<usize>());
    Ok(())
}

/// The participant's latest session in the store: (id, turns).
pub(crate) fn last_store_session(path: &Path, participant: &str) -> anyhow::Result<Option<(i64, u32)>> {
    if !path.exists() {
        return Ok(None);
    }
    let c = rusqlite::Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    Ok(c.query_row(
        "SELECT s.id, (SELECT COUNT(*) FROM turns t WHERE t.session_id = s.id) FROM sessions s WHERE s.participant = ?1 ORDER BY s.id DESC LIMIT 1",
        [participant],
        |r| Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)? as u32)),
    )
    .optional()?)
}
