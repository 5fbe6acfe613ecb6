#!/usr/bin/env bash
# User-space instructions per request, counted by callgrind: steady on a shared machine.
#
#   bench/instructions.sh [ENDPOINT...]     (default: client_credentials userinfo refresh_token healthz)
#
# A throw-away stack (bench/lib.sh: own Postgres database, Redis prefix, seeded rows), then for
# each endpoint one process running bench/request_loop.py under
# `valgrind --tool=callgrind --instr-atstart=no`: instrumentation is switched on
# (callgrind_control) after the imports, the app's start and 30 warm-up requests, and off after
# BENCH_REQUESTS [60] requests, so the total counts those requests only (Flask test client,
# so no HTTP server; Postgres and Redis round trips included, their servers' work not).
# Wall-clock and even CPU time per request swing with other load on two shared cores;
# instruction counts move by well under 1% between runs of the same code. BENCH_REF works as
# for the other benchmarks (measure a git ref instead of the working tree).
set -euo pipefail
# shellcheck source=bench/lib.sh
source "$(dirname "$0")/lib.sh"

REQUESTS=${BENCH_REQUESTS:-60}
read -r -a ENDPOINTS <<<"${*:-client_credentials userinfo refresh_token healthz}"
command -v valgrind >/dev/null || { log "valgrind is missing: apt-get install -y valgrind"; exit 2; }

setup_stack $(((REQUESTS + 30) * ${#ENDPOINTS[@]} + 10))
log "code: $(source_description)"
first_token=0
for endpoint in "${ENDPOINTS[@]}"; do
  markers=$WORK/callgrind-$endpoint
  mkdir -p "$markers"
  (cd "$SRC" && PYTHONMALLOC=malloc exec valgrind --tool=callgrind --instr-atstart=no \
    --callgrind-out-file="$markers/callgrind.out" "$VENV/python" "$BENCH/request_loop.py" \
    --seed "$WORK" --endpoint "$endpoint" --requests "$REQUESTS" --first-token "$first_token" \
    --markers "$markers") >"$markers/log" 2>&1 &
  BACKGROUND_PIDS+=($!)
  pid=$!
  for _ in $(seq 3000); do
    [[ -f $markers/ready ]] && break
    kill -0 "$pid" 2>/dev/null || { tail -5 "$markers/log"; exit 1; }
    sleep 0.2
  done
  callgrind_control --instr=on "$pid" >/dev/null
  touch "$markers/go"
  for _ in $(seq 3000); do
    [[ -f $markers/done ]] && break
    kill -0 "$pid" 2>/dev/null || { tail -5 "$markers/log"; exit 1; }
    sleep 0.2
  done
  callgrind_control --instr=off "$pid" >/dev/null
  touch "$markers/exit"
  wait "$pid"
  BACKGROUND_PIDS=()
  total=$(awk '/^totals:/ {print $2}' "$markers/callgrind.out")
  printf '%s: %s instructions/request (%s requests)\n' "$endpoint" "$((total / REQUESTS))" "$REQUESTS"
  first_token=$((first_token + REQUESTS + 30))
done
