//! Virtual-time tests: events at chosen session times, ticks on the grid.

use super::*;
use attune_firmware::params::min_duration_s;
use proptest::prelude::*;

fn settings() -> Settings {
    Settings::default()
}

/// Runs `events` (after a session start at 0) to `end_ms`.
fn run_with(s: Settings, seed: u64, events: &[(u64, Event)], end_ms: u64) -> Vec<(u64, HeadCommand)> {
    let mut d = Driver::new(Planner::new(HeadParams::DEFAULT, s, seed), 0);
    let mut out = d.event(&Event::SessionStarted { seed, settings: s }, 0);
    for (t, e) in events {
        out.extend(d.event(e, *t));
    }
    out.extend(d.advance_to(end_ms));
    out
}

fn run(seed: u64, events: &[(u64, Event)], end_ms: u64) -> Vec<(u64, HeadCommand)> {
    run_with(settings(), seed, events, end_ms)
}

fn first_of(cmds: &[(u64, HeadCommand)], b: Behavior, after_ms: u64) -> Option<u64> {
    cmds.iter().find(|(t, c)| *t >= after_ms && c.behavior == b).map(|(t, _)| *t)
}

fn sentence(text: &str, duration_ms: u32) -> Event {
    // Speech-like loudness: 600 ms phrases with 150 ms pauses.
    let n = (duration_ms / ENVELOPE_FRAME_MS) as usize;
    let envelope = (0..n).map(|i| if i % 15 >= 12 { 0.05 } else { 0.5 + 0.4 * ((i as f32) * 0.9).sin().abs() }).collect();
    Event::AgentSentence { text: text.into(), strategy: "Restatement or Paraphrasing".into(), duration_ms, envelope, continued: false }
}

const STARTED: Event = Event::ParticipantStarted { barge_in: false };

#[test]
fn a_backchannel_nod_starts_within_300_ms_of_a_pause() {
    let mut nodded = 0;
    for seed in 0..20 {
        let cmds = run(seed, &[(1000, STARTED), (3000, Event::ParticipantPaused)], 5000);
        if let Some(t) = first_of(&cmds, Behavior::BackchannelNod, 0) {
            nodded += 1;
            assert!(t >= 3000 && t <= 3300, "seed {seed}: nod at {t} ms for a pause at 3000 ms");
            // It is a real dip of the head, not a label.
            let before = cmds.iter().filter(|(t, _)| *t < 3000).last().map(|(_, c)| c.pitch_deg).unwrap();
            let lowest = cmds.iter().filter(|(t, _)| (3000..3800).contains(t)).map(|(_, c)| c.pitch_deg).fold(f32::MAX, f32::min);
            assert!(before - lowest > 2.0, "seed {seed}: pitch only dipped {} deg", before - lowest);
        }
    }
    // The chance per pause is 0.8: almost every seed nods, not all.
    assert!((10..=20).contains(&nodded), "{nodded} of 20 nodded");
}

#[test]
fn backchannel_nods_are_rate_limited_and_irregular() {
    // A minute of speech with a pause every 700 ms.
    let mut evs = vec![(500, STARTED)];
    let mut t = 1200;
    while t < 60_000 {
        evs.push((t, Event::ParticipantPaused));
        t += 700;
    }
    let cmds = run(3, &evs, 61_000);
    // Nod starts: the first command of each run of backchannel_nod labels.
    let mut starts = Vec::new();
    let mut prev = false;
    for (t, c) in &cmds {
        let is = c.behavior == Behavior::BackchannelNod;
        if is && !prev {
            starts.push(*t);
        }
        prev = is;
    }
    assert!(starts.len() >= 8, "only {} nods in a minute", starts.len());
    let gaps: Vec<f64> = starts.windows(2).map(|w| (w[1] - w[0]) as f64).collect();
    assert!(gaps.iter().all(|&g| g >= 1000.0), "nods too close: {gaps:?}");
    let mean = gaps.iter().sum::<f64>() / gaps.len() as f64;
    let sd = (gaps.iter().map(|g| (g - mean).powi(2)).sum::<f64>() / gaps.len() as f64).sqrt();
    assert!(sd > 200.0, "nods are a metronome: gaps {gaps:?}");
}

#[test]
fn the_turn_is_acknowledged_within_300_ms_of_its_end_by_a_gaze_aversion() {
    for seed in 0..10 {
        let cmds = run(seed, &[(500, STARTED), (4000, Event::ParticipantStopped)], 7000);
        let t = first_of(&cmds, Behavior::TurnAck, 4000).expect("no turn_ack");
        assert!(t - 4000 <= 300, "seed {seed}: ack {} ms after the end of turn", t - 4000);
        let max_yaw = cmds.iter().filter(|(t, _)| (4000..5500).contains(t)).map(|(_, c)| c.yaw_deg.abs()).fold(0.0, f32::max);
        assert!(max_yaw > 4.0, "seed {seed}: the head did not look away ({max_yaw} deg)");
    }
}

