//! A real mosquitto broker for tests and benchmarks: started on a free
//! loopback port with a generated config, password file and ACL, restartable
//! on the same port (its persistence file keeps persistent sessions across a
//! restart), killed on drop. Plus an MQTT subscriber that records traffic.
//!
//! Users (password = name + "-pw"): `robot` may publish the robot topics and
//! read `cmd`/`ack`; `staff` may read everything and publish `cmd`/`ack`;
//! `visitor` may only read.

use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A running (or stopped, between `stop` and `start`) mosquitto.
pub struct Mosquitto {
    /// Loopback port it listens on.
    pub port: u16,
    /// Folder with its config, passwords, ACL, log and persistence file.
    pub dir: PathBuf,
    /// The broker process while it runs.
    child: Option<Child>,
}

/// Whether mosquitto is installed (scripts/setup.sh installs it).
pub fn available() -> bool {
    Path::new("/usr/sbin/mosquitto").exists() || Command::new("mosquitto").arg("-h").stdout(Stdio::null()).stderr(Stdio::null()).status().is_ok()
}

fn mosquitto_bin() -> PathBuf {
    if Path::new("/usr/sbin/mosquitto").exists() {
        "/usr/sbin/mosquitto".into()
    } else {
        "mosquitto".into()
    }
}

fn is_root() -> bool {
    Command::new("id").arg("-u").output().map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0").unwrap_or(false)
}

impl Mosquitto {
    /// Writes the config into `dir` and starts the broker on a free port.
    pub fn start(dir: &Path) -> std::io::Result<Mosquitto> {
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let passwd = dir.join("passwd");
        let _ = std::fs::remove_file(&passwd);
        std::fs::File::create(&passwd)?;
        for user in ["robot", "staff", "visitor"] {
            let st = Command::new("mosquitto_passwd").arg("-b").arg(&passwd).arg(user).arg(format!("{user}-pw")).output()?;
            if !st.status.success() {
                return Err(std::io::Error::other(format!("mosquitto_passwd: {}", String::from_utf8_lossy(&st.stderr))));
            }
        }
        let acl = "user robot\n\
            topic readwrite attune/+/+/state\ntopic readwrite attune/+/+/event\ntopic readwrite attune/+/+/alert\ntopic readwrite attune/+/+/telemetry\n\
            topic read attune/+/+/cmd\ntopic read attune/+/+/ack\n\n\
            user staff\ntopic read attune/#\ntopic write attune/+/+/cmd\ntopic write attune/+/+/ack\n\n\
            user visitor\ntopic read attune/#\n";
        std::fs::write(dir.join("acl"), acl)?;
        // Design: as root, mosquitto drops privileges to `mosquitto` unless
        // told to stay; the generated files belong to root.
        let user = if is_root() { "user root\n" } else { "" };
        let conf = format!(
            "{user}listener {port} 127.0.0.1\nallow_anonymous false\npassword_file {}\nacl_file {}\n\
             persistence true\npersistence_location {}/\nautosave_interval 1\n\
             log_dest file {}\nlog_type error\nlog_type warning\nlog_type notice\nlog_type information\nconnection_messages true\n",
            passwd.display(),
            dir.join("acl").display(),
            dir.display(),
            dir.join("mosquitto.log").display()
        );
        std::fs::write(dir.join("mosquitto.conf"), conf)?;
        let mut m = Mosquitto { port, dir: dir.to_path_buf(), child: None };
        m.run()?;
        Ok(m)
    }

    /// Starts the broker again on the same port.
    pub fn run(&mut self) -> std::io::Result<()> {
        let child = Command::new(mosquitto_bin()).arg("-c").arg(self.dir.join("mosquitto.conf")).stdout(Stdio::null()).stderr(Stdio::null()).spawn()?;
        self.child = Some(child);
        let end = Instant::now() + Duration::from_secs(10);
        while Instant::now() < end {
            if TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return Ok(());
            }
            if let Some(c) = self.child.as_mut() {
                if let Ok(Some(st)) = c.try_wait() {
                    return Err(std::io::Error::other(format!("mosquitto exited with {st}; log: {}", self.log())));
                }
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Err(std::io::Error::other(format!("mosquitto did not listen on {} within 10 s; log: {}", self.port, self.log())))
    }

    /// Stops the broker (SIGTERM, so it saves persistent sessions) and waits for it.
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = Command::new("kill").arg("-TERM").arg(c.id().to_string()).status();
            let end = Instant::now() + Duration::from_secs(5);
            while Instant::now() < end {
                if let Ok(Some(_)) = c.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// `mqtt://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("mqtt://127.0.0.1:{}", self.port)
    }

    /// The broker's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("mosquitto.log")).unwrap_or_default()
    }
}

