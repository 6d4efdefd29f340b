"""Limits shared by every process of one Zuora tenant, kept in Redis (``pip install
'zuora-wf-async[redis]'``). Importing this package does not import redis: the first use does.
"""

from zuora_wf_async._shared._limits import (
    DEFAULT_LEASE_SECONDS,
    DEFAULT_TENANT_CONCURRENCY,
    Lease,
    Paused,
    SharedGate,
    SharedLimits,
    SharedLimitsError,
    SlotWaitExpired,
    take_tenant_slot,
)

__all__ = [
    "DEFAULT_LEASE_SECONDS",
    "DEFAULT_TENANT_CONCURRENCY",
    "Lease",
    "Paused",
    "SharedGate",
    "SharedLimits",
    "SharedLimitsError",
    "SlotWaitExpired",
    "take_tenant_slot",
]
