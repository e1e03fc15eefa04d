from django.conf import settings
from django.db.models.signals import post_save
from django.dispatch import receiver


@receiver(post_save, sender=settings.AUTH_USER_MODEL, dispatch_uid="workspaces_personal")
def personal_workspace(sender, instance, created, raw=False, **kwargs):
    if created and not raw:
        from .services import ensure_personal_workspace

        ensure_personal_workspace(instance)
