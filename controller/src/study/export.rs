//! `attune study export`: tidy CSV (one row per observation, one column per
//! variable) plus the same tables as JSONL, a data dictionary, a per-arm
//! summary and plots. Several study folders of one study (sites, robots)
//! merge into one export with `site` and `robot` columns; folders whose
//! protocol or engine fingerprints differ are refused.
//!
//! Design: bond (working alliance) and safety (validator flags, crisis turns,
//! staff alerts, fallbacks) are separate columns of the summary and never
//! combined into one score: a participant can feel a warm bond with a system
//! that is quietly unsafe.

use super::protocol::{Medium, Protocol, Role, Timing};
use super::{write_atomic, Study};
use anyhow::{bail, Context};
use rusqlite::{Connection, OpenFlags};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// A table: column names and rows of JSON values (strings, numbers, null).
pub struct Table {
    /// File stem (`turns` → turns.csv, turns.jsonl).
    pub name: &'static str,
    /// What one row is.
    pub row: &'static str,
    /// (column, type, description).
    pub columns: Vec<(&'static str, &'static str, &'static str)>,
    /// Rows, values in column order.
    pub rows: Vec<Vec<Value>>,
}

impl Table {
    fn new(name: &'static str, row: &'static str, columns: Vec<(&'static str, &'static str, &'static str)>) -> Table {
        Table { name, row, columns, rows: Vec::new() }
    }

    /// RFC 4180 CSV: a header, `\n` line ends, fields with a comma, quote or
    /// line break quoted with doubled quotes; null is an empty field.
    pub fn to_csv(&self) -> String {
        let mut s = String::new();
        s.push_str(&self.columns.iter().map(|c| c.0).collect::<Vec<_>>().join(","));
        s.push('\n');
        for r in &self.rows {
            let cells: Vec<String> = r.iter().map(csv_cell).collect();
            s.push_str(&cells.join(","));
            s.push('\n');
        }
        s
    }

    /// One JSON object per line.
    pub fn to_jsonl(&self) -> String {
        let mut s = String::new();
        for r in &self.rows {
            let obj: serde_json::Map<String, Value> = self.columns.iter().map(|c| c.0.to_string()).zip(r.iter().cloned()).collect();
            s.push_str(&Value::Object(obj).to_string());
            s.push('\n');
        }
        s
    }
}

fn csv_cell(v: &Value) -> String {
    let raw = match v {
        Value::Null => return String::new(),
        Value::String(s) => s.clone(),
        Value::Bool(b) => if *b { "TRUE".into() } else { "FALSE".into() },
        other => other.to_string(),
    };
    if raw.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", raw.replace('"', "\"\""))
    } else {
        raw
    }
}

/// One study folder opened for export.
struct Source {
    study: Study,
    site: String,
    robot: String,
    store: Option<Connection>,
}

/// The protocol with its site and robot ids blanked: what must match between folders.
fn shared_protocol(p: &Protocol) -> Protocol {
    let mut p = p.clone();
    p.study.site.clear();
    p.study.robot.clear();
    p
}

fn open_sources(dirs: &[PathBuf]) -> anyhow::Result<Vec<Source>> {
    let mut out: Vec<Source> = Vec::new();
    for d in dirs {
        let study = Study::open(d)?;
        let site = study.protocol.study.site.clone();
        let robot = study.protocol.study.robot.clone();
        if let Some(first) = out.first() {
            if shared_protocol(&first.study.protocol) != shared_protocol(&study.protocol) {
                bail!(
                    "{} and {} hold different protocols (beyond site and robot ids); only folders of one study merge",
                    first.study.dir.display(),
                    d.display()
                );
            }
            let a: BTreeMap<(String, String), String> = first.study.pins()?.into_iter().map(|(e, b, f)| ((e, b), f)).collect();
            for (e, b, f) in study.pins()? {
                if let Some(g) = a.get(&(e.clone(), b.clone())) {
                    if *g != f {
                        bail!(
                            "{} and {} ran engine {e:?} ({b}) with different fingerprints ({g} vs {f}); their data cannot be pooled as one arm",
                            first.study.dir.display(),
                            d.display()
                        );
                    }
                }
            }
            if out.iter().any(|s| s.site == site && s.robot == robot) {
                bail!("two folders have site {site:?} and robot {robot:?}; each robot's folder is exported once");
            }
        }
        let sp = study.store_path();
        let store = if sp.exists() {
            Some(Connection::open_with_flags(&sp, OpenFlags::SQLITE_OPEN_READ_ONLY).with_context(|| format!("opening {}", sp.display()))?)
        } else {
            None
        };
        out.push(Source { study, site, robot, store });
    }
    Ok(out)
}

/// Per-participant distress totals and bond, for the summary.
struct Outcome {
    arm: String,
    baseline: Option<f64>,
    last: Option<f64>,
    bond: Option<f64>,
    days_done: u32,
}

/// Writes the whole export for `dirs` into `out`. Returns the file names written.
pub fn export(dirs: &[PathBuf], out: &Path) -> anyhow::Result<Vec<String>> {
    if dirs.is_empty() {
        bail!("give at least one --study folder");
    }
    let sources = open_sources(dirs)?;
    let protocol = sources[0].study.protocol.clone();
    let tables = build_tables(&sources, &protocol)?;
    std::fs::create_dir_all(out).with_context(|| format!("cannot create export folder {}", out.display()))?;
    let mut written = Vec::new();
    for t in &tables {
        write_atomic(&out.join(format!("{}.csv", t.name)), t.to_csv().as_bytes())?;
        write_atomic(&out.join(format!("{}.jsonl", t.name)), t.to_jsonl().as_bytes())?;
        written.push(format!("{}.csv", t.name));
        written.push(format!("{}.jsonl", t.name));
    }
    let (summary, outcomes) = summary(&sources, &protocol, &tables)?;
    write_atomic(&out.join("summary.csv"), summary.to_csv().as_bytes())?;
    write_atomic(&out.join("summary.jsonl"), summary.to_jsonl().as_bytes())?;
    written.push("summary.csv".into());
    written.push("summary.jsonl".into());
    let mut all = tables;
    all.push(summary);
    write_atomic(&out.join("data_dictionary.csv"), dictionary(&all).to_csv().as_bytes())?;
    written.push("data_dictionary.csv".into());
    // Design: the tables are the deliverable; a missing font must not cost
    // the researcher the data, so a plot failure is reported, not fatal.
    let plot_error = match super::plots::draw(out, &protocol, &outcomes_for_plot(&outcomes)) {
        Ok(files) => {
            written.extend(files);
            None
        }
        Err(e) => {
            eprintln!("attune: warning: plots not drawn: {e:#}");
            Some(format!("{e:#}"))
        }
    };
    let manifest = json!({
        "study": protocol.study.id,
        "folders": sources.iter().map(|s| json!({"site": s.site, "robot": s.robot, "path": s.study.dir.display().to_string()})).collect::<Vec<_>>(),
        "engine_pins": sources[0].study.pins()?.into_iter().map(|(e, b, f)| json!({"engine": e, "backend": b, "fingerprint": f})).collect::<Vec<_>>(),
        "exported_at_ms": crate::store::now_ms(),
        "files": written,
        "plot_error": plot_error,
    });
    write_atomic(&out.join("manifest.json"), serde_json::to_string_pretty(&manifest)?.as_bytes())?;
    written.push("manifest.json".into());
    for s in &sources {
        s.study.note_export(out)?;
    }
    Ok(written)
}

fn outcomes_for_plot(o: &[Outcome]) -> Vec<(String, Option<f64>, f64)> {
    o.iter().map(|x| (x.arm.clone(), x.baseline.zip(x.last).map(|(b, l)| l - b), x.days_done as f64)).collect()
}

fn s(v: impl Into<String>) -> Value {
    Value::String(v.into())
}

fn build_tables(sources: &[Source], protocol: &Protocol) -> anyhow::Result<Vec<Table>> {
    let study_id = &protocol.study.id;
    let mut participants = Table::new(
        "participants",
        "one enrolled participant",
        vec![
            ("study", "string", "study id"),
            ("site", "string", "site id"),
            ("robot", "string", "robot / workstation id"),
            ("participant", "string", "pseudonymous participant id"),
            ("arm", "string", "allocated arm"),
            ("medium", "string", "robot | voice | chatbot | worksheet"),
            ("stratum", "string", "allocation stratum (all when unstratified)"),
            ("slot", "integer", "0-based slot in the stratum's allocation sequence"),
            ("enrolled_at_ms", "integer", "enrolment time, ms since the Unix epoch (UTC)"),
            ("consent_version", "string", "consent form version recorded at enrolment"),
            ("status", "string", "active | withdrawn"),
            ("withdrawn_at_ms", "integer", "withdrawal time (empty if active)"),
            ("days_completed", "integer", "study days completed"),
        ],
    );
    let mut sessions = Table::new(
        "sessions",
        "one completed study day of one participant",
        vec![
            ("study", "string", "study id"),
            ("site", "string", "site id"),
            ("robot", "string", "robot id"),
            ("participant", "string", "participant id"),
            ("arm", "string", "arm"),
            ("day", "integer", "study day (1-based)"),
            ("exercise", "string", "exercise id of the day's plan"),
            ("started_at_ms", "integer", "session start (ms since epoch)"),
            ("ended_at_ms", "integer", "session end (ms since epoch)"),
            ("duration_s", "number", "session length in seconds"),
            ("turns", "integer", "participant turns (0 for the worksheet arm)"),
            ("complete", "boolean", "turns >= session.min_turns (worksheet: page produced)"),
            ("over_max_turns", "boolean", "turns > session.max_turns"),
            ("store_session", "integer", "session row id in the folder's session store"),
            ("fingerprint", "string", "engine fingerprint the session ran (empty for worksheet)"),
            ("head", "string", "head backend for the robot arm"),
            (
                "latency_matching",
                "string",
                "reply timing the session ran with: off | first_sentence_min_ms=N;ms_per_char=N;max_hold_ms=N (empty where not recorded: spoken arms, worksheet)",
            ),
        ],
    );
    let mut turns = Table::new(
        "turns",
        "one participant turn and the reply",
        vec![
            ("study", "string", "study id"),
            ("site", "string", "site id"),
            ("robot", "string", "robot id"),
            ("participant", "string", "participant id"),
            ("arm", "string", "arm"),
            ("day", "integer", "study day"),
            ("turn", "integer", "turn index within the session (1-based)"),
            ("at_ms", "integer", "turn start (ms since epoch)"),
            ("status", "string", "complete | interrupted | pending"),
            ("user_text", "string", "the participant's words (as heard by STT for voice/robot)"),
            ("reply", "string", "the reply shown or spoken"),
            ("risk", "string", "crisis layer risk: none | low | high | imminent"),
            ("crisis_active", "boolean", "crisis protocol active after this turn"),
            ("intent", "string", "what the reply set out to do"),
            ("source", "string", "llm | reflect | protocol | rule"),
            ("fallback", "boolean", "the reflective fallback answered"),
            ("validator_flags", "string", "validator flags raised on any draft, ';'-separated"),
            ("rewrites", "integer", "validator rewrites requested"),
            ("llm_error", "string", "LLM failure, if any"),
            ("fingerprint", "string", "engine fingerprint"),
        ],
    );
    let mut latencies = Table::new(
        "latencies",
        "timings of one turn",
        vec![
            ("study", "string", "study id"),
            ("site", "string", "site id"),
            ("robot", "string", "robot id"),
            ("participant", "string", "participant id"),
            ("arm", "string", "arm"),
            ("day", "integer", "study day"),
            ("turn", "integer", "turn index"),
            ("first_token_ms", "integer", "turn start to first LLM token (or deterministic reply)"),
            ("total_ms", "integer", "turn start to reply complete"),
            ("llm_ms", "integer", "time spent waiting on the LLM"),
            ("turn_latency_ms", "integer", "voice/robot: end of participant speech to first robot audio (empty for text)"),
            (
                "matched_first_sentence_ms",
                "integer",
                "chatbot with latency matching: message taken up to first reply sentence released (empty otherwise)",
            ),
            ("matching_exempt", "boolean", "chatbot with latency matching: the crisis layer answered, nothing was held (empty otherwise)"),
        ],
    );
    let mut events = Table::new(
        "behaviour_events",
        "one session event (staff alert, crisis enter/clear, LLM error, interruption, head behaviour)",
        vec![
            ("study", "string", "study id"),
            ("site", "string", "site id"),
            ("robot", "string", "robot id"),
            ("participant", "string", "participant id"),
            ("arm", "string", "arm"),
            ("day", "integer", "study day"),
            ("turn", "integer", "turn index (empty for session-level events)"),
            ("at_ms", "integer", "time (ms since epoch)"),
            ("kind", "string", "event kind"),
            ("payload", "string", "event details as JSON"),
        ],
    );
    let mut answers = Table::new(
        "questionnaires",
        "one answered questionnaire item",
        vec![
            ("study", "string", "study id"),
            ("site", "string", "site id"),
            ("robot", "string", "robot id"),
            ("participant", "string", "participant id"),
            ("arm", "string", "arm"),
            ("day", "integer", "study day it was given on"),
            ("timing", "string", "baseline | pre | post | weekly | final"),
            ("instrument", "string", "questionnaire id in the protocol"),
            ("role", "string", "distress | bond | mood | other"),
            ("item", "integer", "item number (1-based)"),
            ("value", "integer", "answer on the instrument's scale"),
        ],
    );
    let mut scores = Table::new(
        "questionnaire_scores",
        "one administration of one instrument, summed",
        vec![
            ("study", "string", "study id"),
            ("site", "string", "site id"),
            ("robot", "string", "robot id"),
            ("participant", "string", "participant id"),
            ("arm", "string", "arm"),
            ("day", "integer", "study day"),
            ("timing", "string", "baseline | pre | post | weekly | final"),
            ("instrument", "string", "questionnaire id"),
            ("role", "string", "distress | bond | mood | other"),
            ("total", "integer", "sum of the item values"),
            ("items", "integer", "items answered"),
        ],
    );
    for src in sources {
        let (site, robot) = (src.site.as_str(), src.robot.as_str());
        let ps = src.study.participants()?;
        let arm_of: BTreeMap<String, String> = ps.iter().map(|p| (p.id.clone(), p.arm.clone())).collect();
        let days = src.study.days(None)?;
        for p in &ps {
            let medium = protocol.arm(&p.arm).map(|a| a.medium.as_str()).unwrap_or("");
            let done = days.iter().filter(|d| d.participant == p.id).count();
            participants.rows.push(vec![
                s(study_id), s(site), s(robot), s(&p.id), s(&p.arm), s(medium), s(&p.stratum), json!(p.slot), json!(p.enrolled_at_ms),
                s(&p.consent_version), s(&p.status), json!(p.withdrawn_at_ms), json!(done),
            ]);
        }
        // Session store rows, keyed by store session id.
        let mut day_of_store: BTreeMap<i64, (String, u32, String)> = BTreeMap::new();
        for d in &days {
            let worksheet = protocol.arm(&d.arm).map(|a| a.medium == Medium::Worksheet).unwrap_or(false);
            let complete = if worksheet { true } else { d.turns >= protocol.session.min_turns };
            sessions.rows.push(vec![
                s(study_id), s(site), s(robot), s(&d.participant), s(&d.arm), json!(d.day), s(&d.exercise), json!(d.started_at_ms), json!(d.ended_at_ms),
                json!(((d.ended_at_ms - d.started_at_ms) as f64 / 1000.0 * 10.0).round() / 10.0), json!(d.turns), json!(complete),
                json!(d.turns > protocol.session.max_turns), json!(d.store_session), json!(d.fingerprint), json!(d.head),
                json!(match (&src.store, d.store_session) {
                    (Some(c), Some(sid)) => latency_matching_of(c, sid)?,
                    _ => None,
                }),
            ]);
            if let Some(sid) = d.store_session {
                day_of_store.insert(sid, (d.participant.clone(), d.day, d.arm.clone()));
            }
        }
        let voice_latency = read_transcript_latencies(&src.study)?;
        if let Some(conn) = &src.store {
            let mut st = conn.prepare(
                "SELECT session_id, idx, created_at_ms, status, participant_text, reply, risk, crisis_active, intent, source, fallback, validator_json, llm_error, fingerprint, first_token_ms, total_ms, llm_ms FROM turns ORDER BY session_id, idx",
            )?;
            // The matched timing of each turn, where the session had it.
            let mut matched: BTreeMap<(i64, i64), (Value, Value)> = BTreeMap::new();
            {
                let mut m = conn.prepare("SELECT session_id, turn_idx, payload FROM events WHERE kind = 'latency_matched' AND turn_idx IS NOT NULL")?;
                let mut mr = m.query([])?;
                while let Some(r) = mr.next()? {
                    let v: Value = serde_json::from_str(&r.get::<_, String>(2)?).unwrap_or(Value::Null);
                    matched.insert((r.get(0)?, r.get(1)?), (v["first_sentence_ms"].clone(), v["exempt"].clone()));
                }
            }
            let mut rows = st.query([])?;
            while let Some(r) = rows.next()? {
                let sid: i64 = r.get(0)?;
                let Some((pid, day, arm)) = day_of_store.get(&sid) else { continue };
                let idx: i64 = r.get(1)?;
                let vj: Option<String> = r.get(11)?;
                let (flags, rewrites) = vj
                    .and_then(|t| serde_json::from_str::<Value>(&t).ok())
                    .map(|v| {
                        let flags: Vec<String> = v["flags"].as_array().map(|a| a.iter().map(|f| f.as_str().map(String::from).unwrap_or_else(|| f.to_string())).collect()).unwrap_or_default();
                        (flags.join(";"), v["rewrites"].as_i64().unwrap_or(0))
                    })
                    .unwrap_or_default();
                turns.rows.push(vec![
                    s(study_id), s(site), s(robot), s(pid), s(arm), json!(day), json!(idx), json!(r.get::<_, i64>(2)?), s(r.get::<_, String>(3)?),
                    s(r.get::<_, String>(4)?), s(r.get::<_, String>(5)?), s(r.get::<_, String>(6)?), json!(r.get::<_, i64>(7)? != 0), s(r.get::<_, String>(8)?),
                    json!(r.get::<_, Option<String>>(9)?), json!(r.get::<_, i64>(10)? != 0), s(flags), json!(rewrites), json!(r.get::<_, Option<String>>(12)?),
                    s(r.get::<_, String>(13)?),
                ]);
                latencies.rows.push(vec![
                    s(study_id), s(site), s(robot), s(pid), s(arm), json!(day), json!(idx), json!(r.get::<_, Option<i64>>(14)?), json!(r.get::<_, Option<i64>>(15)?),
                    json!(r.get::<_, Option<i64>>(16)?), json!(voice_latency.get(&(pid.clone(), *day, idx))),
                    matched.get(&(sid, idx)).map(|m| m.0.clone()).unwrap_or(Value::Null),
                    matched.get(&(sid, idx)).map(|m| m.1.clone()).unwrap_or(Value::Null),
                ]);
            }
            let mut st = conn.prepare("SELECT session_id, turn_idx, at_ms, kind, payload FROM events WHERE session_id IS NOT NULL ORDER BY id")?;
            let mut rows = st.query([])?;
            while let Some(r) = rows.next()? {
                let sid: i64 = r.get(0)?;
                let Some((pid, day, arm)) = day_of_store.get(&sid) else { continue };
                events.rows.push(vec![
                    s(study_id), s(site), s(robot), s(pid), s(arm), json!(day), json!(r.get::<_, Option<i64>>(1)?), json!(r.get::<_, i64>(2)?),
                    s(r.get::<_, String>(3)?), s(r.get::<_, String>(4)?),
                ]);
            }
        }
        let mut sums: BTreeMap<(String, u32, String, String), (i64, i64)> = BTreeMap::new();
        for a in src.study.answers()? {
            let role = protocol.questionnaires.iter().find(|q| q.id == a.instrument).map(|q| role_str(q.role)).unwrap_or("other");
            let arm = arm_of.get(&a.participant).cloned().unwrap_or_default();
            answers.rows.push(vec![
                s(study_id), s(site), s(robot), s(&a.participant), s(&arm), json!(a.day), s(&a.timing), s(&a.instrument), s(role), json!(a.item), json!(a.value),
            ]);
            let e = sums.entry((a.participant.clone(), a.day, a.timing.clone(), a.instrument.clone())).or_default();
            e.0 += a.value;
            e.1 += 1;
        }
        for ((pid, day, timing, inst), (total, n)) in sums {
            let role = protocol.questionnaires.iter().find(|q| q.id == inst).map(|q| role_str(q.role)).unwrap_or("other");
            let arm = arm_of.get(&pid).cloned().unwrap_or_default();
            scores.rows.push(vec![s(study_id), s(site), s(robot), s(&pid), s(&arm), json!(day), s(&timing), s(&inst), s(role), json!(total), json!(n)]);
        }
    }
    Ok(vec![participants, sessions, turns, latencies, events, answers, scores])
}

/// The `latency_matching` a store session recorded, as the export writes it.
fn latency_matching_of(c: &Connection, session: i64) -> anyhow::Result<Option<String>> {
    use rusqlite::OptionalExtension;
    let p: Option<String> = c
        .query_row("SELECT payload FROM events WHERE session_id = ?1 AND kind = 'latency_matching' ORDER BY id LIMIT 1", [session], |r| r.get(0))
        .optional()?;
    let Some(p) = p else { return Ok(None) };
    let v: Value = serde_json::from_str(&p)?;
    if v["enabled"] != json!(true) {
        return Ok(Some("off".into()));
    }
    Ok(Some(format!("first_sentence_min_ms={};ms_per_char={};max_hold_ms={}", v["first_sentence_min_ms"], v["ms_per_char"], v["max_hold_ms"])))
}

fn role_str(r: Role) -> &'static str {
    match r {
        Role::Distress => "distress",
        Role::Bond => "bond",
        Role::Mood => "mood",
        Role::Other => "other",
    }
}

