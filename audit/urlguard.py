"""Where a webhook may point: http(s) URLs whose host resolves only to public addresses.

A hook's URL is chosen by a user and requested by our workers, so without a check it could reach
services inside the deployment's network (databases' HTTP ports, cloud metadata at
169.254.169.254, admin consoles on localhost): server-side request forgery. The URL is checked when
a hook is saved (a 400 naming the field) and again before every delivery, since DNS answers can
change. A deployment whose hooks must reach internal hosts sets KAIZEN_WEBHOOK_ALLOW_PRIVATE=1.
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

from . import conf


class UnsafeURL(ValueError):
    pass


def private_allowed() -> bool:
    return str(conf.get("KAIZEN_WEBHOOK_ALLOW_PRIVATE")).strip().lower() in ("1", "true", "yes", "on")


def check_webhook_url(url: str) -> None:
    """Raise UnsafeURL (its message says why) unless ``url`` may be requested by a webhook."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UnsafeURL("must be an http(s) URL with a host")
    if parts.username or parts.password:
        raise UnsafeURL("must not carry credentials (use the hook's signing secret)")
    if private_allowed():
        return
    try:
        infos = socket.getaddrinfo(parts.hostname, parts.port or (443 if parts.scheme == "https" else 80),
                                   type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise UnsafeURL(f"host {parts.hostname!r} does not resolve") from exc
    for info in infos:
        address = ipaddress.ip_address(info[4][0].split("%")[0])
        if not address.is_global or address.is_multicast:
            raise UnsafeURL(f"host {parts.hostname!r} is a private, loopback or reserved address ({address}); "
                            "set KAIZEN_WEBHOOK_ALLOW_PRIVATE=1 to allow internal hooks")
