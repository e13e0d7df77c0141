//! Staff pages: sign-in (argon2id, rate-limited, CSRF-checked), the
//! dashboard (live sessions, crisis alerts with acknowledgement, schedule and
//! adherence per participant, per-arm summary) kept current over SSE, session
//! transcripts (role-checked) and the export download. Every staff action
//! is audited in the session store (`events.kind = 'staff_web'`).

use super::db::{Role, StaffSession};
use super::pages::{self, AlertView, ArmView, DashLive, Dashboard, PartView, SessionRow, TurnView};
use super::{App, PageError};
use axum::extract::{ConnectInfo, Form, Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use rusqlite::OptionalExtension;
use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

const COOKIE: &str = "attune_staff";
const LOGIN_COOKIE: &str = "attune_login";

pub fn routes() -> Router<Arc<App>> {
    Router::new()
        .route("/staff/login", get(login_page).post(login))
        .route("/staff/logout", post(logout))
        .route("/staff", get(dashboard))
        .route("/staff/live", get(live))
        .route("/staff/alerts/{id}/ack", post(ack))
        .route("/staff/session/{id}", get(session_page))
        .route("/staff/session/{id}/command", post(session_command))
        .route("/staff/session/{id}/timeline.svg", get(super::timeline::svg))
        .route("/staff/export", post(export))
        .route("/staff/doctor", get(doctor))
        .route("/staff/exports/{name}", get(export_list))
        .route("/staff/exports/{name}/{file}", get(export_file))
}

fn ttl_ms(app: &App) -> (i64, i64) {
    (app.cfg.session_idle_minutes as i64 * 60_000, app.cfg.session_max_hours as i64 * 3_600_000)
}

/// The signed-in staff member, or a redirect to the sign-in page.
pub fn signed_in(app: &App, headers: &HeaderMap) -> Result<StaffSession, Response> {
    staff(app, headers)
}

/// The signed-in staff member, or a redirect to the sign-in page.
fn staff(app: &App, headers: &HeaderMap) -> Result<StaffSession, Response> {
    let (ttl, max) = ttl_ms(app);
    let s = super::cookie(headers, COOKIE).and_then(|id| app.web(|w| w.staff_session(&id, ttl, max)).ok().flatten());
    s.ok_or_else(|| Redirect::to("/staff/login").into_response())
}

fn forbidden_form() -> PageError {
    PageError::new(
        StatusCode::FORBIDDEN,
        "This form has expired",
        "The request did not carry this session's security token, so nothing was done. Reload the page and try again.",
    )
}

fn check_csrf(s: &StaffSession, given: Option<&str>) -> Result<(), PageError> {
    match given {
        Some(g) if super::same(g, &s.csrf) => Ok(()),
        _ => Err(forbidden_form()),
    }
}

fn secure_flag(app: &App) -> &'static str {
    if app.cfg.base_url.starts_with("https://") {
        "; Secure"
    } else {
        ""
    }
}

async fn login_page(State(app): State<Arc<App>>) -> Result<Response, PageError> {
    let token = super::db::random_hex()?;
    let page = pages::LoginPage { csrf: token.clone(), error: None };
    let cookie = format!("{LOGIN_COOKIE}={token}; HttpOnly; SameSite=Strict; Path=/staff/login{}", secure_flag(&app));
    Ok(([(header::SET_COOKIE, cookie)], pages::render(&page)).into_response())
}

#[derive(serde::Deserialize)]
struct LoginForm {
    username: String,
    password: String,
    csrf: Option<String>,
}

/// Failed sign-ins within the window for a key; prunes old ones.
fn failures(app: &App, key: &str, now: i64) -> usize {
    let window = app.cfg.login_window_minutes as i64 * 60_000;
    let mut g = app.failures.lock().unwrap_or_else(|p| p.into_inner());
    let v = g.entry(key.to_string()).or_default();
    v.retain(|t| now - t < window);
    v.len()
}

fn note_failure(app: &App, keys: &[String], now: i64) {
    let mut g = app.failures.lock().unwrap_or_else(|p| p.into_inner());
    for k in keys {
        g.entry(k.clone()).or_default().push(now);
    }
}

