#!/usr/bin/env bash
# Token-lifecycle benchmark: idp under gunicorn on Postgres and Redis, driven by wrk.
#
#   bench/run_token_bench.sh [WORKERS...]        default: 1 2 4
#
# For each worker class and worker count it starts gunicorn on a random loopback port, runs
# wrk (Lua scripts in bench/lua/) against six endpoints, BENCH_RUNS times each, and prints
# the medians as Markdown (bench/wrkstats.py). Raw wrk outputs, logs and the table stay in
# BENCH_RESULTS.
#
# The machine has 2 cores and may be shared: before each run it waits (up to
# BENCH_QUIET_TIMEOUT s) for the machine to be idle, measures how much CPU other processes
# took during the run (bench/cpuwatch.py), and repeats a run in which they took more than
# BENCH_MAX_FOREIGN percent (at most BENCH_RETRIES times per run). Discarded runs are kept
# in RESULTS/discarded/.
#
# Knobs (environment, defaults in brackets), besides those in bench/lib.sh:
#   BENCH_WORKER_CLASSES ["sync gthread"]   BENCH_THREADS [4] threads per gthread worker
#   BENCH_RUNS [3]   BENCH_DURATION [10] seconds   BENCH_CONNECTIONS [50]   BENCH_WRK_THREADS [2]
#   BENCH_ENDPOINTS ["client_credentials refresh_token introspect userinfo discovery jwks"]
#   BENCH_REFRESH_RATE [400] refresh req/s to seed fresh tokens for, per run (and retry);
#     a run may draw up to 5 times that, and starts where the previous one stopped
#   BENCH_QUIET_TIMEOUT [60]   BENCH_MAX_FOREIGN [10]   BENCH_RETRIES [2]
#   BENCH_RESULTS [bench/results/<timestamp>]
set -euo pipefail
# shellcheck source=bench/lib.sh
source "$(dirname "$0")/lib.sh"

