#!/usr/bin/env bash
# Runs the aarch64 (Raspberry Pi) build of attune under qemu-user on this
# machine and checks what it does against the host build of the same commit:
#
#   1. `attune chat --llm reflect` over a script: the same replies, risk
#      levels, crisis state and engine fingerprint as the host binary
#      (the crisis layer's MiniLM second opinion included);
#   2. `attune transcribe` of a WAV made by `attune say`, with the real
#      whisper tiny.en model: the words come back;
#   3. a head session: `attune head sim` on a pseudo-terminal, then `head
#      ping`, `head move`, `head gesture nod` and `head park` over the link,
#      all aarch64, with the simulator's telemetry checked;
#   4. `attune-llm` loads the real GGUF and answers one streamed request.
#
# Then prints the timings, labelled as emulated, beside the host's for the
# same commands (they are not the Pi's figures; see README).
#
#   scripts/pi-emulated.sh [AARCH64_BINDIR] [HOST_BINDIR]
#     defaults: target/pi/cargo/aarch64-unknown-linux-gnu/debug target/debug
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
ARM="${1:-target/pi/cargo/aarch64-unknown-linux-gnu/debug}"
HOST="${2:-target/debug}"
QEMU=(qemu-aarch64-static -L /usr/aarch64-linux-gnu)
fail() { echo "pi-emulated: FAILED: $*" >&2; exit 1; }
for b in "$ARM/attune" "$ARM/attune-llm" "$HOST/attune"; do
    [ -x "$b" ] || fail "$b missing (run scripts/build-pi.sh and cargo build -p attune first)"
done
command -v qemu-aarch64-static >/dev/null || fail "qemu-aarch64-static missing (scripts/build-pi.sh --check)"
MODELS="${ATTUNE_HOME:-${XDG_DATA_HOME:-$HOME/.local/share}/attune}/models"
T="$(mktemp -d)"
SIM_PID=""
LLM_PID=""
cleanup() {
    [ -n "$SIM_PID" ] && kill "$SIM_PID" 2>/dev/null
    [ -n "$LLM_PID" ] && kill "$LLM_PID" 2>/dev/null
    rm -rf "$T"
}
trap cleanup EXIT
ms() { date +%s%3N; }
declare -A EMU HOSTT

