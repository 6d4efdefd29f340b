"""Which tenant a client's limits belong to: the default namespace in Redis.

Zuora limits a *tenant*, so the clients that must share 40 slots are the clients of one
tenant, and no others. Every sandbox of a data centre answers on one host
(``rest.apisandbox.zuora.com``), so the host alone does not say which tenant a client
talks to; the OAuth client does, since each OAuth client belongs to one tenant. The
namespace is therefore a digest of:

- the base URL, normalised so that spellings of one host agree: scheme and host in lower
  case, the scheme's default port dropped, a trailing ``/`` or ``/v1`` dropped;
- the entity ids (Zuora limits each entity of a multi-entity tenant on its own), sorted;
- the OAuth client id. Never the secret: the secret is not an identity, and changing it
  (a rotation) must not split one tenant's processes in two.

With a bearer token there is no client id to read, and the URL and entities are all we
have; ``SharedLimits(namespace=...)`` names the tenant explicitly in that case, or when
several OAuth clients of one tenant should share (their processes then pass one name).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Final
from urllib.parse import urlsplit

__all__ = ["normalise_base_url", "tenant_namespace"]

_DEFAULT_PORTS: Final = {"https": 443, "http": 80}


def normalise_base_url(base_url: str) -> str:
    """``scheme://host[:port][/path]`` with the spellings of one host made equal."""
    parts = urlsplit(base_url.strip())
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if ":" in host:  # an IPv6 literal keeps its brackets
        host = f"[{host}]"
    try:
        port = parts.port
    except ValueError:  # not a number: keep the text, it still names one place
        port = None
    netloc = host if port is None or port == _DEFAULT_PORTS.get(scheme) else f"{host}:{port}"
    path = parts.path.rstrip("/")
    if path.lower().endswith("/v1"):  # the API version is part of every path we build
        path = path[:-3].rstrip("/")
    return f"{scheme}://{netloc}{path}"


def tenant_namespace(
    base_url: str, entity_ids: Sequence[str] | str | None, client_id: str | None
) -> str:
    """The default namespace: one per tenant (URL, entities, OAuth client id)."""
    if isinstance(entity_ids, str):
        entity_ids = entity_ids.split(",")
    entities = ",".join(sorted(e.strip() for e in entity_ids or () if e.strip()))
    identity = f"{normalise_base_url(base_url)}\n{entities}\n{client_id or ''}"
    return "zuora:" + hashlib.sha256(identity.encode()).hexdigest()[:24]
