//! The durable outbox: every bus message is a row in the session store before
//! it is published, and stays "undelivered" until the broker has routed it
//! back to this client (see the runner). Crisis alerts and their
//! acknowledgements live here too. Plain functions over a `rusqlite`
//! connection to the session store's file; the tables come from the store's
//! migration list ([`MIGRATION`]).

use rusqlite::{params, Connection, OptionalExtension};

/// Schema migration adding the bus tables (listed in `store.rs`).
pub const MIGRATION: &str = r#"
    CREATE TABLE bus_outbox (
        id              INTEGER PRIMARY KEY AUTOINCREMENT,
        msg_key         TEXT    NOT NULL UNIQUE,  -- message id, or id#repeat for a republished alert
        topic           TEXT    NOT NULL,
        payload         TEXT    NOT NULL,
        retain          INTEGER NOT NULL DEFAULT 0,
        created_at_ms   INTEGER NOT NULL,
        delivered_at_ms INTEGER
    );
    CREATE INDEX bus_outbox_undelivered ON bus_outbox(id) WHERE delivered_at_ms IS NULL;
    CREATE TABLE bus_alerts (
        alert_id      TEXT    PRIMARY KEY,
        session_id    INTEGER REFERENCES sessions(id),
        turn_idx      INTEGER,
        topic         TEXT    NOT NULL,
        payload       TEXT    NOT NULL,
        raised_at_ms  INTEGER NOT NULL,
        repeats       INTEGER NOT NULL DEFAULT 0,
        last_sent_ms  INTEGER NOT NULL,
        acked_by      TEXT,
        acked_at_ms   INTEGER,
        ack_id        TEXT
    );
"#;

/// One message waiting in (or sent from) the outbox.
#[derive(Debug, Clone)]
pub struct Row {
    /// Outbox row id: the order of publication.
    pub row: i64,
    /// The key the broker's echo is matched on (read by the tests and for diagnostics).
    #[allow(dead_code)]
    pub key: String,
    /// Full topic.
    pub topic: String,
    /// JSON payload.
    pub payload: String,
    /// Publish with the retain flag (the state topic).
    pub retain: bool,
}

/// Opens a second connection to the store's file for the bus (WAL lets the
/// session's writer and the bus's writer take turns; each waits up to 5 s).
pub fn connect(path: &std::path::Path) -> rusqlite::Result<Connection> {
    let c = Connection::open(path)?;
    c.busy_timeout(std::time::Duration::from_secs(5))?;
    c.pragma_update(None, "synchronous", "FULL")?;
    Ok(c)
}

/// Appends a message; returns its row id.
pub fn push(c: &Connection, key: &str, topic: &str, payload: &str, retain: bool, now_ms: i64) -> rusqlite::Result<i64> {
    c.execute(
        "INSERT INTO bus_outbox (msg_key, topic, payload, retain, created_at_ms) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![key, topic, payload, retain, now_ms],
    )?;
    Ok(c.last_insert_rowid())
}

/// Undelivered rows after `after_row`, oldest first, at most `limit`.
pub fn pending_after(c: &Connection, after_row: i64, limit: usize) -> rusqlite::Result<Vec<Row>> {
    let mut st = c.prepare_cached(
        "SELECT id, msg_key, topic, payload, retain FROM bus_outbox WHERE delivered_at_ms IS NULL AND id > ?1 ORDER BY id LIMIT ?2",
    )?;
    let rows = st.query_map(params![after_row, limit as i64], |r| {
        Ok(Row { row: r.get(0)?, key: r.get(1)?, topic: r.get(2)?, payload: r.get(3)?, retain: r.get(4)? })
    })?;
    rows.collect()
}

/// Number of undelivered rows.
pub fn backlog(c: &Connection) -> rusqlite::Result<i64> {
    c.query_row("SELECT COUNT(*) FROM bus_outbox WHERE delivered_at_ms IS NULL", [], |r| r.get(0))
}

/// Marks the rows with these keys delivered, in one transaction; returns how
/// many were newly marked.
pub fn mark_delivered(c: &mut Connection, keys: &[String], now_ms: i64) -> rusqlite::Result<usize> {
    let tx = c.transaction()?;
    let mut n = 0;
    {
        let mut st = tx.prepare_cached("UPDATE bus_outbox SET delivered_at_ms = ?2 WHERE msg_key = ?1 AND delivered_at_ms IS NULL")?;
        for k in keys {
            n += st.execute(params![k, now_ms])?;
        }
    }
    tx.commit()?;
    Ok(n)
}

/// Records a raised alert (its first publication is an outbox row too).
pub fn add_alert(c: &Connection, alert_id: &str, session: i64, turn: u64, topic: &str, payload: &str, now_ms: i64) -> rusqlite::Result<()> {
    c.execute(
        "INSERT INTO bus_alerts (alert_id, session_id, turn_idx, topic, payload, raised_at_ms, last_sent_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6)",
        params![alert_id, session, turn as i64, topic, payload, now_ms],
    )?;
    Ok(())
}

/// An unacknowledged alert due for republishing.
#[derive(Debug, Clone)]
pub struct DueAlert {
    /// Alert id.
    pub alert_id: String,
    /// Topic.
    pub topic: String,
    /// Original payload (JSON).
    pub payload: String,
    /// Republications so far.
    pub repeats: i64,
}

