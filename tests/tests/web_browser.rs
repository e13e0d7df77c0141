//! The web front end to end: the real `attune web` server over a real study
//! folder (SQLite files, the dialogue engine on the reflect backend), driven
//! in headless Debian chromium over WebDriver, plus plain HTTP for the bad
//! input a browser would not send. Screenshots of every page at phone and
//! desktop widths are kept under `target/web-artefacts/`.

use attune_tests::webdriver::{self, Browser, Driver, Element};
use attune_tests::weblab::{is_png, save_png, WebLab};
use serde_json::{json, Value};
use std::time::Duration;

const REFLECT: &str = "[llm]\nmode = \"reflect\"\n";
const WAIT: Duration = Duration::from_secs(90);
const PHONE: (u32, u32) = (390, 844);
const DESKTOP: (u32, u32) = (1280, 900);

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime")
}

/// Screenshots of the current page at both widths (the window ends at desktop width).
async fn shots(b: &Browser, name: &str) {
    for (w, h, tag) in [(PHONE.0, PHONE.1, "phone"), (DESKTOP.0, DESKTOP.1, "desktop")] {
        b.resize(w, h).await.expect("resize");
        let png = b.screenshot_png().await.expect("screenshot");
        let p = save_png(&format!("{name}-{tag}"), &png);
        assert!(is_png(&p), "{} is not a PNG", p.display());
    }
}

/// Answers every questionnaire item on the page with its first option and continues.
async fn answer_all(b: &Browser) {
    let items = b.find_all("fieldset.item").await.expect("items");
    assert!(!items.is_empty(), "no questionnaire items on the page");
    let radios = b.find_all("fieldset.item .options label:first-child input[type=radio]").await.expect("radios");
    assert_eq!(radios.len(), items.len(), "one first option per item");
    for r in &radios {
        b.click(r).await.expect("click radio");
    }
    b.click(&b.find("#submit-answers").await.expect("submit")).await.expect("submit");
}

/// Completed replies on the chat page.
async fn done_replies(b: &Browser) -> Vec<Element> {
    b.find_all(".reply[data-done=\"true\"]").await.expect("replies")
}

/// Sends a message and waits until its reply is complete; returns the reply text.
async fn say(b: &Browser, text: &str) -> String {
    let before = done_replies(b).await.len();
    let box_ = b.find("textarea#message").await.expect("textarea#message");
    b.type_text(&box_, text).await.expect("typing");
    b.click(&b.find("button#send").await.expect("button#send")).await.expect("send");
    let replies = b
        .wait_for("the reply to be complete", WAIT, || async {
            let r = done_replies(b).await;
            Ok((r.len() > before).then_some(r))
        })
        .await
        .expect("reply");
    b.text(&replies[before]).await.expect("reply text")
}

fn store(lab: &WebLab) -> rusqlite::Connection {
    rusqlite::Connection::open_with_flags(lab.study.join("sessions.db"), rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY).expect("sessions.db")
}

