"""``run_many``/``stream_runs`` with ``journal=``: a Python batch resumes like the CLI's."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import textwrap
from collections import Counter

from zuora_wf_async import BatchJournal, derive_key

STARTUP = 60.0


def key_of(params):
    return derive_key("test-backfill", params["accountId"])


def accounts(n):
    return [{"accountId": f"A-{i}"} for i in range(n)]


async def test_a_journaled_batch_skips_what_is_done_and_reports_total(zuora, fake, tmp_path):
    path = tmp_path / "runs.jsonl"
    seen = []
    with BatchJournal.open(path, workflow_id=396, key_scheme="accountId") as journal:
        stream = zuora.stream_runs(
            396,
            (item for item in accounts(6)),
            key_fn=key_of,
            journal=journal,
            total=6,
            on_progress=seen.append,
            window=1,
        )
        async with stream:
            async for _outcome in stream:
                if stream.done == 2:
                    break  # the batch stops early (a crash, a deploy)
    assert seen[-1].total == 6

    with BatchJournal.open(path, workflow_id=396, key_scheme="accountId") as journal:
        assert journal.counts["ok"] == 2
        outcomes = await zuora.run_many(396, accounts(6), key_fn=key_of, journal=journal)
    assert len(outcomes) == 4  # the two done are skipped: no outcome, no request
    assert all(outcome.ok for outcome in outcomes)
    assert sorted(fake.execution_counts_by_key().values()) == [1] * 6


async def test_an_item_without_a_key_fails_alone_under_a_journal(zuora, fake, tmp_path):
    with BatchJournal.open(tmp_path / "j.jsonl", workflow_id=396, key_scheme="x") as journal:
        outcomes = await zuora.run_many(
            396, [{"accountId": "A-1"}, {"other": 1}], key_fn=key_of, journal=journal
        )
    assert outcomes[0].ok
    assert "has no idempotency key" in str(outcomes[1].error)
    assert len(fake.executions) == 1


async def test_a_none_among_the_items_fails_alone_under_a_journal(zuora, fake, tmp_path):
    with BatchJournal.open(tmp_path / "j.jsonl", workflow_id=396, key_scheme="x") as journal:
        outcomes = await zuora.run_many(
            396, [{"accountId": "A-1"}, None, {"accountId": "A-2"}], key_fn=key_of, journal=journal
        )
    assert [outcome.ok for outcome in outcomes] == [True, False, True]
    assert outcomes[1].error is not None
    assert outcomes[1].error.field == "items[1]"
    assert len(fake.executions) == 2


SCRIPT = textwrap.dedent(
    """
    import asyncio, sys
    from zuora_wf_async import OAuthCredentials, WorkflowClient, derive_key
    from zuora_wf_async import BatchJournal

    async def main():
        base_url, client_id, secret, path = sys.argv[1:]
        rows = ({"accountId": f"A-{i}"} for i in range(10))
        auth = OAuthCredentials(client_id=client_id, client_secret=secret)
        with BatchJournal.open(path, workflow_id=396, key_scheme="accountId") as journal:
            async with WorkflowClient(base_url, auth=auth, max_concurrency=3) as client:
                outcomes = await client.run_many(
                    396,
                    rows,
                    key_fn=lambda p: derive_key("test-backfill", p["accountId"]),
                    journal=journal,
                    total=10,
                    window=3,  # three read ahead: exactly the three that get sent
                )
        print(sum(outcome.ok for outcome in outcomes))

    asyncio.run(main())
    """
)


async def run_script(fake, path):
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        SCRIPT,
        fake.base_url,
        fake.client_id,
        fake.client_secret,
        str(path),
        env=dict(os.environ),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def test_a_python_batch_killed_and_resumed_starts_nothing_twice(fake, tmp_path):
    path = tmp_path / "runs.jsonl"
    fake.pause_runs()
    first = await run_script(fake, path)
    try:
        await fake.wait_for_in_flight(3, timeout=STARTUP)  # three sent, none answered
    finally:
        first.send_signal(signal.SIGKILL)
        await first.wait()
    fake.resume_runs()  # Zuora runs what the killed process had sent
    started = [json.loads(line) for line in path.read_text().splitlines()[1:]]
    assert [e["event"] for e in started] == ["started"] * 3

    second = await run_script(fake, path)
    out, err = await asyncio.wait_for(second.communicate(), STARTUP)
    assert second.returncode == 0, err.decode()
    assert out.decode().strip() == "10"  # none was done, so every item has an outcome

    keys = {key_of(item) for item in accounts(10)}
    assert fake.execution_counts_by_key() == Counter(dict.fromkeys(keys, 1))
    # The three in flight were re-sent under their recorded keys and replayed.
    sent = Counter(r.header("Idempotency-Key") for r in fake.requests_to("run"))
    assert sum(sent.values()) == 13
