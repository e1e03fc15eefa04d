"""Re-encrypt stored API keys and webhook secrets with the current first encryption key.

After putting a new key first in KAIZEN_ENCRYPTION_KEY (or a new SECRET_KEY, the old one moved to
SECRET_KEY_FALLBACKS), run this; then the old key can be dropped from the settings.
"""

from cryptography.fernet import InvalidToken
from django.core.management.base import BaseCommand
from django.db import transaction

from audit.models import ENCRYPTED_PREFIX, GraphHook
from graphs.models import Credential
from kaizen_web.crypto import rotate_token


class Command(BaseCommand):
    help = "Re-encrypt credentials and webhook secrets with the current first key."

    @transaction.atomic
    def handle(self, *args, **options):
        done, unreadable = 0, 0
        for credential in Credential.objects.select_for_update():
            try:
                credential.encrypted_key = rotate_token(bytes(credential.encrypted_key))
            except InvalidToken:
                unreadable += 1
                continue
            credential.save(update_fields=["encrypted_key"])
            done += 1
        for hook in GraphHook.objects.select_for_update().filter(secret__startswith=ENCRYPTED_PREFIX):
            try:
                token = rotate_token(hook.secret.removeprefix(ENCRYPTED_PREFIX).encode())
            except InvalidToken:
                unreadable += 1
                continue
            GraphHook.objects.filter(pk=hook.pk).update(secret=ENCRYPTED_PREFIX + token.decode())
            done += 1
        self.stdout.write(f"re-encrypted {done} secret(s); {unreadable} unreadable with the configured keys")
        if unreadable:
            self.stderr.write("unreadable secrets were left as they are: add their old key to the settings and rerun")
