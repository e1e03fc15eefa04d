"""Where a stored credential may go: each credential carries the hosts (or origins) its key may be
sent to, set by the workspace admin who stores it. A tool that would put the key in a request to
any other host is refused before anything is sent (the secret never leaves).

A rule is one of:
  ``api.example.com``            that host, any scheme and port;
  ``*.example.com``              any subdomain of example.com (not example.com itself);
  ``https://api.example.com:8443`` that origin only (scheme, host and port).
No rules: the key goes to no tool at all (until an admin names its hosts).
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

_HOST = re.compile(r"^(\*\.)?([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$")
_DEFAULT_PORTS = {"http": 80, "https": 443}


@dataclass
class StoredCredential:
    """A credential as the run driver resolved it: the secret and where it may be sent."""

    secret: str
    allowed_hosts: list[str] = field(default_factory=list)


# name -> the stored credential (None: no such credential in the run's workspace)
ToolCredentialResolver = Callable[[str], Awaitable[StoredCredential | None]]


class CredentialRefused(Exception):
    """A tool would send a credential to a host outside the credential's allowed hosts."""

    def __init__(self, tool: str, credential: str, host: str, allowed: list[str]) -> None:
        where = ", ".join(allowed) if allowed else "no host yet (an admin must set its allowed hosts)"
        super().__init__(f"tool {tool!r} may not send credential {credential!r} to {host!r}: "
                         f"the credential may only go to {where}")
        self.tool, self.credential, self.host, self.allowed = tool, credential, host, list(allowed)

    def details(self) -> dict[str, object]:
        return {"type": "credential_host", "tool": self.tool, "credential": self.credential, "host": self.host,
                "allowed_hosts": self.allowed}


def host_rule_problem(rule: str) -> str:
    """"" when ``rule`` is a host, ``*.domain`` or an origin; else what is wrong with it."""
    text = rule.strip().lower()
    if "://" in text:
        parts = urlsplit(text)
        if parts.scheme not in _DEFAULT_PORTS:
            return "an origin must start with http:// or https://"
        if parts.path not in ("", "/") or parts.query or parts.fragment or parts.username or parts.password:
            return "an origin is scheme://host[:port], nothing more"
        try:
            parts.port  # noqa: B018 (raises on a bad port)
        except ValueError:
            return "bad port"
        host = parts.hostname or ""
        return "" if host and not host.startswith("*.") and (_HOST.match(host) or _is_ip(host)) else "bad host"
    if _HOST.match(text) or _is_ip(text):
        return ""
    return "a host (api.example.com), *.example.com or an origin (https://api.example.com)"


def _is_ip(text: str) -> bool:
    import ipaddress

    try:
        ipaddress.ip_address(text.strip("[]"))
    except ValueError:
        return False
    return True


def normalize_rules(rules: list[str]) -> list[str]:
    """Rules as stored: trimmed, lower case, an origin without a trailing slash, no duplicates."""
    out: list[str] = []
    for rule in rules:
        text = rule.strip().lower().rstrip("/")
        if text and text not in out:
            out.append(text)
    return out


def credential_allows(rules: list[str], url: str) -> bool:
    """May a credential with these rules be sent in a request to ``url``?"""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if not host:
        return False
    scheme = parts.scheme.lower()
    try:
        port = parts.port or _DEFAULT_PORTS.get(scheme)
    except ValueError:
        return False
    for rule in normalize_rules(rules):
        if "://" in rule:
            origin = urlsplit(rule)
            if origin.scheme == scheme and origin.hostname == host and (origin.port or _DEFAULT_PORTS.get(origin.scheme)) == port:
                return True
        elif rule.startswith("*."):
            if host.endswith(rule[1:]) and host != rule[2:]:
                return True
        elif rule == host:
            return True
    return False


def host_of(url: str) -> str:
    """The host (and port, when the URL names one) a request to ``url`` goes to, for messages."""
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        port = None
    return (parts.hostname or "").lower() + (f":{port}" if port else "")