/// turn_latency_ms of voice/robot turns from the folder's transcripts:
/// (participant, day, turn) → ms.
/// Turn latencies (end of speech → first audio, ms) the spoken arms
/// measured in this study folder: every robot / voice participant's
/// transcript turns, sorted. What `[latency_matching]` is matched to.
pub(crate) fn spoken_turn_latencies(study: &Study) -> anyhow::Result<Vec<i64>> {
    let spoken: std::collections::BTreeSet<String> = study
        .participants()?
        .into_iter()
        .filter(|p| study.protocol.arm(&p.arm).is_some_and(|a| matches!(a.medium, Medium::Robot | Medium::Voice)))
        .map(|p| p.id)
        .collect();
    let mut v: Vec<i64> = read_transcript_latencies(study)?.into_iter().filter(|((pid, _, _), _)| spoken.contains(pid)).map(|(_, ms)| ms).collect();
    v.sort_unstable();
    Ok(v)
}

/// The `p`-quantile (0..=1) of sorted values, nearest rank.
pub(crate) fn quantile(sorted: &[i64], p: f64) -> Option<i64> {
    if sorted.is_empty() {
        return None;
    }
    let i = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    Some(sorted[i])
}

fn read_transcript_latencies(study: &Study) -> anyhow::Result<BTreeMap<(String, u32, i64), i64>> {
    let mut out = BTreeMap::new();
    let root = study.dir.join("transcripts");
    let Ok(pdirs) = std::fs::read_dir(&root) else { return Ok(out) };
    for pd in pdirs.flatten() {
        let pid = pd.file_name().to_string_lossy().into_owned();
        let Ok(files) = std::fs::read_dir(pd.path()) else { continue };
        for f in files.flatten() {
            let name = f.file_name().to_string_lossy().into_owned();
            let Some(day) = name.strip_prefix("day-").and_then(|x| x.strip_suffix(".jsonl")).and_then(|x| x.parse::<u32>().ok()) else { continue };
            let text = std::fs::read_to_string(f.path()).with_context(|| format!("reading {}", f.path().display()))?;
            for line in text.lines() {
                if let Ok(v) = serde_json::from_str::<Value>(line) {
                    if let (Some(t), Some(l)) = (v["turn"].as_i64(), v["turn_latency_ms"].as_i64()) {
                        out.insert((pid.clone(), day, t), l);
                    }
                }
            }
        }
    }
    Ok(out)
}