# Design: the aarch64 runs get their own ATTUNE_HOME with the same model
# files but without the crisis layer's exemplar-vector cache, so the MiniLM
# vectors the risk decisions rest on are computed by the aarch64 build
# (candle on NEON under qemu), not read back from the host's cache.
ARMHOME="$T/home"
mkdir -p "$ARMHOME/models/all-MiniLM-L6-v2"
for f in "$MODELS"/*; do
    [ "$(basename "$f")" = all-MiniLM-L6-v2 ] || ln -s "$f" "$ARMHOME/models/"
done
for f in "$MODELS"/all-MiniLM-L6-v2/*; do
    case "$(basename "$f")" in exemplar-vectors-*) ;; *) ln -s "$f" "$ARMHOME/models/all-MiniLM-L6-v2/" ;; esac
done
QEMU=(env ATTUNE_HOME="$ARMHOME" "${QEMU[@]}")

# --- 1. chat --llm reflect over a script --------------------------------------
cat > "$T/turns.txt" <<'EOF'
I have been feeling lonely since I moved to a new city.
My sister calls me on Sundays and that helps a little.
I keep thinking everyone would be better off without me.
EOF
t0=$(ms)
"${QEMU[@]}" "$ARM/attune" chat --llm reflect --ephemeral --participant pi1 --script "$T/turns.txt" > "$T/arm.jsonl" 2> "$T/arm.err" \
    || fail "aarch64 attune chat exited non-zero: $(tail -5 "$T/arm.err")"
EMU[chat]=$(( $(ms) - t0 ))
t0=$(ms)
"$HOST/attune" chat --llm reflect --ephemeral --participant pi1 --script "$T/turns.txt" > "$T/host.jsonl" 2> "$T/host.err" \
    || fail "host attune chat exited non-zero: $(tail -5 "$T/host.err")"
HOSTT[chat]=$(( $(ms) - t0 ))
python3 - "$T/arm.jsonl" "$T/host.jsonl" <<'EOF' || fail "aarch64 chat differs from the host's (above)"
import json, sys
arm = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
host = [json.loads(l) for l in open(sys.argv[2]) if l.strip()]
assert len(arm) == 3, f"aarch64 answered {len(arm)} turns of 3"
keys = ["turn", "reply", "risk", "crisis_active", "user_act", "emotions", "reply_strategies", "source", "fingerprint"]
bad = 0
for a, h in zip(arm, host):
    for k in keys:
        if a.get(k) != h.get(k):
            print(f"turn {a.get('turn')}: {k}: aarch64 {a.get(k)!r} vs host {h.get(k)!r}", file=sys.stderr)
            bad += 1
assert arm[0]["reply"].strip(), "empty reply"
assert arm[0]["emotions"] == ["lonely"], arm[0]["emotions"]
assert arm[2]["risk"] in ("high", "imminent") and arm[2]["crisis_active"], f"turn 3 not a crisis: {arm[2]['risk']}"
sys.exit(1 if bad else 0)
EOF
echo "pi-emulated: chat --llm reflect: 3 turns identical to the host (replies, risk, crisis, fingerprint $(python3 -c 'import json,sys; print(json.loads(open(sys.argv[1]).readline())["fingerprint"])' "$T/arm.jsonl"))"

# --- 2. transcribe with whisper tiny.en ----------------------------------------
[ -s "$MODELS/ggml-tiny.en.bin" ] || fail "whisper model $MODELS/ggml-tiny.en.bin missing (scripts/fetch-models.sh)"
SENT="I have been feeling stressed about my exams this week."
"${QEMU[@]}" "$ARM/attune" say "$SENT" --out "$T/say.wav" 2> "$T/say.err" || fail "aarch64 attune say: $(tail -3 "$T/say.err")"
t0=$(ms)
"${QEMU[@]}" "$ARM/attune" transcribe "$T/say.wav" > "$T/arm.txt" 2> "$T/tr.err" || fail "aarch64 attune transcribe: $(tail -3 "$T/tr.err")"
EMU[transcribe]=$(( $(ms) - t0 ))
t0=$(ms)
"$HOST/attune" transcribe "$T/say.wav" > "$T/host.txt" 2> /dev/null || fail "host attune transcribe"
HOSTT[transcribe]=$(( $(ms) - t0 ))
python3 - "$T/arm.txt" "$T/host.txt" "$SENT" <<'EOF' || fail "aarch64 transcript wrong"
import re, sys
words = lambda s: re.findall(r"[a-z']+", s.lower())
arm, host, ref = (words(open(sys.argv[1]).read()), words(open(sys.argv[2]).read()), words(sys.argv[3]))
hit = sum(1 for w in ref if w in arm)
print(f"pi-emulated: transcribe: aarch64 {' '.join(arm)!r}; host {' '.join(host)!r}; {hit}/{len(ref)} reference words")
assert hit >= len(ref) - 2, "more than two reference words lost"
EOF

# --- 3. head session against the simulator --------------------------------------
LINK="$T/head"
"${QEMU[@]}" "$ARM/attune" head sim --link "$LINK" --telemetry "$T/tel.jsonl" 2> "$T/sim.err" &
SIM_PID=$!
for _ in $(seq 1 300); do [ -e "$LINK" ] && break; sleep 0.1; done
[ -e "$LINK" ] || fail "the aarch64 head simulator made no link in 30 s: $(tail -3 "$T/sim.err")"
t0=$(ms)
"${QEMU[@]}" "$ARM/attune" head ping --port "$LINK" > "$T/ping.json" 2> "$T/ping.err" || fail "head ping: $(tail -3 "$T/ping.err")"
"${QEMU[@]}" "$ARM/attune" head move --port "$LINK" --yaw 25 --pitch -5 --ms 400 > "$T/move.json" 2> "$T/move.err" || fail "head move: $(tail -3 "$T/move.err")"
"${QEMU[@]}" "$ARM/attune" head gesture --port "$LINK" nod > /dev/null 2> "$T/nod.err" || fail "head gesture nod: $(tail -3 "$T/nod.err")"
"${QEMU[@]}" "$ARM/attune" head park --port "$LINK" > "$T/park.json" 2> "$T/park.err" || fail "head park: $(tail -3 "$T/park.err")"
EMU[head]=$(( $(ms) - t0 ))
kill -TERM "$SIM_PID"; wait "$SIM_PID" 2>/dev/null || true; SIM_PID=""
[ ! -e "$LINK" ] || fail "the simulator left its link behind after SIGTERM"
python3 - "$T/ping.json" "$T/move.json" "$T/park.json" "$T/tel.jsonl" <<'EOF' || fail "head session (above)"
import json, sys
ping = json.load(open(sys.argv[1])); move = json.load(open(sys.argv[2])); park = json.load(open(sys.argv[3]))
tel = [json.loads(l) for l in open(sys.argv[4]) if l.strip()]
assert ping["protocol"] == 1, ping
yaw = max(abs(t["servo"]["yaw_deg"]) for t in tel)
assert yaw > 20, f"the simulated head never turned (max |yaw| {yaw})"
assert any(t["mode"] == "parked" for t in tel[-50:]), f"not parked at the end: {tel[-1]}"
end = tel[-1]["servo"]
assert abs(end["yaw_deg"]) < 0.5, end
print(f"pi-emulated: head: ping rtt {ping['rtt_ms']} ms (emulated), moved to |yaw| {yaw:.1f} deg, nodded, parked; {len(tel)} telemetry lines")
EOF

# --- 4. attune-llm on the real GGUF ------------------------------------------------
GGUF="$MODELS/SmolLM2-135M-Instruct.Q4_1.gguf"
[ -s "$GGUF" ] || fail "LLM model $GGUF missing (scripts/fetch-models.sh)"
t0=$(ms)
"${QEMU[@]}" "$ARM/attune-llm" --model "$GGUF" --port 0 --threads 2 --ctx-size 512 > "$T/llm.out" 2> "$T/llm.err" &
LLM_PID=$!
URL=""
for _ in $(seq 1 1200); do
    URL="$(sed -n 's/^listening on //p' "$T/llm.out" | head -1)"
    [ -n "$URL" ] && break
    kill -0 "$LLM_PID" 2>/dev/null || fail "aarch64 attune-llm exited: $(tail -3 "$T/llm.err")"
    sleep 0.1
done
[ -n "$URL" ] || fail "aarch64 attune-llm did not listen within 120 s"
EMU[llm_load]=$(( $(ms) - t0 ))
t0=$(ms)
curl -sS -N --max-time 300 "$URL/v1/chat/completions" -H 'content-type: application/json' \
    -d '{"messages":[{"role":"user","content":"Say hello."}],"max_tokens":8,"stream":true}' > "$T/llm.sse" \
    || fail "the request to aarch64 attune-llm failed"
EMU[llm_8_tokens]=$(( $(ms) - t0 ))
kill -TERM "$LLM_PID"; wait "$LLM_PID" 2>/dev/null || true; LLM_PID=""
grep -q '"content"' "$T/llm.sse" || fail "aarch64 attune-llm streamed no text: $(head -c 300 "$T/llm.sse")"
grep -q '\[DONE\]' "$T/llm.sse" || fail "aarch64 attune-llm stream did not finish"
echo "pi-emulated: attune-llm: loaded the GGUF and streamed a reply"

echo "pi-emulated: timings (EMULATED: qemu-user on this x86 machine, not a Pi)"
printf '  %-28s %10s %10s\n' "command" "aarch64" "host"
printf '  %-28s %8s ms %8s ms\n' "chat --llm reflect, 3 turns" "${EMU[chat]}" "${HOSTT[chat]}"
printf '  %-28s %8s ms %8s ms\n' "transcribe (tiny.en, ~3 s)" "${EMU[transcribe]}" "${HOSTT[transcribe]}"
printf '  %-28s %8s ms %10s\n' "head ping+move+nod+park" "${EMU[head]}" "-"
printf '  %-28s %8s ms %10s\n' "attune-llm load" "${EMU[llm_load]}" "-"
printf '  %-28s %8s ms %10s\n' "attune-llm 8 tokens" "${EMU[llm_8_tokens]}" "-"
echo "pi-emulated: all emulated runs passed"
