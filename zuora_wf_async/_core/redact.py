"""Keeping secrets out of every text a person can read: redaction by value.

The client knows its secrets: the OAuth client secret, a fixed bearer token, and each
access token it fetches. They are registered here when they come into being
(``OAuthCredentials``/``BearerToken`` construction, ``read_token_grant``), and ``scrub``
replaces each of them with ``***`` in any text built from what a server sent, before the
text is stored on an error. A few patterns back the values up, for secrets we cannot know
yet (the token inside a token response we are still reading): ``Bearer <token>`` and
``access_token``/``client_secret``-style ``name=value`` or ``"name": "value"`` pairs.

``excerpt`` is what every message quotes from a server: scrubbed, whitespace collapsed,
and short (a 503's whole HTML page is not a message).

Pure apart from the registry: no I/O, no asyncio.
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from typing import Any

__all__ = [
    "MIN_SECRET_LENGTH",
    "REDACTED",
    "RedactedCause",
    "excerpt",
    "register",
    "sanitized_cause",
    "scrub",
    "scrub_json",
]

REDACTED = "***"
# A shorter value is not a real secret (Zuora's tokens are 32 hex digits, its client
# secrets longer), and scrubbing it would blank ordinary words out of every message: a
# test's BearerToken("t") must not turn "timeout" into "***imeou***".
MIN_SECRET_LENGTH = 8
# Tokens are fetched about once an hour per client; the newest few hundred cover every
# token still alive in any realistic process, and the bound keeps ``scrub`` cheap.
_MAX_REMEMBERED = 512
_EXCERPT_CHARS = 200

_BEARER = re.compile(r"(?i)\b(bearer)\s+[A-Za-z0-9\-._~+/]{8,}=*")
_NAMED_SECRET = re.compile(
    r"""(?ix)
    (["']?\b(?:access_token|refresh_token|id_token|client_secret|password)["']?)
    (\s*[:=]\s*)
    (["']?)
    [^\s"'&,;})\]]+
    """
)

# The same names as values of a decoded JSON object: the whole value is hidden.
_SECRET_NAMES = frozenset(
    {"access_token", "refresh_token", "id_token", "client_secret", "password", "authorization"}
)

_lock = threading.Lock()
_known: OrderedDict[str, None] = OrderedDict()
# Longest first, so a secret that contains another is replaced whole.
_snapshot: tuple[str, ...] = ()


def register(secret: object) -> None:
    """Remember ``secret`` so that ``scrub`` replaces it from now on.

    Call it for every value that must never be shown: the lead's token fetch calls it for
    each access token it receives. Values shorter than ``MIN_SECRET_LENGTH`` and non-strings
    are ignored.
    """
    global _snapshot  # noqa: PLW0603 -- one registry per process, swapped atomically
    if not isinstance(secret, str) or len(secret) < MIN_SECRET_LENGTH:
        return
    with _lock:
        if secret in _known:
            _known.move_to_end(secret)
            return
        _known[secret] = None
        while len(_known) > _MAX_REMEMBERED:
            _known.popitem(last=False)
        _snapshot = tuple(sorted(_known, key=len, reverse=True))


def scrub(text: str) -> str:
    """``text`` with every registered secret and anything that looks like one as ``***``."""
    for secret in _snapshot:
        if secret in text:
            text = text.replace(secret, REDACTED)
    if "earer" in text or "EARER" in text:
        text = _BEARER.sub(rf"\1 {REDACTED}", text)
    return _NAMED_SECRET.sub(rf"\1\2\3{REDACTED}", text)


def scrub_json(value: Any) -> Any:
    """A copy of decoded JSON with ``scrub`` applied to every string, keys included.

    Iterative, so a body nested thousands deep cannot overflow the stack; a container met
    twice on one path (only possible in hand-built values) becomes ``***``.
    """
    if isinstance(value, str):
        return scrub(value)
    if not isinstance(value, dict | list):
        return value
    holder: list[Any] = [None]
    # (source container, where its copy goes, under which key or index, ids on its path)
    stack: list[tuple[Any, Any, Any, frozenset[int]]] = [(value, holder, 0, frozenset())]
    while stack:
        source, target, slot, path = stack.pop()
        if id(source) in path:
            target[slot] = REDACTED
            continue
        inner = path | {id(source)}
        items = source.items() if isinstance(source, dict) else enumerate(source)
        copy: Any = {} if isinstance(source, dict) else [None] * len(source)
        target[slot] = copy
        for key, item in items:
            if isinstance(source, dict) and isinstance(key, str):
                key = scrub(key)  # noqa: PLW2901 -- the copy is keyed by the scrubbed name
            if isinstance(key, str) and key.lower() in _SECRET_NAMES:
                copy[key] = REDACTED
            elif isinstance(item, dict | list):
                copy[key] = None
                stack.append((item, copy, key, inner))
            else:
                copy[key] = scrub(item) if isinstance(item, str) else item
    return holder[0]


def excerpt(text: str, limit: int = _EXCERPT_CHARS) -> str:
    """A short, scrubbed, single-line excerpt of server text for an error message."""
    # Scrub before collapsing (a secret may contain runs of spaces) and after (collapsing
    # may join what a pattern needs), and always before cutting, so that no cut can leave
    # a recognisable prefix of a secret behind.
    flat = " ".join(scrub(text).split())
    flat = scrub(flat)
    return flat if len(flat) <= limit else flat[: limit - 1] + "\u2026"


class RedactedCause(Exception):  # noqa: N818 -- a cause, never raised on its own
    """A stand-in ``__cause__`` for a lower-level exception that may hold secrets.

    aiohttp's exceptions keep ``request_info`` with the request's headers, the
    ``Authorization`` header included; chaining to one would put the token in every
    ``repr`` of the cause. This keeps only the exception's type name and scrubbed text.
    """

    def __init__(self, type_name: str, message: str) -> None:
        self.type_name = type_name
        super().__init__(f"{type_name}: {message}" if message else type_name)


def sanitized_cause(exc: BaseException) -> RedactedCause:
    """A ``RedactedCause`` for ``exc``: raise ``TransportError(...) from sanitized_cause(exc)``.

    Raise it *outside* the ``except`` block that caught ``exc`` (or clear ``__context__``),
    or ``exc`` stays reachable as the new error's ``__context__``.
    """
    try:
        text = str(exc)
    except Exception:  # noqa: BLE001 -- a hostile __str__ must not escape from here
        text = ""
    return RedactedCause(type(exc).__name__, excerpt(text))
