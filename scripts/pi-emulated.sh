#!/usr/bin/env bash
# Runs the aarch64 (Raspberry Pi) build of attune under qemu-user on this
# machine and checks what it does, against fixed expectations and against
# the host build of the same commit:
#
#   1. `attune chat --llm reflect` over a three-turn script: the expected
#      emotion, act and crisis decisions, and replies, risk levels, crisis
#      state and engine fingerprint identical to the host binary's (the
#      crisis layer's MiniLM second opinion computed on aarch64);
#   2. `attune transcribe` of a WAV made by espeak-ng and resampled to
#      16 kHz by sox, with the real whisper tiny.en model: the sentence's
#      words come back; and `attune say` (espeak-ng plus attune's own
#      resampler, on aarch64) gives the same audio as the host's;
#   3. a head session: the aarch64 `attune head sim` on a pseudo-terminal,
#      driven by the host's `head ping`, `head move`, `head gesture nod` and
#      `head park` over the link (the aarch64 client cannot open a serial
#      port under qemu-user, see below), with the simulator's telemetry
#      checked (turned, nodded, parked at the end);
#   4. `attune-llm` loads the real GGUF, answers /health and streams one
#      short completion (skipped with --no-llm, or when the aarch64
#      attune-llm was not built: then it says so).
#
# Then prints the timings, labelled EMULATED, beside the host's for the
# same commands (they are not a Pi's figures; see README).
#
#   scripts/pi-emulated.sh [--no-llm] [AARCH64_BINDIR] [HOST_BINDIR]
#     defaults: target/aarch64-unknown-linux-gnu/debug target/debug
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
LLM=1
if [ "${1:-}" = --no-llm ]; then LLM=0; shift; fi
ARM="${1:-target/aarch64-unknown-linux-gnu/debug}"
HOST="${2:-target/debug}"
# Design: every aarch64 binary runs through the aarch64 dynamic loader named
# explicitly, with --library-path to the multiarch and cross libc
# directories, not through qemu's `-L /usr/aarch64-linux-gnu` prefix. On the
# development machine any threaded aarch64 program (attune, and a five-line
# pthread_create test in C) hung under `-L` with Debian 12's qemu-user 7.2
# and with qemu 10 from bookworm-backports alike, while the same programs
# ran, threads included, with the loader named; static binaries ran either
# way. `-L` makes qemu remap every path the guest opens, the loader's and
# glibc's own lookups included; naming the loader needs no remapping. Every
# emulated command is still bounded (PI_EMU_TIMEOUT_S, default 900 s), so a
# qemu that hangs fails the check instead of hanging it.
ARM_LD=/usr/aarch64-linux-gnu/lib/ld-linux-aarch64.so.1
ARM_LIBS=/usr/aarch64-linux-gnu/lib:/usr/lib/aarch64-linux-gnu:/lib/aarch64-linux-gnu
EMU_RUN=(timeout "${PI_EMU_TIMEOUT_S:-900}" qemu-aarch64-static "$ARM_LD" --library-path "$ARM_LIBS")
# In the background, "${EMU_RUN[@]}" itself, so that $! is timeout's pid and
# a SIGTERM to it reaches the aarch64 program.
emu() { "${EMU_RUN[@]}" "$@"; }
fail() { echo "pi-emulated: FAILED: $*" >&2; exit 1; }
[ -x "$ARM_LD" ] || fail "$ARM_LD missing (the aarch64 libc: scripts/build-pi.sh installs libc6-dev-arm64-cross)"
for b in "$ARM/attune" "$HOST/attune"; do
    [ -x "$b" ] || fail "$b missing (run scripts/build-pi.sh and cargo build -p attune-controller first)"
done
file -b "$ARM/attune" | grep -q 'ARM aarch64' || fail "$ARM/attune is not an aarch64 executable: $(file -b "$ARM/attune")"
if [ "$LLM" = 1 ] && [ ! -x "$ARM/attune-llm" ]; then
    echo "pi-emulated: $ARM/attune-llm not built: the attune-llm run is skipped" >&2
    LLM=0
fi
for t in qemu-aarch64-static espeak-ng sox python3 curl; do
    command -v "$t" >/dev/null || fail "$t missing (scripts/setup.sh; qemu: scripts/build-pi.sh --check)"
