from django.conf import settings

from .. import endpoint_check


def kaizen(request):
    return {
        "kaizen_embedded": settings.EMBEDDED,
        "kaizen_simulated": settings.KAIZEN_DEFAULT_PROVIDER == "simulated",
        "kaizen_endpoint_problem": endpoint_check.problem(),  # checked by kaizen_serve at start
    }
