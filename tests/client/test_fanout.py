"""run_many and stream_runs: order, partial failure, deterministic keys, bounded read-ahead.

Worker tasks are found among the loop's real tasks by name: none may be left after a batch
ends, is closed, is cancelled or is left with ``break``.
"""

from __future__ import annotations

import asyncio
import itertools

import pytest

from zuora_wf_async import (
    BatchError,
    BearerToken,
    InvalidRequestError,
    MissingParametersError,
    OAuthCredentials,
    RunOutcome,
    RunRequest,
    ServerError,
    WorkflowClient,
    derive_key,
    raise_for_failures,
)
from zuora_wf_async._batch.stream import WORKER_NAME
from zuora_wf_async.testing import FakeZuora, Fault, FaultPlan, ManualClock


def client_tasks() -> list[asyncio.Task]:
    return [t for t in asyncio.all_tasks() if t.get_name() == WORKER_NAME]


async def test_run_many_returns_one_outcome_per_item_in_input_order(fake, zuora):
    items = [{"accountId": f"A-{n}"} for n in range(200)]

    outcomes = await zuora.run_many(396, items)

    assert [o.index for o in outcomes] == list(range(200))
    assert all(o.ok and o.error is None for o in outcomes)
    assert [o.params for o in outcomes] == items
    run_by_key = {e.idempotency_key: e.run_id for e in fake.executions}
    assert [o.run.id for o in outcomes] == [run_by_key[o.idempotency_key] for o in outcomes]
    assert all(o.attempts == 1 and o.elapsed >= 0 for o in outcomes)


async def test_a_batch_with_failures_never_raises_halfway(fake, zuora):
    fake.configure_workflow(396, required_params=("accountId",))
    items = [
        {"accountId": "A-0"},
        {"id": "reserved name"},  # refused locally, nothing sent
        {"note": "no accountId"},  # Zuora answers 406
        "not a mapping",
        RunRequest(params={"accountId": "A-4"}, idempotency_key=""),  # invalid key
        {"accountId": "A-5"},
    ]

    outcomes = await zuora.run_many(396, items)

    assert [o.ok for o in outcomes] == [True, False, False, False, False, True]
    assert isinstance(outcomes[1].error, InvalidRequestError)
    assert outcomes[1].error.field == "params['id']"
    assert isinstance(outcomes[2].error, MissingParametersError)
    assert outcomes[3].error.field == "items[3]"
    assert outcomes[4].error.field == "idempotency_key"
    assert len(fake.executions) == 2
    with pytest.raises(BatchError) as caught:
        raise_for_failures(outcomes)
    assert [o.index for o in caught.value.outcomes] == [1, 2, 3, 4]
    assert "items 1, 2, 3, 4" in str(caught.value)


@pytest.mark.parametrize("window", [1, 4])
async def test_a_none_among_the_items_fails_alone_and_ends_nothing(fake, make_client, window):
    async def from_a_stream():
        for item in ({"n": 0}, None, {"n": 2}):
            yield item

    async with make_client() as client:
        from_a_list = await client.run_many(396, [{"n": 0}, None, {"n": 2}], window=window)
        streamed = await client.run_many(396, from_a_stream(), window=window)

    for outcomes in (from_a_list, streamed):
        assert [o.index for o in outcomes] == [0, 1, 2]
        assert [o.ok for o in outcomes] == [True, False, True]
        assert isinstance(outcomes[1].error, InvalidRequestError)
        assert outcomes[1].error.field == "items[1]"
    assert len(fake.executions) == 4


async def test_batch_error_splits_by_error_kind(fake, zuora):
    fake.configure_workflow(397, force_status=500)
    outcomes = await zuora.run_many(397, [{"n": 1}, {"id": 2}])

    with pytest.raises(BatchError) as caught:
        raise_for_failures(outcomes)
    server_errors, rest = caught.value.split(ServerError)

    assert isinstance(server_errors, BatchError)
    assert [o.index for o in server_errors.outcomes] == [0]
    assert [o.index for o in rest.outcomes] == [1]
    assert isinstance(rest.exceptions[0], InvalidRequestError)


