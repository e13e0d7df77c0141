//! Bus messages: the envelope every payload carries, the incoming staff
//! commands and acknowledgements, and the pure decisions about them. No I/O.
//! The schema is documented in docs/bus-schema.md and machine-checked
//! against docs/bus-schema.json by the end-to-end tests.

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

/// Schema version carried in every message's `v`.
pub const SCHEMA_V: u64 = 1;

/// Largest command or ack payload acted on. Anything larger is logged and
/// ignored (the broker connection accepts up to [`MAX_INCOMING_PACKET`]).
pub const MAX_COMMAND_BYTES: usize = 64 * 1024;

/// Largest packet the client reads; a bigger one makes rumqttc drop the
/// connection (it reconnects), so it is set well above any sane command.
pub const MAX_INCOMING_PACKET: usize = 4 * 1024 * 1024;

/// Longest `say` line, in characters.
pub const MAX_SAY_CHARS: usize = 1_000;

/// `t`: UTC time as RFC 3339 with milliseconds, from Unix epoch milliseconds.
pub fn utc(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let milli = ms.rem_euclid(1000);
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    // Howard Hinnant's days-from-civil inverse.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{milli:03}Z", sod / 3600, sod % 3600 / 60, sod % 60)
}

/// Parses `t` back to epoch milliseconds (only the form [`utc`] writes, with
/// or without milliseconds).
pub fn parse_utc(t: &str) -> Option<i64> {
    let t = t.strip_suffix('Z')?;
    let (date, time) = t.split_once('T')?;
    let mut dp = date.splitn(3, '-').map(|x| x.parse::<i64>().ok());
    let (y, m, d) = (dp.next()??, dp.next()??, dp.next()??);
    let (hms, milli) = match time.split_once('.') {
        Some((a, b)) => (a, b.get(..3.min(b.len()))?.parse::<i64>().ok()?),
        None => (time, 0),
    };
    let mut tp = hms.splitn(3, ':').map(|x| x.parse::<i64>().ok());
    let (hh, mm, ss) = (tp.next()??, tp.next()??, tp.next()??);
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) || hh > 23 || mm > 59 || ss > 60 {
        return None;
    }
    let y2 = if m <= 2 { y - 1 } else { y };
    let era = y2.div_euclid(400);
    let yoe = y2 - era * 400;
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(((days * 86_400 + hh * 3600 + mm * 60 + ss) * 1000) + milli)
}

/// Which topic under `attune/<site>/<robot>/` a message goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Leaf {
    /// Retained live state.
    State,
    /// Session and turn events.
    Event,
    /// Crisis alerts (republished until acknowledged).
    Alert,
    /// Throttled head telemetry.
    #[allow(dead_code)]
    Telemetry,
}

impl Leaf {
    /// The topic's last level.
    pub fn as_str(self) -> &'static str {
        match self {
            Leaf::State => "state",
            Leaf::Event => "event",
            Leaf::Alert => "alert",
            Leaf::Telemetry => "telemetry",
        }
    }
}

/// Builds a payload: the envelope (`v`, `id`, `kind`, `t`, `site`, `robot`)
/// plus `fields`.
pub fn envelope(id: &str, kind: &str, at_ms: i64, site: &str, robot: &str, fields: Value) -> Value {
    let mut m = Map::new();
    m.insert("v".into(), json!(SCHEMA_V));
    m.insert("id".into(), json!(id));
    m.insert("kind".into(), json!(kind));
    m.insert("t".into(), json!(utc(at_ms)));
    m.insert("site".into(), json!(site));
    m.insert("robot".into(), json!(robot));
    if let Value::Object(f) = fields {
        for (k, v) in f {
            m.insert(k, v);
        }
    }
    Value::Object(m)
}

/// A staff command on `cmd`, after validation.
#[derive(Debug, Clone, PartialEq)]
pub struct StaffCommand {
    /// The command's own `id` (audited, and the key of the answering event).
    pub id: String,
    /// Who sent it (the staff member's name as their client states it; the
    /// broker's ACL is what authorises publishing on `cmd` at all).
    pub by: String,
    /// When it was sent (epoch ms, from `t`).
    pub at_ms: i64,
    /// What to do.
    pub action: Action,
}

/// What a staff command asks for.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Hold the session between turns.
    Pause,
    /// Continue a paused session.
    Resume,
    /// End the session (as if the participant had finished).
    Stop,
    /// Speak or show `text` as the robot's next turn.
    Say {
        /// The line.
        text: String,
        /// Written for a participant in crisis; only such lines are used
        /// while the crisis protocol is active.
        crisis_aware: bool,
    },
}

impl Action {
    /// The command's `kind`.
    pub fn kind(&self) -> &'static str {
        match self {
            Action::Pause => "pause",
            Action::Resume => "resume",
            Action::Stop => "stop",
            Action::Say { .. } => "say",
        }
    }
}