#[test]
fn the_head_keeps_averting_its_gaze_while_the_reply_takes_long() {
    let cmds = run(5, &[(500, STARTED), (4000, Event::ParticipantStopped)], 12_000);
    // A second look-away later than the acknowledgement (the LLM is slow).
    let later = cmds.iter().filter(|(t, _)| (6500..12_000).contains(t)).map(|(_, c)| c.yaw_deg.abs()).fold(0.0, f32::max);
    assert!(later > 2.5, "no thinking aversion after the acknowledgement: {later} deg");
    // And it came back to the participant in between (attending, not stuck away).
    let back = cmds.iter().filter(|(t, _)| (5500..6500).contains(t)).any(|(_, c)| c.yaw_deg.abs() < 1.0);
    assert!(back, "the gaze never returned to the participant");
}

#[test]
fn no_affirmative_nods_while_risk_is_high() {
    for seed in 0..10 {
        let mut evs = vec![(200, Event::RiskChanged { risk: Risk::High, crisis_active: true }), (500, STARTED)];
        for k in 0..20 {
            evs.push((1000 + k * 900, Event::ParticipantPaused));
        }
        evs.push((20_000, Event::ParticipantStopped));
        evs.push((21_000, sentence("I hear how much pain you are in, and I am glad you told me.", 3000)));
        evs.push((24_000, Event::AgentFinished));
        let cmds = run(seed, &evs, 25_000);
        let nods = cmds.iter().filter(|(_, c)| matches!(c.behavior, Behavior::BackchannelNod | Behavior::SpeakNod)).count();
        assert_eq!(nods, 0, "seed {seed}: nodded during a crisis");
        // Calm: no look-away either; the head stays with the participant.
        let max_yaw = cmds.iter().filter(|(t, _)| *t > 1000).map(|(_, c)| c.yaw_deg.abs()).fold(0.0, f32::max);
        assert!(max_yaw < 3.0, "seed {seed}: yaw {max_yaw} deg in crisis");
    }
}

#[test]
fn no_nods_after_a_self_critical_statement_until_a_turn_without_one() {
    let critical = Event::AgentThinking { feelings: vec![], self_critical: true };
    let mut evs = vec![(500, STARTED), (1000, Event::ParticipantStopped), (1200, critical)];
    evs.push((2000, STARTED));
    for k in 0..10 {
        evs.push((2500 + k * 800, Event::ParticipantPaused));
    }
    let cmds = run(1, &evs, 11_000);
    assert_eq!(first_of(&cmds, Behavior::BackchannelNod, 0), None);
    // A later ordinary turn lifts it.
    evs.push((11_000, Event::ParticipantStopped));
    evs.push((11_200, Event::AgentThinking { feelings: vec![], self_critical: false }));
    evs.push((12_000, STARTED));
    for k in 0..10 {
        evs.push((12_500 + k * 900, Event::ParticipantPaused));
    }
    let cmds = run(1, &evs, 22_000);
    assert!(first_of(&cmds, Behavior::BackchannelNod, 12_000).is_some());
}

#[test]
fn the_head_leans_in_when_the_participant_names_a_feeling() {
    let evs = [(500, STARTED), (3000, Event::ParticipantStopped), (3300, Event::AgentThinking { feelings: vec!["lonely".into()], self_critical: false })];
    let cmds = run(2, &evs, 6000);
    let lean = cmds.iter().filter(|(t, _)| (5000..6000).contains(t)).map(|(_, c)| c.lean_deg).fold(f32::MIN, f32::max);
    let plain = run(2, &evs[..2], 6000);
    let plain_lean = plain.iter().filter(|(t, _)| (5000..6000).contains(t)).map(|(_, c)| c.lean_deg).fold(f32::MIN, f32::max);
    assert!(lean > plain_lean + 1.5, "lean {lean} vs {plain_lean} without a feeling");
    assert!(first_of(&cmds, Behavior::Lean, 3300).is_some());
}

