"""The navigation's per-user counts (the bell's unread notifications, the overdue activities),
remembered in the cache for a short while so that a page renders them in place.

Without a remembered count a page renders the badge empty and loads it after the page (its own
request, which counts and remembers): the pages' query budgets (SPEC §11) never pay for it.
With one, the page needs no second request for each badge: under load (issue 21) the two
badges were 30 % of all requests. A count is forgotten when what it counts changes through our
services (a notification created or read), and at the latest after ``TTL`` seconds (an
activity falling overdue as time passes, one assigned by someone else); the badges reload
themselves anyway after the user's own changes (``activityChanged``) and on every page.
"""

from __future__ import annotations

from django.core.cache import cache
from django.db import transaction

TTL = 60  # seconds a count is shown without counting again

UNREAD = "unread-notifications"
OVERDUE = "overdue-activities"


def _key(name: str, user_id) -> str:
    return f"badge:{name}:{user_id}"


def cached(name: str, user_id) -> int | None:
    """The remembered count, or None (then the badge loads after the page)."""
    return cache.get(_key(name, user_id))


def remember(name: str, user_id, count: int) -> int:
    cache.set(_key(name, user_id), count, TTL)
    return count


def forget(name: str, user_id) -> None:
    """After the current transaction commits (a count made before it would be stale)."""
    key = _key(name, user_id)
    transaction.on_commit(lambda: cache.delete(key))
