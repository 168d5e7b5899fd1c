"""What the layers above add to the dashboard at start-up (SPEC §4: the lower app offers a
registry, the higher one fills it; analytics never imports them).

- ``period_summary``: ``fn(*, user, facts) -> str``, a written summary of the period's
  figures (the AI agent registers one). ``facts`` holds only figures and their labels, never
  record contents. It raises ``SummaryUnavailable`` with a message for the user when it
  cannot answer (no API key, the service down).
- ``ai_usage``: ``fn(*, user, filters) -> dict``, the AI section's counts: suggestions the
  assistant made and how many were applied, qualification analyses run, in the period and
  the previous one (the AI agent registers ``aiagent.selectors.ai_usage``, which defines
  each figure). Without one the section says no assistant is installed.
"""

from __future__ import annotations

from collections.abc import Callable


class SummaryUnavailable(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


_period_summary: Callable[..., str] | None = None


def register_period_summary(fn: Callable[..., str]) -> None:
    global _period_summary
    _period_summary = fn


def period_summary() -> Callable[..., str] | None:
    return _period_summary


_ai_usage: Callable[..., dict] | None = None


def register_ai_usage(fn: Callable[..., dict]) -> None:
    global _ai_usage
    _ai_usage = fn


def ai_usage() -> Callable[..., dict] | None:
    return _ai_usage