#[test]
fn idle_motion_is_present_smooth_and_never_frozen() {
    let cmds = run(4, &[], 30_000);
    let late: Vec<&(u64, HeadCommand)> = cmds.iter().filter(|(t, _)| *t >= 3000).collect();
    // Never frozen: commands keep coming, no gap over 1 s.
    for w in late.windows(2) {
        assert!(w[1].0 - w[0].0 <= 1000, "frozen from {} to {} ms", w[0].0, w[1].0);
    }
    let (lo, hi) = late.iter().fold((f32::MAX, f32::MIN), |(lo, hi), (_, c)| (lo.min(c.pitch_deg), hi.max(c.pitch_deg)));
    assert!(hi - lo > 1.0, "breathing sway too small: {} deg", hi - lo);
    assert!(late.iter().any(|(_, c)| c.yaw_deg.abs() > 0.5), "no gaze drift in 27 s");
    // Never jittery: small steps, few reversals of pitch direction.
    let mut reversals = 0;
    let mut last_dir = 0.0f32;
    for w in late.windows(2) {
        let d = w[1].1.pitch_deg - w[0].1.pitch_deg;
        assert!(d.abs() < 1.0, "jump of {d} deg");
        if d.abs() > 0.005 {
            if last_dir != 0.0 && d.signum() != last_dir {
                reversals += 1;
            }
            last_dir = d.signum();
        }
    }
    assert!(reversals < 27, "{reversals} pitch reversals in 27 s");
}

#[test]
fn the_head_moves_with_the_loudness_of_its_speech() {
    let loud = run(6, &[(500, sentence("Hello there, how are you today, my friend?", 3000))], 3500);
    let quiet_env = Event::AgentSentence { text: "Hello there".into(), strategy: String::new(), duration_ms: 3000, envelope: vec![0.0; 60], continued: false };
    let quiet = run(6, &[(500, quiet_env)], 3500);
    let mean_pitch = |c: &[(u64, HeadCommand)]| {
        let v: Vec<f32> = c.iter().filter(|(t, _)| (1000..3400).contains(t)).map(|(_, c)| c.pitch_deg).collect();
        v.iter().sum::<f32>() / v.len().max(1) as f32
    };
    assert!(mean_pitch(&loud) > mean_pitch(&quiet) + 0.5, "{} vs {}", mean_pitch(&loud), mean_pitch(&quiet));
    assert!(loud.iter().any(|(_, c)| c.behavior == Behavior::SpeakMotion));
    assert!(loud.iter().any(|(_, c)| c.behavior == Behavior::SpeakNod), "no emphasis nod at a phrase boundary");
}

#[test]
fn the_rest_of_a_sentence_spoken_apart_moves_the_head_with_its_voice_and_starts_nothing_new() {
    // A question whose first clause played as its own audio, then the rest.
    let q = "Is that something you have felt before, or is it new for you?";
    let head = sentence(q, 1200);
    let rest = |env: f32, continued: bool| Event::AgentSentence {
        text: q.into(),
        strategy: String::new(),
        duration_ms: 2000,
        envelope: vec![env; 40],
        continued,
    };
    let window = |c: &[(u64, HeadCommand)], f: fn(&HeadCommand) -> f32| -> Vec<f32> { c.iter().filter(|(t, _)| (2300..3600).contains(t)).map(|(_, c)| f(c)).collect() };
    let mean = |v: Vec<f32>| v.iter().sum::<f32>() / v.len().max(1) as f32;
    let max_roll = |c: &[(u64, HeadCommand)]| window(c, |c| c.roll_deg.abs()).into_iter().fold(0.0f32, f32::max);
    for seed in 0..5 {
        let loud = run(seed, &[(500, head.clone()), (1700, rest(0.8, true))], 3800);
        let quiet = run(seed, &[(500, head.clone()), (1700, rest(0.0, true))], 3800);
        // The head follows the rest's loudness ...
        let (l, q) = (mean(window(&loud, |c| c.pitch_deg)), mean(window(&quiet, |c| c.pitch_deg)));
        assert!(l > q + 0.5, "seed {seed}: pitch {l} with a loud rest, {q} with a quiet one");
        // ... and does not tilt for the question again, which a new
        // sentence would.
        assert!(max_roll(&loud) < 1.5, "seed {seed}: tilted {}° over the rest", max_roll(&loud));
        let anew = run(seed, &[(500, head.clone()), (1700, rest(0.8, false))], 3800);
        assert!(max_roll(&anew) > 2.0, "seed {seed}: a new question sentence tilted only {}°", max_roll(&anew));
    }
}

