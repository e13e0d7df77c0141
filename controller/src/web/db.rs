//! The web front's own database, `DIR/web.db` in the study folder: participant
//! links, the web day's progress (questionnaires before, chat, after), staff
//! accounts and staff sessions.
//!
//! Design: nothing here duplicates the study database or the session store.
//! Turns, alerts, acknowledgements and the audit trail live in the session
//! store (`sessions.db`), days and answers in the study database
//! (`study.db`); this file only holds what a web server needs to recognise
//! people: hashed link tokens, hashed passwords and hashed session ids.

use anyhow::{bail, Context};
use rusqlite::{params, Connection, OptionalExtension};
use std::path::{Path, PathBuf};

/// Format of `web.db` this build writes (`PRAGMA user_version`).
pub const WEB_FORMAT: i64 = 1;

const SCHEMA: &str = r#"
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE links (
    token_sha     TEXT PRIMARY KEY,      -- sha256 of the token; the token itself is never stored
    participant   TEXT    NOT NULL,
    day           INTEGER NOT NULL,
    created_at_ms INTEGER NOT NULL,
    revoked_at_ms INTEGER
);
CREATE TABLE web_days (
    participant   TEXT    NOT NULL,
    day           INTEGER NOT NULL,
    stage         TEXT    NOT NULL CHECK (stage IN ('pre','chat','post','done')),
    pre_answers   TEXT    NOT NULL DEFAULT '[]',
    started_at_ms INTEGER NOT NULL,
    PRIMARY KEY (participant, day)
);
CREATE TABLE users (
    name          TEXT PRIMARY KEY,
    role          TEXT NOT NULL CHECK (role IN ('staff','researcher')),
    phc           TEXT NOT NULL,         -- argon2id PHC string
    created_at_ms INTEGER NOT NULL
);
CREATE TABLE staff_sessions (
    id_sha        TEXT PRIMARY KEY,      -- sha256 of the cookie value
    user          TEXT NOT NULL REFERENCES users(name),
    csrf          TEXT NOT NULL,
    created_at_ms INTEGER NOT NULL,
    expires_at_ms INTEGER NOT NULL
);
"#;

/// 32 random bytes from the kernel, hex (64 characters).
pub fn random_hex() -> anyhow::Result<String> {
    use std::io::Read;
    let mut b = [0u8; 32];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut b))
        .context("reading /dev/urandom")?;
    Ok(hex::encode(b))
}

/// sha256 of a string, hex.
pub fn sha_hex(s: &str) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(s.as_bytes()))
}

/// A staff role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Role {
    /// Runs sessions, sees transcripts and alerts, acknowledges.
    Staff,
    /// Sees pseudonymised data; transcript text only if the protocol allows.
    Researcher,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Staff => "staff",
            Role::Researcher => "researcher",
        }
    }
    fn parse(s: &str) -> Option<Role> {
        match s {
            "staff" => Some(Role::Staff),
            "researcher" => Some(Role::Researcher),
            _ => None,
        }
    }
}

/// A logged-in staff member.
#[derive(Debug, Clone)]
pub struct StaffSession {
    /// Account name.
    pub user: String,
    /// Role.
    pub role: Role,
    /// The session's CSRF token (every form and command carries it).
    pub csrf: String,
}

/// Where a participant's web day stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Questionnaires before the chat.
    Pre,
    /// The chat.
    Chat,
    /// Questionnaires after the chat.
    Post,
    /// Recorded.
    Done,
}

impl Stage {
    fn as_str(self) -> &'static str {
        match self {
            Stage::Pre => "pre",
            Stage::Chat => "chat",
            Stage::Post => "post",
            Stage::Done => "done",
        }
    }
    fn parse(s: &str) -> Stage {
        match s {
            "chat" => Stage::Chat,
            "post" => Stage::Post,
            "done" => Stage::Done,
            _ => Stage::Pre,
        }
    }
}

/// What a link token opens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkState {
    /// A live link for this participant and day.
    Valid { participant: String, day: u32 },
    /// Revoked by staff.
    Revoked,
    /// No such token.
    Unknown,
}

