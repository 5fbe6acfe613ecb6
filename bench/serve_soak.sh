#!/usr/bin/env bash
# Worker memory under `idp serve --production` over a soak: RSS of every worker each minute.
#
#   bench/serve_soak.sh [MINUTES]          default 10
#
# On its own stack (bench/lib.sh), wrk drives client_credentials, userinfo and refresh
# rotation in turn (BENCH_CONNECTIONS [4] connections, so the machine keeps some room), one
# minute each, round after round; every minute prints each worker's RSS. Everything is
# stopped by PID at the end.
set -euo pipefail
# shellcheck source=bench/lib.sh
source "$(dirname "$0")/lib.sh"

MINUTES=${1:-10}
CONNECTIONS=${BENCH_CONNECTIONS:-4}
# Refresh runs one minute in three; 300/s is above what 4 connections reach here.
POOL_SIZE=$(((MINUTES + 2) / 3 * 60 * 300))
setup_stack "$POOL_SIZE"
export BENCH_WEB_BASIC BENCH_SERVICE_BASIC BENCH_SERVICE_ACCESS_TOKEN BENCH_USER_ACCESS_TOKEN
(cd "$WORK" && exec "$VENV/idp" serve --production --host 127.0.0.1 --port "$PORT") \
  >"$WORK/idp.log" 2>&1 &
GUNICORN_PID=$! # lib.sh's stop_server stops it and its workers by PID
for _ in $(seq 300); do curl -sf -o /dev/null "$ISSUER/healthz" && break; sleep 0.1; done

rss() {
  local pid line=""
  for pid in $(pgrep -P "$GUNICORN_PID"); do
    line+=" $pid=$(($(awk '/^VmRSS/ {print $2}' "/proc/$pid/status") / 1024))MiB"
  done
  echo "$line"
}

echo "minute 0: workers$(rss)"
CURSOR=0
endpoints=(client_credentials userinfo refresh_token)
for minute in $(seq "$MINUTES"); do
  endpoint=${endpoints[$(((minute - 1) % 3))]}
  if [[ $endpoint == refresh_token ]]; then
    run_wrk "$WORK/soak.txt" refresh_token 60 "$CONNECTIONS" 1 "$CURSOR" $((POOL_SIZE - CURSOR))
    CURSOR=$((CURSOR + $(sed -n 's/^bench: used_max=//p' "$WORK/soak.txt")))
  else
    run_wrk "$WORK/soak.txt" "$endpoint" 60 "$CONNECTIONS" 1
  fi
  echo "minute $minute ($endpoint: $("$VENV/python" "$BENCH/wrkstats.py" brief "$WORK/soak.txt")): workers$(rss)"
done
