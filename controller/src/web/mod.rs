//! `attune web`: the participant's chat page and questionnaires, and the
//! staff dashboard — one axum server over a study folder.
//!
//! # Layout
//! - [`db`] — `DIR/web.db`: link tokens, web-day progress, staff accounts and sessions.
//! - [`live`] — live chats: the web transport on the one session runner.
//! - [`participant`] — `/p/TOKEN`: questionnaires before, chat, questionnaires after.
//! - [`staff`] — `/staff`: login, dashboard (SSE), alerts and acknowledgement, export.
//! - [`timeline`] — a robot session's behaviour timeline as SVG.
//! - [`pages`] — the askama templates (compile-time checked, auto-escaped).
//!
//! Design: no second source of truth. Conversations run on
//! [`crate::runner`] (the chatbot arm, same engine, store, alerts and bus as
//! `attune chat`); days and answers are recorded in the study database exactly
//! as `attune session start` records them; alerts, acknowledgements and the
//! staff audit trail are rows in the session store's `events` (and
//! `bus_alerts` for bus alerts). The dashboard reads the store, so sessions
//! of every arm and every process on this study show up, not only web ones.

pub mod db;
pub mod live;
pub mod pages;
pub mod participant;
pub mod staff;
pub mod timeline;

use crate::engine_args::LlmChoice;
use anyhow::{bail, Context};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use clap::{Args, Subcommand};
use serde::Deserialize;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// `attune web ...`
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct WebArgs {
    #[command(subcommand)]
    pub cmd: Option<WebCmd>,
    /// The study folder to serve.
    #[arg(long)]
    pub study: Option<PathBuf>,
    /// Web front settings (TOML; `attune web --print-default-config` prints the defaults).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Address to listen on (default 127.0.0.1:8080, or `bind` in the config).
    #[arg(long)]
    pub bind: Option<String>,
    /// LLM path for the chats: local | openai | reflect (default from the study's site config).
    #[arg(long, value_enum)]
    pub llm: Option<LlmChoice>,
    /// Print the default web config and exit.
    #[arg(long)]
    pub print_default_config: bool,
}

#[derive(Debug, Subcommand)]
pub enum WebCmd {
    /// Staff accounts.
    User {
        #[command(subcommand)]
        cmd: UserCmd,
    },
}

#[derive(Debug, Subcommand)]
pub enum UserCmd {
    /// Add a staff account; the password is read from stdin (one line).
    Add {
        #[arg(long)]
        study: PathBuf,
        #[arg(long)]
        name: String,
        #[arg(long, value_enum)]
        role: db::Role,
        /// Read the password from stdin (required: passwords never go on the command line).
        #[arg(long)]
        password_stdin: bool,
    },
}

/// Web front settings (`--config FILE`); every field optional, unknown fields refused.
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct WebConfig {
    /// Listen address.
    pub bind: String,
    /// Base URL printed in participant links (`attune study link` default).
    pub base_url: String,
    /// A staff session ends after this many minutes without a request.
    pub session_idle_minutes: u64,
    /// ... and at most this many hours after login.
    pub session_max_hours: u64,
    /// Failed sign-ins (per account and per client address) before it is locked.
    pub login_max_failures: u32,
    /// The window failures are counted in, and the lock's length.
    pub login_window_minutes: u64,
    /// A participant chat with no message for this long ends (what was said is kept).
    pub chat_idle_minutes: u64,
    /// How often the dashboard checks the store for changes.
    pub dashboard_poll_ms: u64,
}

impl Default for WebConfig {
    fn default() -> Self {
        WebConfig {
            bind: "127.0.0.1:8080".into(),
            base_url: "http://127.0.0.1:8080".into(),
            session_idle_minutes: 30,
            session_max_hours: 12,
            login_max_failures: 5,
            login_window_minutes: 15,
            chat_idle_minutes: 30,
            dashboard_poll_ms: 250,
        }
    }
}

impl WebConfig {
    /// Loads a config file (defaults without one); errors name the field.
    pub fn load(path: Option<&Path>) -> anyhow::Result<WebConfig> {
        let Some(p) = path else { return Ok(WebConfig::default()) };
        let text = std::fs::read_to_string(p).with_context(|| format!("reading web config {}", p.display()))?;
        let de = toml::Deserializer::new(&text);
        let cfg: WebConfig = serde_path_to_error::deserialize(de).map_err(|e| {
            let path = e.path().to_string();
            anyhow::anyhow!("web config {}: field `{path}`: {}", p.display(), e.into_inner().message().trim())
        })?;
        cfg.validate().map_err(|e| anyhow::anyhow!("web config {}: {e}", p.display()))?;
        Ok(cfg)
    }

