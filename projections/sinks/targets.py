"""Where a sink may send, and its secret.

A target is ``https://`` to a host on the allow-list (``EXPORT_LEDGER_SINK_HOSTS``; none by
default) or ``http://`` to this machine's loopback; anything else is refused when the sink
is added, so the ledger cannot be made to call into a network it should not reach. The
sender follows no redirect.

The secret follows Standard Webhooks: ``whsec_`` and the base64 of 32 random bytes. It is
shown once, when the sink is added, and stored sealed (AES-256-GCM, bound to the sink's
name) under the sink key, which is kept outside the database.
"""

from __future__ import annotations

import base64
import ipaddress
import os
import re
from collections.abc import Collection
from urllib.parse import urlsplit

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from domain.exceptions import ConfigurationError, InvalidSink

SECRET_PREFIX = "whsec_"
_SECRET_BYTES = 32
_NONCE = 12
_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")
_LOOPBACK_NAMES = {"localhost"}


def check_name(name: str) -> str:
    if not _NAME.match(name):
        raise InvalidSink(
            f"a sink's name is 1 to 40 lower-case letters, digits, '-' or '_': {name!r}", "name"
        )
    return name


def check_target(url: str, allowed_hosts: Collection[str]) -> str:
    """``url`` when a sink may send to it; InvalidSink saying why not."""
    if len(url) > 2000 or any(c.isspace() or not c.isprintable() for c in url):
        raise InvalidSink("a sink's URL is at most 2000 printable characters, no spaces")
    try:
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        _ = parts.port  # a bad port raises
    except ValueError as error:
        raise InvalidSink(f"not a URL: {url!r} ({error})") from None
    if parts.username is not None or parts.password is not None:
        raise InvalidSink("a sink's URL carries no user name or password")
    if not host:
        raise InvalidSink(f"no host in {url!r}")
    if parts.scheme == "http":
        if not is_loopback(host):
            raise InvalidSink(f"http:// only to loopback; use https:// for {host!r}")
        return url
    if parts.scheme == "https":
        if host not in {h.lower() for h in allowed_hosts}:
            raise InvalidSink(f"{host!r} is not in EXPORT_LEDGER_SINK_HOSTS")
        return url
    raise InvalidSink(f"a sink's URL is https:// (or http:// to loopback), not {parts.scheme!r}")


def is_loopback(host: str) -> bool:
    if host in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(os.urandom(_SECRET_BYTES)).decode()


def seal_secret(key: bytes, name: str, secret: str) -> bytes:
    nonce = os.urandom(_NONCE)
    return nonce + AESGCM(key).encrypt(nonce, secret.encode(), name.encode())


def open_secret(key: bytes, name: str, sealed: bytes) -> str:
    try:
        plain = AESGCM(key).decrypt(sealed[:_NONCE], sealed[_NONCE:], name.encode())
    except InvalidTag:
        raise ConfigurationError(
            f"the secret of sink {name!r} does not open with this sink key "
            "(EXPORT_LEDGER_SINK_KEY_FILE must be the key it was added under)"
        ) from None
    return plain.decode()
