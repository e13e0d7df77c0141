//! The embedded `attune-llm` server, as a real process on a real socket with
//! the real SmolLM2 model, spoken to over HTTP with reqwest.
//!
//! Needs the `attune-llm` binary (`cargo build -p attune-llm`; `scripts/test.sh`
//! builds every binary first) and the model from `scripts/setup.sh`. Each test
//! fails with a message saying which is missing rather than passing silently.

use futures_util::StreamExt;
use serde_json::{json, Value};
use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// `$ATTUNE_HOME/models/...` as `controller/src/config.rs::data_dir` defines it
/// (the controller is a binary crate, so its function cannot be imported here).
fn model_path() -> PathBuf {
    let home = if let Some(h) = std::env::var_os("ATTUNE_HOME") {
        PathBuf::from(h)
    } else if let Some(x) = std::env::var_os("XDG_DATA_HOME") {
        PathBuf::from(x).join("attune")
    } else {
        PathBuf::from(std::env::var_os("HOME").expect("HOME is set")).join(".local/share/attune")
    };
    let p = home.join("models/SmolLM2-135M-Instruct.Q4_1.gguf");
    assert!(p.is_file(), "the SmolLM2 GGUF is missing at {}: run scripts/setup.sh", p.display());
    p
}

/// The built `attune-llm`, next to this test's `deps/` folder.
fn llm_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("ATTUNE_LLM_BIN") {
        return PathBuf::from(p);
    }
    let exe = std::env::current_exe().expect("test executable path");
    let dir = exe.parent().and_then(|d| d.parent()).expect("target/<profile>");
    let p = dir.join(format!("attune-llm{}", std::env::consts::EXE_SUFFIX));
    assert!(p.is_file(), "{} is missing: build it with `cargo build -p attune-llm`", p.display());
    p
}

/// A running server; killed when dropped.
struct Server {
    /// The process.
    _child: Child,
    /// `http://127.0.0.1:PORT`.
    base: String,
}

async fn start_server(extra: &[&str]) -> Server {
    let mut child = Command::new(llm_bin())
        .arg("--model")
        .arg(model_path())
        .args(["--port", "0", "--threads", "1"])
        .args(extra)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .expect("attune-llm starts");
    let stdout = child.stdout.take().expect("stdout piped");
    let mut lines = BufReader::new(stdout).lines();
    let line = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
        .await
        .expect("listening line within 30 s")
        .expect("read stdout")
        .expect("a first line");
    let base = line.strip_prefix("listening on ").unwrap_or_else(|| panic!("unexpected line {line:?}")).to_string();
    assert!(base.starts_with("http://127.0.0.1:"), "{base}");
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(r) = client.get(format!("{base}/health")).send().await {
            if r.status() == 200 {
                break;
            }
        }
        assert!(Instant::now() < deadline, "server at {base} not healthy within 60 s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Server { _child: child, base }
}

fn user(text: &str) -> Value {
    json!([{ "role": "user", "content": text }])
}

async fn post(base: &str, body: &Value) -> (u16, Value) {
    let r = reqwest::Client::new()
        .post(format!("{base}/v1/chat/completions"))
        .json(body)
        .send()
        .await
        .expect("request sent");
    let status = r.status().as_u16();
    let text = r.text().await.expect("body read");
    let v = serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text:?}"));
    (status, v)
}

/// SSE `data:` payloads of a response, in order, until the body ends.
async fn sse_events(resp: reqwest::Response) -> Vec<String> {
    let mut out = Vec::new();
    let mut buf = String::new();
    let mut body = resp.bytes_stream();
    while let Some(chunk) = body.next().await {
        buf.push_str(&String::from_utf8_lossy(&chunk.expect("body chunk")));
        while let Some(end) = buf.find("\n\n") {
            let event: String = buf.drain(..end + 2).collect();
            let data = event.trim().strip_prefix("data: ").unwrap_or_else(|| panic!("not a data line: {event:?}"));
            out.push(data.to_string());
        }
    }
    assert!(buf.trim().is_empty(), "trailing partial event: {buf:?}");
    out
}

