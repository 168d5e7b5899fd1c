"""Behaviour when a dependency fails (issue 21): the fault suite (``python -m loadtest chaos``)
found these against the running stack; here each is pinned down in-process.

- Redis down or hung: the cache reads as empty and stores nothing (``crm.cache``), the API
  and ``/healthz`` answer (503 naming the cache and broker for the latter), event dispatch
  and realtime publishing stop waiting on it for a while and leave the work to the outbox.
- PostgreSQL down: a 503 with the error envelope, not a 500 and a traceback.
- Realtime publishing runs right after commit (``inline`` handlers), once.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from unittest import mock

import pytest
from django.db import OperationalError
from django.test import RequestFactory, override_settings
from django.utils import timezone
from redis.exceptions import ConnectionError as RedisConnectionError

from crm import events, realtime
from crm.cache import ResilientRedisCache, _down_until
from crm.middleware import unavailable_part
from crm.models import Event, HandlerRun

ROOT = Path(__file__).resolve().parents[2]


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def dead_cache():
    """The Redis cache backend pointed at a port nothing listens on."""
    cache = ResilientRedisCache(
        f"redis://127.0.0.1:{closed_port()}/0",
        {
            "FAILURE_BACKOFF": 30,
            "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5},
        },
    )
    yield cache
    _down_until.clear()


@pytest.fixture
def fresh_breakers():
    yield
    events.BROKER.reset()
    realtime.LAYER.reset()
    _down_until.clear()


# --- the cache --------------------------------------------------------------------------------
def test_a_dead_redis_reads_as_an_empty_cache_and_drops_writes(dead_cache):
    assert dead_cache.get("k") is None
    assert dead_cache.get("k", "fallback") == "fallback"
    assert dead_cache.get("k", default=3) == 3
    dead_cache.set("k", 1)
    assert dead_cache.get_many(["a", "b"]) == {}
    assert dead_cache.delete("k") is False
    assert dead_cache.set_many({"a": 1, "b": 2}) == ["a", "b"]
    assert dead_cache.has_key("k") is False
    # Claims succeed: work that a claim guards must not be dropped silently.
    assert dead_cache.add("claim", 1) is True
    with pytest.raises(ValueError):
        dead_cache.incr("counter")


def test_after_a_failure_redis_is_left_alone_for_the_backoff_in_every_thread(dead_cache):
    client = dead_cache._cache
    with mock.patch.object(client, "get", wraps=client.get) as asked:
        dead_cache.get("k")
        dead_cache.get("k")
    assert asked.call_count == 1
    # Django makes a backend per thread (a request's, under ASGI): the failure is known to all.
    other = ResilientRedisCache(dead_cache._location, {"OPTIONS": {}})
    with mock.patch.object(other._cache, "get") as asked_again:
        assert other.get("k") is None
    asked_again.assert_not_called()


def test_ping_asks_redis_itself(dead_cache):
    dead_cache.get("k")  # in its backoff now: ping still asks Redis, and says it is down
    with pytest.raises(RedisConnectionError):
        dead_cache.ping()


@override_settings(CELERY_TASK_ALWAYS_EAGER=False)
def test_healthz_answers_503_naming_the_cache_and_broker_when_redis_is_down(client, db, dead_cache):
    from config.celery import app

    with (
        mock.patch("crm.views.cache", dead_cache),
        mock.patch.object(app, "connection_for_write", side_effect=RedisConnectionError("refused")),
    ):
        response = client.get("/healthz")
    assert response.status_code == 503
    checks = response.json()["checks"]
    assert checks["database"]["ok"] is True
    assert checks["cache"]["ok"] is False and "Error" in checks["cache"]["error"]
    assert checks["broker"] == {"ok": False, "error": "refused"}
    assert checks["worker"]["ok"] is False


# --- a dependency down while a request runs ---------------------------------------------------
def test_outage_errors_are_told_apart_from_bugs():
    assert unavailable_part(OperationalError("connection refused")) == "database"
    assert unavailable_part(RedisConnectionError("refused")) == "cache/broker"
    assert unavailable_part(ValueError("a bug")) is None
    assert unavailable_part(KeyError("a bug")) is None


def test_the_api_answers_503_with_the_error_envelope_when_the_database_is_down(api_as, manager):
    with mock.patch("leads.selectors.lead_list", side_effect=OperationalError("refused")):
        response = api_as(manager).get("/api/v1/leads/")
    assert response.status_code == 503
    assert response["Retry-After"] == "5"
    error = response.json()["error"]
    assert error["code"] == "service_unavailable"
    assert error["details"] == {"unavailable": ["database"]}
    assert error["trace_id"]


def test_pages_and_htmx_regions_answer_503_when_redis_is_needed_and_down(web, manager):
    client = web(manager)
    down = RedisConnectionError("refused")
    with mock.patch("crm.records.tables.filtered", side_effect=down):
        region = client.get("/leads/", HTTP_HX_REQUEST="true")
        page = client.get("/leads/")
    assert region.status_code == 503
    assert region.json()["error"]["details"] == {"unavailable": ["cache/broker"]}
    assert page.status_code == 503
    assert b"briefly unavailable" in page.content
    assert page["Retry-After"] == "5"


def test_a_bug_is_still_a_500(web, manager):
    client = web(manager)
    client.raise_request_exception = False
    with mock.patch("crm.records.tables.filtered", side_effect=KeyError("bug")):
        response = client.get("/leads/")
    assert response.status_code == 500


def test_an_outage_met_outside_a_view_is_a_503_too(db):
    from crm.rest import server_error

    request = RequestFactory().get("/api/v1/leads/")
    try:
        raise OperationalError("the database system is shutting down")
    except OperationalError:
        response = server_error(request)
    assert response.status_code == 503
    assert json.loads(response.content)["error"]["code"] == "service_unavailable"


# --- the outbox with the broker down ------------------------------------------------------------
def test_dispatch_leaves_events_to_the_redispatch_while_the_broker_is_down(db, fresh_breakers):
    from crm.tasks import process_event

    first = Event.objects.create(name="person.created", payload={})
    second = Event.objects.create(name="person.created", payload={})
    with mock.patch.object(process_event, "delay", side_effect=OSError("broker down")) as delay:
        events.dispatch(first.pk)
        events.dispatch(second.pk)  # within the backoff: not even tried
    assert delay.call_count == 1
    assert Event.objects.get(pk=second.pk).dispatch_count == 0
    old = timezone.now() - timedelta(minutes=5)
    Event.objects.update(created_at=old, last_dispatched_at=old)
    with mock.patch.object(process_event, "delay") as delay:
        assert events.redispatch_stale() == 2  # the re-dispatch tries the broker again
    assert delay.call_count == 2


def test_the_redispatch_delay_is_a_setting(db, settings):
    ten_seconds_ago = timezone.now() - timedelta(seconds=10)
    Event.objects.create(
        name="person.created",
        payload={},
        created_at=ten_seconds_ago,
        last_dispatched_at=ten_seconds_ago,
    )
    with mock.patch("crm.tasks.process_event.delay") as delay:
        assert events.redispatch_stale() == 0  # the default: a minute
        settings.EVENT_REDISPATCH_AFTER = 5
        assert events.redispatch_stale() == 1
    delay.assert_called_once()


def test_realtime_publishing_waits_on_a_failed_channel_layer_once_per_backoff(fresh_breakers):
    def timed_out(coroutine, timeout=None):
        coroutine.close()
        raise TimeoutError

    with (
        mock.patch("crm.realtime.get_channel_layer", return_value=mock.Mock()),
        mock.patch.object(realtime._publisher, "run", side_effect=timed_out) as run,
    ):
        realtime.send_to_groups(["board.1"], {"type": "realtime.change"})
        realtime.send_to_groups(["board.1"], {"type": "realtime.change"})
    assert run.call_count == 1


# --- inline handlers (realtime publishing right after commit) -------------------------------
class _Now:
    """Runs what is submitted at once (the inline runner's thread, made synchronous)."""

    def submit(self, fn, *args):
        fn(*args)


@pytest.fixture
def inline_handler():
    state = {"calls": [], "fail": False}

    def publish(event):
        if state["fail"]:
            raise RuntimeError("channel layer down")
        state["calls"].append(event.pk)

    key = state["key"] = events.handler_key(publish)
    events.handles("person.created", inline=True)(publish)
    yield state
    events._registry["person.created"].pop(key, None)
    events._inline.discard(key)


def _emit(capture):
    with capture(execute=True), mock.patch("crm.tasks.process_event.delay"):
        return events.emit("person.created", person_id="p1")


@override_settings(CELERY_TASK_ALWAYS_EAGER=False)
def test_an_inline_handler_runs_after_commit_and_once(
    db, inline_handler, django_capture_on_commit_callbacks
):
    with mock.patch("crm.events._inline_runner", return_value=_Now()):
        event = _emit(django_capture_on_commit_callbacks)
    assert inline_handler["calls"] == [event.pk]
    run = HandlerRun.objects.get(event=event, handler=inline_handler["key"])
    assert run.status == HandlerRun.Status.SUCCEEDED and run.attempts == 1
    events.process(event.pk)  # the worker reaches the event: the handler does not run again
    assert inline_handler["calls"] == [event.pk]
    assert Event.objects.get(pk=event.pk).status == Event.Status.PROCESSED


@override_settings(CELERY_TASK_ALWAYS_EAGER=False)
def test_an_inline_handler_that_fails_is_left_to_the_worker(
    db, inline_handler, django_capture_on_commit_callbacks
):
    inline_handler["fail"] = True
    with mock.patch("crm.events._inline_runner", return_value=_Now()):
        event = _emit(django_capture_on_commit_callbacks)  # the commit is not disturbed
    run = HandlerRun.objects.get(event=event, handler=inline_handler["key"])
    assert run.status == HandlerRun.Status.FAILED
    inline_handler["fail"] = False
    events.process(event.pk)
    assert inline_handler["calls"] == [event.pk]


def test_with_tasks_in_process_nothing_runs_apart(
    db, inline_handler, django_capture_on_commit_callbacks
):
    runner = mock.Mock()
    with (
        mock.patch("crm.events._inline_runner", return_value=runner),
        django_capture_on_commit_callbacks(execute=True),
    ):
        events.emit("person.created", person_id="p1")
    runner.submit.assert_not_called()
    assert len(inline_handler["calls"]) == 1  # run with the others, by the eager task


# --- the worker through a Redis outage ------------------------------------------------------------
def test_requeueing_through_a_closed_transport_does_not_end_the_worker(caplog):
    from crm.broker import tolerant_restore

    def closed(self, client=None):
        raise AttributeError("'NoneType' object has no attribute 'hostname'")

    assert tolerant_restore(closed)(object()) is None
    assert "Redis redelivers them" in caplog.text
    assert tolerant_restore(lambda self, client=None: ["unrestored"])(object()) == ["unrestored"]


def test_the_worker_runs_with_the_tolerant_requeue():
    from kombu.transport import redis as kombu_redis

    import config.celery  # noqa: F401 - what every worker imports

    assert kombu_redis.QoS.restore_unacked.pipecrm_tolerant


# --- settings -------------------------------------------------------------------------------------
def test_timeouts_reach_the_database_redis_and_broker_settings():
    env = {
        **{k: v for k, v in os.environ.items() if k not in {"DEBUG", "SECRET_KEY"}},
        "DATABASE_URL": "postgres://u@127.0.0.1:9/pipecrm",
        "REDIS_URL": "redis://127.0.0.1:9/0",
        "DB_STATEMENT_TIMEOUT": "30",
        "REDIS_TIMEOUT": "1.5",
    }
    code = (
        "import json, config.settings as s; print(json.dumps({"
        "'db': s.DATABASES['default']['OPTIONS'], 'age': s.DATABASES['default']['CONN_MAX_AGE'],"
        "'checks': s.DATABASES['default']['CONN_HEALTH_CHECKS'], 'cache': s.CACHES['default'],"
        "'layer': s.CHANNEL_LAYERS['default']['CONFIG']['hosts'][0],"
        "'broker': s.CELERY_BROKER_TRANSPORT_OPTIONS,"
        "'publish': s.CELERY_TASK_PUBLISH_RETRY_POLICY,"
        "'acks_late': s.CELERY_TASK_ACKS_LATE, 'prefetch': s.CELERY_WORKER_PREFETCH_MULTIPLIER}))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout.strip().splitlines()[-1])
    assert found["db"] == {
        "connect_timeout": 5,
        # Page queries run without parallel workers (DB_PARALLEL_WORKERS, default 0).
        "options": "-c statement_timeout=30000 -c max_parallel_workers_per_gather=0",
    }
    assert found["age"] == 0 and found["checks"] is True
    assert found["cache"]["BACKEND"] == "crm.cache.ResilientRedisCache"
    assert found["cache"]["OPTIONS"] == {"socket_connect_timeout": 1.5, "socket_timeout": 1.5}
    assert found["layer"]["socket_connect_timeout"] == 1.5
    assert found["layer"]["socket_timeout"] == 30  # outlasts channels_redis' blocking pop
    assert found["broker"]["socket_timeout"] == 2.0
    assert found["publish"] == {"max_retries": 0}
    assert found["acks_late"] is True and found["prefetch"] == 1


def _settings(env_update: dict, code: str) -> subprocess.CompletedProcess:
    env = {
        **{k: v for k, v in os.environ.items() if k not in {"DEBUG", "SECRET_KEY"}},
        "DATABASE_URL": "postgres://u@127.0.0.1:9/pipecrm",
        **env_update,
    }
    return subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )


def test_a_web_process_can_keep_a_bounded_pool_of_connections():
    code = "import json, config.settings as s; print(json.dumps(s.DATABASES['default']['OPTIONS']))"
    result = _settings({"DB_POOL_MAX_SIZE": "8", "DB_POOL_TIMEOUT": "4"}, code)
    assert result.returncode == 0, result.stderr
    pool = json.loads(result.stdout.strip().splitlines()[-1])["pool"]
    assert pool == {
        "min_size": 2,
        "max_size": 8,
        "timeout": 4.0,
        "max_idle": 300,
        "max_lifetime": 3600,
    }
    # Off by default (a Celery prefork worker must not inherit one).
    result = _settings({}, code)
    assert "pool" not in json.loads(result.stdout.strip().splitlines()[-1])
    # A pool hands connections out per request: kept connections would contradict it.
    result = _settings({"DB_POOL_MAX_SIZE": "8", "DB_CONN_MAX_AGE": "60"}, code)
    assert result.returncode != 0 and "DB_POOL_MAX_SIZE needs DB_CONN_MAX_AGE=0" in result.stderr


def test_with_redis_sessions_are_read_from_the_cache_and_kept_in_the_database():
    code = (
        "import os; os.environ['DJANGO_SETTINGS_MODULE'] = 'config.settings'; "
        "from django.conf import settings; print(settings.SESSION_ENGINE)"
    )
    result = _settings({"REDIS_URL": "redis://127.0.0.1:9/0"}, code)
    assert result.stdout.strip().splitlines()[-1] == "django.contrib.sessions.backends.cached_db"
    result = _settings({"REDIS_URL": ""}, code)
    assert result.stdout.strip().splitlines()[-1] == "django.contrib.sessions.backends.db"


POOLED_THREADS = """
import json, os, threading
os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings"
import django
django.setup()
from django.db import connection
backends, errors = set(), []
def requests():
    try:
        for _ in range(4):  # a request: a connection from the pool, given back at its end
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_backend_pid(), pg_sleep(0.02)")
                backends.add(cursor.fetchone()[0])
            connection.close()
    except Exception as exc:
        errors.append(repr(exc))
threads = [threading.Thread(target=requests) for _ in range(8)]
[t.start() for t in threads]
[t.join() for t in threads]
print(json.dumps({"backends": len(backends), "errors": errors}))
"""


@pytest.mark.skipif(
    os.environ.get("DATABASE_URL", "").split(":", 1)[0] not in {"postgres", "postgresql"},
    reason="the connection pool is PostgreSQL's (psycopg_pool)",
)
def test_eight_threads_of_requests_share_a_pool_of_two_connections(db):
    from django.db import connection

    s = connection.settings_dict
    url = f"postgres://{s['USER']}@{s['HOST']}:{s['PORT'] or 5432}/{s['NAME']}"
    result = _settings(
        {"DATABASE_URL": url, "DB_POOL_MAX_SIZE": "2", "DB_POOL_TIMEOUT": "20"}, POOLED_THREADS
    )
    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout.strip().splitlines()[-1])
    assert found == {"backends": 2, "errors": []}  # 32 requests, two server processes


POOL_SERVER_DOWN = """
import json, os, time
os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings"
import django
django.setup()
from django.db import OperationalError, connection
timings = []
for _ in range(3):  # the first asks the server; the next ones know for a second
    started = time.monotonic()
    try:
        connection.ensure_connection()
        outcome = "connected"
    except OperationalError:
        outcome = "refused"
    timings.append([outcome, round(time.monotonic() - started, 2)])
print(json.dumps({"engine": connection.settings_dict["ENGINE"], "timings": timings}))
"""


def test_a_pool_whose_server_is_down_fails_at_once_not_after_its_timeout():
    result = _settings(
        {
            "DATABASE_URL": f"postgres://u@127.0.0.1:{_closed_port()}/pipecrm",
            "DB_POOL_MAX_SIZE": "2",
            "DB_POOL_TIMEOUT": "10",
        },
        POOL_SERVER_DOWN,
    )
    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout.strip().splitlines()[-1])
    assert found["engine"] == "crm.dbpool"
    for outcome, seconds in found["timings"]:
        assert outcome == "refused" and seconds < 2, found  # not DB_POOL_TIMEOUT's 10 s


def _closed_port() -> int:
    """A local port nothing listens on: connecting is refused at once."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
