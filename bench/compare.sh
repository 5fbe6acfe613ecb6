#!/usr/bin/env bash
# idp against node oidc-provider, side by side on this machine: `make bench`.
#
#   bench/compare.sh
#
# Starts, one after the other on loopback, node oidc-provider (bench/peer/, configured like
# idp) and idp as shipped (`idp serve --production`, on its own Postgres database and Redis
# prefix, bench/lib.sh). Then, for each run and each endpoint, drives the same wrk command
# and Lua script against the peer and against idp, alternating which goes first, so both
# see the same machine. Prints (and writes to RESULTS/table.md) the median req/s, p50 and
# p99 of the runs, their spread, and the ratio idp/peer per endpoint, then the CPU each
# server (and Postgres and Redis) used per request in the same runs. Every run is bounded;
# everything started is stopped by PID at the end, however the script ends.
#
# Knobs (environment, defaults in brackets), besides those of bench/lib.sh:
#   BENCH_RUNS [3]   BENCH_DURATION [10] s   BENCH_CONNECTIONS [50]   BENCH_WRK_THREADS [2]
#   BENCH_ENDPOINTS ["discovery jwks userinfo client_credentials refresh_token"]
#   BENCH_IDP_WORKERS [as shipped: one per core]   BENCH_PEER_ALG [RS256] (ES256 to compare)
#   BENCH_IDP_THREADS [as shipped: IDP_THREADS, 2] threads per idp worker
#   BENCH_IDP_SERVER [production] or gunicorn-sync, gunicorn-gthread: the alternatives, with
#     gunicorn.conf.py (gthread: BENCH_THREADS [4] threads per worker)
#   BENCH_REFRESH_RATE [2000] refresh req/s to mint tokens for, per target and run
#   BENCH_RESULTS [bench/results/compare-<timestamp>]
set -euo pipefail
# shellcheck source=bench/lib.sh
source "$(dirname "$0")/lib.sh"

RUNS=${BENCH_RUNS:-3}
DURATION=${BENCH_DURATION:-10}
CONNECTIONS=${BENCH_CONNECTIONS:-50}
WRK_THREADS=${BENCH_WRK_THREADS:-2}
read -r -a ENDPOINTS <<<"${BENCH_ENDPOINTS:-discovery jwks userinfo client_credentials refresh_token}"
REFRESH_RATE=${BENCH_REFRESH_RATE:-2000}
PEER_ALG=${BENCH_PEER_ALG:-RS256}
RESULTS=${BENCH_RESULTS:-$BENCH/results/compare-$(date +%Y%m%dT%H%M%S)}
PEER_DIR=$BENCH/peer
POOL_SIZE=$((REFRESH_RATE * DURATION * RUNS + 1000))

command -v wrk >/dev/null || { log "wrk is missing: apt-get install -y wrk"; exit 2; }
command -v node >/dev/null || { log "node is missing (node 20 or later)"; exit 2; }
if [[ ! -d $PEER_DIR/node_modules/oidc-provider ]]; then
  log "installing the peer: npm ci in $PEER_DIR"
  (cd "$PEER_DIR" && bounded 300 npm ci --no-audit --no-fund --silent)
fi

free_port() {
  "$VENV/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Wait until $1 answers 200, while PID $2 lives.
wait_ready() {
  local url=$1 pid=$2
  for _ in $(seq 600); do
    kill -0 "$pid" 2>/dev/null || return 1
    curl -sf -o /dev/null --max-time 2 "$url" && return 0
    sleep 0.1
  done
  return 1
}

mkdir -p "$RESULTS/raw/peer" "$RESULTS/raw/idp" "$RESULTS/logs" "$WORK/peer"

# --- the peer ---
PEER_PORT=$(free_port)
PEER_URL=http://127.0.0.1:$PEER_PORT
log "peer: node oidc-provider on $PEER_URL, minting $POOL_SIZE refresh tokens"
(cd "$PEER_DIR" && PEER_PORT=$PEER_PORT PEER_OUT=$WORK/peer PEER_REFRESH_TOKENS=$POOL_SIZE \
  PEER_ALG=$PEER_ALG NODE_ENV=production exec node server.mjs) >"$RESULTS/logs/peer.log" 2>&1 &
PEER_PID=$!
BACKGROUND_PIDS+=("$PEER_PID")
wait_ready "$PEER_URL/.well-known/openid-configuration" "$PEER_PID" ||
  { log "peer did not start; see $RESULTS/logs/peer.log"; exit 1; }

# --- idp, as shipped ---
setup_stack "$POOL_SIZE"
IDP_URL=$ISSUER
IDP_SERVER=${BENCH_IDP_SERVER:-production}
case $IDP_SERVER in
  production)
    SERVE=("$VENV/idp" serve --production --host 127.0.0.1 --port "$PORT")
    [[ -z ${BENCH_IDP_WORKERS:-} ]] || SERVE+=(--workers "$BENCH_IDP_WORKERS")
    ;;
  gunicorn-sync | gunicorn-gthread)
    SERVE=("$VENV/gunicorn" -c "$ROOT/gunicorn.conf.py" --chdir "$ROOT" --bind "127.0.0.1:$PORT"
      --worker-class "${IDP_SERVER#gunicorn-}" --no-control-socket)
    [[ $IDP_SERVER == gunicorn-sync ]] || SERVE+=(--threads "${BENCH_THREADS:-4}")
    [[ -z ${BENCH_IDP_WORKERS:-} ]] || SERVE+=(--workers "$BENCH_IDP_WORKERS")
    SERVE+=(wsgi:app)
    ;;
  *) log "unknown BENCH_IDP_SERVER $IDP_SERVER"; exit 2 ;;
