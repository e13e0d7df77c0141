//! Session store: one SQLite file in WAL mode holding sessions, turns and
//! events. Schema migrations run on open, from version 1.
//!
//! Design: a turn row is inserted (status `pending`) as soon as the
//! participant's words are analysed, each reply sentence is appended *before*
//! it is shown or spoken, and the row is completed before the reply is
//! returned. `synchronous = FULL` makes every commit durable, so `kill -9` (or
//! a power cut) at any moment loses no completed turn and no spoken word.

use rusqlite::{params, Connection, OptionalExtension};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

/// Store errors, naming the file.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("session store {path}: {source}")]
    Sqlite {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
    #[error("session store {path}: cannot create its folder: {source}")]
    Folder {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("session store {path}: schema version {found} is newer than this attune understands ({known}); upgrade attune")]
    TooNew { path: PathBuf, found: i64, known: i64 },
    #[error("session store {path}: this SQLite file is not an attune store (it holds tables {tables}); give another --db or store.path")]
    Foreign { path: PathBuf, tables: String },
    #[error("session store {path:?}: an in-memory store keeps nothing after exit; open it with Store::open_ephemeral (`--ephemeral`)")]
    Ephemeral { path: PathBuf },
}

/// Migrations, in order; index + 1 is the schema version they produce.
const MIGRATIONS: &[&str] = &[
    // v1: sessions, turns, events.
    r#"
    CREATE TABLE sessions (
        id            INTEGER PRIMARY KEY,
        participant   TEXT    NOT NULL,
        day           INTEGER NOT NULL,
        arm           TEXT    NOT NULL,
        policy        TEXT    NOT NULL,
        backend       TEXT    NOT NULL,
        fingerprint   TEXT    NOT NULL,
        started_at_ms INTEGER NOT NULL,
        ended_at_ms   INTEGER,
        summary       TEXT,
        crisis_active INTEGER NOT NULL DEFAULT 0
    );
    CREATE INDEX sessions_participant ON sessions(participant, id);
    CREATE TABLE turns (
        id               INTEGER PRIMARY KEY,
        session_id       INTEGER NOT NULL REFERENCES sessions(id),
        idx              INTEGER NOT NULL,
        created_at_ms    INTEGER NOT NULL,
        status           TEXT    NOT NULL CHECK (status IN ('pending','complete','interrupted')),
        participant_text TEXT    NOT NULL,
        input_truncated  INTEGER NOT NULL DEFAULT 0,
        analysis_json    TEXT    NOT NULL,
        risk             TEXT    NOT NULL,
        crisis_active    INTEGER NOT NULL,
        intent           TEXT    NOT NULL,
        reply            TEXT    NOT NULL DEFAULT '',
        spoken_chars     INTEGER,
        strategies_json  TEXT,
        validator_json   TEXT,
        backend          TEXT    NOT NULL,
        source           TEXT,
        fallback         INTEGER NOT NULL DEFAULT 0,
        llm_error        TEXT,
        first_token_ms   INTEGER,
        total_ms         INTEGER,
        llm_ms           INTEGER,
        fingerprint      TEXT    NOT NULL,
        UNIQUE (session_id, idx)
    );
    CREATE TABLE events (
        id         INTEGER PRIMARY KEY,
        session_id INTEGER REFERENCES sessions(id),
        turn_idx   INTEGER,
        at_ms      INTEGER NOT NULL,
        kind       TEXT    NOT NULL,
        payload    TEXT    NOT NULL DEFAULT '{}'
    );
    CREATE INDEX events_kind ON events(kind, id);
    "#,
    // v2: which process holds a session, so a crashed one can be told from a
    // live one (see `Store::orphaned_sessions`).
    r#"
    ALTER TABLE sessions ADD COLUMN owner_pid INTEGER;
    ALTER TABLE sessions ADD COLUMN owner_start TEXT;
    "#,
    // v3: the MQTT bus's outbox and alert acknowledgements (issue 12).
    crate::bus::outbox::MIGRATION,
];

