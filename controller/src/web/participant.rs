//! The participant's pages, reached only through a link token:
//! `/p/TOKEN` shows the day's questionnaires before the chat, the chat, the
//! questionnaires after it, then a thank-you; the day is recorded in the
//! study database exactly as `attune session start` records it.

use super::db::{LinkState, Stage};
use super::live::{Live, LiveTurn, SendError};
use super::pages::{self, ChatPage, OptView, QView, QuestionnairePage};
use super::{App, PageError};
use crate::study::protocol::{Medium, Questionnaire, Timing};
use crate::study::{questionnaire, DayRecord, Study};
use axum::extract::{Form, Path, State};
use axum::http::StatusCode;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use rusqlite::OptionalExtension;
use std::convert::Infallible;
use std::sync::Arc;

/// The most characters one message may hold (what the store keeps of a turn
/// and what the crisis layer reads whole).
pub const MAX_MESSAGE_CHARS: usize = 65_536;

pub fn routes() -> Router<Arc<App>> {
    Router::new()
        .route("/p/{token}", get(page))
        .route("/p/{token}/answers", post(answers))
        .route("/p/{token}/message", post(message))
        .route("/p/{token}/events", get(events))
        .route("/p/{token}/finish", post(finish))
}

/// The CSRF token of a participant link's forms (derived, so nothing more is stored).
fn csrf(app: &App, token: &str) -> String {
    super::db::sha_hex(&format!("{}:participant:{token}", app.secret))
}

/// The participant and day a token opens, or the page saying why not.
fn link(app: &App, token: &str) -> Result<(String, u32), PageError> {
    let well_formed = token.len() == 64 && token.bytes().all(|b| b.is_ascii_hexdigit());
    let state = if well_formed { app.web(|w| w.link(token))? } else { LinkState::Unknown };
    match state {
        LinkState::Valid { participant, day } => Ok((participant, day)),
        LinkState::Revoked => Err(PageError::new(
            StatusCode::GONE,
            "This link has been withdrawn",
            "The study team has withdrawn this link. If you expected to take part today, please contact them for a new one.",
        )),
        LinkState::Unknown => Err(PageError::new(
            StatusCode::NOT_FOUND,
            "This link is not valid",
            "This address does not open a study session. Please check that you copied the whole link, or contact the study team.",
        )),
    }
}

/// Everything a page needs about the day, checked: enrolled, active, on the
/// chatbot arm. `check_schedule` also checks the day is the one due.
struct DayCtx {
    study: Study,
    participant: crate::study::Participant,
    day: u32,
    arm: crate::study::protocol::Arm,
}

fn day_ctx(app: &App, participant: &str, day: u32, check_schedule: bool) -> Result<DayCtx, PageError> {
    let study = Study::open(&app.dir)?;
    let Some(p) = study.participant(participant)? else {
        return Err(PageError::new(StatusCode::NOT_FOUND, "Not enrolled", "This link belongs to nobody enrolled in the study. Please contact the study team."));
    };
    if p.status != "active" {
        return Err(PageError::new(StatusCode::GONE, "No further sessions", "You have left the study, so there are no more sessions. Thank you for taking part."));
    }
    let arm = study.protocol.arm(&p.arm).cloned().ok_or_else(|| anyhow::anyhow!("participant {participant}'s arm {:?} is not in the protocol", p.arm))?;
    if arm.medium != Medium::Chatbot {
        return Err(PageError::new(
            StatusCode::CONFLICT,
            "Your sessions are not on this page",
            "Your study sessions take place with the study team, not in a web chat. Please contact them.",
        ));
    }
    if check_schedule {
        if let Err(e) = study.check_day(&p, day) {
            let msg = e.to_string();
            let friendly = if msg.contains("already completed") {
                format!("Day {day} is already complete. Thank you!")
            } else if msg.contains("days run in order") {
                format!("Day {day} is not open yet: please do the earlier day first. ({msg})")
            } else {
                format!("Day {day} cannot be opened: {msg}")
            };
            return Err(PageError::new(StatusCode::CONFLICT, "This day is not open", friendly));
        }
    }
    Ok(DayCtx { study, participant: p, day, arm })
}

