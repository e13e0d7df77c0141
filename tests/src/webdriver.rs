//! A small WebDriver (W3C) client over raw HTTP to Debian's `chromedriver`,
//! driving headless `chromium` — the real browser the web front's
//! end-to-end tests and bench use. Only what they need: sessions, navigation,
//! elements, clicks, typing, script, window size, screenshots, cookies.

use serde_json::{json, Value};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The W3C key of an element reference.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// A WebDriver error, with the command that failed.
#[derive(Debug)]
pub struct WdError(pub String);

impl std::fmt::Display for WdError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}
impl std::error::Error for WdError {}

pub type Result<T> = std::result::Result<T, WdError>;

/// A running chromedriver on a free port; killed on drop.
pub struct Driver {
    child: Child,
    /// Base URL of its HTTP API.
    pub url: String,
    http: reqwest::Client,
}

/// Whether Debian's chromium and chromedriver are installed (scripts/setup.sh installs them).
pub fn available() -> bool {
    chromedriver_path().is_some() && chromium_path().is_some()
}

fn which(names: &[&str]) -> Option<String> {
    names.iter().find(|p| std::path::Path::new(p).is_file()).map(|s| s.to_string())
}
fn chromedriver_path() -> Option<String> {
    which(&["/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver"])
}
fn chromium_path() -> Option<String> {
    which(&["/usr/bin/chromium", "/usr/lib/chromium/chromium"])
}

/// A free TCP port on 127.0.0.1.
pub fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("binding a free port");
    l.local_addr().expect("local addr").port()
}

impl Driver {
    /// Starts chromedriver and waits until it is ready.
    pub async fn start() -> Result<Driver> {
        let exe = chromedriver_path().ok_or_else(|| WdError("chromedriver is not installed (apt-get install chromium-driver)".into()))?;
        let port = free_port();
        let child = Command::new(exe)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| WdError(format!("starting chromedriver: {e}")))?;
        let d = Driver { child, url: format!("http://127.0.0.1:{port}"), http: reqwest::Client::new() };
        let t0 = Instant::now();
        loop {
            if let Ok(r) = d.http.get(format!("{}/status", d.url)).send().await {
                if let Ok(v) = r.json::<Value>().await {
                    if v["value"]["ready"] == json!(true) {
                        return Ok(d);
                    }
                }
            }
            if t0.elapsed() > Duration::from_secs(60) {
                return Err(WdError("chromedriver did not become ready in 60 s".into()));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// A new headless browser window of `width` x `height` CSS pixels.
    pub async fn session(&self, width: u32, height: u32) -> Result<Browser> {
        let chromium = chromium_path().ok_or_else(|| WdError("chromium is not installed".into()))?;
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": chromium,
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                         "--no-first-run", "--disable-extensions", format!("--window-size={width},{height}")]
            }
        }}});
        let v = call(&self.http, reqwest::Method::POST, &format!("{}/session", self.url), Some(caps)).await?;
        let id = v["sessionId"].as_str().ok_or_else(|| WdError(format!("no session id in {v}")))?.to_string();
        let b = Browser { http: self.http.clone(), base: format!("{}/session/{id}", self.url) };
        b.resize(width, height).await?;
        Ok(b)
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn call(http: &reqwest::Client, method: reqwest::Method, url: &str, body: Option<Value>) -> Result<Value> {
    let mut req = http.request(method.clone(), url);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let r = req.send().await.map_err(|e| WdError(format!("{method} {url}: {e}")))?;
    let status = r.status();
    let v: Value = r.json().await.map_err(|e| WdError(format!("{method} {url}: bad JSON: {e}")))?;
    if !status.is_success() {
        return Err(WdError(format!("{method} {url}: {status}: {}", v["value"]["message"].as_str().unwrap_or(&v.to_string()))));
    }
    Ok(v["value"].clone())
}

/// One browser window (a WebDriver session). Closed on [`Browser::quit`].
pub struct Browser {
    http: reqwest::Client,
    base: String,
}

/// An element reference.
#[derive(Debug, Clone)]
pub struct Element(pub String);

impl Browser {
    async fn post(&self, path: &str, body: Value) -> Result<Value> {
        call(&self.http, reqwest::Method::POST, &format!("{}{path}", self.base), Some(body)).await
    }
    async fn get(&self, path: &str) -> Result<Value> {
        call(&self.http, reqwest::Method::GET, &format!("{}{path}", self.base), None).await
    }

    /// Sets the window's size.
    pub async fn resize(&self, width: u32, height: u32) -> Result<()> {
        self.post("/window/rect", json!({"width": width, "height": height})).await.map(|_| ())
    }

    /// Opens a URL and waits for the page load.
    pub async fn goto(&self, url: &str) -> Result<()> {
        self.post("/url", json!({"url": url})).await.map(|_| ())
    }

