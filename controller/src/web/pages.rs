//! The web front's pages: askama templates under `controller/templates/web/`,
//! checked at compile time and HTML-escaped by default (every participant
//! word, reply and id is text, never markup).

use askama::Template;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};

/// Renders a page; a template error is a plain 500 (logged).
pub fn render<T: Template>(t: &T) -> Response {
    match t.render() {
        Ok(s) => Html(s).into_response(),
        Err(e) => {
            tracing::error!("web: template: {e}");
            (StatusCode::INTERNAL_SERVER_ERROR, "template error").into_response()
        }
    }
}

/// Renders a fragment to a string (the dashboard's live part, also sent over SSE).
pub fn render_string<T: Template>(t: &T) -> String {
    t.render().unwrap_or_else(|e| {
        tracing::error!("web: template: {e}");
        String::new()
    })
}

#[derive(Template)]
#[template(path = "web/index.html")]
pub struct Index {}

#[derive(Template)]
#[template(path = "web/error.html")]
pub struct ErrorPage<'a> {
    pub title: &'a str,
    pub message: &'a str,
}

/// One answer option.
pub struct OptView {
    pub value: i64,
    pub label: String,
    pub id: String,
    pub checked: bool,
}

/// One item of an instrument.
pub struct ItemView {
    pub n: usize,
    pub text: String,
    pub field: String,
    pub options: Vec<OptView>,
}

/// One instrument.
pub struct QView {
    pub name: String,
    pub instruction: String,
    pub items: Vec<ItemView>,
}

#[derive(Template)]
#[template(path = "web/questionnaire.html")]
pub struct QuestionnairePage {
    pub action: String,
    pub csrf: String,
    pub heading: String,
    pub error: Option<String>,
    /// Why the page is shown (e.g. the chat closed while the participant was away).
    pub notice: Option<String>,
    pub questionnaires: Vec<QView>,
}

#[derive(Template)]
#[template(path = "web/chat.html")]
pub struct ChatPage {
    pub base: String,
    pub csrf: String,
    pub day: u32,
    pub days: u32,
    pub exercise_title: String,
    pub exercise_intro: String,
    pub crisis: bool,
    pub resource_name: String,
    pub resource_contact: String,
    /// Staff hold the chat paused.
    pub paused: bool,
    /// Staff stopped the chat.
    pub stopped: bool,
    pub failure: Option<String>,
    pub turns: Vec<super::live::LiveTurn>,
    pub max_chars: usize,
    /// A reply is still being written (the typing indicator shows).
    pub writing: bool,
}

#[derive(Template)]
#[template(path = "web/done.html")]
pub struct DonePage {
    pub day: u32,
}

#[derive(Template)]
#[template(path = "web/login.html")]
pub struct LoginPage {
    pub csrf: String,
    pub error: Option<String>,
}

/// A live session row.
pub struct SessionRow {
    pub id: i64,
    pub participant: String,
    pub day: u32,
    pub arm: String,
    pub started: String,
    pub crisis: bool,
    pub turns: i64,
    pub risk: String,
    pub latency_ms: String,
    pub state: String,
    /// The viewer may open the transcript.
    pub link: bool,
}

/// A crisis alert.
pub struct AlertView {
    pub id: String,
    pub risk: String,
    pub signals: String,
    pub participant: String,
    pub day: u32,
    pub arm: String,
    pub session: i64,
    pub turn: i64,
    pub at: String,
    pub acked_by: Option<String>,
    pub acked_at: String,
    pub can_ack: bool,
}

/// One day cell of the adherence strip.
pub struct Cell {
    pub x: u32,
    pub class: String,
    pub title: String,
}

/// A participant's schedule line.
pub struct PartView {
    pub id: String,
    pub arm: String,
    pub status: String,
    pub done: u32,
    pub next: String,
    pub adherence: String,
    pub adherence_v: f64,
    pub cells: Vec<Cell>,
    pub width: u32,
    pub distress_points: String,
    pub distress_n: usize,
    pub alerts: i64,
    pub in_crisis: bool,
}

/// Per-arm summary.
pub struct ArmView {
    pub name: String,
    pub medium: String,
    pub participants: usize,
    pub days: u32,
    pub adherence: String,
    pub alerts: i64,
}

#[derive(Template)]
#[template(path = "web/dash_live.html")]
pub struct DashLive {
    pub csrf: String,
    pub sessions: Vec<SessionRow>,
    pub alerts: Vec<AlertView>,
    pub participants: Vec<PartView>,
    pub arms: Vec<ArmView>,
}

#[derive(Template)]
#[template(path = "web/dashboard.html")]
pub struct Dashboard {
    pub user: String,
    pub role: String,
    pub csrf: String,
    pub study: String,
    pub site: String,
    pub robot: String,
    /// The rendered (already escaped) live fragment.
    pub live_html: String,
}

