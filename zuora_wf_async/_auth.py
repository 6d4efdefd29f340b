"""Credentials: ``BearerToken`` and ``OAuthCredentials``.

They are plain configuration the caller builds; the token cache that turns them into an
``Authorization`` header belongs to one client (see ``_tokens``). Neither ever shows a
secret in ``repr``.
"""

from __future__ import annotations

from collections.abc import Callable

import attrs

from zuora_wf_async._errors import InvalidRequestError

__all__ = ["Auth", "BearerToken", "OAuthCredentials"]


def _non_empty(field: str) -> Callable[[object, attrs.Attribute[str], str], None]:
    def check(_instance: object, _attribute: attrs.Attribute[str], value: str) -> None:
        if not isinstance(value, str) or not value.strip() or value != value.strip():
            raise InvalidRequestError(
                field,
                "must be a non-empty string without surrounding spaces",
                "copy the value from Zuora's OAuth client settings exactly",
            )

    return check


@attrs.frozen
class BearerToken:
    """A fixed bearer token the caller obtained and refreshes itself."""

    token: str = attrs.field(repr=False, validator=_non_empty("token"))

    def __repr__(self) -> str:
        return "BearerToken(token='***')"


@attrs.frozen(kw_only=True)
class OAuthCredentials:
    """An OAuth client's id and secret; the client fetches and refreshes tokens itself."""

    client_id: str = attrs.field(validator=_non_empty("client_id"))
    client_secret: str = attrs.field(repr=False, validator=_non_empty("client_secret"))

    def __repr__(self) -> str:
        return f"OAuthCredentials(client_id={self.client_id!r}, client_secret='***')"


Auth = BearerToken | OAuthCredentials