#[test]
fn a_participant_does_a_day_from_a_link_with_a_crisis_turn_that_staff_see_live_and_acknowledge() {
    if !webdriver::available() {
        panic!("chromium and chromium-driver are not installed; run scripts/setup.sh");
    }
    let mut lab = WebLab::new(REFLECT);
    let p = lab.enroll_into("chatbot", "W");
    lab.add_user("dr.lee", "staff", "correct horse battery");
    lab.serve(&["--llm", "reflect"]);
    let link = lab.link(&p, 1);
    assert!(link.starts_with(&format!("{}/p/", lab.base)) && link.len() == lab.base.len() + 3 + 64, "{link}");
    rt().block_on(async {
        let driver = Driver::start().await.expect("chromedriver");
        let b = driver.session(PHONE.0, PHONE.1).await.expect("browser");

        // Questionnaires before: the same instruments, wording and order as `session start`.
        b.goto(&link).await.unwrap();
        let legends = b.find_all("fieldset.item legend").await.unwrap();
        assert_eq!(legends.len(), 4 + 10 + 1, "day 1: baseline PHQ-4, K10, then pre mood");
        let h2: Vec<String> = {
            let mut v = Vec::new();
            for e in b.find_all("section.instrument h2").await.unwrap() {
                v.push(b.text(&e).await.unwrap());
            }
            v
        };
        let protocol = std::fs::read_to_string(lab.study.join("study.toml")).unwrap();
        let pos: Vec<usize> = h2.iter().map(|n| protocol.find(&format!("name = \"{n}\"")).unwrap_or_else(|| panic!("{n} not in the protocol"))).collect();
        assert_eq!(h2.len(), 3, "{h2:?}");
        assert!(pos.windows(2).all(|w| w[0] < w[1]), "instruments in protocol order: {h2:?}");
        shots(&b, "01-questionnaire-before").await;
        // Submitting with nothing answered is refused by the browser (required); the server
        // refuses a partial form too (below, over plain HTTP).
        answer_all(&b).await;

        // The chat.
        b.wait_for("the chat page", WAIT, || async { Ok(b.find_all("textarea#message").await?.first().cloned()) }).await.unwrap();
        shots(&b, "02-chat-empty").await;
        let r1 = say(&b, "I have been feeling stressed about my exams this week.").await;
        assert!(!r1.trim().is_empty() && r1.contains("attune"), "reply: {r1:?}");

        // Script injection is shown as text and never runs.
        let evil = "<script>window.pwned=1</script><img src=x onerror=\"window.pwned=2\"><b>bold</b>";
        say(&b, evil).await;
        let users = b.find_all(".turn .user p.text").await.unwrap();
        assert_eq!(b.text(users.last().unwrap()).await.unwrap(), evil);
        assert_eq!(b.exec("return window.pwned === undefined && document.querySelectorAll('.user b, .user img, .reply b, .reply img').length", vec![]).await.unwrap(), json!(0));
        // ... and the same after a reload (the server-rendered page).
        b.goto(&link).await.unwrap();
        let users = b.find_all(".turn .user p.text").await.unwrap();
        assert_eq!(users.len(), 2);
        assert_eq!(b.text(&users[1]).await.unwrap(), evil);
        assert_eq!(b.exec("return window.pwned === undefined && document.querySelectorAll('.user b, .user img').length", vec![]).await.unwrap(), json!(0));

        // A 1 MB message gets a clear answer and is not sent.
        b.exec("document.getElementById('message').value = 'a'.repeat(1048576);", vec![]).await.unwrap();
        b.click(&b.find("button#send").await.unwrap()).await.unwrap();
        let notice = b
            .wait_for("the too-long notice", WAIT, || async {
                let n = b.find("#notice").await?;
                let t = b.text(&n).await?;
                Ok((!t.is_empty()).then_some(t))
            })
            .await
            .unwrap();
        assert!(notice.contains("1048576 characters") && notice.contains("65536"), "{notice}");
        assert_eq!(b.find_all(".turn").await.unwrap().len(), 2, "the long message was not sent");
        b.exec("document.getElementById('message').value = '';", vec![]).await.unwrap();

        // Staff: sign in; the dashboard is live before the crisis happens.
        let staff = driver.session(DESKTOP.0, DESKTOP.1).await.expect("staff browser");
        staff.goto(&format!("{}/staff/login", lab.base)).await.unwrap();
        shots(&staff, "03-staff-login").await;
        staff.type_text(&staff.find("input#username").await.unwrap(), "dr.lee").await.unwrap();
        staff.type_text(&staff.find("input#password").await.unwrap(), "correct horse battery").await.unwrap();
        staff.click(&staff.find("button#login").await.unwrap()).await.unwrap();
        staff.wait_for("the dashboard", WAIT, || async { Ok(staff.find_all("#live").await?.first().cloned()) }).await.unwrap();
        assert!(staff.find_all(".alert").await.unwrap().is_empty(), "no alert yet");
        staff.exec("window.notReloaded = true;", vec![]).await.unwrap();

        // A crisis turn: the protocol reply with its resource, and the alert on the dashboard.
        let crisis = say(&b, "I want to kill myself tonight. I have the pills here.").await;
        assert!(crisis.contains("988"), "the crisis reply names the resource: {crisis}");
        let resource = b.find("#resource").await.unwrap();
        assert_eq!(b.attr(&resource, "hidden").await.unwrap(), None, "the resource panel is shown");
        assert!(b.text(&resource).await.unwrap().contains("988"));
        shots(&b, "04-chat-crisis").await;

        let alert = staff
            .wait_for("the alert on the dashboard", WAIT, || async { Ok(staff.find_all(".alert[data-alert-id]").await?.first().cloned()) })
            .await
            .unwrap();
        assert_eq!(staff.exec("return window.notReloaded === true", vec![]).await.unwrap(), json!(true), "the dashboard updated without a reload");
        let alert_id = staff.attr(&alert, "data-alert-id").await.unwrap().unwrap();
        assert!(staff.text(&alert).await.unwrap().contains(&p));
        shots(&staff, "05-dashboard-alert").await;
        let ack = staff.wait_for("the ack button", WAIT, || async { Ok(staff.find_all(".alert button.ack").await?.first().cloned()) }).await.unwrap();
        staff.click(&ack).await.unwrap();
        let acked = staff
            .wait_for("the acknowledgement on the dashboard", WAIT, || async {
                for a in staff.find_all(".alert.acked").await? {
                    let t = staff.text(&a).await?;
                    if t.contains("Acknowledged by dr.lee") {
                        return Ok(Some(t));
                    }
                }
                Ok(None)
            })
            .await
            .unwrap();
        assert!(staff.find_all(".alert button.ack").await.unwrap().is_empty(), "{acked}");
        shots(&staff, "06-dashboard-acked").await;

        // Recorded the way the bus records an ack: who and when, in the store.
        let c = store(&lab);
        let ack_payload: String = c.query_row("SELECT payload FROM events WHERE kind = 'alert_acked'", [], |r| r.get(0)).unwrap();
        let v: Value = serde_json::from_str(&ack_payload).unwrap();
        assert_eq!((v["alert"].as_str().unwrap(), v["by"].as_str().unwrap()), (alert_id.as_str(), "dr.lee"));
        assert!(v["acked_at"].as_str().unwrap().ends_with('Z'));
        let audited: Vec<String> = c
            .prepare("SELECT json_extract(payload, '$.action') FROM events WHERE kind = 'staff_web' ORDER BY id")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert!(audited.contains(&"login".to_string()) && audited.contains(&"alert_ack".to_string()), "{audited:?}");

        // The participant finishes: questionnaire after, then the day is recorded.
        b.click(&b.find("button#finish").await.unwrap()).await.unwrap();
        b.wait_for("the questionnaire after", WAIT, || async { Ok(b.find_all("#submit-answers").await?.first().cloned()) }).await.unwrap();
        shots(&b, "08-questionnaire-after").await;
        answer_all(&b).await;
        b.wait_for("the thank-you page", WAIT, || async { Ok(b.find_all("#done").await?.first().cloned()) }).await.unwrap();
        shots(&b, "09-done").await;
        let status: Value = serde_json::from_str(&lab.ok(&["study", "status", "--study", lab.study_str(), "--json"])).unwrap();
        let me = status["participants"].as_array().unwrap().iter().find(|x| x["participant"] == p.as_str()).unwrap().clone();
        assert_eq!(me["days_done"], 1, "{me}");
        assert_eq!(me["staff_alerts"], 1, "{me}");
        // The link of a finished day shows that it is done; the next day opens with its own link.
        b.goto(&link).await.unwrap();
        assert!(b.find_all("#done").await.unwrap().len() == 1);

        // Export download (the export holds recorded days, so after the day is done).
        staff.goto(&format!("{}/staff", lab.base)).await.unwrap();
        staff.click(&staff.find("button#export").await.unwrap()).await.unwrap();
        let files = staff.wait_for("the export page", WAIT, || async { let f = staff.find_all("a.download").await?; Ok((!f.is_empty()).then_some(f)) }).await.unwrap();
        let mut names = Vec::new();
        for f in &files {
            names.push(staff.text(f).await.unwrap());
        }
        assert!(names.iter().any(|n| n == "summary.csv") && names.iter().any(|n| n == "turns.csv"), "{names:?}");
        shots(&staff, "07-export").await;
        let cookie = staff.cookie("attune_staff").await.unwrap();
        let url = staff.url().await.unwrap();
        let csv = reqwest::Client::new().get(format!("{url}/turns.csv")).header("Cookie", format!("attune_staff={cookie}")).send().await.unwrap();
        assert_eq!(csv.status(), 200);
        assert!(csv.headers()["content-disposition"].to_str().unwrap().contains("attachment"));
        let body = csv.text().await.unwrap();
        assert!(body.lines().count() >= 4 && body.contains("stressed about my exams"), "{body}");


        b.quit().await;
        staff.quit().await;
    });
}