fn q_views(due: &[(Timing, &Questionnaire)], given: &[(String, String)]) -> Vec<QView> {
    due.iter()
        .map(|(t, q)| QView {
            name: q.name.clone(),
            instruction: q.instruction.clone(),
            items: q
                .items
                .iter()
                .enumerate()
                .map(|(i, text)| {
                    let field = format!("{}.{}.{}", t.as_str(), q.id, i + 1);
                    let chosen = given.iter().find(|(k, _)| *k == field).map(|(_, v)| v.clone());
                    pages::ItemView {
                        n: i + 1,
                        text: text.clone(),
                        options: (q.scale.min..=q.scale.max)
                            .map(|v| OptView {
                                value: v,
                                label: q.scale.labels.get((v - q.scale.min) as usize).map(|l| format!("{v} — {l}")).unwrap_or_else(|| v.to_string()),
                                id: format!("{}-{}-{}-{v}", t.as_str(), q.id, i + 1),
                                checked: chosen.as_deref() == Some(v.to_string().as_str()),
                            })
                            .collect(),
                        field,
                    }
                })
                .collect(),
        })
        .collect()
}

fn questionnaire_page(app: &App, token: &str, ctx: &DayCtx, before: bool, given: &[(String, String)], error: Option<String>) -> Response {
    questionnaire_page_with(app, token, ctx, before, given, error, None)
}

fn questionnaire_page_with(app: &App, token: &str, ctx: &DayCtx, before: bool, given: &[(String, String)], error: Option<String>, notice: Option<String>) -> Response {
    let due = questionnaire::due(&ctx.study.protocol, ctx.day, before);
    let page = QuestionnairePage {
        action: format!("/p/{token}/answers"),
        csrf: csrf(app, token),
        heading: if before { format!("Day {}: before we talk", ctx.day) } else { format!("Day {}: after our chat", ctx.day) },
        error,
        notice,
        questionnaires: q_views(&due, given),
    };
    pages::render(&page).into_response()
}

/// The live chat of a day, started when missing or ended (same engine as `attune chat`).
fn ensure_live(app: &App, ctx: &DayCtx) -> anyhow::Result<Arc<Live>> {
    let key = (ctx.participant.id.clone(), ctx.day);
    let mut lives = app.lives.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(l) = lives.get(&key) {
        // A chat staff stopped stays stopped for the day (as if the
        // participant had finished); any other ended chat starts anew.
        if !l.ended() || l.staff_state().stopped {
            return Ok(l.clone());
        }
    }
    // Arm parity before anything runs, as `session start` checks it.
    let base = ctx.study.site_config()?;
    crate::study::check_parity_with(&ctx.study.protocol, &base, app.llm, Some(&ctx.study))?;
    let cfg = crate::study::arm_config(&base, &ctx.arm, app.llm);
    cfg.validate().map_err(|e| anyhow::anyhow!("site config: {e}"))?;
    let resolved = crate::session::Resolved { cfg, participant: ctx.participant.id.clone(), day: ctx.day, ephemeral: false, latency_matching: Some(ctx.study.protocol.latency_matching) };
    let live = Live::start(resolved, std::time::Duration::from_secs(app.cfg.chat_idle_minutes * 60))?;
    lives.insert(key, live.clone());
    Ok(live)
}

fn chat_page(app: &App, token: &str, ctx: &DayCtx, live: &Live) -> Response {
    let p = &ctx.study.protocol;
    let turns = live.turns();
    let exercise = p.exercise_for(ctx.day);
    let page = ChatPage {
        base: format!("/p/{token}"),
        csrf: csrf(app, token),
        day: ctx.day,
        days: p.study.days,
        exercise_title: exercise.map(|e| e.title.clone()).unwrap_or_default(),
        exercise_intro: exercise.map(|e| e.intro.clone()).unwrap_or_default(),
        crisis: turns.iter().any(|t| t.crisis),
        resource_name: p.crisis.resource_name.clone(),
        resource_contact: p.crisis.resource_contact.clone(),
        failure: live.failure(),
        paused: live.staff_state().paused && !live.ended(),
        stopped: live.staff_state().stopped,
        writing: turns.iter().any(|t| !t.done),
        turns,
        max_chars: MAX_MESSAGE_CHARS,
    };
    pages::render(&page).into_response()
}