fn content_of(chunks: &[Value]) -> String {
    chunks.iter().filter_map(|c| c["choices"][0]["delta"]["content"].as_str()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_streamed_completion_sends_a_role_chunk_content_chunks_a_finish_reason_and_done() {
    let s = start_server(&[]).await;
    let resp = reqwest::Client::new()
        .post(format!("{}/v1/chat/completions", s.base))
        .json(&json!({ "model": "x", "stream": true, "max_tokens": 8, "temperature": 0, "messages": user("Hello! How are you?") }))
        .send()
        .await
        .expect("request");
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "text/event-stream");
    let events = sse_events(resp).await;
    assert_eq!(events.last().map(String::as_str), Some("[DONE]"), "{events:?}");
    let chunks: Vec<Value> = events[..events.len() - 1].iter().map(|e| serde_json::from_str(e).expect("chunk JSON")).collect();
    assert!(chunks.len() >= 3, "role, content and final chunks expected: {chunks:?}");
    let id = chunks[0]["id"].as_str().expect("id").to_string();
    for c in &chunks {
        assert_eq!(c["object"], "chat.completion.chunk");
        assert_eq!(c["id"], id.as_str());
        assert_eq!(c["choices"][0]["index"], 0);
    }
    assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
    let (last, body) = chunks.split_last().expect("chunks");
    for c in body {
        assert!(c["choices"][0]["finish_reason"].is_null(), "{c}");
    }
    let finish = last["choices"][0]["finish_reason"].as_str().expect("finish_reason on the last chunk");
    assert!(finish == "stop" || finish == "length", "{finish}");
    let text = content_of(&chunks);
    assert!(!text.trim().is_empty(), "the model said nothing");
    let n = last["usage"]["completion_tokens"].as_u64().expect("usage");
    assert!((1..=8).contains(&n), "{n} tokens for max_tokens 8");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plain_completion_stops_at_max_tokens_and_says_length() {
    let s = start_server(&[]).await;
    let (status, v) = post(
        &s.base,
        &json!({ "max_tokens": 3, "temperature": 0, "ignore_eos": true, "messages": user("Tell me a long story about the sea.") }),
    )
    .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["object"], "chat.completion");
    assert_eq!(v["choices"][0]["message"]["role"], "assistant");
    assert_eq!(v["choices"][0]["finish_reason"], "length");
    assert_eq!(v["usage"]["completion_tokens"], 3);
    let prompt = v["usage"]["prompt_tokens"].as_u64().expect("prompt tokens");
    assert!(prompt > 5, "the chat template should wrap the message: {prompt}");
    assert_eq!(v["usage"]["total_tokens"].as_u64(), Some(prompt + 3));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stop_sequence_ends_the_reply_just_before_it() {
    let s = start_server(&[]).await;
    let ask = user("Write a short poem about the sea.");
    let (status, v) = post(&s.base, &json!({ "max_tokens": 24, "temperature": 0, "ignore_eos": true, "messages": ask })).await;
    assert_eq!(status, 200, "{v}");
    let full = v["choices"][0]["message"]["content"].as_str().expect("content").to_string();
    // A stop string from the middle of the greedy reply, first occurring there.
    let bounds: Vec<usize> = full.char_indices().map(|(i, _)| i).chain([full.len()]).collect();
    let (cut, stop) = bounds
        .iter()
        .enumerate()
        .filter(|(_, &i)| i >= full.len() / 3 && i > 0)
        .find_map(|(k, &i)| {
            let end = *bounds.get(k + 4)?;
            let stop = &full[i..end];
            (full.find(stop) == Some(i)).then(|| (i, stop.to_string()))
        })
        .unwrap_or_else(|| panic!("no usable stop string in {full:?}"));

    let resp = reqwest::Client::new()
        .post(format!("{}/v1/chat/completions", s.base))
        .json(&json!({ "stream": true, "max_tokens": 24, "temperature": 0, "ignore_eos": true, "stop": [stop], "messages": ask }))
        .send()
        .await
        .expect("request");
    let events = sse_events(resp).await;
    assert_eq!(events.last().map(String::as_str), Some("[DONE]"));
    let chunks: Vec<Value> = events[..events.len() - 1].iter().map(|e| serde_json::from_str(e).expect("JSON")).collect();
    let text = content_of(&chunks);
    assert_eq!(text, &full[..cut], "stop {stop:?} in {full:?}");
    assert_eq!(chunks.last().expect("final")["choices"][0]["finish_reason"], "stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_seed_gives_the_same_sampled_reply() {
    let s = start_server(&[]).await;
    let ask = |seed: u64| {
        json!({ "max_tokens": 12, "temperature": 1.0, "top_p": 1.0, "seed": seed, "ignore_eos": true,
                "messages": user("Name some colours.") })
    };
    let reply = |v: Value| v["choices"][0]["message"]["content"].as_str().expect("content").to_string();
    let a = reply(post(&s.base, &ask(1234)).await.1);
    let b = reply(post(&s.base, &ask(1234)).await.1);
    assert_eq!(a, b, "same seed, different replies");
    let mut others = Vec::new();
    for seed in [1, 2, 3] {
        others.push(reply(post(&s.base, &ask(seed)).await.1));
    }
    others.push(a);
    others.sort();
    others.dedup();
    assert!(others.len() >= 2, "four seeds gave one reply; sampling ignores the seed: {others:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_requests_get_400_with_a_json_error_naming_the_problem() {
    let s = start_server(&["--ctx-size", "256"]).await;
    let client = reqwest::Client::new();
    let url = format!("{}/v1/chat/completions", s.base);

    let r = client.post(&url).header("content-type", "application/json").body("{\"messages\": [").send().await.expect("send");
    assert_eq!(r.status(), 400);
    let v: Value = r.json().await.expect("JSON error");
    assert!(v["error"]["message"].as_str().expect("message").contains("not a valid"), "{v}");

    for (body, needle) in [
        (json!({ "messages": [] }), "at least one message"),
        (json!({ "model": "x" }), "messages"),
        (json!({ "messages": [{ "role": "wizard", "content": "hi" }] }), "wizard"),
        (json!({ "messages": user("hi"), "temperature": 9 }), "temperature"),
        (json!({ "messages": [{ "role": "user", "content": 42 }] }), "content"),
        (json!({ "messages": user(&"lighthouse ".repeat(600)) }), "context"),
    ] {
        let (status, v) = post(&s.base, &body).await;
        assert_eq!(status, 400, "{body} -> {v}");
        assert_eq!(v["error"]["type"], "invalid_request_error", "{v}");
        let msg = v["error"]["message"].as_str().expect("message");
        assert!(msg.contains(needle), "{body}: {msg:?} lacks {needle:?}");
    }

    // A body beyond the server's limit gets a JSON 413, not a dropped connection.
    let huge = json!({ "messages": user(&"a".repeat(5 * 1024 * 1024)) });
    let r = client.post(&url).json(&huge).send().await.expect("send");
    assert_eq!(r.status(), 413);
    let v: Value = r.json().await.expect("JSON error");
    assert!(v["error"]["message"].as_str().expect("message").contains("larger than"), "{v}");

    // The server is still serving after all that.
    let (status, v) = post(&s.base, &json!({ "max_tokens": 2, "messages": user("hi") })).await;
    assert_eq!(status, 200, "{v}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn models_health_and_unknown_routes_answer_in_json() {
    let s = start_server(&["--model-name", "smol-test"]).await;
    let client = reqwest::Client::new();
    let v: Value = client.get(format!("{}/v1/models", s.base)).send().await.expect("models").json().await.expect("JSON");
    assert_eq!(v["object"], "list");
    assert_eq!(v["data"][0]["id"], "smol-test");
    let r = client.get(format!("{}/health", s.base)).send().await.expect("health");
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.expect("JSON");
    assert_eq!(v["status"], "ok");
    let r = client.get(format!("{}/v2/nothing", s.base)).send().await.expect("404");
    assert_eq!(r.status(), 404);
    let v: Value = r.json().await.expect("JSON 404");
    assert!(v["error"]["message"].is_string());
    let (_, v) = post(&s.base, &json!({ "max_tokens": 1, "messages": user("hi") })).await;
    assert_eq!(v["model"], "smol-test");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn while_one_request_generates_the_next_waits_and_one_beyond_the_queue_gets_503() {
    let s = start_server(&["--queue", "1"]).await;
    let client = reqwest::Client::new();
    let url = format!("{}/v1/chat/completions", s.base);
    // A: a long generation, streamed.
    let a = client
        .post(&url)
        .json(&json!({ "stream": true, "max_tokens": 400, "temperature": 0, "ignore_eos": true, "messages": user("Tell me a story.") }))
        .send()
        .await
        .expect("A sent");
    assert_eq!(a.status(), 200);
    let mut a_body = a.bytes_stream();
    let mut a_text = String::from_utf8_lossy(&a_body.next().await.expect("A's first bytes").expect("A chunk")).into_owned();

    // B: queued behind A.
    let b_base = s.base.clone();
    let b = tokio::spawn(async move {
        let r = post(&b_base, &json!({ "max_tokens": 2, "messages": user("hi") })).await;
        (r, Instant::now())
    });
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert!(!b.is_finished(), "B finished while A was still generating");

    // C: the queue (depth 1) is full.
    let (status, v) = post(&s.base, &json!({ "max_tokens": 2, "messages": user("hi") })).await;
    assert_eq!(status, 503, "{v}");
    assert_eq!(v["error"]["type"], "server_busy");
    assert!(v["error"]["message"].as_str().expect("message").contains("busy"), "{v}");

    while let Some(chunk) = a_body.next().await {
        a_text.push_str(&String::from_utf8_lossy(&chunk.expect("A chunk")));
    }
    let a_done = Instant::now();
    assert!(a_text.trim_end().ends_with("data: [DONE]"), "A did not finish cleanly");
    assert!(a_text.contains("\"completion_tokens\":400"), "A was cut short");
    let ((status, v), b_done) = b.await.expect("B task");
    assert_eq!(status, 200, "{v}");
    assert!(b_done >= a_done, "B was answered before A finished");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_disconnects_frees_the_model_for_the_next_request() {
    // Uncancelled, A would hold the model for 4000 tokens (over 40 s here).
    let s = start_server(&["--queue", "1", "--ctx-size", "4096"]).await;
    let client = reqwest::Client::new();
    let a = client
        .post(format!("{}/v1/chat/completions", s.base))
        .json(&json!({ "stream": true, "max_tokens": 4000, "temperature": 0, "ignore_eos": true, "messages": user("Tell me a story.") }))
        .send()
        .await
        .expect("A sent");
    assert_eq!(a.status(), 200);
    let mut a_body = a.bytes_stream();
    let mut seen = String::new();
    while !seen.contains("\"content\":\"") || seen.matches("data: ").count() < 3 {
        let chunk = a_body.next().await.expect("A streams").expect("A chunk");
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
    drop(a_body); // the client goes away mid-reply
    drop(client);

    let t0 = Instant::now();
    let (status, v) = tokio::time::timeout(
        Duration::from_secs(20),
        post(&s.base, &json!({ "max_tokens": 3, "temperature": 0, "messages": user("hi") })),
    )
    .await
    .expect("the next request was not served within 20 s: the abandoned generation still holds the model");
    assert_eq!(status, 200, "{v}");
    assert!(v["choices"][0]["message"]["content"].is_string());
    eprintln!("next request served {:?} after the disconnect", t0.elapsed());

    // The same for a non-streaming request whose client gives up waiting.
    let impatient = reqwest::Client::builder().timeout(Duration::from_millis(800)).build().expect("client");
    let gave_up = impatient
        .post(format!("{}/v1/chat/completions", s.base))
        .json(&json!({ "max_tokens": 4000, "temperature": 0, "ignore_eos": true, "messages": user("Tell me a story.") }))
        .send()
        .await;
    assert!(gave_up.is_err(), "a 4000-token reply cannot arrive within 800 ms");
    drop(impatient);
    let (status, v) = tokio::time::timeout(
        Duration::from_secs(20),
        post(&s.base, &json!({ "max_tokens": 3, "temperature": 0, "messages": user("hi") })),
    )
    .await
    .expect("after a non-streaming client gave up, the next request was not served within 20 s");
    assert_eq!(status, 200, "{v}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_waiting_client_that_disconnects_frees_its_queue_slot_at_once() {
    let s = start_server(&["--queue", "1"]).await;
    let client = reqwest::Client::new();
    let url = format!("{}/v1/chat/completions", s.base);
    // A: a long generation holds the model.
    let a = client
        .post(&url)
        .json(&json!({ "stream": true, "max_tokens": 400, "temperature": 0, "ignore_eos": true, "messages": user("Tell me a story.") }))
        .send()
        .await
        .expect("A sent");
    assert_eq!(a.status(), 200);
    let mut a_body = a.bytes_stream();
    let mut a_text = String::from_utf8_lossy(&a_body.next().await.expect("A's first bytes").expect("A chunk")).into_owned();

    // B takes the only waiting slot, then its client gives up and disconnects.
    let impatient = reqwest::Client::builder().timeout(Duration::from_millis(500)).build().expect("client");
    let gave_up = impatient.post(&url).json(&json!({ "max_tokens": 2, "messages": user("hi") })).send().await;
    assert!(gave_up.is_err(), "B cannot be answered while A generates");
    drop(impatient);
    tokio::time::sleep(Duration::from_millis(200)).await;

    // C must get B's slot and wait for A, not be refused with 503.
    let c_base = s.base.clone();
    let c = tokio::spawn(async move { post(&c_base, &json!({ "max_tokens": 2, "messages": user("hi") })).await });
    tokio::time::sleep(Duration::from_millis(500)).await;
    if c.is_finished() {
        let (status, v) = c.await.expect("C task");
        panic!("C was answered at once with {status} {v} although B's client had left");
    }
    while let Some(chunk) = a_body.next().await {
        a_text.push_str(&String::from_utf8_lossy(&chunk.expect("A chunk")));
    }
    assert!(a_text.trim_end().ends_with("data: [DONE]"), "A did not finish cleanly");
    let (status, v) = tokio::time::timeout(Duration::from_secs(30), c).await.expect("C answered after A").expect("C task");
    assert_eq!(status, 200, "{v}");
}

#[tokio::test]
async fn a_missing_model_file_is_reported_naming_the_path_and_the_setup_script() {
    let out = Command::new(llm_bin())
        .args(["--model", "/nonexistent/dir/model.gguf", "--port", "0"])
        .output()
        .await
        .expect("attune-llm runs");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("/nonexistent/dir/model.gguf"), "{err}");
    assert!(err.contains("scripts/setup.sh"), "{err}");
    assert!(out.stdout.is_empty(), "nothing should claim to listen: {:?}", String::from_utf8_lossy(&out.stdout));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_exit_on_stdin_eof_the_server_stops_when_its_parent_closes_the_pipe() {
    let mut child = Command::new(llm_bin())
        .arg("--model")
        .arg(model_path())
        .args(["--port", "0", "--threads", "1", "--exit-on-stdin-eof"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("attune-llm starts");
    let stdout = child.stdout.take().expect("stdout");
    let line = BufReader::new(stdout).lines().next_line().await.expect("read").expect("listening line");
    assert!(line.starts_with("listening on http://"), "{line}");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(child.try_wait().expect("try_wait").is_none(), "the server exited while its stdin was still open");
    drop(child.stdin.take()); // what the kernel does when the supervisor dies
    let status = tokio::time::timeout(Duration::from_secs(20), child.wait())
        .await
        .expect("the server kept running after its stdin closed")
        .expect("wait");
    assert!(status.success(), "{status}");
}