#[test]
fn barge_in_stops_speaking_motion_at_once() {
    let evs = [(500, sentence("This is a long sentence, with many phrases, that goes on and on, for a while.", 6000)), (2000, Event::ParticipantStarted { barge_in: true })];
    let cmds = run(7, &evs, 6000);
    assert!(cmds.iter().any(|(t, c)| *t < 2000 && c.behavior == Behavior::SpeakMotion));
    let after: Vec<_> = cmds.iter().filter(|(t, _)| *t > 2000).collect();
    assert!(after.iter().all(|(_, c)| !matches!(c.behavior, Behavior::SpeakMotion | Behavior::SpeakNod)), "still speaking after barge-in");
    let mut d = Driver::new(Planner::new(HeadParams::DEFAULT, settings(), 7), 0);
    for (t, e) in &evs {
        d.event(e, *t);
    }
    assert_eq!(d.planner().mode(), Mode::Listening);
}

#[test]
fn session_end_parks_and_then_nothing_moves() {
    let cmds = run(8, &[(500, STARTED), (2000, Event::SessionEnded), (2500, Event::ParticipantPaused)], 5000);
    let (t, last) = cmds.last().unwrap();
    assert_eq!(last.command, CommandKind::Park);
    assert_eq!(last.behavior, Behavior::Park);
    assert_eq!(last.pose(), HeadParams::DEFAULT.park_pose());
    assert!(*t >= 2000 && *t <= 2020);
}

#[test]
fn the_still_profile_looks_at_the_participant_and_does_nothing_else() {
    let s = BehaviorsConfig { profile: "still".into(), ..Default::default() }.settings().unwrap();
    let evs = [(500, STARTED), (1000, Event::ParticipantPaused), (3000, Event::ParticipantStopped), (3500, sentence("Tell me more.", 1500))];
    let cmds = run_with(s, 9, &evs, 8000);
    assert!(cmds.iter().all(|(_, c)| c.behavior == Behavior::Gaze));
    // Once it faces the participant, it stays.
    assert!(cmds.iter().all(|(t, _)| *t < 1500), "moved after settling: {:?}", cmds.last());
}

#[test]
fn a_trace_replays_to_the_same_commands() {
    let evs = vec![
        (500, STARTED),
        (1500, Event::ParticipantPaused),
        (2600, Event::ParticipantPaused),
        (4000, Event::ParticipantStopped),
        (4300, Event::AgentThinking { feelings: vec!["sad".into()], self_critical: false }),
        (5000, sentence("That sounds really hard, and I am here.", 2500)),
        (7600, Event::AgentFinished),
        (9000, Event::SessionEnded),
    ];
    let s = settings();
    let cmds = run_with(s, 42, &evs, 10_000);
    let mut lines = vec![TraceLine::Event { t_ms: 0, event: Event::SessionStarted { seed: 42, settings: s } }];
    for (t, e) in &evs {
        lines.push(TraceLine::Event { t_ms: *t, event: e.clone() });
    }
    // Through JSON, as a trace file would be.
    let text: Vec<String> = lines.iter().map(|l| serde_json::to_string(l).unwrap()).collect();
    let back: Vec<TraceLine> = text.iter().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(back, lines);
    assert_eq!(replay(HeadParams::DEFAULT, &back, 10_000).unwrap(), cmds);
    // Another seed is another session.
    assert_ne!(run_with(s, 43, &evs, 10_000), cmds);
}

#[test]
fn trace_lines_have_the_contract_field_names() {
    let c = HeadCommand { command: CommandKind::SetPose, behavior: Behavior::TurnAck, yaw_deg: 1.0, pitch_deg: 2.0, roll_deg: 3.0, lean_deg: 4.0, duration_ms: 20 };
    let v = serde_json::to_value(TraceLine::Command { t_ms: 5, command: c }).unwrap();
    assert_eq!(v["t_ms"], 5);
    assert_eq!(v["behavior"], "turn_ack");
    assert_eq!(v["command"], "set_pose");
    assert_eq!((v["yaw"].as_f64(), v["pitch"].as_f64(), v["roll"].as_f64(), v["lean"].as_f64()), (Some(1.0), Some(2.0), Some(3.0), Some(4.0)));
    let v = serde_json::to_value(TraceLine::Event { t_ms: 9, event: Event::RiskChanged { risk: Risk::Imminent, crisis_active: true } }).unwrap();
    assert_eq!(v["event"], "risk_changed");
    assert_eq!(v["risk"], "imminent");
    let v = serde_json::to_value(TraceLine::Event { t_ms: 9, event: Event::ParticipantPaused }).unwrap();
    assert_eq!(v, serde_json::json!({"t_ms": 9, "event": "participant_paused"}));
}

#[test]
fn ticks_closer_than_20_ms_produce_nothing() {
    let mut p = Planner::new(HeadParams::DEFAULT, settings(), 1);
    assert!(p.tick(0).is_some());
    assert!(p.tick(5).is_none());
    assert!(p.tick(19).is_none());
    assert!(p.tick(20).is_some());
}

