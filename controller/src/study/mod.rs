//! The study runner: a study folder holds the protocol, a study database
//! (participants, consent, allocation results, schedule, answers, engine
//! pins, purge log) and the session store its arms write to.
//!
//! # Layout
//! - [`protocol`] — the protocol file and its validation.
//! - [`allocation`] — concealed seeded block randomisation.
//! - [`questionnaire`] — answers from a file or stdin, validated against the scale.
//! - [`worksheet`] — the worksheet arm's printable page.
//! - [`export`] — tidy CSV + JSONL, data dictionary, per-arm summary and plots.
//!
//! # The study folder
//! ```text
//! DIR/study.toml     the protocol (copied at init, read thereafter)
//! DIR/site.toml      the engine config every conversational arm uses
//! DIR/study.db       study database (SQLite, WAL, secure_delete)
//! DIR/sessions.db    the session store (turns, events) the arms write
//! DIR/worksheets/P/  worksheet pages
//! DIR/transcripts/P/ voice/robot turn transcripts (JSONL)
//! ```
//! The allocation key is *not* in the folder (see [`allocation`]).

pub mod allocation;
pub mod export;
pub mod plots;
pub mod protocol;
pub mod questionnaire;
pub mod worksheet;

use crate::config::Config;
use anyhow::{bail, Context};
use protocol::{Arm, Protocol, Timing};
use rusqlite::{params, Connection, OptionalExtension};
use std::path::{Path, PathBuf};

/// Study database format this build writes (`PRAGMA user_version`).
pub const STUDY_FORMAT: i64 = 1;

const SCHEMA: &str = r#"
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE participants (
    id              TEXT PRIMARY KEY,
    stratum         TEXT NOT NULL,
    slot            INTEGER NOT NULL,
    arm             TEXT NOT NULL,
    enrolled_at_ms  INTEGER NOT NULL,
    consent_version TEXT NOT NULL,
    consent_at_ms   INTEGER NOT NULL,
    status          TEXT NOT NULL CHECK (status IN ('active','withdrawn')),
    withdrawn_at_ms INTEGER,
    UNIQUE (stratum, slot)
);
CREATE TABLE study_sessions (
    id             INTEGER PRIMARY KEY,
    participant    TEXT NOT NULL REFERENCES participants(id),
    day            INTEGER NOT NULL,
    arm            TEXT NOT NULL,
    exercise       TEXT NOT NULL,
    started_at_ms  INTEGER NOT NULL,
    ended_at_ms    INTEGER NOT NULL,
    store_session  INTEGER,
    fingerprint    TEXT,
    turns          INTEGER NOT NULL DEFAULT 0,
    head           TEXT,
    UNIQUE (participant, day)
);
CREATE TABLE answers (
    id          INTEGER PRIMARY KEY,
    participant TEXT NOT NULL REFERENCES participants(id),
    day         INTEGER NOT NULL,
    timing      TEXT NOT NULL,
    instrument  TEXT NOT NULL,
    item        INTEGER NOT NULL,
    value       INTEGER NOT NULL,
    at_ms       INTEGER NOT NULL,
    UNIQUE (participant, day, timing, instrument, item)
);
CREATE TABLE engine_pins (
    engine      TEXT NOT NULL,
    backend     TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    canonical   TEXT NOT NULL,
    PRIMARY KEY (engine, backend)
);
CREATE TABLE purge_log (
    id          INTEGER PRIMARY KEY,
    at_ms       INTEGER NOT NULL,
    participant TEXT NOT NULL,
    counts      TEXT NOT NULL
);
CREATE TABLE exports (path TEXT PRIMARY KEY, at_ms INTEGER NOT NULL);
"#;