async def test_outcomes_report_attempts_and_elapsed_time(clock):
    plan = FaultPlan(rules=[Fault.error_before_record(503, on=[1])])
    async with FakeZuora(faults=plan) as fake:
        auth = BearerToken(fake.issue_token())
        async with WorkflowClient(fake.base_url, auth=auth, clock=clock, sleep=clock.sleep) as z:
            [outcome] = await z.run_many(396, [{"n": 1}])

    assert outcome.ok
    assert outcome.attempts == 2
    assert outcome.elapsed == pytest.approx(sum(clock.sleeps))
    assert outcome.elapsed > 0


async def test_deterministic_keys_make_a_rerun_create_nothing_new(fake, zuora):
    items = [{"accountId": f"A-{n}"} for n in range(50)]

    def key_fn(params):
        return derive_key("backfill-2026-11", params["accountId"])

    first = await zuora.run_many(396, items, key_fn=key_fn)
    again = await zuora.run_many(396, items, key_fn=key_fn)

    assert len(fake.executions) == 50
    assert [o.run.id for o in again] == [o.run.id for o in first]
    assert [o.idempotency_key for o in again] == [o.idempotency_key for o in first]
    assert first[0].idempotency_key == key_fn({"accountId": "A-0"})


async def test_per_item_keys_and_track_ids_win(fake, zuora):
    outcomes = await zuora.run_many(
        396,
        [
            RunRequest(params={"n": 1}, idempotency_key="own-key", track_id="own-track"),
            {"n": 2},
        ],
        key_fn=lambda params: f"derived-{params['n']}",
        track_id="batch-track",
    )

    assert [o.idempotency_key for o in outcomes] == ["own-key", "derived-2"]
    by_key = {r.header("Idempotency-Key"): r for r in fake.requests_to("run")}
    assert by_key["own-key"].header("Zuora-Track-Id") == "own-track"
    assert by_key["derived-2"].header("Zuora-Track-Id") == "batch-track"


async def test_stream_runs_reads_ahead_only_as_far_as_the_window(fake, zuora):
    consumed = 0

    def endless():
        nonlocal consumed
        for n in itertools.count():
            consumed += 1
            yield {"n": n}

    fake.pause_runs()
    stream = zuora.stream_runs(396, endless(), window=8)
    first = asyncio.ensure_future(anext(stream))
    await fake.wait_for_in_flight(8)
    assert consumed == 8  # eight started, none finished, nothing more read
    fake.resume_runs()
    await first
    seen = 1
    async for _ in stream:
        seen += 1
        if seen == 100:
            break
    assert consumed <= 100 + 8
    await stream.aclose()
    assert client_tasks() == []


async def test_run_many_reads_only_into_free_slots_within_its_window(fake, make_client):
    # More items than the window, every run held: the batch reads only as many items as
    # the client's limit (4) has slots, within its window (6); the rest stay unread.
    read = 0

    def items():
        nonlocal read
        for n in range(40):
            read += 1
            yield {"n": n}

    fake.pause_runs()
    async with make_client(max_concurrency=4) as client:
        batch = asyncio.create_task(client.run_many(396, items(), window=6))
        await fake.wait_for_in_flight(4)
        assert read == 4
        assert client.stats.in_flight == 4
        assert len(client_tasks()) <= 6
        fake.resume_runs()
        outcomes = await batch

    assert read == 40
    assert [outcome.index for outcome in outcomes] == list(range(40))
    assert all(outcome.ok for outcome in outcomes)
    assert len(fake.executions) == 40
    assert client_tasks() == []


