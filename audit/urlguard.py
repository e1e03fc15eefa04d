"""Where a webhook may point: http(s) URLs whose host resolves only to public addresses.

A hook's URL is chosen by a user and requested by our workers, so without a check it could reach
services inside the deployment's network (databases' HTTP ports, cloud metadata at
169.254.169.254, admin consoles on localhost): server-side request forgery. The URL is checked when
a hook is saved (a 400 naming the field) and again before every delivery, since DNS answers can
change. A deployment whose hooks must reach internal hosts sets KAIZEN_WEBHOOK_ALLOW_PRIVATE=1.

A delivery connects to the address that was checked (``pinned``): the host name goes in the Host
header and, for https, in TLS's SNI and certificate check. So a DNS answer that changes between
the check and the connection (rebinding) cannot redirect it.
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit, urlunsplit

from . import conf


class UnsafeURL(ValueError):
    pass


def private_allowed() -> bool:
    return str(conf.get("KAIZEN_WEBHOOK_ALLOW_PRIVATE")).strip().lower() in ("1", "true", "yes", "on")


def check_webhook_url(url: str) -> str:
    """The address ``url``'s host resolves to, checked; raise UnsafeURL (saying why) unless a
    webhook may request it."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UnsafeURL("must be an http(s) URL with a host")
    if parts.username or parts.password:
        raise UnsafeURL("must not carry credentials (use the hook's signing secret)")
    try:
        infos = socket.getaddrinfo(parts.hostname, parts.port or (443 if parts.scheme == "https" else 80),
                                   type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise UnsafeURL(f"host {parts.hostname!r} does not resolve") from exc
    addresses = [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos]
    if not private_allowed():
        for address in addresses:
            if not address.is_global or address.is_multicast:
                raise UnsafeURL(f"host {parts.hostname!r} is a private, loopback or reserved address ({address}); "
                                "set KAIZEN_WEBHOOK_ALLOW_PRIVATE=1 to allow internal hooks")
    # The one a delivery connects to: IPv4 first (as most hosts without IPv6 routes need), then IPv6.
    return str(next((a for a in addresses if a.version == 4), addresses[0]))


def pinned(url: str) -> tuple[str, dict[str, str], dict[str, str | None]]:
    """(URL with the checked address for its host, headers, httpx extensions) for one delivery."""
    parts = urlsplit(url)
    address = check_webhook_url(url)
    host = f"[{address}]" if ":" in address else address
    netloc = host + (f":{parts.port}" if parts.port else "")
    headers = {"Host": parts.netloc}
    extensions: dict[str, str | None] = {"sni_hostname": parts.hostname} if parts.scheme == "https" else {}
    return urlunsplit((parts.scheme, netloc, parts.path or "/", parts.query, "")), headers, extensions
