"""``zuora-wf tenant``: who holds the tenant's shared slots, and clearing a stale holder.

Operators ask "who holds my tenant's slots?" when a batch crawls: this reads the state
that clients sharing limits through Redis keep (``--redis-url`` / ``ZUORA_REDIS_URL``),
for the tenant the connection options name (the same namespace the clients compute), or
for ``--namespace``. ``--clear HOLDER`` forgets one holder (a process that will not come
back; a dead one's lease ends by itself within ``lease_seconds``). Nothing here sends a
request to Zuora, and no secret is printed: holders are random ids, the namespace a digest.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Mapping
from typing import Any

import attrs

from zuora_wf_async import OAuthCredentials, WorkflowClient
from zuora_wf_async._shared._inspect import TenantState, clear_holder, read_tenant

from ._config import UsageError, _ids

__all__ = ["add_tenant_command", "cmd_tenant"]


def add_tenant_command(
    commands: Any, add_connection_options: Callable[[argparse.ArgumentParser], None]
) -> None:
    tenant = commands.add_parser(
        "tenant", help="show the tenant's shared limits in Redis: holders, slots, pause, quota"
    )
    tenant.add_argument("--namespace", help="this namespace (default: the tenant's own)")
    tenant.add_argument(
        "--clear", metavar="HOLDER", help="forget a stale holder, freeing its slots"
    )
    tenant.add_argument("--json", action="store_true", help="print one JSON object")
    add_connection_options(tenant)


async def cmd_tenant(
    args: argparse.Namespace, client: WorkflowClient, environ: Mapping[str, str]
) -> int:
    try:
        shared = client.shared_limits
        if shared is None:
            raise UsageError("no Redis to read: pass --redis-url URL or set ZUORA_REDIS_URL")
        auth = client.auth
        namespace = args.namespace or shared.namespace_for(
            client.base_url,
            _ids(args.entity_ids, environ, "ZUORA_ENTITY_IDS"),
            auth.client_id if isinstance(auth, OAuthCredentials) else None,
        )
        if args.clear:
            slots = await clear_holder(shared, namespace, args.clear)
            sys.stdout.write(f"cleared holder {args.clear}: {slots} slots freed\n")
            return 0
        state = await read_tenant(shared, namespace)
    finally:
        await client.aclose()
    sys.stdout.write(
        json.dumps(attrs.asdict(state)) + "\n" if args.json else render(state, shared._where)
    )
    return 0


def render(state: TenantState, where: str) -> str:
    cap = state.tenant_concurrency
    lines = [
        f"tenant namespace {state.namespace} at {where}",
        f"  slots held: {state.slots_held} of {cap if cap is not None else '?'}"
        + (f" (cut to {state.limit:g} after a too-many 429)" if state.limit is not None else ""),
        f"  paused: {_seconds(state.paused_ms)} left" if state.paused_ms else "  paused: no",
    ]
    if state.quota_left is not None:
        reset = _seconds(state.quota_reset_ms or 0)
        lines.append(f"  quota window: {state.quota_left} left, resets in {reset}")
    else:
        lines.append("  quota window: not watched (plenty left, or nothing heard)")
    lines.append(f"  holders: {len(state.holders)}")
    for h in state.holders:
        lease = f"lease {_seconds(h.lease_left_ms)} left" if h.lease_left_ms > 0 else "lease ENDED"
        wait = ", waiting for more" if h.waiting else ""
        lines.append(f"    {h.holder}  {h.slots} slots  {lease}{wait}")
    return "\n".join(lines) + "\n"


def _seconds(ms: int) -> str:
    return f"{ms / 1000:.1f}s"
