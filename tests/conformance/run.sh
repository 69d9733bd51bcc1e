#!/usr/bin/env bash
# Conformance against the official google-genai Python SDK (see conformance.py).
#
#   tests/conformance/run.sh                      # build the emulator, run the SDK session, validate
#   tests/conformance/run.sh validate-client F... # validate transcripts of client frames
#   tests/conformance/run.sh validate-server F... # ... of server frames
#   tests/conformance/run.sh validate F...        # ... both directions
#
# Creates .venv at the repository root (gitignored) with google-genai and websockets.
# Honours CARGO_TARGET_DIR. Exits non-zero on any failure.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
VENV="$ROOT/.venv"
PY="$VENV/bin/python"

if [ ! -x "$PY" ]; then
  python3 -m venv "$VENV"
fi
if ! "$PY" -c "import google.genai, websockets" 2>/dev/null; then
  "$VENV/bin/pip" install --quiet --disable-pip-version-check google-genai websockets
fi

cmd="${1:-run}"
if [ "$cmd" = "run" ]; then
  [ $# -gt 0 ] && shift
  TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"
  (cd "$ROOT" && cargo build --quiet -p genai-wire --features emulator --bin live-emulator)
  exec "$PY" -W error::UserWarning "$ROOT/tests/conformance/conformance.py" run \
    --emulator "$TARGET/debug/live-emulator" "$@"
else
  exec "$PY" -W error::UserWarning "$ROOT/tests/conformance/conformance.py" "$@"
fi
