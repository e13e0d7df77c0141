# Sourced by scripts/test.sh: exports ATTUNE_ESCONV when the ESConv dev file
# sits beside the repository (it is CC BY-NC data and never committed), so
# the dialogue crate's measured strategy-coder check runs.
_esconv_dev="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/../shared/data/esconv/dev.jsonl"
if [ -z "${ATTUNE_ESCONV:-}" ] && [ -f "$_esconv_dev" ]; then
    export ATTUNE_ESCONV="$(cd "$(dirname "$_esconv_dev")" && pwd)/dev.jsonl"
    echo "esconv: ATTUNE_ESCONV=$ATTUNE_ESCONV"
elif [ -z "${ATTUNE_ESCONV:-}" ]; then
    echo "esconv: no dev data at $_esconv_dev; the ESConv check will be skipped"
fi
unset _esconv_dev
