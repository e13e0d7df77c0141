//! `attune bus monitor | ack | cmd`: staff tools on the bus. Each is a
//! short-lived MQTT client with a clean session and its own client id.

use super::message::envelope;
use super::runner::{explain, mqtt_options};
use super::BusConfig;
use anyhow::Context;
use clap::{Args, Subcommand, ValueEnum};
use rumqttc::{AsyncClient, Event, EventLoop, Packet, QoS};
use serde_json::json;
use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

/// Connection flags shared by the bus tools.
#[derive(Debug, Args)]
pub struct Conn {
    /// Site config with `[bus]` (broker, site, robot).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Connect as this broker user instead of `bus.username` (staff use their own).
    #[arg(long)]
    pub username: Option<String>,
    /// Environment variable holding that user's password (default `bus.password_env`).
    #[arg(long)]
    pub password_env: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum BusCmd {
    /// Print the robot's bus traffic as JSON lines (`{"topic", "retain", "payload"}`).
    Monitor {
        #[command(flatten)]
        conn: Conn,
        /// Topic filter instead of `attune/<site>/<robot>/#` (e.g. `attune/#` for every robot).
        #[arg(long)]
        topic: Option<String>,
        /// Exit after this many messages.
        #[arg(long)]
        count: Option<usize>,
        /// Print every delivery, including a redelivered message (same `id`)
        /// that is otherwise dropped, for inspecting the transport.
        #[arg(long)]
        raw: bool,
    },
    /// Acknowledge a crisis alert (publishes on `ack`).
    Ack {
        #[command(flatten)]
        conn: Conn,
        /// The alert's id (its `id` field on the alert topic).
        #[arg(long)]
        alert: String,
        /// Who is acknowledging it.
        #[arg(long)]
        by: String,
    },
    /// Send a staff command (publishes on `cmd`).
    Cmd {
        #[command(flatten)]
        conn: Conn,
        /// pause | resume | stop | say.
        kind: CmdKind,
        /// The line for `say`.
        #[arg(long)]
        text: Option<String>,
        /// The `say` line is written for a participant in crisis.
        #[arg(long)]
        crisis_aware: bool,
        /// Who is sending it.
        #[arg(long)]
        by: String,
    },
}

/// Staff command kinds.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum CmdKind {
    Pause,
    Resume,
    Stop,
    Say,
}

pub fn run(cmd: BusCmd) -> anyhow::Result<()> {
    let rt = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    rt.block_on(async move {
        match cmd {
            BusCmd::Monitor { conn, topic, count, raw } => monitor(conn, topic, count, raw).await,
            BusCmd::Ack { conn, alert, by } => {
                let payload = json!({"alert": alert, "by": by});
                publish_one(conn, "ack", "alert_ack", payload).await
            }
            BusCmd::Cmd { conn, kind, text, crisis_aware, by } => {
                let (k, mut p) = match kind {
                    CmdKind::Pause => ("pause", json!({})),
                    CmdKind::Resume => ("resume", json!({})),
                    CmdKind::Stop => ("stop", json!({})),
                    CmdKind::Say => ("say", json!({"text": text.as_deref().context("`say` needs --text")?, "crisis_aware": crisis_aware})),
                };
                p["by"] = json!(by);
                publish_one(conn, "cmd", k, p).await
            }
        }
    })
}

fn bus_config(conn: &Conn) -> anyhow::Result<BusConfig> {
    let cfg = crate::config::Config::load(conn.config.as_deref())?;
    let mut bus = cfg.bus.context("no [bus] section in the config (pass --config FILE with one)")?;
    if let Some(u) = &conn.username {
        bus.username = u.clone();
    }
    if let Some(p) = &conn.password_env {
        bus.password_env = p.clone();
    }
    bus.validate().map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(bus)
}

/// Connects with a clean session and waits for CONNACK (10 s).
async fn connect(bus: &BusConfig, role: &str) -> anyhow::Result<(AsyncClient, EventLoop)> {
    let id = format!("{}-{role}-{}", bus.client_id, std::process::id());
    connect_as(bus, &id, true).await.map(|(c, el, _)| (c, el))
}

/// Connects as `id` and waits for CONNACK (10 s); also returns whether the
/// broker still held a session for `id` (only possible when `clean` is false).
async fn connect_as(bus: &BusConfig, id: &str, clean: bool) -> anyhow::Result<(AsyncClient, EventLoop, bool)> {
    let password = bus.password().map_err(|e| anyhow::anyhow!("{e}"))?;
    let ca = match &bus.ca_file {
        Some(p) => Some(std::fs::read(p).with_context(|| format!("field `bus.ca_file`: cannot read {}", p.display()))?),
        None => None,
    };
    let opts = mqtt_options(bus, id, password.as_deref(), ca, clean).map_err(|e| anyhow::anyhow!("{e}"))?;
    let (client, mut el) = AsyncClient::new(opts, 16);
    let connack = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match el.poll().await {
                Ok(Event::Incoming(Packet::ConnAck(a))) => return Ok(a.session_present),
                Ok(_) => {}
                Err(e) => return Err(anyhow::anyhow!("bus: {}", explain(&e, bus))),
            }
        }
    })
    .await;
    let present = match connack {
        Ok(r) => r?,
        Err(_) => anyhow::bail!("bus: no answer from the broker at {} within 10 s", bus.url),
    };
    Ok((client, el, present))
}