    fn validate(&self) -> Result<(), String> {
        if self.bind.parse::<std::net::SocketAddr>().is_err() {
            return Err(format!("field `bind`: {:?} is not an address like 127.0.0.1:8080", self.bind));
        }
        for (name, v) in [
            ("session_idle_minutes", self.session_idle_minutes),
            ("session_max_hours", self.session_max_hours),
            ("login_window_minutes", self.login_window_minutes),
            ("chat_idle_minutes", self.chat_idle_minutes),
            ("dashboard_poll_ms", self.dashboard_poll_ms),
        ] {
            if v == 0 {
                return Err(format!("field `{name}`: must be above 0"));
            }
        }
        if self.login_max_failures == 0 {
            return Err("field `login_max_failures`: must be above 0".into());
        }
        Ok(())
    }
}

/// Shared server state.
pub struct App {
    /// The study folder.
    pub dir: PathBuf,
    /// Settings.
    pub cfg: WebConfig,
    /// `--llm` for the chats.
    pub llm: Option<LlmChoice>,
    /// web.db (short critical sections only).
    pub web: Mutex<db::WebDb>,
    /// The session store, for the staff audit trail and acknowledgements.
    pub store: Mutex<crate::store::Store>,
    /// Server secret (participant CSRF tokens).
    pub secret: String,
    /// Live chats by (participant, day).
    pub lives: Mutex<HashMap<(String, u32), Arc<live::Live>>>,
    /// Failed sign-ins by key (account or address): times in ms.
    pub failures: Mutex<HashMap<String, Vec<i64>>>,
    /// Serialises the study-day bookkeeping (start, record).
    pub day_lock: tokio::sync::Mutex<()>,
    /// A hash of a random password: sign-ins for unknown accounts verify
    /// against it, so they cost the same time as real ones.
    pub dummy_phc: String,
}

impl App {
    /// Opens the study's databases for serving.
    pub fn open(dir: &Path, cfg: WebConfig, llm: Option<LlmChoice>) -> anyhow::Result<App> {
        let s = crate::study::Study::open(dir)?;
        let web = db::WebDb::open(dir)?;
        let store = crate::store::Store::open(&s.store_path())?;
        crate::recovery::close_orphans(&store, s.site_config()?.dialogue.memory_summary_chars)?;
        let secret = web.secret()?;
        Ok(App {
            dir: dir.to_path_buf(),
            cfg,
            llm,
            web: Mutex::new(web),
            store: Mutex::new(store),
            secret,
            lives: Mutex::new(HashMap::new()),
            failures: Mutex::new(HashMap::new()),
            day_lock: tokio::sync::Mutex::new(()),
            dummy_phc: db::hash_password(&db::random_hex()?)?,
        })
    }

    /// Runs `f` on web.db.
    pub fn web<T>(&self, f: impl FnOnce(&db::WebDb) -> anyhow::Result<T>) -> anyhow::Result<T> {
        let g = self.web.lock().unwrap_or_else(|p| p.into_inner());
        f(&g)
    }

    /// Records a staff action in the session store's events (`staff_web`).
    pub fn audit(&self, by: &str, action: &str, mut details: serde_json::Value) {
        if let Some(o) = details.as_object_mut() {
            o.insert("by".into(), by.into());
            o.insert("action".into(), action.into());
        }
        let g = self.store.lock().unwrap_or_else(|p| p.into_inner());
        if let Err(e) = g.event(None, None, "staff_web", &details) {
            tracing::error!("could not audit staff action {action} by {by}: {e}");
            eprintln!("attune: web: could not audit staff action {action} by {by}: {e}");
        }
    }

    /// A read-only connection to the session store.
    pub fn store_ro(&self) -> anyhow::Result<rusqlite::Connection> {
        let c = rusqlite::Connection::open_with_flags(self.dir.join("sessions.db"), rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)?;
        c.busy_timeout(std::time::Duration::from_secs(5))?;
        Ok(c)
    }
}

