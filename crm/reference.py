"""Reference data that every page reads but that seldom changes, cached: the users a filter
bar offers, the steps of the lead workflow, custom field definitions, and the signed-in
user's role and role permissions (``crm.backends``, ``User.role``).

Reading them cost six queries and about 6 ms of Python on each table and board request
(measured at 100,000 leads: a fifth of a table page's Python time). Each process keeps what
it read (pickled, so every read gets its own objects) under one *version* held in Django's
shared cache: any save or delete of a user, group, permission grant, workflow, step, status,
project type or custom field definition moves the version, so the next read computes afresh
in every process. A request reads the version once (one cache round trip, however many
values it reads). The version moves at once (the writing request and the tests read their
own change) and again on commit (a request that read the old rows between the two cannot
keep them). Values also expire after ``TIMEOUT`` seconds, a safety net for changes made
around the ORM (raw SQL).

Only a cache that every process shares can hold the version (``REFERENCE_CACHE``, on with
Redis): with a process-local cache, a change made in one process would move only that
process's version, and another could keep a revoked permission until its value expires.

Declined: django-cachalot / cacheops (they cache every query of the tables they watch and
invalidate per table; here five reads are worth caching, whose invalidation is the one
version below, and the rest must not be cached).
"""

from __future__ import annotations

import logging
import pickle
import threading
import time
import uuid
from collections.abc import Callable
from typing import TypeVar

from asgiref.local import Local
from django.conf import settings
from django.contrib.auth.models import Group
from django.core.cache import cache
from django.core.signals import request_finished, request_started
from django.db import transaction
from django.db.models.signals import m2m_changed, post_delete, post_save

T = TypeVar("T")
logger = logging.getLogger(__name__)

VERSION_KEY = "reference:version"
TIMEOUT = 300
_MISSING = object()

# name → (version, expiry, pickled value): this process's values of the current version.
_values: dict[str, tuple[str, float, bytes]] = {}
_lock = threading.Lock()
# The version as this request read it (cleared when a request starts).
_request = Local()


def version() -> str:
    known = getattr(_request, "version", None)
    if known is not None:
        return known
    current = cache.get(VERSION_KEY)
    if current is None:
        current = uuid.uuid4().hex
        if not cache.add(VERSION_KEY, current, timeout=None):
            current = cache.get(VERSION_KEY) or current
    if getattr(_request, "active", False):
        _request.version = current
    return current


def cached(name: str, compute: Callable[[], T]) -> T:
    """``compute()``, or what it gave for ``name`` since the reference data last changed.
    Without a cache (Redis down) it computes: pages get slower, not broken. So it does
    without the ``REFERENCE_CACHE`` setting (no cache shared by every process)."""
    if not settings.REFERENCE_CACHE:
        return compute()
    try:
        current = version()
    except Exception:  # noqa: BLE001 - any cache failure: read the database
        logger.warning("reference cache unavailable; reading %s from the database", name)
        return compute()
    now = time.monotonic()
    entry = _values.get(name)
    if entry is not None and entry[0] == current and entry[1] > now:
        return pickle.loads(entry[2])  # noqa: S301 - bytes this process pickled itself
    value = compute()
    with _lock:
        if any(v != current for v, _, _ in _values.values()):  # an older version's values
            _values.clear()
        _values[name] = (current, now + TIMEOUT, pickle.dumps(value))
    return value


def _request_started(**kwargs) -> None:
    _request.active = True
    _request.version = None


def _request_finished(**kwargs) -> None:
    _request.active = False
    _request.version = None


def changed() -> None:
    """Move the version now and again when the current transaction commits."""
    _move()
    transaction.on_commit(_move)


def _move() -> None:
    moved = uuid.uuid4().hex
    if getattr(_request, "active", False):
        _request.version = moved
    try:
        cache.set(VERSION_KEY, moved, timeout=None)
    except Exception:  # noqa: BLE001
        # The cache is down: what it holds is not read while it is, and entries written
        # before expire within TIMEOUT; deleting the version when it is back is the best
        # left to do, which the next successful change does.
        logger.warning("reference cache unavailable; version not moved")


# What a user's save changes of the cached data (a sign-in saves ``last_login`` alone).
_USER_FIELDS = {"username", "first_name", "last_name", "is_active", "is_superuser"}


def _on_change(sender, update_fields=None, instance=None, **kwargs) -> None:
    if update_fields is not None and sender is _user_model() and not _USER_FIELDS & update_fields:
        return
    # ``User.role`` keeps the groups it read on the instance: a changed membership is
    # read again on it too.
    if instance is not None:
        instance.__dict__.pop("_group_names", None)
    changed()


def _user_model():
    from django.contrib.auth import get_user_model

    return get_user_model()


def connect() -> None:
    """Watch the models the cached data is read from (``CrmConfig.ready``)."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Permission

    from customfields.models import CustomFieldDefinition
    from wfm.models import ProjectType, Status, Workflow, WorkflowStep

    request_started.connect(_request_started, dispatch_uid="reference-request-started")
    request_finished.connect(_request_finished, dispatch_uid="reference-request-finished")
    user_model = get_user_model()
    watched = (user_model, Group, Permission, Workflow, WorkflowStep, Status, ProjectType)
    for model in (*watched, CustomFieldDefinition):
        post_save.connect(_on_change, sender=model, dispatch_uid=f"reference-save-{model}")
        post_delete.connect(_on_change, sender=model, dispatch_uid=f"reference-delete-{model}")
    for through in (
        user_model.groups.through,
        user_model.user_permissions.through,
        Group.permissions.through,
    ):
        m2m_changed.connect(_on_change, sender=through, dispatch_uid=f"reference-m2m-{through}")
