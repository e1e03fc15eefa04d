"""DRF's one-per-user tokens become personal access tokens named "API token (before personal
tokens)": the same key keeps working (``Token <key>`` or ``Bearer <key>``), now hashed, listed
and revocable. The plain keys are deleted from DRF's table."""

import hashlib

from django.db import migrations


def move(apps, schema_editor):
    try:
        Token = apps.get_model("authtoken", "Token")
    except LookupError:
        return
    Pat = apps.get_model("apitokens", "PersonalAccessToken")
    for old in Token.objects.all():
        Pat.objects.get_or_create(key_hash=hashlib.sha256(old.key.encode()).hexdigest(), defaults={
            "user_id": old.user_id, "name": "API token (before personal tokens)", "prefix": old.key[:8],
            "created_at": old.created})
    Token.objects.all().delete()


class Migration(migrations.Migration):
    dependencies = [("apitokens", "0001_personal_access_tokens"), ("authtoken", "0004_alter_tokenproxy_options")]
    operations = [migrations.RunPython(move, migrations.RunPython.noop)]