/// An acknowledgement on `ack`.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertAck {
    /// The ack message's own id.
    pub id: String,
    /// The acknowledged alert's id.
    pub alert: String,
    /// Who acknowledged it.
    pub by: String,
    /// When (epoch ms, from `t`).
    pub at_ms: i64,
}

/// Wire form of `cmd` and `ack` payloads (unknown fields refused).
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct Incoming {
    v: u64,
    id: String,
    kind: String,
    t: String,
    by: String,
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    crisis_aware: Option<bool>,
    #[serde(default)]
    alert: Option<String>,
}

fn short_str_ok(s: &str, max: usize) -> bool {
    !s.trim().is_empty() && s.chars().count() <= max && !s.chars().any(char::is_control)
}

fn parse_incoming(payload: &[u8]) -> Result<Incoming, String> {
    if payload.len() > MAX_COMMAND_BYTES {
        return Err(format!("payload of {} bytes is over the {MAX_COMMAND_BYTES}-byte limit", payload.len()));
    }
    let m: Incoming = serde_json::from_slice(payload).map_err(|e| format!("not a valid message: {e}"))?;
    if m.v != SCHEMA_V {
        return Err(format!("schema version v={} is not {SCHEMA_V}", m.v));
    }
    if !short_str_ok(&m.id, 128) {
        return Err("`id` must be 1-128 printable characters".into());
    }
    if !short_str_ok(&m.by, 64) {
        return Err("`by` must name the staff member (1-64 printable characters)".into());
    }
    Ok(m)
}

/// A staff line as it will be said: trimmed, 1 to [`MAX_SAY_CHARS`]
/// characters, no control characters but line breaks (the bus and the web
/// dashboard check it the same way).
pub fn say_text(text: &str) -> Result<String, String> {
    let text = text.trim().replace("\r\n", "\n");
    if text.is_empty() || text.chars().count() > MAX_SAY_CHARS || text.chars().any(|c| c.is_control() && c != '\n') {
        return Err(format!("`say` needs `text` of 1-{MAX_SAY_CHARS} characters without control characters"));
    }
    Ok(text)
}

/// Validates a `cmd` payload. `now_ms` and `max_age_ms` refuse stale commands
/// (sent long ago and delivered now).
pub fn parse_command(payload: &[u8], now_ms: i64, max_age_ms: i64) -> Result<StaffCommand, String> {
    let m = parse_incoming(payload)?;
    let at_ms = parse_utc(&m.t).ok_or_else(|| format!("`t` {:?} is not an RFC 3339 UTC time", m.t))?;
    if now_ms - at_ms > max_age_ms {
        return Err(format!("stale: sent {} s ago (bus.cmd_max_age_s = {})", (now_ms - at_ms) / 1000, max_age_ms / 1000));
    }
    if m.alert.is_some() {
        return Err("`alert` belongs on the ack topic, not in a command".into());
    }
    let action = match m.kind.as_str() {
        "pause" | "resume" | "stop" if m.text.is_some() || m.crisis_aware.is_some() => {
            return Err(format!("`{}` takes no `text` or `crisis_aware`", m.kind));
        }
        "pause" => Action::Pause,
        "resume" => Action::Resume,
        "stop" => Action::Stop,
        "say" => Action::Say { text: say_text(&m.text.unwrap_or_default())?, crisis_aware: m.crisis_aware.unwrap_or(false) },
        other => return Err(format!("unknown command kind {other:?} (pause, resume, stop, say)")),
    };
    Ok(StaffCommand { id: m.id, by: m.by, at_ms, action })
}

/// Validates an `ack` payload.
pub fn parse_ack(payload: &[u8]) -> Result<AlertAck, String> {
    let m = parse_incoming(payload)?;
    if m.kind != "alert_ack" {
        return Err(format!("kind {:?} on the ack topic (expected \"alert_ack\")", m.kind));
    }
    let at_ms = parse_utc(&m.t).ok_or_else(|| format!("`t` {:?} is not an RFC 3339 UTC time", m.t))?;
    let alert = m.alert.filter(|a| short_str_ok(a, 128)).ok_or("`alert` must name the alert id")?;
    Ok(AlertAck { id: m.id, alert, by: m.by, at_ms })
}

/// What a turn does with a queued staff line, given the crisis layer's view
/// of the participant's words on that turn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SayDecision {
    /// The staff line is the robot's reply.
    Speak,
    /// The crisis protocol reply is due on this turn; the line waits for the next one.
    Hold,
    /// Crisis state is active and the line is not marked crisis-aware: refused.
    Refuse,
}

