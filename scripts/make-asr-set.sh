#!/usr/bin/env bash
# Generates the speech-recognition evaluation set for `attune eval asr`:
# espeak-ng speech in several voices and rates, leading silence of different
# lengths, pauses inside sentences, and pink noise mixed at 20, 10 and 5 dB
# SNR with sox. Nothing is committed; the set is rebuilt from this script.
#
#   scripts/make-asr-set.sh DIR            # the full set (~50 clips)
#   scripts/make-asr-set.sh DIR --quick    # a handful of clips (tests)
#
# DIR/set.jsonl has one line per clip:
#   {"clip": "c03-snr10.wav", "text": "...", "voice": "en-gb", "rate_wpm": 140,
#    "lead_ms": 2500, "pause_ms": 0, "snr_db": 10, "split": "tune"}
# `split`: sentences 1-5 are "tune" (used to choose settings such as the VAD
# pre-roll), sentences 6-10 are "test" (reported, never tuned on).
# sox runs with -R, so the noise, and therefore the set, is the same every run.
#
# When the Piper voice is installed (scripts/fetch-piper.sh) and attune is
# built, the full set also holds the ten sentences spoken by Piper's neural
# voice ("voice": "piper", ids p01-p10, same leads, pauses and splits), clean
# and at 10 dB SNR, made with `attune say` (engine piper, no fallback, so an
# espeak-ng clip can never pass for a Piper one). ATTUNE names the binary
# (default target/debug/attune); ATTUNE_PIPER=0 leaves them out.
set -euo pipefail
DIR="${1:?usage: make-asr-set.sh DIR [--quick]}"
QUICK="${2:-}"
command -v espeak-ng >/dev/null || { echo "make-asr-set: espeak-ng not installed" >&2; exit 1; }
command -v sox >/dev/null || { echo "make-asr-set: sox not installed" >&2; exit 1; }
mkdir -p "$DIR"
# Repeatable noise and dither, warnings (clipped samples at 5 dB SNR) off.
export SOX_OPTS="-R -V1"
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT

# A pause inside the sentence goes where the "|" is.
SENTENCES=(
  "I have been feeling really stressed about my exams this week."
  "My sister called me this morning, | and we talked for almost an hour."
  "Sometimes I lie awake at night and worry about money."
  "I went for a long walk by the river, | and it helped a little."
  "Work has been busy, but my manager has been kind to me."
  "I miss my grandmother, | she used to cook for the whole family."
  "Yesterday I finally finished painting the kitchen."
  "I think I need to sleep earlier, | because I am always tired."
  "My friends invited me to dinner, but I did not feel like going."
  "The doctor said my results were fine, | so I feel calmer now."
)
VOICES=(en-us en-gb en-gb-x-rp en-us+f3 en-gb-scotland)
RATES=(140 175 210)
LEADS=(300 1200 2500)
PAUSES=(450 600)
SNRS=(20 10 5)

say() { # text voice rate out.wav  -> 16 kHz mono 16-bit
    espeak-ng -v "$2" -s "$3" -w "$TMP/raw.wav" "$1"
    sox "$TMP/raw.wav" -r 16000 -c 1 -b 16 "$4"
}

rms_of() { sox "$1" -n stat 2>&1 | awk '/RMS +amplitude/ {print $3}'; }

# Piper, when installed: `attune say` with a config that forbids the fallback.
ATTUNE="${ATTUNE:-$(cd "$(dirname "$0")/.." && pwd)/target/debug/attune}"
if [ -n "${ATTUNE_HOME:-}" ]; then MODELS="$ATTUNE_HOME/models"
else MODELS="${XDG_DATA_HOME:-$HOME/.local/share}/attune/models"; fi
PIPER=0
if [ "$QUICK" != "--quick" ] && [ "${ATTUNE_PIPER:-1}" != 0 ] && [ -x "$ATTUNE" ] \
    && [ -f "$MODELS/piper/en_US-joe-medium.onnx" ] && [ -f "$MODELS/onnxruntime/libonnxruntime.so" ]; then
    PIPER=1
    printf '[speech.tts]\nengine = "piper"\nfallback = "none"\n' > "$TMP/piper.toml"
elif [ "$QUICK" != "--quick" ]; then
    echo "make-asr-set: no Piper clips (needs $MODELS/piper/en_US-joe-medium.onnx, its ONNX Runtime and $ATTUNE)" >&2
