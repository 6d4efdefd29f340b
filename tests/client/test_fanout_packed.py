"""run_many's outcomes packed as plain values during the batch (``PackedOutcomes``).

Packing exists for the garbage collector's sake (see its docstring), so besides the round
trip these tests pin what it is for: a packed outcome leaves no new object behind.
"""

from __future__ import annotations

import gc
import random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import attrs

from zuora_wf_async import (
    InvalidRequestError,
    RunOutcome,
    RunStatus,
    ServerError,
    WorkflowClient,
    WorkflowRun,
    WorkflowRunDetail,
    derive_key,
)
from zuora_wf_async._outcomes import RECORDS_PER_STEP, PackedOutcomes

_CREATED = datetime(2026, 11, 28, 9, 30, tzinfo=UTC)


def _run(run_id: int) -> WorkflowRun:
    return WorkflowRun(
        id=run_id,
        name=f"WF-396-{run_id:08d}",
        original_workflow_id=396,
        status=RunStatus.QUEUED,
        created_at=_CREATED,
        updated_at=_CREATED + timedelta(seconds=1),
        type="Workflow::Instance",
    )


class _RunWithMore(WorkflowRun):
    """A subclass could carry fields the packing does not know: it is kept as it is."""


def test_the_packing_carries_every_field_of_both_records():
    # PackedOutcomes spells the fields out for speed: a new field must be added there too,
    # or run_many would silently hand back its default.
    assert [field.name for field in attrs.fields(RunOutcome)] == [
        "index",
        "params",
        "idempotency_key",
        "run",
        "error",
        "detail",
        "attempts",
        "elapsed",
    ], "a RunOutcome field changed: carry it in PackedOutcomes.add and unpack"
    assert [field.name for field in attrs.fields(WorkflowRun)] == [
        "id",
        "name",
        "original_workflow_id",
        "status",
        "created_at",
        "updated_at",
        "type",
    ], "a WorkflowRun field changed: carry it in PackedOutcomes.add and unpack"


def test_records_are_built_in_steps_that_leave_room_for_the_event_loop():
    """run_many builds a batch's records at its end; in one go, 5,000 of them would hold
    the loop ~15 ms, so the build pauses every RECORDS_PER_STEP for collect() to yield."""
    total = 2 * RECORDS_PER_STEP + RECORDS_PER_STEP // 2
    packed = PackedOutcomes()
    for index in reversed(range(total)):  # finished last to first
        packed.add_run(
            index=index,
            params={"n": index},
            idempotency_key=f"k{index}",
            run=_run(index),
            detail=None,
            attempts=1,
            elapsed=0.5,
        )

    pauses = list(packed.build_in_steps())

    assert pauses == [total - RECORDS_PER_STEP, total - 2 * RECORDS_PER_STEP]
    records = packed.records()
    assert [outcome.index for outcome in records] == list(range(total))
    assert records[-1].run == _run(total - 1)
    assert len(packed) == 0


def test_unpacking_gives_equal_records_in_input_order():
    params = [{"accountId": f"A-{n}"} for n in range(7)]
    detail = WorkflowRunDetail(
        id=7,
        name="WF-396-00000007",
        original_workflow_id=396,
        status=RunStatus.FINISHED,
        created_at=_CREATED,
        updated_at=_CREATED,
        finished_at=_CREATED + timedelta(seconds=9),
    )
    refused = InvalidRequestError("items[1]", "expected a mapping", "pass dicts")
    down = ServerError("Zuora answered 503", status=503)
    unknown_status = attrs.evolve(_run(6), status=RunStatus("Archived"), type=None)
    originals = [
        RunOutcome(index=0, params=params[0], idempotency_key="k0", run=_run(10), attempts=1),
        RunOutcome(index=1, params=params[1], idempotency_key=None, error=refused),
        RunOutcome(index=2, params=params[2], idempotency_key="k2", error=down, attempts=4),
        # started, then following it failed: both the run and the error
        RunOutcome(index=3, params=params[3], idempotency_key="k3", run=_run(13), error=down),
        RunOutcome(
            index=4, params=params[4], idempotency_key="k4", run=_run(7), detail=detail, elapsed=9.5
        ),
        RunOutcome(index=5, params=params[5], idempotency_key="k5", run=_RunWithMore(**_fields(6))),
        RunOutcome(index=6, params=params[6], idempotency_key="k6", run=unknown_status),
    ]
    finished = originals[:]
    random.Random(12).shuffle(finished)  # completion order
    packed = PackedOutcomes()

    for outcome in finished:
        packed.add(outcome)
    assert len(packed) == 7
    unpacked = packed.unpack()

    assert unpacked == originals
    assert [type(outcome.run) for outcome in unpacked] == [type(o.run) for o in originals]
    assert all(u.params is o.params for u, o in zip(unpacked, originals, strict=True))
    assert unpacked[2].error is down
    assert unpacked[4].detail is detail
    assert unpacked[5].run is originals[5].run  # a subclass is kept, not rebuilt
    assert not unpacked[6].run.status.is_known
    assert len(packed) == 0  # emptied as it unpacked


