//! `attune head calibrate` driven through stdin.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

fn attune() -> PathBuf {
    // Built by `scripts/test.sh` (cargo build --workspace --all-targets) before the suite.
    attune_tests::attune_bin()
}

fn calibrate(input: &str) -> Output {
    let mut c = Command::new(attune())
        .args(["head", "calibrate"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    c.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    c.wait_with_output().unwrap()
}

/// Seven answers per joint: angle a, pulse a, angle b, pulse b, min, max, park.
fn joint(answers: [&str; 7]) -> String {
    answers.iter().map(|a| format!("{a}\n")).collect()
}

#[test]
fn calibration_answers_end_up_in_the_printed_joint_tables() {
    // "oops" is refused and asked again.
    let mut input = String::from("-45\noops\n1000\n45\n2000\n-40\n40\n\n");
    input += &joint(["", "", "", "", "", "", ""]);
    input += &joint(["", "", "", "", "", "", ""]);
    input += &joint(["", "", "", "", "", "", ""]);
    let out = calibrate(&input);
    let s = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}\n{}", s, String::from_utf8_lossy(&out.stderr));
    assert!(s.contains("not a number: \"oops\""), "{s}");
    let yaw = s.split("[head.yaw]").nth(1).unwrap();
    let yaw = yaw.split("[head.").next().unwrap();
    assert!(yaw.contains("cal_a_deg = -45.0"), "{yaw}");
    assert!(yaw.contains("cal_a_us = 1000"), "{yaw}");
    assert!(yaw.contains("cal_b_us = 2000"), "{yaw}");
    assert!(yaw.contains("min_deg = -40.0"), "{yaw}");
    assert!(s.contains("[head.lean]"));
}

#[test]
fn a_calibration_with_equal_pulses_is_refused_naming_the_joint() {
    let mut input = joint(["", "", "", "", "", "", ""]);
    input += &joint(["-90", "1500", "90", "1500", "", "", ""]);
    input += &joint(["", "", "", "", "", "", ""]);
    input += &joint(["", "", "", "", "", "", ""]);
    let out = calibrate(&input);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("head.pitch"), "{err}");
}

#[test]
fn calibration_input_that_ends_early_is_an_error_not_a_hang() {
    let out = calibrate("-90\n");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("input ended"));
}