async def test_a_run_waiting_to_resend_frees_its_slot_for_the_rest_of_the_batch():
    # Two runs answered 503 wait (in a sleep this test holds) before resending; the
    # workers held back for want of a free slot must take the two slots meanwhile.
    plan = FaultPlan(rules=[Fault.error_before_record(503, on=[1, 2])])
    resume = asyncio.Event()
    waiting = 0

    async def held_sleep(_seconds: float) -> None:
        nonlocal waiting
        waiting += 1
        await resume.wait()

    async with FakeZuora(faults=plan) as fake:
        auth = OAuthCredentials(client_id=fake.client_id, client_secret=fake.client_secret)
        async with WorkflowClient(
            fake.base_url, auth=auth, max_concurrency=2, sleep=held_sleep
        ) as client:
            batch = asyncio.create_task(client.run_many(396, [{"n": n} for n in range(10)]))
            await fake.wait_until(lambda: len(fake.executions) == 8)
            assert waiting == 2
            assert not batch.done()
            resume.set()
            outcomes = await batch

    assert [outcome.ok for outcome in outcomes] == [True] * 10
    assert [outcome.attempts for outcome in outcomes[:2]] == [2, 2]
    assert len(fake.executions) == 10


async def test_a_slot_held_by_another_call_does_not_stall_a_batch(fake, make_client):
    # The batch's first item queues in the limiter behind a call the batch knows nothing
    # of; when that call ends, the batch must go on (nothing of ours was running to wake
    # the parked workers).
    fake.pause_runs()
    async with make_client(max_concurrency=1) as client:
        other = asyncio.create_task(client.run_workflow(42, {"other": True}))
        await fake.wait_for_in_flight(1)
        batch = asyncio.create_task(client.run_many(396, [{"n": n} for n in range(6)]))
        await fake.wait_until(lambda: client.stats.in_flight == 1 and not batch.done())
        fake.resume_runs()
        outcomes = await batch
        await other

    assert [outcome.ok for outcome in outcomes] == [True] * 6
    assert len(fake.executions) == 7


async def test_breaking_out_of_stream_runs_cancels_what_is_in_flight(fake, zuora):
    fake.pause_runs()
    started = 0

    def items():
        nonlocal started
        for n in range(1_000_000):
            started += 1
            yield {"n": n}

    async def first_outcome():
        async for outcome in zuora.stream_runs(396, items(), window=16):
            return outcome
        return None

    task = asyncio.create_task(first_outcome())
    await fake.wait_for_in_flight(16)
    fake.resume_runs()
    outcome = await task

    assert isinstance(outcome, RunOutcome)
    leftovers = client_tasks()
    await asyncio.gather(*leftovers, return_exceptions=True)
    assert all(t.cancelled() or t.done() for t in leftovers)
    assert client_tasks() == []
    assert zuora.stats.in_flight == 0
    assert started <= 17


async def test_cancelling_run_many_cancels_its_runs(fake, zuora):
    fake.pause_runs()
    task = asyncio.create_task(zuora.run_many(396, [{"n": n} for n in range(100)]))
    await fake.wait_for_in_flight(zuora.max_concurrency)
    assert client_tasks()

    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    assert client_tasks() == []
    assert zuora.stats.in_flight == 0
    fake.resume_runs()


async def test_a_consumer_cancelled_while_waiting_closes_the_stream(fake, zuora):
    # The consumer waits for the first outcome while every run is held; cancelling that
    # wait cancels the runs in flight, and the stream hands back nothing more.
    fake.pause_runs()
    stream = zuora.stream_runs(396, [{"n": n} for n in range(50)], window=8)
    waiting = asyncio.ensure_future(anext(stream))
    await fake.wait_for_in_flight(8)
    assert client_tasks()

    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting

    assert client_tasks() == []
    assert zuora.stats.in_flight == 0
    assert stream.in_flight == 0
    fake.resume_runs()
    assert [outcome async for outcome in stream] == []


