//! A small but real HTTP/1.1 server speaking the OpenAI chat-completions
//! streaming API over a loopback socket, scripted per request. Tests use it to
//! drive the engine and the `attune` binary through exact network behaviour:
//! slow first tokens, dropped connections, streams cut mid-reply, error codes.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What the server does with one request.
#[derive(Debug, Clone)]
pub enum Reply {
    /// Stream these content deltas (one SSE event each), then finish + [DONE].
    Stream(Vec<String>),
    /// Wait this long before the first byte of the response, then stream.
    SlowStream(Duration, Vec<String>),
    /// Accept and read the request, then close without answering.
    Drop,
    /// Answer with this HTTP status and a JSON error body.
    Status(u16),
    /// Stream these deltas, then cut the connection without [DONE].
    Cut(Vec<String>),
    /// Hold the connection open, sending nothing, for this long.
    Stall(Duration),
    /// Stream these deltas, then hold the connection open without
    /// finishing for this long (a server that stalls mid-reply).
    StreamThenStall(Vec<String>, Duration),
}

impl Reply {
    /// Streams `text` split into word-sized deltas.
    pub fn text(text: &str) -> Reply {
        Reply::Stream(words(text))
    }
}

/// Splits text into deltas the way a tokenizer roughly would (keeping spaces).
pub fn words(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    for ch in text.chars() {
        if ch == ' ' && !cur.is_empty() {
            out.push(std::mem::take(&mut cur));
        }
        cur.push(ch);
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// The running server.
pub struct SseServer {
    /// Port on 127.0.0.1.
    pub port: u16,
    /// Request bodies received, in order (parsed JSON, or a string if not JSON).
    pub requests: Arc<Mutex<Vec<serde_json::Value>>>,
    /// Scripted replies; the last one repeats when the script runs out.
    script: Arc<Mutex<Vec<Reply>>>,
    /// Requests (0-based, in arrival order) whose client closed the
    /// connection while the server stalled (`Stall`, `StreamThenStall`).
    pub hangups: Arc<Mutex<Vec<usize>>>,
}

impl SseServer {
    /// Starts serving on a free loopback port; replies follow `script`.
    pub fn start(script: Vec<Reply>) -> std::io::Result<SseServer> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let port = listener.local_addr()?.port();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let script = Arc::new(Mutex::new(script));
        let hangups = Arc::new(Mutex::new(Vec::new()));
        let (req2, script2, hang2) = (requests.clone(), script.clone(), hangups.clone());
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(conn) = conn else { continue };
                let (r, s, h) = (req2.clone(), script2.clone(), hang2.clone());
                std::thread::spawn(move || {
                    let _ = handle(conn, &r, &s, &h);
                });
            }
        });
        Ok(SseServer { port, requests, script, hangups })
    }

    /// `http://127.0.0.1:PORT/v1`.
    pub fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}/v1", self.port)
    }

    /// Number of chat requests received so far.
    pub fn request_count(&self) -> usize {
        self.requests.lock().map(|r| r.len()).unwrap_or(0)
    }

    /// Replaces the remaining script.
    pub fn set_script(&self, script: Vec<Reply>) {
        if let Ok(mut s) = self.script.lock() {
            *s = script;
        }
    }
}

fn next_reply(script: &Mutex<Vec<Reply>>) -> Reply {
    let mut s = script.lock().unwrap_or_else(|e| e.into_inner());
    match s.len() {
        0 => Reply::Status(500),
        1 => s[0].clone(),
        _ => s.remove(0),
    }
}

/// Holds the connection for `d`, watching for the client to close it;
/// true when it did.
fn stall(reader: &mut BufReader<TcpStream>, d: Duration) -> std::io::Result<bool> {
    let end = std::time::Instant::now() + d;
    reader.get_ref().set_read_timeout(Some(Duration::from_millis(50)))?;
    let mut buf = [0u8; 256];
    while std::time::Instant::now() < end {
        match reader.read(&mut buf) {
            Ok(0) => return Ok(true),
            Ok(_) => {}
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {}
            Err(_) => return Ok(true),
        }
    }
    Ok(false)
}

fn handle(conn: TcpStream, requests: &Mutex<Vec<serde_json::Value>>, script: &Mutex<Vec<Reply>>, hangups: &Mutex<Vec<usize>>) -> std::io::Result<()> {
    conn.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut reader = BufReader::new(conn.try_clone()?);
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    let mut content_length = 0usize;
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h)? == 0 {
            return Ok(());
        }
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            if k.eq_ignore_ascii_case("content-length") {
                content_length = v.trim().parse().unwrap_or(0);
            }
        }
    }
    let mut body = vec![0u8; content_length];
    reader.read_exact(&mut body)?;
    let mut out = conn;
    if !request_line.contains("/chat/completions") {
        let msg = "{\"status\":\"ok\"}";
        write!(out, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{msg}", msg.len())?;
        return Ok(());
    }
    let parsed = serde_json::from_slice(&body).unwrap_or_else(|_| serde_json::Value::String(String::from_utf8_lossy(&body).into_owned()));
    let index = {
        let mut r = requests.lock().unwrap_or_else(|e| e.into_inner());
        r.push(parsed);
        r.len() - 1
    };
    let hung_up = |h: bool| {
        if h {
            hangups.lock().unwrap_or_else(|e| e.into_inner()).push(index);
        }
    };
    match next_reply(script) {
        Reply::Drop => Ok(()),
        Reply::Stall(d) => {
            hung_up(stall(&mut reader, d)?);
            Ok(())
        }
        Reply::Status(code) => {
            let msg = format!("{{\"error\":{{\"message\":\"scripted status {code}\"}}}}");
            write!(out, "HTTP/1.1 {code} Error\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{msg}", msg.len())
        }
        Reply::Stream(deltas) => stream(&mut out, &deltas, true),
        Reply::SlowStream(d, deltas) => {
            std::thread::sleep(d);
            stream(&mut out, &deltas, true)
        }
        Reply::Cut(deltas) => stream(&mut out, &deltas, false),
        Reply::StreamThenStall(deltas, d) => {
            write!(out, "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\nConnection: close\r\n\r\n")?;
            for delta in &deltas {
                let chunk = serde_json::json!({"object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":delta},"finish_reason":null}]});
                write!(out, "data: {chunk}\n\n")?;
                out.flush()?;
            }
            hung_up(stall(&mut reader, d)?);
            Ok(())
        }
    }
}

fn stream(out: &mut TcpStream, deltas: &[String], finish: bool) -> std::io::Result<()> {
    write!(out, "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\nConnection: close\r\n\r\n")?;
    let role = serde_json::json!({"choices":[{"index":0,"delta":{"role":"assistant"},"finish_reason":null}]});
    write!(out, "data: {role}\n\n")?;
    for d in deltas {
        let chunk = serde_json::json!({"object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":d},"finish_reason":null}]});
        write!(out, "data: {chunk}\n\n")?;
        out.flush()?;
        std::thread::sleep(Duration::from_millis(2));
    }
    if finish {
        let end = serde_json::json!({"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]});
        write!(out, "data: {end}\n\ndata: [DONE]\n\n")?;
    }
    out.flush()?;
    let _ = out.shutdown(std::net::Shutdown::Both);
    Ok(())
}
