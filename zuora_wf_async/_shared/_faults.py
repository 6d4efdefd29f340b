"""What a failed call to Redis means: an outage to ride out, or a configuration to fix.

An outage (no connection, no answer in time, a server loading its data, a failover) ends
by itself, so the client carries on under local limits and tries again. A configuration
error (a wrong password, a user without permission for ``EVALSHA``, a server that refuses
our scripts) never ends by itself: falling back "for good" with a WARNING that says
"unreachable" hid it, so it fails the client's start with :class:`ConfigurationError`.

The rules read redis-py's exception classes, which it chooses from the server's error
code (``WRONGPASS``, ``NOAUTH``, ``NOPERM``, ``LOADING``, ``READONLY``...), not loose text;
the one text rule is Redis's documented ``BUSY`` prefix (a script running too long),
which redis-py leaves a plain ``ResponseError``.
"""

from __future__ import annotations

from typing import Literal

from zuora_wf_async._core.redact import scrub

__all__ = ["describe", "kind_of"]


def kind_of(error: BaseException) -> Literal["outage", "configuration"]:
    from redis import exceptions as r

    if isinstance(
        error,
        r.AuthenticationError
        | r.AuthorizationError
        | r.AuthenticationWrongNumberOfArgsError
        | r.NoPermissionError,
    ):
        return "configuration"
    transient = (
        r.BusyLoadingError
        | r.ReadOnlyError  # a replica answering during a failover
        | r.TryAgainError
        | r.ClusterDownError
        | r.OutOfMemoryError
    )
    if isinstance(error, transient):
        return "outage"
    if isinstance(error, r.ResponseError):
        # An error *answer*: the server is there and refuses what we ask, which it will
        # keep doing (unknown command, a script it cannot run, keys of another type).
        return "outage" if str(error).startswith("BUSY") else "configuration"
    if isinstance(error, r.DataError):  # refused before sending: our own arguments
        return "configuration"
    return "outage"


def describe(error: BaseException, timeout: float) -> str:
    """``Type: text``, never empty: a timeout's own text is ``""``, which once made the
    WARNING read ``(TimeoutError: )``."""
    text = " ".join(str(error).split())
    if not text:
        if isinstance(error, TimeoutError) or type(error).__name__ == "TimeoutError":
            text = f"no answer within {timeout:g}s"
        else:
            text = "no detail given"
    return f"{type(error).__name__}: {scrub(text)[:200]}"
