#!/usr/bin/env bash
# Builds attune_<version>_<arch>.deb from already-built binaries, with
# dpkg-deb from a staged tree (no cargo-deb: nothing extra to compile).
#
#   scripts/make-deb.sh arm64 target/aarch64-unknown-linux-gnu/debug [OUTDIR]
#   scripts/make-deb.sh amd64 target/debug [OUTDIR]
#
# The package installs:
#   /usr/bin/attune, /usr/bin/attune-llm            (stripped)
#   /usr/lib/attune/attune-service                  (the unit's start/stop helper)
#   /lib/systemd/system/attune.service
#   /etc/attune/attune.toml                         (site config: example + Pi head/audio; conffile)
#   /etc/default/attune                             (service settings; conffile)
#   /usr/share/attune/attune.example.toml, study.example.toml
#   /usr/share/attune/firmware/attune-head-pico.{uf2,elf}   (when built: scripts/build-pi.sh)
#   /usr/share/doc/attune/{README.md,copyright}
# Depends: every shared library the binaries link (read from their ELF
# NEEDED entries; an unknown one fails the build rather than shipping an
# undeclared dependency), plus the programs attune runs: espeak-ng (TTS),
# mosquitto-clients (staff on the bus), alsa-utils (arecord/aplay to check
# the sound card), adduser (the service user).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
ARCH="${1:?usage: make-deb.sh arm64|amd64 BINDIR [OUTDIR]}"
BINDIR="${2:?usage: make-deb.sh arm64|amd64 BINDIR [OUTDIR]}"
OUTDIR="${3:-target/pi}"
case "$ARCH" in
    arm64) STRIP=aarch64-linux-gnu-strip; READELF=aarch64-linux-gnu-readelf; ELFARCH="ARM aarch64" ;;
    amd64) STRIP=strip; READELF=readelf; ELFARCH="x86-64" ;;
    *) echo "make-deb: unknown architecture $ARCH (arm64 or amd64)" >&2; exit 2 ;;
esac
for t in dpkg-deb "$STRIP" "$READELF" file; do
    command -v "$t" >/dev/null 2>&1 || { echo "make-deb: $t not found (scripts/build-pi.sh --check lists the toolchain)" >&2; exit 1; }
done
for b in attune attune-llm; do
    [ -x "$BINDIR/$b" ] || { echo "make-deb: $BINDIR/$b missing; build it first (scripts/build-pi.sh)" >&2; exit 1; }
    file -b "$BINDIR/$b" | grep -q "$ELFARCH" || { echo "make-deb: $BINDIR/$b is not a $ELFARCH executable: $(file -b "$BINDIR/$b")" >&2; exit 1; }
done

VERSION="$(sed -n '/^\[workspace.package\]/,/^\[/s/^version *= *"\(.*\)"/\1/p' Cargo.toml | head -1)"
[ -n "$VERSION" ] || { echo "make-deb: no [workspace.package] version in Cargo.toml" >&2; exit 1; }
PKG="attune_${VERSION}_${ARCH}"
STAGE="$(mktemp -d)"
trap 'rm -rf "$STAGE"' EXIT
D="$STAGE/$PKG"
install -d "$D/DEBIAN" "$D/usr/bin" "$D/usr/lib/attune" "$D/lib/systemd/system" "$D/etc/attune" \
    "$D/etc/default" "$D/usr/share/attune/firmware" "$D/usr/share/doc/attune"

for b in attune attune-llm; do
    "$STRIP" -o "$D/usr/bin/$b" "$BINDIR/$b"
    chmod 0755 "$D/usr/bin/$b"