#[test]
fn bad_links_forged_forms_wrong_passwords_and_the_researcher_role_get_clear_refusals() {
    let mut lab = WebLab::new(REFLECT);
    let p = lab.enroll_into("chatbot", "B");
    lab.add_user("dr.lee", "staff", "correct horse battery");
    lab.add_user("res", "researcher", "research only please");
    lab.serve(&["--llm", "reflect"]);
    let link1 = lab.link(&p, 1);
    let link2 = lab.link(&p, 2);
    let revoked = lab.link(&p, 1);
    let out = lab.ok(&["study", "link", "--study", lab.study_str(), "--participant", &p, "--day", "1", "--revoke"]);
    assert!(out.contains("\"revoked\":2"), "both day-1 links, not day 2's: {out}");
    let fresh = lab.link(&p, 1);
    rt().block_on(async {
        let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
        let get = |u: String| {
            let http = http.clone();
            async move {
                let r = http.get(u).send().await.unwrap();
                let s = r.status().as_u16();
                let h = r.headers().clone();
                (s, h, r.text().await.unwrap())
            }
        };
        let (s, _, body) = get(format!("{}/p/{}", lab.base, "0".repeat(64))).await;
        assert!(s == 404 && body.contains("This link is not valid"), "{s} {body}");
        let (s, _, body) = get(format!("{}/p/not-even-hex", lab.base)).await;
        assert!(s == 404 && body.contains("This link is not valid"), "{s}");
        for l in [&link1, &revoked] {
            let (s, _, body) = get(l.clone()).await;
            assert!(s == 410 && body.contains("withdrawn"), "{s} {body}");
        }
        let (s, _, body) = get(link2.clone()).await;
        assert!(s == 409 && body.contains("not open yet"), "day 2 before day 1: {s} {body}");
        let (s, h, body) = get(fresh.clone()).await;
        assert_eq!(s, 200);
        assert!(body.contains("fieldset"));
        let csp = h["content-security-policy"].to_str().unwrap();
        assert!(csp.contains("frame-ancestors 'none'") && csp.contains("script-src 'self'"), "{csp}");
        assert_eq!(h["x-content-type-options"], "nosniff");
        assert_eq!(h["referrer-policy"], "no-referrer");

        // A forged form (no CSRF token) changes nothing.
        let r = http.post(format!("{fresh}/answers")).form(&[("baseline.phq4.1", "0")]).send().await.unwrap();
        assert_eq!(r.status(), 403);
        assert!(r.text().await.unwrap().contains("security token"));
        let csrf = body.split("name=\"csrf\" value=\"").nth(1).unwrap().split('"').next().unwrap().to_string();
        // A partial form is refused, naming the first unanswered question, with the answers kept.
        let r = http.post(format!("{fresh}/answers")).form(&[("csrf", csrf.as_str()), ("baseline.phq4.1", "2")]).send().await.unwrap();
        assert_eq!(r.status(), 422);
        let t = r.text().await.unwrap();
        assert!(t.contains("has no answer yet") && t.contains("question 2"), "{t}");
        assert!(t.contains("value=\"2\" required checked"), "the given answer is kept");
        let r = http.post(format!("{fresh}/message")).form(&[("message", "hello")]).send().await.unwrap();
        assert_eq!(r.status(), 403);

        // Sign-in: forged (no login cookie), wrong passwords, then locked even with the right one.
        let r = http.post(format!("{}/staff/login", lab.base)).form(&[("username", "dr.lee"), ("password", "correct horse battery"), ("csrf", "x")]).send().await.unwrap();
        assert_eq!(r.status(), 403);
        async fn login(http: &reqwest::Client, base: &str, user: &str, pw: &str) -> (u16, Option<String>, String) {
            let r = http.get(format!("{base}/staff/login")).send().await.unwrap();
            let cookie = r.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_string();
            let page = r.text().await.unwrap();
            let csrf = page.split("name=\"csrf\" value=\"").nth(1).unwrap().split('"').next().unwrap().to_string();
            let r = http.post(format!("{base}/staff/login")).header("Cookie", cookie).form(&[("username", user), ("password", pw), ("csrf", &csrf)]).send().await.unwrap();
            let s = r.status().as_u16();
            let session = r.headers().get("set-cookie").and_then(|v| v.to_str().ok()).filter(|v| v.starts_with("attune_staff=")).map(|v| v.split(';').next().unwrap().to_string());
            (s, session, r.text().await.unwrap())
        }
        let (s, session, _) = login(&http, &lab.base, "res", "research only please").await;
        assert_eq!(s, 303);
        let res_cookie = session.unwrap();
        let (s, session, _) = login(&http, &lab.base, "dr.lee", "correct horse battery").await;
        assert_eq!(s, 303);
        let staff_cookie = session.unwrap();
        for _ in 0..5 {
            let (s, _, body) = login(&http, &lab.base, "dr.lee", "wrong password!").await;
            assert!(s == 401 && body.contains("do not match"), "{s}");
        }
        let (s, session, body) = login(&http, &lab.base, "dr.lee", "correct horse battery").await;
        assert!(s == 429 && session.is_none() && body.contains("Too many failed sign-ins"), "{s} {body}");

        // A staff command without the session's CSRF token is refused and changes nothing.
        let r = http.post(format!("{}/staff/alerts/ev-1/ack", lab.base)).header("Cookie", &staff_cookie).form(&[("csrf", "forged")]).send().await.unwrap();
        assert_eq!(r.status(), 403);
        let r = http.post(format!("{}/staff/export", lab.base)).header("Cookie", &staff_cookie).send().await.unwrap();
        assert!(r.status().is_client_error());
        // No session, no dashboard.
        let r = http.get(format!("{}/staff", lab.base)).send().await.unwrap();
        assert_eq!(r.status(), 303);
        assert_eq!(r.headers()["location"], "/staff/login");

        // The researcher sees the dashboard but no transcript text.
        let r = http.get(format!("{}/staff", lab.base)).header("Cookie", &res_cookie).send().await.unwrap();
        assert_eq!(r.status(), 200);
        let r = http.get(format!("{}/staff/session/1", lab.base)).header("Cookie", &res_cookie).send().await.unwrap();
        assert_eq!(r.status(), 403);
        assert!(r.text().await.unwrap().contains("researcher"));

        // The pre-session checklist, as `attune doctor` prints it.
        let r = http.get(format!("{}/staff/doctor", lab.base)).header("Cookie", &staff_cookie).send().await.unwrap();
        assert_eq!(r.status(), 200);
        let t = r.text().await.unwrap();
        assert!(t.contains("id=\"doctor\"") && t.contains("PASS"), "{t}");
    });
    let c = store(&lab);
    let n: i64 = c.query_row("SELECT COUNT(*) FROM events WHERE kind = 'staff_web' AND json_extract(payload, '$.action') = 'login_failed'", [], |r| r.get(0)).unwrap();
    assert_eq!(n, 5);
    let locked: i64 = c.query_row("SELECT COUNT(*) FROM events WHERE kind = 'staff_web' AND json_extract(payload, '$.action') = 'login_locked'", [], |r| r.get(0)).unwrap();
    assert_eq!(locked, 1);
    let answers: i64 = rusqlite::Connection::open(lab.study.join("study.db")).unwrap().query_row("SELECT COUNT(*) FROM answers", [], |r| r.get(0)).unwrap();
    assert_eq!(answers, 0, "nothing recorded from forged or partial forms");
}

