"""The ``PreparedRequest``, and the one way a request's path, query and headers are written.

Every builder (``requests``, ``definition_requests``, ``version_requests``,
``task_requests``, ``follow``) ends here. What can reach a URL is decided in this module,
whatever a builder checked before: an id goes into a path as the canonical decimal digits
of its ``int`` value (an ``int`` subclass with its own ``__format__`` cannot steer the
path), at most ``MAX_ID``; text is percent-encoded whole; a query value must be valid text.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from urllib.parse import quote, urlencode

import attrs

from zuora_wf_async._core.bodies import encodable_text, shown_value
from zuora_wf_async._errors import InvalidRequestError

__all__ = [
    "JSON_CONTENT_TYPE",
    "MAX_ID",
    "MAX_ID_DIGITS",
    "PreparedRequest",
    "canonical_int",
    "path_segment",
    "prepare_get",
    "shown_int",
]

# Zuora's ids are database ids, far below the largest 64-bit integer. The bound refuses an
# id of 5,000 digits here, where it would fail in int() or str() (Python's digit limit)
# or make a path thousands of characters long; 19 digits is what it takes to write it.
MAX_ID = 2**63 - 1
MAX_ID_DIGITS = len(str(MAX_ID))

JSON_CONTENT_TYPE = "application/json"


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


def canonical_int(value: object) -> int | None:
    """``value``'s plain ``int`` if it is an int (not a bool), else None.

    ``int.__int__`` reads the stored number and returns an exact ``int``: an ``int``
    subclass's own ``__int__``, ``__format__``, ``__str__`` or comparisons never run, so a
    crafted id cannot change a request path (one steered a POST to ``/oauth/token``).
    """
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    return int.__int__(value)


def shown_int(value: int) -> str:
    # str() of an int past Python's digit limit raises; a long one would flood a message.
    return str(value) if -MAX_ID <= value <= MAX_ID else "an integer of more than 19 digits"


def path_segment(value: object) -> str:
    """One path segment: an int as its canonical digits, text percent-encoded whole."""
    number = canonical_int(value)
    if number is not None:
        if not -MAX_ID <= number <= MAX_ID:
            raise InvalidRequestError(
                "path", f"{shown_int(number)} is not an id", "pass the id Zuora returned"
            )
        return str(number)
    if not isinstance(value, str):
        raise InvalidRequestError(
            "path",
            f"a path argument must be an int or a str, got {shown_value(value)}",
            "validate ids first",
        )
    text = str.__str__(value)  # the characters themselves, whatever a subclass overrides
    if text in ("", ".", ".."):
        # quote() leaves dots alone, and "." or ".." would move the request elsewhere.
        raise InvalidRequestError("path", f"{text!r} is not an id", "pass the id itself")
    if not encodable_text(text):
        raise InvalidRequestError("path", "contains a lone surrogate", "pass the id itself")
    return quote(text, safe="")


def query_string(query: Sequence[tuple[str, str]]) -> str:
    """``urlencode(query)`` of checked text: the builders check each value's meaning, and
    this is the last word on what can be written in a URL at all."""
    for name, value in query:
        for text in (name, value):
            if not isinstance(text, str) or not encodable_text(text):
                raise InvalidRequestError(
                    f"query[{str.__str__(name) if isinstance(name, str) else '?'!r}]",
                    "is not text that can be written in a URL (a lone surrogate?)",
                    "pass plain text",
                )
    return urlencode(query)


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
) -> PreparedRequest:
    """A body-less request (GET, or PUT for stop); path arguments are percent-encoded."""
    path = path_template.format(*(path_segment(arg) for arg in path_args))
    headers = {"Accept": JSON_CONTENT_TYPE, "Accept-Encoding": "gzip"}
    optional = (
        ("Zuora-Entity-Ids", entity_ids),
        ("Zuora-Org-Ids", org_ids),
        ("Zuora-Track-Id", track_id),
    )
    headers.update({name: value for name, value in optional if value})
    return PreparedRequest(
        method=method,
        url=base_url + path + (f"?{query_string(query)}" if query else ""),
        path=path,
        headers=headers,
        track_id=track_id,
    )
