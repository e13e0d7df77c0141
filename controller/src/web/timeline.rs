//! `/staff/session/ID/timeline.svg`: a robot session's behaviour timeline —
//! the picture `attune behaviors plot` draws — from the trace the session
//! wrote (its path is in the store's `behaviors` event; study robot days
//! keep theirs under `DIR/traces/`).

use super::{App, PageError};
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use rusqlite::OptionalExtension;
use std::sync::Arc;

/// The session's behaviour trace, when it recorded one that is still there.
pub fn trace_of(c: &rusqlite::Connection, session: i64) -> anyhow::Result<Option<std::path::PathBuf>> {
    let p: Option<Option<String>> = c
        .query_row(
            "SELECT CASE WHEN json_valid(payload) THEN json_extract(payload, '$.trace') END FROM events
             WHERE session_id = ?1 AND kind = 'behaviors' ORDER BY id DESC LIMIT 1",
            [session],
            |r| r.get(0),
        )
        .optional()?;
    Ok(p.flatten().map(std::path::PathBuf::from).filter(|p| p.is_file()))
}

/// Whether the session page can show a timeline.
pub fn available(c: &rusqlite::Connection, session: i64) -> anyhow::Result<bool> {
    Ok(trace_of(c, session)?.is_some())
}

/// The timeline as SVG (signed-in staff of either role: it holds no words).
pub async fn svg(State(app): State<Arc<App>>, headers: HeaderMap, Path(id): Path<i64>) -> Result<Response, Response> {
    let s = super::staff::signed_in(&app, &headers)?;
    let err = |e: anyhow::Error| PageError::internal(e).into_response();
    let c = app.store_ro().map_err(err)?;
    let Some(trace) = trace_of(&c, id).map_err(err)? else {
        return Err(PageError::new(StatusCode::NOT_FOUND, "No timeline", "This session has no behaviour trace (only robot-arm sessions record one).").into_response());
    };
    // Drawing reads the whole trace: off the async runtime.
    let svg = tokio::task::spawn_blocking(move || crate::cmd_behaviors::svg_string(&trace)).await.map_err(|e| err(e.into()))?.map_err(err)?;
    app.audit(&s.user, "timeline_view", serde_json::json!({"session": id}));
    Ok(([(header::CONTENT_TYPE, "image/svg+xml; charset=utf-8")], svg).into_response())
}