/// The open web database.
pub struct WebDb {
    /// One connection; callers hold it briefly.
    conn: Connection,
    /// File path, for messages.
    #[allow(dead_code)]
    path: PathBuf,
}

impl WebDb {
    /// Opens (creating if needed) `DIR/web.db`.
    pub fn open(study_dir: &Path) -> anyhow::Result<WebDb> {
        let path = study_dir.join("web.db");
        let conn = Connection::open(&path).with_context(|| format!("opening {}", path.display()))?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.execute_batch("BEGIN IMMEDIATE")?;
        let r = (|| -> anyhow::Result<()> {
            let v: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
            if v > WEB_FORMAT {
                bail!("{} was written by a newer attune (format {v}, this build understands {WEB_FORMAT}); upgrade attune", path.display());
            }
            if v == 0 {
                conn.execute_batch(SCHEMA)?;
                conn.execute("INSERT INTO meta (key, value) VALUES ('secret', ?1)", [random_hex()?])?;
                conn.pragma_update(None, "user_version", WEB_FORMAT)?;
            }
            Ok(())
        })();
        match r {
            Ok(()) => conn.execute_batch("COMMIT")?,
            Err(e) => {
                let _ = conn.execute_batch("ROLLBACK");
                return Err(e);
            }
        }
        Ok(WebDb { conn, path })
    }

    /// The server secret (participant CSRF tokens are derived from it).
    pub fn secret(&self) -> anyhow::Result<String> {
        Ok(self.conn.query_row("SELECT value FROM meta WHERE key = 'secret'", [], |r| r.get(0))?)
    }

    /// Creates a link token for a participant's day; returns the token.
    pub fn new_link(&self, participant: &str, day: u32) -> anyhow::Result<String> {
        let token = random_hex()?;
        self.conn.execute(
            "INSERT INTO links (token_sha, participant, day, created_at_ms) VALUES (?1, ?2, ?3, ?4)",
            params![sha_hex(&token), participant, day, crate::store::now_ms()],
        )?;
        Ok(token)
    }

    /// Revokes every live link of a participant's day (all days with `None`); returns how many.
    pub fn revoke_links(&self, participant: &str, day: Option<u32>) -> anyhow::Result<usize> {
        Ok(self.conn.execute(
            "UPDATE links SET revoked_at_ms = ?3 WHERE participant = ?1 AND (?2 IS NULL OR day = ?2) AND revoked_at_ms IS NULL",
            params![participant, day, crate::store::now_ms()],
        )?)
    }

    /// What a token opens.
    pub fn link(&self, token: &str) -> anyhow::Result<LinkState> {
        // Malformed tokens never reach SQLite's index as anything but a hash.
        let row: Option<(String, u32, Option<i64>)> = self
            .conn
            .query_row("SELECT participant, day, revoked_at_ms FROM links WHERE token_sha = ?1", [sha_hex(token)], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .optional()?;
        Ok(match row {
            None => LinkState::Unknown,
            Some((_, _, Some(_))) => LinkState::Revoked,
            Some((participant, day, None)) => LinkState::Valid { participant, day },
        })
    }

    /// The stage of a participant's web day (Pre when not begun) and the answers given before.
    pub fn day_stage(&self, participant: &str, day: u32) -> anyhow::Result<(Stage, String)> {
        let r: Option<(String, String)> = self
            .conn
            .query_row("SELECT stage, pre_answers FROM web_days WHERE participant = ?1 AND day = ?2", params![participant, day], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?;
        Ok(r.map(|(s, a)| (Stage::parse(&s), a)).unwrap_or((Stage::Pre, "[]".into())))
    }

    /// When the web day began (first page view of the chat), if it did.
    pub fn day_started(&self, participant: &str, day: u32) -> anyhow::Result<Option<i64>> {
        Ok(self
            .conn
            .query_row("SELECT started_at_ms FROM web_days WHERE participant = ?1 AND day = ?2", params![participant, day], |r| r.get(0))
            .optional()?)
    }

    /// Moves a web day to `stage` (with the answers given before the chat, when moving to Chat).
    pub fn set_stage(&self, participant: &str, day: u32, stage: Stage, pre_answers: Option<&str>) -> anyhow::Result<()> {
        self.conn.execute(
            "INSERT INTO web_days (participant, day, stage, pre_answers, started_at_ms) VALUES (?1, ?2, ?3, COALESCE(?4, '[]'), ?5)
             ON CONFLICT(participant, day) DO UPDATE SET stage = excluded.stage, pre_answers = COALESCE(?4, web_days.pre_answers)",
            params![participant, day, stage.as_str(), pre_answers, crate::store::now_ms()],
        )?;
        Ok(())
    }

    /// Adds a staff account (argon2id hash of `password`).
    pub fn add_user(&self, name: &str, role: Role, password: &str) -> anyhow::Result<()> {
        let ok = !name.is_empty() && name.len() <= 64 && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '@'));
        if !ok {
            bail!("--name must be 1-64 letters, digits, '-', '_', '.' or '@', got {name:?}");
        }
        if password.chars().count() < 10 {
            bail!("the password must be at least 10 characters");
        }
        if self.user_role(name)?.is_some() {
            bail!("user {name:?} already exists");
        }
        let phc = hash_password(password)?;
        self.conn.execute(
            "INSERT INTO users (name, role, phc, created_at_ms) VALUES (?1, ?2, ?3, ?4)",
            params![name, role.as_str(), phc, crate::store::now_ms()],
        )?;
        Ok(())
    }

