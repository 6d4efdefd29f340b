"""A process that takes tenant slots and then hangs, to be killed with SIGKILL by a test.

Usage: python _holder.py REDIS_URL NAMESPACE SLOTS LEASE_SECONDS
Prints ``HOLDER <id>`` once it holds SLOTS slots, then renews its lease until killed.
"""

from __future__ import annotations

import asyncio
import sys

from zuora_wf_async._shared import SharedLimits


async def main(url: str, namespace: str, slots: int, lease: float) -> None:
    limits = SharedLimits(url, namespace=namespace, lease_seconds=lease)
    gate = limits.gate(base_url="https://x", entity_ids=None, tenant_concurrency=slots)
    for _ in range(slots):
        await gate.acquire()
    print("HOLDER", gate.holder, flush=True)  # noqa: T201 -- the parent reads this line
    await asyncio.Event().wait()  # hold the slots until killed


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])))