async fn login(State(app): State<Arc<App>>, ConnectInfo(addr): ConnectInfo<SocketAddr>, headers: HeaderMap, Form(f): Form<LoginForm>) -> Result<Response, PageError> {
    let fail = |status: StatusCode, msg: &str| -> Result<Response, PageError> {
        let token = super::db::random_hex()?;
        let cookie = format!("{LOGIN_COOKIE}={token}; HttpOnly; SameSite=Strict; Path=/staff/login{}", secure_flag(&app));
        let page = pages::LoginPage { csrf: token, error: Some(msg.to_string()) };
        Ok((status, [(header::SET_COOKIE, cookie)], pages::render(&page)).into_response())
    };
    // Double-submit CSRF on the sign-in form: the cookie set with the form must come back with it.
    let ok_csrf = matches!((super::cookie(&headers, LOGIN_COOKIE), f.csrf.as_deref()), (Some(c), Some(g)) if super::same(&c, g));
    if !ok_csrf {
        return fail(StatusCode::FORBIDDEN, "This sign-in form has expired. Please try again.");
    }
    let user = f.username.trim().to_string();
    let now = crate::store::now_ms();
    let keys = [format!("user:{}", user.to_lowercase()), format!("addr:{}", addr.ip())];
    let max = app.cfg.login_max_failures as usize;
    if keys.iter().any(|k| failures(&app, k, now) >= max) {
        app.audit(&user, "login_locked", serde_json::json!({"addr": addr.ip().to_string()}));
        let msg = format!("Too many failed sign-ins. Signing in is locked for up to {} minutes; ask an administrator if this was not you.", app.cfg.login_window_minutes);
        return fail(StatusCode::TOO_MANY_REQUESTS, &msg);
    }
    let phc = app.web(|w| w.user_phc(&user))?;
    let pw = f.password;
    // Design: an unknown account costs the same argon2 work as a known one,
    // so timing does not tell which accounts exist.
    let check = phc.clone().unwrap_or_else(|| app.dummy_phc.clone());
    let good = tokio::task::spawn_blocking(move || super::db::verify_password(&check, &pw)).await.map_err(anyhow::Error::from)?;
    if !good || phc.is_none() {
        note_failure(&app, &keys, now);
        app.audit(&user, "login_failed", serde_json::json!({"addr": addr.ip().to_string()}));
        return fail(StatusCode::UNAUTHORIZED, "That user name and password do not match.");
    }
    app.failures.lock().unwrap_or_else(|p| p.into_inner()).remove(&keys[0]);
    let (ttl, _) = ttl_ms(&app);
    let id = app.web(|w| w.new_staff_session(&user, ttl))?;
    app.audit(&user, "login", serde_json::json!({"addr": addr.ip().to_string()}));
    let cookie = format!("{COOKIE}={id}; HttpOnly; SameSite=Strict; Path=/{}", secure_flag(&app));
    Ok(([(header::SET_COOKIE, cookie)], Redirect::to("/staff")).into_response())
}

#[derive(serde::Deserialize)]
struct CsrfForm {
    csrf: Option<String>,
}

async fn logout(State(app): State<Arc<App>>, headers: HeaderMap, Form(f): Form<CsrfForm>) -> Result<Response, Response> {
    let s = staff(&app, &headers)?;
    check_csrf(&s, f.csrf.as_deref()).map_err(IntoResponse::into_response)?;
    if let Some(id) = super::cookie(&headers, COOKIE) {
        app.web(|w| w.end_staff_session(&id)).map_err(|e| PageError::internal(e).into_response())?;
    }
    app.audit(&s.user, "logout", serde_json::json!({}));
    let cookie = format!("{COOKIE}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0{}", secure_flag(&app));
    Ok(([(header::SET_COOKIE, cookie)], Redirect::to("/staff/login")).into_response())
}

/// Whether this staff member may read transcript text.
fn may_read_text(app: &App, s: &StaffSession) -> anyhow::Result<bool> {
    Ok(match s.role {
        Role::Staff => true,
        Role::Researcher => crate::study::Study::open(&app.dir)?.protocol.retention.researcher_transcripts,
    })
}

fn utc(ms: i64) -> String {
    crate::bus::message::utc(ms)
}

