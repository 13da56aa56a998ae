"""The Celery app: settings under the `CELERY_` namespace, JSON only, tasks from every app."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("giftcards")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
