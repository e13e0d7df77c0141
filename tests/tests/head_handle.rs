//! The planner-facing `HeadHandle` with the serial backend, against the
//! simulator process over a real pty: poses, telemetry, and reconnection
//! after the simulator restarts.

use attune_hardware::protocol::{Mode, PoseTarget, Telemetry};
use attune_hardware::{from_config, head_channel, HeadConfig};
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

type Sim = attune_tests::SimProcess;

fn wait_for(rx: &Receiver<Telemetry>, secs: u64, what: &str, f: impl Fn(&Telemetry) -> bool) -> Telemetry {
    let deadline = Instant::now() + Duration::from_secs(secs);
    let mut last = None;
    while Instant::now() < deadline {
        if let Ok(t) = rx.recv_timeout(Duration::from_millis(100)) {
            if f(&t) {
                return t;
            }
            last = Some(t);
        }
    }
    panic!("timed out waiting for {what}; last sample {last:?}");
}

#[test]
fn the_serial_backend_moves_the_head_and_reconnects_after_the_simulator_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let link = dir.path().join("head");
    let sim = Sim::start(&link, &[]);
    let cfg = HeadConfig {
        backend: "serial".into(),
        port: link.to_str().unwrap().into(),
        reconnect_max_ms: 400,
        ..HeadConfig::default()
    };
    let (h, runner) = head_channel(from_config(&cfg).unwrap(), 8);
    let rx = h.subscribe(512);
    let th = std::thread::spawn(move || runner.run());

    wait_for(&rx, 5, "first telemetry", |_| true);
    h.set_pose(PoseTarget { yaw_deg: Some(-35.0), ..PoseTarget::default() }, 300).unwrap();
    let t = wait_for(&rx, 5, "yaw at -35", |t| t.angles.yaw_deg == -35.0 && t.mode == Mode::Holding);
    // Heartbeats keep the watchdog quiet while the runner lives.
    std::thread::sleep(Duration::from_millis(1200));
    let t2 = wait_for(&rx, 2, "a later sample", |s| s.t_ms > t.t_ms + 1000);
    assert_eq!(t2.angles.yaw_deg, -35.0, "head parked although the host was alive");
    assert_eq!(t2.counters.watchdog_trips, 0);

    drop(sim);
    std::thread::sleep(Duration::from_millis(300));
    let _sim2 = Sim::start(&link, &[]);
    // A restarted head's clock starts again from zero (samples from before
    // the restart may still sit in the subscription queue).
    let before = t2.t_ms;
    let fresh = wait_for(&rx, 8, "telemetry from the restarted head", |s| s.t_ms < before);
    assert_eq!(fresh.counters.watchdog_trips, 0);
    h.set_pose(PoseTarget { roll_deg: Some(10.0), ..PoseTarget::default() }, 300).unwrap();
    wait_for(&rx, 5, "roll at 10 after reconnect", |t| t.angles.roll_deg == 10.0);

    h.park();
    wait_for(&rx, 5, "parked", |t| t.mode == Mode::Parked);
    h.shutdown();
    th.join().unwrap();
}
