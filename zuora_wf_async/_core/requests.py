"""Building requests: caller input -> validated ``PreparedRequest``.

The rules live here, before any I/O, so that bad input fails with an
``InvalidRequestError`` naming the field and the fix while nothing has been sent. A
``PreparedRequest`` is immutable: its key and body bytes are fixed once, and every retry
re-sends exactly those bytes (a changed body under the same key is a *different* request
to Zuora, answered with 422).

Hostile input is refused here too, never passed on to fail somewhere deeper: parameters
nested past ``MAX_PARAMS_DEPTH``, lone surrogates, non-string keys at any depth, header
values a server would strip or split, and ids whose type could steer a path (an ``int``
subclass with its own ``__format__``): every id goes into a path as the canonical decimal
digits of its ``int`` value, nothing else.
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
    "MAX_PARAMS_DEPTH",
    "RESERVED_PARAM_NAMES",
    "TOKEN_PATH",
    "PreparedRequest",
    "RunRequests",
    "canonical_int",
    "encode_params",
    "exact_str",
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
# Real workflow parameters nest a handful of levels. The cap makes the refusal the same on
# every machine (json's C encoder fails somewhere near Python's recursion limit, which
# depends on how deep the caller's stack already is) and keeps a rejected value's path short.
MAX_PARAMS_DEPTH = 100
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


def _shown(value: object) -> str:
    """A short description of a caller's value for a message; never runs its own code."""
    if value is None or type(value) in (int, float):
        return repr(value)
    if type(value) is str:
        return repr(value) if len(value) <= 40 else f"a {len(value)}-character string"
    return f"a {type(value).__name__}"


def canonical_int(value: object) -> int | None:
    """``value``'s plain ``int`` if it is an int (not a bool), else None.

    ``int.__int__`` reads the stored number and returns an exact ``int``: an ``int``
    subclass's own ``__int__``, ``__format__``, ``__str__`` or comparisons never run, so a
    crafted id cannot change a request path (one steered a POST to ``/oauth/token``).
    """
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    return int.__int__(value)


def exact_str(value: object) -> object:
    """A ``str`` subclass as the plain ``str`` of its characters; anything else unchanged.

    Validation calls methods (``isprintable``, ``strip``) and sending formats the value:
    a subclass could override both and pass a CR/LF check it then fails in a header.
    """
    return str.__str__(value) if isinstance(value, str) else value


def validate_workflow_id(workflow_id: object) -> int:
    """The workflow id as a plain positive ``int`` (see ``canonical_int``)."""
    if type(workflow_id) is int and workflow_id > 0:
        return workflow_id  # the common id, already plain: nothing to canonicalise
    # bool is an int subclass; True as a workflow id is always a bug.
    value = canonical_int(workflow_id)
    if value is None or value <= 0:
        shown = _shown(workflow_id) if value is None else str(value)
        raise InvalidRequestError(
            "workflow_id",
            f"expected a positive int, got {shown}",
            "pass the numeric id of the workflow definition (the number in WF-<id>-...)",
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
            field, "expected a list of ids, got a single string", f"pass {field}=[{ids!r}]"
        )
    values: list[str] = []
    for index, given in enumerate(ids):
        value = exact_str(given)
        if not isinstance(value, str) or not value.strip() or "," in value:
            raise InvalidRequestError(
                f"{field}[{index}]",
                f"{_shown(value)} is not a single id",
                "pass each id as its own non-empty string without commas",
            )
        if not value.isascii() or not value.isprintable():
            raise InvalidRequestError(
                f"{field}[{index}]", "must be printable ASCII", "check the id for stray characters"
            )
        values.append(value.strip())
    return ",".join(values) if values else None


def _encodable_text(text: str) -> bool:
    # A lone surrogate ("\ud800") is a valid Python str but not encodable as UTF-8.
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True


def _render_path(segments: Sequence[str]) -> str:
    """``params['a'][0]``; a very deep path keeps its two ends, so a message stays short."""
    if len(segments) > 12:
        hidden = len(segments) - 8
        segments = [*segments[:4], f"[...{hidden} more levels...]", *segments[-4:]]
    return "params" + "".join(segments)