async def test_a_consumer_cancelled_while_others_wait_ends_their_wait_too(fake, zuora):
    # Cancelling one waiting consumer closes the stream; the others waiting on it see its
    # end instead of waiting for good on a stream whose workers are gone.
    fake.pause_runs()
    stream = zuora.stream_runs(396, [{"n": n} for n in range(50)], window=8)
    cancelled, *others = [asyncio.ensure_future(anext(stream)) for _ in range(3)]
    await fake.wait_for_in_flight(8)

    cancelled.cancel()
    # Bounded: a consumer never woken fails the test instead of hanging it.
    _, never_woken = await asyncio.wait(others, timeout=10)

    assert not never_woken
    assert [type(consumer.exception()) for consumer in others] == [StopAsyncIteration] * 2
    assert cancelled.cancelled()
    assert client_tasks() == []
    fake.resume_runs()


async def test_outcomes_that_arrive_together_are_each_handed_back(fake, zuora):
    # Runs held, then let go at once: several outcomes are waiting for the consumer by
    # the time it looks, and it takes them one by one, each counted once.
    fake.pause_runs()
    async with zuora.stream_runs(396, [{"n": n} for n in range(30)], window=10) as stream:
        first = asyncio.ensure_future(anext(stream))
        await fake.wait_for_in_flight(10)
        fake.resume_runs()
        outcomes = [await first] + [outcome async for outcome in stream]

    assert sorted(outcome.index for outcome in outcomes) == list(range(30))
    assert (stream.done, stream.failed, stream.in_flight) == (30, 0, 0)


async def test_consumers_waiting_together_each_get_an_outcome(fake, zuora):
    fake.pause_runs()
    async with zuora.stream_runs(396, [{"n": n} for n in range(12)], window=4) as stream:
        waiting = [asyncio.ensure_future(anext(stream)) for _ in range(3)]
        await fake.wait_for_in_flight(4)
        fake.resume_runs()
        # Bounded: a consumer never woken fails the test instead of hanging it.
        _, never_woken = await asyncio.wait(waiting, timeout=10)
        assert not never_woken
        firsts = [consumer.result() for consumer in waiting]
        rest = [outcome async for outcome in stream]

    assert sorted(outcome.index for outcome in firsts + rest) == list(range(12))


async def test_consumers_waiting_together_at_the_end_each_see_it(fake, zuora):
    # One end for all: the consumer that takes it wakes the others, who would otherwise
    # wait for good on a stream with nothing more to hand out.
    fake.pause_runs()
    async with zuora.stream_runs(396, [{"n": n} for n in range(2)], window=2) as stream:
        waiting = [asyncio.ensure_future(anext(stream)) for _ in range(4)]
        await fake.wait_for_in_flight(2)
        fake.resume_runs()
        # Bounded: a consumer never woken fails the test instead of hanging it.
        _, never_woken = await asyncio.wait(waiting, timeout=10)

    assert not never_woken
    outcomes = [consumer.result() for consumer in waiting if consumer.exception() is None]
    ended = [consumer for consumer in waiting if consumer.exception() is not None]
    assert sorted(outcome.index for outcome in outcomes) == [0, 1]
    assert [type(consumer.exception()) for consumer in ended] == [StopAsyncIteration] * 2


async def test_stream_runs_accepts_an_async_iterable(fake, zuora):
    async def items():
        for n in range(20):
            yield {"n": n}

    async with zuora.stream_runs(396, items()) as stream:
        outcomes = [o async for o in stream]

    assert sorted(o.index for o in outcomes) == list(range(20))
    assert len(fake.executions) == 20


async def test_progress_is_reported_after_each_outcome(fake, zuora):
    fake.configure_workflow(396, required_params=("a",))
    reports = []

    await zuora.run_many(396, [{"a": 1}, {"b": 2}, {"a": 3}], on_progress=reports.append)

    assert [(p.done, p.total) for p in reports] == [(1, 3), (2, 3), (3, 3)]
    assert reports[-1].failed == 1
    assert reports[-1].in_flight == 0


async def test_progress_total_is_unknown_for_a_generator(fake, zuora):
    reports = []
    await zuora.run_many(396, ({"n": n} for n in range(3)), on_progress=reports.append)
    assert {p.total for p in reports} == {None}


