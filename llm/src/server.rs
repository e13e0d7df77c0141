//! The HTTP shell: routes, the SSE body, error responses. It takes its
//! listener and shutdown signal as arguments so tests and the binary hand
//! them in.

use crate::api::{parse_chat_request, ApiError};
use crate::engine::{EngineHandle, EngineJob, EngineState, JobEvent};
use crate::sse::{self, CompletionMeta};
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use std::convert::Infallible;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};
use tokio::net::TcpListener;
use tokio::sync::mpsc;

/// Events buffered between the engine thread and one HTTP response.
/// Design: when full (a slow client), the engine thread blocks on send, so a
/// slow reader slows generation rather than growing memory.
const EVENT_BUFFER: usize = 64;

/// Largest request body accepted; beyond it the answer is a JSON 413.
/// Far above any prompt that fits a small model's context.
pub const MAX_BODY_BYTES: usize = 4 * 1024 * 1024;

/// Shared state of the routes.
pub struct AppState {
    /// The model thread.
    pub engine: EngineHandle,
    /// Name reported in `/v1/models` and every response's `model`.
    pub model_name: String,
    /// Source of unique completion ids.
    next_id: AtomicU64,
    /// Unix seconds at start, in `/v1/models`.
    started: u64,
}

impl AppState {
    /// State for a server over `engine`, answering as `model_name`.
    pub fn new(engine: EngineHandle, model_name: String) -> Self {
        Self { engine, model_name, next_id: AtomicU64::new(1), started: unix_now() }
    }
}

/// Serves until `shutdown` completes, then lets open responses finish.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(Arc::new(state))).with_graceful_shutdown(shutdown).await
}

/// The routes.
pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/v1/chat/completions", post(chat_completions))
        .route("/v1/models", get(models))
        .route("/health", get(health))
        .fallback(|| async { error_response(&ApiError::not_found("no such route; try POST /v1/chat/completions")) })
        .with_state(state)
}

fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

fn json_response(status: StatusCode, value: &serde_json::Value) -> Response {
    (status, [(header::CONTENT_TYPE, "application/json")], value.to_string()).into_response()
}

fn error_response(e: &ApiError) -> Response {
    let status = StatusCode::from_u16(e.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    json_response(status, &e.to_json())
}

async fn health(State(app): State<Arc<AppState>>) -> Response {
    match app.engine.state() {
        EngineState::Ready { n_ctx } => json_response(
            StatusCode::OK,
            &serde_json::json!({ "status": "ok", "model": app.model_name, "n_ctx": n_ctx }),
        ),
        EngineState::Loading => json_response(StatusCode::SERVICE_UNAVAILABLE, &serde_json::json!({ "status": "loading" })),
        EngineState::Failed(why) => {
            json_response(StatusCode::SERVICE_UNAVAILABLE, &serde_json::json!({ "status": "failed", "error": why }))
        }
    }
}

async fn models(State(app): State<Arc<AppState>>) -> Response {
    json_response(
        StatusCode::OK,
        &serde_json::json!({
            "object": "list",
            "data": [{ "id": app.model_name, "object": "model", "created": app.started, "owned_by": "attune" }],
        }),
    )
}

async fn chat_completions(State(app): State<Arc<AppState>>, body: Body) -> Response {
    let body = match axum::body::to_bytes(body, MAX_BODY_BYTES).await {
        Ok(b) => b,
        Err(e) => {
            let mut err = ApiError::invalid(
                format!("request body unreadable or larger than {MAX_BODY_BYTES} bytes: {e}"),
                None,
            );
            err.status = 413;
            return error_response(&err);
        }
    };
    match chat(app, body).await {
        Ok(r) => r,
        Err(e) => {
            tracing::debug!("request refused: {e}");
            error_response(&e)
        }
    }
}

async fn chat(app: Arc<AppState>, body: Bytes) -> Result<Response, ApiError> {
    let job = parse_chat_request(&body)?;
    let stream = job.stream;
    let (tx, mut rx) = mpsc::channel(EVENT_BUFFER);
    app.engine.try_submit(EngineJob { job, events: tx })?;
    let meta = CompletionMeta {
        id: format!("chatcmpl-{:x}-{}", app.started, app.next_id.fetch_add(1, Ordering::Relaxed)),
        created: unix_now(),
        model: app.model_name.clone(),
    };
    // Design: the status line waits for the job to leave the queue and its
    // prompt to pass the context check, so prompt errors are proper 400s and
    // not a broken stream. Dropping this future (client gone) drops `rx`,
    // which the engine sees as cancellation.
    match rx.recv().await {
        Some(JobEvent::Started { .. }) => {}
        Some(JobEvent::Failed(e)) => return Err(e),
        Some(other) => return Err(ApiError::internal(format!("engine sent {other:?} before starting"))),
        None => return Err(ApiError::internal("the generation engine stopped")),
    }
    if stream {
        return Ok(sse_response(meta, rx));
    }
    let mut content = String::new();
    loop {
        match rx.recv().await {
            Some(JobEvent::Text(t)) => content.push_str(&t),
            Some(JobEvent::Done { finish, usage }) => {
                return Ok(json_response(StatusCode::OK, &meta.completion(&content, finish, usage)))
            }
            Some(JobEvent::Failed(e)) => return Err(e),
            Some(JobEvent::Started { .. }) => {}
            None => return Err(ApiError::internal("the generation engine stopped mid-reply")),
        }
    }
}

/// Where the SSE body is.
enum Phase {
    /// Next: the role chunk.
    Role,
    /// Relaying engine events.
    Body,
    /// Finished; end the body.
    Ended,
}

fn sse_response(meta: CompletionMeta, rx: mpsc::Receiver<JobEvent>) -> Response {
    let stream = futures_util::stream::unfold((rx, meta, Phase::Role), |(mut rx, meta, phase)| async move {
        let bytes = match phase {
            Phase::Ended => return None,
            Phase::Role => {
                let b = sse::event(&meta.role_chunk());
                return Some((Ok::<_, Infallible>(Bytes::from(b)), (rx, meta, Phase::Body)));
            }
            Phase::Body => match rx.recv().await {
                Some(JobEvent::Text(t)) => sse::event(&meta.content_chunk(&t)),
                Some(JobEvent::Done { finish, usage }) => {
                    let b = format!("{}{}", sse::event(&meta.final_chunk(finish, usage)), sse::DONE);
                    return Some((Ok(Bytes::from(b)), (rx, meta, Phase::Ended)));
                }
                Some(JobEvent::Failed(e)) => {
                    // Mid-stream failure: an error event and no [DONE], so a
                    // client cannot mistake the partial reply for a full one.
                    let b = sse::event(&e.to_json());
                    return Some((Ok(Bytes::from(b)), (rx, meta, Phase::Ended)));
                }
                Some(JobEvent::Started { .. }) => String::new(),
                None => return None,
            },
        };
        Some((Ok(Bytes::from(bytes)), (rx, meta, Phase::Body)))
    });
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "text/event-stream")
        .header(header::CACHE_CONTROL, "no-cache")
        .body(Body::from_stream(stream))
        .unwrap_or_else(|e| error_response(&ApiError::internal(format!("building the SSE response: {e}"))))
}
