from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

from graphs.demo import DEMO_GRAPHS
from graphs.models import Graph
from graphs.services import graph_create


class Command(BaseCommand):
    help = "Create the demo user (demo / demo) and the demo graphs, if missing."

    def handle(self, *args, **options):
        User = get_user_model()
        user, created = User.objects.get_or_create(username="demo", defaults={"is_staff": True, "is_superuser": True})
        if created:
            user.set_password("demo")
            user.save()
        for name, description, spec in DEMO_GRAPHS:
            if not Graph.objects.filter(owner=user, name=name).exists():
                graph_create(owner=user, name=name, description=description, spec=spec)
                self.stdout.write(f"created demo graph {name!r}")
