#!/usr/bin/env bash
# Production smoke run (SPEC §10): a fresh PostgreSQL database, DEBUG off, collected static
# files, `check --deploy`, then daphne + a real celery worker + celery beat on Redis, driven
# through the API. Called by .ci/run; can be run alone once PostgreSQL and Redis are up.
# Every process it starts is stopped on exit; on failure the tail of each log is printed.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

PORT="${SMOKE_PORT:-8765}"
BASE="http://127.0.0.1:$PORT"
PG="postgres://postgres@127.0.0.1:5432"
SMOKE_DB=pipecrm_smoke
REDIS_DB=1
LOG_DIR="test-artifacts/smoke"
PY=.venv/bin/python
BIN=.venv/bin
READY_TIMEOUT=60
EVENT_TIMEOUT=60

START=$SECONDS
PIDS=()

step() { printf '\n--> smoke: %s\n' "$*"; }
fail() { printf '\nsmoke: %s\n' "$*" >&2; exit 1; }

cleanup() {
    local status=$?
    set +e
    trap - EXIT INT TERM
    for pid in "${PIDS[@]}"; do kill -TERM -- "-$pid" 2>/dev/null; done
    local deadline=$((SECONDS + 20))
    for pid in "${PIDS[@]}"; do
        while kill -0 -- "-$pid" 2>/dev/null && [ $SECONDS -lt $deadline ]; do sleep 0.5; done
        kill -KILL -- "-$pid" 2>/dev/null
    done
    wait 2>/dev/null
    if [ $status -ne 0 ]; then
        for log in "$LOG_DIR"/*.log; do
            [ -f "$log" ] || continue
            printf '\n----- %s (last 60 lines) -----\n' "$log" >&2
            tail -n 60 "$log" >&2
        done
        printf '\nSMOKE FAILED (exit %s) after %ss; logs in %s/\n' \
            "$status" "$((SECONDS - START))" "$LOG_DIR" >&2
    fi
    exit $status
}
trap cleanup EXIT
trap 'exit 130' INT TERM

for tool in curl make psql createdb dropdb redis-cli setsid; do
    command -v "$tool" >/dev/null 2>&1 || fail "required tool not found: $tool"
done

step "install (no dev extra)"
make --no-print-directory install
mkdir -p "$LOG_DIR"
rm -f "$LOG_DIR"/*.log "$LOG_DIR"/*.json

# --- Production environment ----------------------------------------------------------------
random_string() {  # random_string <length>
    "$PY" -c 'import secrets, string, sys
alphabet = string.ascii_letters + string.digits + "-_!@%^*+="
print("".join(secrets.choice(alphabet) for _ in range(int(sys.argv[1]))))' "$1"
}
SMOKE_USER=smoke
SMOKE_PASSWORD="$(random_string 24)"
export DEBUG=0
SECRET_KEY="$(random_string 50)"
export SECRET_KEY
export ALLOWED_HOSTS=127.0.0.1,localhost
export DATABASE_URL="$PG/$SMOKE_DB"
export REDIS_URL="redis://127.0.0.1:6379/$REDIS_DB"
# Only the environment above decides; nothing inherited may switch engines.
unset CELERY_TASK_ALWAYS_EAGER CELERY_BROKER_URL SECURE_SSL_REDIRECT CSRF_TRUSTED_ORIGINS

step "fresh database $SMOKE_DB and Redis db $REDIS_DB"
dropdb -h 127.0.0.1 -U postgres --if-exists --force "$SMOKE_DB"
createdb -h 127.0.0.1 -U postgres "$SMOKE_DB"
redis-cli -h 127.0.0.1 -p 6379 -n "$REDIS_DB" flushdb >/dev/null

step "migrate"
"$PY" manage.py migrate --noinput
step "collectstatic"
"$PY" manage.py collectstatic --noinput --verbosity 0
step "check --deploy with the production defaults (SECURE_SSL_REDIRECT on)"
"$PY" manage.py check --deploy --fail-level WARNING

# The smoke run talks plain HTTP on loopback, so the servers must not redirect to https.
export SECURE_SSL_REDIRECT=0

step "create user $SMOKE_USER"
DJANGO_SUPERUSER_PASSWORD="$SMOKE_PASSWORD" "$PY" manage.py createsuperuser --noinput \
    --username "$SMOKE_USER" --email smoke@example.com

# --- Servers -------------------------------------------------------------------------------
start() {  # start <name> <command...>: own session/process group, output to <name>.log
    local name=$1
    shift
    setsid "$@" >"$LOG_DIR/$name.log" 2>&1 &
    PIDS+=("$!")
    printf '    started %s (pid %s): %s\n' "$name" "$!" "$*"
}
assert_running() {
    local pid
    for pid in "${PIDS[@]}"; do
        kill -0 "$pid" 2>/dev/null || fail "process $pid exited early (see its log)"
    done
}

step "start daphne, celery worker and celery beat"
# As the README's production deployment runs them: the web process with a pool of database
# connections, the worker and beat keeping theirs a minute.
start daphne env DB_POOL_MAX_SIZE=4 "$BIN/daphne" -b 127.0.0.1 -p "$PORT" config.asgi:application
start worker env DB_CONN_MAX_AGE=60 "$BIN/celery" -A config worker --loglevel=INFO --concurrency=2
start beat env DB_CONN_MAX_AGE=60 "$BIN/celery" -A config beat --loglevel=INFO

# --- HTTP helpers --------------------------------------------------------------------------
# request <method> <path> <expected status> [json body] [extra curl args...]: body -> $BODY
BODY=""
request() {
    local method=$1 path=$2 expected=$3 data=${4:-}
    shift 4 2>/dev/null || shift $#
    local out="$LOG_DIR/response.json" code
    local args=(-sS -o "$out" -w '%{http_code}' -X "$method" -H 'Accept: application/json')
    if [ -n "$data" ]; then args+=(-H "Content-Type: application/json" --data "$data"); fi
    code=$(curl "${args[@]}" "$@" "$BASE$path") || code="000"
    BODY=$(cat "$out" 2>/dev/null || true)
    if [ "$code" != "$expected" ]; then
        fail "$method $path answered $code, expected $expected: $BODY"
    fi
}
json_get() {  # json_get <key> : read $BODY
    printf '%s' "$BODY" | "$PY" -c 'import json, sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"
}
event_processed() {
    "$PY" manage.py shell -c '
from crm.models import Event
done = Event.objects.filter(name="person.created", status=Event.Status.PROCESSED).exists()
print("processed" if done else "pending")' 2>>"$LOG_DIR/shell.log" | grep -qx processed
}

step "wait for /healthz (database, cache/broker, worker heartbeat), ${READY_TIMEOUT}s max"
deadline=$((SECONDS + READY_TIMEOUT))
while :; do
    assert_running
    code=$(curl -s -o "$LOG_DIR/healthz.json" -w '%{http_code}' "$BASE/healthz") || code="000"
    [ "$code" = "200" ] && break
    [ $SECONDS -lt $deadline ] || fail "/healthz still $code after ${READY_TIMEOUT}s: $(cat "$LOG_DIR/healthz.json" 2>/dev/null)"
    sleep 1
done
printf '    /healthz 200 after %ss: %s\n' "$((SECONDS - START))" "$(cat "$LOG_DIR/healthz.json")"

step "static files and login page with DEBUG off"
request GET /static/vendor/htmx/htmx.min.js 200 ""
request GET /accounts/login/ 200 ""

step "API: token for $SMOKE_USER"
credentials=$(SMOKE_USER="$SMOKE_USER" SMOKE_PASSWORD="$SMOKE_PASSWORD" "$PY" -c \
    'import json, os; print(json.dumps({"username": os.environ["SMOKE_USER"], "password": os.environ["SMOKE_PASSWORD"]}))')
request POST /api/v1/auth/token/ 200 "$credentials"
TOKEN=$(json_get token)
[ -n "$TOKEN" ] || fail "no token in $BODY"

step "API: create a person"
request POST /api/v1/people/ 201 \
    '{"first_name": "Smoke", "last_name": "Test", "email": "smoke@example.com"}' \
    -H "Authorization: Token $TOKEN"
PERSON_ID=$(json_get id)
printf '    person %s created\n' "$PERSON_ID"

step "wait for the worker to process person.created, ${EVENT_TIMEOUT}s max"
deadline=$((SECONDS + EVENT_TIMEOUT))
until event_processed; do
    assert_running
    [ $SECONDS -lt $deadline ] || fail "person.created not processed after ${EVENT_TIMEOUT}s"
    sleep 2
done
printf '    person.created processed by the worker\n'

# --- Activities: an assignment through the API makes the real worker create the welcome task ---
welcome_task_created() {  # welcome_task_created <lead id>
    LEAD_ID="$1" "$PY" manage.py shell -v 0 -c '
import os
from activities.models import Activity
found = Activity.objects.filter(
    lead_id=os.environ["LEAD_ID"], subject__startswith="Welcome & review", is_system_activity=True
).exists()
print("created" if found else "pending")' 2>>"$LOG_DIR/shell.log" | grep -qx created
}

step "create sales rep smoke-rep"
REP_ID=$("$PY" manage.py shell -v 0 -c '
from django.contrib.auth.models import Group
from crm.models import User
rep, _ = User.objects.get_or_create(username="smoke-rep", defaults={"email": "rep@example.com"})
rep.groups.add(Group.objects.get(name="Sales Rep"))
print(rep.pk)' 2>>"$LOG_DIR/shell.log" | tail -n 1)
[[ "$REP_ID" =~ ^[0-9]+$ ]] || fail "could not create smoke-rep: $REP_ID"

step "API: create a lead, assign it to smoke-rep"
request POST /api/v1/leads/ 201 '{"name": "Smoke lead", "source": "web"}' \
    -H "Authorization: Token $TOKEN"
LEAD_ID=$(json_get id)
request POST "/api/v1/leads/$LEAD_ID/assign/" 200 "{\"user\": $REP_ID}" \
    -H "Authorization: Token $TOKEN"
printf '    lead %s assigned to user %s\n' "$LEAD_ID" "$REP_ID"

step "wait for the worker to create the \"Welcome & review\" task, ${EVENT_TIMEOUT}s max"
deadline=$((SECONDS + EVENT_TIMEOUT))
until welcome_task_created "$LEAD_ID"; do
    assert_running
    [ $SECONDS -lt $deadline ] || fail "no welcome task for lead $LEAD_ID after ${EVENT_TIMEOUT}s"
    sleep 2
done
request GET "/api/v1/activities/?lead=$LEAD_ID&is_system_activity=true" 200 "" \
    -H "Authorization: Token $TOKEN"
printf '    welcome task created by the worker: %s\n' "$(printf '%s' "$BODY" | "$PY" -c \
    'import json, sys; r = json.load(sys.stdin)["results"][0]; print(r["subject"], "->", r["assigned_to"], "due", r["due_at"])')"

step "/healthz again"
request GET /healthz 200 ""
printf '    %s\n' "$BODY"

printf '\nSMOKE PASSED in %ss\n' "$((SECONDS - START))"