/// How long one statement waits for another process's write lock.
const BUSY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// Further tries of a write that still found the database busy after
/// [`BUSY_TIMEOUT`]; with the backoff below that is about 25 s in all.
const BUSY_RETRIES: u32 = 4;

/// Whether `path` names an SQLite store that lives only in memory.
pub fn is_ephemeral_path(path: &Path) -> bool {
    let s = path.to_string_lossy();
    s.is_empty() || s == ":memory:" || s.starts_with("file::memory:") || (s.starts_with("file:") && s.contains("mode=memory"))
}

/// Whether an SQLite error means "another connection holds the lock".
fn is_busy(e: &rusqlite::Error) -> bool {
    matches!(e.sqlite_error_code(), Some(rusqlite::ErrorCode::DatabaseBusy) | Some(rusqlite::ErrorCode::DatabaseLocked))
}

/// Runs `f`, retrying while the database is busy (bounded).
fn retry_busy<T>(mut f: impl FnMut() -> rusqlite::Result<T>) -> rusqlite::Result<T> {
    let mut pause = std::time::Duration::from_millis(50);
    let mut tries = 0;
    loop {
        match f() {
            Err(e) if is_busy(&e) && tries < BUSY_RETRIES => {
                tries += 1;
                tracing::warn!("session store busy ({e}); retry {tries} of {BUSY_RETRIES}");
                std::thread::sleep(pause);
                pause = (pause * 4).min(std::time::Duration::from_secs(2));
            }
            r => return r,
        }
    }
}

/// Identity of a running process that survives pid reuse: the kernel's boot
/// id and the process start time (clock ticks since boot). `None` where
/// `/proc` cannot tell (then a session is never assumed dead).
pub fn process_identity(pid: u32) -> Option<String> {
    let boot = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").ok()?;
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Field 22 (starttime); the command name (field 2) may hold spaces and
    // parentheses, so count from the last ')'.
    let after = &stat[stat.rfind(')')? + 1..];
    let start = after.split_whitespace().nth(19)?;
    Some(format!("{}:{start}", boot.trim()))
}

/// A session whose process is gone without closing it.
#[derive(Debug, Clone)]
pub struct Orphan {
    /// Session row id.
    pub id: i64,
    /// Study day.
    pub day: u32,
    /// Its turns, in order: (participant text, analysis JSON, risk).
    pub turns: Vec<(String, String, String)>,
}

/// The schema version this build writes.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

/// A new session's identity.
#[derive(Debug, Clone)]
pub struct NewSession<'a> {
    pub participant: &'a str,
    pub day: u32,
    pub arm: &'a str,
    pub policy: &'a str,
    pub backend: &'a str,
    pub fingerprint: &'a str,
}

/// The participant side of a turn, written before any reply text.
#[derive(Debug, Clone)]
pub struct TurnStart<'a> {
    pub idx: u64,
    pub participant_text: &'a str,
    pub input_truncated: bool,
    pub analysis_json: &'a str,
    pub risk: &'a str,
    pub crisis_active: bool,
    pub intent: &'a str,
    pub backend: &'a str,
    pub fingerprint: &'a str,
}

/// The reply side of a turn, written when it is complete.
#[derive(Debug, Clone)]
pub struct TurnFinish<'a> {
    pub reply: &'a str,
    pub strategies_json: &'a str,
    pub validator_json: &'a str,
    pub source: &'a str,
    pub fallback: bool,
    pub llm_error: Option<&'a str>,
    pub first_token_ms: u64,
    pub total_ms: u64,
    pub llm_ms: u64,
}

/// An open session store.
pub struct Store {
    /// The SQLite connection (one writer: the session runner).
    conn: Connection,
    /// File path, for error messages.
    path: PathBuf,
}

