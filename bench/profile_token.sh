#!/usr/bin/env bash
# Where the time of a token request goes: counts, sampled profiles, measured what-ifs.
#
#   bench/profile_token.sh
#
# On its own throw-away stack (bench/lib.sh), writes into BENCH_RESULTS:
#   counts.md             per endpoint, in-process: ms/request, each SQL statement and its
#                         round-trip time, COMMITs, pre-pings, Redis commands, RSA signatures,
#                         argon2 calls (bench/profile_token.py counts)
#   inprocess-<e>.md      py-spy of a Flask-test-client loop, summed by bench/stacks.py
#   gunicorn-<e>.md       py-spy of the one sync gunicorn worker while wrk saturates it
#   what-ifs.md           candidate optimisations, each measured in its own process
#
# Knobs: BENCH_PROFILE_ENDPOINTS ["client_credentials refresh_token introspect userinfo jwks"]
# (what-ifs skip jwks and discovery: nothing to change there), BENCH_PROFILE_REQUESTS
# [2000] per in-process loop, BENCH_WHATIF_REQUESTS [500], BENCH_WHATIF_REPEATS [5],
# BENCH_DURATION [12] seconds under wrk, BENCH_RESULTS [bench/results/profile-<timestamp>],
# and those of bench/lib.sh (BENCH_REF...).
set -euo pipefail
# shellcheck source=bench/lib.sh
source "$(dirname "$0")/lib.sh"

read -r -a ENDPOINTS <<<"${BENCH_PROFILE_ENDPOINTS:-client_credentials refresh_token introspect userinfo jwks}"
REQUESTS=${BENCH_PROFILE_REQUESTS:-2000}
WHATIF_REQUESTS=${BENCH_WHATIF_REQUESTS:-500}
WHATIF_REPEATS=${BENCH_WHATIF_REPEATS:-5}
DURATION=${BENCH_DURATION:-12}
RESULTS=${BENCH_RESULTS:-$BENCH/results/profile-$(date +%Y%m%dT%H%M%S)}
PY=$VENV/python
PYSPY=$VENV/py-spy
if [[ ! -x $PYSPY ]]; then
  echo "py-spy is missing: $VENV/pip install py-spy" >&2
  exit 2
fi

# Every refresh request spends a pool line; what-ifs run 8 variants per repeat.
WARM=20
POOL_SIZE=$((500 + WARM + REQUESTS + WARM + 8 * WHATIF_REPEATS * (WHATIF_REQUESTS + WARM) + 1000 * DURATION))
CURSOR=0
mkdir -p "$RESULTS"
log "results in $RESULTS"
setup_stack "$POOL_SIZE"
export BENCH_WEB_BASIC BENCH_SERVICE_BASIC BENCH_SERVICE_ACCESS_TOKEN BENCH_USER_ACCESS_TOKEN
{
  echo "# Profile run $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo
  echo "- command: \`BENCH_REF=${BENCH_REF:-} bench/profile_token.sh\`"
  describe_machine
} >"$RESULTS/meta.md"

quiet() {
  bounded 70 "$PY" "$BENCH/cpuwatch.py" wait-quiet --timeout 60 || log "machine still busy; going on"
}

log "counting statements, round trips and signatures per request"
quiet
bounded 600 "$PY" "$BENCH/profile_token.py" --seed "$WORK" --skip-tokens "$CURSOR" \
  counts --requests 500 --show-sql >"$RESULTS/counts.md"
CURSOR=$((CURSOR + 500 + WARM))

for endpoint in "${ENDPOINTS[@]}"; do
  log "in-process py-spy: $endpoint"
  quiet
  bounded 600 "$PYSPY" record --idle --nonblocking --rate 1000 --format raw \
    --output "$RESULTS/inprocess-$endpoint.txt" -- \
    "$PY" "$BENCH/profile_token.py" --seed "$WORK" --skip-tokens "$CURSOR" \
    loop "$endpoint" --requests "$REQUESTS" >"$RESULTS/inprocess-$endpoint.json" \
    2>>"$RESULTS/py-spy.log"
  if [[ $endpoint == refresh_token ]]; then CURSOR=$((CURSOR + REQUESTS + WARM)); fi
  ms=$(grep '^{' "$RESULTS/inprocess-$endpoint.json" | tail -1 |
    "$PY" -c 'import json, sys; print(round(json.load(sys.stdin)["wall_ms"], 2))')
  {
    echo "In-process (Flask test client), $REQUESTS requests, $ms ms/request:"
    echo
    "$PY" "$BENCH/stacks.py" "$RESULTS/inprocess-$endpoint.txt" --ms-per-request "$ms" \
      --within measure
  } >"$RESULTS/inprocess-$endpoint.md"
done

SERVER_LOG=$RESULTS/gunicorn.log
start_server sync 1
worker=$(pgrep -P "$GUNICORN_PID")
for endpoint in "${ENDPOINTS[@]}"; do
  log "gunicorn worker $worker under wrk, py-spy: $endpoint"
  quiet
  wrk_command "$endpoint" "$DURATION" 50 2 "$CURSOR" $((1000 * DURATION))
  if [[ $endpoint == refresh_token ]]; then CURSOR=$((CURSOR + 1000 * DURATION)); fi
  timeout --kill-after=5 $((DURATION + 30)) "${WRK_CMD[@]}" >"$RESULTS/gunicorn-$endpoint.wrk.txt" &
  wrk_pid=$!
  BACKGROUND_PIDS+=("$wrk_pid")
  sleep 1 # let the queue fill: the worker must be saturated for the whole sample
  bounded $((DURATION + 30)) "$PYSPY" record --pid "$worker" --idle --nonblocking --rate 500 \
    --duration $((DURATION - 2)) --format raw --output "$RESULTS/gunicorn-$endpoint.txt" \
    >>"$RESULTS/py-spy.log" 2>&1
  wait "$wrk_pid"
  BACKGROUND_PIDS=()
  rps=$("$PY" "$BENCH/wrkstats.py" parse "$RESULTS/gunicorn-$endpoint.wrk.txt" |
    "$PY" -c 'import json, sys; print(json.load(sys.stdin)["requests_per_s"])')
  {
    echo "One sync gunicorn worker saturated by wrk (50 connections): $rps req/s," \
      "so $("$PY" -c "print(f'{1000 / $rps:.2f}')") ms of the worker's wall time per request" \
      "(sampled with py-spy, which slows it a little):"
    echo
    "$PY" "$BENCH/stacks.py" "$RESULTS/gunicorn-$endpoint.txt" --ms-per-request "$("$PY" -c "print(1000 / $rps)")"
  } >"$RESULTS/gunicorn-$endpoint.md"
done
stop_server

log "what-ifs: $WHATIF_REPEATS x 8 variants x ${ENDPOINTS[*]}"
only=()
for endpoint in "${ENDPOINTS[@]}"; do only+=(--only "$endpoint"); done
bounded 3600 "$PY" "$BENCH/profile_token.py" --seed "$WORK" --skip-tokens "$CURSOR" \
  what-ifs --requests "$WHATIF_REQUESTS" --repeats "$WHATIF_REPEATS" "${only[@]}" \
  >"$RESULTS/what-ifs.md"

for part in counts "${ENDPOINTS[@]/#/inprocess-}" "${ENDPOINTS[@]/#/gunicorn-}" what-ifs; do
  echo "### $part"
  echo
  cat "$RESULTS/$part.md"
  echo
done | tee "$RESULTS/profile.md"