async fn page(State(app): State<Arc<App>>, Path(token): Path<String>) -> Result<Response, PageError> {
    let (pid, day) = link(&app, &token)?;
    let _g = app.day_lock.lock().await;
    let (stage, _) = app.web(|w| w.day_stage(&pid, day))?;
    if stage == Stage::Done {
        return Ok(pages::render(&pages::DonePage { day }).into_response());
    }
    let ctx = day_ctx(&app, &pid, day, true)?;
    match stage {
        Stage::Pre if !questionnaire::due(&ctx.study.protocol, day, true).is_empty() => Ok(questionnaire_page(&app, &token, &ctx, true, &[], None)),
        Stage::Pre | Stage::Chat => {
            if stage == Stage::Pre {
                app.web(|w| w.set_stage(&pid, day, Stage::Chat, Some("[]")))?;
            }
            if closed_chat_with_turns(&app, &ctx)? {
                // The chat of this day closed (idle timeout, server restart)
                // after the participant wrote: the day goes on to its
                // questionnaires after, so its turns stay in one session.
                let mut ctx = ctx;
                if end_chat_stage(&app, &mut ctx)? {
                    return Ok(pages::render(&pages::DonePage { day }).into_response());
                }
                let notice = "Your chat closed while you were away; everything you wrote is saved. Please answer the last questions for today.".to_string();
                return Ok(questionnaire_page_with(&app, &token, &ctx, false, &[], None, Some(notice)));
            }
            let live = ensure_live(&app, &ctx)?;
            Ok(chat_page(&app, &token, &ctx, &live))
        }
        Stage::Post => Ok(questionnaire_page(&app, &token, &ctx, false, &[], None)),
        Stage::Done => unreachable!("handled above"),
    }
}

fn check_csrf(app: &App, token: &str, given: Option<&str>) -> Result<(), PageError> {
    match given {
        Some(g) if super::same(g, &csrf(app, token)) => Ok(()),
        _ => Err(PageError::new(
            StatusCode::FORBIDDEN,
            "This form has expired",
            "The form was not sent from this study's page (its security token is missing or wrong), so nothing was saved. Please go back, reload the page and try again.",
        )),
    }
}

async fn answers(State(app): State<Arc<App>>, Path(token): Path<String>, Form(fields): Form<Vec<(String, String)>>) -> Result<Response, PageError> {
    let (pid, day) = link(&app, &token)?;
    check_csrf(&app, &token, fields.iter().find(|(k, _)| k == "csrf").map(|(_, v)| v.as_str()))?;
    let _g = app.day_lock.lock().await;
    let (stage, pre_json) = app.web(|w| w.day_stage(&pid, day))?;
    let before = match stage {
        Stage::Pre => true,
        Stage::Post => false,
        // A resent form after the stage moved on: show where the day stands.
        _ => return Ok(Redirect::to(&format!("/p/{token}")).into_response()),
    };
    let mut ctx = day_ctx(&app, &pid, day, true)?;
    let due = questionnaire::due(&ctx.study.protocol, day, before);
    let mut got: Vec<(Timing, String, Vec<i64>)> = Vec::new();
    for (t, q) in &due {
        let mut values = Vec::new();
        for (i, item) in q.items.iter().enumerate() {
            let field = format!("{}.{}.{}", t.as_str(), q.id, i + 1);
            match fields.iter().find(|(k, _)| *k == field).and_then(|(_, v)| v.trim().parse::<i64>().ok()) {
                Some(v) if v >= q.scale.min && v <= q.scale.max => values.push(v),
                _ => {
                    let msg = format!("Please answer every question: \u{201c}{item}\u{201d} ({}, question {}) has no answer yet.", q.name, i + 1);
                    return Ok((StatusCode::UNPROCESSABLE_ENTITY, questionnaire_page(&app, &token, &ctx, before, &fields, Some(msg))).into_response());
                }
            }
        }
        questionnaire::check_values(*t, q, &values)?;
        got.push((*t, q.id.clone(), values));
    }
    if before {
        app.web(|w| w.set_stage(&pid, day, Stage::Chat, Some(&serde_json::to_string(&got).map_err(anyhow::Error::from)?)))?;
        return Ok(Redirect::to(&format!("/p/{token}")).into_response());
    }
    // After: the day is recorded as `attune session start` records it.
    let mut all: Vec<(Timing, String, Vec<i64>)> = serde_json::from_str(&pre_json).map_err(anyhow::Error::from)?;
    all.extend(got);
    record_day(&app, &mut ctx, all)?;
    app.web(|w| w.set_stage(&pid, day, Stage::Done, None))?;
    Ok(Redirect::to(&format!("/p/{token}")).into_response())
}

