"""Celery tasks of the AI agent: answering a conversation in the background (API 202), and
rewording a lead's next best action with Claude (never in the page request)."""

from __future__ import annotations

from celery import shared_task

from crm.errors import Conflict


@shared_task(ignore_result=True)
def conversation_run(conversation_id: str, user_id: int) -> None:
    from aiagent import selectors, services
    from crm.models import User

    user = User.objects.filter(pk=user_id, is_active=True).first()
    if user is None:
        return
    conversation = selectors.conversation_get(user=user, conversation_id=conversation_id)
    try:
        services.conversation_run(by=user, conversation=conversation)
    except Conflict:  # another run answers it
        return


@shared_task(ignore_result=True)
def refine_next_action(rule: str, subject: str, reason: str) -> None:
    from aiagent import services

    services.next_action_refine(rule=rule, subject=subject, reason=reason)