WORKER_COUNTS=("$@")
[[ ${#WORKER_COUNTS[@]} -gt 0 ]] || WORKER_COUNTS=(1 2 4)
read -r -a WORKER_CLASSES <<<"${BENCH_WORKER_CLASSES:-sync gthread}"
read -r -a ENDPOINTS <<<"${BENCH_ENDPOINTS:-client_credentials refresh_token introspect userinfo discovery jwks}"
THREADS=${BENCH_THREADS:-4}
RUNS=${BENCH_RUNS:-3}
DURATION=${BENCH_DURATION:-10}
CONNECTIONS=${BENCH_CONNECTIONS:-50}
WRK_THREADS=${BENCH_WRK_THREADS:-2}
REFRESH_RATE=${BENCH_REFRESH_RATE:-400}
QUIET_TIMEOUT=${BENCH_QUIET_TIMEOUT:-60}
MAX_FOREIGN=${BENCH_MAX_FOREIGN:-10}
RETRIES=${BENCH_RETRIES:-2}
RESULTS=${BENCH_RESULTS:-$BENCH/results/$(date +%Y%m%dT%H%M%S)}
COMMAND="BENCH_REF=${BENCH_REF:-} BENCH_WORKER_CLASSES=\"${WORKER_CLASSES[*]}\" BENCH_THREADS=$THREADS BENCH_RUNS=$RUNS BENCH_DURATION=$DURATION BENCH_CONNECTIONS=$CONNECTIONS BENCH_WRK_THREADS=$WRK_THREADS BENCH_RETRIES=$RETRIES BENCH_QUIET_TIMEOUT=$QUIET_TIMEOUT BENCH_MAX_FOREIGN=$MAX_FOREIGN bench/run_token_bench.sh ${WORKER_COUNTS[*]}"

# One measured run of $2 into $1, repeated while other processes took too much CPU.
measure() {
  local out=$1 endpoint=$2 attempt=0 foreign
  while true; do
    if ! bounded $((QUIET_TIMEOUT + 10)) "$VENV/python" "$BENCH/cpuwatch.py" wait-quiet \
      --timeout "$QUIET_TIMEOUT"; then
      log "machine still busy after ${QUIET_TIMEOUT}s; running anyway"
    fi
    "$VENV/python" "$BENCH/cpuwatch.py" snapshot "$WORK/cpu-before.json"
    if [[ $endpoint == refresh_token ]]; then
      # Pool lines no earlier run was given; the next run starts after the last one used.
      local allowance=$((POOL_SIZE - REFRESH_CURSOR))
      ((allowance <= 5 * REFRESH_RATE * DURATION)) || allowance=$((5 * REFRESH_RATE * DURATION))
      if ((allowance < REFRESH_RATE)); then
        log "refresh token pool used up: skipping $out"
        return 0
      fi
      run_wrk "$out" "$endpoint" "$DURATION" "$CONNECTIONS" "$WRK_THREADS" \
        "$REFRESH_CURSOR" "$allowance"
      local used_max
      used_max=$(sed -n 's/^bench: used_max=//p' "$out")
      REFRESH_CURSOR=$((REFRESH_CURSOR + WRK_THREADS * ${used_max:-$allowance}))
    else
      run_wrk "$out" "$endpoint" "$DURATION" "$CONNECTIONS" "$WRK_THREADS"
    fi
    "$VENV/python" "$BENCH/cpuwatch.py" snapshot "$WORK/cpu-after.json"
    "$VENV/python" "$BENCH/cpuwatch.py" foreign "$WORK/cpu-before.json" "$WORK/cpu-after.json" \
      --db "$DB_NAME" --pid $$ >>"$out"
    foreign=$(sed -n 's/^bench: foreign_cpu_pct=//p' "$out")
    foreign=${foreign:-0}
    log "$(basename "$(dirname "$out")") $(basename "$out" .txt):" \
      "$("$VENV/python" "$BENCH/wrkstats.py" brief "$out"), other processes ${foreign}%"
    if ((foreign <= MAX_FOREIGN || attempt >= RETRIES)); then
      return 0
    fi
    attempt=$((attempt + 1))
    mkdir -p "$RESULTS/discarded/$(basename "$(dirname "$out")")"
    mv "$out" "$RESULTS/discarded/$(basename "$(dirname "$out")")/$(basename "$out" .txt).try$attempt.txt"
    log "other processes took ${foreign}% of the machine: run again"
  done
}

mkdir -p "$RESULTS/raw" "$RESULTS/logs"
REFRESH_RUNS=0
if [[ " ${ENDPOINTS[*]} " == *" refresh_token "* ]]; then
  REFRESH_RUNS=$((RUNS * ${#WORKER_CLASSES[@]} * ${#WORKER_COUNTS[@]}))
fi
# Every run may be retried. Runs draw what they use, so the margin is for faster servers.
POOL_SIZE=$((REFRESH_RATE * DURATION * (REFRESH_RUNS * (RETRIES + 1) + 5)))
if ((REFRESH_RUNS == 0)); then POOL_SIZE=1; fi
REFRESH_CURSOR=0
log "results in $RESULTS"
setup_stack "$POOL_SIZE"
export BENCH_WEB_BASIC BENCH_SERVICE_BASIC BENCH_SERVICE_ACCESS_TOKEN BENCH_USER_ACCESS_TOKEN
{
  echo "# Benchmark run $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo
  echo "- command: \`$COMMAND\`"
  describe_machine
} >"$RESULTS/meta.md"

for worker_class in "${WORKER_CLASSES[@]}"; do
  for workers in "${WORKER_COUNTS[@]}"; do
    config=$worker_class-w$workers
    mkdir -p "$RESULTS/raw/$config"
    SERVER_LOG=$RESULTS/logs/gunicorn-$config.log
    log "$config: starting gunicorn"
    if [[ $worker_class == gthread ]]; then
      start_server "$worker_class" "$workers" --threads "$THREADS"
    else
      start_server "$worker_class" "$workers"
    fi
    # Warm every worker (imports, connection pool, SQLAlchemy statement cache); not counted.
    run_wrk "$RESULTS/logs/warmup-$config.txt" client_credentials 3 "$CONNECTIONS" "$WRK_THREADS"
    for endpoint in "${ENDPOINTS[@]}"; do
      for run in $(seq "$RUNS"); do
        measure "$RESULTS/raw/$config/$endpoint.$run.txt" "$endpoint"
      done
    done
    stop_server
  done
done

"$VENV/python" "$BENCH/wrkstats.py" table "$RESULTS" | tee "$RESULTS/table.md"