/// Everything the live part of the dashboard shows, read from the stores.
fn dash_live(app: &App, s: &StaffSession) -> anyhow::Result<DashLive> {
    let c = app.store_ro()?;
    let text_ok = may_read_text(app, s)?;
    let mut st = c.prepare(
        "SELECT s.id, s.participant, s.day, s.arm, s.started_at_ms, s.crisis_active,
                (SELECT COUNT(*) FROM turns t WHERE t.session_id = s.id),
                (SELECT risk FROM turns t WHERE t.session_id = s.id ORDER BY idx DESC LIMIT 1),
                (SELECT total_ms FROM turns t WHERE t.session_id = s.id AND status = 'complete' ORDER BY idx DESC LIMIT 1),
                (SELECT COUNT(*) FROM turns t WHERE t.session_id = s.id AND status = 'pending'),
                (SELECT CASE WHEN json_valid(e.payload) THEN json_extract(e.payload, '$.kind') END FROM events e
                  WHERE e.session_id = s.id AND e.kind = 'staff_command'
                    AND CASE WHEN json_valid(e.payload) THEN json_extract(e.payload, '$.kind') END IN ('pause', 'resume')
                  ORDER BY e.id DESC LIMIT 1)
         FROM sessions s WHERE s.ended_at_ms IS NULL ORDER BY s.id DESC LIMIT 100",
    )?;
    let sessions = st
        .query_map([], |r| {
            Ok(SessionRow {
                id: r.get(0)?,
                participant: r.get(1)?,
                day: r.get(2)?,
                arm: r.get(3)?,
                started: utc(r.get(4)?),
                crisis: r.get::<_, i64>(5)? != 0,
                turns: r.get(6)?,
                risk: r.get::<_, Option<String>>(7)?.unwrap_or_else(|| "none".into()),
                latency_ms: r.get::<_, Option<i64>>(8)?.map(|v| v.to_string()).unwrap_or_else(|| "\u{2014}".into()),
                // Paused as the session's staff desk audited it (bus or dashboard).
                state: if r.get::<_, Option<String>>(10)?.as_deref() == Some("pause") {
                    "paused".into()
                } else if r.get::<_, i64>(9)? > 0 {
                    "replying".into()
                } else {
                    "listening".into()
                },
                link: text_ok,
            })
        })?
        .collect::<Result<Vec<_>, _>>()?;
    drop(st);
    // Acknowledgements as the bus records them: `alert_acked` events (who, when).
    let mut acks: HashMap<String, (String, String)> = HashMap::new();
    {
        let mut st = c.prepare("SELECT payload FROM events WHERE kind = 'alert_acked' ORDER BY id")?;
        for p in st.query_map([], |r| r.get::<_, String>(0))? {
            let v: serde_json::Value = serde_json::from_str(&p?).unwrap_or_default();
            if let (Some(a), Some(by)) = (v["alert"].as_str(), v["by"].as_str()) {
                acks.entry(a.to_string()).or_insert((by.to_string(), v["acked_at"].as_str().unwrap_or("").to_string()));
            }
        }
    }
    let mut st = c.prepare(
        "SELECT e.id, e.session_id, e.turn_idx, e.at_ms, e.payload, s.participant, s.day, s.arm,
                (SELECT b.alert_id FROM bus_alerts b WHERE b.session_id = e.session_id AND b.turn_idx = e.turn_idx LIMIT 1)
         FROM events e LEFT JOIN sessions s ON s.id = e.session_id WHERE e.kind = 'staff_alert' ORDER BY e.id DESC LIMIT 50",
    )?;
    let alerts = st
        .query_map([], |r| {
            let eid: i64 = r.get(0)?;
            let payload: String = r.get(4)?;
            let bus: Option<String> = r.get(8)?;
            Ok((eid, r.get::<_, Option<i64>>(1)?, r.get::<_, Option<i64>>(2)?, r.get::<_, i64>(3)?, payload, r.get::<_, Option<String>>(5)?, r.get::<_, Option<i64>>(6)?, r.get::<_, Option<String>>(7)?, bus))
        })?
        .collect::<Result<Vec<_>, _>>()?
        .into_iter()
        .map(|(eid, session, turn, at, payload, part, day, arm, bus)| {
            let v: serde_json::Value = serde_json::from_str(&payload).unwrap_or_default();
            let id = bus.unwrap_or_else(|| format!("ev-{eid}"));
            let ack = acks.get(&id).cloned();
            AlertView {
                risk: v["risk"].as_str().unwrap_or("high").to_string(),
                signals: v["signals"].as_array().map(|a| a.iter().filter_map(|x| x.as_str()).collect::<Vec<_>>().join(", ")).unwrap_or_default(),
                participant: part.or_else(|| v["participant"].as_str().map(String::from)).unwrap_or_default(),
                day: day.unwrap_or(0) as u32,
                arm: arm.unwrap_or_default(),
                session: session.unwrap_or(0),
                turn: turn.unwrap_or(0),
                at: utc(at),
                acked_by: ack.as_ref().map(|a| a.0.clone()),
                acked_at: ack.map(|a| a.1).unwrap_or_default(),
                can_ack: s.role == Role::Staff,
                id,
            }
        })
        .collect();
    drop(st);
    let (participants, arms) = schedule(app, &c)?;
    Ok(DashLive { csrf: s.csrf.clone(), sessions, alerts, participants, arms })
}