/// An error page with a status and a plain message.
pub struct PageError {
    /// HTTP status.
    pub status: StatusCode,
    /// Heading.
    pub title: String,
    /// What happened and what to do (shown as text, escaped).
    pub message: String,
}

impl PageError {
    pub fn new(status: StatusCode, title: impl Into<String>, message: impl Into<String>) -> PageError {
        PageError { status, title: title.into(), message: message.into() }
    }
    /// A server fault: logged with its cause, shown without it.
    pub fn internal(e: anyhow::Error) -> PageError {
        tracing::error!("web: {e:#}");
        eprintln!("attune: web: {e:#}");
        PageError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Something went wrong",
            "The server could not finish this request. Nothing you entered before was lost; please try again, or tell the study team.",
        )
    }
}

impl From<anyhow::Error> for PageError {
    fn from(e: anyhow::Error) -> Self {
        PageError::internal(e)
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let body = pages::render(&pages::ErrorPage { title: &self.title, message: &self.message });
        (self.status, body).into_response()
    }
}

/// Security headers on every response.
async fn security_headers(req: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let mut res = next.run(req).await;
    let h = res.headers_mut();
    // Design: scripts and styles only from this origin (no inline script, so
    // an injected <script> cannot run even if escaping were ever missed);
    // never framed (clickjacking); no referrer (participant links carry their
    // token in the path).
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
        ),
    );
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    res
}

const APP_JS: &str = include_str!("../../static/app.js");
const APP_CSS: &str = include_str!("../../static/app.css");

async fn static_js() -> Response {
    ([(header::CONTENT_TYPE, "text/javascript; charset=utf-8")], APP_JS).into_response()
}
async fn static_css() -> Response {
    ([(header::CONTENT_TYPE, "text/css; charset=utf-8")], APP_CSS).into_response()
}
async fn index() -> Response {
    pages::render(&pages::Index {}).into_response()
}
async fn not_found() -> PageError {
    PageError::new(StatusCode::NOT_FOUND, "Page not found", "There is no page at this address.")
}

/// The whole router.
pub fn router(app: Arc<App>) -> axum::Router {
    use axum::routing::get;
    axum::Router::new()
        .route("/", get(index))
        .route("/static/app.js", get(static_js))
        .route("/static/app.css", get(static_css))
        .route("/health", get(|| async { "ok" }))
        .merge(participant::routes())
        .merge(staff::routes())
        .fallback(not_found)
        .layer(axum::middleware::from_fn(security_headers))
        // Design: a 1 MB message must reach the handler to get a clear
        // answer ("too long"), not a bare connection reset; 2 MiB is the cap.
        .layer(axum::extract::DefaultBodyLimit::max(2 * 1024 * 1024))
        .with_state(app)
}

/// `attune web ...`
pub fn run(a: WebArgs) -> anyhow::Result<()> {
    if a.print_default_config {
        print!("{}", toml::to_string_pretty(&WebConfig::default())?);
        return Ok(());
    }
    match a.cmd {
        Some(WebCmd::User { cmd: UserCmd::Add { study, name, role, password_stdin } }) => {
            if !password_stdin {
                bail!("pass --password-stdin and give the password on stdin (never on the command line)");
            }
            crate::study::Study::open(&study)?;
            let mut line = String::new();
            std::io::stdin().read_line(&mut line).context("reading the password from stdin")?;
            let pw = line.trim_end_matches(['\n', '\r']);
            let web = db::WebDb::open(&study)?;
            web.add_user(&name, role, pw)?;
            eprintln!("attune: web user {name:?} ({}) added to {}", role.as_str(), study.display());
            Ok(())
        }
        None => {
            let Some(study) = a.study else { bail!("attune web needs --study DIR (the study folder to serve)") };
            let mut cfg = WebConfig::load(a.config.as_deref())?;
            if let Some(b) = a.bind {
                if b.parse::<std::net::SocketAddr>().is_err() {
                    bail!("--bind {b:?} is not an address like 127.0.0.1:8080");
                }
                cfg.bind = b;
            }
            serve(&study, cfg, a.llm)
        }
    }
}

