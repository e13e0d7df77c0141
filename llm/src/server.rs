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
use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};

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
    /// Requests admitted: the one generating plus those waiting. A request
    /// holds its permit until its response ends or its client goes away, so
    /// a client that disconnects while waiting frees its slot at once.
    slots: Arc<Semaphore>,
    /// How many may wait (for the 503 message).
    queue_depth: usize,
    /// The generation turn, FIFO: held by the request whose job is in the
    /// engine. Jobs enter the engine only with it, so the engine's own
    /// queue never fills with jobs whose clients are gone.
    turn: Arc<Semaphore>,
    /// Secret shared with the supervisor (see `attune_dialogue::identity`):
    /// required as the bearer token on `/v1/*` and proven on `/health`.
    token: Option<String>,
}

/// Waiting requests allowed by [`AppState::new`] (the binary's `--queue` default).
pub const DEFAULT_QUEUE: usize = 4;

impl AppState {
    /// State for a server over `engine`, answering as `model_name`, with
    /// [`DEFAULT_QUEUE`] waiting requests and no token.
    pub fn new(engine: EngineHandle, model_name: String) -> Self {
        Self {
            engine,
            model_name,
            next_id: AtomicU64::new(1),
            started: unix_now(),
            slots: Arc::new(Semaphore::new(DEFAULT_QUEUE + 1)),
            queue_depth: DEFAULT_QUEUE,
            turn: Arc::new(Semaphore::new(1)),
            token: None,
        }
    }

    /// Lets `queue_depth` (at least 1) requests wait behind the running one;
    /// more get 503 at once.
    pub fn with_queue(mut self, queue_depth: usize) -> Self {
        let queue_depth = queue_depth.max(1);
        self.slots = Arc::new(Semaphore::new(queue_depth + 1));
        self.queue_depth = queue_depth;
        self
    }

    /// Requires `token` as the bearer token on `/v1/*` and proves it on
    /// `/health?challenge=...`.
    pub fn with_token(mut self, token: Option<String>) -> Self {
        self.token = token.filter(|t| !t.is_empty());
        self
    }

    /// `Err` (401) unless the request carries the bearer token, when one is set.
    fn authorize(&self, headers: &axum::http::HeaderMap) -> Result<(), ApiError> {
        let Some(token) = &self.token else { return Ok(()) };
        let given = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer ")).unwrap_or("");
        if attune_dialogue::identity::constant_time_eq(given.as_bytes(), token.as_bytes()) {
            return Ok(());
        }
        tracing::warn!("refused a request without the supervisor's bearer token");
        Err(ApiError { status: 401, kind: "authentication_error", message: "missing or wrong bearer token".into(), param: None })
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

/// `challenge=...` from a query string (hex, at most 128 characters).
fn challenge_of(uri: &axum::http::Uri) -> Option<&str> {
    uri.query()?
        .split('&')
        .find_map(|kv| kv.strip_prefix("challenge="))
        .filter(|c| !c.is_empty() && c.len() <= 128 && c.bytes().all(|b| b.is_ascii_alphanumeric()))
}

async fn health(State(app): State<Arc<AppState>>, uri: axum::http::Uri) -> Response {
    match app.engine.state() {
        EngineState::Ready { n_ctx } => {
            let mut v = serde_json::json!({ "status": "ok", "model": app.model_name, "n_ctx": n_ctx });
            if let (Some(token), Some(c)) = (&app.token, challenge_of(&uri)) {
                v["proof"] = serde_json::json!(attune_dialogue::identity::health_proof(token, c));
            }
            json_response(StatusCode::OK, &v)
        }
        EngineState::Loading => json_response(StatusCode::SERVICE_UNAVAILABLE, &serde_json::json!({ "status": "loading" })),
        EngineState::Failed(why) => {
            json_response(StatusCode::SERVICE_UNAVAILABLE, &serde_json::json!({ "status": "failed", "error": why }))
        }
    }
}

async fn models(State(app): State<Arc<AppState>>, headers: axum::http::HeaderMap) -> Response {
    if let Err(e) = app.authorize(&headers) {
        return error_response(&e);
    }
    json_response(
        StatusCode::OK,
        &serde_json::json!({
            "object": "list",
            "data": [{ "id": app.model_name, "object": "model", "created": app.started, "owned_by": "attune" }],
        }),
    )
}

async fn chat_completions(State(app): State<Arc<AppState>>, headers: axum::http::HeaderMap, body: Body) -> Response {
    if let Err(e) = app.authorize(&headers) {
        return error_response(&e);
    }
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
    let slot = app.slots.clone().try_acquire_owned().map_err(|_| {
        ApiError::unavailable(format!(
            "server busy: one generation is running and {} request(s) are already waiting; retry later",
            app.queue_depth
        ))
    })?;
    // Design: waiting happens here, in this request's own future, not in the
    // engine's queue: a client that disconnects drops the future and with it
    // both permits, so its slot is free at once.
    let turn = app.turn.clone().acquire_owned().await.map_err(|_| ApiError::internal("the server is shutting down"))?;
    let permits = (slot, turn);
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
        return Ok(sse_response(meta, rx, permits));
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

fn sse_response(meta: CompletionMeta, rx: mpsc::Receiver<JobEvent>, permits: (OwnedSemaphorePermit, OwnedSemaphorePermit)) -> Response {
    // The permits live in the stream's state: released when it ends or when
    // the client goes away and the body is dropped.
    let stream = futures_util::stream::unfold((rx, meta, Phase::Role, permits), |(mut rx, meta, phase, permits)| async move {
        let bytes = match phase {
            Phase::Ended => return None,
            Phase::Role => {
                let b = sse::event(&meta.role_chunk());
                return Some((Ok::<_, Infallible>(Bytes::from(b)), (rx, meta, Phase::Body, permits)));
            }
            Phase::Body => match rx.recv().await {
                Some(JobEvent::Text(t)) => sse::event(&meta.content_chunk(&t)),
                Some(JobEvent::Done { finish, usage }) => {
                    let b = format!("{}{}", sse::event(&meta.final_chunk(finish, usage)), sse::DONE);
                    return Some((Ok(Bytes::from(b)), (rx, meta, Phase::Ended, permits)));
                }
                Some(JobEvent::Failed(e)) => {
                    // Mid-stream failure: an error event and no [DONE], so a
                    // client cannot mistake the partial reply for a full one.
                    let b = sse::event(&e.to_json());
                    return Some((Ok(Bytes::from(b)), (rx, meta, Phase::Ended, permits)));
                }
                Some(JobEvent::Started { .. }) => String::new(),
                None => return None,
            },
        };
        Some((Ok(Bytes::from(bytes)), (rx, meta, Phase::Body, permits)))
    });
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "text/event-stream")
        .header(header::CACHE_CONTROL, "no-cache")
        .body(Body::from_stream(stream))
        .unwrap_or_else(|e| error_response(&ApiError::internal(format!("building the SSE response: {e}"))))
}