@pytest.mark.parametrize(
    ("items", "options", "field"),
    [
        pytest.param({"a": 1}, {}, "items", id="a-single-mapping"),
        pytest.param(42, {}, "items", id="not-iterable"),
        pytest.param([], {"window": 0}, "window", id="window-zero"),
    ],
)
async def test_bad_batch_arguments_are_rejected_before_anything_is_sent(
    fake, zuora, items, options, field
):
    with pytest.raises(InvalidRequestError) as caught:
        await zuora.run_many(396, items, **options)
    assert caught.value.field == field
    assert fake.requests == []


def test_derive_key_is_stable_and_distinct():
    assert derive_key("batch", 1) == derive_key("batch", 1)
    assert derive_key("batch", 1) != derive_key("batch", 2)
    assert derive_key("a", "bc") != derive_key("ab", "c")
    assert len(derive_key("x")) == 36


async def test_run_many_can_start_and_settle_a_batch_in_one_call():
    clock = ManualClock()
    async with FakeZuora(clock=clock, queued_seconds=3, processing_seconds=4) as fake:
        fake.configure_workflow(397, task_count=3, failed_tasks=1)
        async with WorkflowClient(
            fake.base_url,
            auth=BearerToken(fake.issue_token()),
            max_concurrency=8,
            clock=clock,
            sleep=clock.sleep,
        ) as zuora:
            clean = await zuora.run_many(396, [{"n": n} for n in range(60)], wait=True)
            failing = await zuora.run_many(397, [{"n": 1}], wait=True, poll_interval=1)
            budget = zuora.poll_budget

    assert all(o.ok and o.succeeded for o in clean)
    assert {o.detail.status.value for o in clean} == {"Finished"}
    assert [o.detail.id for o in clean] == [o.run.id for o in clean]
    [failed] = failing
    assert failed.ok
    assert not failed.succeeded
    assert failed.detail.tasks.error == 1
    assert fake.peak_in_flight_by_endpoint.get("get_run", 0) <= budget


async def test_iter_runs_is_a_deprecated_alias_of_stream_runs(fake, zuora):
    items = [{"accountId": f"A-{n}"} for n in range(5)]

    with pytest.warns(DeprecationWarning, match="call stream_runs"):
        stream = zuora.iter_runs(396, items, window=2)
    async with stream:
        outcomes = [outcome async for outcome in stream]

    assert sorted(outcome.index for outcome in outcomes) == list(range(5))
    assert all(outcome.ok for outcome in outcomes)
    assert len(fake.executions) == 5


async def test_run_many_hands_back_the_same_runs_as_stream_runs(fake, zuora):
    # Same keys, so Zuora (the fake) answers the second batch with the runs of the first.
    items = [{"accountId": f"A-{n}"} for n in range(150)]

    def key_fn(params):
        return derive_key("same-runs", params["accountId"])

    streamed = [outcome async for outcome in zuora.stream_runs(396, items, key_fn=key_fn)]
    collected = await zuora.run_many(396, items, key_fn=key_fn)

    streamed.sort(key=lambda outcome: outcome.index)
    assert len(fake.executions) == 150  # the second batch started nothing new
    assert [o.run for o in collected] == [o.run for o in streamed]
    assert [(o.index, o.idempotency_key, o.attempts) for o in collected] == [
        (o.index, o.idempotency_key, o.attempts) for o in streamed
    ]
    assert all(c.params is s.params for c, s in zip(collected, streamed, strict=True))


async def test_a_key_fn_that_raises_fails_its_item_alone(fake, zuora):
    def key_fn(params):
        return f"k-{params['accountId']}"  # KeyError for the item without one

    outcomes = await zuora.run_many(396, [{"accountId": "A-0"}, {"other": 1}], key_fn=key_fn)

    assert [outcome.ok for outcome in outcomes] == [True, False]
    assert outcomes[1].error.field == "items[1]"
    assert "key_fn raised KeyError" in str(outcomes[1].error)
    assert len(fake.executions) == 1