#[test]
fn a_page_closed_mid_reply_loses_nothing_and_reopening_shows_the_reply() {
    use attune_tests::sse_server::{words, Reply, SseServer};
    // A real streaming LLM server that waits 3 s before its first token.
    let reply = "It sounds like today has been heavy for you. What felt hardest about it?";
    let server = SseServer::start(vec![Reply::SlowStream(Duration::from_secs(3), words(reply))]).expect("sse server");
    let site = format!("[llm]\nmode = \"openai\"\nbase_url = \"{}\"\nmodel = \"test-model\"\n", server.base_url());
    let mut lab = WebLab::new(&site);
    let p = lab.enroll_into("chatbot", "D");
    lab.serve(&[]);
    let link = lab.link(&p, 1);
    rt().block_on(async {
        let driver = Driver::start().await.expect("chromedriver");
        let b = driver.session(PHONE.0, PHONE.1).await.expect("browser");
        b.goto(&link).await.unwrap();
        answer_all(&b).await;
        b.wait_for("the chat page", WAIT, || async { Ok(b.find_all("textarea#message").await?.first().cloned()) }).await.unwrap();
        b.type_text(&b.find("textarea#message").await.unwrap(), "Work was a lot today and I am worn out.").await.unwrap();
        b.click(&b.find("button#send").await.unwrap()).await.unwrap();
        // The message is taken (its bubble appears), then the page goes away mid-reply.
        b.wait_for("the message bubble", WAIT, || async { Ok(b.find_all(".turn .user").await?.first().cloned()) }).await.unwrap();
        assert!(done_replies(&b).await.is_empty(), "the reply is still on its way");
        b.goto("about:blank").await.unwrap();
        // Reopened (a new connection): the turn is there and its reply arrives.
        b.goto(&link).await.unwrap();
        let users = b.find_all(".turn .user p.text").await.unwrap();
        assert_eq!(users.len(), 1, "the message survived the closed page");
        let done = b
            .wait_for("the reply after reopening", WAIT, || async { let r = done_replies(&b).await; Ok((!r.is_empty()).then_some(r)) })
            .await
            .unwrap();
        let shown = b.text(&done[0]).await.unwrap();
        shots(&b, "10-reopened-after-drop").await;
        // What the page shows is what the store holds.
        let stored: String = b
            .wait_for("the stored turn", WAIT, || async {
                let c = store(&lab);
                let r: Option<String> = c.query_row("SELECT reply FROM turns WHERE status = 'complete'", [], |r| r.get(0)).ok();
                Ok(r)
            })
            .await
            .unwrap();
        assert!(!stored.is_empty());
        for sentence in stored.split_inclusive(['.', '?', '!']) {
            assert!(shown.contains(sentence.trim()), "shown {shown:?} lacks stored {sentence:?}");
        }
        b.quit().await;
    });
}