/// Schedule, adherence and distress per participant; per-arm summary.
fn schedule(app: &App, c: &rusqlite::Connection) -> anyhow::Result<(Vec<PartView>, Vec<ArmView>)> {
    let s = crate::study::Study::open(&app.dir)?;
    let p = &s.protocol;
    let now = crate::store::now_ms();
    let answers = s.answers()?;
    let distress = p.distress().map(|q| q.id.clone());
    let mut out = Vec::new();
    for part in s.participants()? {
        let days = s.days(Some(&part.id))?;
        let done = days.len() as u32;
        let elapsed = ((now - part.enrolled_at_ms).max(0) / 86_400_000) as u32;
        let due = (elapsed + 1).min(p.study.days);
        let complete = days.iter().filter(|d| p.arm(&d.arm).map(|a| a.medium == crate::study::protocol::Medium::Worksheet).unwrap_or(false) || d.turns >= p.session.min_turns).count() as u32;
        let adherence = if done > 0 || part.status == "active" { complete as f64 / due.max(done).max(1) as f64 } else { 0.0 };
        // One cell per study day: done (complete / short), due and missed, upcoming.
        let cells = (1..=p.study.days)
            .map(|d| {
                let class = match days.iter().find(|r| r.day == d) {
                    Some(r) if p.arm(&r.arm).map(|a| a.medium == crate::study::protocol::Medium::Worksheet).unwrap_or(false) || r.turns >= p.session.min_turns => "done",
                    Some(_) => "short",
                    None if d <= due && part.status == "active" => "missed",
                    None => "upcoming",
                };
                pages::Cell { x: (d - 1) * 12, class: class.into(), title: format!("day {d}: {class}") }
            })
            .collect();
        // Distress total per day it was answered (the protocol's distress instrument).
        let mut by_day: std::collections::BTreeMap<u32, i64> = Default::default();
        if let Some(q) = &distress {
            for a in answers.iter().filter(|a| a.participant == part.id && &a.instrument == q) {
                *by_day.entry(a.day).or_default() += a.value;
            }
        }
        let maxv = p.distress().map(|q| q.scale.max * q.items.len() as i64).unwrap_or(1).max(1);
        let points = by_day.iter().map(|(d, v)| format!("{},{}", (d - 1) * 12 + 5, 30 - (v * 28 / maxv))).collect::<Vec<_>>().join(" ");
        let alerts: i64 = c.query_row(
            "SELECT COUNT(*) FROM events e JOIN sessions s ON e.session_id = s.id WHERE s.participant = ?1 AND e.kind = 'staff_alert'",
            [&part.id],
            |r| r.get(0),
        )?;
        let in_crisis = c
            .query_row("SELECT crisis_active FROM sessions WHERE participant = ?1 ORDER BY id DESC LIMIT 1", [&part.id], |r| r.get::<_, i64>(0))
            .optional()?
            .unwrap_or(0)
            != 0;
        out.push(PartView {
            id: part.id.clone(),
            arm: part.arm.clone(),
            status: part.status.clone(),
            done,
            next: if part.status != "active" || done >= p.study.days { "\u{2014}".into() } else { (done + 1).to_string() },
            adherence: format!("{:.0}%", adherence * 100.0),
            adherence_v: adherence,
            cells,
            width: p.study.days * 12,
            distress_points: points,
            distress_n: by_day.len(),
            alerts,
            in_crisis,
        });
    }
    let arms = p
        .arms
        .iter()
        .map(|a| {
            let ps: Vec<&PartView> = out.iter().filter(|x| x.arm == a.name).collect();
            let n = ps.len();
            ArmView {
                name: a.name.clone(),
                medium: a.medium.as_str().to_string(),
                participants: n,
                days: ps.iter().map(|x| x.done).sum(),
                adherence: if n == 0 { "\u{2014}".into() } else { format!("{:.0}%", ps.iter().map(|x| x.adherence_v).sum::<f64>() / n as f64 * 100.0) },
                alerts: ps.iter().map(|x| x.alerts).sum(),
            }
        })
        .collect();
    Ok((out, arms))
}

async fn dashboard(State(app): State<Arc<App>>, headers: HeaderMap) -> Result<Response, Response> {
    let s = staff(&app, &headers)?;
    let live = dash_live(&app, &s).map_err(|e| PageError::internal(e).into_response())?;
    let study = crate::study::Study::open(&app.dir).map_err(|e| PageError::internal(e).into_response())?;
    let page = Dashboard {
        user: s.user.clone(),
        role: s.role.as_str().to_string(),
        csrf: s.csrf.clone(),
        study: study.protocol.study.id.clone(),
        site: study.protocol.study.site.clone(),
        robot: study.protocol.study.robot.clone(),
        live_html: pages::render_string(&live),
    };
    Ok(pages::render(&page).into_response())
}

