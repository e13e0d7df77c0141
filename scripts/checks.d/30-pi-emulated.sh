#!/usr/bin/env bash
# The Raspberry Pi check: cross-compile attune and attune-llm for
# aarch64 (scripts/build-pi.sh, which also installs the cross toolchain when
# it may), run them under qemu-user against the host build
# (scripts/pi-emulated.sh), and check both packages and the systemd unit
# (scripts/check-deb.sh). No skipping: green means the Pi build builds,
# runs and packages.
#
# Not yet in scripts/checks.d: it goes there (git mv scripts/pi-check.sh
# scripts/checks.d/30-pi.sh) once one full run has passed and its time has
# been measured on an unloaded 2-core machine; see README "Run it on a
# Raspberry Pi" for what was and was not measured.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
t0=$(date +%s)
scripts/build-pi.sh --deb
t1=$(date +%s)
scripts/pi-emulated.sh
t2=$(date +%s)
scripts/check-deb.sh target/pi/attune_*_arm64.deb target/pi/attune_*_amd64.deb
echo "pi: build $((t1 - t0)) s, emulated runs $((t2 - t1)) s, package checks $(( $(date +%s) - t2 )) s"