fn record_day(app: &App, ctx: &mut DayCtx, answers: Vec<(Timing, String, Vec<i64>)>) -> anyhow::Result<()> {
    let p = ctx.study.protocol.clone();
    let exercise = p.exercise_for(ctx.day).cloned().ok_or_else(|| anyhow::anyhow!("no exercise planned for day {}", ctx.day))?;
    let fps = crate::study::check_parity_with(&p, &ctx.study.site_config()?, app.llm, Some(&ctx.study))?;
    let Some((store_session, turns)) = crate::cmd_study::last_store_session(&ctx.study.store_path(), &ctx.participant.id)? else {
        anyhow::bail!("the chat left no session in the store; day {} was not recorded", ctx.day);
    };
    let started = app.web(|w| w.day_started(&ctx.participant.id, ctx.day))?.unwrap_or_else(crate::store::now_ms);
    let rec = DayRecord {
        participant: ctx.participant.id.clone(),
        day: ctx.day,
        arm: ctx.arm.name.clone(),
        exercise: exercise.id.clone(),
        started_at_ms: started,
        ended_at_ms: crate::store::now_ms(),
        store_session: Some(store_session),
        fingerprint: fps.get(&ctx.arm.engine).cloned(),
        turns,
        head: None,
    };
    ctx.study.record_day(&rec, &answers)
}

#[derive(serde::Deserialize)]
struct MessageForm {
    csrf: Option<String>,
    message: String,
}

fn json_error(status: StatusCode, msg: impl Into<String>) -> Response {
    (status, Json(serde_json::json!({"error": msg.into()}))).into_response()
}

async fn message(State(app): State<Arc<App>>, Path(token): Path<String>, Form(f): Form<MessageForm>) -> Response {
    let (pid, day) = match link(&app, &token) {
        Ok(x) => x,
        Err(e) => return json_error(e.status, e.message),
    };
    if let Err(e) = check_csrf(&app, &token, f.csrf.as_deref()) {
        return json_error(e.status, e.message);
    }
    let text = f.message.trim();
    if text.is_empty() {
        return json_error(StatusCode::BAD_REQUEST, "Please write a message first.");
    }
    let n = text.chars().count();
    if n > MAX_MESSAGE_CHARS {
        return json_error(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("Your message is {n} characters long; one message can hold at most {MAX_MESSAGE_CHARS}. Nothing was sent: please shorten it, or send it in parts."),
        );
    }
    let live = app.lives.lock().unwrap_or_else(|p| p.into_inner()).get(&(pid, day)).cloned();
    let Some(live) = live else {
        return json_error(StatusCode::CONFLICT, "This chat is not open any more. Please reload the page.");
    };
    match live.send(text.to_string()) {
        Ok(utt) => Json(serde_json::json!({"utt": utt})).into_response(),
        Err(e @ SendError::Busy) => json_error(StatusCode::TOO_MANY_REQUESTS, e.to_string()),
        Err(SendError::Paused) => json_error(
            StatusCode::CONFLICT,
            "The study team has paused this chat for a moment. Nothing was sent; your message is still in the box. You can send it when the chat continues.",
        ),
        Err(SendError::Ended) => json_error(StatusCode::CONFLICT, "This chat has ended. Please reload the page."),
    }
}

fn turns_event(turns: &[LiveTurn]) -> Event {
    Event::default().event("turns").data(serde_json::to_string(turns).unwrap_or_else(|_| "[]".into()))
}

fn status_event(live: &Live) -> Event {
    let s = live.staff_state();
    Event::default().event("status").data(serde_json::json!({"paused": s.paused && !live.ended(), "stopped": s.stopped}).to_string())
}