fi
say_piper() { # text out.wav -> 16 kHz mono 16-bit
    "$ATTUNE" say "$1" --out "$TMP/praw.wav" --config "$TMP/piper.toml" 2>"$TMP/say.err" \
        || { echo "make-asr-set: attune say (piper) failed: $(cat "$TMP/say.err")" >&2; exit 1; }
    sox "$TMP/praw.wav" -r 16000 -c 1 -b 16 "$2"
}

# One clip of sentence $s (text $text) by SYNTH ("say VOICE RATE" or
# "say_piper"): clean with its lead, plus noise at the SNRS given.
make_clip() { # id voice rate lead pause split snrs...
    local id="$1" voice="$2" rate="$3" lead="$4" pause="$5" split="$6"
    shift 6
    if [ "$pause" -gt 0 ]; then
        synth "${s%% | *}" "$TMP/a.wav"
        synth "${s##* | }" "$TMP/b.wav"
        sox -n -r 16000 -c 1 -b 16 "$TMP/gap.wav" trim 0 "$(awk "BEGIN{print $pause/1000}")"
        sox "$TMP/a.wav" "$TMP/gap.wav" "$TMP/b.wav" "$TMP/speech.wav"
    else
        synth "$s" "$TMP/speech.wav"
    fi
    # Leading silence as listed, 1.2 s after (longer than the end-of-turn wait).
    sox "$TMP/speech.wav" "$DIR/$id-clean.wav" pad "$(awk "BEGIN{print $lead/1000}")" 1.2
    line() { # clip snr
        printf '{"clip": "%s", "text": "%s", "voice": "%s", "rate_wpm": %s, "lead_ms": %s, "pause_ms": %s, "snr_db": %s, "split": "%s"}\n' \
            "$1" "$text" "$voice" "$rate" "$lead" "$pause" "$2" "$split" >> "$DIR/set.jsonl"
    }
    line "$id-clean.wav" null
    # Noise level from the speech alone (not the padded clip), so SNR means
    # speech power over noise power.
    speech_rms="$(rms_of "$TMP/speech.wav")"
    dur="$(soxi -D "$DIR/$id-clean.wav")"
    sox -n -r 16000 -c 1 -b 16 "$TMP/pink.wav" synth "$dur" pinknoise vol 0.5
    pink_rms="$(rms_of "$TMP/pink.wav")"
    for snr in "$@"; do
        gain="$(awk "BEGIN{print $speech_rms / ($pink_rms * 10^($snr/20))}")"
        sox -m -v 1 "$DIR/$id-clean.wav" -v "$gain" "$TMP/pink.wav" "$DIR/$id-snr$snr.wav"
        line "$id-snr$snr.wav" "$snr"
    done
}

: > "$DIR/set.jsonl"
n=${#SENTENCES[@]}
for i in $(seq 0 $((n - 1))); do
    if [ "$QUICK" = "--quick" ] && [ "$i" -ne 0 ] && [ "$i" -ne 1 ] && [ "$i" -ne 6 ]; then
        continue
    fi
    s="${SENTENCES[$i]}"
    text="${s// | / }"
    voice="${VOICES[$((i % ${#VOICES[@]}))]}"
    rate="${RATES[$((i % ${#RATES[@]}))]}"
    lead="${LEADS[$((i % ${#LEADS[@]}))]}"
    split=tune
    [ "$i" -ge 5 ] && split=test
    id=$(printf 'c%02d' $((i + 1)))
    pause=0
    [[ "$s" == *"|"* ]] && pause="${PAUSES[$((i % ${#PAUSES[@]}))]}"
    snrs=("${SNRS[@]}")
    [ "$QUICK" = "--quick" ] && snrs=(10)
    synth() { say "$1" "$voice" "$rate" "$2"; }
    make_clip "$id" "$voice" "$rate" "$lead" "$pause" "$split" "${snrs[@]}"
    if [ "$PIPER" = 1 ]; then
        synth() { say_piper "$1" "$2"; }
        make_clip "$(printf 'p%02d' $((i + 1)))" piper 0 "$lead" "$pause" "$split" 10
    fi
done
echo "make-asr-set: $(wc -l < "$DIR/set.jsonl") clips in $DIR"
