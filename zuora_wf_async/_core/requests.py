"""Building requests: caller input -> validated ``PreparedRequest``.

The rules live here, before any I/O, so that bad input fails with an
``InvalidRequestError`` naming the field and the fix while nothing has been sent. A
``PreparedRequest`` is immutable: its key and body bytes are fixed once, and every retry
re-sends exactly those bytes (a changed body under the same key is a *different* request
to Zuora, answered with 422).
"""

from __future__ import annotations

import ipaddress
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

import attrs

from zuora_wf_async._errors import InvalidRequestError

__all__ = [
    "MAX_BODY_BYTES",
    "RESERVED_PARAM_NAMES",
    "TOKEN_PATH",
    "PreparedRequest",
    "encode_params",
    "normalize_base_url",
    "prepare_get",
    "prepare_run",
    "prepare_token",
    "rough_size",
    "validate_id_list",
    "validate_idempotency_key",
    "validate_track_id",
    "validate_workflow_id",
]

# Zuora's run endpoint refuses these as top-level parameter names (API reference, "Run a workflow").
RESERVED_PARAM_NAMES = frozenset(
    {"controller", "action", "id", "user_email", "user_token", "format"}
)
# "A task payload is at most 5 MB" (Workflow limits). Zuora does not say MB or MiB; we take
# the smaller reading so a body we accept is never one Zuora refuses for size.
MAX_BODY_BYTES = 5_000_000
MAX_IDEMPOTENCY_KEY_LENGTH = 255
MAX_TRACK_ID_LENGTH = 64
_TRACK_ID_FORBIDDEN = frozenset(":;\"'")

TOKEN_PATH = "/oauth/token"  # noqa: S105 -- a URL path, not a password
JSON_CONTENT_TYPE = "application/json"
FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"


@attrs.frozen(kw_only=True)
class PreparedRequest:
    """One HTTP request, ready to send any number of times.

    ``headers`` holds everything but ``Authorization``, which is added per attempt because
    the token may be refreshed between attempts. ``body`` is hidden from ``repr`` since a
    token request's body carries the client secret.
    """

    method: str
    url: str
    path: str
    headers: Mapping[str, str]
    body: bytes | None = attrs.field(default=None, repr=False)
    idempotency_key: str | None = None
    track_id: str | None = None

    @property
    def gzipped(self) -> bool:
        return self.headers.get("Content-Encoding") == "gzip"

    def with_gzip_body(self, compressed: bytes) -> PreparedRequest:
        """The same request with ``compressed`` (gzip of ``body``) as its body."""
        return attrs.evolve(
            self, headers={**self.headers, "Content-Encoding": "gzip"}, body=compressed
        )


def _is_loopback(host: str) -> bool:
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def normalize_base_url(base_url: object) -> str:
    """``base_url`` without a trailing slash, refusing plain HTTP to anything but loopback."""
    if not isinstance(base_url, str) or not base_url.strip():
        raise InvalidRequestError(
            "base_url",
            f"expected a URL string, got {type(base_url).__name__}",
            "pass Zuora's REST host, for example 'https://rest.test.zuora.com'",
        )
    parts = urlsplit(base_url.strip())
    host = parts.hostname or ""
    if parts.scheme not in ("http", "https") or not host:
        raise InvalidRequestError(
            "base_url",
            f"{base_url!r} is not an http(s) URL with a host",
            "pass Zuora's REST host, for example 'https://rest.test.zuora.com'",
        )
    if parts.scheme == "http" and not _is_loopback(host):
        raise InvalidRequestError(
            "base_url",
            f"plain http to {host!r} would send the token unencrypted",
            "use https:// (http:// is allowed only for loopback test servers)",
        )
    if parts.query or parts.fragment or parts.username or parts.password:
        raise InvalidRequestError(
            "base_url",
            "must not carry credentials, a query or a fragment",
            "pass only scheme, host, optional port and optional path prefix",
        )
    return f"{parts.scheme}://{parts.netloc}{parts.path.rstrip('/')}"


def validate_workflow_id(workflow_id: object) -> int:
    # bool is an int subclass; True as a workflow id is always a bug.
    if isinstance(workflow_id, bool) or not isinstance(workflow_id, int) or workflow_id <= 0:
        raise InvalidRequestError(
            "workflow_id",
            f"expected a positive int, got {workflow_id!r}",
            "pass the numeric id of the workflow definition (the number in WF-<id>-...)",
        )
    return workflow_id


def validate_idempotency_key(key: object) -> str:
    if not isinstance(key, str) or not key:
        raise InvalidRequestError(
            "idempotency_key",
            "must be a non-empty string",
            "pass None to have a UUID4 generated, or a stable string per logical run",
        )
    if len(key) > MAX_IDEMPOTENCY_KEY_LENGTH:
        raise InvalidRequestError(
            "idempotency_key",
            f"is {len(key)} characters; Zuora accepts at most {MAX_IDEMPOTENCY_KEY_LENGTH}",
            "use a shorter key, for example a UUID or a hash of the logical run's identity",
        )
    if not key.isascii() or not key.isprintable():
        raise InvalidRequestError(
            "idempotency_key",
            "must be printable ASCII",
            "use letters, digits and punctuation only (a UUID or a hex digest works)",
        )
    return key