    /// The current URL.
    pub async fn url(&self) -> Result<String> {
        Ok(self.get("/url").await?.as_str().unwrap_or_default().to_string())
    }

    /// Elements matching a CSS selector (possibly none).
    pub async fn find_all(&self, css: &str) -> Result<Vec<Element>> {
        let v = self.post("/elements", json!({"using": "css selector", "value": css})).await?;
        Ok(v.as_array().map(|a| a.iter().filter_map(|e| e[ELEMENT].as_str().map(|s| Element(s.to_string()))).collect()).unwrap_or_default())
    }

    /// The first element matching a CSS selector.
    pub async fn find(&self, css: &str) -> Result<Element> {
        let v = self.post("/element", json!({"using": "css selector", "value": css})).await?;
        v[ELEMENT].as_str().map(|s| Element(s.to_string())).ok_or_else(|| WdError(format!("no element {css}")))
    }

    /// Clicks an element.
    pub async fn click(&self, e: &Element) -> Result<()> {
        self.post(&format!("/element/{}/click", e.0), json!({})).await.map(|_| ())
    }

    /// Types text into an element.
    pub async fn type_text(&self, e: &Element, text: &str) -> Result<()> {
        self.post(&format!("/element/{}/value", e.0), json!({"text": text})).await.map(|_| ())
    }

    /// An element's attribute (None when absent).
    pub async fn attr(&self, e: &Element, name: &str) -> Result<Option<String>> {
        Ok(self.get(&format!("/element/{}/attribute/{name}", e.0)).await?.as_str().map(String::from))
    }

    /// An element's rendered text.
    pub async fn text(&self, e: &Element) -> Result<String> {
        Ok(self.get(&format!("/element/{}/text", e.0)).await?.as_str().unwrap_or_default().to_string())
    }

    /// Runs a script in the page (`arguments` from `args`) and returns its value.
    pub async fn exec(&self, script: &str, args: Vec<Value>) -> Result<Value> {
        self.post("/execute/sync", json!({"script": script, "args": args})).await
    }

    /// A PNG screenshot of the viewport.
    pub async fn screenshot_png(&self) -> Result<Vec<u8>> {
        let v = self.get("/screenshot").await?;
        base64_decode(v.as_str().unwrap_or_default()).ok_or_else(|| WdError("screenshot is not base64".into()))
    }

    /// A cookie's value.
    pub async fn cookie(&self, name: &str) -> Result<String> {
        Ok(self.get(&format!("/cookie/{name}")).await?["value"].as_str().unwrap_or_default().to_string())
    }

    /// Polls `f` until it returns Some, or fails after `limit` naming `what`.
    pub async fn wait_for<T, F, Fut>(&self, what: &str, limit: Duration, mut f: F) -> Result<T>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<Option<T>>>,
    {
        let t0 = Instant::now();
        loop {
            match f().await {
                Ok(Some(v)) => return Ok(v),
                Ok(None) => {}
                // A stale element (the dashboard replaced its HTML) is retried.
                Err(e) if t0.elapsed() < limit && e.0.contains("stale") => {}
                Err(e) => return Err(e),
            }
            if t0.elapsed() > limit {
                return Err(WdError(format!("timed out after {limit:?} waiting for {what}")));
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// Ends the session (closes the browser).
    pub async fn quit(self) {
        let _ = call(&self.http, reqwest::Method::DELETE, &self.base, None).await;
    }
}

/// Standard base64 (with padding) to bytes.
pub fn base64_decode(s: &str) -> Option<Vec<u8>> {
    fn val(c: u8) -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => (c - b'A') as u32,
            b'a'..=b'z' => (c - b'a' + 26) as u32,
            b'0'..=b'9' => (c - b'0' + 52) as u32,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        })
    }
    let bytes: Vec<u8> = s.bytes().filter(|c| !c.is_ascii_whitespace()).collect();
    let mut out = Vec::with_capacity(bytes.len() / 4 * 3);
    for chunk in bytes.chunks(4) {
        let pad = chunk.iter().rev().take_while(|&&c| c == b'=').count();
        let mut n: u32 = 0;
        for (i, &c) in chunk.iter().enumerate() {
            n |= if c == b'=' { 0 } else { val(c)? } << (18 - 6 * i as u32);
        }
        let b = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
        out.extend_from_slice(&b[..3 - pad.min(2)]);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    #[test]
    fn base64_decodes_with_and_without_padding() {
        assert_eq!(super::base64_decode("aGVsbG8=").unwrap(), b"hello");
        assert_eq!(super::base64_decode("aGk=").unwrap(), b"hi");
        assert_eq!(super::base64_decode("aGV5").unwrap(), b"hey");
        assert!(super::base64_decode("a$==").is_none());
    }
}