done
MODELS="${ATTUNE_HOME:-${XDG_DATA_HOME:-$HOME/.local/share}/attune}/models"
T="$(mktemp -d)"
SIM_PID=""
LLM_PID=""
cleanup() {
    if [ -n "$SIM_PID" ]; then kill "$SIM_PID" 2>/dev/null || true; fi
    if [ -n "$LLM_PID" ]; then kill "$LLM_PID" 2>/dev/null || true; fi
    rm -rf "$T"
}
trap cleanup EXIT
ms() { date +%s%3N; }
declare -A EMU HOSTT

# Design: both builds run with one scratch ATTUNE_HOME holding links to the
# model files. The crisis layer's exemplar vectors (about 500 MiniLM
# embeddings, cached on first use) are computed there by the host run,
# which goes first: ~500 embeddings under qemu would cost many times what
# the turns do (about 8 s on the host, times qemu's slowdown). The aarch64 run then embeds
# every participant turn itself (candle on NEON under qemu) and its risk
# decisions rest on those embeddings, compared with the host's below.
HOME_T="$T/home"
mkdir -p "$HOME_T/models"
for f in "$MODELS"/*; do
    [ -e "$f" ] || continue
    [ "$(basename "$f")" = all-MiniLM-L6-v2 ] || ln -s "$f" "$HOME_T/models/"
done
if [ -d "$MODELS/all-MiniLM-L6-v2" ]; then
    mkdir -p "$HOME_T/models/all-MiniLM-L6-v2"
    for f in "$MODELS"/all-MiniLM-L6-v2/*; do
        case "$(basename "$f")" in exemplar-vectors-*) ;; *) ln -s "$f" "$HOME_T/models/all-MiniLM-L6-v2/" ;; esac
    done
fi
export ATTUNE_HOME="$HOME_T"

# --- 1. chat --llm reflect over a script --------------------------------------
cat > "$T/turns.txt" <<'EOF'
I have been feeling lonely since I moved to a new city.
My sister calls me on Sundays and that helps a little.
I want to end my life.
EOF
echo "hello" | "$HOST/attune" chat --llm reflect --ephemeral --script - > /dev/null 2> "$T/warm.err" \
    || fail "host attune chat (filling the exemplar cache) exited non-zero: $(tail -5 "$T/warm.err")"
t0=$(ms)
"$HOST/attune" chat --llm reflect --ephemeral --participant pi1 --script "$T/turns.txt" > "$T/host.jsonl" 2> "$T/host.err" \
    || fail "host attune chat exited non-zero: $(tail -5 "$T/host.err")"
HOSTT[chat]=$(( $(ms) - t0 ))
t0=$(ms)
emu "$ARM/attune" chat --llm reflect --ephemeral --participant pi1 --script "$T/turns.txt" > "$T/arm.jsonl" 2> "$T/arm.err" \
    || fail "aarch64 attune chat exited non-zero: $(tail -5 "$T/arm.err")"
EMU[chat]=$(( $(ms) - t0 ))
python3 - "$T/arm.jsonl" "$T/host.jsonl" > "$T/chat.txt" <<'EOF' || fail "aarch64 chat (above)"
import json, sys
arm = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
host = [json.loads(l) for l in open(sys.argv[2]) if l.strip()]
bad = []
if len(arm) != 3 or len(host) != 3:
    sys.exit(f"pi-emulated: aarch64 answered {len(arm)} turns of 3, host {len(host)}")
# Fixed expectations (what the reflect backend and the crisis layer must do
# with these lines on any architecture).
if not all(t["reply"].strip() for t in arm): bad.append("an empty reply")
if "lonely" not in arm[0]["emotions"]: bad.append(f"turn 1 emotions {arm[0]['emotions']}, expected lonely")
if arm[0]["user_act"] != "disclosure": bad.append(f"turn 1 user_act {arm[0]['user_act']}, expected disclosure")
if arm[0]["risk"] != "none" or arm[0]["crisis_active"]: bad.append(f"turn 1 risk {arm[0]['risk']}, expected none")
if arm[2]["risk"] not in ("high", "imminent") or not arm[2]["crisis_active"]:
    bad.append(f"turn 3 risk {arm[2]['risk']} crisis {arm[2]['crisis_active']}, expected a crisis")
# The same engine on both architectures: identical decisions and replies.
for a, h in zip(arm, host):
    for k in ["turn", "reply", "risk", "crisis_active", "user_act", "emotions", "reply_strategies", "backend", "fingerprint"]:
        if a.get(k) != h.get(k):
            bad.append(f"turn {a.get('turn')}: {k}: aarch64 {a.get(k)!r} vs host {h.get(k)!r}")
for b in bad: print(f"pi-emulated: chat: {b}", file=sys.stderr)
if bad: sys.exit(1)
turn_ms = [t["timings_ms"]["total"] for t in arm]
print(f"{sum(turn_ms) // len(turn_ms)} {arm[0]['fingerprint']}")
EOF
read -r EMU_TURN_MS FP < "$T/chat.txt"
HOST_TURN_MS=$(python3 -c 'import json,sys; t=[json.loads(l)["timings_ms"]["total"] for l in open(sys.argv[1]) if l.strip()]; print(sum(t)//len(t))' "$T/host.jsonl")
echo "pi-emulated: chat --llm reflect: 3 turns as expected (loneliness heard, turn 3 a crisis) and identical to the host's (replies, risk, fingerprint $FP)"

# --- 2. transcribe with whisper tiny.en; say ------------------------------------
[ -s "$MODELS/ggml-tiny.en.bin" ] || fail "whisper model $MODELS/ggml-tiny.en.bin missing (scripts/fetch-models.sh)"
SENT="I have been feeling stressed about my exams this week."
espeak-ng -v en-us -s 160 -w "$T/espeak.wav" "$SENT" || fail "espeak-ng"
sox "$T/espeak.wav" -r 16000 -c 1 -b 16 "$T/utt16k.wav" || fail "sox resample to 16 kHz"
AUDIO_MS=$(python3 -c 'import wave,sys; w=wave.open(sys.argv[1]); print(w.getnframes()*1000//w.getframerate())' "$T/utt16k.wav")
t0=$(ms)
emu "$ARM/attune" transcribe "$T/utt16k.wav" > "$T/arm.txt" 2> "$T/tr.err" || fail "aarch64 attune transcribe: $(tail -3 "$T/tr.err")"
EMU[transcribe]=$(( $(ms) - t0 ))
t0=$(ms)
"$HOST/attune" transcribe "$T/utt16k.wav" > "$T/host.txt" 2> "$T/htr.err" || fail "host attune transcribe: $(tail -3 "$T/htr.err")"
HOSTT[transcribe]=$(( $(ms) - t0 ))
python3 - "$T/arm.txt" "$T/host.txt" "$SENT" <<'EOF' || fail "aarch64 transcript (above)"
import re, sys
words = lambda s: re.findall(r"[a-z']+", s.lower())
arm, host, ref = words(open(sys.argv[1]).read()), words(open(sys.argv[2]).read()), words(sys.argv[3])
# Word error rate against the sentence spoken (Levenshtein over words).
d = list(range(len(arm) + 1))
for i, r in enumerate(ref, 1):
    prev, d[0] = d[0], i
    for j, a in enumerate(arm, 1):
        prev, d[j] = d[j], min(d[j] + 1, d[j - 1] + 1, prev + (r != a))
wer = d[len(arm)] / len(ref)
same = "identical to the host's" if arm == host else f"host heard {' '.join(host)!r}"
print(f"pi-emulated: transcribe: aarch64 heard {' '.join(arm)!r}: WER {wer:.2f} against the sentence spoken; {same}")
if wer > 0.2: sys.exit("pi-emulated: transcribe: more than 1 word in 5 wrong")
EOF
# Design: the espeak-ng path is compared sample by sample on both builds; the
# Piper voice needs the aarch64 ONNX Runtime library, which the x86 set-up
# does not install, so the aarch64 build would fall back while the host speaks
# with Piper.
printf '[speech.tts]\nengine = "espeak-ng"\n' > "$T/espeak.toml"
emu "$ARM/attune" say --config "$T/espeak.toml" "$SENT" --out "$T/say-arm.wav" 2> "$T/say.err" || fail "aarch64 attune say: $(tail -3 "$T/say.err")"
"$HOST/attune" say --config "$T/espeak.toml" "$SENT" --out "$T/say-host.wav" 2> "$T/hsay.err" || fail "host attune say: $(tail -3 "$T/hsay.err")"
python3 - "$T/say-arm.wav" "$T/say-host.wav" <<'EOF' || fail "aarch64 attune say (above)"
import array, sys, wave
def read(p):
    w = wave.open(p)
    assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (16000, 1, 2), (p, w.getparams())
    return array.array("h", w.readframes(w.getnframes()))
a, h = read(sys.argv[1]), read(sys.argv[2])
if len(a) != len(h): sys.exit(f"pi-emulated: say: aarch64 wrote {len(a)} samples, host {len(h)}")
if len(a) < 16000: sys.exit(f"pi-emulated: say: only {len(a)} samples for a whole sentence")
diff = max(abs(x - y) for x, y in zip(a, h))
print(f"pi-emulated: say: {len(a) / 16000:.2f} s at 16 kHz, largest sample difference to the host's {diff} (of 32767)")
if diff > 64: sys.exit("pi-emulated: say: the aarch64 resampler's output differs from the host's")
EOF

# --- 3. head session against the simulator --------------------------------------
# Design: the simulator runs on aarch64 (its pseudo-terminal, the protocol
# parser, the servo model and the telemetry), the `head` client commands on
# the host. The aarch64 client cannot open a serial port under qemu-user:
# the serialport crate sets the line with the termios2 ioctl (TCGETS2),
# which qemu-user does not emulate (7.2: "Function not implemented", 10.0:
# "Not a typewriter", checked here on the simulator's pty), so that half is
# left to a real Pi.
LINK="$T/head"
"${EMU_RUN[@]}" "$ARM/attune" head sim --link "$LINK" --telemetry "$T/tel.jsonl" 2> "$T/sim.err" &
SIM_PID=$!
for _ in $(seq 1 300); do [ -e "$LINK" ] && break; sleep 0.1; done
[ -e "$LINK" ] || fail "the aarch64 head simulator made no link in 30 s: $(tail -3 "$T/sim.err")"
t0=$(ms)
"$HOST/attune" head ping --port "$LINK" > "$T/ping.json" 2> "$T/ping.err" || fail "head ping: $(tail -3 "$T/ping.err")"
"$HOST/attune" head move --port "$LINK" --yaw 25 --pitch -5 --ms 400 > "$T/move.json" 2> "$T/move.err" || fail "head move: $(tail -3 "$T/move.err")"
"$HOST/attune" head gesture --port "$LINK" nod > /dev/null 2> "$T/nod.err" || fail "head gesture nod: $(tail -3 "$T/nod.err")"
"$HOST/attune" head park --port "$LINK" > "$T/park.json" 2> "$T/park.err" || fail "head park: $(tail -3 "$T/park.err")"
EMU[head]=$(( $(ms) - t0 ))
kill -TERM "$SIM_PID"; wait "$SIM_PID" 2>/dev/null || true; SIM_PID=""
[ ! -e "$LINK" ] || fail "the simulator left its link behind after SIGTERM"
python3 - "$T/ping.json" "$T/tel.jsonl" <<'EOF' || fail "head session (above)"
import json, sys
ping = json.load(open(sys.argv[1]))
tel = [json.loads(l) for l in open(sys.argv[2]) if l.strip()]
bad = []
if ping.get("protocol") != 1: bad.append(f"ping answered {ping}")
if not tel: sys.exit("pi-emulated: head: no telemetry")
yaw = max(abs(t["servo"]["yaw_deg"]) for t in tel)
if yaw < 20: bad.append(f"the simulated head never turned (max |yaw| {yaw:.1f} deg, asked 25)")
# The nod: pitch swings while yaw holds near 25 degrees.
pitches = [t["servo"]["pitch_deg"] for t in tel if abs(t["servo"]["yaw_deg"] - 25) < 2]
if not pitches or max(pitches) - min(pitches) < 3: bad.append("no nod seen in the pitch telemetry")
if tel[-1]["mode"] != "parked": bad.append(f"not parked at the end: mode {tel[-1]['mode']}")
end = tel[-1]["servo"]
if abs(end["yaw_deg"]) > 0.5: bad.append(f"parked yaw {end['yaw_deg']} deg, expected 0")
for b in bad: print(f"pi-emulated: head: {b}", file=sys.stderr)
if bad: sys.exit(1)
print(f"pi-emulated: head: ping rtt {ping['rtt_ms']} ms (emulated), turned to |yaw| {yaw:.1f} deg, nodded "
      f"(pitch {min(pitches):.1f}..{max(pitches):.1f} deg), parked; {len(tel)} telemetry lines")
EOF

# --- 4. attune-llm on the real GGUF ------------------------------------------------
if [ "$LLM" = 1 ]; then
    GGUF="$MODELS/SmolLM2-135M-Instruct.Q4_1.gguf"
    [ -s "$GGUF" ] || fail "LLM model $GGUF missing (scripts/fetch-models.sh)"
    t0=$(ms)
    "${EMU_RUN[@]}" "$ARM/attune-llm" --model "$GGUF" --port 0 --threads 2 --ctx-size 512 > "$T/llm.out" 2> "$T/llm.err" &
    LLM_PID=$!
    URL=""
    for _ in $(seq 1 1800); do
        URL="$(sed -n 's/^listening on //p' "$T/llm.out" | head -1)"
        [ -n "$URL" ] && break
        kill -0 "$LLM_PID" 2>/dev/null || fail "aarch64 attune-llm exited: $(tail -3 "$T/llm.err")"
        sleep 0.1
    done
    [ -n "$URL" ] || fail "aarch64 attune-llm did not listen within 180 s"
    # It listens before the model is loaded (/health answers 503 "loading"
    # meanwhile): wait for "ok", bounded.
    for _ in $(seq 1 600); do
        curl -sS --max-time 30 "$URL/health" > "$T/health.json" 2>/dev/null || true
        grep -q '"status":"ok"' "$T/health.json" && break
        kill -0 "$LLM_PID" 2>/dev/null || fail "aarch64 attune-llm exited while loading: $(tail -3 "$T/llm.err")"
        sleep 0.5
    done
    grep -q '"status":"ok"' "$T/health.json" || fail "aarch64 attune-llm /health not ok within 300 s: $(cat "$T/health.json")"
    EMU[llm_load]=$(( $(ms) - t0 ))
    t0=$(ms)
    curl -sS -N --max-time 300 "$URL/v1/chat/completions" -H 'content-type: application/json' \
        -d '{"messages":[{"role":"user","content":"Say hello."}],"max_tokens":8,"temperature":0,"stream":true}' > "$T/llm.sse" \
        || fail "the request to aarch64 attune-llm failed"
    EMU[llm_8_tokens]=$(( $(ms) - t0 ))
    kill -TERM "$LLM_PID"; wait "$LLM_PID" 2>/dev/null || true; LLM_PID=""
    python3 - "$T/health.json" "$T/llm.sse" <<'EOF' || fail "aarch64 attune-llm (above)"
import json, sys
health = json.load(open(sys.argv[1]))
text, done, chunks = "", False, 0
for line in open(sys.argv[2]):
    line = line.strip()
    if not line.startswith("data:"): continue
    data = line[5:].strip()
    if data == "[DONE]": done = True; continue
    ev = json.loads(data)
    for c in ev.get("choices", []):
        piece = (c.get("delta") or {}).get("content")
        if piece: text += piece; chunks += 1
bad = []
if not done: bad.append("the stream did not end with [DONE]")
if not text.strip(): bad.append("no text streamed")
if not any(ch.isalpha() for ch in text): bad.append(f"no words in {text!r}")
for b in bad: print(f"pi-emulated: attune-llm: {b} (health {health})", file=sys.stderr)
if bad: sys.exit(1)
print(f"pi-emulated: attune-llm: loaded the GGUF, /health {json.dumps(health)[:80]}, streamed {chunks} pieces: {text.strip()!r}")
EOF
fi

python3 - "$AUDIO_MS" "${EMU[transcribe]}" "${HOSTT[transcribe]}" > "$T/rtf.txt" <<'EOF'
import sys
a, e, h = map(int, sys.argv[1:4])
print(f"{e / a:.2f} {h / a:.2f}")
EOF
read -r EMU_RTF HOST_RTF < "$T/rtf.txt"
echo "pi-emulated: timings (EMULATED: qemu-user on this x86 machine, not a Pi; host = the same commands built for x86)"
printf '  %-44s %12s %12s\n' "command" "aarch64 emu" "host"
printf '  %-44s %9s ms %9s ms\n' "chat --llm reflect, 3 turns, whole process" "${EMU[chat]}" "${HOSTT[chat]}"
printf '  %-44s %9s ms %9s ms\n' "chat turn (mean of timings_ms.total)" "$EMU_TURN_MS" "$HOST_TURN_MS"
printf '  %-44s %9s ms %9s ms\n' "transcribe tiny.en, ${AUDIO_MS} ms of speech" "${EMU[transcribe]}" "${HOSTT[transcribe]}"
printf '  %-44s %12s %12s\n' "transcribe real-time factor (incl. load)" "$EMU_RTF" "$HOST_RTF"
printf '  %-44s %9s ms %12s\n' "head ping+move+nod+park on the emulated sim" "${EMU[head]}" "-"
if [ "$LLM" = 1 ]; then
    printf '  %-44s %9s ms %12s\n' "attune-llm start + load SmolLM2-135M" "${EMU[llm_load]}" "-"
    printf '  %-44s %9s ms %12s\n' "attune-llm request, 8 tokens max" "${EMU[llm_8_tokens]}" "-"
fi
echo "pi-emulated: all emulated runs passed"