def _fields(run_id: int) -> dict[str, object]:
    return attrs.asdict(_run(run_id), recurse=False)


def test_a_run_packed_without_its_record_unpacks_like_one_packed_from_it():
    params = {"accountId": "A-1"}
    detail = WorkflowRunDetail(
        id=8,
        name="WF-396-00000008",
        original_workflow_id=396,
        status=RunStatus.FINISHED,
        created_at=_CREATED,
        updated_at=_CREATED,
    )
    from_values = PackedOutcomes()
    from_records = PackedOutcomes()
    fields = {
        "params": params,
        "idempotency_key": "k",
        "detail": detail,
        "attempts": 2,
        "elapsed": 1.5,
    }

    for index, run in ((1, _run(8)), (0, _RunWithMore(**_fields(9)))):
        from_values.add_run(index=index, run=run, **fields)
        from_records.add(RunOutcome(index=index, run=run, **fields))

    unpacked = from_values.unpack()
    assert unpacked == from_records.unpack()
    assert [o.index for o in unpacked] == [0, 1]
    assert all(o.ok and o.error is None for o in unpacked)
    assert type(unpacked[0].run) is _RunWithMore
    assert type(unpacked[1].run) is WorkflowRun
    assert unpacked[1].run == _run(8)
    assert unpacked[1].detail is detail


def test_an_empty_store_unpacks_to_an_empty_list():
    assert PackedOutcomes().unpack() == []


def _gen0_growth(keep: Callable[[RunOutcome], object], count: int) -> int:
    """How far ``count`` kept outcomes move the collector's gen-0 count (allocations of
    tracked objects minus their deallocations), with the collector held off meanwhile."""
    params = {"accountId": "A-1"}
    gc.collect()
    gc.disable()
    try:
        before = gc.get_count()[0]
        for index in range(count):
            keep(RunOutcome(index=index, params=params, idempotency_key="k", run=_run(index)))
        return gc.get_count()[0] - before
    finally:
        gc.enable()


def test_a_packed_outcome_leaves_nothing_new_for_the_collector():
    kept: list[RunOutcome] = []
    packed = PackedOutcomes()

    def pack_run(outcome: RunOutcome) -> None:
        assert outcome.run is not None
        packed.add_run(
            index=outcome.index,
            params=outcome.params,
            idempotency_key=outcome.idempotency_key,
            run=outcome.run,
            detail=outcome.detail,
            attempts=outcome.attempts,
            elapsed=outcome.elapsed,
        )

    # Kept as records, every outcome adds two (itself and its run): what made run_many
    # trigger a collection every ~100 runs. Packed, it adds none (up to a few stray
    # allocations by anything else in the process).
    assert _gen0_growth(kept.append, 1_000) >= 2_000
    assert _gen0_growth(packed.add, 1_000) < 100
    assert _gen0_growth(pack_run, 1_000) < 100
    assert len(packed) == 2_000


async def test_run_many_hands_back_the_same_runs_as_iter_runs(fake, zuora: WorkflowClient):
    # Same keys, so Zuora (the fake) answers the second batch with the runs of the first:
    # the records run_many rebuilt from packed values equal the ones iter_runs passed on.
    items = [{"accountId": f"A-{n}"} for n in range(150)]

    def key_fn(params):
        return derive_key("packed", params["accountId"])

    streamed = [outcome async for outcome in zuora.iter_runs(396, items, key_fn=key_fn)]
    collected = await zuora.run_many(396, items, key_fn=key_fn)

    streamed.sort(key=lambda outcome: outcome.index)
    assert len(fake.executions) == 150  # the second batch started nothing new
    assert [o.run for o in collected] == [o.run for o in streamed]
    assert [type(o.run) for o in collected] == [WorkflowRun] * 150
    assert [(o.index, o.idempotency_key, o.attempts) for o in collected] == [
        (o.index, o.idempotency_key, o.attempts) for o in streamed
    ]
    assert all(c.params is s.params for c, s in zip(collected, streamed, strict=True))
