#!/usr/bin/env bash
# The floor client, Rust (adk-live) and the official Python SDK (google-genai): same
# workload, same emulator process, same N, one after the other; then the ratios
# (adk-live against the floor: what the runtime costs on top of transport and TLS;
# the SDK against adk-live).
#
#   bench/run_all.sh [SESSIONS] [SECONDS]          # default 100 sessions x 20 s
#
# Environment: CARGO_TARGET_DIR (default: target), PYTHON (default: .venv-bench/bin/python,
# created with google-genai if missing), OUT (default: bench/out).
# Every step is bounded: the emulator exits when this script does (stdin closes) or after
# --max-seconds; each harness stops by itself after connect + 2 s idle + SECONDS.
set -euo pipefail

cd "$(dirname "$0")/.."
N="${1:-100}"
SECS="${2:-20}"
OUT="${OUT:-bench/out}"
TARGET="${CARGO_TARGET_DIR:-target}"
PY="${PYTHON:-.venv-bench/bin/python}"
mkdir -p "$OUT"

if [ ! -x "$PY" ]; then
  echo "run_all: creating .venv-bench with google-genai" >&2
  python3 -m venv .venv-bench
  .venv-bench/bin/pip install -q google-genai websockets
  PY=.venv-bench/bin/python
fi

echo "run_all: building loadtest (release)" >&2
cargo build -q --release -p examples --bin loadtest
LOADTEST="$TARGET/release/loadtest"

# The emulator: its own process, TLS (the Python SDK needs wss://), stats control port.
# stdin is a FIFO held open by this script, so the emulator exits with us.
FIFO="$(mktemp -u)"; mkfifo "$FIFO"
exec 3<>"$FIFO"; rm -f "$FIFO"
RUST_LOG="${RUST_LOG:-warn}" "$LOADTEST" emulator --tls --cert-out "$OUT/emulator-ca.pem" \
  --max-seconds $(( 4 * SECS + 600 )) <&3 >"$OUT/emulator.out" &
EMU_PID=$!
trap 'kill $EMU_PID 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do
  [ -s "$OUT/emulator.out" ] && break
  sleep 0.1
done
LINE="$(head -n1 "$OUT/emulator.out")"
field() { python3 -c 'import json,sys; print(json.loads(sys.argv[1])[sys.argv[2]])' "$LINE" "$1"; }
WS_URL="$(field ws_url)"; BASE_URL="$(field base_url)"; CONTROL="$(field control)"; CA="$(field cert_path)"
echo "run_all: emulator pid $EMU_PID at $BASE_URL (control $CONTROL); load average: $(cut -d' ' -f1-3 /proc/loadavg)" >&2

RC=0
"$LOADTEST" --endpoint "$WS_URL" --ca-file "$CA" --control "$CONTROL" --emulator-pid "$EMU_PID" \
  --sessions "$N" --seconds "$SECS" --floor --json "$OUT/floor.json" || RC=1
sleep 2
"$LOADTEST" --endpoint "$WS_URL" --ca-file "$CA" --control "$CONTROL" --emulator-pid "$EMU_PID" \
  --sessions "$N" --seconds "$SECS" --json "$OUT/rust.json" || RC=1
sleep 2
"$PY" bench/sdk_load.py --base-url "$BASE_URL" --ca-file "$CA" --control "$CONTROL" \
  --sessions "$N" --seconds "$SECS" --json "$OUT/python.json" || RC=1

python3 bench/compare.py "$OUT/floor.json" "$OUT/rust.json"
python3 bench/compare.py "$OUT/rust.json" "$OUT/python.json"
echo "run_all: load average at the end: $(cut -d' ' -f1-3 /proc/loadavg); results in $OUT/" >&2
exit $RC
