//! The bus's connection to the broker: a tokio task that owns rumqttc's event
//! loop (and does nothing but poll it and route what arrives), and an outbox
//! thread that owns a store connection and publishes undelivered rows in
//! order with `try_publish`. Neither ever awaits a publish.
//!
//! Design — delivery is confirmed by echo, not by PUBACK. The robot
//! subscribes to its own outgoing topics; a row is marked delivered when the
//! broker routes it back (matched on the message's own `id`/`repeat`).
//! rumqttc assigns packet ids inside its state and replays or drops them
//! across reconnects, so a PUBACK cannot be tied to an outbox row from the
//! outside; the echo ties delivery to our id and proves the broker accepted
//! and routed the message. The outbox, not rumqttc's memory, is the one
//! source of retransmission: on every disconnect rumqttc's pending list is
//! emptied (under the same lock the outbox thread publishes under, so no
//! stale request slips in), and after every reconnect publishing restarts
//! from the oldest undelivered row. Delivery is therefore at-least-once: a
//! message in flight when the connection broke can arrive twice (same `id`),
//! and the first arrivals keep the outbox order.

use super::config::{BusConfig, Scheme};
use super::message::{self, parse_ack, parse_command, AlertAck, StaffCommand, MAX_INCOMING_PACKET};
use super::outbox;
use rumqttc::{AsyncClient, ConnectReturnCode, ConnectionError, Event, EventLoop, MqttOptions, Packet, QoS, Transport};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// Most rows published and not yet echoed back.
const WINDOW: usize = 64;
/// With rows in flight and no echo for this long, publish again from the oldest undelivered row.
const RESEND_AFTER: Duration = Duration::from_secs(5);
/// How often the outbox thread looks at the table without being woken.
const TICK: Duration = Duration::from_millis(50);
/// Capacity of the signal channel to the outbox thread. When full, a wake-up
/// or an echo is dropped: the thread rescans the table every tick, and a lost
/// echo only means that row is published again (same id) after `RESEND_AFTER`.
pub const SIGNAL_CAPACITY: usize = 1024;
/// Capacity of the staff-command channel to the session. When full (the
/// session is busy in a long turn and staff keep sending), the command is
/// refused, logged and audited, never silently queued without bound.
pub const COMMAND_CAPACITY: usize = 16;