/// Signs a staff member in on `b` and waits for the dashboard.
async fn staff_login(b: &Browser, base: &str, user: &str, password: &str) {
    b.goto(&format!("{base}/staff/login")).await.unwrap();
    b.type_text(&b.find("input#username").await.unwrap(), user).await.unwrap();
    b.type_text(&b.find("input#password").await.unwrap(), password).await.unwrap();
    b.click(&b.find("button#login").await.unwrap()).await.unwrap();
    b.wait_for("the dashboard", WAIT, || async { Ok(b.find_all("#live").await?.first().cloned()) }).await.unwrap();
}

/// Whether the participant page shows the chat as paused by staff (banner shown, sending off).
async fn shows_paused(b: &Browser) -> bool {
    b.exec("return !document.getElementById('paused').hidden && document.getElementById('send').disabled", vec![]).await.unwrap() == json!(true)
}

#[test]
fn staff_pause_and_resume_a_live_chat_and_a_staff_line_reaches_the_participant_all_audited() {
    if !webdriver::available() {
        panic!("chromium and chromium-driver are not installed; run scripts/setup.sh");
    }
    let mut lab = WebLab::new(REFLECT);
    let p = lab.enroll_into("chatbot", "Z");
    lab.add_user("dr.lee", "staff", "correct horse battery");
    lab.add_user("res", "researcher", "research only please");
    lab.serve(&["--llm", "reflect"]);
    let link = lab.link(&p, 1);
    let woz = "Let us take one slow breath together <b>before</b> we go on.";
    rt().block_on(async {
        let driver = Driver::start().await.expect("chromedriver");
        let b = driver.session(PHONE.0, PHONE.1).await.expect("participant browser");
        b.goto(&link).await.unwrap();
        answer_all(&b).await;
        b.wait_for("the chat page", WAIT, || async { Ok(b.find_all("textarea#message").await?.first().cloned()) }).await.unwrap();
        say(&b, "Work has been a lot this week.").await;

        let staff = driver.session(DESKTOP.0, DESKTOP.1).await.expect("staff browser");
        staff_login(&staff, &lab.base, "dr.lee", "correct horse battery").await;
        let row = staff.wait_for("the live session row", WAIT, || async { Ok(staff.find_all("tr.session[data-session-id]").await?.first().cloned()) }).await.unwrap();
        let sid: i64 = staff.attr(&row, "data-session-id").await.unwrap().unwrap().parse().unwrap();
        staff.goto(&format!("{}/staff/session/{sid}", lab.base)).await.unwrap();

        // Pause: the participant's page says so and does not send.
        staff.click(&staff.find("button#pause").await.unwrap()).await.unwrap();
        staff.wait_for("the pause notice", WAIT, || async { Ok(staff.find_all("#notice").await?.first().cloned()) }).await.unwrap();
        b.wait_for("the paused banner", WAIT, || async { Ok(shows_paused(&b).await.then_some(())) }).await.unwrap();
        shots(&b, "11-chat-paused").await;
        shots(&staff, "12-staff-session-controls").await;
        // A message posted anyway (a page that missed the update) is refused with the reason, not queued.
        let r = b
            .exec(
                "var x = new XMLHttpRequest(); x.open('POST', document.body.dataset.base + '/message', false);\
                 x.setRequestHeader('Content-Type', 'application/x-www-form-urlencoded');\
                 x.send('csrf=' + encodeURIComponent(document.body.dataset.csrf) + '&message=are%20you%20there');\
                 return [x.status, x.responseText];",
                vec![],
            )
            .await
            .unwrap();
        assert_eq!(r[0], json!(409), "{r}");
        assert!(r[1].as_str().unwrap().contains("paused"), "{r}");
        // The same page reloaded shows the pause too (server-rendered).
        b.goto(&link).await.unwrap();
        assert!(shows_paused(&b).await, "a reloaded page shows the pause");
        assert_eq!(b.find_all(".turn").await.unwrap().len(), 1, "nothing was queued while paused");

        // A researcher cannot command the session (refused and audited).
        let res = driver.session(DESKTOP.0, DESKTOP.1).await.expect("researcher browser");
        staff_login(&res, &lab.base, "res", "research only please").await;
        let cookie = res.cookie("attune_staff").await.unwrap();
        let page = reqwest::Client::new().get(format!("{}/staff", lab.base)).header("Cookie", format!("attune_staff={cookie}")).send().await.unwrap().text().await.unwrap();
        let csrf = page.split("name=\"csrf\" value=\"").nth(1).unwrap().split('"').next().unwrap().to_string();
        let r = reqwest::Client::new()
            .post(format!("{}/staff/session/{sid}/command", lab.base))
            .header("Cookie", format!("attune_staff={cookie}"))
            .form(&[("csrf", csrf.as_str()), ("kind", "resume")])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 403);
        res.quit().await;
        // A forged command (no CSRF token) does nothing either.
        let scookie = staff.cookie("attune_staff").await.unwrap();
        let r = reqwest::Client::new()
            .post(format!("{}/staff/session/{sid}/command", lab.base))
            .header("Cookie", format!("attune_staff={scookie}"))
            .form(&[("kind", "resume")])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 403);
        assert!(shows_paused(&b).await, "still paused after the refused commands");

        // Resume: sending works again.
        staff.click(&staff.find("button#resume").await.unwrap()).await.unwrap();
        b.wait_for("the banner to go", WAIT, || async {
            Ok((b.exec("return document.getElementById('paused').hidden && !document.getElementById('send').disabled", vec![]).await? == json!(true)).then_some(()))
        })
        .await
        .unwrap();

        // The wizard-of-oz line: queued by staff, it is the reply to the participant's next message.
        staff.type_text(&staff.find("textarea#woz").await.unwrap(), woz).await.unwrap();
        staff.click(&staff.find("button#say").await.unwrap()).await.unwrap();
        staff.wait_for("the queued notice", WAIT, || async { Ok(staff.find_all("#notice").await?.first().cloned()) }).await.unwrap();
        let reply = say(&b, "Okay. I am back now.").await;
        assert!(reply.contains(woz), "the staff line is the reply, shown as text: {reply:?}");
        assert_eq!(b.exec("return document.querySelectorAll('.reply b').length", vec![]).await.unwrap(), json!(0), "escaped");
        // The transcript marks it as staff-written.
        staff.goto(&format!("{}/staff/session/{sid}", lab.base)).await.unwrap();
        let marked = staff.find_all("li.staff-line").await.unwrap();
        assert_eq!(marked.len(), 1);
        assert!(staff.text(&marked[0]).await.unwrap().contains("staff line"));

        // Audit: each command in the session's events with who and when, as a bus command is.
        let c = store(&lab);
        let cmds: Vec<(String, String, String)> = c
            .prepare("SELECT json_extract(payload, '$.kind'), json_extract(payload, '$.by'), json_extract(payload, '$.received_at') FROM events WHERE kind = 'staff_command' AND session_id = ?1 ORDER BY id")
            .unwrap()
            .query_map([sid], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        let kinds: Vec<&str> = cmds.iter().map(|c| c.0.as_str()).collect();
        assert_eq!(kinds, ["pause", "resume", "say"], "{cmds:?}");
        assert!(cmds.iter().all(|c| c.1 == "dr.lee" && c.2.ends_with('Z')), "{cmds:?}");
        let web: Vec<(String, Option<String>)> = c
            .prepare("SELECT json_extract(payload, '$.action'), json_extract(payload, '$.kind') FROM events WHERE kind = 'staff_web' AND json_extract(payload, '$.action') LIKE 'session_command%' ORDER BY id")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert_eq!(web.iter().filter(|w| w.0 == "session_command").count(), 3, "{web:?}");
        assert_eq!(web.iter().filter(|w| w.0 == "session_command_refused").count(), 1, "the researcher's try: {web:?}");
        let (by, turn): (String, i64) = c.query_row("SELECT json_extract(payload, '$.by'), turn_idx FROM events WHERE kind = 'staff_say' AND session_id = ?1", [sid], |r| Ok((r.get(0)?, r.get(1)?))).unwrap();
        assert_eq!((by.as_str(), turn), ("dr.lee", 2));
        let (source, stored): (String, String) = c.query_row("SELECT source, reply FROM turns WHERE session_id = ?1 AND idx = 2", [sid], |r| Ok((r.get(0)?, r.get(1)?))).unwrap();
        assert_eq!((source.as_str(), stored.as_str()), ("staff", woz));

        // Stop: the chat ends for the day and the page says what to do next.
        staff.click(&staff.find("button#stop").await.unwrap()).await.unwrap();
        b.wait_for("the stopped notice", WAIT, || async {
            Ok((b.exec("return !document.getElementById('stopped').hidden && document.getElementById('send').disabled", vec![]).await? == json!(true)).then_some(()))
        })
        .await
        .unwrap();
        let ended: Option<i64> = b
            .wait_for("the session to close", WAIT, || async {
                Ok(store(&lab).query_row("SELECT ended_at_ms FROM sessions WHERE id = ?1", [sid], |r| r.get::<_, Option<i64>>(0)).unwrap().map(Some))
            })
            .await
            .unwrap();
        assert!(ended.is_some());
        b.goto(&link).await.unwrap();
        assert_eq!(b.exec("return !document.getElementById('stopped').hidden", vec![]).await.unwrap(), json!(true), "the stopped day does not restart on reload");
        assert_eq!(b.find_all(".turn").await.unwrap().len(), 2);
        b.quit().await;
        staff.quit().await;
    });
}