async fn events(State(app): State<Arc<App>>, Path(token): Path<String>) -> Result<Response, PageError> {
    let (pid, day) = link(&app, &token)?;
    let live = app.lives.lock().unwrap_or_else(|p| p.into_inner()).get(&(pid, day)).cloned();
    let Some(live) = live else {
        let s = futures_util::stream::once(async { Ok::<_, Infallible>(Event::default().event("ended").data("")) });
        return Ok(Sse::new(s).into_response());
    };
    let rx = live.subscribe();
    // Design: every event carries the whole state of the turns it names, so
    // a page that (re)connects at any moment converges on what the store has.
    let first = [turns_event(&live.turns()), status_event(&live)];
    let rest = futures_util::stream::unfold((live, rx, false), |(live, mut rx, ended)| async move {
        if ended {
            return None;
        }
        loop {
            match rx.recv().await {
                Ok(0) => return Some((Ok(turns_event(&live.turns())), (live, rx, true))),
                Ok(super::live::STATUS_CHANGED) => return Some((Ok(status_event(&live)), (live, rx, false))),
                Ok(id) => {
                    if let Some(t) = live.turn(id) {
                        return Some((Ok(turns_event(&[t])), (live, rx, false)));
                    }
                }
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => return Some((Ok(turns_event(&live.turns())), (live, rx, false))),
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return None,
            }
        }
    });
    let s = futures_util::StreamExt::chain(futures_util::stream::iter(first.map(Ok::<_, Infallible>)), rest);
    Ok(Sse::new(s).keep_alive(KeepAlive::default()).into_response())
}

#[derive(serde::Deserialize)]
struct CsrfForm {
    csrf: Option<String>,
}

async fn finish(State(app): State<Arc<App>>, Path(token): Path<String>, Form(f): Form<CsrfForm>) -> Result<Response, PageError> {
    let (pid, day) = link(&app, &token)?;
    check_csrf(&app, &token, f.csrf.as_deref())?;
    let _g = app.day_lock.lock().await;
    let (stage, _) = app.web(|w| w.day_stage(&pid, day))?;
    if stage != Stage::Chat {
        return Ok(Redirect::to(&format!("/p/{token}")).into_response());
    }
    let live = app.lives.lock().unwrap_or_else(|p| p.into_inner()).remove(&(pid.clone(), day));
    if let Some(live) = live {
        // The turn in progress is finished and stored, then the session closes.
        tokio::task::spawn_blocking(move || live.finish()).await.map_err(anyhow::Error::from)??;
    }
    let mut ctx = day_ctx(&app, &pid, day, true)?;
    end_chat_stage(&app, &mut ctx)?;
    Ok(Redirect::to(&format!("/p/{token}")).into_response())
}

/// The chat part of the day is over: on to the questionnaires after, or,
/// with none due, the day is recorded. Returns whether the day is done.
fn end_chat_stage(app: &App, ctx: &mut DayCtx) -> anyhow::Result<bool> {
    let (pid, day) = (ctx.participant.id.clone(), ctx.day);
    app.web(|w| w.set_stage(&pid, day, Stage::Post, None))?;
    if !questionnaire::due(&ctx.study.protocol, day, false).is_empty() {
        return Ok(false);
    }
    let (_, pre_json) = app.web(|w| w.day_stage(&pid, day))?;
    let all: Vec<(Timing, String, Vec<i64>)> = serde_json::from_str(&pre_json)?;
    record_day(app, ctx, all)?;
    app.web(|w| w.set_stage(&pid, day, Stage::Done, None))?;
    Ok(true)
}

/// Whether this day's chat already ran in a store session that is now
/// closed and holds turns, with no live chat of this server running it.
///
/// Design: a study day is one store session (the day record names one, and
/// the export takes that session's turns). A chat that closed while the
/// participant was away (`chat_idle_minutes`) or across a server restart
/// is therefore not reopened as a second session — its turns would drop
/// out of the day — the day moves on to its questionnaires after instead.
/// A closed session without turns is simply replaced.
fn closed_chat_with_turns(app: &App, ctx: &DayCtx) -> anyhow::Result<bool> {
    let key = (ctx.participant.id.clone(), ctx.day);
    if let Some(l) = app.lives.lock().unwrap_or_else(|p| p.into_inner()).get(&key) {
        if !l.ended() || l.staff_state().stopped {
            return Ok(false);
        }
    }
    let Some(since) = app.web(|w| w.day_started(&ctx.participant.id, ctx.day))? else { return Ok(false) };
    let c = app.store_ro()?;
    let last: Option<(bool, i64)> = c
        .query_row(
            "SELECT s.ended_at_ms IS NOT NULL, (SELECT COUNT(*) FROM turns t WHERE t.session_id = s.id)
             FROM sessions s WHERE s.participant = ?1 AND s.day = ?2 AND s.started_at_ms >= ?3 ORDER BY s.id DESC LIMIT 1",
            rusqlite::params![ctx.participant.id, ctx.day, since],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    Ok(matches!(last, Some((true, n)) if n > 0))
}
