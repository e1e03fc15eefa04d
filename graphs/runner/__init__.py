"""The run driver: the Celery worker side of a run (see README, "What is where")."""