def _key_segment(key: str) -> str:
    return f"[{key!r}]" if len(key) <= 40 else f"[{key[:37]!r}...]"


_Pending = tuple[object, tuple[str, ...], frozenset[int]]


def _leaf_problem(value: object) -> str | None:
    """Why a non-container value cannot be JSON, or None when it can."""
    if value is None or isinstance(value, bool | int):
        return None
    if isinstance(value, str):
        return None if _encodable_text(value) else "contains a lone surrogate (not valid UTF-8)"
    if isinstance(value, float):
        return None if math.isfinite(value) else f"{value!r} is not valid JSON"
    return f"a {type(value).__name__} is not JSON-serialisable"


def _children(
    value: Mapping[Any, Any] | list[Any] | tuple[Any, ...],
    segments: tuple[str, ...],
    ancestors: frozenset[int],
) -> tuple[list[_Pending], str | None]:
    """The items of a container to look at next, or why its keys are refused."""
    if not isinstance(value, Mapping):
        items = [(item, (*segments, f"[{index}]"), ancestors) for index, item in enumerate(value)]
        return items, None
    children: list[_Pending] = []
    for key, item in value.items():
        if not isinstance(key, str):
            return [], (
                f"has a key of type {type(key).__name__}; JSON keys are strings, and json "
                'would silently turn 1 into "1" (a duplicate if "1" is there too)'
            )
        if not _encodable_text(key):
            return [], "has a key with a lone surrogate (not valid UTF-8)"
        children.append((item, (*segments, _key_segment(key)), ancestors))
    return children, None


def _find_problem(params: object) -> tuple[str, str] | None:
    """The path and reason of the first value that cannot be sent as JSON, or None.

    Walks with its own stack, never recursion, so a value nested 100,000 deep is named
    rather than crashing with ``RecursionError``. Runs only once a problem is known or
    suspected, so its cost (a path string per value) is paid on the failure path alone.
    """
    stack: list[_Pending] = [(params, (), frozenset())]
    while stack:
        value, segments, ancestors = stack.pop()
        if not isinstance(value, Mapping | list | tuple):
            reason = _leaf_problem(value)
        elif id(value) in ancestors:
            reason = "contains itself (a circular reference)"
        elif len(segments) >= MAX_PARAMS_DEPTH:
            reason = f"nests deeper than {MAX_PARAMS_DEPTH} levels"
        else:
            children, reason = _children(value, segments, ancestors | {id(value)})
            stack.extend(reversed(children))
        if reason is not None:
            return _render_path(segments), reason
    return None


_FIXES = {
    "surrogate": "replace it with valid text (lone surrogates come from decoding bytes with "
    "errors='surrogateescape' or from broken JSON escapes)",
    "nests deeper": "flatten the structure, or send the deep part as a JSON string",
    "has a key": "convert the keys to str yourself, deciding what two keys that read alike mean",
    "circular": "pass a tree: copy the shared part instead of referring back to it",
}


def _fix_for(reason: str) -> str:
    for marker, fix in _FIXES.items():
        if marker in reason:
            return fix
    return "convert it to a str, number, bool, None, list or dict first"


def _needs_a_closer_look(params: Mapping[str, Any]) -> bool:
    """True if ``params``, which json encoded, has a non-string key or nests too deep.

    json turns int, float, bool and None keys into strings without a word, so only a walk
    finds them. This one builds no paths and skips scalars by exact type: a few hundred
    nanoseconds for typical parameters, about half of json's own time on a megabyte of
    rows (encoded off the event loop, see ``_encoding``).
    """
    stack: list[tuple[object, int]] = [(params, 1)]
    pop = stack.pop
    push = stack.append
    while stack:
        node, depth = pop()
        values: Iterable[object]
        if type(node) is dict or isinstance(node, Mapping):
            for key in node:
                if type(key) is not str and not isinstance(key, str):
                    return True
            values = node.values()
        elif isinstance(node, list | tuple):
            values = node
        else:
            continue  # a scalar of a subclassed type (an IntEnum, a str subclass)
        if depth > MAX_PARAMS_DEPTH:
            return True
        deeper = depth + 1
        for item in values:
            kind = type(item)
            if kind is str or kind is int or kind is float or kind is bool or item is None:
                continue
            push((item, deeper))
    return False


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


