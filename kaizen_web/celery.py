import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "kaizen_web.settings")

app = Celery("kaizen_web")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()  # audit.tasks
app.autodiscover_tasks(["graphs.runner"])  # graphs/runner/tasks.py (graphs' apps.py imports it too)