/// Writes a file atomically: a temp file in the same folder, fsync, rename.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    use std::io::Write;
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let res = (|| -> std::io::Result<()> {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if let Err(e) = res {
        let _ = std::fs::remove_file(&tmp);
        return Err(anyhow::Error::new(e).context(format!("writing {}", path.display())));
    }
    Ok(())
}

/// Checks a participant id: pseudonymous, 1-64 safe characters.
pub fn check_participant_id(p: &str) -> anyhow::Result<()> {
    let ok = !p.is_empty() && p.len() <= 64 && p.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if !ok {
        bail!("--participant must be a pseudonymous id of 1-64 letters, digits, '-', '_' or '.', got {p:?}");
    }
    Ok(())
}

/// An enrolled participant.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Participant {
    pub id: String,
    pub stratum: String,
    pub slot: u32,
    pub arm: String,
    pub enrolled_at_ms: i64,
    pub consent_version: String,
    pub consent_at_ms: i64,
    pub status: String,
    pub withdrawn_at_ms: Option<i64>,
}

/// One completed study day.
#[derive(Debug, Clone, serde::Serialize)]
pub struct DayRecord {
    pub participant: String,
    pub day: u32,
    pub arm: String,
    pub exercise: String,
    pub started_at_ms: i64,
    pub ended_at_ms: i64,
    pub store_session: Option<i64>,
    pub fingerprint: Option<String>,
    pub turns: u32,
    pub head: Option<String>,
}

/// One stored answer.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Answer {
    pub participant: String,
    pub day: u32,
    pub timing: String,
    pub instrument: String,
    pub item: u32,
    pub value: i64,
}

/// An open study folder.
pub struct Study {
    /// The folder.
    pub dir: PathBuf,
    /// The protocol, validated.
    pub protocol: Protocol,
    /// The study database.
    db: Connection,
}

impl Study {
    /// Path of the protocol copy.
    pub fn protocol_path(dir: &Path) -> PathBuf {
        dir.join("study.toml")
    }
    /// Path of the site config the arms use.
    pub fn site_path(&self) -> PathBuf {
        self.dir.join("site.toml")
    }
    /// Path of the session store.
    pub fn store_path(&self) -> PathBuf {
        self.dir.join("sessions.db")
    }
    fn db_path(dir: &Path) -> PathBuf {
        dir.join("study.db")
    }

    fn open_db(path: &Path) -> anyhow::Result<Connection> {
        let c = Connection::open(path).with_context(|| format!("opening study database {}", path.display()))?;
        c.busy_timeout(std::time::Duration::from_secs(5))?;
        c.pragma_update(None, "journal_mode", "WAL")?;
        c.pragma_update(None, "synchronous", "FULL")?;
        c.pragma_update(None, "foreign_keys", "ON")?;
        c.pragma_update(None, "secure_delete", "ON")?;
        Ok(c)
    }

    /// Creates a study folder from a protocol text and a site config.
    /// Returns the study and the path of the allocation key written.
    pub fn init(dir: &Path, protocol_text: &str, site: Option<&Path>) -> anyhow::Result<(Study, PathBuf)> {
        let protocol = Protocol::load_str(protocol_text).map_err(|e| anyhow::anyhow!("protocol: {e}"))?;
        if Self::db_path(dir).exists() || Self::protocol_path(dir).exists() {
            bail!("{} already holds a study; use a new folder", dir.display());
        }
        let mut cfg = Config::load(site)?;
        cfg.crisis.resource_name = protocol.crisis.resource_name.clone();
        cfg.crisis.resource_contact = protocol.crisis.resource_contact.clone();
        cfg.store.path = PathBuf::from("sessions.db");
        cfg.validate().map_err(|e| anyhow::anyhow!("site config: {e}"))?;
        // Parity is checked before anything is written.
        check_parity(&protocol, &cfg, dir, None)?;

        std::fs::create_dir_all(dir).with_context(|| format!("cannot create study folder {}", dir.display()))?;
        let secret = allocation::new_secret().context("reading /dev/urandom for the allocation seed")?;
        let key_id = allocation::key_id(&secret);
        let key_path = allocation::key_path(&protocol.study.id, &protocol.study.site, &protocol.study.robot, &key_id);
        if key_path.starts_with(dir) || dir.canonicalize().ok().zip(key_path.parent().and_then(|p| p.canonicalize().ok())).is_some_and(|(d, k)| k.starts_with(d)) {
            bail!("the allocation key folder {} is inside the study folder; set ATTUNE_STUDY_KEYS elsewhere", key_path.display());
        }
        allocation::write_key(&key_path, &secret).with_context(|| format!("writing the allocation key {}", key_path.display()))?;

        let site_text = toml::to_string_pretty(&cfg).context("serialising the site config")?;
        write_atomic(&dir.join("site.toml"), site_text.as_bytes())?;
        // The database last: its presence marks a finished init.
        let db_tmp = dir.join(".study.db.init");
        let _ = std::fs::remove_file(&db_tmp);
        {
            let c = Connection::open(&db_tmp).context("creating the study database")?;
            c.execute_batch(SCHEMA)?;
            c.pragma_update(None, "user_version", STUDY_FORMAT)?;
            let sha = hex::encode(sha2::Digest::finalize(sha2::Digest::chain_update(<sha2::Sha256 as sha2::Digest>::new(), protocol_text.as_bytes())));
            for (k, v) in [
                ("study", protocol.study.id.as_str()),
                ("site", protocol.study.site.as_str()),
                ("robot", protocol.study.robot.as_str()),
                ("key_id", key_id.as_str()),
                ("protocol_sha256", sha.as_str()),
                ("created_at_ms", &crate::store::now_ms().to_string()),
            ] {
                c.execute("INSERT INTO meta (key, value) VALUES (?1, ?2)", params![k, v])?;
            }
        }
        write_atomic(&Self::protocol_path(dir), protocol_text.as_bytes())?;
        std::fs::rename(&db_tmp, Self::db_path(dir)).context("finishing the study database")?;
        let study = Self::open(dir)?;
        // Pin each engine group's fingerprint for the configured backend.
        check_parity(&study.protocol, &cfg, dir, Some(&study))?;
        Ok((study, key_path))
    }

