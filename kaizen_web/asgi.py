import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "kaizen_web.settings")
django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402
from django.conf import settings  # noqa: E402

from graphs.api.fast import FastRoutes  # noqa: E402
from graphs.routing import websocket_urlpatterns  # noqa: E402

# Starting a run and reading one (the API's hot routes) skip Django's request cycle when a token
# is sent (graphs/api/fast.py); everything else, and those too without one, is Django's.
http_app = FastRoutes(django_asgi_app) if settings.KAIZEN_FAST_API else django_asgi_app

application = ProtocolTypeRouter(
    {
        # The app serves its own assets (no CDN) through WhiteNoise's middleware; a front proxy may take this over.
        "http": http_app,
        "websocket": AllowedHostsOriginValidator(AuthMiddlewareStack(URLRouter(websocket_urlpatterns))),
    }
)
