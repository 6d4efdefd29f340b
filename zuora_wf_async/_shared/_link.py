"""Whether Redis answers one client, and what to do when it does not.

The first contact (``first_contact``) tells a configuration Redis will keep refusing
(:class:`ConfigurationError`: the start fails) from an outage (local limits, one WARNING);
after the start, every call goes through ``call``, which turns a failure into "down" (with
one WARNING, or an ERROR for a refusal found later) and an answer after one into "back"
(an INFO line). A stall of this very process is neither (``StoreFault.kind == "stall"``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Callable

from zuora_wf_async._shared._settings import ConfigurationError, SharedLimits
from zuora_wf_async._shared._store import StoreFault, TenantStore, configuration_error

__all__ = ["StoreLink"]

logger = logging.getLogger("zuora_wf_async")

# Slots pass from request to request only while the lease is surely alive: Redis ended it
# no sooner than lease_seconds after our last call it applied was sent. The heartbeat
# renews every third of it, so this leaves room for one late heartbeat.
_LEASE_TRUST = 0.8


class StoreLink:
    def __init__(
        self,
        settings: SharedLimits,
        namespace: str,
        holder: str,
        *,
        tenant_concurrency: int,
        on_down: Callable[[], None],
    ) -> None:
        self.settings = settings
        self.namespace = namespace
        self.tenant_concurrency = tenant_concurrency
        self.store = TenantStore(settings, namespace, holder)
        self.down = False
        self.retry_at = -math.inf  # while down: when the heartbeat tries again
        self.checked = False  # the namespace's cap compared (OPEN run) on this store
        self.broken: ConfigurationError | None = None  # found at start: every call fails
        self.fallbacks = 0  # times Redis was found unreachable
        self.reconnects = 0  # times it came back
        self._down_kind = ""  # "outage" or "configuration": what the last WARNING/ERROR said
        self._on_down = on_down
        self._nudge = asyncio.Event()  # Redis went away: the heartbeat's period changes

    async def first_contact(self) -> None:
        """The check at start: raises ``ConfigurationError``; an outage falls back."""
        try:
            await self.check()
        except StoreFault as fault:
            if fault.kind == "configuration":
                self.broken = configuration_error(self.store, fault.error)
                raise self.broken from None
            self.went_down("outage", self.store.describe(fault.error))
        except ConfigurationError as error:
            self.broken = error
            raise

    async def check(self) -> None:
        """Record the namespace's cap, or find another recorded (raises)."""
        status, found = await self.store.open(self.tenant_concurrency)
        if status == 0:
            raise ConfigurationError(
                f"shared limits: namespace {self.namespace} records tenant_concurrency="
                f"{found}, this client has {self.tenant_concurrency}; processes of one "
                "tenant must agree (pass the same value everywhere, e.g. "
                "ZUORA_TENANT_CONCURRENCY), or pass SharedLimits(..., "
                "override_tenant_concurrency=True) to replace the recorded one"
            )
        if status == 2:
            logger.warning(
                "shared limits: tenant_concurrency of namespace %s changed from %d to %d "
                "(override_tenant_concurrency=True); every process of the tenant now "
                "shares %d slots",
                self.namespace,
                found,
                self.tenant_concurrency,
                self.tenant_concurrency,
            )
        self.checked = True

    async def call(self, name: str, holding: int, *args: object) -> list[int] | None:
        """One script call stating ``holding``; None when Redis did not apply it."""
        try:
            if not self.checked:  # down at start: the cap is compared when it answers
                await self.check()
            result = await self.store.call(name, holding, self.tenant_concurrency, *args)
        except StoreFault as fault:
            if fault.kind == "configuration":
                self.went_down(fault.kind, str(configuration_error(self.store, fault.error)))
            elif fault.kind == "outage":
                self.went_down(fault.kind, self.store.describe(fault.error))
            return None
        except ConfigurationError as error:
            self.went_down("configuration", str(error))
            return None
        if result is None:
            return None
        if self.down:
            self.down = False
            self._down_kind = ""
            self.reconnects += 1
            logger.info(
                "shared limits: Redis at %s is reachable again; tenant %s shares limits again",
                self.settings._where,
                self.namespace,
            )
        return result

    def went_down(self, kind: str, text: str) -> None:
        self.retry_at = time.monotonic() + self.settings.retry_after
        self._on_down()
        if not self.down:
            self.down = True
            self.fallbacks += 1
            self._nudge.set()  # the heartbeat tries again every retry_after from now
        if kind == self._down_kind:
            return  # said once already
        self._down_kind = kind
        action = (
            "failing calls (on_unavailable='fail')"
            if self.settings.on_unavailable == "fail"
            else "using local limits until it answers"
        )
        if kind == "configuration":
            # Found after the start (the start fails on it): loud, but the batch goes on.
            logger.error("%s; %s, retrying every %gs", text, action, self.settings.retry_after)
            return
        logger.warning(
            "shared limits: Redis at %s is unreachable (%s); %s, retrying every %gs",
            self.settings._where,
            text,
            action,
            self.settings.retry_after,
        )

    def lease_alive(self) -> bool:
        trusted = self.settings.lease_seconds * _LEASE_TRUST
        return time.monotonic() < self.store.confirmed_at + trusted

    async def beat(self, counted: Callable[[], bool], renew: Callable[[], None]) -> None:
        """The heartbeat, until cancelled: ``renew()`` (a call, through the courier) every
        third of the lease while ``counted()`` (Redis counts slots for us); while Redis is
        down, every ``retry_after``, beside the requests (they go on under local limits)."""
        period = self.settings.lease_seconds / 3
        while True:
            seconds = min(period, self.settings.retry_after) if self.down else period
            # Woken early when Redis goes away, so that the first try comes after
            # retry_after, not after the rest of a renewal period.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(seconds):
                    await self._nudge.wait()
            self._nudge.clear()
            if self.down:
                if time.monotonic() < self.retry_at:
                    continue
            elif not counted():
                continue
            renew()