/// (user text, reply text) of each turn on a chat page, in page order, once all are complete.
async fn page_turns(b: &Browser, n: usize) -> Vec<(String, String)> {
    b.wait_for("every reply on this page", WAIT, || async { Ok((done_replies(b).await.len() >= n).then_some(())) }).await.unwrap();
    let v = b
        .exec(
            "return Array.from(document.querySelectorAll('.turn')).map(function (t) {\
               return [t.querySelector('.user p.text').textContent, t.querySelector('.reply p.text').textContent.trim()]; });",
            vec![],
        )
        .await
        .unwrap();
    v.as_array().unwrap().iter().map(|x| (x[0].as_str().unwrap().to_string(), x[1].as_str().unwrap().to_string())).collect()
}

#[test]
fn two_tabs_on_one_day_sending_at_once_share_one_conversation_with_nothing_lost_or_interleaved() {
    if !webdriver::available() {
        panic!("chromium and chromium-driver are not installed; run scripts/setup.sh");
    }
    let mut lab = WebLab::new(REFLECT);
    let p = lab.enroll_into("chatbot", "T");
    lab.serve(&["--llm", "reflect"]);
    let link = lab.link(&p, 1);
    rt().block_on(async {
        let driver = Driver::start().await.expect("chromedriver");
        let a = driver.session(PHONE.0, PHONE.1).await.expect("tab a");
        a.goto(&link).await.unwrap();
        answer_all(&a).await;
        a.wait_for("the chat page", WAIT, || async { Ok(a.find_all("textarea#message").await?.first().cloned()) }).await.unwrap();
        let b = driver.session(PHONE.0, PHONE.1).await.expect("tab b");
        b.goto(&link).await.unwrap();
        b.wait_for("the chat page in the second tab", WAIT, || async { Ok(b.find_all("textarea#message").await?.first().cloned()) }).await.unwrap();
        // Both tabs type, then both send as close together as the driver allows (the
        // second click is not waited for: a script clicks it after a 0 ms timer).
        let (ta, tb) = ("Tab A: my sister called me today and it went badly.", "Tab B: I also could not sleep last night.");
        a.type_text(&a.find("textarea#message").await.unwrap(), ta).await.unwrap();
        b.type_text(&b.find("textarea#message").await.unwrap(), tb).await.unwrap();
        b.exec("setTimeout(function () { document.getElementById('send').click(); }, 0);", vec![]).await.unwrap();
        a.click(&a.find("button#send").await.unwrap()).await.unwrap();
        let shown_a = page_turns(&a, 2).await;
        let shown_b = page_turns(&b, 2).await;
        assert_eq!(shown_a.len(), 2, "{shown_a:?}");
        assert_eq!(shown_a, shown_b, "both tabs show the same conversation in the same order");
        let mut users: Vec<&str> = shown_a.iter().map(|t| t.0.as_str()).collect();
        users.sort();
        assert_eq!(users, [ta, tb], "each message once");
        // What the tabs show is what the store holds, turn by turn (no sentence of one reply in the other).
        let c = store(&lab);
        let stored: Vec<(String, String)> = c
            .prepare("SELECT participant_text, reply FROM turns WHERE status = 'complete' ORDER BY session_id, idx")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert_eq!(stored.len(), 2, "one session, two turns: {stored:?}");
        let sessions: i64 = c.query_row("SELECT COUNT(*) FROM sessions", [], |r| r.get(0)).unwrap();
        assert_eq!(sessions, 1, "two tabs, one session");
        for ((su, sr), (pu, pr)) in stored.iter().zip(&shown_a) {
            assert_eq!(su, pu);
            assert_eq!(sr.split_whitespace().collect::<Vec<_>>(), pr.split_whitespace().collect::<Vec<_>>(), "turn {su:?}");
        }
        // A reload of either tab converges on the same.
        b.goto(&link).await.unwrap();
        assert_eq!(page_turns(&b, 2).await, shown_a);
        shots(&b, "13-second-tab").await;
        a.quit().await;
        b.quit().await;
    });
}

