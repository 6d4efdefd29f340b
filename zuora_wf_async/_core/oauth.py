"""OAuth client-credentials: reading the token grant and deciding when to refresh it."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import attrs

from zuora_wf_async._errors import ResponseDecodeError

__all__ = ["TokenGrant", "read_token_grant", "refresh_margin"]

# Zuora's own sample refreshes 300 s before expiry. Short-lived tokens (tests, a changed
# policy) get a tenth of their life instead, so a 60 s token is not refreshed at once.
_MAX_MARGIN_SECONDS = 300.0


@attrs.frozen(kw_only=True)
class TokenGrant:
    """An access token and how long Zuora said it lives."""

    access_token: str = attrs.field(repr=False)
    expires_in: float


def refresh_margin(expires_in: float) -> float:
    """How long before expiry a cached token stops being handed out."""
    return min(_MAX_MARGIN_SECONDS, expires_in / 10)


def read_token_grant(body: Any) -> TokenGrant:
    """The grant in a ``POST /oauth/token`` 200 body; never echoes the token in an error."""
    if not isinstance(body, Mapping):
        raise ResponseDecodeError("the token response is not a JSON object", field="body")
    token = body.get("access_token")
    if not isinstance(token, str) or not token:
        raise ResponseDecodeError(
            "the token response has no access_token string", field="access_token"
        )
    expires_in = body.get("expires_in", 3599)
    if (
        isinstance(expires_in, bool)
        or not isinstance(expires_in, int | float)
        or not math.isfinite(expires_in)
        or expires_in <= 0
    ):
        raise ResponseDecodeError(
            f"the token response has an unusable expires_in ({type(expires_in).__name__})",
            field="expires_in",
        )
    return TokenGrant(access_token=token, expires_in=float(expires_in))
