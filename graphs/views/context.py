from django.conf import settings


def kaizen(request):
    return {
        "kaizen_embedded": settings.EMBEDDED,
        "kaizen_simulated": settings.KAIZEN_DEFAULT_PROVIDER == "simulated",
    }
