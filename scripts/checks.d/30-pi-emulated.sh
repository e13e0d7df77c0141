#!/usr/bin/env bash
# The Raspberry Pi check in CI: cross-builds `attune` for aarch64
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
t0=$(date +%s)
scripts/build-pi.sh --attune-only --quick
t1=$(date +%s)
PI_EMU_TIMEOUT_S="${PI_EMU_TIMEOUT_S:-600}" scripts/pi-emulated.sh --no-llm target/aarch64-unknown-linux-gnu/debug target/debug
t2=$(date +%s)
echo "pi-emulated check: aarch64 build $((t1 - t0)) s, emulated runs $((t2 - t1)) s"
