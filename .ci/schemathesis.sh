#!/usr/bin/env bash
# Schema truth (SPEC §7): the API answers what its OpenAPI schema says. Serves the app in
# embedded mode (SQLite, in-memory channel layer and broker) with the demo data, signs in as
# the demo manager and runs `schemathesis run /api/schema/ --checks all` against it; every
# failure of any kind fails. Settings: .ci/schemathesis.toml.in. Called by .ci/run and `make
# schemathesis`; environment knobs:
#   SCHEMATHESIS_PORT          port of the server (default 8766)
#   SCHEMATHESIS_MAX_EXAMPLES  test cases per operation and phase (default 10)
#   SCHEMATHESIS_WORKERS       operations tested at once (default 1: Hypothesis is not safe
#                              in threads on every Python, and the server serves one at a time)
#   SCHEMATHESIS_TIME_LIMIT    seconds for both schemathesis runs together (default 300)
#   SCHEMATHESIS_SEED          a seed to replay a run (default: a new one each run)
#   SCHEMATHESIS_DATABASE_URL  another database (default: a fresh SQLite file)
# JUnit reports and the server log go to test-artifacts/schemathesis/.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

PORT="${SCHEMATHESIS_PORT:-8766}"
MAX_EXAMPLES="${SCHEMATHESIS_MAX_EXAMPLES:-10}"
WORKERS="${SCHEMATHESIS_WORKERS:-1}"
TIME_LIMIT="${SCHEMATHESIS_TIME_LIMIT:-300}"
SEED="${SCHEMATHESIS_SEED:-}"
BASE="http://127.0.0.1:$PORT"
BIN=.venv/bin
OUT=test-artifacts/schemathesis
READY_TIMEOUT=60

START=$SECONDS
SERVER_PID=""

say() { printf -- '--> schemathesis: %s\n' "$*"; }
fail() { printf '\nschemathesis: %s\n' "$*" >&2; exit 1; }

cleanup() {
    local status=$?
    set +e
    trap - EXIT INT TERM
    if [ -n "$SERVER_PID" ]; then
        kill -TERM -- "-$SERVER_PID" 2>/dev/null
        local deadline=$((SECONDS + 15))
        while kill -0 -- "-$SERVER_PID" 2>/dev/null && [ $SECONDS -lt $deadline ]; do sleep 0.2; done
        kill -KILL -- "-$SERVER_PID" 2>/dev/null
        wait "$SERVER_PID" 2>/dev/null
    fi
    if [ $status -ne 0 ]; then
        printf '\n----- %s/server.log (last 40 lines) -----\n' "$OUT" >&2
        tail -n 40 "$OUT/server.log" >&2 2>/dev/null
        printf '\nSCHEMATHESIS FAILED (exit %s) after %ss; reports in %s/\n' \
            "$status" "$((SECONDS - START))" "$OUT" >&2
    fi
    exit $status
}
trap cleanup EXIT
trap 'exit 130' INT TERM

for tool in curl setsid timeout "$BIN/schemathesis" "$BIN/uvicorn"; do
    command -v "$tool" >/dev/null 2>&1 || fail "required tool not found: $tool (make install-dev)"
done

rm -rf "$OUT"
mkdir -p "$OUT"

# Embedded mode, whatever the calling environment set; only the database may be chosen.
# Celery tasks are queued in memory and not run: no event handler or webhook delivery (to the
# URLs the run subscribes) works behind a response, so each answers in its own time.
unset REDIS_URL CELERY_BROKER_URL SECURE_SSL_REDIRECT
export DEBUG=1 CELERY_TASK_ALWAYS_EAGER=0
# Throttles stay on (a 429 is documented), but high enough that the AI endpoints and the token
# endpoint are tested behind them rather than mostly answering 429.
export THROTTLE_AI=100000/minute THROTTLE_LOGIN=100000/minute
export THROTTLE_CAPTURE=100000/minute THROTTLE_CAPTURE_FORM=100000/minute
export DATABASE_URL="${SCHEMATHESIS_DATABASE_URL:-sqlite:///$PWD/$OUT/db.sqlite3}"

say "migrate and seed the demo data"
"$BIN/python" manage.py migrate --noinput -v 0
"$BIN/python" manage.py seed_demo >"$OUT/seed.log"

