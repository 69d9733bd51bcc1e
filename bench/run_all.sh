#!/usr/bin/env bash
# The four clients side by side: the floor, adk-live, the Rust peer gemini-live 0.1.9
# (bench/peer) and the official Python SDK google-genai. Same workload
# (fixtures/scenarios/bench/loop.json), same emulator process per run, same N, one client
# after the other (the order reversed on every other run), RUNS runs per N; then the
# table and the ratios (bench/compare.py), every run reported.
#
#   bench/run_all.sh                      # N = 50 and 200, 3 runs, 20 s each (~25 min)
#   RUNS=1 SESSIONS="200" bench/run_all.sh
#
# Environment: SESSIONS (default "50 200"), RUNS (3), SECONDS_EACH (20), IDLE_SESSIONS
# (1000: an idle-memory run of the floor, adk-live and the peer at that N; 0 skips it),
# CLIENTS (default "floor adk peer python"), OUT (bench/out), CARGO_TARGET_DIR (target),
# PYTHON (.venv-bench/bin/python, created with google-genai if missing).
#
# Every client runs over ws:// (plain): gemini-live trusts only the webpki roots and
# cannot be given the emulator's CA, so a wss:// run cannot include it; google-genai is
# pointed at ws:// by bench/sdk_load.py (see there). Every step is bounded: the
# emulator exits with this script (its stdin closes) or after --max-seconds; each
# harness stops by itself after connect + 2 s idle + SECONDS_EACH.
set -euo pipefail

cd "$(dirname "$0")/.."
read -r -a NS <<< "${SESSIONS:-50 200}"
RUNS="${RUNS:-3}"
SECS="${SECONDS_EACH:-20}"
IDLE_N="${IDLE_SESSIONS:-1000}"
read -r -a CLIENTS <<< "${CLIENTS:-floor adk peer python}"
OUT="${OUT:-bench/out}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
PY="${PYTHON:-.venv-bench/bin/python}"
mkdir -p "$OUT"
rm -f "$OUT"/run*.json "$OUT"/idle-*.json

if [[ " ${CLIENTS[*]} " == *" python "* ]] && [ ! -x "$PY" ]; then
  echo "run_all: creating .venv-bench with google-genai" >&2
  python3 -m venv .venv-bench
  .venv-bench/bin/pip install -q google-genai websockets
  PY=.venv-bench/bin/python
fi

echo "run_all: building loadtest and the peer (release)" >&2
cargo build -q --release -p examples --bin loadtest
cargo build -q --release --manifest-path bench/peer/Cargo.toml
LOADTEST="$CARGO_TARGET_DIR/release/loadtest"
PEER="$CARGO_TARGET_DIR/release/peer-load"

# One emulator process for a group of runs: its own process, plain ws://, a statistics
# control port; stdin is a FIFO held open by this script, so it exits with us.
start_emulator() {
  local fifo
  fifo="$(mktemp -u)"; mkfifo "$fifo"
  exec 3<>"$fifo"; rm -f "$fifo"
  RUST_LOG="${RUST_LOG:-warn}" "$LOADTEST" emulator --max-seconds 3600 <&3 >"$OUT/emulator.out" &
  EMU_PID=$!
  for _ in $(seq 1 100); do
    [ -s "$OUT/emulator.out" ] && break
    sleep 0.1
  done
  local line
  line="$(head -n1 "$OUT/emulator.out")"
  field() { python3 -c 'import json,sys; print(json.loads(sys.argv[1])[sys.argv[2]])' "$line" "$1"; }
  WS_URL="$(field ws_url)"; BASE_URL="$(field base_url)"; CONTROL="$(field control)"
}
stop_emulator() {
  kill "$EMU_PID" 2>/dev/null || true
  wait "$EMU_PID" 2>/dev/null || true
  exec 3>&-
}
trap 'kill ${EMU_PID:-0} 2>/dev/null || true' EXIT

# run CLIENT N SECONDS JSON: one client's run against the emulator.
RC=0
run() {
  local who=$1 n=$2 secs=$3 json=$4
  local common=(--endpoint "$WS_URL" --control "$CONTROL" --emulator-pid "$EMU_PID"
                --sessions "$n" --seconds "$secs" --json "$json")
  echo "run_all: $who, N = $n, ${secs} s; load average $(cut -d' ' -f1-3 /proc/loadavg)" >&2
  case "$who" in
    floor) "$LOADTEST" "${common[@]}" --floor >"$json.txt" 2>&1 ;;
    adk) "$LOADTEST" "${common[@]}" >"$json.txt" 2>&1 ;;
    peer) "$PEER" "${common[@]}" >"$json.txt" 2>&1 ;;
    python) "$PY" bench/sdk_load.py --base-url "$BASE_URL" --control "$CONTROL" \
              --sessions "$n" --seconds "$secs" --json "$json" >"$json.txt" 2>&1 ;;
  esac || { echo "run_all: $who failed at N = $n (see $json.txt)" >&2; RC=1; }
  sleep 2 # let the emulator close the last run's sessions
}

for n in "${NS[@]}"; do
  for r in $(seq 1 "$RUNS"); do
    start_emulator
    order=("${CLIENTS[@]}")
    if (( r % 2 == 0 )); then
      order=(); for (( k=${#CLIENTS[@]}-1; k>=0; k-- )); do order+=("${CLIENTS[k]}"); done
    fi
    for who in "${order[@]}"; do
      run "$who" "$n" "$SECS" "$OUT/run$r-n$n-$who.json"
    done
    stop_emulator
  done
done

# Idle memory at a large N: connected and set up, nothing streaming (1 s of it).
if [ "$IDLE_N" -gt 0 ]; then
  start_emulator
  for who in floor adk peer; do
    if [[ " ${CLIENTS[*]} " == *" $who "* ]]; then
      run "$who" "$IDLE_N" 1 "$OUT/idle-n$IDLE_N-$who.json"
    fi
  done
  stop_emulator
fi

python3 bench/compare.py "$OUT"
echo "run_all: results in $OUT/ (each client's table in *.json.txt)" >&2
exit $RC
