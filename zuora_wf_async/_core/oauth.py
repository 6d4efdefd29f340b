"""OAuth client-credentials: reading the token grant and deciding when to refresh it.

A token response is the one body whose errors must quote nothing of it: until it has been
read, the token in it is not known, so it cannot be scrubbed. Every error here says what is
wrong with a field by its type or shape, never by its value.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import attrs

from zuora_wf_async._core import redact
from zuora_wf_async._core.compression import DEFAULT_MAX_RESPONSE_BYTES
from zuora_wf_async._core.responses import RawResponse, read_json
from zuora_wf_async._errors import ResponseDecodeError

__all__ = [
    "MAX_EXPIRES_IN",
    "TokenGrant",
    "is_header_safe_token",
    "read_token_grant",
    "read_token_response",
    "refresh_margin",
]

# Zuora's own sample refreshes 300 s before expiry. Short-lived tokens (tests, a changed
# policy) get a tenth of their life instead, so a 60 s token is not refreshed at once.
_MAX_MARGIN_SECONDS = 300.0
# Zuora's tokens live an hour. A server claiming years (or 10**400 seconds) is believed
# for a day at most: refreshing daily costs nothing, and a 401 refreshes sooner anyway.
MAX_EXPIRES_IN = 86_400.0
_DEFAULT_EXPIRES_IN = 3599


@attrs.frozen(kw_only=True)
class TokenGrant:
    """An access token and how long Zuora said it lives."""

    access_token: str = attrs.field(repr=False)
    expires_in: float


def refresh_margin(expires_in: float) -> float:
    """How long before expiry a cached token stops being handed out."""
    return min(_MAX_MARGIN_SECONDS, expires_in / 10)


def is_header_safe_token(token: str) -> bool:
    """True when ``token`` can follow ``Bearer `` in a header without changing its meaning.

    Visible ASCII only (RFC 6750's b64token is a subset): no space, CR, LF, NUL or other
    control character that would split or end the header, nothing aiohttp would refuse.
    """
    return token.isascii() and all("!" <= char <= "~" for char in token)


def _expires_in(value: object) -> float:
    """Seconds the token lives, clamped to ``MAX_EXPIRES_IN``; refuses what is not a life."""
    # An int is compared before any float conversion: float(10**400) raises OverflowError.
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return float(min(value, int(MAX_EXPIRES_IN)))
    if isinstance(value, float) and math.isfinite(value) and value > 0:
        return min(value, MAX_EXPIRES_IN)
    shown = type(value).__name__ if not isinstance(value, int | float) else "not a positive number"
    raise ResponseDecodeError(
        f"the token response has an unusable expires_in ({shown})",
        field="expires_in",
        status=200,
    )


def read_token_grant(body: Any) -> TokenGrant:
    """The grant in a ``POST /oauth/token`` 200 body; never echoes the token in an error.

    The token is registered with the scrubber before it is returned, so from then on no
    message can show it.
    """
    if not isinstance(body, Mapping):
        raise ResponseDecodeError(
            "the token response is not a JSON object", field="body", status=200
        )
    token = body.get("access_token")
    if not isinstance(token, str) or not token:
        raise ResponseDecodeError(
            "the token response has no access_token string", field="access_token", status=200
        )
    # Registered even when refused below: a token a server sent is a token to hide.
    redact.register(token)
    if not is_header_safe_token(token):
        raise ResponseDecodeError(
            "the token response's access_token contains spaces, control or non-ASCII "
            "characters, which cannot be sent in an Authorization header (not shown)",
            field="access_token",
            status=200,
        )
    expires_in = _expires_in(body.get("expires_in", _DEFAULT_EXPIRES_IN))
    return TokenGrant(access_token=token, expires_in=expires_in)


def read_token_response(
    raw: RawResponse, *, max_bytes: int = DEFAULT_MAX_RESPONSE_BYTES
) -> TokenGrant:
    """The grant in a 200 from ``POST /oauth/token``; errors quote nothing of the body."""
    return read_token_grant(read_json(raw, max_bytes=max_bytes, quote_body=False))
