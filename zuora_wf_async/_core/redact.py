"""Keeping secrets out of every text a person can read: redaction by value.

The rules, in the order they apply:

1. **Pinned, then remembered.** A client holds its secrets: its OAuth client secret or
   fixed bearer token, and the access token it is using now. It pins them here
   (``HeldSecrets``) while it is open, so no number of newer secrets can push them out;
   a server that makes the client fetch hundreds of tokens cannot make it forget its own
   secret. Values nobody holds any more (a replaced token, credentials built but not in
   use) are remembered among the newest ``_MAX_REMEMBERED``; only they age out.
2. **Scrubbed.** ``scrub`` replaces each known value with ``***``, and anything shaped like
   a secret we cannot know yet (``Bearer <token>``, ``access_token=...``,
   ``"client_secret": "..."``).
3. **Then cut.** ``excerpt`` is what every message quotes from a server: whitespace
   collapsed, scrubbed, *then* cut to 200 characters, so no cut can leave a prefix of a
   secret that no rule would recognise. Its cost is bounded whatever the server sent.

Where this runs: on everything that leaves toward a person, as it leaves. Every error's
constructor scrubs what it is given (message, ``messages``, ``body``, the headers' names and
values, the request and track ids); ``excerpt`` scrubs any quote of server text (and
``RawResponse.request_id``, shown in events, spans and logs). A success whose
headers nobody shows is never scrubbed.

Pure apart from the registry: no I/O, no asyncio.
"""

from __future__ import annotations

import re
import threading
from collections import Counter, OrderedDict
from collections.abc import Iterable
from typing import Any

import attrs

REDACTED = "***"
# A value nobody holds is remembered as a secret only from this length: Zuora's tokens are
# 32 hex digits and its client secrets longer, and remembering "t" from a test's
# BearerToken("t") would blank it out of every later message. A value a client *holds* is
# scrubbed whatever its length (see ``_Registry``).
MIN_SECRET_LENGTH = 8
# Tokens are fetched about once an hour per client; the newest few hundred retired ones
# cover any still alive somewhere, and the bound keeps ``scrub`` cheap.
_MAX_REMEMBERED = 512
_EXCERPT_CHARS = 200
# What a quote keeps beyond its own length before scrubbing, besides the longest known
# secret: room for "Bearer " or "access_token=" in front of a token cut at the window.
_PATTERN_ROOM = 64

_BEARER = re.compile(r"(?i)\b(bearer)\s+[A-Za-z0-9\-._~+/]{8,}=*")
_NAMED_SECRET = re.compile(
    r"""(?ix)
    (["']?\b(?:access_token|refresh_token|id_token|client_secret|password)["']?)
    (\s*[:=]\s*)
    (["']?)
    [^\s"'&,;})\]]+
    """
)

# The same names as keys of a decoded JSON object: the whole value is hidden.
_SECRET_NAMES = frozenset(
    {"access_token", "refresh_token", "id_token", "client_secret", "password", "authorization"}
)
# Headers whose value is a credential by definition: hidden whole, whatever it holds.
SECRET_HEADERS = _SECRET_NAMES | {"proxy-authorization", "cookie", "set-cookie"}

# A short held value is a secret where it stands as a token of its own: not inside a word
# of token characters (RFC 6750's b64token), and not as the "t" of "can't".
_B64TOKEN_CLASS = r"A-Za-z0-9\-._~+/"
_SHORT_BOUNDS = (rf"(?<![{_B64TOKEN_CLASS}])(?<![A-Za-z]')(?:", rf")(?![{_B64TOKEN_CLASS}=])")

_WORD = re.compile(r"\S+")


@attrs.frozen
class _Snapshot:
    """What ``scrub`` reads: replaced as a whole on every change, so never half-updated."""

    # Longest first, so a secret that contains another is replaced whole.
    long: tuple[str, ...] = ()
    short: re.Pattern[str] | None = None
    longest: int = 0


