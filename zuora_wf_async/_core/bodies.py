"""Request bodies: caller values -> compact UTF-8 JSON, checked, or ``InvalidRequestError``.

The one encoder of every request body (a run's parameters, an import's export, an update's
fields): what ``json`` would refuse, crash on, or send although JSON cannot carry it (NaN,
a lone surrogate, a ``date``, a structure that contains itself, nesting past
``MAX_PARAMS_DEPTH``, a key that is no string, an integer past Python's digit limit, a
mapping that raises when read) is refused with the path of the offending value, before
anything is sent. The common body pays for one ``json`` call and a cheap walk; the walk
that builds paths runs only once something is known to be wrong. Pure: no I/O.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from zuora_wf_async._errors import InvalidRequestError

__all__ = [
    "MAX_BODY_BYTES",
    "MAX_PARAMS_DEPTH",
    "RESERVED_PARAM_NAMES",
    "dumps",
    "encodable_text",
    "encode_json",
    "encode_params",
    "raised_reading",
    "rough_size",
    "shown_value",
]

# Zuora's run endpoint refuses these as top-level parameter names (API reference, "Run a workflow").
RESERVED_PARAM_NAMES = frozenset(
    {"controller", "action", "id", "user_email", "user_token", "format"}
)
# "A task payload is at most 5 MB" (Workflow limits). Zuora does not say MB or MiB; we take
# the smaller reading so a body we accept is never one Zuora refuses for size.
MAX_BODY_BYTES = 5_000_000

# Real workflow parameters nest a handful of levels. The cap makes the refusal the same on
# every machine (json's C encoder fails somewhere near Python's recursion limit, which
# depends on how deep the caller's stack already is) and keeps a rejected value's path short.
MAX_PARAMS_DEPTH = 100


def shown_value(value: object) -> str:
    """A short description of a caller's value for a message; never runs its own code."""
    if type(value) is int:
        return repr(value) if abs(value).bit_length() <= 64 else "an integer of over 19 digits"
    if value is None or type(value) in (bool, float):
        return repr(value)
    if type(value) is str:
        return repr(value) if len(value) <= 40 else f"a {len(value)}-character string"
    return f"a {type(value).__name__}"


def encodable_text(text: str) -> bool:
    # A lone surrogate ("\ud800") is a valid Python str but not encodable as UTF-8.
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True


def raised_reading(exc: BaseException) -> str:
    """The problem of a caller's container that raised when read (its text not quoted:
    it may hold the caller's values)."""
    return f"raised {type(exc).__name__} when read"


def _render_path(segments: Sequence[str], root: str = "params") -> str:
    """``params['a'][0]``; a very deep path keeps its two ends, so a message stays short."""
    if len(segments) > 12:
        hidden = len(segments) - 8
        segments = [*segments[:4], f"[...{hidden} more levels...]", *segments[-4:]]
    return root + "".join(segments)


def _key_segment(key: str) -> str:
    key = str.__str__(key)  # a str subclass's own __repr__ must not run
    return f"[{key!r}]" if len(key) <= 40 else f"[{key[:37]!r}...]"