/// Mean and sample standard deviation.
fn mean_sd(v: &[f64]) -> (Option<f64>, Option<f64>) {
    if v.is_empty() {
        return (None, None);
    }
    let m = v.iter().sum::<f64>() / v.len() as f64;
    if v.len() < 2 {
        return (Some(m), None);
    }
    let var = v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (v.len() - 1) as f64;
    (Some(m), Some(var.sqrt()))
}

/// Hedges' g of `a` against `b` (difference of means over the pooled SD,
/// small-sample corrected) and its 95% CI from the large-sample variance
/// (Hedges & Olkin 1985): var(g) = (n1+n2)/(n1 n2) + g²/(2(n1+n2)).
pub fn hedges_g(a: &[f64], b: &[f64]) -> Option<(f64, f64, f64)> {
    let (n1, n2) = (a.len() as f64, b.len() as f64);
    if a.len() < 2 || b.len() < 2 {
        return None;
    }
    let (m1, s1) = mean_sd(a);
    let (m2, s2) = mean_sd(b);
    let (m1, s1, m2, s2) = (m1?, s1?, m2?, s2?);
    let pooled = (((n1 - 1.0) * s1 * s1 + (n2 - 1.0) * s2 * s2) / (n1 + n2 - 2.0)).sqrt();
    if pooled == 0.0 {
        return None;
    }
    let d = (m1 - m2) / pooled;
    let j = 1.0 - 3.0 / (4.0 * (n1 + n2) - 9.0);
    let g = j * d;
    let se = ((n1 + n2) / (n1 * n2) + g * g / (2.0 * (n1 + n2))).sqrt();
    Some((g, g - 1.96 * se, g + 1.96 * se))
}

