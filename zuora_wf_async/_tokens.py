"""The per-client token cache: one token fetch in flight, shared by everyone waiting.

Many calls may find the token missing or expired at the same moment. The first starts one
fetch, as a task of its own, and every caller awaits that same fetch, each only as long as
its own deadline allows: a slow ``/oauth/token`` holds no caller past its deadline, and a
caller that gives up (or is cancelled) does not cancel the fetch the others wait for. When
the last of them gives up, though, the fetch is cancelled: nobody wants its answer, and a
hung fetch left running would make every later call join it and give up too.

A failed fetch fails every waiter with the same typed error (a copy each), and is
forgotten: the next call (after its own backoff) starts a new one. So a failing token
endpoint sees one request per wave of retries, never one per caller; and the waiters'
retries cost the client's retry budget once for that one failure (``SharedFetchFailed``
carries the ``Fetch`` they share).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from zuora_wf_async._core.oauth import TokenGrant, refresh_margin
from zuora_wf_async._errors import ZuoraError


class TokenWaitTimeout(Exception):  # noqa: N818 -- an internal signal, never leaves the library
    """The caller's deadline passed while the token fetch was still running."""


class TokenFetchCancelled(Exception):  # noqa: N818 -- an internal signal, never leaves
    """The fetch this caller waited for was cancelled under it: the client closed."""


class SharedFetchFailed(Exception):  # noqa: N818 -- an internal signal, never leaves
    """The shared fetch failed: ``error`` is this caller's copy of its error, ``fetch``
    the one every waiter met (the retry budget pays for it once)."""

    def __init__(self, error: ZuoraError, fetch: Fetch) -> None:
        super().__init__(error)
        self.error = error
        self.fetch = fetch


class Fetch:
    """One token fetch: its task, how many callers wait for it, and whether a retry after
    its failure has been ``charged`` to the retry budget: the first of its waiters to
    retry pays, the others retry on it (200 calls behind one failed fetch used to spend
    200 tokens and be refused half)."""

    __slots__ = ("charged", "task", "waiters")

    def __init__(self, task: asyncio.Future[str]) -> None:
        self.task = task
        self.waiters = 0
        self.charged = False


def _own_copy(error: ZuoraError) -> ZuoraError:
    # Every waiter raises the fetch's error as its own: the call that raises it records
    # its attempts and elapsed time on it, which must not overwrite another call's.
    clone = type(error).__new__(type(error))
    clone.__dict__.update(error.__dict__)
    clone.args = error.args
    return clone


class TokenCache:
    """Hands out a valid token, with at most one fetch in flight (see the module doc).

    ``invalidate`` after a 401 drops the token only if it is the one that failed, so a
    burst of 401s from the same stale token causes one refresh.
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
        self.can_refresh = fetch is not None
        # The token handed out while the clock is before fresh_until (the call loop reads
        # both: a fresh token costs no function call).
        self.value = fixed_token
        self.fresh_until = float("inf") if fixed_token else float("-inf")
        self._in_flight: Fetch | None = None
        self.fetches = 0

    def __repr__(self) -> str:
        return f"TokenCache(fetches={self.fetches}, has_token={self.value is not None})"

    async def token(self, time_left: float | None = None) -> str:
        """A fresh token, waiting at most ``time_left`` seconds for a fetch in flight.

        Raises ``TokenWaitTimeout`` when that time runs out first, ``SharedFetchFailed``
        (with a copy of the fetch's ``ZuoraError``) when it fails, and
        ``TokenFetchCancelled`` when ``close`` cancelled it.
        """
        if self.value is not None and self._clock() < self.fresh_until:
            return self.value
        fetch = self._in_flight or self._start_fetch()
        fetch.waiters += 1
        try:
            async with asyncio.timeout(time_left):
                return await asyncio.shield(fetch.task)
        except ZuoraError as error:
            # Before TimeoutError: a fetch's own RequestTimeoutError is a ZuoraError too.
            raise SharedFetchFailed(_own_copy(error), fetch) from None
        except TimeoutError:
            raise TokenWaitTimeout from None
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if fetch.task.cancelled() and (task is None or not task.cancelling()):
                raise TokenFetchCancelled from None  # close() cancelled the fetch, not us
            raise
        finally:
            fetch.waiters -= 1
            if not fetch.waiters and not fetch.task.done():
                self._abandon(fetch)

    def _start_fetch(self) -> Fetch:
        if self._fetch is None:
            # A fixed token never expires by our clock; only invalidate() lands here.
            raise AssertionError("a fixed bearer token cannot be refreshed")
        fetch = Fetch(asyncio.ensure_future(self._fetch_and_keep(self._fetch)))
        self._in_flight = fetch
        fetch.task.add_done_callback(lambda task: self._fetch_done(fetch, task))
        return fetch

    def _abandon(self, fetch: Fetch) -> None:
        """Every waiter gave up on ``fetch``: cancel it, so the next call starts afresh."""
        fetch.task.cancel()
        if self._in_flight is fetch:
            self._in_flight = None

    async def _fetch_and_keep(self, fetch: Callable[[], Awaitable[TokenGrant]]) -> str:
        grant = await fetch()
        self.fetches += 1
        self.value = grant.access_token
        self.fresh_until = self._clock() + grant.expires_in - refresh_margin(grant.expires_in)
        return grant.access_token

    def _fetch_done(self, fetch: Fetch, task: asyncio.Future[str]) -> None:
        if self._in_flight is fetch:
            self._in_flight = None
        # Retrieve the outcome so a fetch nobody awaited any more does not log "exception
        # was never retrieved"; its waiters have their own error.
        if not task.cancelled():
            task.exception()

    def invalidate(self, token: str) -> None:
        """Forget ``token`` after Zuora refused it, unless it was already replaced."""
        if self._fetch is not None and token == self.value:
            self.value = None
            self.fresh_until = float("-inf")

    def close(self) -> None:
        """Cancel a fetch still in flight when the client closes."""
        if self._in_flight is not None:
            self._in_flight.task.cancel()
            self._in_flight = None