# One encoder for every body: json.dumps with any option of its own builds a new
# JSONEncoder per call. encode() keeps no state between calls, so threads may share it.
_ENCODER = json.JSONEncoder(
    ensure_ascii=False,
    allow_nan=False,
    separators=(",", ":"),
    default=_mapping_as_dict,
)
_dumps = _ENCODER.encode


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


def encode_params(params: object, *, slice_items: int | None = None, flat: bool = False) -> bytes:
    """Validate workflow parameters and encode them as compact UTF-8 JSON.

    ``slice_items`` encodes long top-level lists in slices of that many items (same bytes),
    for callers encoding big bodies in a thread beside an event loop. ``flat`` is the
    caller's word that ``params`` is a ``dict`` whose values are all exactly ``str``,
    ``int``, ``float``, ``bool`` or None (``_encoding`` checks that anyway): with the names
    checked below, nothing is left for the walk that looks for nested non-string keys.
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
                f"parameter name {_shown(name)} is a {type(name).__name__}",
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
        body = text.encode()
        suspect = not flat and _needs_a_closer_look(params)
    except (TypeError, ValueError, RecursionError) as exc:  # UnicodeEncodeError is a ValueError
        suspect = True
        failure = f"{type(exc).__name__}: json could not encode it"
    else:
        failure = ""
    if suspect:
        # Only the failure path pays for the walk that names the offending field.
        path, reason = _find_problem(params) or ("params", failure or "cannot be encoded")
        raise InvalidRequestError(path, reason, _fix_for(reason))
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


def _path_segment(value: object) -> str:
    """One path segment: an int as its canonical digits, text percent-encoded whole."""
    number = canonical_int(value)
    if number is not None:
        return str(number)
    if not isinstance(value, str):
        raise InvalidRequestError(
            "path",
            f"a path argument must be an int or a str, got {_shown(value)}",
            "validate ids first",
        )
    text = str.__str__(value)  # the characters themselves, whatever a subclass overrides
    if text in ("", ".", ".."):
        # quote() leaves dots alone, and "." or ".." would move the request elsewhere.
        raise InvalidRequestError("path", f"{text!r} is not an id", "pass the id itself")
    if not _encodable_text(text):
        raise InvalidRequestError("path", "contains a lone surrogate", "pass the id itself")
    return quote(text, safe="")


class RunRequests:
    """``POST /workflows/{workflow_id}/run`` for one workflow: what every run of it shares
    (URL, path, the constant headers) built once, the per-run rest in ``prepare``."""

    __slots__ = ("_headers", "_path", "_url")

    def __init__(
        self,
        *,
        base_url: str,
        workflow_id: int,
        entity_ids: str | None = None,
        org_ids: str | None = None,
        extra_headers: Mapping[str, str] | None = None,
    ) -> None:
        self._path = f"/workflows/{_path_segment(workflow_id)}/run"
        self._url = base_url + self._path
        self._headers = _common_headers(
            entity_ids=entity_ids, org_ids=org_ids, track_id=None, extra=extra_headers
        )
        self._headers["Content-Type"] = JSON_CONTENT_TYPE

    def prepare(
        self, body: bytes, idempotency_key: str, track_id: str | None = None
    ) -> PreparedRequest:
        """One run's request: the shared parts with its key, its track id and ``body``."""
        headers = {**self._headers, "Idempotency-Key": idempotency_key}
        if track_id:
            headers["Zuora-Track-Id"] = track_id
        return PreparedRequest(
            method="POST",
            url=self._url,
            path=self._path,
            headers=headers,
            body=body,
            idempotency_key=idempotency_key,
            track_id=track_id,
        )


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
    requests = RunRequests(
        base_url=base_url,
        workflow_id=workflow_id,
        entity_ids=entity_ids,
        org_ids=org_ids,
        extra_headers=extra_headers,
    )
    return requests.prepare(body, idempotency_key, track_id)


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
    path = path_template.format(*(_path_segment(arg) for arg in path_args))
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
