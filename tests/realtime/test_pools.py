"""The realtime pools say when they are quiet (crm.consumers.wait_idle)."""

import threading
import time

from asgiref.sync import async_to_sync

from crm import consumers


def test_wait_idle_waits_for_pool_work_to_end(db):
    started, done = threading.Event(), []

    def slow():
        started.set()
        time.sleep(0.3)
        done.append(1)

    async def call():
        await consumers.in_render_pool(slow)()

    thread = threading.Thread(target=async_to_sync(call))
    thread.start()
    assert started.wait(5)
    assert consumers.wait_idle(timeout=5) and done == [1]
    thread.join()


def test_wait_idle_gives_up_after_its_timeout(db, monkeypatch):
    monkeypatch.setattr(consumers, "_in_flight", 1)
    assert consumers.wait_idle(timeout=0.1) is False