def validate_track_id(track_id: object) -> str:
    if not isinstance(track_id, str) or not track_id:
        raise InvalidRequestError(
            "track_id", "must be a non-empty string", "pass None to send no Zuora-Track-Id"
        )
    if len(track_id) > MAX_TRACK_ID_LENGTH:
        raise InvalidRequestError(
            "track_id",
            f"is {len(track_id)} characters; Zuora accepts at most {MAX_TRACK_ID_LENGTH}",
            "shorten it",
        )
    if not track_id.isascii() or not track_id.isprintable():
        raise InvalidRequestError(
            "track_id", "must be printable US-ASCII", "remove non-ASCII or control characters"
        )
    bad = sorted(_TRACK_ID_FORBIDDEN.intersection(track_id))
    if bad:
        raise InvalidRequestError(
            "track_id",
            f"contains {' '.join(bad)}, which Zuora forbids",
            "remove the characters : ; \" '",
        )
    return track_id


def validate_id_list(field: str, ids: Iterable[str] | None) -> str | None:
    """Entity or org ids as Zuora's comma-separated header value, or None when unset."""
    if ids is None:
        return None
    if isinstance(ids, str):
        raise InvalidRequestError(
            field, "expected a list of ids, got a single string", f"pass {field}=[{ids!r}]"
        )
    values = list(ids)
    for index, value in enumerate(values):
        if not isinstance(value, str) or not value.strip() or "," in value:
            raise InvalidRequestError(
                f"{field}[{index}]",
                f"{value!r} is not a single id",
                "pass each id as its own non-empty string without commas",
            )
        if not value.isascii() or not value.isprintable():
            raise InvalidRequestError(
                f"{field}[{index}]", "must be printable ASCII", "check the id for stray characters"
            )
    return ",".join(value.strip() for value in values) if values else None


def _find_unencodable(
    value: Any, path: str, seen: frozenset[int] = frozenset()
) -> tuple[str, str] | None:
    """The path and reason of the first value ``json.dumps`` refuses, or None."""
    if id(value) in seen:
        return (path, "contains itself (a circular reference)")
    if value is None or isinstance(value, str | bool | int):
        return None
    if isinstance(value, float):
        return None if math.isfinite(value) else (path, f"{value!r} is not valid JSON")
    inner = seen | {id(value)}
    if isinstance(value, Mapping):
        for key, item in value.items():
            if not isinstance(key, str):
                return (path, f"has a key of type {type(key).__name__}; JSON keys are strings")
            found = _find_unencodable(item, f"{path}[{key!r}]", inner)
            if found:
                return found
        return None
    if isinstance(value, list | tuple):
        for index, item in enumerate(value):
            found = _find_unencodable(item, f"{path}[{index}]", inner)
            if found:
                return found
        return None
    return (path, f"a {type(value).__name__} is not JSON-serialisable")


def _mapping_as_dict(value: object) -> dict[Any, Any]:
    # json only knows dict; any other Mapping (MappingProxyType, a frozen dict) is one too.
    if isinstance(value, Mapping):
        return dict(value)
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def rough_size(params: object) -> int:
    """A cheap guess at the encoded size of ``params``, to decide where to encode them.

    Looks one level deep only (strings by length, containers at ~32 bytes an item), so it
    costs microseconds where encoding a large body costs milliseconds.
    """
    if not isinstance(params, Mapping):
        return 0
    total = 0
    for value in params.values():
        if isinstance(value, str | bytes):
            total += len(value)
        elif isinstance(value, Mapping | list | tuple):
            total += 32 * len(value)
        else:
            total += 8
    return total


def _dumps(value: object) -> str:
    return json.dumps(
        value,
        ensure_ascii=False,
        allow_nan=False,
        separators=(",", ":"),
        default=_mapping_as_dict,
    )


def _dumps_sliced(params: Mapping[str, Any], slice_items: int) -> str:
    """The same text as ``_dumps(params)``, with long top-level lists encoded in slices.

    json's C encoder holds the GIL for a whole call: a megabyte of rows is one 15 ms
    stretch in which no other thread, the event loop's included, can run. Encoding the
    rows ``slice_items`` at a time gives the interpreter a chance to switch threads between
    slices. With compact separators the pieces join into exactly ``_dumps``'s output.
    """
    members = []
    for name, value in params.items():
        if isinstance(value, list | tuple) and len(value) > slice_items:
            slices = (
                _dumps(list(value[start : start + slice_items]))[1:-1]
                for start in range(0, len(value), slice_items)
            )
            encoded = "[" + ",".join(slices) + "]"
        else:
            encoded = _dumps(value)
        members.append(f"{_dumps(name)}:{encoded}")
    return "{" + ",".join(members) + "}"