class _Registry:
    """Every value to scrub: pinned ones (held by an open client) and remembered ones.

    Why short held values are matched on token boundaries, process-wide, rather than
    scrubbed only in their own client's texts: one scrubber then serves every exit (the
    error constructors, log records and messages made far from any client), and a value
    held by one client is hidden from another client's texts too. The boundary keeps a
    test's ``BearerToken("t")`` from blanking "the", "timeout" or "can't", while "Bearer t",
    ``"t"`` and ``token=t`` are still scrubbed. A short value is scrubbed only while held:
    once its client closes it is an ordinary word again.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pinned: Counter[str] = Counter()
        self._remembered: OrderedDict[str, None] = OrderedDict()
        self.snapshot = _Snapshot()

    def change(
        self, *, pin: Iterable[str] = (), unpin: Iterable[str] = (), remember: Iterable[str] = ()
    ) -> None:
        """Pin, unpin and remember values, then replace the snapshot ``scrub`` reads."""
        with self._lock:
            for value in pin:
                self._pinned[value] += 1
                self._remembered.pop(value, None)
            retired = []
            for value in unpin:
                self._pinned[value] -= 1
                if self._pinned[value] <= 0:
                    del self._pinned[value]
                    retired.append(value)
            # A retired value ages out with the others nobody holds; a short one is
            # forgotten at once (by itself it is not a secret).
            for value in (*remember, *retired):
                if value not in self._pinned and len(value) >= MIN_SECRET_LENGTH:
                    self._remembered[value] = None
                    self._remembered.move_to_end(value)
            while len(self._remembered) > _MAX_REMEMBERED:
                self._remembered.popitem(last=False)
            values = sorted([*self._pinned, *self._remembered], key=len, reverse=True)
            short = [value for value in self._pinned if len(value) < MIN_SECRET_LENGTH]
            pattern = None
            if short:
                short.sort(key=len, reverse=True)
                alternatives = "|".join(map(re.escape, short))
                pattern = re.compile(_SHORT_BOUNDS[0] + alternatives + _SHORT_BOUNDS[1])
            long = tuple(value for value in values if len(value) >= MIN_SECRET_LENGTH)
            self.snapshot = _Snapshot(long, pattern, len(values[0]) if values else 0)


_registry = _Registry()


def _variants(value: object) -> list[str]:
    """``value`` and, if it has runs of whitespace, the form a quote collapses it to."""
    if not isinstance(value, str) or not value:
        return []
    collapsed = " ".join(value.split())
    return [value] if collapsed in (value, "") else [value, collapsed]


def register(secret: object) -> None:
    """Remember ``secret`` so that ``scrub`` replaces it from now on.

    For values no client holds (yet): the credentials as they are built, each token as it
    is read. Remembered among the newest ``_MAX_REMEMBERED``; values shorter than
    ``MIN_SECRET_LENGTH`` and non-strings are ignored. A client pins what it holds with
    ``HeldSecrets``.
    """
    _registry.change(remember=_variants(secret))


class HeldSecrets:
    """The secrets one client holds, pinned while it is open: scrubbed whatever their
    length, and never pushed out by newer ones.

    Built when the client opens with its credentials (the OAuth client secret or the fixed
    bearer token); ``hold_token`` pins each token it fetches and retires the one before;
    ``release`` when it closes retires everything (retired values age out like any value
    nobody holds). After ``release`` nothing new is pinned.
    """

    def __init__(self, *credentials: str) -> None:
        self._held = [value for credential in credentials for value in _variants(credential)]
        self._token: list[str] = []
        self._open = True
        _registry.change(pin=self._held)

    def __repr__(self) -> str:
        return f"HeldSecrets(held={len(self._held) + len(self._token)}, open={self._open})"

    def hold_token(self, token: str) -> None:
        """``token`` is the client's current token now; the one before it retires."""
        if not self._open:
            register(token)
            return
        previous, self._token = self._token, _variants(token)
        _registry.change(pin=self._token, unpin=previous)

    def release(self) -> None:
        """The client closed: what it held retires."""
        if self._open:
            self._open = False
            _registry.change(unpin=[*self._held, *self._token])
            self._held, self._token = [], []


def scrub(text: str) -> str:
    """``text`` with every known secret and anything that looks like one as ``***``."""
    snapshot = _registry.snapshot
    for secret in snapshot.long:
        if secret in text:
            text = text.replace(secret, REDACTED)
    if snapshot.short is not None:
        text = snapshot.short.sub(REDACTED, text)
    if "earer" in text or "EARER" in text:
        text = _BEARER.sub(rf"\1 {REDACTED}", text)
    lowered = text.lower()  # a cheap first look: every name _NAMED_SECRET knows has one
    if "_token" in lowered or "secret" in lowered or "password" in lowered:
        text = _NAMED_SECRET.sub(rf"\1\2\3{REDACTED}", text)
    return text


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
    """A short, scrubbed, single-line excerpt of server text for a message.

    Scrubbed before it is cut: the window scrubbed is longer than the quote by the longest
    known secret (and room for a pattern's prefix), so a secret that starts inside the
    quote is replaced whole; when the text went on past the window, the window's tail,
    where a secret may have been cut in two, is dropped before the quote is cut. Its cost
    is bounded: a long text is read word by word only as far as the window needs.
    """
    margin = _registry.snapshot.longest + _PATTERN_ROOM
    window = limit + margin
    more = False
    if len(text) <= window:
        flat = " ".join(text.split())
    else:  # 5 MB of padding or a 5 MB word costs no more than the window
        words: list[str] = []
        taken = 0
        for match in _WORD.finditer(text):
            word = match.group()
            room = window - taken
            if len(word) >= room:
                words.append(word[:room])
                more = len(word) > room or _WORD.search(text, match.end()) is not None
                break
            words.append(word)
            taken += len(word) + 1
        flat = " ".join(words)
    flat = scrub(flat)
    if more:
        flat = flat[: max(len(flat) - margin, 0)].rstrip()
    if len(flat) <= limit and not more:
        return flat
    return flat[: limit - 1].rstrip() + "\u2026"


def quote(value: object, limit: int = _EXCERPT_CHARS) -> str:
    """``repr(value)`` for a message, as ``excerpt`` quotes text: scrubbed, then cut."""
    try:
        text = repr(value)
    except Exception:  # noqa: BLE001 -- a hostile __repr__ must not escape from here
        text = f"<{type(value).__name__}>"
    return excerpt(text, limit)


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
