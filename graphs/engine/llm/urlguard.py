"""Where a model endpoint chosen by a user may point, and an httpx transport that holds to it.

An agent's ``base_url`` is typed by a user and requested by our workers. Unchecked it is
server-side request forgery: a worker would POST to cloud metadata (169.254.169.254), databases'
HTTP ports or admin consoles on localhost, and copy their answers into the run's events. So a
user's endpoint must resolve only to public addresses, unless the operator allows private ranges
(``allow_private``, from the KAIZEN_ALLOW_PRIVATE_MODEL_URLS setting: a local Ollama or vLLM).

``GuardedTransport`` resolves the host itself for every request, checks every address, and
connects to the checked one, keeping the name in the Host header and in TLS's SNI and certificate
check. A DNS answer that changes between a check and the connection (rebinding) cannot redirect
it. The same rules as the webhooks' guard (audit/urlguard.py); this copy is plain Python because
the engine may not import Django, so its settings arrive as constructor parameters.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from typing import Any
from urllib.parse import urlsplit

import httpx2  # the HTTP client under the openai SDK (a maintained fork of httpx)

OPENAI_DEFAULT_URL = "https://api.openai.com/v1"


class UnsafeModelURL(ValueError):
    """A model endpoint a user may not use (the message says why)."""


def normalize(url: str | None) -> str:
    """A comparable form of an endpoint (``None`` is OpenAI's default): scheme and host in lower
    case, default ports and trailing slashes dropped."""
    parts = urlsplit((url or OPENAI_DEFAULT_URL).strip())
    scheme, host = parts.scheme.lower(), (parts.hostname or "").lower()
    default_port = {"http": 80, "https": 443}.get(scheme)
    try:
        port = parts.port
    except ValueError:
        port = None
    netloc = host if port in (None, default_port) else f"{host}:{port}"
    if ":" in host:
        netloc = f"[{host}]" + ("" if port in (None, default_port) else f":{port}")
    return f"{scheme}://{netloc}{parts.path.rstrip('/')}"


def check_syntax(url: str) -> str:
    """The URL's host name, after refusing what no model endpoint may look like."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UnsafeModelURL("must be an http(s) URL with a host")
    if parts.username or parts.password:
        raise UnsafeModelURL("must not carry credentials in the URL (use a stored credential)")
    try:
        parts.port  # noqa: B018 (raises on a malformed port)
    except ValueError as exc:
        raise UnsafeModelURL("has an invalid port") from exc
    return parts.hostname


PRIVATE_HINT = "the operator can allow private model endpoints with KAIZEN_ALLOW_PRIVATE_MODEL_URLS=1"


def check_addresses(host: str, addresses: list[str], allow_private: bool, hint: str = PRIVATE_HINT) -> str:
    """The address to connect to, after checking all of them; UnsafeModelURL if any is refused.
    ``hint`` says which setting allows private addresses (model endpoints, tools)."""
    if not addresses:
        raise UnsafeModelURL(f"host {host!r} does not resolve")
    parsed = [ipaddress.ip_address(a.split("%")[0]) for a in addresses]
    if not allow_private:
        for address in parsed:
            if not address.is_global or address.is_multicast:
                raise UnsafeModelURL(f"host {host!r} is a private, loopback or reserved address ({address}); {hint}")
    return str(next((a for a in parsed if a.version == 4), parsed[0]))  # IPv4 first, as webhooks


def _addresses(infos: list[tuple[Any, ...]]) -> list[str]:
    return [info[4][0] for info in infos]


def check_model_url(url: str, allow_private: bool = False, hint: str = PRIVATE_HINT) -> str:
    """Blocking check (for save and validate time): the address ``url``'s host resolves to."""
    host = check_syntax(url)
    parts = urlsplit(url)
    try:
        infos = socket.getaddrinfo(parts.hostname, parts.port or (443 if parts.scheme == "https" else 80),
                                   type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise UnsafeModelURL(f"host {parts.hostname!r} does not resolve") from exc
    return check_addresses(host, _addresses(infos), allow_private, hint)


async def acheck_model_url(url: str, allow_private: bool = False, hint: str = PRIVATE_HINT) -> str:
    """The same check without blocking the event loop (call time)."""
    host = check_syntax(url)
    parts = urlsplit(url)
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(
            parts.hostname, parts.port or (443 if parts.scheme == "https" else 80), type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise UnsafeModelURL(f"host {parts.hostname!r} does not resolve") from exc
    return check_addresses(host, _addresses(infos), allow_private, hint)


class GuardedTransport(httpx2.AsyncHTTPTransport):
    """An httpx transport that connects only to checked addresses (see the module docstring).

    Each request's host is resolved and checked, then the request goes to that address with the
    original name in the Host header (httpx set it when the request was built) and, for https, as
    ``sni_hostname`` (httpcore uses it for SNI and for the certificate's host name check).
    """

    def __init__(self, *, allow_private: bool = False, hint: str = PRIVATE_HINT, what: str = "model endpoint",
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.allow_private, self.hint, self.what = allow_private, hint, what

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        url = request.url
        host = url.host
        try:
            address = await acheck_model_url(str(url), self.allow_private, self.hint)
        except UnsafeModelURL as exc:
            raise httpx2.ConnectError(f"refused {self.what}: {exc}", request=request) from exc
        if "host" not in request.headers:
            request.headers["Host"] = url.netloc.decode("ascii")
        if url.scheme == "https":
            request.extensions = {**request.extensions, "sni_hostname": host}
        request.url = url.copy_with(host=address)
        return await super().handle_async_request(request)