def encode_params(params: object, *, slice_items: int | None = None) -> bytes:
    """Validate workflow parameters and encode them as compact UTF-8 JSON.

    ``slice_items`` encodes long top-level lists in slices of that many items (same bytes),
    for callers encoding big bodies in a thread beside an event loop.
    """
    if params is None:
        params = {}
    if not isinstance(params, Mapping):
        raise InvalidRequestError(
            "params",
            f"expected a mapping of parameter names to values, got {type(params).__name__}",
            "pass a dict such as {'accountId': 'A-1'}",
        )
    for name in params:
        if not isinstance(name, str):
            raise InvalidRequestError(
                "params",
                f"parameter name {name!r} is a {type(name).__name__}",
                "use string parameter names",
            )
        if name in RESERVED_PARAM_NAMES:
            raise InvalidRequestError(
                f"params[{name!r}]",
                "is a name Zuora reserves",
                f"rename it; {', '.join(sorted(RESERVED_PARAM_NAMES))} cannot be parameters",
            )
    try:
        text = _dumps(params) if slice_items is None else _dumps_sliced(params, slice_items)
    except (TypeError, ValueError, RecursionError) as exc:
        # Only the failure path pays for the walk that names the offending field.
        path, reason = _find_unencodable(params, "params") or ("params", str(exc))
        raise InvalidRequestError(
            path, reason, "convert it to a str, number, bool, None, list or dict first"
        ) from None
    body = text.encode()
    if len(body) > MAX_BODY_BYTES:
        raise InvalidRequestError(
            "params",
            f"encode to {len(body):,} bytes; Zuora's task payload limit is {MAX_BODY_BYTES:,}",
            "pass references (ids, URLs) instead of large data",
        )
    return body


def _common_headers(
    *,
    entity_ids: str | None,
    org_ids: str | None,
    track_id: str | None,
    extra: Mapping[str, str] | None,
) -> dict[str, str]:
    headers = {"Accept": JSON_CONTENT_TYPE, "Accept-Encoding": "gzip"}
    if extra:
        headers.update(extra)
    if entity_ids:
        headers["Zuora-Entity-Ids"] = entity_ids
    if org_ids:
        headers["Zuora-Org-Ids"] = org_ids
    if track_id:
        headers["Zuora-Track-Id"] = track_id
    return headers


def prepare_run(
    *,
    base_url: str,
    workflow_id: int,
    body: bytes,
    idempotency_key: str,
    track_id: str | None = None,
    entity_ids: str | None = None,
    org_ids: str | None = None,
    extra_headers: Mapping[str, str] | None = None,
) -> PreparedRequest:
    """``POST /workflows/{workflow_id}/run`` with an already encoded JSON ``body``."""
    path = f"/workflows/{workflow_id}/run"
    headers = _common_headers(
        entity_ids=entity_ids, org_ids=org_ids, track_id=track_id, extra=extra_headers
    )
    headers["Content-Type"] = JSON_CONTENT_TYPE
    headers["Idempotency-Key"] = idempotency_key
    return PreparedRequest(
        method="POST",
        url=base_url + path,
        path=path,
        headers=headers,
        body=body,
        idempotency_key=idempotency_key,
        track_id=track_id,
    )


def prepare_get(
    *,
    base_url: str,
    path_template: str,
    path_args: Sequence[str | int] = (),
    query: Sequence[tuple[str, str]] = (),
    method: str = "GET",
    track_id: str | None = None,
    entity_ids: str | None = None,
    org_ids: str | None = None,
    extra_headers: Mapping[str, str] | None = None,
) -> PreparedRequest:
    """A body-less request (GET, or PUT for stop); path arguments are percent-encoded."""
    path = path_template.format(*(quote(str(arg), safe="") for arg in path_args))
    url = base_url + path + (f"?{urlencode(query)}" if query else "")
    return PreparedRequest(
        method=method,
        url=url,
        path=path,
        headers=_common_headers(
            entity_ids=entity_ids, org_ids=org_ids, track_id=track_id, extra=extra_headers
        ),
        track_id=track_id,
    )


def prepare_token(
    *,
    base_url: str,
    client_id: str,
    client_secret: str,
    entity_ids: str | None = None,
    track_id: str | None = None,
) -> PreparedRequest:
    """``POST /oauth/token`` with a client-credentials form body (no Authorization header)."""
    path = TOKEN_PATH
    headers = {
        "Accept": JSON_CONTENT_TYPE,
        "Accept-Encoding": "gzip",
        "Content-Type": FORM_CONTENT_TYPE,
    }
    # Zuora documents a single entity UUID on this call; several ids go on API calls only.
    if entity_ids and "," not in entity_ids:
        headers["Zuora-Entity-Ids"] = entity_ids
    if track_id:
        headers["Zuora-Track-Id"] = track_id
    body = urlencode(
        {
            "client_id": client_id,
            "client_secret": client_secret,
            "grant_type": "client_credentials",
        }
    ).encode()
    return PreparedRequest(
        method="POST", url=base_url + path, path=path, headers=headers, body=body, track_id=track_id
    )
