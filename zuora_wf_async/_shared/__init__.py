"""Limits shared by every process of one Zuora tenant, kept in Redis (``pip install
'zuora-wf-async[redis]'``). Importing this package does not import redis: the first use does.

``_settings``: what a user configures (``SharedLimits``) and the values handed out;
``_identity``: which tenant a client belongs to (the default namespace);
``_gate``: one client's side (slots, leases), with ``_courier`` (the task that talks to
Redis), ``_effects`` (what answers teach) and ``_link`` (whether Redis answers: start, down,
back); ``_tenant_slot``: how a request waits for a tenant slot;
``_store``: the connection, the numbered calls, and what a failed call means (``_faults``);
``_inspect``: the tenant's state for an operator (``zuora-wf tenant``);
``_scripts``: the Lua that Redis runs, one script per atomic step.
"""

from zuora_wf_async._shared._gate import SharedGate
from zuora_wf_async._shared._settings import (
    DEFAULT_LEASE_SECONDS,
    DEFAULT_TENANT_CONCURRENCY,
    ConfigurationError,
    Lease,
    Paused,
    SharedLimits,
    SharedLimitsError,
    SlotWaitExpired,
)
from zuora_wf_async._shared._tenant_slot import take_tenant_slot

__all__ = [
    "DEFAULT_LEASE_SECONDS",
    "DEFAULT_TENANT_CONCURRENCY",
    "ConfigurationError",
    "Lease",
    "Paused",
    "SharedGate",
    "SharedLimits",
    "SharedLimitsError",
    "SlotWaitExpired",
    "take_tenant_slot",
]
