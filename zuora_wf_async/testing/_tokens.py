"""OAuth client credentials: minting bearer tokens and judging them by the clock.

``POST /oauth/token`` takes a form body with ``client_id``, ``client_secret`` and
``grant_type=client_credentials``, and must not carry an ``Authorization`` header. Tokens
have no refresh token; they simply stop working ``token_ttl`` seconds after minting.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Mapping
from typing import Final

import attrs

from ._records import Headers
from ._wire import Reply, json_reply

__all__ = ["AUTH_ERROR", "TokenStore", "unauthorized"]

AUTH_ERROR: Final = "Authentication error"
WWW_AUTHENTICATE: Final = "Basic realm=Zuora API, ZSession realm=Zuora API, Bearer realm=Zuora API"
GRANT_TYPE: Final = "client_credentials"

# Zuora's 8-digit codes end in a category: 20 invalid value, 22 missing required value.
CODE_INVALID_VALUE: Final = 50000020
CODE_MISSING_VALUE: Final = 50000022


def unauthorized(message: str = AUTH_ERROR) -> Reply:
    return json_reply(401, {"message": message}, (("WWW-Authenticate", WWW_AUTHENTICATE),))


@attrs.define
class _Token:
    client_id: str
    expires_at: float


@attrs.define
class TokenStore:
    """The tenant's one OAuth client and every token minted for it."""

    client_id: str
    client_secret: str
    ttl: float
    _tokens: dict[str, _Token] = attrs.field(factory=dict, init=False)
    issued: int = attrs.field(default=0, init=False)

    def issue(self, now: float) -> str:
        token = secrets.token_hex(16)
        self._tokens[token] = _Token(self.client_id, now + self.ttl)
        self.issued += 1
        return token

    def expire_all(self) -> None:
        self._tokens.clear()

    def tenant_of(self, authorization: str | None, now: float) -> str | None:
        """The client id behind a valid ``Bearer`` header, or ``None`` (answer 401)."""
        if authorization is None:
            return None
        scheme, _, token = authorization.strip().partition(" ")
        if scheme.lower() != "bearer":
            return None
        found = self._tokens.get(token.strip())
        if found is None:
            return None
        if now >= found.expires_at:
            del self._tokens[token.strip()]
            return None
        return found.client_id

    def token_reply(self, headers: Headers, form: Mapping[str, str] | None, now: float) -> Reply:
        """The whole ``POST /oauth/token`` endpoint, given the parsed form body."""
        if "Authorization" in headers:
            return _bad_request(
                CODE_INVALID_VALUE, "Do not send an Authorization header when creating a token."
            )
        form = form or {}
        for field in ("client_id", "client_secret", "grant_type"):
            if not form.get(field):
                return _bad_request(CODE_MISSING_VALUE, f"Missing required parameter: {field}.")
        if form["grant_type"] != GRANT_TYPE:
            return _bad_request(CODE_INVALID_VALUE, f"Unsupported grant_type; use {GRANT_TYPE!r}.")
        if form["client_id"] != self.client_id or form["client_secret"] != self.client_secret:
            return unauthorized()
        token = self.issue(now)
        return json_reply(
            200,
            {
                "access_token": token,
                "token_type": "bearer",
                "expires_in": int(self.ttl),
                "scope": f"user.{uuid.uuid4().hex} entity.{uuid.uuid4()} tenant.19",
                "jti": secrets.token_hex(16),
            },
        )


def _bad_request(code: int, message: str) -> Reply:
    return json_reply(400, {"code": code, "message": message})
