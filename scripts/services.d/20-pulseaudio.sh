# Sourced by scripts/test.sh. Starts a userspace PulseAudio with no sound card:
#   - `attune_null`: a null sink (default output), paced like real hardware;
#     its monitor source lets a test record what was played;
#   - `attune_mic`: a pipe source (default input) fed through a FIFO, so a test
#     writes 16 kHz s16le mono speech into it and cpal captures it for real.
# ALSA clients (cpal's default host) reach it through the pulse ALSA plugin
# (libasound2-plugins) via PULSE_SERVER. Exports for the tests:
#   PULSE_SERVER, ATTUNE_TEST_PULSE_FIFO (the mic FIFO), ATTUNE_TEST_PULSE_DIR.
# Works as root (no --system: a per-user daemon with exit-idle-time=-1).
_attune_pulse_dir="${ATTUNE_TEST_PULSE_DIR:-/tmp/attune-pulse-$(id -u)}"
if ! command -v pulseaudio >/dev/null 2>&1 || ! command -v pactl >/dev/null 2>&1; then
    echo "services: pulseaudio not installed; cpal tests will be skipped" >&2
else
    mkdir -p "$_attune_pulse_dir"
    chmod 700 "$_attune_pulse_dir"
    export PULSE_SERVER="unix:$_attune_pulse_dir/pulse/native"
    if ! pactl info >/dev/null 2>&1; then
        rm -f "$_attune_pulse_dir/mic.fifo"
        XDG_RUNTIME_DIR="$_attune_pulse_dir" pulseaudio --daemonize=yes -n \
            --exit-idle-time=-1 --disallow-exit --use-pid-file=yes \
            --log-target="file:$_attune_pulse_dir/pulse.log" \
            --load="module-native-protocol-unix auth-anonymous=1 socket=$_attune_pulse_dir/pulse/native" \
            --load="module-null-sink sink_name=attune_null" \
            --load="module-pipe-source source_name=attune_mic file=$_attune_pulse_dir/mic.fifo format=s16le rate=16000 channels=1" \
            || echo "services: pulseaudio failed to start (see $_attune_pulse_dir/pulse.log)" >&2
        for _i in 1 2 3 4 5 6 7 8 9 10; do
            pactl info >/dev/null 2>&1 && break
            sleep 0.3
        done
    fi
    if pactl info >/dev/null 2>&1; then
        pactl set-default-sink attune_null >/dev/null 2>&1 || true
        pactl set-default-source attune_mic >/dev/null 2>&1 || true
        export ATTUNE_TEST_PULSE_DIR="$_attune_pulse_dir"
        export ATTUNE_TEST_PULSE_FIFO="$_attune_pulse_dir/mic.fifo"
        echo "services: pulseaudio up at $PULSE_SERVER (null sink + pipe source)"
    else
        unset PULSE_SERVER
        echo "services: pulseaudio unavailable; cpal tests will be skipped" >&2
    fi
fi
unset _attune_pulse_dir _i