#[test]
fn a_chat_that_closed_while_the_participant_was_away_keeps_the_day_in_one_session() {
    if !webdriver::available() {
        panic!("chromium and chromium-driver are not installed; run scripts/setup.sh");
    }
    let mut lab = WebLab::new(REFLECT);
    let p = lab.enroll_into("chatbot", "I");
    lab.serve(&["--llm", "reflect"]);
    let link = lab.link(&p, 1);
    let rt = rt();
    let driver = rt.block_on(Driver::start()).expect("chromedriver");
    let b = rt.block_on(driver.session(PHONE.0, PHONE.1)).expect("browser");
    rt.block_on(async {
        b.goto(&link).await.unwrap();
        answer_all(&b).await;
        b.wait_for("the chat page", WAIT, || async { Ok(b.find_all("textarea#message").await?.first().cloned()) }).await.unwrap();
        say(&b, "I argued with my flatmate about the dishes.").await;
        say(&b, "Now it feels awkward at home.").await;
        b.goto("about:blank").await.unwrap();
    });
    // The chat's session closes while the participant is away (here: the
    // server restarts, which closes it the way `chat_idle_minutes` does).
    lab.stop();
    lab.serve(&["--llm", "reflect"]);
    rt.block_on(async {
        b.goto(&link).await.unwrap();
        let notice = b.wait_for("the closed-chat notice", WAIT, || async { Ok(b.find_all("#chat-closed").await?.first().cloned()) }).await.unwrap();
        assert!(b.text(&notice).await.unwrap().contains("saved"));
        assert!(b.find_all("textarea#message").await.unwrap().is_empty(), "no second chat session for the day");
        shots(&b, "15-chat-closed-while-away").await;
        answer_all(&b).await;
        b.wait_for("the thank-you page", WAIT, || async { Ok(b.find_all("#done").await?.first().cloned()) }).await.unwrap();
        b.quit().await;
    });
    // One store session for the day, and the day record names it with both turns.
    let c = store(&lab);
    let sessions: Vec<(i64, i64)> = c
        .prepare("SELECT id, (SELECT COUNT(*) FROM turns t WHERE t.session_id = s.id) FROM sessions s WHERE participant = ?1")
        .unwrap()
        .query_map([&p], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(sessions.len(), 1, "{sessions:?}");
    let sdb = rusqlite::Connection::open(lab.study.join("study.db")).unwrap();
    let (store_session, turns): (i64, i64) = sdb.query_row("SELECT store_session, turns FROM study_sessions WHERE participant = ?1 AND day = 1", [&p], |r| Ok((r.get(0)?, r.get(1)?))).unwrap();
    assert_eq!((store_session, turns), (sessions[0].0, 2));
}