impl Drop for Mosquitto {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Writes an attune site config with a `[bus]` on this broker (user `robot`,
/// password from `ATTUNE_TEST_BUS_PW`) and `extra` TOML lines inside `[bus]`.
pub fn write_config(dir: &Path, broker_url: &str, client_id: &str, extra: &str) -> PathBuf {
    let p = dir.join("site.toml");
    let text = format!(
        "[store]\npath = \"{}\"\n\n[bus]\nurl = \"{broker_url}\"\nclient_id = \"{client_id}\"\nusername = \"robot\"\npassword_env = \"ATTUNE_TEST_BUS_PW\"\nsite = \"lab\"\nrobot = \"r1\"\n{extra}\n",
        dir.join("s.db").display()
    );
    let mut f = std::fs::File::create(&p).expect("config file");
    f.write_all(text.as_bytes()).expect("config file");
    p
}

/// One message as a subscriber saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    /// Full topic.
    pub topic: String,
    /// Payload (JSON, or a string if it was not JSON).
    pub payload: serde_json::Value,
    /// Retain flag.
    pub retain: bool,
    /// When it arrived.
    pub at: Instant,
}

/// An MQTT subscriber on its own thread, recording everything it receives.
pub struct Subscriber {
    /// Everything received, in order.
    pub seen: Arc<Mutex<Vec<Seen>>>,
    /// Set once the first subscription is acknowledged.
    pub ready: Arc<std::sync::atomic::AtomicBool>,
    /// Stops the thread.
    stop: Arc<std::sync::atomic::AtomicBool>,
}

impl Subscriber {
    /// Subscribes to `filter` as `user` (password user-pw). `persistent` keeps
    /// the session (and the broker queues for it) across disconnects.
    pub fn start(port: u16, user: &str, client_id: &str, filter: &str, persistent: bool) -> Subscriber {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let ready = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (s2, r2, st2) = (seen.clone(), ready.clone(), stop.clone());
        let mut o = rumqttc::MqttOptions::new(client_id, "127.0.0.1", port);
        o.set_credentials(user, format!("{user}-pw"));
        o.set_clean_session(!persistent);
        o.set_keep_alive(Duration::from_secs(5));
        o.set_max_packet_size(8 << 20, 8 << 20);
        let filter = filter.to_string();
        std::thread::spawn(move || {
            let (client, mut conn) = rumqttc::Client::new(o, 64);
            for ev in conn.iter() {
                if st2.load(std::sync::atomic::Ordering::Relaxed) {
                    break;
                }
                match ev {
                    Ok(rumqttc::Event::Incoming(rumqttc::Packet::ConnAck(_))) => {
                        let _ = client.try_subscribe(filter.clone(), rumqttc::QoS::AtLeastOnce);
                    }
                    Ok(rumqttc::Event::Incoming(rumqttc::Packet::SubAck(_))) => r2.store(true, std::sync::atomic::Ordering::Relaxed),
                    Ok(rumqttc::Event::Incoming(rumqttc::Packet::Publish(p))) => {
                        let payload = serde_json::from_slice(&p.payload).unwrap_or_else(|_| serde_json::json!(String::from_utf8_lossy(&p.payload)));
                        if let Ok(mut v) = s2.lock() {
                            v.push(Seen { topic: p.topic.clone(), payload, retain: p.retain, at: Instant::now() });
                        }
                    }
                    Ok(_) => {}
                    Err(_) => std::thread::sleep(Duration::from_millis(100)),
                }
            }
        });
        Subscriber { seen, ready, stop }
    }

    /// Waits until subscribed (panics after 10 s).
    pub fn wait_ready(&self) {
        let end = Instant::now() + Duration::from_secs(10);
        while !self.ready.load(std::sync::atomic::Ordering::Relaxed) {
            assert!(Instant::now() < end, "subscriber never got its SUBACK");
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// A copy of everything so far.
    pub fn snapshot(&self) -> Vec<Seen> {
        self.seen.lock().map(|v| v.clone()).unwrap_or_default()
    }

    /// Waits until `pred` holds on the messages seen (or `limit` passes); returns them.
    pub fn wait_for(&self, limit: Duration, pred: impl Fn(&[Seen]) -> bool) -> Result<Vec<Seen>, Vec<Seen>> {
        let end = Instant::now() + limit;
        loop {
            let v = self.snapshot();
            if pred(&v) {
                return Ok(v);
            }
            if Instant::now() >= end {
                return Err(v);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Subscriber {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

/// Publishes one payload at QoS 1 as `user` (password user-pw) and waits for
/// the broker's PUBACK. The broker acknowledges, and silently drops, what the
/// user's ACL does not allow.
pub fn publish(port: u16, user: &str, topic: &str, payload: Vec<u8>) {
    static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let mut o = rumqttc::MqttOptions::new(format!("pub-{user}-{}-{n}", std::process::id()), "127.0.0.1", port);
    o.set_credentials(user, format!("{user}-pw"));
    o.set_max_packet_size(4 << 20, 4 << 20);
    let (c, mut conn) = rumqttc::Client::new(o, 8);
    c.publish(topic, rumqttc::QoS::AtLeastOnce, false, payload).expect("queue publish");
    for ev in conn.iter() {
        match ev {
            Ok(rumqttc::Event::Incoming(rumqttc::Packet::PubAck(_))) => break,
            Err(e) => panic!("publishing on {topic} as {user}: {e}"),
            _ => {}
        }
    }
    let _ = c.disconnect();
}