/// `attune study link`: prints `BASE/p/TOKEN` (or revokes the day's links).
pub fn link_cmd(study: &Path, participant: &str, day: u32, base: Option<&str>, revoke: bool) -> anyhow::Result<()> {
    crate::study::check_participant_id(participant)?;
    let s = crate::study::Study::open(study)?;
    let Some(p) = s.participant(participant)? else {
        bail!("participant {participant:?} is not enrolled in {}; enrol with `attune study enroll`", study.display());
    };
    let days = s.protocol.study.days;
    if day == 0 || day > days {
        bail!("--day {day}: this study runs days 1 to {days}");
    }
    let web = db::WebDb::open(study)?;
    if revoke {
        let n = web.revoke_links(participant, Some(day))?;
        println!("{}", serde_json::json!({"participant": participant, "day": day, "revoked": n}));
        return Ok(());
    }
    if p.status != "active" {
        bail!("participant {participant:?} has withdrawn; no links are issued");
    }
    let arm = s.protocol.arm(&p.arm).with_context(|| format!("participant's arm {:?} is not in the protocol", p.arm))?;
    if arm.medium != crate::study::protocol::Medium::Chatbot {
        bail!("participant {participant:?} is on arm {:?} ({}); only the chatbot arm runs in the web front", arm.name, arm.medium.as_str());
    }
    let base = base.map(str::to_string).unwrap_or_else(|| WebConfig::default().base_url);
    if !(base.starts_with("http://") || base.starts_with("https://")) {
        bail!("--base {base:?} must start with http:// or https://");
    }
    let token = web.new_link(participant, day)?;
    println!("{}/p/{token}", base.trim_end_matches('/'));
    Ok(())
}

fn serve(study: &Path, cfg: WebConfig, llm: Option<LlmChoice>) -> anyhow::Result<()> {
    let bind = cfg.bind.clone();
    let app = Arc::new(App::open(study, cfg, llm)?);
    let rt = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    rt.block_on(async {
        let listener = tokio::net::TcpListener::bind(&bind).await.with_context(|| format!("cannot listen on {bind}"))?;
        let addr = listener.local_addr()?;
        // The line scripts and tests wait for.
        eprintln!("attune: web front for {} on http://{addr}/ (staff: /staff/login)", study.display());
        let shutdown = async {
            let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(t) => t,
                Err(_) => return,
            };
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        };
        axum::serve(listener, router(app.clone()).into_make_service_with_connect_info::<std::net::SocketAddr>())
            .with_graceful_shutdown(shutdown)
            .await
            .context("serving")?;
        anyhow::Ok(())
    })?;
    // Live chats end like a Ctrl-C'd `attune chat`: the turn in progress is
    // finished and stored, then each session is closed.
    let lives: Vec<_> = app.lives.lock().unwrap_or_else(|p| p.into_inner()).drain().collect();
    for ((p, d), l) in lives {
        if let Err(e) = l.finish() {
            eprintln!("attune: web: closing the chat of {p} day {d}: {e:#}");
        }
    }
    Ok(())
}

/// A cookie's value from the request headers.
pub fn cookie(headers: &axum::http::HeaderMap, name: &str) -> Option<String> {
    headers.get_all(header::COOKIE).iter().filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(';')).find_map(|kv| {
        let (k, v) = kv.trim().split_once('=')?;
        (k == name).then(|| v.to_string())
    })
}

/// Constant-time string equality (CSRF tokens).
pub fn same(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_web_config_with_an_unknown_field_names_it() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("w.toml");
        std::fs::write(&p, "bind = \"127.0.0.1:9\"\nsesion_idle_minutes = 3\n").unwrap();
        let e = WebConfig::load(Some(&p)).unwrap_err().to_string();
        assert!(e.contains("sesion_idle_minutes"), "{e}");
        std::fs::write(&p, "bind = \"nowhere\"\n").unwrap();
        assert!(WebConfig::load(Some(&p)).unwrap_err().to_string().contains("field `bind`"));
    }

    #[test]
    fn cookies_are_found_by_exact_name() {
        let mut h = axum::http::HeaderMap::new();
        h.insert(header::COOKIE, HeaderValue::from_static("a=1; attune_staff=xyz; attune_staff2=no"));
        assert_eq!(cookie(&h, "attune_staff").as_deref(), Some("xyz"));
        assert_eq!(cookie(&h, "attune"), None);
        assert!(same("abc", "abc") && !same("abc", "abd") && !same("abc", "ab"));
    }
}