fn round2(x: Option<f64>) -> Value {
    x.map(|v| json!((v * 100.0).round() / 100.0)).unwrap_or(Value::Null)
}

fn summary(sources: &[Source], protocol: &Protocol, tables: &[Table]) -> anyhow::Result<(Table, Vec<Outcome>)> {
    let mut t = Table::new(
        "summary",
        "one arm",
        vec![
            ("arm", "string", "arm"),
            ("medium", "string", "robot | voice | chatbot | worksheet"),
            ("enrolled", "integer", "participants allocated"),
            ("withdrawn", "integer", "participants withdrawn"),
            ("distress_instrument", "string", "questionnaire id of the distress outcome"),
            ("n_change", "integer", "participants with a baseline and a final distress score"),
            ("distress_baseline_mean", "number", "mean distress total at baseline"),
            ("distress_final_mean", "number", "mean distress total at the final day"),
            ("distress_change_mean", "number", "mean change final - baseline (negative = less distress)"),
            ("distress_change_sd", "number", "SD of the change"),
            ("reference_arm", "string", "arm the effect size compares against (the worksheet control)"),
            ("hedges_g", "number", "Hedges' g of the change vs the reference arm (negative = larger drop)"),
            ("hedges_g_ci_low", "number", "95% CI lower bound (Hedges & Olkin large-sample variance)"),
            ("hedges_g_ci_high", "number", "95% CI upper bound"),
            ("adherence_mean", "number", "mean share of the protocol's days completed (complete sessions)"),
            ("bond_instrument", "string", "questionnaire id of the bond (working alliance) measure"),
            ("bond_final_mean", "number", "mean bond total at the final day (a separate dimension from safety)"),
            ("turns", "integer", "participant turns"),
            ("validator_flagged_turns", "integer", "turns with at least one validator flag (safety dimension)"),
            ("crisis_turns", "integer", "turns with risk high or imminent"),
            ("staff_alerts", "integer", "staff_alert events"),
            ("fallbacks", "integer", "turns answered by the reflective fallback"),
            ("llm_errors", "integer", "turns with an LLM error"),
        ],
    );
    let col = |tab: &Table, name: &str| tab.columns.iter().position(|c| c.0 == name);
    let find = |name: &str| tables.iter().find(|t| t.name == name);
    let distress = protocol.distress().map(|q| q.id.clone()).unwrap_or_default();
    let bond = protocol.questionnaires.iter().find(|q| q.role == Role::Bond).map(|q| q.id.clone());
    let scores = find("questionnaire_scores").context("scores table")?;
    let (ci, cp, ct, cd, ctot) = (col(scores, "instrument").unwrap_or(0), col(scores, "participant").unwrap_or(0), col(scores, "timing").unwrap_or(0), col(scores, "day").unwrap_or(0), col(scores, "total").unwrap_or(0));
    let site_key = |r: &Vec<Value>, c: usize| format!("{}|{}|{}", r[1].as_str().unwrap_or(""), r[2].as_str().unwrap_or(""), r[c].as_str().unwrap_or(""));
    let mut outcomes: BTreeMap<String, Outcome> = BTreeMap::new();
    let participants = find("participants").context("participants table")?;
    for r in &participants.rows {
        outcomes.insert(site_key(r, 3), Outcome { arm: r[4].as_str().unwrap_or("").into(), baseline: None, last: None, bond: None, days_done: 0 });
    }
    for r in &scores.rows {
        let key = site_key(r, cp);
        let Some(o) = outcomes.get_mut(&key) else { continue };
        let inst = r[ci].as_str().unwrap_or("");
        let timing = r[ct].as_str().unwrap_or("");
        let total = r[ctot].as_f64();
        let _ = cd;
        if inst == distress && timing == Timing::Baseline.as_str() {
            o.baseline = total;
        }
        if inst == distress && timing == Timing::Final.as_str() {
            o.last = total;
        }
        if Some(inst) == bond.as_deref() && timing == Timing::Final.as_str() {
            o.bond = total;
        }
    }
    let sessions = find("sessions").context("sessions table")?;
    let (sp, sc) = (col(sessions, "participant").unwrap_or(0), col(sessions, "complete").unwrap_or(0));
    for r in &sessions.rows {
        if r[sc] == json!(true) {
            if let Some(o) = outcomes.get_mut(&site_key(r, sp)) {
                o.days_done += 1;
            }
        }
    }
    let reference = protocol.arms.iter().find(|a| a.medium == Medium::Worksheet).unwrap_or(&protocol.arms[0]).name.clone();
    let change_of = |arm: &str| -> Vec<f64> {
        outcomes.values().filter(|o| o.arm == arm).filter_map(|o| Some(o.last? - o.baseline?)).collect()
    };
    let ref_change = change_of(&reference);
    let turns_t = find("turns").context("turns table")?;
    let events_t = find("behaviour_events").context("events table")?;
    let (ta, tf, tr, tfb, te) = (
        col(turns_t, "arm").unwrap_or(0),
        col(turns_t, "validator_flags").unwrap_or(0),
        col(turns_t, "risk").unwrap_or(0),
        col(turns_t, "fallback").unwrap_or(0),
        col(turns_t, "llm_error").unwrap_or(0),
    );
    let (ea, ek) = (col(events_t, "arm").unwrap_or(0), col(events_t, "kind").unwrap_or(0));
    let withdrawn_n = |arm: &str| participants.rows.iter().filter(|r| r[4] == json!(arm) && r[10] == json!("withdrawn")).count();
    let _ = sources;
    for arm in &protocol.arms {
        let os: Vec<&Outcome> = outcomes.values().filter(|o| o.arm == arm.name).collect();
        let ch = change_of(&arm.name);
        let base: Vec<f64> = os.iter().filter(|o| o.last.is_some()).filter_map(|o| o.baseline).collect();
        let fin: Vec<f64> = os.iter().filter(|o| o.baseline.is_some()).filter_map(|o| o.last).collect();
        let (cm, csd) = mean_sd(&ch);
        let g = if arm.name == reference { None } else { hedges_g(&ch, &ref_change) };
        let adherence: Vec<f64> = os.iter().map(|o| o.days_done as f64 / protocol.study.days as f64).collect();
        let bonds: Vec<f64> = os.iter().filter_map(|o| o.bond).collect();
        let arm_turns: Vec<&Vec<Value>> = turns_t.rows.iter().filter(|r| r[ta] == json!(arm.name)).collect();
        let flagged = arm_turns.iter().filter(|r| r[tf].as_str().is_some_and(|f| !f.is_empty())).count();
        let crisis = arm_turns.iter().filter(|r| matches!(r[tr].as_str(), Some("high" | "imminent"))).count();
        let fallbacks = arm_turns.iter().filter(|r| r[tfb] == json!(true)).count();
        let errors = arm_turns.iter().filter(|r| !r[te].is_null()).count();
        let alerts = events_t.rows.iter().filter(|r| r[ea] == json!(arm.name) && r[ek] == json!("staff_alert")).count();
        t.rows.push(vec![
            s(&arm.name), s(arm.medium.as_str()), json!(os.len()), json!(withdrawn_n(&arm.name)), s(&distress), json!(ch.len()),
            round2(mean_sd(&base).0), round2(mean_sd(&fin).0), round2(cm), round2(csd), s(&reference),
            round2(g.map(|x| x.0)), round2(g.map(|x| x.1)), round2(g.map(|x| x.2)), round2(mean_sd(&adherence).0),
            json!(bond), round2(mean_sd(&bonds).0), json!(arm_turns.len()), json!(flagged), json!(crisis), json!(alerts), json!(fallbacks), json!(errors),
        ]);
    }
    Ok((t, outcomes.into_values().collect()))
}

