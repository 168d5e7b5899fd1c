"""Shared fixtures: one user per role (SPEC §9) plus an outsider, and API clients."""

import os
import uuid
from urllib.parse import urlsplit, urlunsplit

import pytest
from django.conf import settings
from rest_framework.test import APIClient

from crm.roles import Role
from tests.factories import UserFactory


def install_reference_data() -> None:
    """What the data migrations install, put back after a transactional test flushed it."""
    from django.apps import apps

    from activities.schedules import install_activity_schedules
    from crm.roles import sync_roles
    from crm.schedules import install_crm_schedules
    from deals.defaults import install_lost_reasons
    from emails.schedules import install_email_schedules
    from leads.scoring.defaults import install_scoring_defaults
    from privacy.schedules import install_privacy_schedules
    from wfm.defaults import install_defaults

    install_defaults(apps)
    sync_roles(apps, None)
    install_lost_reasons(apps)
    install_crm_schedules(apps)
    install_activity_schedules(apps)
    install_scoring_defaults(apps)
    install_privacy_schedules(apps)
    install_email_schedules(apps)


@pytest.fixture(autouse=True)
def _reference_data(request):
    # Transactional tests (live server, concurrency) truncate every table when they end, and
    # with it the roles and default workflows; reinstall them for whichever test comes next.
    marker = request.node.get_closest_marker("django_db")
    marked = marker is not None and (
        marker.kwargs.get("transaction") or (marker.args and marker.args[0])
    )
    names = set(request.fixturenames)
    if marked or names & {"transactional_db", "live_server", "live_server_url"}:
        if not marked:
            request.getfixturevalue("transactional_db")
        install_reference_data()


# With REDIS_URL set (CI) the cache and the channel layer live in a Redis server that other
# processes on the machine may share (another test run, a dev server): this run keeps its keys
# and groups under a prefix of its own, so their throttle counters and group messages never
# meet ours, and clearing the cache between tests deletes only our keys (never FLUSHDB: the
# database may hold another run's live keys). The prefix is new in every process, so no key
# of an earlier run is ever read. Settings are loaded but no cache, layer or broker connection
# is open yet when this module is imported.
RUN_PREFIX = f"pipecrm-test-{os.getpid()}-{uuid.uuid4().hex[:8]}"
settings.CACHES["default"]["KEY_PREFIX"] = RUN_PREFIX
if "prefix" in settings.CHANNEL_LAYERS["default"].get("CONFIG", {}):
    settings.CHANNEL_LAYERS["default"]["CONFIG"]["prefix"] = RUN_PREFIX

# Under pytest-xdist (`make test`) every worker is a process with its own test database
# (pytest-django names it test_<name>_gw0, test_<name>_gw1, ...) and, here, its own Redis
# database: gwN uses database 5 + N, clear of the app's (REDIS_URL's, usually 0) and of the
# smoke run's (1). Redis has 16 databases by default, so beyond 11 workers two share one,
# still apart by their prefixes.
REDIS_WORKER_DB_FIRST, REDIS_WORKER_DB_LAST = 5, 15


def worker_redis_url(url: str, worker: str) -> str:
    """``url`` with its database number replaced by the one of xdist worker ``worker``."""
    span = REDIS_WORKER_DB_LAST - REDIS_WORKER_DB_FIRST + 1
    number = REDIS_WORKER_DB_FIRST + int(worker.removeprefix("gw")) % span
    return urlunsplit(urlsplit(url)._replace(path=f"/{number}"))


XDIST_WORKER = os.environ.get("PYTEST_XDIST_WORKER", "")
if settings.REDIS_URL and XDIST_WORKER:
    settings.REDIS_URL = worker_redis_url(settings.REDIS_URL, XDIST_WORKER)
    if settings.CACHES["default"]["BACKEND"].endswith("RedisCache"):
        settings.CACHES["default"]["LOCATION"] = settings.REDIS_URL
    for host in settings.CHANNEL_LAYERS["default"].get("CONFIG", {}).get("hosts", []):
        host["address"] = settings.REDIS_URL
    if settings.CELERY_BROKER_URL.startswith("redis"):
        settings.CELERY_BROKER_URL = worker_redis_url(settings.CELERY_BROKER_URL, XDIST_WORKER)


# `make test` runs pytest-xdist with --dist loadgroup --no-loadscope-reorder: every test is a
# work unit of its own, handed out in collection order (pytest-django's: rolled-back `db` tests,
# then transactional ones, whose flush empties the tables), a few at a time. The tests of these
# modules share an expensive module-scoped fixture and form one unit instead, so one worker
# builds it once; each module's tests must all be of one kind (rolled back or transactional).
# xdist_group marks should say this, but pytest-xdist 3.8 ignores them under pytest 9.2
# (pytest-dev/pytest-xdist#1386), hence the module list.
SHARED_FIXTURE_MODULES = {"tests/crm/test_demo_data.py"}


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    if config.getvalue("dist") != "loadgroup":
        return None
    from xdist.scheduler import LoadGroupScheduling

    class Scheduler(LoadGroupScheduling):
        def _split_scope(self, nodeid: str) -> str:
            module = nodeid.split("::", 1)[0]
            return module if module in SHARED_FIXTURE_MODULES else super()._split_scope(nodeid)

    return Scheduler(config, log)


def clear_cache() -> None:
    from django.core.cache import cache

    if settings.CACHES["default"]["BACKEND"].endswith("RedisCache"):
        client = cache._cache.get_client(write=True)
        keys = list(client.scan_iter(match=f"{RUN_PREFIX}:*", count=1000))
        if keys:
            client.delete(*keys)
    else:
        cache.clear()


@pytest.fixture(autouse=True)
def _clear_cache():
    # Throttle and login-failure counters must not leak from one test into the next.
    clear_cache()
    yield
    clear_cache()


@pytest.fixture(autouse=True)
def _imports_inline(settings):
    # Imports run as Celery tasks (eager in tests), not in the embedded default's thread; the
    # browser test of the progress bar turns the thread back on.
    settings.IMPORT_IN_THREAD = False


@pytest.fixture(autouse=True)
def _local_webhooks(settings):
    # Webhook tests call receivers on 127.0.0.1; the address checks have their own tests.
    settings.WEBHOOK_ALLOW_PRIVATE = True


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    # PBKDF2 costs ~0.3 s per user; tests create many users.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def web(client):
    """``web(user)``: the test client signed in as ``user``."""

    def login(user):
        client.force_login(user)
        return client

    return login


@pytest.fixture
def admin_user(db):
    return UserFactory(username="admin", is_superuser=True, is_staff=True, role=Role.ADMIN)


@pytest.fixture
def manager(db):
    return UserFactory(username="manager", is_staff=True, role=Role.MANAGER)


@pytest.fixture
def rep1(db):
    return UserFactory(username="rep1", role=Role.SALES_REP)


@pytest.fixture
def rep2(db):
    return UserFactory(username="rep2", role=Role.SALES_REP)


@pytest.fixture
def analyst(db):
    return UserFactory(username="analyst", role=Role.ANALYST)


@pytest.fixture
def viewer(db):
    return UserFactory(username="viewer", role=Role.VIEWER)


@pytest.fixture
def api():
    """An API client; ``api.force_authenticate(user)`` or use ``api_as``."""
    return APIClient()


@pytest.fixture
def api_as(db):
    def make(user) -> APIClient:
        client = APIClient()
        client.force_authenticate(user)
        return client

    return make