    /// Opens an existing study folder (refusing one from a newer attune).
    pub fn open(dir: &Path) -> anyhow::Result<Study> {
        let dbp = Self::db_path(dir);
        if !dbp.exists() {
            bail!("{} is not a study folder (no study.db); create one with `attune study init --study {}`", dir.display(), dir.display());
        }
        let db = Self::open_db(&dbp)?;
        let v: i64 = db.pragma_query_value(None, "user_version", |r| r.get(0))?;
        if v > STUDY_FORMAT {
            bail!("study folder {} was written by a newer attune (study format {v}, this build understands {STUDY_FORMAT}); upgrade attune", dir.display());
        }
        let text = std::fs::read_to_string(Self::protocol_path(dir)).with_context(|| format!("reading {}", Self::protocol_path(dir).display()))?;
        let protocol = Protocol::load_str(&text).map_err(|e| anyhow::anyhow!("{}: {e}", Self::protocol_path(dir).display()))?;
        Ok(Study { dir: dir.to_path_buf(), protocol, db })
    }

    /// A meta value.
    pub fn meta(&self, key: &str) -> anyhow::Result<String> {
        self.db
            .query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
            .optional()?
            .with_context(|| format!("study database lacks meta `{key}`"))
    }

    /// The site config (engine settings) with the store inside the folder.
    pub fn site_config(&self) -> anyhow::Result<Config> {
        let mut cfg = Config::load(Some(&self.site_path()))?;
        cfg.store.path = self.store_path();
        Ok(cfg)
    }

