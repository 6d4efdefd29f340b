"""Limits shared by every process of one Zuora tenant, kept in Redis (``pip install
'zuora-wf-async[redis]'``). Importing this package does not import redis: the first use does.
"""

from zuora_wf_async._shared._limits import (
    DEFAULT_LEASE_SECONDS,
    Lease,
    Paused,
    SharedGate,
    SharedLimits,
    SharedLimitsError,
    SlotWaitExpired,
)

__all__ = [
    "DEFAULT_LEASE_SECONDS",
    "Lease",
    "Paused",
    "SharedGate",
    "SharedLimits",
    "SharedLimitsError",
    "SlotWaitExpired",
]