async fn publish_one(conn: Conn, leaf: &str, kind: &str, fields: serde_json::Value) -> anyhow::Result<()> {
    let bus = bus_config(&conn)?;
    let (client, mut el) = connect(&bus, leaf).await?;
    let id = super::new_id();
    let payload = envelope(&id, kind, crate::store::now_ms(), &bus.site, &bus.robot, fields);
    // The site/robot envelope fields are for outgoing robot messages; commands carry only what the robot checks.
    let mut p = payload;
    if let Some(m) = p.as_object_mut() {
        m.remove("site");
        m.remove("robot");
    }
    let topic = bus.topic(leaf);
    client.try_publish(topic.clone(), QoS::AtLeastOnce, false, p.to_string()).context("queueing the message")?;
    let acked = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match el.poll().await {
                Ok(Event::Incoming(Packet::PubAck(_))) => return Ok(()),
                Ok(_) => {}
                Err(e) => return Err(anyhow::anyhow!("bus: {}", explain(&e, &bus))),
            }
        }
    })
    .await;
    match acked {
        Ok(r) => r?,
        Err(_) => anyhow::bail!("bus: the broker did not confirm the message on {topic} within 10 s"),
    }
    let _ = client.try_disconnect();
    let _ = tokio::time::timeout(Duration::from_millis(300), el.poll()).await;
    println!("{}", json!({"topic": topic, "id": id, "kind": kind}));
    Ok(())
}

/// `attune bus monitor`.
///
/// Design: exactly once per message, in order, across broker restarts. The
/// monitor holds a persistent MQTT session (clean session off) under a
/// client id unique to this run, so a broker that restarts with its
/// persistence keeps queueing for it while it is disconnected; it subscribes
/// only when the broker holds no session for it (subscribing again would
/// replay the retained state); and it drops a message whose `id` (and
/// `repeat`) it has already printed, which the at-least-once transport can
/// deliver twice. The session is discarded when the monitor ends normally.
/// A broker that comes back without the session (it lost its persistence)
/// may have dropped what it queued: the monitor says so on stderr.
async fn monitor(conn: Conn, topic: Option<String>, count: Option<usize>, raw: bool) -> anyhow::Result<()> {
    let bus = bus_config(&conn)?;
    let filter = topic.unwrap_or_else(|| bus.topic("#"));
    let id = format!("{}-monitor-{}", bus.client_id, super::process_prefix());
    let (client, mut el, _) = connect_as(&bus, &id, false).await?;
    client.try_subscribe(filter.clone(), QoS::AtLeastOnce).context("subscribing")?;
    let mut seen = 0usize;
    let mut dropped = 0usize;
    let mut keys = super::dedup::SeenKeys::new(super::dedup::DEFAULT_WINDOW);
    let mut out = std::io::stdout().lock();
    let mut announced = false;
    loop {
        let ev = tokio::select! {
            _ = tokio::signal::ctrl_c() => break,
            ev = el.poll() => ev,
        };
        match ev {
            Ok(Event::Incoming(Packet::Publish(p))) => {
                if !raw {
                    if let Some(k) = super::dedup::message_key(&p.payload) {
                        if !keys.first(&k) {
                            dropped += 1;
                            continue;
                        }
                    }
                }
                let payload = serde_json::from_slice::<serde_json::Value>(&p.payload).unwrap_or_else(|_| json!(String::from_utf8_lossy(&p.payload)));
                let line = json!({"topic": p.topic, "retain": p.retain, "payload": payload});
                writeln!(out, "{line}")?;
                out.flush()?;
                seen += 1;
                if count.is_some_and(|c| seen >= c) {
                    break;
                }
            }
            Ok(Event::Incoming(Packet::SubAck(_))) => {
                if !announced {
                    eprintln!("attune: monitoring {filter} on {} (Ctrl-C to end)", bus.url);
                    announced = true;
                }
            }
            Ok(Event::Incoming(Packet::ConnAck(a))) => {
                if a.session_present {
                    eprintln!("attune: bus: reconnected to {}; the broker kept this monitor's session", bus.url);
                } else {
                    eprintln!(
                        "attune: bus: reconnected to {}, but the broker no longer held this monitor's session (restarted without its persistence?): messages published while the monitor was disconnected may be missing",
                        bus.url
                    );
                    let _ = client.try_subscribe(filter.clone(), QoS::AtLeastOnce);
                }
            }
            Ok(_) => {}
            Err(e) => {
                eprintln!("attune: bus: {} (retrying)", explain(&e, &bus));
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => break,
                    _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                }
            }
        }
    }
    if dropped > 0 {
        eprintln!("attune: {dropped} redelivered messages (an id already printed) were dropped");
    }
    // Leave no session queueing on the broker: reconnect clean, then go.
    let _ = client.try_disconnect();
    let _ = tokio::time::timeout(Duration::from_millis(300), el.poll()).await;
    if let Ok(Ok((c, mut el, _))) = tokio::time::timeout(Duration::from_secs(2), connect_as(&bus, &id, true)).await {
        let _ = c.try_disconnect();
        let _ = tokio::time::timeout(Duration::from_millis(300), el.poll()).await;
    }
    Ok(())
}
