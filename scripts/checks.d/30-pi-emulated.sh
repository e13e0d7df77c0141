#!/usr/bin/env bash
# The Raspberry Pi check in CI: cross-builds `attune` for aarch64 (or, under
# scripts/test.sh, waits for the cross build it started in the background)
# (scripts/build-pi.sh --attune-only, which installs the cross toolchain,
# qemu-user and the aarch64 Rust target on a fresh machine, or fails naming
# what is missing), then runs it under qemu-user against fixed expectations
# and the host build of the same commit (scripts/pi-emulated.sh: chat over a
# script, transcribe with the real whisper tiny.en, `attune say`, a head
# session on the simulator's pseudo-terminal), printing the emulated timings.
# Fails loudly instead of skipping: a green CI means the Pi build runs.
#
# Design: attune-llm is not cross-built here. Its llama.cpp CMake build took
# 17 of the aarch64 build's 35 CPU-minutes on the development machine, more
# than the CI budget leaves; scripts/pi-check.sh (build-pi.sh + every
# emulated run, attune-llm included) covers it by hand. So the emulated runs
# go with --no-llm. Every emulated command is bounded (PI_EMU_TIMEOUT_S).
# The build is --quick (dependencies at opt-level 1): compile time counts
# here, and what is compared with the host is output, not speed.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
[ -x target/debug/attune ] || { echo "pi-emulated check: FAILED: target/debug/attune missing (the workspace build runs first)" >&2; exit 1; }
# Design: scripts/test.sh starts the cross build in the background at the
# lowest CPU priority beside the host build and the suite, and says where in
# ATTUNE_PI_PREBUILD_STATE; then this waits for it (bounded) instead of
# building. Run alone, it builds here.
ARM_DIR="${ATTUNE_PI_TARGET_DIR:-target}/aarch64-unknown-linux-gnu/debug"
t0=$(date +%s)
STATE="${ATTUNE_PI_PREBUILD_STATE:-}"
if [ -n "$STATE" ] && [ -e "$STATE/started" ]; then
    wait_max="${PI_PREBUILD_WAIT_S:-3600}"
    while [ ! -e "$STATE/rc" ]; do
        if [ $(( $(date +%s) - t0 )) -ge "$wait_max" ]; then
            echo "pi-emulated check: FAILED: the background cross build has not finished after ${wait_max} s of waiting (log: $STATE/log)" >&2
            tail -20 "$STATE/log" >&2 || true
            exit 1
        fi
        sleep 5
    done
    cat "$STATE/log"
    rc=$(cat "$STATE/rc")
    if [ "$rc" != 0 ]; then
        echo "pi-emulated check: FAILED: the background cross build (scripts/build-pi.sh --attune-only --quick) exited $rc" >&2
        exit 1
    fi
    built="aarch64 build in the background: $(( $(cat "$STATE/finished") - $(cat "$STATE/started") )) s wall at the lowest priority, $(( $(date +%s) - t0 )) s of it waited for here"
else
    scripts/build-pi.sh --attune-only --quick
    built="aarch64 build $(( $(date +%s) - t0 )) s"
fi
t1=$(date +%s)
PI_EMU_TIMEOUT_S="${PI_EMU_TIMEOUT_S:-600}" scripts/pi-emulated.sh --no-llm "$ARM_DIR" target/debug
t2=$(date +%s)
echo "pi-emulated check: $built, emulated runs $((t2 - t1)) s"
