"""The fault suite's own bookkeeping (``loadtest/chaos.py``): what it counts is what it
reports."""

from __future__ import annotations

import httpx

from loadtest.chaos import Call, Calls, Receiver, Suite


def test_the_webhook_receiver_counts_deliveries_by_id():
    receiver = Receiver()
    try:
        for delivery in ["d1", "d2", "d1"]:
            httpx.post(
                receiver.url,
                content=b'{"event": "lead.created"}',
                headers={"X-PipeCRM-Delivery": delivery},
            ).raise_for_status()
    finally:
        receiver.stop()
    assert receiver.by_id == {"d1": 2, "d2": 1}
    assert receiver.events == {"d1": "lead.created", "d2": "lead.created"}


def test_calls_are_found_by_when_they_started():
    calls = Calls()
    for started in (1.0, 2.0, 3.0):
        calls.add(Call("api write", started, 0.1, 201))
    assert [c.started for c in calls.between(1.5, 3.0)] == [2.0, 3.0]


def test_slow_kinds_name_what_was_slow():
    calls = [
        Call("api write", 0, 3.1, 201),
        Call("api write", 0, 1.5, 201),
        Call("page", 0, 0.2, 200),
    ]
    assert Suite.slow_kinds(calls) == "api write 3.1 s (2 over 1 s)"
    assert Suite.slow_kinds(calls[2:]) == ""
