"""Building requests: caller input -> validated ``PreparedRequest``.

The rules live here, before any I/O, so that bad input fails with an
``InvalidRequestError`` naming the field and the fix while nothing has been sent. A
``PreparedRequest`` is immutable: its key and body bytes are fixed once, and every retry
re-sends exactly those bytes (a changed body under the same key is a *different* request
to Zuora, answered with 422).

Hostile input is refused here too, never passed on to fail somewhere deeper: header
values a server would strip or split, ids whose type could steer a path (an ``int``
subclass with its own ``__format__``) or too long to be one (every id goes into a path as
the canonical decimal digits of its ``int`` value, at most ``MAX_ID``), query values that
are not valid text. Bodies are encoded by ``bodies`` (the one checked JSON encoder, whose
names are re-exported here); every path, query and header is written by
``prepared_request``, where the record itself and ``prepare_get`` live.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from urllib.parse import urlencode, urlsplit

from zuora_wf_async._core.bodies import (
    MAX_BODY_BYTES,
    MAX_PARAMS_DEPTH,
    RESERVED_PARAM_NAMES,
    encodable_text,
    encode_json,
    encode_params,
    raised_reading,
    rough_size,
    shown_value,
)
from zuora_wf_async._core.prepared_request import (
    JSON_CONTENT_TYPE,
    MAX_ID,
    PreparedRequest,
    canonical_int,
    shown_int,
)
from zuora_wf_async._errors import InvalidRequestError

__all__ = [
    "MAX_BODY_BYTES",
    "MAX_PARAMS_DEPTH",
    "RESERVED_PARAM_NAMES",
    "TOKEN_PATH",
    "encodable_text",
    "encode_json",
    "encode_params",
    "exact_str",
    "normalize_base_url",
    "prepare_run",
    "prepare_token",
    "rough_size",
    "shown_value",
    "validate_id_bound",
    "validate_id_list",
    "validate_idempotency_key",
    "validate_track_id",
    "validate_workflow_id",
]

MAX_IDEMPOTENCY_KEY_LENGTH = 255
MAX_TRACK_ID_LENGTH = 64
_TRACK_ID_FORBIDDEN = frozenset(":;\"'")

TOKEN_PATH = "/oauth/token"  # noqa: S105 -- a URL path, not a password
FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"


def _is_loopback(host: str) -> bool:
    # Only the exact name: "evil.localhost" resolves wherever a resolver sends it (RFC
    # 6761 asks resolvers to keep *.localhost on loopback; not every resolver does).
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def normalize_base_url(base_url: object) -> str:
    """``base_url`` without a trailing slash, refusing plain HTTP to anything but loopback."""
    fix = "pass Zuora's REST host, for example 'https://rest.test.zuora.com'"
    base_url = exact_str(base_url)
    if not isinstance(base_url, str) or not base_url.strip():
        raise InvalidRequestError(
            "base_url", f"expected a URL string, got {type(base_url).__name__}", fix
        )
    text = base_url.strip(" ")
    # urlsplit silently deletes CR, LF and tab from anywhere in a URL, so
    # "https://rest.zu\nora.com" would become another host; refuse, never mend.
    if not text.isprintable() or any(char.isspace() for char in text):
        raise InvalidRequestError(
            "base_url", "contains whitespace or a control character (CR, LF, tab, NUL...)", fix
        )
    parts = urlsplit(text)
    host = parts.hostname or ""
    if parts.scheme not in ("http", "https") or not host:
        # Not echoed whole: a mistyped URL may still carry credentials.
        raise InvalidRequestError(
            "base_url", f"is not an http(s) URL with a host (scheme {parts.scheme!r})", fix
        )
    try:
        parts.port  # noqa: B018 -- urlsplit checks the port only when it is read
    except ValueError:
        raise InvalidRequestError(
            "base_url", "has a port that is not a number 0-65535", fix
        ) from None
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


def exact_str(value: object) -> object:
    """A ``str`` subclass as the plain ``str`` of its characters; anything else unchanged.

    Validation calls methods (``isprintable``, ``strip``) and sending formats the value:
    a subclass could override both and pass a CR/LF check it then fails in a header.
    """
    return str.__str__(value) if isinstance(value, str) else value


def validate_workflow_id(workflow_id: object) -> int:
    """The workflow id as a plain positive ``int`` (see ``canonical_int``)."""
    if type(workflow_id) is int and 0 < workflow_id <= MAX_ID:
        return workflow_id  # the common id, already plain: nothing to canonicalise
    # bool is an int subclass; True as a workflow id is always a bug.
    value = canonical_int(workflow_id)
    if value is None or value <= 0:
        shown = shown_value(workflow_id) if value is None else shown_int(value)
        raise InvalidRequestError(
            "workflow_id",
            f"expected a positive int, got {shown}",
            "pass the numeric id of the workflow definition (the number in WF-<id>-...)",
        )
    return validate_id_bound(value, "workflow_id")


def validate_id_bound(value: int, field: str) -> int:
    """``value`` if it can be an id (at most ``MAX_ID``), else ``InvalidRequestError``."""
    if value > MAX_ID:
        raise InvalidRequestError(
            field,
            f"is {shown_int(value)}, larger than any id ({MAX_ID})",
            "pass the id Zuora returned",
        )
    return value


def validate_idempotency_key(key: object) -> str:
    key = exact_str(key)
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
    if key != key.strip():
        # HTTP servers strip a header value's surrounding whitespace: " " would arrive as
        # an empty key and "abc " as "abc", colliding with another logical run's key.
        raise InvalidRequestError(
            "idempotency_key",
            "has leading or trailing spaces, which HTTP servers strip from header values",
            "remove them (two keys differing only in outer spaces would be the same key)",
        )
    return key


def validate_track_id(track_id: object) -> str:
    track_id = exact_str(track_id)
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
    if track_id != track_id.strip():
        raise InvalidRequestError(
            "track_id",
            "has leading or trailing spaces (or is only spaces), which HTTP servers strip "
            "from header values",
            "remove them, or pass None to send no Zuora-Track-Id",
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
            field,
            "expected a list of ids, got a single string",
            f"pass {field}=[{shown_value(str.__str__(ids))}]",
        )
    fix = f"pass a list of id strings, e.g. {field}=['8a8082...']"
    if isinstance(ids, Mapping | bytes | bytearray) or not isinstance(ids, Iterable):
        raise InvalidRequestError(field, f"expected a list of ids, got {shown_value(ids)}", fix)
    try:
        given_ids = list(ids)
    except Exception as exc:  # noqa: BLE001 -- the caller's own iterable
        raise InvalidRequestError(field, raised_reading(exc), fix) from None
    values: list[str] = []
    for index, given in enumerate(given_ids):
        value = exact_str(given)
        if not isinstance(value, str) or not value.strip() or "," in value:
            raise InvalidRequestError(
                f"{field}[{index}]",
                f"{shown_value(value)} is not a single id",
                "pass each id as its own non-empty string without commas",
            )
        if not value.isascii() or not value.isprintable():
            raise InvalidRequestError(
                f"{field}[{index}]", "must be printable ASCII", "check the id for stray characters"
            )
        values.append(value.strip())
    return ",".join(values) if values else None


def prepare_run(
    *,
    base_url: str,
    workflow_id: int,
    body: bytes,
    idempotency_key: str,
    track_id: str | None = None,
    entity_ids: str | None = None,
    org_ids: str | None = None,
) -> PreparedRequest:
    """``POST /workflows/{workflow_id}/run`` with an already encoded JSON ``body``.

    The key, track id and header ids come checked (``validate_*``); the workflow id is
    written as a plain int's digits, so anything else is checked here first.
    """
    if type(workflow_id) is not int or not 0 < workflow_id <= MAX_ID:
        workflow_id = validate_workflow_id(workflow_id)
    path = f"/workflows/{workflow_id}/run"
    headers = {
        "Accept": JSON_CONTENT_TYPE,
        "Accept-Encoding": "gzip",
        "Content-Type": JSON_CONTENT_TYPE,
        "Idempotency-Key": idempotency_key,
    }
    if entity_ids:
        headers["Zuora-Entity-Ids"] = entity_ids
    if org_ids:
        headers["Zuora-Org-Ids"] = org_ids
    if track_id:
        headers["Zuora-Track-Id"] = track_id
    return PreparedRequest(
        method="POST",
        url=base_url + path,
        path=path,
        headers=headers,
        body=body,
        idempotency_key=idempotency_key,
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
