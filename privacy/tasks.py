from celery import shared_task

from privacy import services


@shared_task(acks_late=True)
def prune_access_log() -> int:
    return services.access_log_prune()


@shared_task(acks_late=True)
def apply_retention() -> str:
    return services.retention_apply().summary()
