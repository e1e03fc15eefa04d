"""manage.py kaizen_templates --user alice [--slug consensus ...]: create graphs from the pattern templates."""

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from graphs.models import Graph
from graphs.pattern_templates import TEMPLATES, template_get
from graphs.services import graph_create


class Command(BaseCommand):
    help = "Create graphs from the pattern templates (the eight autonomy patterns and research with tools) for a user (skips names the user already has)."

    def add_arguments(self, parser):
        parser.add_argument("--user", default="demo", help="Username that will own the graphs (default: demo).")
        parser.add_argument("--slug", action="append", help="Only these templates (repeatable).")
        parser.add_argument("--list", action="store_true", help="List the templates and exit.")

    def handle(self, *args, **options):
        if options["list"]:
            for t in TEMPLATES:
                self.stdout.write(f"{t.slug:24} {t.name}: {t.description}")
            return
        user = get_user_model().objects.filter(username=options["user"]).first()
        if user is None:
            raise CommandError(f"no user {options['user']!r}")
        chosen = TEMPLATES
        if options["slug"]:
            unknown = [s for s in options["slug"] if template_get(s) is None]
            if unknown:
                raise CommandError(f"unknown template(s): {', '.join(unknown)} (see --list)")
            chosen = [template_get(s) for s in options["slug"]]
        for t in chosen:
            if Graph.objects.filter(owner=user, name=t.name).exists():
                self.stdout.write(f"exists: {t.name!r}")
                continue
            version = graph_create(owner=user, name=t.name, description=t.description, spec=t.unplaced())  # (laid out where drawn, as the new-graph page's)
            self.stdout.write(f"created {t.name!r} (graph {version.graph.pk})")
