"""Keeping the Celery worker alive through a Redis outage (issue 21).

Measured with kombu 5.7 (the newest release): when Redis went away while the worker held
late-acknowledged messages, the consumer's clean-up tried to put them back into the queue
through a transport it had already closed, and the ``AttributeError`` this raised ended the
worker ("Unrecoverable error"), intermittently. Nothing is lost by not putting them back
then: Redis keeps unacknowledged messages in its own set and hands them out again after the
visibility timeout, and the outbox re-dispatches their events sooner
(``EVENT_REDISPATCH_AFTER``). So that one failure is logged and the worker reconnects.
"""

from __future__ import annotations

import functools
import logging

logger = logging.getLogger(__name__)


def tolerant_restore(restore):
    """``QoS.restore_unacked`` that survives a transport closed under it."""

    @functools.wraps(restore)
    def restore_unacked(self, client=None):
        try:
            return restore(self, client)
        except AttributeError as exc:  # the transport is closed: Redis keeps the messages
            logger.warning(
                "Could not requeue unacknowledged messages now (%s); Redis redelivers them "
                "after the visibility timeout",
                exc,
            )
            return None

    restore_unacked.pipecrm_tolerant = True
    return restore_unacked


def harden_kombu_redis() -> None:
    try:
        from kombu.transport import redis as kombu_redis
    except ImportError:  # pragma: no cover - no Redis transport installed
        return
    if not getattr(kombu_redis.QoS.restore_unacked, "pipecrm_tolerant", False):
        kombu_redis.QoS.restore_unacked = tolerant_restore(kombu_redis.QoS.restore_unacked)
