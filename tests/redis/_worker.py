"""One worker process of the many-processes tests: its own WorkflowClient, limits shared
through Redis, a batch of runs against a FakeZuora the parent serves.

Usage: python _worker.py CONFIG_JSON
Prints one JSON line: {"ok", "paused_not_sent", "other_errors", "answers_429"}.
"""

from __future__ import annotations

import asyncio
import json
import sys

from zuora_wf_async import BearerToken, RateLimitError, RetryPolicy, WorkflowClient
from zuora_wf_async._shared import SharedLimits


async def main(config: dict[str, object]) -> None:
    answers_429 = 0

    def count_429(event: object) -> None:
        nonlocal answers_429
        if getattr(event, "status", None) == 429:
            answers_429 += 1

    shared = SharedLimits(
        str(config["redis_url"]),
        namespace=str(config["namespace"]),
        lease_seconds=float(str(config.get("lease", 10.0))),
    )
    async with WorkflowClient(
        str(config["base_url"]),
        auth=BearerToken(str(config["token"])),
        shared_limits=shared,
        tenant_concurrency=int(str(config["tenant"])),
        max_concurrency=int(str(config.get("max_concurrency", 32))),
        retry=RetryPolicy(deadline=float(str(config["deadline"]))),
        on_response=count_429,
    ) as zuora:
        # Plain concurrent calls, not run_many: no batch-level checks, one result per run.
        results = await asyncio.gather(
            *(
                zuora.run_workflow(396, {"n": n}, track_id=str(config["track_id"]))
                for n in range(int(str(config["runs"])))
            ),
            return_exceptions=True,
        )
    errors = [r for r in results if isinstance(r, BaseException)]
    paused = [e for e in errors if isinstance(e, RateLimitError) and "not sent" in str(e)]
    summary = {
        "ok": len(results) - len(errors),
        "paused_not_sent": len(paused),
        "other_errors": [repr(e) for e in errors if e not in paused][:3],
        "answers_429": answers_429,
    }
    print(json.dumps(summary), flush=True)  # noqa: T201 -- the parent reads this line


if __name__ == "__main__":
    asyncio.run(main(json.loads(sys.argv[1])))
