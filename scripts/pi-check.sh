#!/usr/bin/env bash
# The Raspberry Pi check: cross-compile attune and attune-llm for aarch64
# (scripts/build-pi.sh, which also installs the cross toolchain when it may,
# or names what is missing), run them under qemu-user against fixed
# expectations and the host build of the same commit (scripts/pi-emulated.sh:
# chat, transcribe with the real whisper model, a head session on the
# simulator's pseudo-terminal, attune-llm on the real GGUF; prints the
# emulated timings), then build and check both packages
# (scripts/check-deb.sh). Needs the host build (target/debug/attune).
#
# CI runs the lighter scripts/checks.d/30-pi-emulated.sh instead: `attune`
# alone (no attune-llm, so none of llama.cpp's 17 CPU-minutes of cross
# build), the emulated runs with --no-llm, no packages. This script is the
# whole check, attune-llm on the real GGUF under qemu included; README "Run
# it on a Raspberry Pi" has the figures.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
ARM=target/aarch64-unknown-linux-gnu/debug
t0=$(date +%s)
scripts/build-pi.sh --deb
t1=$(date +%s)
scripts/pi-emulated.sh "$ARM" target/debug
t2=$(date +%s)
scripts/check-deb.sh target/pi/attune_*_arm64.deb target/pi/attune_*_amd64.deb
t3=$(date +%s)
echo "pi: aarch64 build $((t1 - t0)) s, emulated runs $((t2 - t1)) s, package checks $((t3 - t2)) s"
