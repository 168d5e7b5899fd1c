import os

from celery import Celery

from crm.broker import harden_kombu_redis

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("pipecrm")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
harden_kombu_redis()  # a Redis outage must not end the worker (crm/broker.py)
