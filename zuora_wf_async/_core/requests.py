"""The caller's values, checked, and the run and token requests.

Everything a caller passes is checked here (or by the builders on top of these checks)
before anything is sent, and refused with an ``InvalidRequestError`` naming the field and
the fix: header values a server would strip or split, ids whose type could steer a path
(an ``int`` subclass with its own ``__format__``) or too long to be one, a base URL that
would send the token in clear. Bodies are encoded by ``bodies``; paths, queries and
headers are written by ``prepared_request``.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import urlencode, urlsplit

from zuora_wf_async._core.bodies import raised_reading, shown_value
from zuora_wf_async._core.prepared_request import (
    JSON_CONTENT_TYPE,
    MAX_ID,
    MAX_ID_DIGITS,
    PreparedRequest,
    canonical_int,
    shown_int,
)
from zuora_wf_async._errors import InvalidRequestError

__all__ = [
    "MAX_IDEMPOTENCY_KEY_LENGTH",
    "TOKEN_PATH",
    "exact_str",
    "header_text",
    "normalize_base_url",
    "prepare_run",
    "prepare_token",
    "read_list",
    "validate_id",
    "validate_id_list",
    "validate_idempotency_key",
    "validate_track_id",
    "validate_workflow_id",
]

MAX_IDEMPOTENCY_KEY_LENGTH = 255
MAX_TRACK_ID_LENGTH = 64
TOKEN_PATH = "/oauth/token"  # noqa: S105 -- a URL path, not a password


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
    text = exact_str(base_url)
    if not isinstance(text, str) or not text.strip():
        problem = f"expected a URL string, got {shown_value(text)}"
        raise InvalidRequestError("base_url", problem, fix)
    text = text.strip(" ")
    # urlsplit silently deletes CR, LF and tab from anywhere in a URL, so
    # "https://rest.zu\nora.com" would become another host; refuse, never mend.
    if not text.isprintable() or any(char.isspace() for char in text):
        problem = "contains whitespace or a control character (CR, LF, tab, NUL...)"
        raise InvalidRequestError("base_url", problem, fix)
    parts = urlsplit(text)
    host = parts.hostname or ""
    if parts.scheme not in ("http", "https") or not host:
        # Not echoed whole: a mistyped URL may still carry credentials.
        problem = f"is not an http(s) URL with a host (scheme {parts.scheme!r})"
        raise InvalidRequestError("base_url", problem, fix)
    try:
        parts.port  # noqa: B018 -- urlsplit checks the port only when it is read
    except ValueError:
        problem = "has a port that is not a number 0-65535"
        raise InvalidRequestError("base_url", problem, fix) from None
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


def validate_id(value: object, field: str, example: str = "19080", *, digits: bool = True) -> int:
    """A positive ``int`` id at most ``MAX_ID``, as a plain ``int`` (see ``canonical_int``);
    with ``digits``, a string of digits (``"19080"``) too, refused before ``int()`` could
    fail on 5,000 of them."""
    number = canonical_int(value)  # None for a bool: True as an id is always a bug
    if number is None and digits and isinstance(value, str):
        text = str.__str__(value)
        if text.isascii() and text.isdigit() and len(text.lstrip("0")) <= MAX_ID_DIGITS:
            number = int(text)
    if number is None or number <= 0:
        kind = "a positive int or a string of digits" if digits else "a positive int"
        shown = shown_value(value) if number is None else shown_int(number)
        raise InvalidRequestError(field, f"expected {kind}, got {shown}", f"e.g. {example}")
    if number > MAX_ID:
        problem = f"is {shown_int(number)}, larger than any id ({MAX_ID})"
        raise InvalidRequestError(field, problem, "pass the id Zuora returned")
    return number


def validate_workflow_id(workflow_id: object) -> int:
    """A run's workflow id: a positive ``int`` (the number in WF-<id>-...), never text."""
    if type(workflow_id) is int and 0 < workflow_id <= MAX_ID:
        return workflow_id  # the common id, already plain: nothing to canonicalise
    return validate_id(workflow_id, "workflow_id", "396 (the number in WF-396-...)", digits=False)