/// Design: the crisis layer always wins. A turn whose reply is the crisis
/// protocol text keeps it (a staff line can never displace the crisis
/// resource); while crisis state is active only lines marked `crisis_aware`
/// are spoken (e.g. "A member of our team is coming to sit with you now."),
/// others are refused and staff are told on the bus, rather than held, so an
/// out-of-context line is not spoken minutes later.
pub fn decide_say(crisis_aware: bool, protocol_reply_due: bool, crisis_active: bool) -> SayDecision {
    if protocol_reply_due {
        if crisis_aware {
            SayDecision::Hold
        } else {
            SayDecision::Refuse
        }
    } else if crisis_active && !crisis_aware {
        SayDecision::Refuse
    } else {
        SayDecision::Speak
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cmd(kind: &str, extra: &str, t: &str) -> Vec<u8> {
        format!(r#"{{"v":1,"id":"c1","kind":"{kind}","t":"{t}","by":"dr.lee"{extra}}}"#).into_bytes()
    }

    #[test]
    fn utc_round_trips_and_matches_known_dates() {
        assert_eq!(utc(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(utc(951_782_400_123), "2000-02-29T00:00:00.123Z");
        assert_eq!(utc(1_796_138_400_000), "2026-12-01T15:20:00.000Z");
        for ms in [0, 1, 951_782_400_123, 1_796_138_400_999, 4_102_444_800_000] {
            assert_eq!(parse_utc(&utc(ms)), Some(ms));
        }
        assert_eq!(parse_utc("2026-12-01T15:20:00Z"), Some(1_796_138_400_000));
        assert_eq!(parse_utc("yesterday"), None);
        assert_eq!(parse_utc("2026-13-01T00:00:00Z"), None);
    }

    #[test]
    fn a_say_command_parses_with_its_line_and_flag() {
        let now = 1_796_138_400_000;
        let c = parse_command(&cmd("say", r#","text":"  Hello there. ","crisis_aware":true"#, &utc(now)), now, 60_000).unwrap();
        assert_eq!(c.by, "dr.lee");
        assert_eq!(c.action, Action::Say { text: "Hello there.".into(), crisis_aware: true });
    }

    #[test]
    fn malformed_unknown_stale_and_oversized_commands_are_refused_with_a_reason() {
        let now = 1_796_138_400_000;
        let t = utc(now);
        assert!(parse_command(b"{not json", now, 60_000).unwrap_err().contains("not a valid message"));
        assert!(parse_command(&cmd("reboot", "", &t), now, 60_000).unwrap_err().contains("unknown command"));
        assert!(parse_command(&cmd("say", "", &t), now, 60_000).unwrap_err().contains("text"));
        assert!(parse_command(&cmd("pause", r#","text":"x""#, &t), now, 60_000).unwrap_err().contains("takes no"));
        assert!(parse_command(&cmd("pause", r#","sudo":true"#, &t), now, 60_000).unwrap_err().contains("sudo"));
        assert!(parse_command(&cmd("stop", "", &utc(now - 120_000)), now, 60_000).unwrap_err().contains("stale"));
        let big = cmd("say", &format!(r#","text":"{}""#, "a".repeat(1 << 20)), &t);
        assert!(parse_command(&big, now, 60_000).unwrap_err().contains("limit"));
        let nobody = format!(r#"{{"v":1,"id":"c1","kind":"stop","t":"{t}","by":" "}}"#);
        assert!(parse_command(nobody.as_bytes(), now, 60_000).unwrap_err().contains("by"));
    }

    #[test]
    fn an_ack_needs_the_alert_id_and_its_kind() {
        let t = utc(5);
        let ok = format!(r#"{{"v":1,"id":"a1","kind":"alert_ack","t":"{t}","by":"sam","alert":"x-1"}}"#);
        assert_eq!(parse_ack(ok.as_bytes()).unwrap(), AlertAck { id: "a1".into(), alert: "x-1".into(), by: "sam".into(), at_ms: 5 });
        let no_alert = format!(r#"{{"v":1,"id":"a1","kind":"alert_ack","t":"{t}","by":"sam"}}"#);
        assert!(parse_ack(no_alert.as_bytes()).is_err());
        let wrong = format!(r#"{{"v":1,"id":"a1","kind":"stop","t":"{t}","by":"sam","alert":"x"}}"#);
        assert!(parse_ack(wrong.as_bytes()).is_err());
    }

    #[test]
    fn the_crisis_layer_always_wins_over_a_staff_line() {
        assert_eq!(decide_say(false, false, false), SayDecision::Speak);
        assert_eq!(decide_say(false, true, true), SayDecision::Refuse);
        assert_eq!(decide_say(true, true, true), SayDecision::Hold);
        assert_eq!(decide_say(false, false, true), SayDecision::Refuse);
        assert_eq!(decide_say(true, false, true), SayDecision::Speak);
    }

    #[test]
    fn the_envelope_carries_version_id_kind_time_and_fields() {
        let v = envelope("i-1", "turn_finished", 0, "lab", "r1", json!({"turn": 3}));
        assert_eq!(v["v"], 1);
        assert_eq!(v["id"], "i-1");
        assert_eq!(v["kind"], "turn_finished");
        assert_eq!(v["t"], "1970-01-01T00:00:00.000Z");
        assert_eq!(v["turn"], 3);
        assert_eq!(v["robot"], "r1");
    }
}
