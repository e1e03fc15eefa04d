"""manage.py kaizen_token USERNAME [--name NAME] [--expires-days N]: make a personal access token
and print it (the only time it is shown). Revoke it on the API tokens page."""

from datetime import timedelta

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from apitokens.services import TokenError, token_create


class Command(BaseCommand):
    help = "Create a personal access token for a user and print it (shown only this once)."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--name", default="made with manage.py kaizen_token")
        parser.add_argument("--expires-days", type=int, default=None)

    def handle(self, *args, username, name, expires_days, **options):
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"no user {username!r}")
        expires = timezone.now() + timedelta(days=expires_days) if expires_days else None
        try:
            _row, token = token_create(user=user, name=name, expires_at=expires)
        except TokenError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"Generated token {token} for user {username}")