    /// Enrols a participant: records consent and reveals the arm of the next slot.
    pub fn enroll(&mut self, id: &str, stratum: Option<&str>) -> anyhow::Result<Participant> {
        check_participant_id(id)?;
        let p = &self.protocol;
        let stratum = match (stratum, p.allocation.strata.is_empty()) {
            (None, true) => "all".to_string(),
            (Some(s), false) if p.allocation.strata.iter().any(|x| x == s) => s.to_string(),
            (Some(s), true) => bail!("--stratum {s:?}: this protocol is not stratified"),
            (None, false) => bail!("this protocol is stratified: pass --stratum, one of {}", p.allocation.strata.join(", ")),
            (Some(s), false) => bail!("--stratum {s:?} is not one of {}", p.allocation.strata.join(", ")),
        };
        if self.participant(id)?.is_some() {
            bail!("participant {id:?} is already enrolled in this study; participant ids must be unique");
        }
        let key_id = self.meta("key_id")?;
        let key_path = allocation::key_path(&p.study.id, &p.study.site, &p.study.robot, &key_id);
        let secret = allocation::read_key(&key_path, &key_id).map_err(|e| anyhow::anyhow!(e))?;
        let tx = self.db.transaction()?;
        let used: i64 = tx.query_row("SELECT COUNT(*) FROM participants WHERE stratum = ?1", [&stratum], |r| r.get(0))?;
        if used as u32 >= p.allocation.table_size {
            bail!(
                "the allocation table for stratum {stratum:?} is full ({} slots, allocation.table_size); enrolling more needs a protocol amendment",
                p.allocation.table_size
            );
        }
        let slot = used as u32;
        let arm_idx = allocation::arm_for_slot(&secret, &p.study.id, &stratum, slot, p.allocation.block_size, p.arms.len());
        let arm = p.arms[arm_idx].name.clone();
        let now = crate::store::now_ms();
        tx.execute(
            "INSERT INTO participants (id, stratum, slot, arm, enrolled_at_ms, consent_version, consent_at_ms, status) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?5, 'active')",
            params![id, stratum, slot, arm, now, p.study.consent_version],
        )?;
        tx.commit()?;
        self.participant(id)?.context("participant vanished after enrolment")
    }

    /// A participant, if enrolled.
    pub fn participant(&self, id: &str) -> anyhow::Result<Option<Participant>> {
        Ok(self
            .db
            .query_row(
                "SELECT id, stratum, slot, arm, enrolled_at_ms, consent_version, consent_at_ms, status, withdrawn_at_ms FROM participants WHERE id = ?1",
                [id],
                row_participant,
            )
            .optional()?)
    }

    /// All participants in enrolment order.
    pub fn participants(&self) -> anyhow::Result<Vec<Participant>> {
        let mut st = self.db.prepare(
            "SELECT id, stratum, slot, arm, enrolled_at_ms, consent_version, consent_at_ms, status, withdrawn_at_ms FROM participants ORDER BY enrolled_at_ms, rowid",
        )?;
        let v = st.query_map([], row_participant)?.collect::<Result<Vec<_>, _>>()?;
        Ok(v)
    }

    /// Completed days, all participants (or one).
    pub fn days(&self, participant: Option<&str>) -> anyhow::Result<Vec<DayRecord>> {
        let mut st = self.db.prepare(
            "SELECT participant, day, arm, exercise, started_at_ms, ended_at_ms, store_session, fingerprint, turns, head FROM study_sessions
             WHERE ?1 IS NULL OR participant = ?1 ORDER BY participant, day",
        )?;
        let v = st
            .query_map([participant], |r| {
                Ok(DayRecord {
                    participant: r.get(0)?,
                    day: r.get(1)?,
                    arm: r.get(2)?,
                    exercise: r.get(3)?,
                    started_at_ms: r.get(4)?,
                    ended_at_ms: r.get(5)?,
                    store_session: r.get(6)?,
                    fingerprint: r.get(7)?,
                    turns: r.get(8)?,
                    head: r.get(9)?,
                })
            })?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(v)
    }

    /// All answers.
    pub fn answers(&self) -> anyhow::Result<Vec<Answer>> {
        let mut st = self.db.prepare("SELECT participant, day, timing, instrument, item, value FROM answers ORDER BY participant, day, id")?;
        let v = st
            .query_map([], |r| Ok(Answer { participant: r.get(0)?, day: r.get(1)?, timing: r.get(2)?, instrument: r.get(3)?, item: r.get(4)?, value: r.get(5)? }))?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(v)
    }

    /// The day `participant` may run next, or an error saying why `day` cannot run.
    pub fn check_day(&self, participant: &Participant, day: u32) -> anyhow::Result<()> {
        let days = self.protocol.study.days;
        if participant.status != "active" {
            bail!("participant {:?} has withdrawn; no further sessions", participant.id);
        }
        if day == 0 || day > days {
            bail!("--day {day}: this study runs days 1 to {days}");
        }
        let done = self.days(Some(&participant.id))?;
        if done.iter().any(|d| d.day == day) {
            bail!("participant {:?} has already completed day {day}; each day runs once", participant.id);
        }
        let next = done.iter().map(|d| d.day).max().unwrap_or(0) + 1;
        if day != next {
            bail!("participant {:?} is due for day {next}, not day {day}: days run in order", participant.id);
        }
        Ok(())
    }

