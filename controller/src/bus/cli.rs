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
            BusCmd::Monitor { conn, topic, count } => monitor(conn, topic, count).await,
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
    let password = bus.password().map_err(|e| anyhow::anyhow!("{e}"))?;
    let ca = match &bus.ca_file {
        Some(p) => Some(std::fs::read(p).with_context(|| format!("field `bus.ca_file`: cannot read {}", p.display()))?),
        None => None,
    };
    let id = format!("{}-{role}-{}", bus.client_id, std::process::id());
    let opts = mqtt_options(bus, &id, password.as_deref(), ca, true).map_err(|e| anyhow::anyhow!("{e}"))?;
    let (client, mut el) = AsyncClient::new(opts, 16);
    let connack = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match el.poll().await {
                Ok(Event::Incoming(Packet::ConnAck(_))) => return Ok(()),
                Ok(_) => {}
                Err(e) => return Err(anyhow::anyhow!("bus: {}", explain(&e, bus))),
            }
        }
    })
    .await;
    match connack {
        Ok(r) => r?,
        Err(_) => anyhow::bail!("bus: no answer from the broker at {} within 10 s", bus.url),
    }
    Ok((client, el))
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

async fn monitor(conn: Conn, topic: Option<String>, count: Option<usize>) -> anyhow::Result<()> {
    let bus = bus_config(&conn)?;
    let filter = topic.unwrap_or_else(|| bus.topic("#"));
    let (client, mut el) = connect(&bus, "monitor").await?;
    client.try_subscribe(filter.clone(), QoS::AtLeastOnce).context("subscribing")?;
    let mut seen = 0usize;
    let mut out = std::io::stdout().lock();
    loop {
        let ev = tokio::select! {
            _ = tokio::signal::ctrl_c() => break,
            ev = el.poll() => ev,
        };
        match ev {
            Ok(Event::Incoming(Packet::Publish(p))) => {
                let payload = serde_json::from_slice::<serde_json::Value>(&p.payload).unwrap_or_else(|_| json!(String::from_utf8_lossy(&p.payload)));
                let line = json!({"topic": p.topic, "retain": p.retain, "payload": payload});
                writeln!(out, "{line}")?;
                out.flush()?;
                seen += 1;
                if count.is_some_and(|c| seen >= c) {
                    break;
                }
            }
            Ok(Event::Incoming(Packet::SubAck(_))) => eprintln!("attune: monitoring {filter} on {} (Ctrl-C to end)", bus.url),
            Ok(Event::Incoming(Packet::ConnAck(_))) => {
                // Reconnected: subscribe again (clean session).
                let _ = client.try_subscribe(filter.clone(), QoS::AtLeastOnce);
            }
            Ok(_) => {}
            Err(e) => {
                eprintln!("attune: bus: {} (retrying)", explain(&e, &bus));
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
    Ok(())
}