def header_text(value: object, field: str, *, max_length: int, fix: str) -> str:
    """Caller text for a header: printable ASCII of at most ``max_length``, not empty.

    Outer spaces are refused, never stripped: HTTP servers strip them from a header value,
    so ``"abc "`` would arrive as ``"abc"``, colliding with another caller's value.
    """
    text = exact_str(value)
    if not isinstance(text, str) or not text:
        problem = f"expected a non-empty string, got {shown_value(text)}"
        raise InvalidRequestError(field, problem, fix)
    if not text.isascii() or not text.isprintable() or text != text.strip():
        problem = "must be printable ASCII, without the outer spaces HTTP servers strip"
        raise InvalidRequestError(field, problem, fix)
    if len(text) > max_length:
        problem = f"is {len(text)} characters; Zuora accepts at most {max_length}"
        raise InvalidRequestError(field, problem, fix)
    return text


def validate_idempotency_key(key: object) -> str:
    fix = "pass a stable string per logical run (a UUID or a hex digest), or None for a UUID4"
    return header_text(key, "idempotency_key", max_length=MAX_IDEMPOTENCY_KEY_LENGTH, fix=fix)


def validate_track_id(track_id: object) -> str:
    fix = "pass printable ASCII without : ; \" ', or None to send no Zuora-Track-Id"
    text = header_text(track_id, "track_id", max_length=MAX_TRACK_ID_LENGTH, fix=fix)
    forbidden = sorted(set(":;\"'").intersection(text))
    if forbidden:
        raise InvalidRequestError("track_id", f"contains {' '.join(forbidden)}", fix)
    return text


def read_list(value: object, field: str, fix: str) -> list[Any]:
    """A caller's list (any iterable but text, bytes or a mapping) as a plain list."""
    if isinstance(value, str | Mapping | bytes | bytearray) or not isinstance(value, Iterable):
        raise InvalidRequestError(field, f"expected a list, got {shown_value(value)}", fix)
    try:
        return list(value)
    except Exception as exc:  # noqa: BLE001 -- the caller's iterable runs its own code
        raise InvalidRequestError(field, raised_reading(exc), fix) from None


def validate_id_list(field: str, ids: Iterable[str] | None) -> str | None:
    """Entity or org ids as Zuora's comma-separated header value, or None when unset."""
    if ids is None:
        return None
    values: list[str] = []
    for index, given in enumerate(read_list(ids, field, f"pass e.g. {field}=['8a8082...']")):
        value = exact_str(given)
        if not isinstance(value, str) or not value.strip() or "," in value:
            problem = f"{shown_value(value)} is not a single id"
            fix = "pass each id as its own non-empty string without commas"
            raise InvalidRequestError(f"{field}[{index}]", problem, fix)
        if not value.isascii() or not value.isprintable():
            fix = "check the id for stray characters"
            raise InvalidRequestError(f"{field}[{index}]", "must be printable ASCII", fix)
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
    headers = {
        "Accept": JSON_CONTENT_TYPE,
        "Accept-Encoding": "gzip",
        "Content-Type": "application/x-www-form-urlencoded",
    }
    # Zuora documents a single entity UUID on this call; several ids go on API calls only.
    if entity_ids and "," not in entity_ids:
        headers["Zuora-Entity-Ids"] = entity_ids
    if track_id:
        headers["Zuora-Track-Id"] = track_id
    form = {"client_id": client_id, "client_secret": client_secret}
    body = urlencode({**form, "grant_type": "client_credentials"}).encode()
    return PreparedRequest(
        method="POST",
        url=base_url + TOKEN_PATH,
        path=TOKEN_PATH,
        headers=headers,
        body=body,
        track_id=track_id,
    )