done
install -m 0755 packaging/debian/attune-service "$D/usr/lib/attune/attune-service"
install -m 0644 packaging/debian/attune.service "$D/lib/systemd/system/attune.service"
cat config/attune.example.toml packaging/debian/site-pi.toml > "$D/etc/attune/attune.toml"
chmod 0644 "$D/etc/attune/attune.toml"
install -m 0644 packaging/debian/default "$D/etc/default/attune"
install -m 0644 config/attune.example.toml config/study.example.toml "$D/usr/share/attune/"
for f in attune-head-pico.uf2 attune-head-pico.elf; do
    [ -s "target/pi/$f" ] && install -m 0644 "target/pi/$f" "$D/usr/share/attune/firmware/$f"
done
install -m 0644 README.md "$D/usr/share/doc/attune/README.md"
cat > "$D/usr/share/doc/attune/copyright" <<'EOF'
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: attune
Files: *
License: MIT or Apache-2.0
 The attune binaries statically include whisper.cpp and llama.cpp (MIT),
 SQLite (public domain) and Rust crates under their own licences.
EOF
for s in postinst prerm postrm; do install -m 0755 "packaging/debian/$s" "$D/DEBIAN/$s"; done
printf '/etc/attune/attune.toml\n/etc/default/attune\n' > "$D/DEBIAN/conffiles"

# Shared libraries -> Debian packages (the names are the same on arm64 and
# amd64). glibc: the newest symbol version the binaries use.
declare -A LIBPKG=(
    [libc.so.6]=libc6 [libm.so.6]=libc6 [libpthread.so.0]=libc6 [libdl.so.2]=libc6 [librt.so.1]=libc6
    [ld-linux-aarch64.so.1]=libc6 [ld-linux-x86-64.so.2]=libc6
    [libgcc_s.so.1]=libgcc-s1 [libstdc++.so.6]=libstdc++6 [libgomp.so.1]=libgomp1
    [libasound.so.2]=libasound2 [libudev.so.1]=libudev1
)
declare -A DEPS=()
for b in attune attune-llm; do
    while read -r lib; do
        pkg="${LIBPKG[$lib]:-}"
        [ -n "$pkg" ] || { echo "make-deb: $b links $lib, which no package in make-deb.sh's LIBPKG provides; add it" >&2; exit 1; }
        DEPS[$pkg]=1
    done < <("$READELF" -dW "$D/usr/bin/$b" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p')
done
GLIBC="$(for b in attune attune-llm; do "$READELF" -VW "$D/usr/bin/$b"; done | grep -o 'GLIBC_[0-9.]*' | sed 's/GLIBC_//' | sort -V | tail -1)"
dep_list=()
for p in $(printf '%s\n' "${!DEPS[@]}" | sort); do
    if [ "$p" = libc6 ] && [ -n "$GLIBC" ]; then dep_list+=("libc6 (>= $GLIBC)"); else dep_list+=("$p"); fi
done
dep_list+=("espeak-ng" "mosquitto-clients" "alsa-utils" "adduser")
DEPENDS="$(IFS=,; echo "${dep_list[*]}" | sed 's/,/, /g')"
SIZE_KB="$(du -sk "$D" | cut -f1)"
cat > "$D/DEBIAN/control" <<EOF
Package: attune
Version: $VERSION
Architecture: $ARCH
Maintainer: attune developers <attune@invalid>
Installed-Size: $SIZE_KB
Depends: $DEPENDS
Recommends: mosquitto, systemd
Section: misc
Priority: optional
Homepage: https://invalid/attune
Description: attunement-first controller for an embodied companion robot
 attune runs one dialogue engine as a servo-head robot, a voice-only agent
 or a text chatbot, with a deterministic crisis layer, validated replies and
 a durable SQLite session store. This package installs the controller, its
 local LLM server (attune-llm), the Pico head firmware image and
 attune.service, which runs the robot arm on boot as the user attune.
EOF
mkdir -p "$OUTDIR"
dpkg-deb --root-owner-group -Zxz -z6 --build "$D" "$OUTDIR/$PKG.deb" >/dev/null
echo "make-deb: $OUTDIR/$PKG.deb ($(du -h "$OUTDIR/$PKG.deb" | cut -f1); Depends: $DEPENDS)"