def _leaf_problem(value: object) -> str | None:
    """Why a non-container value cannot be JSON, or None when it can."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int):
        try:
            int.__repr__(value)
        except ValueError:  # past Python's digit limit: json cannot write it either
            return "is an integer too long to write as JSON"
        return None
    if isinstance(value, str):
        return None if encodable_text(value) else "contains a lone surrogate (not valid UTF-8)"
    if isinstance(value, float):
        return None if math.isfinite(value) else f"{float.__repr__(value)} is not valid JSON"
    return f"a {type(value).__name__} is not JSON-serialisable"


def _find_problem(
    value: object, segments: tuple[str, ...] = (), ancestors: frozenset[int] = frozenset()
) -> tuple[tuple[str, ...], str] | None:
    """The path and reason of the first value that cannot be sent as JSON, or None.

    Runs only once a problem is known or suspected, so its cost (a path per value) is paid
    on the failure path alone. It stops at ``MAX_PARAMS_DEPTH``: a value nested 100,000
    deep is named, never a ``RecursionError``. A mapping's keys are judged before its values.
    """
    if not isinstance(value, Mapping | list | tuple):
        reason = _leaf_problem(value)
        return None if reason is None else (segments, reason)
    if id(value) in ancestors:
        return segments, "contains itself (a circular reference)"
    if len(segments) >= MAX_PARAMS_DEPTH:
        return segments, f"nests deeper than {MAX_PARAMS_DEPTH} levels"
    try:
        pairs = list(value.items() if isinstance(value, Mapping) else enumerate(value))
    except Exception as exc:  # noqa: BLE001 -- the caller's container runs its own code
        return segments, raised_reading(exc)
    is_mapping = isinstance(value, Mapping)
    if is_mapping:
        for key, _ in pairs:
            if not isinstance(key, str):
                return segments, (
                    f"has a key of type {type(key).__name__}; JSON keys are strings, and json "
                    'would silently turn 1 into "1" (a duplicate if "1" is there too)'
                )
            if not encodable_text(key):
                return segments, "has a key with a lone surrogate (not valid UTF-8)"
    ancestors = ancestors | {id(value)}
    for key, item in pairs:
        segment = _key_segment(key) if is_mapping else f"[{key}]"
        found = _find_problem(item, (*segments, segment), ancestors)
        if found is not None:
            return found
    return None


_FIXES = {
    "surrogate": "replace it with valid text (lone surrogates come from decoding bytes with "
    "errors='surrogateescape' or from broken JSON escapes)",
    "nests deeper": "flatten the structure, or send the deep part as a JSON string",
    "has a key": "convert the keys to str yourself, deciding what two keys that read alike mean",
    "circular": "pass a tree: copy the shared part instead of referring back to it",
    "when read": "pass a plain dict or list (this one raised when its items were read)",
}


def _fix_for(reason: str) -> str:
    for marker, fix in _FIXES.items():
        if marker in reason:
            return fix
    return "convert it to a str, number, bool, None, list or dict first"


def _needs_a_closer_look(params: object) -> bool:
    """True if ``params``, which json encoded, has a non-string key or nests too deep.

    json turns int, float, bool and None keys into strings without a word, so only a walk
    finds them. This one builds no paths and skips scalars by exact type: a few hundred
    nanoseconds for typical parameters, about half of json's own time on a megabyte of
    rows (encoded off the event loop, see ``_encoding``).
    """
    stack: list[tuple[object, int]] = [(params, 1)]
    while stack:
        node, depth = stack.pop()
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
            stack.append((item, deeper))
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
dumps = _ENCODER.encode


def encode_params(params: object) -> bytes:
    """Validate workflow parameters and encode them as compact UTF-8 JSON."""
    if params is None:
        params = {}
    if not isinstance(params, Mapping):
        raise InvalidRequestError(
            "params",
            f"expected a mapping of parameter names to values, got {type(params).__name__}",
            "pass a dict such as {'accountId': 'A-1'}",
        )
    try:
        names = list(params)
    except Exception as exc:  # noqa: BLE001 -- the caller's mapping runs its own code
        raise InvalidRequestError("params", raised_reading(exc), _FIXES["when read"]) from None
    for name in names:
        if not isinstance(name, str):
            raise InvalidRequestError(
                "params",
                f"parameter name {shown_value(name)} is a {type(name).__name__}",
                "use string parameter names",
            )
        if name in RESERVED_PARAM_NAMES:
            raise InvalidRequestError(
                f"params{_key_segment(name)}",
                "is a name Zuora reserves",
                f"rename it; {', '.join(sorted(RESERVED_PARAM_NAMES))} cannot be parameters",
            )
    too_large = ("Zuora's task payload limit", "pass references (ids, URLs) instead of large data")
    return _encode_checked(params, "params", too_large=too_large)


def encode_json(value: object, field: str, *, too_large_fix: str) -> bytes:
    """Any other request body (an import's export, an update's fields), checked by the same
    rules, a problem named by its path under ``field`` (``export['tasks'][0]['x']``)."""
    return _encode_checked(value, field, too_large=("Zuora's payload limit", too_large_fix))


def _encode_checked(value: object, root: str, *, too_large: tuple[str, str]) -> bytes:
    try:
        body = dumps(value).encode()
        suspect = _needs_a_closer_look(value)
    except Exception as exc:  # noqa: BLE001 -- json's errors, or the caller's objects' own
        suspect = True
        failure = f"{type(exc).__name__}: json could not encode it"
    else:
        failure = ""
    if suspect:
        # Only the failure path pays for the walk that names the offending field.
        try:
            found = _find_problem(value)
        except Exception:  # noqa: BLE001 -- the caller's objects again; say what json said
            found = None
        segments, reason = found or ((), failure or "cannot be encoded")
        raise InvalidRequestError(_render_path(segments, root), reason, _fix_for(reason))
    if len(body) > MAX_BODY_BYTES:
        limit, fix = too_large
        problem = f"encode to {len(body):,} bytes; {limit} is {MAX_BODY_BYTES:,}"
        raise InvalidRequestError(root, problem, fix)
    return body