/// A cheap fingerprint of what the dashboard shows; it changes whenever a
/// turn, an event (alert, ack, session start/end) or a study day is written.
fn version(app: &App) -> anyhow::Result<(i64, i64, i64, i64, i64)> {
    let c = app.store_ro()?;
    let (a, b, d, e) = c.query_row(
        "SELECT (SELECT IFNULL(MAX(id),0) FROM events), (SELECT IFNULL(MAX(id),0) FROM turns),
                (SELECT IFNULL(SUM(LENGTH(reply)),0) FROM turns WHERE status = 'pending'), (SELECT COUNT(*) FROM sessions WHERE ended_at_ms IS NULL)",
        [],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
    )?;
    let sdb = rusqlite::Connection::open_with_flags(app.dir.join("study.db"), rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    let f: i64 = sdb.query_row("SELECT (SELECT COUNT(*) FROM study_sessions) + (SELECT COUNT(*) FROM participants)", [], |r| r.get(0))?;
    Ok((a, b, d, e, f))
}

async fn live(State(app): State<Arc<App>>, headers: HeaderMap) -> Result<Response, Response> {
    let s = staff(&app, &headers)?;
    let cookie = super::cookie(&headers, COOKIE).unwrap_or_default();
    let poll = std::time::Duration::from_millis(app.cfg.dashboard_poll_ms);
    // Design: the dashboard polls the store (every `dashboard_poll_ms`), not
    // this process's memory, so sessions and alerts of every process on the
    // study (a voice arm in the next room, `attune chat`) show up too.
    type St = (Arc<App>, StaffSession, String, Option<(i64, i64, i64, i64, i64)>, bool, bool);
    let init: St = (app, s, cookie, None, true, false);
    let stream = futures_util::stream::unfold(init, move |(app, s, cookie, last, first, done)| async move {
        if done {
            return None;
        }
        loop {
            if !first {
                tokio::time::sleep(poll).await;
            }
            let (ttl, max) = ttl_ms(&app);
            let still = app.web(|w| w.staff_session(&cookie, ttl, max)).ok().flatten().is_some();
            if !still {
                // The page goes to the sign-in form; the stream ends.
                return Some((Ok::<_, Infallible>(Event::default().event("expired").data("")), (app, s, cookie, last, false, true)));
            }
            let v = match version(&app) {
                Ok(v) => v,
                Err(e) => {
                    tracing::warn!("dashboard poll: {e:#}");
                    continue;
                }
            };
            if Some(v) == last && !first {
                continue;
            }
            match dash_live(&app, &s) {
                // SSE data cannot carry a carriage return (axum panics on one).
                Ok(d) => return Some((Ok(Event::default().event("dash").data(pages::render_string(&d).replace('\r', ""))), (app, s, cookie, Some(v), false, false))),
                Err(e) => {
                    tracing::warn!("dashboard render: {e:#}");
                    continue;
                }
            }
        }
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()).into_response())
}

/// What an acknowledgement did.
#[derive(Debug, PartialEq)]
pub enum Acked {
    /// Stored now.
    Stored,
    /// Someone acknowledged it first.
    Already { by: String },
    /// No such alert.
    Unknown,
}

/// Acknowledges an alert as the bus does: `bus_alerts` (for alerts raised on
/// the bus, which stops their repeats) and an `alert_acked` event with who
/// and when; the first acknowledgement wins.
pub fn acknowledge(app: &App, alert: &str, by: &str) -> anyhow::Result<Acked> {
    let store = app.store.lock().unwrap_or_else(|p| p.into_inner());
    let now = crate::store::now_ms();
    let ro = app.store_ro()?;
    let already: Option<String> = {
        let mut st = ro.prepare("SELECT payload FROM events WHERE kind = 'alert_acked' ORDER BY id")?;
        let rows = st.query_map([], |r| r.get::<_, String>(0))?.collect::<Result<Vec<_>, _>>()?;
        rows.into_iter().find_map(|p| {
            let v: serde_json::Value = serde_json::from_str(&p).ok()?;
            (v["alert"].as_str() == Some(alert)).then(|| v["by"].as_str().unwrap_or("").to_string())
        })
    };
    if let Some(by0) = already {
        return Ok(Acked::Already { by: by0 });
    }
    let ack_id = crate::bus::new_id();
    let (session, turn) = if let Some(eid) = alert.strip_prefix("ev-") {
        let Ok(eid) = eid.parse::<i64>() else { return Ok(Acked::Unknown) };
        let r: Option<(Option<i64>, Option<i64>)> =
            ro.query_row("SELECT session_id, turn_idx FROM events WHERE id = ?1 AND kind = 'staff_alert'", [eid], |r| Ok((r.get(0)?, r.get(1)?))).optional()?;
        match r {
            Some(x) => x,
            None => return Ok(Acked::Unknown),
        }
    } else {
        let c = crate::bus::outbox::connect(&app.dir.join("sessions.db"))?;
        match crate::bus::outbox::ack(&c, alert, by, now, &ack_id)? {
            crate::bus::outbox::AckOutcome::Stored { session, turn } => (session, turn),
            crate::bus::outbox::AckOutcome::Already { by, .. } => return Ok(Acked::Already { by }),
            crate::bus::outbox::AckOutcome::Unknown => return Ok(Acked::Unknown),
        }
    };
    store.event(
        session,
        turn.map(|t| t as u64),
        "alert_acked",
        &serde_json::json!({"alert": alert, "by": by, "acked_at": utc(now), "ack_id": ack_id, "via": "web"}),
    )?;
    Ok(Acked::Stored)
}

async fn ack(State(app): State<Arc<App>>, headers: HeaderMap, Path(id): Path<String>, Form(f): Form<CsrfForm>) -> Result<Response, Response> {
    let s = staff(&app, &headers)?;
    check_csrf(&s, f.csrf.as_deref()).map_err(IntoResponse::into_response)?;
    if s.role != Role::Staff {
        app.audit(&s.user, "alert_ack_refused", serde_json::json!({"alert": id, "reason": "researcher role"}));
        return Err(PageError::new(StatusCode::FORBIDDEN, "Not allowed", "Only staff accounts acknowledge crisis alerts.").into_response());
    }
    let r = acknowledge(&app, &id, &s.user).map_err(|e| PageError::internal(e).into_response())?;
    app.audit(&s.user, "alert_ack", serde_json::json!({"alert": id, "outcome": format!("{r:?}")}));
    match r {
        Acked::Unknown => Err(PageError::new(StatusCode::NOT_FOUND, "No such alert", "There is no alert with this id.").into_response()),
        _ => Ok(Redirect::to("/staff").into_response()),
    }
}

/// The live web chat of this server running store session `id`, if any.
fn live_of(app: &App, id: i64) -> Option<Arc<super::live::Live>> {
    app.lives.lock().unwrap_or_else(|p| p.into_inner()).values().find(|l| l.session_id() == Some(id)).cloned()
}

#[derive(serde::Deserialize)]
struct CommandForm {
    csrf: Option<String>,
    kind: String,
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    crisis_aware: Option<String>,
}

/// Pause, resume, stop or a staff line for a live chat of this server: sent
/// into the session's staff desk, the same path (and audit) as a bus command.
async fn session_command(State(app): State<Arc<App>>, headers: HeaderMap, Path(id): Path<i64>, Form(f): Form<CommandForm>) -> Result<Response, Response> {
    use crate::bus::message::Action;
    let s = staff(&app, &headers)?;
    check_csrf(&s, f.csrf.as_deref()).map_err(IntoResponse::into_response)?;
    if s.role != Role::Staff {
        app.audit(&s.user, "session_command_refused", serde_json::json!({"session": id, "kind": f.kind, "reason": "researcher role"}));
        return Err(PageError::new(StatusCode::FORBIDDEN, "Not allowed", "Only staff accounts pause, stop or speak in a session.").into_response());
    }
    let action = match f.kind.as_str() {
        "pause" => Action::Pause,
        "resume" => Action::Resume,
        "stop" => Action::Stop,
        "say" => match crate::bus::message::say_text(f.text.as_deref().unwrap_or("")) {
            Ok(text) => Action::Say { text, crisis_aware: matches!(f.crisis_aware.as_deref(), Some("true" | "on" | "1")) },
            Err(_) => {
                let n = f.text.as_deref().unwrap_or("").trim().chars().count();
                let msg = format!(
                    "A staff line must be 1 to {} characters of text without control characters (this one has {n}). Nothing was sent.",
                    crate::bus::message::MAX_SAY_CHARS
                );
                return Err(PageError::new(StatusCode::UNPROCESSABLE_ENTITY, "The line was not sent", msg).into_response());
            }
        },
        other => {
            return Err(PageError::new(StatusCode::BAD_REQUEST, "Unknown command", format!("{other:?} is not a session command (pause, resume, stop, say).")).into_response());
        }
    };
    let kind = action.kind();
    let Some(live) = live_of(&app, id) else {
        app.audit(&s.user, "session_command_refused", serde_json::json!({"session": id, "kind": kind, "reason": "not a live chat of this server"}));
        return Err(PageError::new(
            StatusCode::CONFLICT,
            "This session is not a live chat here",
            "It has ended, or it runs in another process (a robot or voice arm, or attune chat): send commands to those over the bus with `attune bus cmd`. Nothing was sent.",
        )
        .into_response());
    };
    match live.command(&s.user, action) {
        Ok(cmd) => {
            app.audit(&s.user, "session_command", serde_json::json!({"session": id, "kind": kind, "command": cmd}));
            Ok(Redirect::to(&format!("/staff/session/{id}?sent={kind}")).into_response())
        }
        Err(e) => {
            app.audit(&s.user, "session_command_refused", serde_json::json!({"session": id, "kind": kind, "reason": e.to_string()}));
            Err(PageError::new(StatusCode::CONFLICT, "The command was not sent", format!("{}: {e}. Nothing was sent.", kind)).into_response())
        }
    }
}

/// Which of the session page's Pause and Resume buttons are live, as
/// `(pause, resume)`.
///
/// Design: a command is applied by the session runner between turns, after
/// the redirect that shows the page; a page rendered from the desk's state
/// alone then offered a disabled Resume right after "Pause sent", until a
/// reload (found by the browser test under load: its Resume click did
/// nothing). A page that followed only what was sent went stale the other
/// way: reloading "?sent=pause" after a resume over the bus kept Pause off
/// while the state line said "Running.". So a button is off only when the
/// desk's state *and* the command just sent both make it pointless.
pub(crate) fn controls_live(sent: Option<&str>, paused: bool) -> (bool, bool) {
    let pause = !paused || sent == Some("resume");
    let resume = paused || sent == Some("pause");
    (pause, resume)
}

fn sent_notice(kind: &str) -> Option<String> {
    Some(
        match kind {
            "pause" => "Pause sent: the session holds before its next turn, and the participant sees that it is paused.",
            "resume" => "Resume sent: the session continues.",
            "stop" => "Stop sent: the session ends after the turn in progress.",
            "say" => "Staff line queued: it is the robot's reply to the participant's next message (unless the crisis protocol applies).",
            _ => return None,
        }
        .to_string(),
    )
}

async fn session_page(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Path(id): Path<i64>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, Response> {
    let s = staff(&app, &headers)?;
    let err = |e: anyhow::Error| PageError::internal(e).into_response();
    if !may_read_text(&app, &s).map_err(err)? {
        app.audit(&s.user, "transcript_refused", serde_json::json!({"session": id}));
        return Err(PageError::new(StatusCode::FORBIDDEN, "Transcripts are not shown to researchers", "This study's protocol does not let the researcher role read transcript text (retention.researcher_transcripts).").into_response());
    }
    let c = app.store_ro().map_err(err)?;
    let head: Option<(String, u32, String)> = c
        .query_row("SELECT participant, day, arm FROM sessions WHERE id = ?1", [id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .optional()
        .map_err(|e| err(e.into()))?;
    let Some((participant, day, arm)) = head else {
        return Err(PageError::new(StatusCode::NOT_FOUND, "No such session", "There is no session with this id.").into_response());
    };
    let mut st = c.prepare("SELECT idx, participant_text, reply, risk, source, status FROM turns WHERE session_id = ?1 ORDER BY idx").map_err(|e| err(e.into()))?;
    let turns = st
        .query_map([id], |r| Ok(TurnView { idx: r.get(0)?, user: r.get(1)?, reply: r.get(2)?, risk: r.get(3)?, source: r.get::<_, Option<String>>(4)?.unwrap_or_default(), status: r.get(5)? }))
        .and_then(|m| m.collect::<Result<Vec<_>, _>>())
        .map_err(|e| err(e.into()))?;
    let open: bool = c.query_row("SELECT ended_at_ms IS NULL FROM sessions WHERE id = ?1", [id], |r| r.get(0)).map_err(|e| err(e.into()))?;
    let timeline = super::timeline::available(&c, id).map_err(err)?;
    app.audit(&s.user, "transcript_view", serde_json::json!({"session": id, "participant": participant}));
    let live = live_of(&app, id);
    let st = live.as_ref().map(|l| l.staff_state()).unwrap_or_default();
    let page = pages::SessionPage {
        id,
        participant,
        day,
        arm,
        turns,
        csrf: s.csrf.clone(),
        controls: live.is_some() && s.role == Role::Staff,
        elsewhere: live.is_none() && open,
        paused: st.paused,
        live: controls_live(q.get("sent").map(String::as_str), st.paused),
        ended: live.as_ref().is_none_or(|l| l.ended()) || st.stopped,
        notice: q.get("sent").and_then(|k| sent_notice(k)),
        max_say: crate::bus::message::MAX_SAY_CHARS,
        timeline,
    };
    Ok(pages::render(&page).into_response())
}

/// `attune doctor --study DIR`, run as a child of this binary (the same
/// checklist a session start uses), its lines shown as text.
async fn doctor(State(app): State<Arc<App>>, headers: HeaderMap) -> Result<Response, Response> {
    let s = staff(&app, &headers)?;
    let exe = std::env::current_exe().map_err(|e| PageError::internal(e.into()).into_response())?;
    let out = tokio::process::Command::new(exe)
        .arg("doctor")
        .arg("--study")
        .arg(&app.dir)
        .output()
        .await
        .map_err(|e| PageError::internal(anyhow::Error::new(e).context("running attune doctor")).into_response())?;
    app.audit(&s.user, "doctor", serde_json::json!({"exit": out.status.code()}));
    // The checklist is stdout; stderr is library noise (ALSA probing) unless nothing else came.
    let text = if out.stdout.is_empty() { String::from_utf8_lossy(&out.stderr).into_owned() } else { String::from_utf8_lossy(&out.stdout).into_owned() };
    Ok(pages::render(&pages::DoctorPage { ok: out.status.success(), lines: text.lines().map(String::from).collect() }).into_response())
}

fn safe_name(s: &str) -> bool {
    !s.is_empty() && s.len() <= 128 && !s.starts_with('.') && s.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// Export files a role may download (researchers get no transcript tables unless the protocol allows).
fn may_download(text_ok: bool, file: &str) -> bool {
    text_ok || !file.starts_with("turns.")
}

async fn export(State(app): State<Arc<App>>, headers: HeaderMap, Form(f): Form<CsrfForm>) -> Result<Response, Response> {
    let s = staff(&app, &headers)?;
    check_csrf(&s, f.csrf.as_deref()).map_err(IntoResponse::into_response)?;
    let name = format!("web-{}", utc(crate::store::now_ms()).replace([':', '.'], "-"));
    let dir = app.dir.clone();
    let out = dir.join("exports").join(&name);
    let o2 = out.clone();
    let files = tokio::task::spawn_blocking(move || -> anyhow::Result<Vec<String>> {
        let files = crate::study::export::export(std::slice::from_ref(&dir), &o2)?;
        crate::study::Study::open(&dir)?.note_export(&o2)?;
        Ok(files)
    })
    .await
    .map_err(|e| PageError::internal(e.into()).into_response())?
    .map_err(|e| PageError::internal(e).into_response())?;
    app.audit(&s.user, "export", serde_json::json!({"folder": out.display().to_string(), "files": files.len()}));
    Ok(Redirect::to(&format!("/staff/exports/{name}")).into_response())
}

async fn export_list(State(app): State<Arc<App>>, headers: HeaderMap, Path(name): Path<String>) -> Result<Response, Response> {
    let s = staff(&app, &headers)?;
    let missing = || PageError::new(StatusCode::NOT_FOUND, "No such export", "There is no export with this name.").into_response();
    if !safe_name(&name) {
        return Err(missing());
    }
    let dir = app.dir.join("exports").join(&name);
    let text_ok = may_read_text(&app, &s).map_err(|e| PageError::internal(e).into_response())?;
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .map_err(|_| missing())?
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().map(|t| t.is_file()).unwrap_or(false))
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|f| safe_name(f) && may_download(text_ok, f))
        .collect();
    files.sort();
    Ok(pages::render(&pages::ExportPage { name, files }).into_response())
}

async fn export_file(State(app): State<Arc<App>>, headers: HeaderMap, Path((name, file)): Path<(String, String)>) -> Result<Response, Response> {
    let s = staff(&app, &headers)?;
    let missing = || PageError::new(StatusCode::NOT_FOUND, "No such file", "There is no such file in this export.").into_response();
    if !safe_name(&name) || !safe_name(&file) {
        return Err(missing());
    }
    let text_ok = may_read_text(&app, &s).map_err(|e| PageError::internal(e).into_response())?;
    if !may_download(text_ok, &file) {
        app.audit(&s.user, "export_download_refused", serde_json::json!({"export": name, "file": file}));
        return Err(PageError::new(StatusCode::FORBIDDEN, "Not allowed", "Transcript tables are not available to the researcher role in this study.").into_response());
    }
    let path = app.dir.join("exports").join(&name).join(&file);
    let bytes = std::fs::read(&path).map_err(|_| missing())?;
    app.audit(&s.user, "export_download", serde_json::json!({"export": name, "file": file}));
    let ct = match file.rsplit('.').next() {
        Some("csv") => "text/csv; charset=utf-8",
        Some("jsonl") => "application/x-ndjson",
        Some("json") => "application/json",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        _ => "application/octet-stream",
    };
    Ok(([(header::CONTENT_TYPE, ct.to_string()), (header::CONTENT_DISPOSITION, format!("attachment; filename=\"{file}\""))], bytes).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The session page as the redirect after a command shows it.
    fn session_page_html(sent: Option<&str>, paused: bool) -> String {
        use askama::Template;
        pages::SessionPage {
            id: 7,
            participant: "P1".into(),
            day: 1,
            arm: "chatbot".into(),
            turns: vec![],
            csrf: "c".into(),
            controls: true,
            elsewhere: false,
            paused,
            live: controls_live(sent, paused),
            ended: false,
            notice: sent.and_then(sent_notice),
            max_say: 100,
            timeline: false,
        }
        .render()
        .unwrap()
    }

    fn button_enabled(html: &str, id: &str) -> bool {
        let tag = html.split(&format!("id=\"{id}\"")).nth(1).and_then(|t| t.split('>').next()).unwrap_or_else(|| panic!("no button {id}"));
        !tag.contains("disabled")
    }

    #[test]
    fn right_after_pause_sent_resume_is_live_even_before_the_runner_applies_it() {
        // The runner applies a command between turns, after the redirect.
        let sent = session_page_html(Some("pause"), false);
        assert!(button_enabled(&sent, "resume"), "a pause just sent, not yet applied: Resume live");
        let resumed = session_page_html(Some("resume"), true);
        assert!(button_enabled(&resumed, "pause"), "a resume just sent, not yet applied: Pause live");
        // Otherwise the desk's state decides.
        assert!(button_enabled(&session_page_html(None, true), "resume"));
        assert!(!button_enabled(&session_page_html(None, true), "pause"));
        assert!(!button_enabled(&session_page_html(None, false), "resume"));
        assert!(button_enabled(&session_page_html(None, false), "pause"));
        assert!(button_enabled(&session_page_html(Some("say"), false), "pause"));
    }

    #[test]
    fn a_reloaded_command_page_never_disables_what_the_state_needs() {
        // "?sent=pause" reloaded after a resume over the bus: running, so
        // Pause must be live (the old rule kept it off).
        let stale = session_page_html(Some("pause"), false);
        assert!(button_enabled(&stale, "pause"), "running: Pause live whatever was sent");
        // "?sent=resume" reloaded after a pause over the bus.
        let stale = session_page_html(Some("resume"), true);
        assert!(button_enabled(&stale, "resume"), "paused: Resume live whatever was sent");
        // Applied: the pointless button is off.
        let applied = session_page_html(Some("pause"), true);
        assert!(button_enabled(&applied, "resume") && !button_enabled(&applied, "pause"));
        let applied = session_page_html(Some("resume"), false);
        assert!(button_enabled(&applied, "pause") && !button_enabled(&applied, "resume"));
    }

    #[test]
    fn researchers_get_no_transcript_tables_unless_allowed() {
        assert!(!may_download(false, "turns.csv"));
        assert!(!may_download(false, "turns.jsonl"));
        assert!(may_download(false, "summary.csv"));
        assert!(may_download(true, "turns.csv"));
    }

    #[test]
    fn export_names_cannot_climb_out_of_the_folder() {
        assert!(safe_name("web-2026-12-01T18-00-00Z"));
        assert!(!safe_name(".."));
        assert!(!safe_name("../study.db"));
        assert!(!safe_name("a/b"));
        assert!(!safe_name(""));
    }
}
