"""Where the client's CPU per run goes: ``python -m benchmarks.profile_hot_path``.

Not a benchmark with a target: a diagnostic for whoever works on the call path. Against
``benchmarks._fastserver`` in another process (OAuth, 64 in flight), for one shape
(``run_many`` by default) and both server ports, it reports:

- CPU µs/run with the garbage collector on and off (the difference is what the garbage
  the path creates costs), the cheaper raw loop's alongside, all interleaved;
- a ``cProfile`` of one batch: own time (``tottime``) per function in µs/run, for this
  package's functions and the biggest others, and the total per package module;
- the reference cycles one batch leaves for the collector: one batch with the collector
  off, then ``gc.DEBUG_SAVEALL``, counted per run by type (and, for functions, coroutines
  and frames, by the code they belong to);
- the GC-tracked objects alive per request in flight (snapshots mid-batch, divided by the
  requests in flight): the coroutine chain a request runs through, and what else it keeps;
- with ``--layers``: CPU µs/run of the stack built up layer by layer, interleaved, so the
  difference between two rows is what one layer costs: the raw worker loop; the same
  workers sending through our ``Transport`` (``prepare_run`` + ``Transport.send`` +
  ``json.loads``); the same workers calling ``client.run_workflow`` with the retry loop
  bypassed (a diagnostic: each call makes its attempt directly, not through backoff), then
  as shipped (no fan-out); then ``run_many`` (fan-out);
- with ``--floor``: the same for the CPU benchmark's ``floor_workers``: the raw workers,
  then a slot and the ``WorkflowRun`` record, then backoff's loop around each call.

cProfile inflates small functions, so read its µs as relative weights; the GC on/off and
raw numbers are ``time.process_time`` and comparable with the CPU benchmark's.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import pstats
import statistics
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable
from typing import Any

from . import _shapes
from ._pinning import pinned_apart
from ._server import ServerProcess


class _Meter:
    def __init__(self, *, collect: bool) -> None:
        self.collect = collect
        self.cpu = 0.0
        self._cpu0 = 0.0

    def start(self) -> None:
        gc.collect()
        if not self.collect:
            gc.disable()
        self._cpu0 = time.process_time()

    def stop(self) -> None:
        self.cpu = time.process_time() - self._cpu0
        gc.enable()


class _Profiled:
    def __init__(self) -> None:
        self.profile = cProfile.Profile()

    def start(self) -> None:
        gc.collect()
        self.profile.enable()

    def stop(self) -> None:
        self.profile.disable()


class _Cycles:
    """Collects nothing during the batch, then keeps what the collector would free."""

    def __init__(self) -> None:
        self.garbage: list[Any] = []

    def start(self) -> None:
        gc.collect()
        gc.disable()

    def stop(self) -> None:
        gc.set_debug(gc.DEBUG_SAVEALL)
        try:
            gc.collect()
            self.garbage = list(gc.garbage)
            gc.garbage.clear()
        finally:
            gc.set_debug(0)
            gc.enable()


def _describe(thing: Any) -> str:
    kind = type(thing).__name__
    code = getattr(thing, "__code__", None) or getattr(thing, "cr_code", None)
    code = code or getattr(thing, "f_code", None) or getattr(thing, "gi_code", None)
    if code is not None:
        where = code.co_filename.split("zuora_wf_async/")[-1].rsplit("/", 1)[-1]
        return f"{kind} {where}:{code.co_qualname}"
    if kind in ("method", "builtin_function_or_method"):
        owner = getattr(thing, "__self__", None)
        return f"{kind} {type(owner).__name__}.{getattr(thing, '__name__', '?')}"
    return f"{kind} ({type(thing).__module__})"


def _cycles(endpoint: _shapes.Endpoint, shape: str, count: int) -> list[str]:
    cycles = _Cycles()
    asyncio.run(_shapes.SHAPES[shape](endpoint, count, cycles))
    counted: dict[str, int] = defaultdict(int)
    for thing in cycles.garbage:
        counted[_describe(thing)] += 1
    total = len(cycles.garbage)
    lines = [f"objects in reference cycles per run: {total / count:.1f} (top 30):"]
    lines += [
        f"  {number / count:6.2f}  {what}"
        for what, number in sorted(counted.items(), key=lambda item: -item[1])[:30]
    ]
    return lines


class _InFlight:
    """Snapshots of the objects created since the batch started, taken mid-batch."""

    def __init__(self, snapshots: int = 5, every: float = 0.1) -> None:
        self.snapshots: list[dict[str, int]] = []
        self._before: set[int] = set()
        self._plan = (snapshots, every)

    def start(self) -> None:
        gc.collect()
        self._before = {id(thing) for thing in gc.get_objects()}
        loop = asyncio.get_running_loop()
        count, every = self._plan
        for index in range(1, count + 1):
            loop.call_later(every * index, self._snapshot)

    def _snapshot(self) -> None:
        counted: dict[str, int] = defaultdict(int)
        for thing in gc.get_objects():
            if id(thing) not in self._before:
                counted[_describe(thing)] += 1
        self.snapshots.append(counted)

    def stop(self) -> None:
        pass


def _in_flight(endpoint: _shapes.Endpoint, shape: str, count: int) -> list[str]:
    census = _InFlight()
    asyncio.run(_shapes.SHAPES[shape](endpoint, count, census))
    total: dict[str, int] = defaultdict(int)
    for snapshot in census.snapshots:
        for what, number in snapshot.items():
            total[what] += number
    # stream_runs/run_many keep WIDTH runs in flight; outcomes kept by run_many count too.
    per = max(1, len(census.snapshots) * _shapes.WIDTH)
    lines = [
        f"GC-tracked objects alive per request in flight: {sum(total.values()) / per:.1f}"
        f" ({len(census.snapshots)} snapshots; top 45):"
    ]
    lines += [
        f"  {number / per:6.2f}  {what}"
        for what, number in sorted(total.items(), key=lambda item: -item[1])[:45]
    ]
    return lines


def _cpu(endpoint: _shapes.Endpoint, shape: str, count: int, *, collect: bool) -> float:
    meter = _Meter(collect=collect)
    ok = asyncio.run(_shapes.SHAPES[shape](endpoint, count, meter))
    if ok != count:
        raise RuntimeError(f"{shape}: {ok} of {count} runs succeeded")
    return 1e6 * meter.cpu / count


def _profile(endpoint: _shapes.Endpoint, shape: str, count: int) -> list[str]:
    profiled = _Profiled()
    asyncio.run(_shapes.SHAPES[shape](endpoint, count, profiled))
    stats = pstats.Stats(profiled.profile)
    raw: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
    rows = []
    per_module: dict[str, float] = defaultdict(float)
    for (filename, line, name), (_cc, calls, own, _cum, _callers) in raw.items():
        ours = "zuora_wf_async" in filename
        label = filename.split("zuora_wf_async/")[-1] if ours else filename.rsplit("/", 2)[-1]
        if ours:
            per_module[label] += own
        rows.append((own, calls, f"{label}:{line}({name})", ours))
    rows.sort(reverse=True)
    lines = ["own time per run (cProfile; relative weights):"]
    lines += [
        f"  {1e6 * own / count:7.2f} µs  {calls / count:6.2f} calls/run  {where}"
        for own, calls, where, ours in rows
        if ours or own / count > 2e-6
    ][:40]
    lines.append("package modules, own time per run:")
    lines += [
        f"  {1e6 * own / count:7.2f} µs  {module}"
        for module, own in sorted(per_module.items(), key=lambda item: -item[1])
    ]
    return lines


async def _measured_in_workers(
    one: Callable[[dict[str, Any]], Awaitable[bool]], count: int, meter: Any
) -> int:
    """``_shapes.WIDTH`` workers on one iterator, each awaiting ``one(item)``: a warm-up
    batch, then ``count`` items between ``meter.start()`` and ``meter.stop()``; how many
    of them ``one`` said succeeded."""

    async def batch(items: list[dict[str, Any]]) -> int:
        source = iter(items)
        done = 0

        async def worker() -> None:
            nonlocal done
            for item in source:
                if await one(item):  # awaited first: `done +=` must not span it
                    done += 1

        await asyncio.gather(*(worker() for _ in range(_shapes.WIDTH)))
        return done

    await batch(list(_shapes.params(_shapes.WARMUP)))
    items = list(_shapes.params(count, start=_shapes.WARMUP))
    meter.start()
    ok = await batch(items)
    meter.stop()
    return ok


def _layer_shapes() -> dict[str, Any]:
    """Worker-pool shapes that add one layer of ours at a time (see the module doc)."""
    import json
    import uuid

    import aiohttp

    from zuora_wf_async._core import requests as build
    from zuora_wf_async._transport import Transport

    async def transport_workers(endpoint: _shapes.Endpoint, count: int, meter: Any) -> int:
        transport = Transport(max_connections=_shapes.WIDTH, timeout=60.0)
        transport.open()
        try:
            async with aiohttp.ClientSession() as session:
                token = await _shapes._raw_token(session, endpoint)
            authorization = f"Bearer {token}"

            async def one(item: dict[str, Any]) -> bool:
                prepared = build.prepare_run(
                    base_url=endpoint.base_url,
                    workflow_id=_shapes.WORKFLOW_ID,
                    body=json.dumps(item, ensure_ascii=False, separators=(",", ":")).encode(),
                    idempotency_key=str(uuid.uuid4()),
                )
                headers = {**prepared.headers, "Authorization": authorization}
                raw = await transport.send(prepared, headers, timeout=60.0)
                return raw.status == 200 and json.loads(raw.body) is not None

            return await _measured_in_workers(one, count, meter)
        finally:
            await transport.close()

    async def run_workflow_workers(endpoint: _shapes.Endpoint, count: int, meter: Any) -> int:
        # The retry loop is plain code now (_call.call): no layer to take out for a
        # diagnostic, and a call that succeeds at once never makes backoff's generator.
        async with _shapes._client(endpoint, otel=False) as client:

            async def one(item: dict[str, Any]) -> bool:
                await client.run_workflow(_shapes.WORKFLOW_ID, item)
                return True

            return await _measured_in_workers(one, count, meter)

    return {
        "raw_workers": _shapes.SHAPES["raw_workers"],
        "+ Transport": transport_workers,
        "+ run_workflow (with its retry loop)": run_workflow_workers,
        "run_many": _shapes.SHAPES["run_many"],
    }


def _floor_shapes() -> dict[str, Any]:
    """The floor built up: the raw workers, then a slot and the record, then backoff."""
    return {
        "raw_workers": _shapes.SHAPES["raw_workers"],
        "+ slot and WorkflowRun record": _shapes.FLOOR_WITHOUT_RETRY_LOOP,
        "+ backoff loop (floor_workers)": _shapes.SHAPES[_shapes.FLOOR_SHAPE],
    }


def _layers(
    endpoint: _shapes.Endpoint, runs: int, rounds: int, shapes: dict[str, Any]
) -> list[str]:
    samples: dict[str, list[float]] = defaultdict(list)
    gcs: dict[str, list[float]] = defaultdict(list)
    names = list(shapes)
    for index in range(rounds):
        for name in names[index % len(names) :] + names[: index % len(names)]:
            meter = _Meter(collect=True)
            before = gc.get_stats()[0]["collections"]
            ok = asyncio.run(shapes[name](endpoint, runs, meter))
            if ok != runs:
                raise RuntimeError(f"{name}: {ok} of {runs} runs succeeded")
            samples[name].append(1e6 * meter.cpu / runs)
            gcs[name].append(1000 * (gc.get_stats()[0]["collections"] - before - 1) / runs)
    lines = ["layer by layer (CPU µs/run, median [min-max]; gen-0 collections per 1,000 runs):"]
    previous = None
    for name in names:
        median = statistics.median(samples[name])
        step = "" if previous is None else f"  (+{median - previous:.1f})"
        lines.append(
            f"  {name:30s} {median:6.1f} [{min(samples[name]):.1f}-{max(samples[name]):.1f}]"
            f"{step}   gen0 {statistics.median(gcs[name]):.1f}"
        )
        previous = median
    return lines


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.profile_hot_path")
    parser.add_argument("--shape", default="run_many", choices=list(_shapes.SHAPES))
    parser.add_argument("--runs", type=int, default=3_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--layers", action="store_true", help="only the layer-by-layer table")
    parser.add_argument("--floor", action="store_true", help="only floor_workers, built up")
    args = parser.parse_args(argv)
    with (
        ServerProcess("benchmarks._fastserver") as server,
        pinned_apart(server.hello["pid"]) as placement,
    ):
        hello = server.hello
        print(f"placement: {placement}")
        if args.layers or args.floor:
            shapes = _floor_shapes() if args.floor else _layer_shapes()
            for mode in ("with_headers", "without_headers"):
                endpoint = _shapes.Endpoint(hello[mode], hello["client_id"], hello["client_secret"])
                print(f"== server {mode.replace('_', ' ')}, {args.runs:,} runs x {args.rounds}")
                print("\n".join(_layers(endpoint, args.runs, args.rounds, shapes)))
            return
        for mode in ("with_headers", "without_headers"):
            endpoint = _shapes.Endpoint(hello[mode], hello["client_id"], hello["client_secret"])
            samples: dict[str, list[float]] = defaultdict(list)
            for _ in range(args.rounds):
                samples["raw_workers"].append(
                    _cpu(endpoint, "raw_workers", args.runs, collect=True)
                )
                samples["gc on"].append(_cpu(endpoint, args.shape, args.runs, collect=True))
                samples["gc off"].append(_cpu(endpoint, args.shape, args.runs, collect=False))
            print(f"== {args.shape}, server {mode.replace('_', ' ')}, {args.runs:,} runs")
            for name, values in samples.items():
                print(
                    f"  {name:12s} {statistics.median(values):6.1f} µs/run"
                    f" [{min(values):.1f}-{max(values):.1f}]"
                )
            print("\n".join(_profile(endpoint, args.shape, args.runs)))
            print("\n".join(_cycles(endpoint, args.shape, args.runs)))
            print("\n".join(_in_flight(endpoint, args.shape, args.runs)))


if __name__ == "__main__":
    main()