    /// Records a completed day and its answers in one transaction.
    pub fn record_day(&mut self, rec: &DayRecord, answers: &[(Timing, String, Vec<i64>)]) -> anyhow::Result<()> {
        let tx = self.db.transaction()?;
        tx.execute(
            "INSERT INTO study_sessions (participant, day, arm, exercise, started_at_ms, ended_at_ms, store_session, fingerprint, turns, head)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
            params![rec.participant, rec.day, rec.arm, rec.exercise, rec.started_at_ms, rec.ended_at_ms, rec.store_session, rec.fingerprint, rec.turns, rec.head],
        )?;
        let now = crate::store::now_ms();
        for (timing, instrument, values) in answers {
            for (i, v) in values.iter().enumerate() {
                tx.execute(
                    "INSERT INTO answers (participant, day, timing, instrument, item, value, at_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                    params![rec.participant, rec.day, timing.as_str(), instrument, (i + 1) as i64, v, now],
                )?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// The pinned fingerprint of an engine group for a backend.
    pub fn pin(&self, engine: &str, backend: &str) -> anyhow::Result<Option<(String, serde_json::Value)>> {
        let r: Option<(String, String)> = self
            .db
            .query_row("SELECT fingerprint, canonical FROM engine_pins WHERE engine = ?1 AND backend = ?2", params![engine, backend], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?;
        Ok(match r {
            Some((f, c)) => Some((f, serde_json::from_str(&c)?)),
            None => None,
        })
    }

    fn set_pin(&self, engine: &str, backend: &str, fp: &str, canonical: &serde_json::Value) -> anyhow::Result<()> {
        self.db.execute(
            "INSERT OR IGNORE INTO engine_pins (engine, backend, fingerprint, canonical) VALUES (?1, ?2, ?3, ?4)",
            params![engine, backend, fp, canonical.to_string()],
        )?;
        Ok(())
    }

    /// All pins (engine, backend, fingerprint).
    pub fn pins(&self) -> anyhow::Result<Vec<(String, String, String)>> {
        let mut st = self.db.prepare("SELECT engine, backend, fingerprint FROM engine_pins ORDER BY engine, backend")?;
        let v = st.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?.collect::<Result<Vec<_>, _>>()?;
        Ok(v)
    }

    /// Export folders written so far (purge rewrites them).
    pub fn exports(&self) -> anyhow::Result<Vec<PathBuf>> {
        let mut st = self.db.prepare("SELECT path FROM exports ORDER BY at_ms")?;
        let v = st.query_map([], |r| r.get::<_, String>(0))?.collect::<Result<Vec<_>, _>>()?;
        Ok(v.into_iter().map(PathBuf::from).collect())
    }

    /// Remembers an export folder.
    pub fn note_export(&self, path: &Path) -> anyhow::Result<()> {
        let abs = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
        self.db.execute(
            "INSERT INTO exports (path, at_ms) VALUES (?1, ?2) ON CONFLICT(path) DO UPDATE SET at_ms = excluded.at_ms",
            params![abs.to_string_lossy(), crate::store::now_ms()],
        )?;
        Ok(())
    }

    /// Purge log entries: (at_ms, participant, counts JSON).
    pub fn purges(&self) -> anyhow::Result<Vec<(i64, String, String)>> {
        let mut st = self.db.prepare("SELECT at_ms, participant, counts FROM purge_log ORDER BY id")?;
        let v = st.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?.collect::<Result<Vec<_>, _>>()?;
        Ok(v)
    }

    /// Withdraws a participant; with `purge`, deletes everything they said
    /// and answered, in both databases and in the folder's files, so the
    /// bytes are gone from disk, and logs that a purge happened (counts only).
    pub fn withdraw(&mut self, id: &str, purge: bool) -> anyhow::Result<serde_json::Value> {
        let Some(p) = self.participant(id)? else {
            bail!("participant {id:?} is not enrolled in this study");
        };
        let now = crate::store::now_ms();
        let mut counts = serde_json::Map::new();
        if purge {
            // Session store first: if it fails, nothing in the study database changed.
            if self.store_path().exists() {
                let mut store = crate::store::Store::open(&self.store_path())?;
                let (s, t, e) = store.purge_participant(id)?;
                counts.insert("store_sessions".into(), s.into());
                counts.insert("store_turns".into(), t.into());
                counts.insert("store_events".into(), e.into());
            }
            let mut files = 0usize;
            for sub in ["worksheets", "transcripts", "audio"] {
                let d = self.dir.join(sub).join(id);
                if d.exists() {
                    files += shred_dir(&d).with_context(|| format!("removing {}", d.display()))?;
                }
            }
            counts.insert("files".into(), files.into());
        }
        let tx = self.db.transaction()?;
        if purge {
            let a = tx.execute("DELETE FROM answers WHERE participant = ?1", [id])?;
            let s = tx.execute("DELETE FROM study_sessions WHERE participant = ?1", [id])?;
            counts.insert("answers".into(), a.into());
            counts.insert("days".into(), s.into());
            tx.execute("INSERT INTO purge_log (at_ms, participant, counts) VALUES (?1, ?2, ?3)", params![now, id, serde_json::Value::Object(counts.clone()).to_string()])?;
        }
        if p.status == "active" {
            tx.execute("UPDATE participants SET status = 'withdrawn', withdrawn_at_ms = ?2 WHERE id = ?1", params![id, now])?;
        }
        tx.commit()?;
        if purge {
            self.db.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
            self.db.execute_batch("VACUUM")?;
            self.db.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
        }
        Ok(serde_json::json!({"participant": id, "withdrawn": true, "purged": purge, "counts": counts}))
    }
}

fn row_participant(r: &rusqlite::Row<'_>) -> rusqlite::Result<Participant> {
    Ok(Participant {
        id: r.get(0)?,
        stratum: r.get(1)?,
        slot: r.get(2)?,
        arm: r.get(3)?,
        enrolled_at_ms: r.get(4)?,
        consent_version: r.get(5)?,
        consent_at_ms: r.get(6)?,
        status: r.get(7)?,
        withdrawn_at_ms: r.get(8)?,
    })
}

/// Overwrites every file under `dir` with zeros, fsyncs, deletes it; returns files removed.
fn shred_dir(dir: &Path) -> std::io::Result<usize> {
    use std::io::Write;
    let mut n = 0;
    for e in std::fs::read_dir(dir)? {
        let e = e?;
        let p = e.path();
        if e.file_type()?.is_dir() {
            n += shred_dir(&p)?;
        } else {
            let len = e.metadata()?.len() as usize;
            if let Ok(mut f) = std::fs::OpenOptions::new().write(true).open(&p) {
                f.write_all(&vec![0u8; len])?;
                f.sync_all()?;
            }
            std::fs::remove_file(&p)?;
            n += 1;
        }
    }
    std::fs::remove_dir(dir)?;
    Ok(n)
}

/// The engine config an arm runs with: the study's site config, the arm's
/// policy and the backend override.
pub fn arm_config(base: &Config, arm: &Arm, llm: Option<crate::engine_args::LlmChoice>) -> Config {
    use attune_dialogue::config::{LlmMode, PolicyKind};
    let mut cfg = base.clone();
    if let Some(p) = arm.policy {
        cfg.dialogue.policy = match p {
            protocol::ArmPolicy::Attuned => PolicyKind::Attuned,
            protocol::ArmPolicy::Assistant => PolicyKind::Assistant,
        };
    }
    if let Some(l) = llm {
        cfg.llm.mode = match l {
            crate::engine_args::LlmChoice::Local => LlmMode::Local,
            crate::engine_args::LlmChoice::Openai => LlmMode::Openai,
            crate::engine_args::LlmChoice::Reflect => LlmMode::Reflect,
        };
    }
    cfg
}

/// Paths (dotted) where two canonical engine descriptions differ.
pub fn diff_parts(a: &serde_json::Value, b: &serde_json::Value) -> Vec<String> {
    fn walk(a: &serde_json::Value, b: &serde_json::Value, path: String, out: &mut Vec<String>) {
        match (a, b) {
            (serde_json::Value::Object(x), serde_json::Value::Object(y)) => {
                let keys: std::collections::BTreeSet<&String> = x.keys().chain(y.keys()).collect();
                for k in keys {
                    let p = if path.is_empty() { k.clone() } else { format!("{path}.{k}") };
                    match (x.get(k), y.get(k)) {
                        (Some(u), Some(v)) => walk(u, v, p, out),
                        _ => out.push(p),
                    }
                }
            }
            _ if a != b => out.push(if path.is_empty() { "(whole)".into() } else { path }),
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(a, b, String::new(), &mut out);
    out
}

/// Arm parity: every arm of an engine group must have the same engine
/// fingerprint under `cfg` (+ `llm` override); with `study`, the group's
/// fingerprint must also equal the one pinned for this backend when it was
/// first used (pinning it now if it is new), so an edited site config or a
/// rebuilt engine is caught mid-study. Returns fingerprint per engine group.
pub fn check_parity_with(
    protocol: &Protocol,
    cfg: &Config,
    llm: Option<crate::engine_args::LlmChoice>,
    study: Option<&Study>,
) -> anyhow::Result<std::collections::BTreeMap<String, String>> {
    use attune_dialogue::fingerprint::{canonical, fingerprint};
    let mut groups: std::collections::BTreeMap<String, (String, String, serde_json::Value)> = Default::default();
    for arm in protocol.arms.iter().filter(|a| a.medium.converses()) {
        let c = arm_config(cfg, arm, llm);
        let ec = crate::session::engine_config(&c);
        let fp = fingerprint(&ec);
        let can = canonical(&ec);
        match groups.get(&arm.engine) {
            None => {
                groups.insert(arm.engine.clone(), (arm.name.clone(), fp, can));
            }
            Some((first, ffp, fcan)) if *ffp != fp => {
                bail!(
                    "arm parity: arms {first:?} and {:?} share engine {:?} but their engine fingerprints differ ({ffp} vs {fp}); differing parts: {}",
                    arm.name,
                    arm.engine,
                    diff_parts(fcan, &can).join(", ")
                );
            }
            Some(_) => {}
        }
    }
    if let Some(study) = study {
        let backend = arm_config(cfg, &protocol.arms[0], llm).llm.mode.as_str().to_string();
        for (engine, (_, fp, can)) in &groups {
            match study.pin(engine, &backend)? {
                Some((pfp, pcan)) if pfp != *fp => bail!(
                    "arm parity: engine {engine:?} ({backend}) now has fingerprint {fp}, but this study's sessions ran {pfp}; differing parts: {}. Restore the study's site.toml / attune build, or start a new study",
                    diff_parts(&pcan, can).join(", ")
                ),
                Some(_) => {}
                None => study.set_pin(engine, &backend, fp, can)?,
            }
        }
    }
    Ok(groups.into_iter().map(|(k, (_, fp, _))| (k, fp)).collect())
}

fn check_parity(protocol: &Protocol, cfg: &Config, _dir: &Path, study: Option<&Study>) -> anyhow::Result<()> {
    check_parity_with(protocol, cfg, None, study).map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diff_parts_names_nested_differences() {
        let a = serde_json::json!({"policy": "attuned", "validator": {"max_words": 60, "x": 1}, "same": [1]});
        let b = serde_json::json!({"policy": "assistant", "validator": {"max_words": 61, "x": 1}, "same": [1]});
        assert_eq!(diff_parts(&a, &b), vec!["policy".to_string(), "validator.max_words".to_string()]);
    }

    #[test]
    fn atomic_write_leaves_no_temp_file_behind() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("x.txt");
        write_atomic(&p, b"one").unwrap();
        write_atomic(&p, b"two").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"two");
        assert_eq!(std::fs::read_dir(d.path()).unwrap().count(), 1);
    }
}
