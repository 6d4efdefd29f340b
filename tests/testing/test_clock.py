"""ManualClock: time moves only by hand, and sleeping is instant but recorded."""

import asyncio

import pytest

from zuora_wf_async.testing import ManualClock


def test_reads_start_and_advances():
    clock = ManualClock(start=5.0)
    assert clock() == 5.0
    clock.advance(2.5)
    assert clock() == 7.5


def test_refuses_to_go_back():
    with pytest.raises(ValueError, match="cannot go back"):
        ManualClock().advance(-1)


async def test_sleep_advances_records_and_yields():
    clock = ManualClock()
    order: list[str] = []

    async def other() -> None:
        order.append("other")

    task = asyncio.create_task(other())
    await clock.sleep(3.0)
    order.append("after sleep")
    await task
    assert clock() == 3.0
    assert clock.sleeps == [3.0]
    assert order == ["other", "after sleep"]


async def test_concurrent_sleepers_overlap_instead_of_adding_up():
    clock = ManualClock()
    await asyncio.gather(*(clock.sleep(1.0) for _ in range(16)))
    assert clock() == 1.0
    await clock.sleep(0.5)
    assert clock() == 1.5
