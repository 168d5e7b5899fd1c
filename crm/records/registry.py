"""The record types known at start-up (each app registers its own from ``AppConfig.ready``)."""

from __future__ import annotations

from collections.abc import Callable

from crm.records.types import RecordType

_TYPES: dict[str, RecordType] = {}
_LISTENERS: list[Callable[[RecordType], None]] = []


def register(record_type: RecordType) -> RecordType:
    _TYPES[record_type.key] = record_type
    for listener in _LISTENERS:
        listener(record_type)
    return record_type


def when_registered(listener: Callable[[RecordType], None]) -> None:
    """Call ``listener`` with every record type, those registered already and those to come
    (e.g. ``crm.records.tallies.watch``, from ``CrmConfig.ready``)."""
    _LISTENERS.append(listener)
    for record_type in list(_TYPES.values()):
        listener(record_type)


def get(key: str) -> RecordType:
    return _TYPES[key]


def all_types() -> list[RecordType]:
    return list(_TYPES.values())