fn arb_event() -> impl Strategy<Value = Event> {
    prop_oneof![
        any::<bool>().prop_map(|b| Event::ParticipantStarted { barge_in: b }),
        Just(Event::ParticipantPaused),
        Just(Event::ParticipantStopped),
        (any::<bool>(), any::<bool>()).prop_map(|(f, c)| Event::AgentThinking { feelings: if f { vec!["sad".into()] } else { vec![] }, self_critical: c }),
        (0u32..8000, prop::collection::vec(-0.5f32..1.5, 0..200), any::<bool>(), any::<bool>()).prop_map(|(d, env, q, c)| Event::AgentSentence {
            text: if q { "Is that so?".into() } else { "I see, and then, you said, it hurt.".into() },
            strategy: String::new(),
            duration_ms: d,
            envelope: env,
            continued: c,
        }),
        Just(Event::AgentFinished),
        (0u8..4, any::<bool>()).prop_map(|(r, c)| Event::RiskChanged { risk: [Risk::None, Risk::Low, Risk::High, Risk::Imminent][r as usize], crisis_active: c }),
        Just(Event::SessionEnded),
    ]
}

fn arb_settings() -> impl Strategy<Value = Settings> {
    (0u8..3, any::<[bool; 7]>(), -45.0f32..45.0, -45.0f32..45.0).prop_map(|(p, s, y, pi)| Settings {
        profile: [Profile::Expressive, Profile::Subtle, Profile::Still][p as usize],
        switches: Switches { gaze: s[0], backchannel_nod: s[1], turn_ack: s[2], speak_nod: s[3], speak_motion: s[4], lean: s[5], idle: s[6] },
        participant_yaw_deg: y,
        participant_pitch_deg: pi,
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    /// Whatever the conversation does, and however irregularly the planner
    /// is ticked, every target is inside the firmware's joint limits, moves
    /// within its speed and acceleration limits, and commands never come
    /// faster than 50 Hz.
    #[test]
    fn random_event_streams_stay_within_the_limits_and_50_hz(
        seed in any::<u64>(),
        s in arb_settings(),
        steps in prop::collection::vec((0u64..1500, prop::option::of(arb_event())), 1..120),
    ) {
        let params = HeadParams::DEFAULT;
        let mut p = Planner::new(params, s, seed);
        p.on_event(&Event::SessionStarted { seed, settings: s }, 0);
        let mut now = 0u64;
        let mut cmds: Vec<(u64, HeadCommand)> = Vec::new();
        for (dt, ev) in steps {
            // Ticks at irregular times, some far too soon.
            now += dt % 37;
            if let Some(c) = p.tick(now) { cmds.push((now, c)); }
            now += dt;
            if let Some(e) = ev { p.on_event(&e, now); }
            if let Some(c) = p.tick(now) { cmds.push((now, c)); }
        }
        let mut prev: Option<(u64, [f32; 4])> = None;
        let mut prev_v: Option<(u64, [f32; 4])> = None;
        for (t, c) in &cmds {
            let a = c.pose().to_array();
            for (i, j) in params.joints.iter().enumerate() {
                prop_assert!(a[i].is_finite() && a[i] >= j.min_deg && a[i] <= j.max_deg, "joint {i} at {} outside [{}, {}]", a[i], j.min_deg, j.max_deg);
            }
            if let Some((tp, ap)) = prev {
                prop_assert!(*t >= tp + TICK_MS, "commands {} ms apart", t - tp);
                let dt_s = (*t - tp) as f32 / 1000.0;
                if c.command == CommandKind::Park {
                    for (i, j) in params.joints.iter().enumerate() {
                        prop_assert!(c.duration_ms as f32 / 1000.0 + 1e-3 >= min_duration_s(a[i] - ap[i], j));
                    }
                    continue;
                }
                let v: [f32; 4] = core::array::from_fn(|i| (a[i] - ap[i]) / dt_s);
                for (i, j) in params.joints.iter().enumerate() {
                    prop_assert!(v[i].abs() <= j.max_vel_deg_s * 1.001 + 0.01, "joint {i} at {} deg/s", v[i]);
                }
                if let Some((tv, vp)) = prev_v {
                    if *t == tp + TICK_MS && tp == tv + TICK_MS {
                        for (i, j) in params.joints.iter().enumerate() {
                            let acc = (v[i] - vp[i]) / dt_s;
                            prop_assert!(acc.abs() <= j.max_acc_deg_s2 * 1.001 + 1.0, "joint {i} at {acc} deg/s2");
                        }
                    }
                }
                prev_v = Some((tp, v));
            }
            prev = Some((*t, a));
        }
    }
}
