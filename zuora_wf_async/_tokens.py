"""The per-client token cache: one token fetch in flight, shared by everyone waiting."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from zuora_wf_async._core.oauth import TokenGrant, refresh_margin

__all__ = ["TokenCache"]


class TokenCache:
    """Hands out a valid token, fetching a new one at most once at a time.

    Many tasks may find the token missing or expired at the same moment; the lock makes the
    first fetch and the rest wait for its result (single flight), so a batch of thousands
    costs one token request. ``invalidate`` after a 401 drops the token only if it is the
    one that failed, so a burst of 401s from the same stale token causes one refresh.
    """

    def __init__(
        self,
        fetch: Callable[[], Awaitable[TokenGrant]] | None,
        *,
        clock: Callable[[], float],
        fixed_token: str | None = None,
    ) -> None:
        self._fetch = fetch
        self._clock = clock
        self._token = fixed_token
        self._fresh_until = float("inf") if fixed_token else float("-inf")
        self._lock = asyncio.Lock()
        self.fetches = 0

    def __repr__(self) -> str:
        return f"TokenCache(fetches={self.fetches}, has_token={self._token is not None})"

    @property
    def refreshable(self) -> bool:
        return self._fetch is not None

    def current(self) -> str | None:
        """The cached token if it is still fresh, without suspending; else None."""
        if self._token is not None and self._clock() < self._fresh_until:
            return self._token
        return None

    async def token(self) -> str:
        current = self.current()
        if current is not None:
            return current
        async with self._lock:
            current = self.current()
            if current is not None:
                return current
            if self._fetch is None:
                # A fixed token never expires by our clock; only invalidate() lands here.
                raise AssertionError("a fixed bearer token cannot be refreshed")
            grant = await self._fetch()
            self.fetches += 1
            self._token = grant.access_token
            self._fresh_until = self._clock() + grant.expires_in - refresh_margin(grant.expires_in)
            return grant.access_token

    def is_current(self, token: str) -> bool:
        """True while ``token`` is the one being handed out (not yet replaced)."""
        return token == self._token

    def invalidate(self, token: str) -> None:
        """Forget ``token`` after Zuora refused it, unless it was already replaced."""
        if self._fetch is not None and token == self._token:
            self._token = None
            self._fresh_until = float("-inf")
