"""Local days as moments: what "on 2 March" means for a timestamp column."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from django.utils import timezone


def local_midnight(day: date) -> datetime:
    """The start of ``day`` in the current time zone (23 or 25 hours before the next one's
    when the clocks change)."""
    return timezone.make_aware(datetime.combine(day, time.min))


def local_day_bounds(day: date) -> tuple[datetime | None, datetime | None]:
    """``(start, end)`` of ``day``: moments ``start <= t < end``. ``None`` at the ends of the
    calendar, where the bound would fall outside what a timestamp can hold (the first day
    has no start before it, the last no day after it)."""
    start = local_midnight(day) if day > date.min else None
    end = local_midnight(day + timedelta(days=1)) if day < date.max else None
    return start, end