    /// A user's role, if the account exists.
    pub fn user_role(&self, name: &str) -> anyhow::Result<Option<Role>> {
        let r: Option<String> = self.conn.query_row("SELECT role FROM users WHERE name = ?1", [name], |r| r.get(0)).optional()?;
        Ok(r.and_then(|s| Role::parse(&s)))
    }

    /// A user's password hash.
    pub fn user_phc(&self, name: &str) -> anyhow::Result<Option<String>> {
        Ok(self.conn.query_row("SELECT phc FROM users WHERE name = ?1", [name], |r| r.get(0)).optional()?)
    }

    /// Starts a staff session lasting `ttl_ms` from now (extended on use); returns the cookie value.
    pub fn new_staff_session(&self, user: &str, ttl_ms: i64) -> anyhow::Result<String> {
        let id = random_hex()?;
        let now = crate::store::now_ms();
        self.conn.execute("DELETE FROM staff_sessions WHERE expires_at_ms < ?1", [now])?;
        self.conn.execute(
            "INSERT INTO staff_sessions (id_sha, user, csrf, created_at_ms, expires_at_ms) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![sha_hex(&id), user, random_hex()?, now, now + ttl_ms],
        )?;
        Ok(id)
    }

    /// The live staff session for a cookie value, sliding its expiry by `ttl_ms`
    /// but never past `max_ms` after it began.
    pub fn staff_session(&self, id: &str, ttl_ms: i64, max_ms: i64) -> anyhow::Result<Option<StaffSession>> {
        let now = crate::store::now_ms();
        let sha = sha_hex(id);
        let r: Option<(String, String, String, i64, i64)> = self
            .conn
            .query_row(
                "SELECT s.user, u.role, s.csrf, s.created_at_ms, s.expires_at_ms FROM staff_sessions s JOIN users u ON u.name = s.user WHERE s.id_sha = ?1",
                [&sha],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
            )
            .optional()?;
        let Some((user, role, csrf, created, expires)) = r else { return Ok(None) };
        if expires < now || created + max_ms < now {
            self.conn.execute("DELETE FROM staff_sessions WHERE id_sha = ?1", [&sha])?;
            return Ok(None);
        }
        let Some(role) = Role::parse(&role) else { return Ok(None) };
        self.conn.execute("UPDATE staff_sessions SET expires_at_ms = ?2 WHERE id_sha = ?1", params![sha, (now + ttl_ms).min(created + max_ms)])?;
        Ok(Some(StaffSession { user, role, csrf }))
    }

    /// Ends a staff session.
    pub fn end_staff_session(&self, id: &str) -> anyhow::Result<()> {
        self.conn.execute("DELETE FROM staff_sessions WHERE id_sha = ?1", [sha_hex(id)])?;
        Ok(())
    }
}

