# Shared by bench/run_token_bench.sh and bench/profile_token.sh (sourced, not run).
#
# Gives: a throw-away stack (own Postgres database, Redis key prefix, signing key, seeded
# rows, optionally a git snapshot of the code), gunicorn start/stop by PID, time-limited
# commands, and one EXIT trap that removes all of it however the script ends.
#
# Common knobs: PGHOST [127.0.0.1] PGPORT [5432] PGUSER [postgres]
#   BENCH_REDIS_URL [redis://127.0.0.1:6379/14]
#   BENCH_RATE_LIMIT_TOKEN [100000/second] idp's per-IP limit on the token endpoints
#   BENCH_REF [unset] a git ref to measure instead of the working tree: exported with
#     git archive to a temporary directory put first on PYTHONPATH, so edits in progress
#     under idp/ neither break nor colour the figures.

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH=$ROOT/bench
VENV=$ROOT/.venv/bin

export PGHOST=${PGHOST:-127.0.0.1} PGPORT=${PGPORT:-5432} PGUSER=${PGUSER:-postgres}
REDIS_URL=${BENCH_REDIS_URL:-redis://127.0.0.1:6379/14}
RUN_ID=$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')
DB_NAME=idp_bench_$RUN_ID
REDIS_PREFIX="idp-bench-$RUN_ID:"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/idp-bench.XXXXXX")
SRC=$ROOT
DB_CREATED=""
GUNICORN_PID=""
CHILD_PID=""
BACKGROUND_PIDS=()
SERVER_LOG=/dev/null

log() { printf '[bench %s] %s\n' "$(date +%T)" "$*" >&2; }

stop_server() {
  [[ -n $GUNICORN_PID ]] || return 0
  local workers pid
  workers=$(pgrep -P "$GUNICORN_PID" || true)
  kill -TERM "$GUNICORN_PID" 2>/dev/null || true
  for _ in $(seq 100); do
    kill -0 "$GUNICORN_PID" 2>/dev/null || break
    sleep 0.1
  done
  # The master had 10 s to stop its workers; whatever is left goes now, by PID.
  for pid in $GUNICORN_PID $workers; do
    if kill -0 "$pid" 2>/dev/null; then kill -KILL "$pid" 2>/dev/null || true; fi
  done
  wait "$GUNICORN_PID" 2>/dev/null || true
  GUNICORN_PID=""
}

cleanup() {
  local status=$?
  set +e
  trap - EXIT INT TERM
  local pid
  for pid in $CHILD_PID "${BACKGROUND_PIDS[@]}"; do
    kill -TERM "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
  done
  stop_server
  if [[ -n $DB_CREATED ]]; then
    timeout 60 dropdb --if-exists --force "$DB_NAME" || log "could not drop database $DB_NAME"
  fi
  timeout 30 redis-cli -u "$REDIS_URL" --scan --pattern "${REDIS_PREFIX}*" |
    xargs -r timeout 30 redis-cli -u "$REDIS_URL" del >/dev/null
  rm -rf "$WORK"
  [[ $status -eq 0 ]] || log "failed (exit $status)"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Run a command with a time limit, in the background so INT/TERM reach the trap at once.
bounded() {
  local seconds=$1
  shift
  timeout --kill-after=5 "$seconds" "$@" &
  CHILD_PID=$!
  local status=0
  wait "$CHILD_PID" || status=$?
  CHILD_PID=""
  return "$status"
}

# Database, key, environment and seed rows for a server at $ISSUER; $1 refresh tokens.
setup_stack() {
  local refresh_tokens=$1
  if [[ -n ${BENCH_REF:-} ]]; then
    SRC=$WORK/src
    mkdir -p "$SRC"
    git -C "$ROOT" archive "$BENCH_REF" | tar -x -C "$SRC"
    export PYTHONPATH=$SRC${PYTHONPATH:+:$PYTHONPATH}
  fi
  PORT=$("$VENV/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  ISSUER=http://127.0.0.1:$PORT
  export DATABASE_URL="postgresql://$PGUSER@$PGHOST:$PGPORT/$DB_NAME"
  export REDIS_URL IDP_REDIS_PREFIX=$REDIS_PREFIX IDP_ISSUER=$ISSUER IDP_KEYS_DIR=$WORK/keys
  export IDP_ENV=development
  IDP_SECRET_KEY=$(od -An -N32 -tx1 /dev/urandom | tr -d ' \n')
  export IDP_SECRET_KEY
  # A full run outlasts the default 15-minute access token; the lifetime does not change
  # what a request costs.
  export IDP_ACCESS_TOKEN_TTL=86400
  # All load comes from one address, and the default per-IP limit on /token, /revoke and
  # /introspect (100/second) would answer most of it 429. A limit it never reaches keeps
  # the limiter's own cost (a Redis round trip per request) in the figures.
  export IDP_RATE_LIMIT_TOKEN=${BENCH_RATE_LIMIT_TOKEN:-100000/second}
  # gunicorn.conf.py makes a Prometheus directory with mkdtemp (even when this is set) and
  # never removes it: both go under $WORK, which the trap removes.
  export PROMETHEUS_MULTIPROC_DIR=$WORK/metrics
  mkdir -p "$PROMETHEUS_MULTIPROC_DIR" "$WORK/tmp"

  log "database $DB_NAME, issuer $ISSUER, code: $(source_description)"
  bounded 60 createdb "$DB_NAME"
  DB_CREATED=1
  bounded 120 "$VENV/idp" db upgrade >/dev/null 2>&1
  bounded 60 "$VENV/idp" keys generate >/dev/null
  log "seeding $refresh_tokens refresh tokens"
  bounded 900 "$VENV/python" "$BENCH/seed.py" --out "$WORK" --refresh-tokens "$refresh_tokens" >&2
  # shellcheck source=/dev/null
  source "$WORK/bench.env"
}

source_description() {
  if [[ -n ${BENCH_REF:-} ]]; then
    echo "git archive of $BENCH_REF = $(git -C "$ROOT" rev-parse --short "$BENCH_REF")"
  else
    echo "working tree at $(git -C "$ROOT" rev-parse --short HEAD)," \
      "$(git -C "$ROOT" status --porcelain -- idp migrations wsgi.py | wc -l) files changed under idp/, migrations/, wsgi.py"
  fi
}

# gunicorn on $PORT: $1 worker class, $2 workers, then extra gunicorn arguments.
start_server() {
  local worker_class=$1 workers=$2
  shift 2
  local args=(--workers "$workers" --worker-class "$worker_class" --bind "127.0.0.1:$PORT"
    --chdir "$SRC" --graceful-timeout 5 --timeout 60 --log-level warning "$@")
  # The production settings when the code has them (JSON access log, metrics); the options
  # above override its workers, worker class, bind and timeouts.
  if [[ -f $SRC/gunicorn.conf.py ]]; then args+=(--config "$SRC/gunicorn.conf.py"); fi
  # Started from $SRC: gunicorn puts its working directory ahead of --chdir on sys.path.
  # No control socket: its default path is shared by every gunicorn of this user.
  (cd "$SRC" && TMPDIR=$WORK/tmp exec "$VENV/gunicorn" "${args[@]}" --no-control-socket wsgi:app) \
    >>"$SERVER_LOG" 2>&1 &
  GUNICORN_PID=$!
  # Ready = every worker forked and one of them answering.
  for _ in $(seq 300); do
    kill -0 "$GUNICORN_PID" 2>/dev/null || { log "gunicorn exited; see $SERVER_LOG"; return 1; }
    if [[ $(pgrep -c -P "$GUNICORN_PID" || true) -ge $workers ]] &&
      curl -sf -o /dev/null --max-time 2 "$ISSUER/.well-known/openid-configuration"; then
      return 0
    fi
    sleep 0.1
  done
  log "gunicorn not ready after 30 s"
  return 1
}

# The wrk command line for one endpoint, into WRK_CMD: $1 endpoint, $2 seconds,
# $3 connections, $4 wrk threads, and for refresh_token $5 the first pool line to use and
# $6 how many lines from there.
wrk_command() {
  local endpoint=$1 seconds=$2 connections=$3 threads=$4
  local script="" path args=()
  case $endpoint in
    client_credentials) script=client_credentials.lua path=/token ;;
    refresh_token)
      script=refresh_token.lua path=/token
      args=(-- "$WORK/refresh_tokens.txt" "$5" "$6" "$threads")
      ;;
    introspect) script=introspect.lua path=/introspect ;;
    userinfo) script=userinfo.lua path=/userinfo ;;
    discovery) path=/.well-known/openid-configuration ;;
    jwks) path=/jwks.json ;;
    *)
      log "unknown endpoint $endpoint"
      return 1
      ;;
  esac
  WRK_CMD=(wrk --threads "$threads" --connections "$connections" --duration "${seconds}s"
    --timeout 2s --latency)
  if [[ -n $script ]]; then WRK_CMD+=(--script "$BENCH/lua/$script"); fi
  WRK_CMD+=("$ISSUER$path" "${args[@]}")
}

# wrk_command's arguments after $1, the file that gets wrk's report; time-limited.
run_wrk() {
  local out=$1
  shift
  wrk_command "$@"
  bounded $(($2 + 30)) "${WRK_CMD[@]}" >"$out"
}

describe_machine() {
  cat <<EOF
- code: $(source_description)
- nproc: $(nproc); CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'); memory: $(free -h | awk '/^Mem:/ {print $2}')
- kernel: $(uname -r); Python: $("$VENV/python" -c 'import sys; print(sys.version.split()[0])'); $("$VENV/gunicorn" --version 2>&1); $(wrk --version 2>&1 | head -1 | awk '{print $1, $2}')
- PostgreSQL $(psql -Atc 'show server_version' postgres) (synchronous_commit=$(psql -Atc 'show synchronous_commit' postgres)); Redis $(redis-cli -u "$REDIS_URL" info server | awk -F: '/^redis_version/ {print $2}' | tr -d '\r')
EOF
}