# The ids the settings name (.ci/schemathesis.toml.in): the users whose role may own records,
# spare API tokens of the demo manager, the key of a capture form that asks only for the email
# (which fields a form requires is data, not schema); then the manager's token that the run
# signs in with.
"$BIN/python" manage.py shell -v 0 -c '
from crm import tokens
from crm.models import User
owners = User.objects.filter(username__in=["admin", "manager", "rep1", "rep2"]).order_by("pk")
manager = User.objects.get(username="manager")
spares = [tokens.token_create(by=manager, name=f"spare {i}")[0].pk for i in range(1, 6)]
print("owners=" + ", ".join(str(pk) for pk in owners.values_list("pk", flat=True)))
print("spares=" + ", ".join(str(pk) for pk in spares))
from leads.capture.services import capture_form_create
print("capture=" + capture_form_create(by=manager, name="Schemathesis", fields=[]).key)
print("token=" + tokens.token_create(by=manager, name="schemathesis")[1])' >"$OUT/ids.txt"
ids() { sed -n "s/^$1=//p" "$OUT/ids.txt"; }
OWNER_IDS=$(ids owners)
SPARE_TOKEN_IDS=$(ids spares)
TOKEN=$(ids token)
CAPTURE_KEY=$(ids capture)
[ -n "$OWNER_IDS" ] && [ -n "$SPARE_TOKEN_IDS" ] && [ -n "$TOKEN" ] && [ -n "$CAPTURE_KEY" ] ||
    fail "could not read the demo ids: $(cat "$OUT/ids.txt")"
sed -e "s/@OWNER_IDS@/$OWNER_IDS/" -e "s/@SPARE_TOKEN_IDS@/$SPARE_TOKEN_IDS/" \
    -e "s/@CAPTURE_KEY@/$CAPTURE_KEY/" .ci/schemathesis.toml.in >"$OUT/schemathesis.toml"

say "start the server on $BASE"
setsid "$BIN/uvicorn" --host 127.0.0.1 --port "$PORT" --no-access-log config.asgi:application \
    >"$OUT/server.log" 2>&1 &
SERVER_PID=$!

deadline=$((SECONDS + READY_TIMEOUT))
until curl -fsS -o /dev/null "$BASE/api/schema/"; do
    kill -0 "$SERVER_PID" 2>/dev/null || fail "the server exited (see $OUT/server.log)"
    [ $SECONDS -lt $deadline ] || fail "no schema at $BASE/api/schema/ after ${READY_TIMEOUT}s"
    sleep 0.5
done

# Two runs, every operation in one of them, all checks in both. The custom field definitions
# change the schema itself (it lists each type's fields): the first run leaves them alone, the
# second changes only them, so no record write meets a field defined after the schema was read.
DEFINITIONS='^custom_fields_(create|update|partial_update|activate_create|deactivate_create|reorder_create)$'
run_pass() {  # run_pass <name> <filter option> <regex>
    local name=$1 status=0
    local args=(
        --config-file "$OUT/schemathesis.toml"
        run "$BASE/api/schema/" "$2" "$3"
        --checks all
        --max-examples "$MAX_EXAMPLES"
        --workers "$WORKERS"
        --header "Authorization: Token $TOKEN"
        --report junit --report-junit-path "$OUT/junit-$name.xml"
        --no-color
    )
    [ -n "$SEED" ] && args+=(--seed "$SEED")
    say "$name: schemathesis --checks all, $MAX_EXAMPLES examples per operation"
    timeout --kill-after=10 "$((DEADLINE - SECONDS))" "$BIN/schemathesis" "${args[@]}" ||
        status=$?
    if [ $status -eq 124 ] || [ $status -eq 137 ]; then
        fail "schemathesis did not finish within ${TIME_LIMIT}s"
    fi
    [ $status -eq 0 ] || fail "$name: schemathesis found failures (exit $status)"
    # Exit 0 must also mean that something was tested and nothing failed or errored.
    "$BIN/python" - "$OUT/junit-$name.xml" <<'PY' || fail "$name: the JUnit report shows no clean run"
import sys
import xml.etree.ElementTree as ET

root = ET.parse(sys.argv[1]).getroot()
suites = [root] if root.tag == "testsuite" else root.findall("testsuite")
tests = sum(int(s.get("tests", 0)) for s in suites)
failures = sum(int(s.get("failures", 0)) for s in suites)
errors = sum(int(s.get("errors", 0)) for s in suites)
print(f"    JUnit: {tests} operations, {failures} failures, {errors} errors")
sys.exit(1 if tests == 0 or failures or errors else 0)
PY
}

DEADLINE=$((SECONDS + TIME_LIMIT))
run_pass records --exclude-operation-id-regex "$DEFINITIONS"
run_pass definitions --include-operation-id-regex "$DEFINITIONS"

printf '\nSCHEMATHESIS PASSED in %ss\n' "$((SECONDS - START))"