/// A transcript line.
pub struct TurnView {
    pub idx: i64,
    pub user: String,
    pub reply: String,
    pub risk: String,
    pub source: String,
    pub status: String,
}

#[derive(Template)]
#[template(path = "web/session.html")]
pub struct SessionPage {
    pub id: i64,
    pub participant: String,
    pub day: u32,
    pub arm: String,
    pub turns: Vec<TurnView>,
    /// The staff session's CSRF token (command forms).
    pub csrf: String,
    /// Staff controls: the session is a live chat of this server and the
    /// viewer has the staff role.
    pub controls: bool,
    /// The session is still open in the store but runs in another process.
    pub elsewhere: bool,
    /// Paused by staff (a live chat of this server).
    pub paused: bool,
    /// Which buttons are live, `(pause, resume)`: off only when the desk's
    /// state and the command just sent both make one pointless (see
    /// `staff::controls_live`).
    pub live: (bool, bool),
    /// The session has ended.
    pub ended: bool,
    /// What the last command did (shown as text).
    pub notice: Option<String>,
    /// Longest staff line.
    pub max_say: usize,
    /// A behaviour timeline picture is available (robot arm).
    pub timeline: bool,
}

#[derive(Template)]
#[template(path = "web/doctor.html")]
pub struct DoctorPage {
    pub ok: bool,
    pub lines: Vec<String>,
}

#[derive(Template)]
#[template(path = "web/export.html")]
pub struct ExportPage {
    pub name: String,
    pub files: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A chat page with `turns` and an exercise title, as the participant route renders it.
    fn chat_page(turns: Vec<super::super::live::LiveTurn>, exercise_title: &str) -> String {
        ChatPage {
            base: "/p/x".into(),
            csrf: "c".into(),
            day: 1,
            days: 15,
            exercise_title: exercise_title.into(),
            exercise_intro: String::new(),
            crisis: false,
            resource_name: String::new(),
            resource_contact: String::new(),
            paused: false,
            stopped: false,
            failure: None,
            writing: turns.iter().any(|t| !t.done),
            turns,
            max_chars: 10,
        }
        .render()
        .unwrap()
    }

    fn chat_with(done: bool) -> String {
        let turn = super::super::live::LiveTurn { utt: 1, user: "hi".into(), sentences: vec![], done, error: None, crisis: false, risk: None };
        chat_page(vec![turn], "")
    }

    #[test]
    fn a_page_opened_mid_reply_shows_the_typing_status_and_a_finished_one_does_not() {
        let mid = chat_with(false);
        let status = mid.split("id=\"typing\"").nth(1).and_then(|s| s.split("</p>").next()).unwrap();
        assert!(status.contains("role=\"status\"") && status.contains("aria-live=\"polite\"") && status.contains("data-active=\"true\"") && status.contains("attune is writing"), "{status}");
        let done = chat_with(true);
        let status = done.split("id=\"typing\"").nth(1).and_then(|s| s.split("</p>").next()).unwrap();
        assert!(status.contains("data-active=\"false\"") && !status.contains("writing"), "{status}");
    }

    #[test]
    fn participant_words_are_escaped_in_every_page_that_shows_them() {
        let evil = "<script>alert(1)</script><img src=x onerror=alert(2)>";
        let turn = super::super::live::LiveTurn { utt: 1, user: evil.into(), sentences: vec![evil.into()], done: true, error: None, crisis: false, risk: None };
        let chat = chat_page(vec![turn], evil);
        let session = SessionPage {
            id: 1,
            participant: evil.into(),
            day: 1,
            arm: "chatbot".into(),
            turns: vec![TurnView { idx: 1, user: evil.into(), reply: evil.into(), risk: "none".into(), source: "llm".into(), status: "complete".into() }],
            csrf: "c".into(),
            controls: true,
            elsewhere: false,
            paused: false,
            live: (true, false),
            ended: false,
            notice: Some(evil.into()),
            max_say: 1000,
            timeline: false,
        }
        .render()
        .unwrap();
        let dash = DashLive {
            csrf: "c".into(),
            sessions: vec![],
            alerts: vec![AlertView {
                id: evil.into(),
                risk: "high".into(),
                signals: evil.into(),
                participant: evil.into(),
                day: 1,
                arm: "chatbot".into(),
                session: 1,
                turn: 1,
                at: String::new(),
                acked_by: Some(evil.into()),
                acked_at: String::new(),
                can_ack: true,
            }],
            participants: vec![],
            arms: vec![],
        }
        .render()
        .unwrap();
        for page in [&chat, &session, &dash] {
            assert!(!page.contains("<script>alert"), "{page}");
            assert!(!page.contains("<img src=x"), "{page}");
            assert!(page.contains("&#60;script&#62;alert(1)&#60;/script&#62;"), "{page}");
        }
    }
}
