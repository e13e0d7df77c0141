#!/usr/bin/env bash
# Checks attune .deb packages (scripts/make-deb.sh): control fields and
# declared dependencies, the file list, conffiles, maintainer scripts, that
# the packaged binaries are for the package's architecture and accept the
# packaged site config, the Pico UF2 against its ELF, and the unit with
# `systemd-analyze verify` (any warning fails).
#
#   scripts/check-deb.sh PKG.deb [PKG.deb ...]
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
[ "$#" -gt 0 ] || { echo "usage: check-deb.sh PKG.deb ..." >&2; exit 2; }
fail() { echo "check-deb: FAILED: $*" >&2; exit 1; }
command -v systemd-analyze >/dev/null || fail "systemd-analyze missing (apt-get install systemd)"

for deb in "$@"; do
    [ -s "$deb" ] || fail "$deb missing"
    name="$(basename "$deb")"
    T="$(mktemp -d)"
    field() { dpkg-deb -f "$deb" "$1"; }
    [ "$(field Package)" = attune ] || fail "$name: Package is $(field Package)"
    arch="$(field Architecture)"
    case "$name" in *"_$arch.deb") ;; *) fail "$name: Architecture $arch does not match the file name" ;; esac
    deps="$(field Depends)"
    for d in espeak-ng mosquitto-clients libasound2 libstdc++6 libgcc-s1 adduser; do
        printf '%s\n' "$deps" | tr ',' '\n' | sed 's/^ *//; s/ .*//' | grep -qx "$d" || fail "$name: Depends lacks $d: $deps"
    done
    printf '%s' "$deps" | grep -Eq 'libc6 \(>= 2\.[0-9]+\)' || fail "$name: Depends has no versioned libc6: $deps"
    # glibc of Raspberry Pi OS / Debian 12 is 2.36: the binaries must not need more.
    need="$(printf '%s' "$deps" | sed -n 's/.*libc6 (>= \([0-9.]*\)).*/\1/p')"
    [ "$(printf '%s\n2.36\n' "$need" | sort -V | tail -1)" = 2.36 ] || fail "$name: needs glibc $need, Debian 12 has 2.36"

    dpkg-deb -c "$deb" | awk '{print $1, $6}' > "$T/list"
    for f in ./usr/bin/attune ./usr/bin/attune-llm ./usr/lib/attune/attune-service; do
        grep -q "^-rwxr-xr-x $f\$" "$T/list" || fail "$name: $f missing or not executable"
    done
    for f in ./lib/systemd/system/attune.service ./etc/attune/attune.toml ./etc/default/attune \
             ./usr/share/attune/attune.example.toml ./usr/share/attune/study.example.toml \
             ./usr/share/attune/firmware/attune-head-pico.uf2 ./usr/share/doc/attune/copyright; do
        grep -q "^-rw-r--r-- $f\$" "$T/list" || fail "$name: $f missing"
    done
    dpkg-deb -e "$deb" "$T/DEBIAN"
    for f in /etc/attune/attune.toml /etc/default/attune; do
        grep -qx "$f" "$T/DEBIAN/conffiles" || fail "$name: $f is not a conffile (an upgrade would overwrite the site's edits)"
    done
    for s in postinst prerm postrm; do sh -n "$T/DEBIAN/$s" || fail "$name: $s is not valid sh"; done
    grep -q 'adduser --system' "$T/DEBIAN/postinst" || fail "$name: postinst creates no service user"

    dpkg-deb -x "$deb" "$T/root"
    case "$arch" in
        arm64) run=(qemu-aarch64-static -L /usr/aarch64-linux-gnu); want="ARM aarch64" ;;
        amd64) run=(); want="x86-64" ;;
        *) fail "$name: unexpected architecture $arch" ;;
    esac
    for b in attune attune-llm; do
        file -b "$T/root/usr/bin/$b" | grep -q "$want" || fail "$name: /usr/bin/$b is not $want: $(file -b "$T/root/usr/bin/$b")"
        file -b "$T/root/usr/bin/$b" | grep -q 'not stripped' && fail "$name: /usr/bin/$b is not stripped"
    done
    # The shipped binary accepts the shipped site config.
    "${run[@]}" "$T/root/usr/bin/attune" config check "$T/root/etc/attune/attune.toml" > "$T/cfg.out" 2>&1 \
        || fail "$name: attune config check /etc/attune/attune.toml: $(cat "$T/cfg.out")"
    # The unit: verified against this system's units, with the package's files as root.
    mkdir -p "$T/root/lib/systemd/system"
    cp -rn /lib/systemd/system/. "$T/root/lib/systemd/system/" 2>/dev/null || true
    out="$(systemd-analyze verify --root="$T/root" "$T/root/lib/systemd/system/attune.service" 2>&1)" \
        || fail "$name: systemd-analyze verify attune.service: $out"
    [ -z "$out" ] || fail "$name: systemd-analyze verify attune.service warns: $out"
    unit="$T/root/lib/systemd/system/attune.service"
    for k in '^User=attune$' '^SupplementaryGroups=.*audio' '^SupplementaryGroups=.*dialout' '^Restart=on-failure$' \
             '^ExecStartPre=/usr/bin/attune doctor ' '^ExecStopPost=/usr/lib/attune/attune-service record$' '^KillMode=mixed$' \
             '^StandardOutput=journal$' '^WantedBy=multi-user.target$'; do
        grep -Eq "$k" "$unit" || fail "$name: attune.service has no line matching $k"
    done
    # The UF2's first block is the RP2040's boot2 at 0x10000000, byte for byte.
    uf2="$T/root/usr/share/attune/firmware/attune-head-pico.uf2"
    elf="$T/root/usr/share/attune/firmware/attune-head-pico.elf"
    [ -s "$elf" ] || fail "$name: the Pico ELF is missing beside the UF2"
    python3 - "$uf2" "$elf" <<'EOF' || fail "$name: the UF2 does not match its ELF"
import struct, subprocess, sys
uf2 = open(sys.argv[1], "rb").read()
assert len(uf2) % 512 == 0 and uf2, "UF2 size is not whole 512-byte blocks"
blocks = [uf2[i:i + 512] for i in range(0, len(uf2), 512)]
m0, m1, flags, addr, size, n, total, fam = struct.unpack_from("<8I", blocks[0])
assert (m0, m1) == (0x0A324655, 0x9E5D5157) and struct.unpack_from("<I", blocks[0], 508)[0] == 0x0AB16F30, "bad magic"
assert fam == 0xE48BFF56 and flags & 0x2000, "not marked RP2040"
assert addr == 0x10000000 and size == 256 and n == 0 and total == len(blocks), (hex(addr), size, n, total)
# boot2 as readelf sees it (an independent reader of the ELF).
dump = subprocess.run(["readelf", "-x", ".boot2", sys.argv[2]], capture_output=True, text=True, check=True).stdout
hexes = "".join("".join(l.split()[1:5]) for l in dump.splitlines() if l.strip().startswith("0x"))
boot2 = bytes.fromhex(hexes)
assert len(boot2) == 256 and blocks[0][32:32 + 256] == boot2, "block 0 is not .boot2"
print(f"check-deb: UF2 {len(blocks)} blocks, boot2 at 0x10000000 matches the ELF")
EOF
    rm -rf "$T"
    echo "check-deb: $name ok (Depends: $deps)"
done
