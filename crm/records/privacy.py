"""Where the privacy app (issue 18) plugs into the record pattern.

``crm`` knows nothing of the apps above it (SPEC §4), so the privacy app fills these registries
from its ``AppConfig.ready``:

- view observers, told each time a user opens a record's personal data (the detail page, the
  API's detail): the access log;
- action providers, which add entries to a detail page's "More" menu (Export, Anonymize) for
  the users who may use them.

With nothing registered both are no-ops, so ``crm`` works alone.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.db import models

ViewObserver = Callable[[Any, models.Model, str], None]
ActionProvider = Callable[[Any, models.Model], list]

_observers: dict[str, ViewObserver] = {}
_action_providers: dict[str, ActionProvider] = {}


def register_view_observer(key: str, observer: ViewObserver) -> None:
    """``observer(user, obj, channel)`` is called when ``user`` views ``obj`` ("page", "api").
    Registering the same ``key`` again replaces it."""
    _observers[key] = observer


def viewed(user, obj: models.Model, *, channel: str) -> None:
    for observer in _observers.values():
        observer(user, obj, channel)


def register_actions(key: str, provider: ActionProvider) -> None:
    """``provider(user, obj)`` returns the ``crm.records.details.Action`` entries it adds to
    the "More" menu of ``obj``'s detail page (only those the user may take)."""
    _action_providers[key] = provider


def more_actions(user, obj: models.Model) -> list:
    return [action for provider in _action_providers.values() for action in provider(user, obj)]