esac
log "idp: ${SERVE[*]}"
[[ -z ${BENCH_IDP_THREADS:-} ]] || export IDP_THREADS=$BENCH_IDP_THREADS
(cd "$WORK" && TMPDIR=$WORK/tmp exec "${SERVE[@]}") >"$RESULTS/logs/idp.log" 2>&1 &
GUNICORN_PID=$! # lib.sh's stop_server: SIGTERM to the master, then its workers by PID
wait_ready "$IDP_URL/.well-known/openid-configuration" "$GUNICORN_PID" ||
  { log "idp did not start; see $RESULTS/logs/idp.log"; exit 1; }

{
  echo "# idp vs node oidc-provider $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo
  echo "- command: \`make bench\` (BENCH_RUNS=$RUNS BENCH_DURATION=$DURATION BENCH_CONNECTIONS=$CONNECTIONS BENCH_WRK_THREADS=$WRK_THREADS BENCH_IDP_SERVER=$IDP_SERVER BENCH_IDP_WORKERS=${BENCH_IDP_WORKERS:-} BENCH_IDP_THREADS=${BENCH_IDP_THREADS:-} BENCH_PEER_ALG=$PEER_ALG)"
  echo "- idp: \`${SERVE[*]##*/}\` ($("$VENV/python" -c 'import granian; print("granian", granian.__version__)')), workers $(pgrep -c -P "$GUNICORN_PID"), token rate limit $IDP_RATE_LIMIT_TOKEN"
  echo "- peer: oidc-provider $(node -p 'require("./bench/peer/node_modules/oidc-provider/package.json").version' 2>/dev/null || echo '?'), node $(node --version), one process, $PEER_ALG"
  echo "- load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
  describe_machine
} >"$RESULTS/meta.md"

declare -A CURSOR=([peer]=0 [idp]=0)

