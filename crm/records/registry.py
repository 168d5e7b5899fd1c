"""The record types known at start-up (each app registers its own from ``AppConfig.ready``)."""

from __future__ import annotations

from crm.records.types import RecordType

_TYPES: dict[str, RecordType] = {}


def register(record_type: RecordType) -> RecordType:
    _TYPES[record_type.key] = record_type
    if record_type.board is not None:
        from crm.records import tallies

        tallies.watch(record_type)
    return record_type


def get(key: str) -> RecordType:
    return _TYPES[key]


def all_types() -> list[RecordType]:
    return list(_TYPES.values())