/// Messages to the outbox thread.
pub enum Signal {
    /// New rows were written.
    Wake,
    /// Connected and subscribed: publish from the oldest undelivered row.
    Online,
    /// The connection is gone.
    Offline,
    /// The broker routed this outbox key back to us.
    Echo(String),
    /// A staff acknowledgement arrived.
    Ack(AlertAck),
    /// Record a rejected command or ack in the store's events table.
    Audit { kind: &'static str, payload: serde_json::Value },
    /// Reply with the backlog once it is empty or `deadline` has passed.
    Drain { deadline: Instant, reply: SyncSender<i64> },
    /// Stop.
    Shutdown,
}

/// State shared by the event-loop task, the outbox thread and the handle.
pub struct Shared {
    /// Connected and subscribed. Published rows are only sent while true;
    /// the mutex is held across each `try_publish` and across the poller's
    /// clean-up after a disconnect.
    pub online: Mutex<bool>,
    /// Mirror of `online` for cheap reads (status, tests).
    pub online_flag: AtomicBool,
    /// Undelivered rows at the last look (for logs and `close`).
    pub backlog: AtomicI64,
    /// The broker refused our credentials (the last connect attempt).
    pub refused: AtomicBool,
    /// Connections so far: raised (under `online`) at each SUBACK, so the
    /// outbox thread notices a new connection even before it reads
    /// [`Signal::Online`], and never continues an old connection's cursor on it.
    pub epoch: AtomicU64,
}

/// Everything the runner needs besides the store path.
pub struct RunnerCtx {
    /// `[bus]`.
    pub cfg: BusConfig,
    /// Password from `password_env`.
    pub password: Option<String>,
    /// CA certificate (PEM), for mqtts.
    pub ca_pem: Option<Vec<u8>>,
    /// Session row id (for audit events), if any.
    pub session: Option<i64>,
}

/// MQTT options for the robot (persistent session) or a tool (clean session).
pub fn mqtt_options(cfg: &BusConfig, client_id: &str, password: Option<&str>, ca_pem: Option<Vec<u8>>, clean: bool) -> Result<MqttOptions, String> {
    let addr = cfg.broker()?;
    let mut o = MqttOptions::new(client_id, addr.host, addr.port);
    o.set_keep_alive(Duration::from_secs(cfg.keep_alive_s.max(1)));
    o.set_clean_session(clean);
    o.set_max_packet_size(MAX_INCOMING_PACKET, MAX_INCOMING_PACKET);
    o.set_inflight(100);
    if let Some(p) = password {
        o.set_credentials(cfg.username.clone(), p.to_string());
    }
    if addr.scheme == Scheme::Tls {
        let ca = ca_pem.ok_or("field `bus.ca_file`: mqtts:// needs a CA file")?;
        o.set_transport(Transport::tls_with_config(rumqttc::TlsConfiguration::Simple { ca, alpn: None, client_auth: None }));
    }
    Ok(o)
}

/// A clear line for a connection failure.
pub fn explain(e: &ConnectionError, cfg: &BusConfig) -> String {
    match e {
        ConnectionError::ConnectionRefused(ConnectReturnCode::BadUserNamePassword) | ConnectionError::ConnectionRefused(ConnectReturnCode::NotAuthorized) => format!(
            "the broker at {} refused the credentials of user {:?} (password from ${}): not authorised",
            cfg.url, cfg.username, cfg.password_env
        ),
        ConnectionError::ConnectionRefused(code) => format!("the broker at {} refused the connection: {code:?}", cfg.url),
        ConnectionError::Io(io) if io.kind() == std::io::ErrorKind::ConnectionRefused => format!("no broker listening at {} (connection refused)", cfg.url),
        ConnectionError::Tls(t) => format!("TLS with the broker at {} failed: {t} (check bus.ca_file)", cfg.url),
        other => format!("connection to the broker at {} lost: {other}", cfg.url),
    }
}

/// Starts the event-loop task and the outbox thread.
pub fn start(
    ctx: RunnerCtx,
    store_path: &std::path::Path,
    shutdown: CancellationToken,
    cmd_tx: mpsc::Sender<StaffCommand>,
) -> Result<(SyncSender<Signal>, Arc<Shared>, std::thread::JoinHandle<()>, tokio::task::JoinHandle<()>), String> {
    let opts = mqtt_options(&ctx.cfg, &ctx.cfg.client_id, ctx.password.as_deref(), ctx.ca_pem.clone(), false)?;
    let (client, eventloop) = AsyncClient::new(opts, 2 * WINDOW);
    let shared = Arc::new(Shared { online: Mutex::new(false), online_flag: AtomicBool::new(false), backlog: AtomicI64::new(0), refused: AtomicBool::new(false), epoch: AtomicU64::new(0) });
    let (sig_tx, sig_rx) = std::sync::mpsc::sync_channel::<Signal>(SIGNAL_CAPACITY);
    let conn = outbox::connect(store_path).map_err(|e| format!("bus outbox {}: {e}", store_path.display()))?;
    let thread = {
        let (shared, client, cfg, session) = (shared.clone(), client.clone(), ctx.cfg.clone(), ctx.session);
        std::thread::Builder::new()
            .name("attune-bus-outbox".into())
            .spawn(move || outbox_thread(conn, sig_rx, client, shared, cfg, session))
            .map_err(|e| format!("starting the bus outbox thread: {e}"))?
    };
    let task = tokio::spawn(event_loop_task(eventloop, client, ctx.cfg, shared.clone(), sig_tx.clone(), cmd_tx, shutdown));
    Ok((sig_tx, shared, thread, task))
}

/// Polls rumqttc and routes what arrives. Never publishes.
async fn event_loop_task(
    mut el: EventLoop,
    client: AsyncClient,
    cfg: BusConfig,
    shared: Arc<Shared>,
    sig: SyncSender<Signal>,
    cmds: mpsc::Sender<StaffCommand>,
    shutdown: CancellationToken,
) {
    let topic = |leaf: &str| cfg.topic(leaf);
    let (t_cmd, t_ack) = (topic("cmd"), topic("ack"));
    let subs: Vec<String> = ["cmd", "ack", "state", "event", "alert", "telemetry"].iter().map(|l| topic(l)).collect();
    let mut failures: u32 = 0;
    let mut outage_started: Option<Instant> = None;
    // Design: commands and acks reach this persistent session at least once;
    // a redelivery (same `id`) within this process is dropped here, and one
    // that reaches a later process is caught by the store's audit (see
    // `BusHandle::apply`). Acks are idempotent anyway (the first one wins).
    let mut seen_in = super::dedup::SeenKeys::new(4_096);
    loop {
        let ev = tokio::select! {
            _ = shutdown.cancelled() => break,
            ev = el.poll() => ev,
        };
        match ev {
            Ok(Event::Incoming(Packet::ConnAck(_))) => {
                match outage_started.take() {
                    Some(t) => tracing::warn!(target: "bus", "bus: reconnected to {} after {:.1} s", cfg.url, t.elapsed().as_secs_f64()),
                    None => tracing::info!(target: "bus", "bus: connected to {}", cfg.url),
                }
                failures = 0;
                shared.refused.store(false, Ordering::Relaxed);
                let filters = subs.iter().map(|t| rumqttc::SubscribeFilter::new(t.clone(), QoS::AtLeastOnce));
                if let Err(e) = client.try_subscribe_many(filters) {
                    tracing::error!(target: "bus", "bus: could not queue the subscription: {e}");
                }
            }
            Ok(Event::Incoming(Packet::SubAck(ack))) => {
                if ack.return_codes.iter().any(|c| matches!(c, rumqttc::SubscribeReasonCode::Failure)) {
                    tracing::error!(target: "bus", "bus: the broker refused a subscription (check the ACL: the robot's user needs read on attune/{}/{}/#)", cfg.site, cfg.robot);
                }
                if let Ok(mut on) = shared.online.lock() {
                    shared.epoch.fetch_add(1, Ordering::SeqCst);
                    *on = true;
                }
                shared.online_flag.store(true, Ordering::Relaxed);
                send(&sig, Signal::Online);
            }
            Ok(Event::Incoming(Packet::Publish(p))) => {
                let now = crate::store::now_ms();
                if p.topic == t_cmd || p.topic == t_ack {
                    if let Some(k) = super::dedup::message_key(&p.payload) {
                        if !seen_in.first(&k) {
                            tracing::info!(target: "bus", "bus: {} {k:?} delivered again by the broker; ignored (already received)", if p.topic == t_cmd { "staff command" } else { "ack" });
                            continue;
                        }
                    }
                }
                if p.topic == t_cmd {
                    route_command(&p.payload, now, &cfg, &cmds, &sig);
                } else if p.topic == t_ack {
                    match parse_ack(&p.payload) {
                        Ok(a) => send(&sig, Signal::Ack(a)),
                        Err(why) => {
                            tracing::warn!(target: "bus", "bus: ignored a malformed ack ({} bytes): {why}", p.payload.len());
                            send(&sig, Signal::Audit { kind: "bus_ack_rejected", payload: serde_json::json!({"reason": why, "bytes": p.payload.len()}) });
                        }
                    }
                } else if let Some(key) = echo_key(&p.payload) {
                    send(&sig, Signal::Echo(key));
                }
            }
            Ok(_) => {}
            Err(e) => {
                // Design: from here until the next SUBACK nothing new is
                // published, and what rumqttc still holds is dropped; the
                // outbox republishes it in order after the reconnect.
                if let Ok(mut on) = shared.online.lock() {
                    *on = false;
                    el.clean();
                    el.pending.clear();
                }
                shared.online_flag.store(false, Ordering::Relaxed);
                send(&sig, Signal::Offline);
                let refused = matches!(e, ConnectionError::ConnectionRefused(_));
                shared.refused.store(refused, Ordering::Relaxed);
                if outage_started.is_none() {
                    outage_started = Some(Instant::now());
                }
                // One line per outage, then one every 20 attempts.
                if failures % 20 == 0 {
                    let line = explain(&e, &cfg);
                    if refused {
                        tracing::error!(target: "bus", "bus: {line}; the session goes on and its messages wait in the outbox");
                    } else {
                        tracing::warn!(target: "bus", "bus: {line}; the session goes on and its messages wait in the outbox (retrying)");
                    }
                }
                failures = failures.saturating_add(1);
                let backoff = Duration::from_millis((100u64 << failures.min(4)).min(1_000));
                tokio::select! {
                    _ = shutdown.cancelled() => break,
                    _ = tokio::time::sleep(backoff) => {}
                }
            }
        }
    }
    // Say goodbye if we can; the outbox keeps whatever was not delivered.
    let _ = client.try_disconnect();
    let _ = tokio::time::timeout(Duration::from_millis(500), async {
        loop {
            match el.poll().await {
                Ok(Event::Outgoing(rumqttc::Outgoing::Disconnect)) | Err(_) => break,
                Ok(_) => {}
            }
        }
    })
    .await;
}

fn send(sig: &SyncSender<Signal>, s: Signal) {
    match sig.try_send(s) {
        Ok(()) | Err(TrySendError::Disconnected(_)) => {}
        Err(TrySendError::Full(_)) => tracing::debug!(target: "bus", "bus: outbox signal queue full; the outbox rescans on its next tick"),
    }
}

fn route_command(payload: &[u8], now: i64, cfg: &BusConfig, cmds: &mpsc::Sender<StaffCommand>, sig: &SyncSender<Signal>) {
    match parse_command(payload, now, cfg.cmd_max_age_s as i64 * 1000) {
        Ok(c) => {
            tracing::info!(target: "bus", "bus: staff command {} {:?} from {}", c.action.kind(), c.id, c.by);
            if let Err(e) = cmds.try_send(c) {
                let c = match e {
                    mpsc::error::TrySendError::Full(c) | mpsc::error::TrySendError::Closed(c) => c,
                };
                tracing::warn!(target: "bus", "bus: staff command {:?} refused: the session's command queue is full or closed", c.id);
                send(sig, Signal::Audit { kind: "staff_command_rejected", payload: serde_json::json!({"id": c.id, "kind": c.action.kind(), "by": c.by, "reason": "command queue full"}) });
            }
        }
        Err(why) => {
            tracing::warn!(target: "bus", "bus: ignored a staff command ({} bytes): {why}", payload.len());
            send(sig, Signal::Audit { kind: "staff_command_rejected", payload: serde_json::json!({"reason": why, "bytes": payload.len()}) });
        }
    }
}

/// The outbox key of one of our own messages seen again (`id`, or `id#repeat`).
pub fn echo_key(payload: &[u8]) -> Option<String> {
    super::dedup::message_key(payload)
}

/// Publishes undelivered rows in order, marks echoes delivered, republishes
/// unacknowledged alerts and stores acknowledgements.
fn outbox_thread(mut conn: rusqlite::Connection, rx: Receiver<Signal>, client: AsyncClient, shared: Arc<Shared>, cfg: BusConfig, session: Option<i64>) {
    let mut cursor: i64 = 0; // last row handed to rumqttc since (re)connecting
    let mut epoch: u64 = 0; // the connection `cursor` belongs to
    let mut inflight: usize = 0;
    let mut last_progress = Instant::now();
    let mut drains: Vec<(Instant, SyncSender<i64>)> = Vec::new();
    let mut echoes: Vec<String> = Vec::new();
    let mut stop = false;
    let mut logged_db_error = false;
    while !stop {
        let first = rx.recv_timeout(TICK);
        let mut batch = Vec::new();
        match first {
            Ok(s) => batch.push(s),
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => stop = true,
        }
        while let Ok(s) = rx.try_recv() {
            batch.push(s);
        }
        for s in batch {
            match s {
                Signal::Wake => {}
                // The cursor restarts when the thread sees the new epoch (below).
                Signal::Online => last_progress = Instant::now(),
                Signal::Offline => {
                    inflight = 0;
                }
                Signal::Echo(k) => echoes.push(k),
                Signal::Ack(a) => handle_ack(&mut conn, &a, &cfg, session),
                Signal::Audit { kind, payload } => {
                    if let Err(e) = audit(&conn, session, kind, &payload) {
                        tracing::error!(target: "bus", "bus: could not audit {kind}: {e}");
                    }
                }
                Signal::Drain { deadline, reply } => drains.push((deadline, reply)),
                Signal::Shutdown => stop = true,
            }
        }
        let now = crate::store::now_ms();
        let res: rusqlite::Result<()> = (|| {
            if !echoes.is_empty() {
                let n = outbox::mark_delivered(&mut conn, &echoes, now)?;
                echoes.clear();
                if n > 0 {
                    inflight = inflight.saturating_sub(n);
                    last_progress = Instant::now();
                }
            }
            let online = shared.online_flag.load(Ordering::Relaxed);
            if online {
                for a in outbox::due_alerts(&conn, now - cfg.alert_repeat_ms as i64)? {
                    let mut v: serde_json::Value = serde_json::from_str(&a.payload).unwrap_or_default();
                    v["repeat"] = serde_json::json!(a.repeats + 1);
                    outbox::queue_repeat(&mut conn, &a, &v.to_string(), now)?;
                    tracing::info!(target: "bus", "bus: alert {} not acknowledged; published again (repeat {})", a.alert_id, a.repeats + 1);
                }
                if inflight > 0 && last_progress.elapsed() > RESEND_AFTER {
                    tracing::warn!(target: "bus", "bus: no echo from the broker for {} s; publishing again from the oldest undelivered message", RESEND_AFTER.as_secs());
                    cursor = 0;
                    inflight = 0;
                    last_progress = Instant::now();
                }
                if inflight < WINDOW {
                    let rows = outbox::pending_after(&conn, cursor, WINDOW - inflight)?;
                    if let Ok(on) = shared.online.lock() {
                        let now_epoch = shared.epoch.load(Ordering::SeqCst);
                        if *on && now_epoch != epoch {
                            // Design: a new connection. Rows after the old
                            // cursor must not go first (that reorders the
                            // stream): start again from the oldest undelivered
                            // row on the next pass.
                            epoch = now_epoch;
                            cursor = 0;
                            inflight = 0;
                            last_progress = Instant::now();
                        } else if *on {
                            for r in rows {
                                let qos = QoS::AtLeastOnce;
                                if client.try_publish(r.topic.clone(), qos, r.retain, r.payload.clone().into_bytes()).is_err() {
                                    break; // rumqttc's request queue is full; next tick
                                }
                                if inflight == 0 {
                                    last_progress = Instant::now();
                                }
                                cursor = r.row;
                                inflight += 1;
                            }
                        }
                    }
                }
            }
            if !drains.is_empty() || shared.backlog.load(Ordering::Relaxed) != 0 || online {
                let b = outbox::backlog(&conn)?;
                shared.backlog.store(b, Ordering::Relaxed);
                let t = Instant::now();
                drains.retain(|(deadline, reply)| {
                    if b == 0 || t >= *deadline {
                        let _ = reply.send(b);
                        false
                    } else {
                        true
                    }
                });
            }
            Ok(())
        })();
        if let Err(e) = res {
            // A busy or failing store must not end the bus: log once, retry next tick.
            if !logged_db_error {
                tracing::error!(target: "bus", "bus: outbox store error (retrying): {e}");
                logged_db_error = true;
            }
        } else {
            logged_db_error = false;
        }
    }
    for (_, reply) in drains {
        let _ = reply.send(shared.backlog.load(Ordering::Relaxed));
    }
}

fn audit(conn: &rusqlite::Connection, session: Option<i64>, kind: &str, payload: &serde_json::Value) -> rusqlite::Result<()> {
    conn.execute(
        "INSERT INTO events (session_id, turn_idx, at_ms, kind, payload) VALUES (?1, NULL, ?2, ?3, ?4)",
        rusqlite::params![session, crate::store::now_ms(), kind, payload.to_string()],
    )?;
    Ok(())
}

fn handle_ack(conn: &mut rusqlite::Connection, a: &AlertAck, cfg: &BusConfig, session: Option<i64>) {
    let now = crate::store::now_ms();
    let res: rusqlite::Result<()> = (|| {
        match outbox::ack(conn, &a.alert, &a.by, a.at_ms, &a.id)? {
            outbox::AckOutcome::Stored { session: s, turn } => {
                tracing::warn!(target: "bus", "bus: alert {} acknowledged by {}", a.alert, a.by);
                conn.execute(
                    "INSERT INTO events (session_id, turn_idx, at_ms, kind, payload) VALUES (?1, ?2, ?3, 'alert_acked', ?4)",
                    rusqlite::params![s, turn, now, serde_json::json!({"alert": a.alert, "by": a.by, "acked_at": message::utc(a.at_ms), "ack_id": a.id}).to_string()],
                )?;
                let id = super::new_id();
                let payload = message::envelope(&id, "alert_acked", now, &cfg.site, &cfg.robot, serde_json::json!({"alert": a.alert, "by": a.by, "acked_at": message::utc(a.at_ms)}));
                outbox::push(conn, &id, &cfg.topic("event"), &payload.to_string(), false, now)?;
            }
            outbox::AckOutcome::Already { by, at_ms } => {
                tracing::info!(target: "bus", "bus: alert {} was already acknowledged by {by} at {}; ack from {} ignored", a.alert, message::utc(at_ms), a.by);
            }
            outbox::AckOutcome::Unknown => {
                tracing::warn!(target: "bus", "bus: ack from {} for unknown alert {:?} ignored", a.by, a.alert);
                audit(conn, session, "bus_ack_unknown_alert", &serde_json::json!({"alert": a.alert, "by": a.by, "ack_id": a.id}))?;
            }
        }
        Ok(())
    })();
    if let Err(e) = res {
        tracing::error!(target: "bus", "bus: could not store the ack of {} by {}: {e}", a.alert, a.by);
    }
}