/// Unacknowledged alerts last sent at or before `before_ms`.
pub fn due_alerts(c: &Connection, before_ms: i64) -> rusqlite::Result<Vec<DueAlert>> {
    let mut st = c.prepare_cached(
        "SELECT alert_id, topic, payload, repeats FROM bus_alerts WHERE acked_at_ms IS NULL AND last_sent_ms <= ?1 ORDER BY raised_at_ms",
    )?;
    let rows = st.query_map(params![before_ms], |r| Ok(DueAlert { alert_id: r.get(0)?, topic: r.get(1)?, payload: r.get(2)?, repeats: r.get(3)? }))?;
    rows.collect()
}

/// Queues republication `repeat` of an alert (payload with `repeat` set) and
/// moves its timer, in one transaction.
pub fn queue_repeat(c: &mut Connection, a: &DueAlert, payload: &str, now_ms: i64) -> rusqlite::Result<()> {
    let tx = c.transaction()?;
    let repeat = a.repeats + 1;
    tx.execute(
        "INSERT OR IGNORE INTO bus_outbox (msg_key, topic, payload, retain, created_at_ms) VALUES (?1, ?2, ?3, 0, ?4)",
        params![format!("{}#{repeat}", a.alert_id), a.topic, payload, now_ms],
    )?;
    tx.execute("UPDATE bus_alerts SET repeats = ?2, last_sent_ms = ?3 WHERE alert_id = ?1", params![a.alert_id, repeat, now_ms])?;
    tx.commit()
}

/// What an acknowledgement did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AckOutcome {
    /// Stored; the alert's session and turn.
    Stored { session: Option<i64>, turn: Option<i64> },
    /// Already acknowledged earlier (by this person, at this time).
    Already { by: String, at_ms: i64 },
    /// No such alert in this store.
    Unknown,
}

/// Stores who acknowledged an alert and when (the first ack wins).
pub fn ack(c: &Connection, alert_id: &str, by: &str, at_ms: i64, ack_id: &str) -> rusqlite::Result<AckOutcome> {
    let row: Option<(Option<i64>, Option<i64>, Option<String>, Option<i64>)> = c
        .query_row(
            "SELECT session_id, turn_idx, acked_by, acked_at_ms FROM bus_alerts WHERE alert_id = ?1",
            params![alert_id],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )
        .optional()?;
    match row {
        None => Ok(AckOutcome::Unknown),
        Some((_, _, Some(by0), Some(at0))) => Ok(AckOutcome::Already { by: by0, at_ms: at0 }),
        Some((session, turn, _, _)) => {
            c.execute(
                "UPDATE bus_alerts SET acked_by = ?2, acked_at_ms = ?3, ack_id = ?4 WHERE alert_id = ?1 AND acked_at_ms IS NULL",
                params![alert_id, by, at_ms, ack_id],
            )?;
            Ok(AckOutcome::Stored { session, turn })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A migrated store with one session (id 1), and a bus connection to it.
    fn db() -> (tempfile::TempDir, Connection) {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("s.db");
        let s = crate::store::Store::open(&p).unwrap();
        let ns = crate::store::NewSession { participant: "p", day: 1, arm: "chatbot", policy: "attuned", backend: "reflect", fingerprint: "f" };
        assert_eq!(s.start_session(&ns).unwrap(), 1);
        drop(s);
        let c = connect(&p).unwrap();
        (dir, c)
    }

    #[test]
    fn rows_come_back_in_order_until_delivered() {
        let (_d, mut c) = db();
        for i in 0..5 {
            push(&c, &format!("k{i}"), "t", "{}", false, 1).unwrap();
        }
        let all = pending_after(&c, 0, 100).unwrap();
        assert_eq!(all.iter().map(|r| r.key.as_str()).collect::<Vec<_>>(), ["k0", "k1", "k2", "k3", "k4"]);
        assert_eq!(mark_delivered(&mut c, &["k1".into(), "k3".into(), "k3".into()], 2).unwrap(), 2);
        let left = pending_after(&c, 0, 100).unwrap();
        assert_eq!(left.iter().map(|r| r.key.as_str()).collect::<Vec<_>>(), ["k0", "k2", "k4"]);
        assert_eq!(pending_after(&c, left[1].row, 100).unwrap().len(), 1);
        assert_eq!(backlog(&c).unwrap(), 3);
    }

    #[test]
    fn an_alert_repeats_until_acked_and_the_first_ack_wins() {
        let (_d, mut c) = db();
        add_alert(&c, "a1", 1, 2, "t/alert", "{}", 1_000).unwrap();
        let due = due_alerts(&c, 1_000).unwrap();
        assert_eq!(due.len(), 1);
        queue_repeat(&mut c, &due[0], "{\"repeat\":1}", 2_000).unwrap();
        assert!(due_alerts(&c, 1_999).unwrap().is_empty());
        assert_eq!(pending_after(&c, 0, 10).unwrap()[0].key, "a1#1");
        assert_eq!(ack(&c, "a1", "sam", 3_000, "k").unwrap(), AckOutcome::Stored { session: Some(1), turn: Some(2) });
        assert_eq!(ack(&c, "a1", "kim", 4_000, "k2").unwrap(), AckOutcome::Already { by: "sam".into(), at_ms: 3_000 });
        assert_eq!(ack(&c, "nope", "kim", 4_000, "k3").unwrap(), AckOutcome::Unknown);
        assert!(due_alerts(&c, 10_000).unwrap().is_empty());
    }
}
