"""The Celery app: settings come from Django's (CELERY_* names), tasks from each app's tasks.py."""

import os

from celery import Celery
from kombu import Queue

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "fulfil.settings")

app = Celery("fulfil")
app.config_from_object("django.conf:settings", namespace="CELERY")
# Separate queues so a long import never starves webhook delivery: run one worker (or more)
# per queue in production; the quick start runs one worker on all three.
app.conf.task_queues = (Queue("default"), Queue("imports"), Queue("webhooks"))
app.autodiscover_tasks()


@app.task(name="fulfil.ping")
def ping() -> str:
    """A tiny task for checking that a worker answers."""
    return "pong"
