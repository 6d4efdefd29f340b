"""Credentials: ``BearerToken`` and ``OAuthCredentials``.

They are plain configuration the caller builds; the token cache that turns them into an
``Authorization`` header belongs to one client (see ``_tokens``). Neither ever shows a
secret in ``repr``, and a bad value is refused at construction with a message that names
the field but never echoes the value (it may be most of a real secret). Each secret is
registered with ``_core.redact`` as it is accepted, and pinned there (``hold``) for as
long as a client is open with it, so no error message can show it.
"""

from __future__ import annotations

from collections.abc import Callable

import attrs

from zuora_wf_async._core import redact
from zuora_wf_async._core.oauth import is_header_safe_token
from zuora_wf_async._core.requests import exact_str
from zuora_wf_async._errors import InvalidRequestError

_FROM_SETTINGS = "copy the value from Zuora's OAuth client settings exactly"


def _problem(value: object, *, header: bool) -> str | None:
    """What is wrong with a credential value, in words that do not quote it; None if fine."""
    if not isinstance(value, str):
        return f"must be a string, got {type(value).__name__}"
    if not value.strip():
        return "must be a non-empty string"
    if value != value.strip():
        return "has leading or trailing whitespace (a stray newline from a file or a paste?)"
    # isprintable() is False for CR, LF, NUL, every other control or format character
    # and lone surrogates: each would end or split a header, or fail to encode.
    if not value.isprintable():
        return "contains a control character (CR, LF, NUL, tab...) or an unencodable one"
    if header and not is_header_safe_token(value):
        return "must be visible ASCII without spaces to go in an Authorization header"
    return None


def _credential(
    field: str, *, header: bool = False
) -> Callable[[object, attrs.Attribute[str], str], None]:
    def check(_instance: object, _attribute: attrs.Attribute[str], value: str) -> None:
        problem = _problem(value, header=header)
        if problem is not None:
            raise InvalidRequestError(field, f"{problem} (value not shown)", _FROM_SETTINGS)

    return check


@attrs.frozen
class BearerToken:
    """A fixed bearer token the caller obtained and refreshes itself."""

    # exact_str: a str subclass could pass the checks and then format itself differently.
    token: str = attrs.field(
        repr=False, converter=exact_str, validator=_credential("token", header=True)
    )

    def __attrs_post_init__(self) -> None:
        redact.register(self.token)

    def __repr__(self) -> str:
        return "BearerToken(token='***')"

    def hold(self) -> redact.HeldSecrets:
        """Pin the token for the life of the client that opens with it."""
        return redact.HeldSecrets(self.token)


@attrs.frozen(kw_only=True)
class OAuthCredentials:
    """An OAuth client's id and secret; the client fetches and refreshes tokens itself."""

    client_id: str = attrs.field(converter=exact_str, validator=_credential("client_id"))
    client_secret: str = attrs.field(
        repr=False, converter=exact_str, validator=_credential("client_secret")
    )

    def __attrs_post_init__(self) -> None:
        redact.register(self.client_secret)

    def __repr__(self) -> str:
        return f"OAuthCredentials(client_id={self.client_id!r}, client_secret='***')"

    def hold(self) -> redact.HeldSecrets:
        """Pin the client secret for the life of the client that opens with it (the
        client pins each token it fetches with ``HeldSecrets.hold_token``)."""
        return redact.HeldSecrets(self.client_secret)


Auth = BearerToken | OAuthCredentials