fn dictionary(tables: &[Table]) -> Table {
    let mut d = Table::new(
        "data_dictionary",
        "one column of one exported table",
        vec![("file", "string", "CSV file (the JSONL file of the same name has the same fields)"), ("row", "string", "what one row is"), ("column", "string", "column name"), ("type", "string", "string | integer | number | boolean (TRUE/FALSE); empty = missing"), ("description", "string", "meaning and units")],
    );
    for t in tables {
        for c in &t.columns {
            d.rows.push(vec![s(format!("{}.csv", t.name)), s(t.row), s(c.0), s(c.1), s(c.2)]);
        }
    }
    d
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_are_nearest_rank() {
        let v: Vec<i64> = (1..=20).map(|x| x * 100).collect();
        assert_eq!(quantile(&v, 0.5), Some(1000));
        assert_eq!(quantile(&v, 0.95), Some(1900));
        assert_eq!(quantile(&[7], 0.95), Some(7));
        assert_eq!(quantile(&[], 0.5), None);
    }

    #[test]
    fn csv_quotes_commas_quotes_and_line_breaks() {
        let mut t = Table::new("x", "r", vec![("a", "string", ""), ("b", "integer", ""), ("c", "boolean", "")]);
        t.rows.push(vec![s("he said \"hi\", then\nleft"), json!(3), json!(true)]);
        t.rows.push(vec![Value::Null, json!(-1), json!(false)]);
        assert_eq!(t.to_csv(), "a,b,c\n\"he said \"\"hi\"\", then\nleft\",3,TRUE\n,-1,FALSE\n");
    }

    #[test]
    fn hedges_g_matches_a_hand_computed_value() {
        // a: mean 2, sd 1; b: mean 1, sd 1; n = 3 each → d = 1, J = 1 - 3/15 = 0.8.
        let (g, lo, hi) = hedges_g(&[1.0, 2.0, 3.0], &[0.0, 1.0, 2.0]).unwrap();
        assert!((g - 0.8).abs() < 1e-9, "{g}");
        let se = ((6.0f64 / 9.0) + 0.64 / 12.0).sqrt();
        assert!((lo - (0.8 - 1.96 * se)).abs() < 1e-9 && (hi - (0.8 + 1.96 * se)).abs() < 1e-9);
        assert!(hedges_g(&[1.0], &[1.0, 2.0]).is_none());
    }
}
