"""Credentials get the hosts tools may send them to. Existing ones: the host of the URL the key was
stored for (``base_url``), if any, plus the hosts of the MCP servers an admin already paired it with;
otherwise none, and HTTP tools are refused the key until an admin sets its hosts."""

from urllib.parse import urlsplit

from django.db import migrations, models


def default_hosts(apps, schema_editor):
    Credential = apps.get_model("graphs", "Credential")
    McpServer = apps.get_model("graphs", "McpServer")
    for credential in Credential.objects.all():
        hosts = []
        urls = [credential.base_url] + list(McpServer.objects.filter(
            workspace_id=credential.workspace_id, credential=credential.name).values_list("url", flat=True))
        for url in urls:
            host = (urlsplit(url or "").hostname or "").lower()
            if host and host not in hosts:
                hosts.append(host)
        if hosts:
            credential.allowed_hosts = hosts
            credential.save(update_fields=["allowed_hosts"])


class Migration(migrations.Migration):

    dependencies = [
        ("graphs", "0009_run_origin"),
    ]

    operations = [
        migrations.AddField(
            model_name="credential",
            name="allowed_hosts",
            field=models.JSONField(blank=True, default=list),
        ),
        migrations.RunPython(default_hosts, migrations.RunPython.noop),
    ]
