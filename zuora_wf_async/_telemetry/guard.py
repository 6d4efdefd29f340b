"""Telemetry bookkeeping must never fail a request: the guard every hook's body sits behind."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import ParamSpec, TypeVar

__all__ = ["logger", "never_raises"]

P = ParamSpec("P")
R = TypeVar("R")

logger = logging.getLogger("zuora_wf_async")


def never_raises(method: Callable[P, R | None]) -> Callable[P, R | None]:
    """Telemetry bookkeeping must never fail a request: a failure is logged, None returned."""

    @functools.wraps(method)
    def guarded(*args: P.args, **kwargs: P.kwargs) -> R | None:
        try:
            return method(*args, **kwargs)
        except Exception:
            logger.exception("OpenTelemetry bookkeeping failed; the request goes on")
            return None

    return guarded