# CPU ticks (user + system, every thread) used so far by the given PIDs.
cpu_ticks() {
  local pid total=0 fields
  for pid in "$@"; do
    fields=$(cat "/proc/$pid/stat" 2>/dev/null) || continue
    fields=${fields##*) } # after "pid (comm) "
    read -r -a fields <<<"$fields"
    total=$((total + fields[11] + fields[12]))
  done
  echo "$total"
}

# Busy and total jiffies of the whole machine.
machine_ticks() {
  awk 'NR == 1 {print $2 + $3 + $4 + $7 + $8, $2 + $3 + $4 + $5 + $6 + $7 + $8}' /proc/stat
}

# One wrk run: $1 target (peer|idp), $2 endpoint, $3 run number.
measure() {
  local target=$1 endpoint=$2 run=$3 base path script="" args=()
  local out=$RESULTS/raw/$target/$endpoint.$run.txt
  if [[ $target == peer ]]; then base=$PEER_URL; else base=$IDP_URL; fi
  case $endpoint in
    discovery) path=/.well-known/openid-configuration ;;
    jwks) if [[ $target == peer ]]; then path=/jwks; else path=/jwks.json; fi ;;
    userinfo)
      script=userinfo.lua
      if [[ $target == peer ]]; then path=/me; else path=/userinfo; fi
      ;;
    client_credentials) script=client_credentials.lua path=/token ;;
    refresh_token)
      local pool=$WORK/refresh_tokens.txt
      [[ $target == idp ]] || pool=$WORK/peer/refresh_tokens.txt
      script=refresh_token.lua path=/token
      args=(-- "$pool" "${CURSOR[$target]}" $((POOL_SIZE - CURSOR[$target])) "$WRK_THREADS")
      ;;
    *) log "unknown endpoint $endpoint"; return 1 ;;
  esac
  local cmd=(wrk --threads "$WRK_THREADS" --connections "$CONNECTIONS" --duration "${DURATION}s"
    --timeout 2s --latency)
  [[ -z $script ]] || cmd+=(--script "$BENCH/lua/$script")
  cmd+=("$base$path" "${args[@]}")
  local env_file=$WORK/bench.env
  [[ $target == idp ]] || env_file=$WORK/peer/bench.env
  # CPU per request of the server under test, Postgres, Redis (whole servers: shared with
  # anything else using them) and the machine: steadier than req/s on a shared machine.
  local server_pids postgres_pids redis_pids before after busy0 total0 busy1 total1
  server_pids=$PEER_PID
  [[ $target == peer ]] || server_pids="$GUNICORN_PID $(pgrep -P "$GUNICORN_PID" | tr '\n' ' ' || true)"
  postgres_pids=$(pgrep -x postgres | tr '\n' ' ' || true)
  redis_pids=$(pgrep -x redis-server | tr '\n' ' ' || true)
  # shellcheck disable=SC2086 # lists of PIDs
  before="$(cpu_ticks $server_pids) $(cpu_ticks $postgres_pids) $(cpu_ticks $redis_pids)"
  read -r busy0 total0 < <(machine_ticks)
  (
    set -a
    # shellcheck source=/dev/null
    source "$env_file"
    bounded $((DURATION + 30)) "${cmd[@]}"
  ) >"$out"
  read -r busy1 total1 < <(machine_ticks)
  # shellcheck disable=SC2086
  after="$(cpu_ticks $server_pids) $(cpu_ticks $postgres_pids) $(cpu_ticks $redis_pids)"
  local tick_us=$((1000000 / $(getconf CLK_TCK))) b a
  read -r -a b <<<"$before"
  read -r -a a <<<"$after"
  {
    echo "bench: cpu_us_server=$(((a[0] - b[0]) * tick_us))"
    echo "bench: cpu_us_postgres=$(((a[1] - b[1]) * tick_us))"
    echo "bench: cpu_us_redis=$(((a[2] - b[2]) * tick_us))"
    echo "bench: machine_busy_pct=$((100 * (busy1 - busy0) / (total1 - total0 > 0 ? total1 - total0 : 1)))"
  } >>"$out"
  if [[ $endpoint == refresh_token ]]; then
    local used_max
    used_max=$(sed -n 's/^bench: used_max=//p' "$out")
    CURSOR[$target]=$((CURSOR[$target] + WRK_THREADS * ${used_max:-0}))
  fi
  log "run $run $endpoint $target: $("$VENV/python" "$BENCH/wrkstats.py" brief "$out")"
}

# Warm both (imports, pools, caches); not counted.
for target in peer idp; do
  measure "$target" client_credentials 0 >/dev/null 2>&1 || true
done
rm -f "$RESULTS"/raw/*/client_credentials.0.txt

for run in $(seq "$RUNS"); do
  for endpoint in "${ENDPOINTS[@]}"; do
    # Alternate who goes first: a slow drift of the machine's load favours neither.
    if ((run % 2)); then order=(peer idp); else order=(idp peer); fi
    for target in "${order[@]}"; do
      measure "$target" "$endpoint" "$run"
    done
  done
done

for pid in $(pgrep -P "$GUNICORN_PID" || true); do
  echo "- idp worker $pid RSS after the runs: $(($(awk '/^VmRSS/ {print $2}' "/proc/$pid/status") / 1024)) MiB" >>"$RESULTS/meta.md"
done
echo "- peer RSS after the runs: $(($(awk '/^VmRSS/ {print $2}' "/proc/$PEER_PID/status") / 1024)) MiB (holds every token in memory)" >>"$RESULTS/meta.md"
echo "- load average at end: $(cut -d' ' -f1-3 /proc/loadavg)" >>"$RESULTS/meta.md"

"$VENV/python" "$BENCH/wrkstats.py" compare "$RESULTS" | tee "$RESULTS/table.md"
cat "$RESULTS/meta.md"
log "results in $RESULTS"
