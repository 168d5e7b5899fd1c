"""Dates as people (and models) write them: ISO, or "tomorrow", "next Friday at 3pm",
"in 3 days". Shared by the tools (due dates) and the offline command parser."""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta

from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

DEFAULT_TIME = time(10, 0)
WEEKDAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
NUMBER_WORDS = {
    "a": 1,
    "an": 1,
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
    "eleven": 11,
    "twelve": 12,
}
_TIME = re.compile(r"\bat\s+(\d{1,2})(?::(\d{2}))?\s*(am|pm)?\b", re.I)
_IN = re.compile(
    r"\bin\s+(\d+|a|an|one|two|three|four|five|six|seven|eight|nine|ten)\s+"
    r"(day|week|month|hour)s?\b",
    re.I,
)


def number(word: str) -> int | None:
    word = word.lower()
    if word.isdigit():
        return int(word)
    return NUMBER_WORDS.get(word)


def parse_when(text: str, *, now: datetime | None = None) -> datetime | None:
    """A point in time from ISO text or a phrase; None when nothing is recognised."""
    if not text:
        return None
    text = str(text).strip()
    now = timezone.localtime(now or timezone.now())
    try:
        parsed = parse_datetime(text)
    except ValueError:
        parsed = None
    if parsed is not None:
        return parsed if timezone.is_aware(parsed) else timezone.make_aware(parsed)
    try:
        day = parse_date(text)
    except ValueError:
        day = None
    if day is not None:
        return _at(day, DEFAULT_TIME)
    lowered = text.lower()
    at = _time_of(lowered) or DEFAULT_TIME
    found = _day_of(lowered, now)
    if found is None:
        match = _IN.search(lowered)
        if match and match.group(2).lower() == "hour":
            return now + timedelta(hours=number(match.group(1)) or 1)
        if _TIME.search(lowered):
            found = now.date()
        else:
            return None
    return _at(found, at)


def _day_of(lowered: str, now: datetime) -> date | None:
    today = now.date()
    if "day after tomorrow" in lowered:
        return today + timedelta(days=2)
    if re.search(r"\btomorrow\b", lowered):
        return today + timedelta(days=1)
    if re.search(r"\b(today|tonight|this afternoon|this evening)\b", lowered):
        return today
    match = _IN.search(lowered)
    if match:
        amount = number(match.group(1)) or 1
        unit = match.group(2).lower()
        if unit == "day":
            return today + timedelta(days=amount)
        if unit == "week":
            return today + timedelta(weeks=amount)
        if unit == "month":
            return add_months(today, amount)
    if re.search(r"\bnext week\b", lowered):
        return today + timedelta(days=7 - today.weekday())
    if re.search(r"\bnext month\b", lowered):
        return add_months(today.replace(day=1), 1)
    if re.search(r"\bend of (the )?month\b", lowered):
        return add_months(today.replace(day=1), 1) - timedelta(days=1)
    for index, name in enumerate(WEEKDAYS):
        if re.search(rf"\b{name}\b", lowered):
            ahead = (index - today.weekday()) % 7 or 7  # "Friday" on a Friday: a week on
            return today + timedelta(days=ahead)
    return None


def _time_of(lowered: str) -> time | None:
    match = _TIME.search(lowered)
    if not match:
        if "afternoon" in lowered:
            return time(14, 0)
        if "morning" in lowered:
            return time(9, 0)
        return None
    hour = int(match.group(1))
    minute = int(match.group(2) or 0)
    meridiem = (match.group(3) or "").lower()
    if meridiem == "pm" and hour < 12:
        hour += 12
    if meridiem == "am" and hour == 12:
        hour = 0
    if hour > 23 or minute > 59:
        return None
    return time(hour, minute)


def _at(day: date, at: time) -> datetime:
    return timezone.make_aware(datetime.combine(day, at))


def add_months(day: date, months: int) -> date:
    month = day.month - 1 + months
    year = day.year + month // 12
    month = month % 12 + 1
    last = [31, 29 if _leap(year) else 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][month - 1]
    return date(year, month, min(day.day, last))


def _leap(year: int) -> bool:
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