impl Store {
    /// Opens (creating if needed) and migrates the store at `path`. An
    /// in-memory path is refused (see [`Store::open_ephemeral`]).
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        if is_ephemeral_path(path) {
            return Err(StoreError::Ephemeral { path: path.to_path_buf() });
        }
        Self::open_at(path)
    }

    /// An in-memory store: nothing survives the process. Only for runs that
    /// asked for it (`--ephemeral`).
    pub fn open_ephemeral() -> Result<Store, StoreError> {
        Self::open_at(Path::new(":memory:"))
    }

    fn open_at(path: &Path) -> Result<Store, StoreError> {
        if let Some(dir) = path.parent() {
            if !dir.as_os_str().is_empty() {
                std::fs::create_dir_all(dir).map_err(|source| StoreError::Folder { path: path.to_path_buf(), source })?;
            }
        }
        let p = path.to_path_buf();
        let wrap = |source| StoreError::Sqlite { path: p.clone(), source };
        let conn = Connection::open(path).map_err(wrap)?;
        conn.busy_timeout(BUSY_TIMEOUT).map_err(wrap)?;
        // Design: switching a new file to WAL takes an exclusive lock that
        // does not always wait on the busy handler; retry it like a write.
        retry_busy(|| conn.pragma_update(None, "journal_mode", "WAL")).map_err(wrap)?;
        conn.pragma_update(None, "synchronous", "FULL").map_err(wrap)?;
        conn.pragma_update(None, "foreign_keys", "ON").map_err(wrap)?;
        let mut store = Store { conn, path: p };
        store.migrate()?;
        Ok(store)
    }

    fn err(&self, source: rusqlite::Error) -> StoreError {
        StoreError::Sqlite { path: self.path.clone(), source }
    }

    /// Runs `f` inside `BEGIN IMMEDIATE ... COMMIT` (rolled back on error).
    /// The write lock is taken first, waiting on `busy_timeout` and then a
    /// few bounded retries, so what `f` reads cannot change before it writes.
    fn immediate<T>(&self, f: impl FnOnce(&Connection) -> Result<T, StoreError>) -> Result<T, StoreError> {
        retry_busy(|| self.conn.execute_batch("BEGIN IMMEDIATE")).map_err(|e| self.err(e))?;
        let r = f(&self.conn).and_then(|v| retry_busy(|| self.conn.execute_batch("COMMIT")).map(|()| v).map_err(|e| self.err(e)));
        if r.is_err() {
            let _ = self.conn.execute_batch("ROLLBACK");
        }
        r
    }

    fn migrate(&mut self) -> Result<(), StoreError> {
        let path = self.path.clone();
        let wrap = |source| StoreError::Sqlite { path: path.clone(), source };
        // Design: the version check and every migration run inside one
        // IMMEDIATE transaction, which takes the write lock first; a second
        // process opening the same new file waits (busy_timeout) and then
        // sees the migrated version instead of creating the tables again.
        self.immediate(|conn| {
            let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0)).map_err(wrap)?;
            if version > SCHEMA_VERSION {
                return Err(StoreError::TooNew { path: path.clone(), found: version, known: SCHEMA_VERSION });
            }
            if version == 0 {
                let mut stmt = conn
                    .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")
                    .map_err(wrap)?;
                let tables: Vec<String> = stmt.query_map([], |r| r.get(0)).map_err(wrap)?.collect::<Result<_, _>>().map_err(wrap)?;
                if !tables.is_empty() {
                    return Err(StoreError::Foreign { path: path.clone(), tables: tables.join(", ") });
                }
            }
            for (i, sql) in MIGRATIONS.iter().enumerate().skip(version as usize) {
                conn.execute_batch(sql).map_err(wrap)?;
                conn.pragma_update(None, "user_version", (i + 1) as i64).map_err(wrap)?;
            }
            Ok(())
        })
    }

    /// Runs a write, waiting out other processes' locks (bounded).
    fn write<T>(&self, f: impl FnMut() -> rusqlite::Result<T>) -> Result<T, StoreError> {
        retry_busy(f).map_err(|e| self.err(e))
    }

    /// Sessions not ended whose owning process is gone (crashed, killed).
    /// A session held by a live process, even another one on this file, is
    /// never listed.
    pub fn orphaned_sessions(&self) -> Result<Vec<Orphan>, StoreError> {
        let me = std::process::id();
        let open: Vec<(i64, u32, Option<i64>, Option<String>)> = {
            let mut stmt = self
                .conn
                .prepare("SELECT id, day, owner_pid, owner_start FROM sessions WHERE ended_at_ms IS NULL ORDER BY id")
                .map_err(|e| self.err(e))?;
            let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))).map_err(|e| self.err(e))?;
            rows.collect::<Result<_, _>>().map_err(|e| self.err(e))?
        };
        let mut out = Vec::new();
        for (id, day, pid, start) in open {
            let dead = match (pid, start) {
                // Written before v2: no owner recorded, and no process of
                // this version holds it.
                (None, _) => true,
                (Some(p), _) if p == me as i64 => false,
                // The owner's identity could not be read when it started:
                // it cannot be told apart from a live process, so keep it.
                (Some(_), None) => false,
                (Some(p), Some(s)) => u32::try_from(p).ok().and_then(process_identity).as_deref() != Some(s.as_str()),
            };
            if !dead {
                continue;
            }
            let mut stmt = self
                .conn
                .prepare("SELECT participant_text, analysis_json, risk FROM turns WHERE session_id = ?1 ORDER BY idx")
                .map_err(|e| self.err(e))?;
            let turns = stmt
                .query_map([id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                .map_err(|e| self.err(e))?
                .collect::<Result<_, _>>()
                .map_err(|e| self.err(e))?;
            out.push(Orphan { id, day, turns });
        }
        Ok(out)
    }

    /// Closes an orphaned session: its `pending` turns become `interrupted`,
    /// it gets `summary` and an end time, and a `session_recovered` event.
    /// Returns the number of turns marked interrupted (0 if another process
    /// closed it first).
    pub fn close_orphan(&self, id: i64, summary: &str) -> Result<usize, StoreError> {
        let path = self.path.clone();
        let wrap = |source| StoreError::Sqlite { path: path.clone(), source };
        self.immediate(|conn| {
            let now = now_ms();
            let closed = conn
                .execute("UPDATE sessions SET ended_at_ms = ?2, summary = ?3 WHERE id = ?1 AND ended_at_ms IS NULL", params![id, now, summary])
                .map_err(wrap)?;
            if closed == 0 {
                return Ok(0);
            }
            let n = conn
                .execute("UPDATE turns SET status = 'interrupted' WHERE session_id = ?1 AND status = 'pending'", params![id])
                .map_err(wrap)?;
            let payload = serde_json::json!({"interrupted_turns": n, "reason": "the process running it ended without closing it"});
            conn.execute(
                "INSERT INTO events (session_id, turn_idx, at_ms, kind, payload) VALUES (?1, NULL, ?2, 'session_recovered', ?3)",
                params![id, now, payload.to_string()],
            )
            .map_err(wrap)?;
            Ok(n)
        })
    }

    /// Starts a session row and returns its id.
    pub fn start_session(&self, s: &NewSession<'_>) -> Result<i64, StoreError> {
        let pid = std::process::id();
        let owner = process_identity(pid);
        self.write(|| {
            self.conn.execute(
                "INSERT INTO sessions (participant, day, arm, policy, backend, fingerprint, started_at_ms, owner_pid, owner_start) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                params![s.participant, s.day, s.arm, s.policy, s.backend, s.fingerprint, now_ms(), pid, owner],
            )
        })?;
        Ok(self.conn.last_insert_rowid())
    }

    /// Ends a session with its memory summary and final crisis state.
    pub fn end_session(&self, session: i64, summary: &str, crisis_active: bool) -> Result<(), StoreError> {
        self.write(|| {
            self.conn.execute(
                "UPDATE sessions SET ended_at_ms = ?2, summary = ?3, crisis_active = ?4 WHERE id = ?1",
                params![session, now_ms(), summary, crisis_active],
            )
        })?;
        Ok(())
    }

    /// Records the live crisis state on the session (survives a crash).
    pub fn set_session_crisis(&self, session: i64, active: bool) -> Result<(), StoreError> {
        self.write(|| self.conn.execute("UPDATE sessions SET crisis_active = ?2 WHERE id = ?1", params![session, active]))?;
        Ok(())
    }

    /// Summaries of the participant's earlier ended sessions, oldest first.
    pub fn recent_summaries(&self, participant: &str, limit: usize) -> Result<Vec<String>, StoreError> {
        let mut stmt = self
            .conn
            .prepare("SELECT summary FROM sessions WHERE participant = ?1 AND summary IS NOT NULL AND summary != '' ORDER BY id DESC LIMIT ?2")
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map(params![participant, limit as i64], |r| r.get::<_, String>(0))
            .map_err(|e| self.err(e))?;
        let mut v: Vec<String> = rows.collect::<Result<_, _>>().map_err(|e| self.err(e))?;
        v.reverse();
        Ok(v)
    }

    /// Whether the participant's most recent earlier session was left in crisis state.
    pub fn last_session_in_crisis(&self, participant: &str) -> Result<bool, StoreError> {
        let v: Option<i64> = self
            .conn
            .query_row(
                "SELECT crisis_active FROM sessions WHERE participant = ?1 ORDER BY id DESC LIMIT 1",
                params![participant],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| self.err(e))?;
        Ok(v.unwrap_or(0) != 0)
    }

    /// Writes the participant side of a turn (status pending) and returns the row id.
    pub fn begin_turn(&self, session: i64, t: &TurnStart<'_>) -> Result<i64, StoreError> {
        self.write(|| {
            self.conn.execute(
                "INSERT INTO turns (session_id, idx, created_at_ms, status, participant_text, input_truncated, analysis_json, risk, crisis_active, intent, backend, fingerprint)
                 VALUES (?1, ?2, ?3, 'pending', ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
                params![session, t.idx as i64, now_ms(), t.participant_text, t.input_truncated, t.analysis_json, t.risk, t.crisis_active, t.intent, t.backend, t.fingerprint],
            )
        })?;
        Ok(self.conn.last_insert_rowid())
    }

    /// Appends one validated sentence to a pending turn's reply.
    pub fn append_sentence(&self, turn_row: i64, sentence: &str) -> Result<(), StoreError> {
        self.write(|| {
            self.conn.execute(
                "UPDATE turns SET reply = CASE WHEN reply = '' THEN ?2 ELSE reply || ' ' || ?2 END WHERE id = ?1",
                params![turn_row, sentence],
            )
        })?;
        Ok(())
    }

    /// Completes a turn.
    pub fn finish_turn(&self, turn_row: i64, f: &TurnFinish<'_>) -> Result<(), StoreError> {
        self.write(|| {
            self.conn.execute(
                "UPDATE turns SET status = CASE WHEN status = 'interrupted' THEN status ELSE 'complete' END,
                    reply = ?2, strategies_json = ?3, validator_json = ?4, source = ?5, fallback = ?6, llm_error = ?7,
                    first_token_ms = ?8, total_ms = ?9, llm_ms = ?10
                 WHERE id = ?1",
                params![turn_row, f.reply, f.strategies_json, f.validator_json, f.source, f.fallback, f.llm_error, f.first_token_ms as i64, f.total_ms as i64, f.llm_ms as i64],
            )
        })?;
        Ok(())
    }

    /// Marks a turn's reply as interrupted after `spoken_chars` characters.
    pub fn mark_interrupted(&self, session: i64, idx: u64, spoken_chars: usize) -> Result<(), StoreError> {
        self.write(|| {
            self.conn.execute(
                "UPDATE turns SET status = 'interrupted', spoken_chars = ?3 WHERE session_id = ?1 AND idx = ?2",
                params![session, idx as i64, spoken_chars as i64],
            )
        })?;
        Ok(())
    }

    /// Appends an event (staff alert, crisis enter/clear, LLM error, ...).
    pub fn event(&self, session: Option<i64>, turn_idx: Option<u64>, kind: &str, payload: &serde_json::Value) -> Result<(), StoreError> {
        self.write(|| {
            self.conn.execute(
                "INSERT INTO events (session_id, turn_idx, at_ms, kind, payload) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![session, turn_idx.map(|i| i as i64), now_ms(), kind, payload.to_string()],
            )
        })?;
        Ok(())
    }

    /// Deletes every session, turn and event of `participant` so that the
    /// bytes are gone from the file on disk, and returns
    /// (sessions, turns, events) deleted.
    ///
    /// Design: SQLite leaves deleted rows in free pages and in the WAL.
    /// `secure_delete` zeroes freed content, the WAL is checkpointed and
    /// truncated, and VACUUM rebuilds the file (its own WAL frames are then
    /// truncated too), so a search of the folder finds nothing of the text.
    pub fn purge_participant(&mut self, participant: &str) -> Result<(usize, usize, usize), StoreError> {
        let path = self.path.clone();
        let wrap = |source| StoreError::Sqlite { path: path.clone(), source };
        self.conn.pragma_update(None, "secure_delete", "ON").map_err(wrap)?;
        // Another attune may be writing this store: take the write lock
        // first and wait out busy locks like every other write.
        let sel = "SELECT id FROM sessions WHERE participant = ?1";
        let (sessions, turns, events) = self.immediate(|conn| {
            let events = conn.execute(&format!("DELETE FROM events WHERE session_id IN ({sel})"), params![participant]).map_err(wrap)?;
            let turns = conn.execute(&format!("DELETE FROM turns WHERE session_id IN ({sel})"), params![participant]).map_err(wrap)?;
            let sessions = conn.execute("DELETE FROM sessions WHERE participant = ?1", params![participant]).map_err(wrap)?;
            Ok((sessions, turns, events))
        })?;
        self.write(|| self.conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(())))?;
        self.write(|| self.conn.execute_batch("VACUUM"))?;
        self.write(|| self.conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(())))?;
        Ok((sessions, turns, events))
    }

    /// Number of turns with the given status in a session.
    #[cfg(test)]
    pub fn count_turns(&self, session: i64, status: &str) -> Result<i64, StoreError> {
        self.conn
            .query_row("SELECT COUNT(*) FROM turns WHERE session_id = ?1 AND status = ?2", params![session, status], |r| r.get(0))
            .map_err(|e| self.err(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn start<'a>(idx: u64, text: &'a str) -> TurnStart<'a> {
        TurnStart { idx, participant_text: text, input_truncated: false, analysis_json: "{}", risk: "none", crisis_active: false, intent: "reflect", backend: "reflect", fingerprint: "f" }
    }

    #[test]
    fn fresh_file_is_migrated_to_the_current_version() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(&dir.path().join("a/b/x.db")).unwrap();
        let v: i64 = s.conn.pragma_query_value(None, "user_version", |r| r.get(0)).unwrap();
        assert_eq!(v, SCHEMA_VERSION);
        let mode: String = s.conn.pragma_query_value(None, "journal_mode", |r| r.get(0)).unwrap();
        assert_eq!(mode, "wal");
    }

    #[test]
    fn reopening_keeps_turns_and_does_not_rerun_migrations() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.db");
        let sid;
        {
            let s = Store::open(&p).unwrap();
            sid = s.start_session(&NewSession { participant: "p1", day: 1, arm: "chatbot", policy: "attuned", backend: "reflect", fingerprint: "f" }).unwrap();
            let t = s.begin_turn(sid, &start(1, "hello")).unwrap();
            s.append_sentence(t, "Hi.").unwrap();
            s.append_sentence(t, "How are you?").unwrap();
            let r: String = s.conn.query_row("SELECT reply FROM turns WHERE id = ?1", [t], |r| r.get(0)).unwrap();
            assert_eq!(r, "Hi. How are you?");
        }
        let s = Store::open(&p).unwrap();
        assert_eq!(s.count_turns(sid, "pending").unwrap(), 1);
    }

    #[test]
    fn a_newer_schema_is_refused_with_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.db");
        {
            let c = Connection::open(&p).unwrap();
            c.pragma_update(None, "user_version", 99).unwrap();
        }
        let err = Store::open(&p).err().unwrap().to_string();
        assert!(err.contains("schema version 99"), "{err}");
        assert!(err.contains("x.db"), "{err}");
    }

    #[test]
    fn an_in_memory_path_is_refused_unless_opened_as_ephemeral() {
        for p in ["", ":memory:", "file::memory:?cache=shared"] {
            assert!(matches!(Store::open(Path::new(p)), Err(StoreError::Ephemeral { .. })), "{p:?}");
        }
        let s = Store::open_ephemeral().unwrap();
        s.start_session(&NewSession { participant: "p", day: 1, arm: "chatbot", policy: "attuned", backend: "reflect", fingerprint: "f" }).unwrap();
    }

    #[test]
    fn a_foreign_sqlite_file_is_refused_naming_its_tables() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("other.db");
        Connection::open(&p).unwrap().execute_batch("CREATE TABLE photos (x); CREATE TABLE sessions (y);").unwrap();
        let err = Store::open(&p).err().unwrap().to_string();
        assert!(err.contains("not an attune store") && err.contains("photos, sessions"), "{err}");
    }

    #[test]
    fn only_sessions_whose_owner_process_is_gone_are_orphans_and_closing_one_interrupts_its_pending_turns() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(&dir.path().join("x.db")).unwrap();
        let mine = s.start_session(&NewSession { participant: "p", day: 1, arm: "chatbot", policy: "attuned", backend: "reflect", fingerprint: "f" }).unwrap();
        let dead = s.start_session(&NewSession { participant: "q", day: 2, arm: "chatbot", policy: "attuned", backend: "reflect", fingerprint: "f" }).unwrap();
        s.begin_turn(mine, &start(1, "mine")).unwrap();
        s.begin_turn(dead, &start(1, "lost")).unwrap();
        // A process that has exited: its pid no longer has our recorded start time.
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let gone = child.id();
        child.wait().unwrap();
        s.conn.execute("UPDATE sessions SET owner_pid = ?2 WHERE id = ?1", params![dead, gone]).unwrap();
        let orphans = s.orphaned_sessions().unwrap();
        assert_eq!(orphans.iter().map(|o| o.id).collect::<Vec<_>>(), vec![dead]);
        assert_eq!(orphans[0].turns[0].0, "lost");
        assert_eq!(s.close_orphan(dead, "Day 2: lost").unwrap(), 1);
        assert_eq!(s.count_turns(dead, "interrupted").unwrap(), 1);
        assert_eq!(s.count_turns(mine, "pending").unwrap(), 1, "the live session is untouched");
        assert_eq!(s.close_orphan(dead, "again").unwrap(), 0, "closing twice changes nothing");
        assert!(s.orphaned_sessions().unwrap().is_empty());
        assert!(process_identity(std::process::id()).is_some());
    }

    #[test]
    fn interrupted_status_survives_finishing_the_turn() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(&dir.path().join("x.db")).unwrap();
        let sid = s.start_session(&NewSession { participant: "p", day: 1, arm: "voice", policy: "attuned", backend: "reflect", fingerprint: "f" }).unwrap();
        let row = s.begin_turn(sid, &start(1, "hi")).unwrap();
        s.mark_interrupted(sid, 1, 12).unwrap();
        s.finish_turn(row, &TurnFinish { reply: "a b", strategies_json: "[]", validator_json: "{}", source: "llm", fallback: false, llm_error: None, first_token_ms: 1, total_ms: 2, llm_ms: 1 }).unwrap();
        assert_eq!(s.count_turns(sid, "interrupted").unwrap(), 1);
    }

    #[test]
    fn memory_returns_the_latest_summaries_oldest_first() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(&dir.path().join("x.db")).unwrap();
        for d in 1..=4 {
            let id = s.start_session(&NewSession { participant: "p", day: d, arm: "chatbot", policy: "attuned", backend: "reflect", fingerprint: "f" }).unwrap();
            s.end_session(id, &format!("Day {d}"), false).unwrap();
        }
        let other = s.start_session(&NewSession { participant: "q", day: 1, arm: "chatbot", policy: "attuned", backend: "reflect", fingerprint: "f" }).unwrap();
        s.end_session(other, "not mine", true).unwrap();
        assert_eq!(s.recent_summaries("p", 2).unwrap(), vec!["Day 3".to_string(), "Day 4".to_string()]);
        assert!(!s.last_session_in_crisis("p").unwrap());
        assert!(s.last_session_in_crisis("q").unwrap());
    }
}