/// argon2id (the crate's defaults: 19 MiB, 2 passes, 1 lane — OWASP's minimum) with a random salt.
pub fn hash_password(password: &str) -> anyhow::Result<String> {
    use argon2::password_hash::{PasswordHasher, SaltString};
    use std::io::Read;
    let mut salt = [0u8; 16];
    std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut salt)).context("reading /dev/urandom")?;
    let salt = SaltString::encode_b64(&salt).map_err(|e| anyhow::anyhow!("salt: {e}"))?;
    let h = argon2::Argon2::default().hash_password(password.as_bytes(), &salt).map_err(|e| anyhow::anyhow!("hashing the password: {e}"))?;
    Ok(h.to_string())
}

/// Whether `password` matches a stored PHC string.
pub fn verify_password(phc: &str, password: &str) -> bool {
    use argon2::password_hash::{PasswordHash, PasswordVerifier};
    match PasswordHash::new(phc) {
        Ok(h) => argon2::Argon2::default().verify_password(password.as_bytes(), &h).is_ok(),
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_revoked_link_opens_nothing_and_a_guess_is_unknown() {
        let d = tempfile::tempdir().unwrap();
        let db = WebDb::open(d.path()).unwrap();
        let t = db.new_link("P1", 1).unwrap();
        assert_eq!(t.len(), 64);
        assert_eq!(db.link(&t).unwrap(), LinkState::Valid { participant: "P1".into(), day: 1 });
        assert_eq!(db.link("0000").unwrap(), LinkState::Unknown);
        assert_eq!(db.revoke_links("P1", Some(1)).unwrap(), 1);
        assert_eq!(db.link(&t).unwrap(), LinkState::Revoked);
    }

    #[test]
    fn a_password_is_stored_only_as_an_argon2id_hash_that_verifies() {
        let d = tempfile::tempdir().unwrap();
        let db = WebDb::open(d.path()).unwrap();
        db.add_user("dr.lee", Role::Staff, "correct horse battery").unwrap();
        let phc = db.user_phc("dr.lee").unwrap().unwrap();
        assert!(phc.starts_with("$argon2id$"), "{phc}");
        assert!(!phc.contains("correct horse"));
        assert!(verify_password(&phc, "correct horse battery"));
        assert!(!verify_password(&phc, "correct horse batterY"));
        assert!(db.add_user("dr.lee", Role::Staff, "another password").unwrap_err().to_string().contains("already exists"));
        assert!(db.add_user("x", Role::Staff, "short").unwrap_err().to_string().contains("at least 10"));
    }

    #[test]
    fn a_staff_session_expires_and_cannot_outlive_its_maximum() {
        let d = tempfile::tempdir().unwrap();
        let db = WebDb::open(d.path()).unwrap();
        db.add_user("sam", Role::Researcher, "0123456789ab").unwrap();
        let id = db.new_staff_session("sam", 60_000).unwrap();
        let s = db.staff_session(&id, 60_000, 3_600_000).unwrap().unwrap();
        assert_eq!((s.user.as_str(), s.role), ("sam", Role::Researcher));
        assert!(db.staff_session("nope", 60_000, 3_600_000).unwrap().is_none());
        // A maximum already passed ends it, and it stays gone.
        assert!(db.staff_session(&id, 60_000, -1).unwrap().is_none());
        assert!(db.staff_session(&id, 60_000, 3_600_000).unwrap().is_none());
    }

    #[test]
    fn a_web_day_moves_through_its_stages_keeping_the_answers_before() {
        let d = tempfile::tempdir().unwrap();
        let db = WebDb::open(d.path()).unwrap();
        assert_eq!(db.day_stage("P", 1).unwrap().0, Stage::Pre);
        db.set_stage("P", 1, Stage::Chat, Some("[1]")).unwrap();
        db.set_stage("P", 1, Stage::Post, None).unwrap();
        assert_eq!(db.day_stage("P", 1).unwrap(), (Stage::Post, "[1]".to_string()));
    }
}
