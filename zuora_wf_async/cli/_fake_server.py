"""``zuora-wf fake-server``: FakeZuora on loopback until interrupted, like stripe-mock.

It prints the base URL and the fake's credentials as ``NAME=value`` lines. Those
credentials are the fake's own throwaway ones (random unless given, valid only against this
process), so printing them is the point: paste them into the environment of the code under
test.

``--faults`` takes a small spec, rules separated by commas, each
``kind[:value][:option=value...]``:

=====================================  ==============================================
``error_before_record[:STATUS]``       answer STATUS (503) without creating the run
``error_after_record[:STATUS]``        create the run, then answer STATUS (500)
``drop_after_record``                  create the run, then drop the connection
``rate_limit_burst[:COUNT]``           429 for COUNT (3) consecutive requests
``quota:LIMIT``                        at most LIMIT requests per ``window`` seconds
``slow:SECONDS``                       answer SECONDS late
``expire_token``                       expire every token (the request gets 401)
=====================================  ==============================================

Options: ``p=0.05`` (probability per request), ``on=1/5/9`` (these request numbers),
``times=N`` (fire at most N times), ``retry_after=S`` (burst), ``window=S`` (quota),
``record_first=true`` (slow: create the run before waiting), ``endpoints=run/get_run``
(``token``, ``run``, ``get_run``, ``stop``, ``tasks``...). For example
``error_before_record:503:p=0.05,rate_limit_burst:3:p=0.01:retry_after=1``.

``--workflow ID`` (repeatable) serves that workflow definition besides the fake's own
(``DEFAULT_WORKFLOW_IDS``: 1 to 9, 42, 286, 396, 476); any other id is a 404, as at Zuora.

``--concurrency-limit N`` sets the tenant's limit on requests in flight at once (40 by
default, as at Zuora); a request over it gets Zuora's 429.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import sys
from collections.abc import Callable, Iterator
from typing import Any

from zuora_wf_async.testing import DEFAULT_WORKFLOW_IDS, FakeZuora, Fault, FaultPlan, TenantLimits

from ._config import UsageError

__all__ = ["build_fake", "parse_faults", "serve"]

# kind -> (constructor, name and type of its positional value, whether it is required)
_KINDS: dict[str, tuple[Callable[..., Fault], str | None, type, bool]] = {
    "error_before_record": (Fault.error_before_record, "status", int, False),
    "error_after_record": (Fault.error_after_record, "status", int, False),
    "drop_after_record": (Fault.drop_after_record, None, int, False),
    "rate_limit_burst": (Fault.rate_limit_burst, "count", int, False),
    "quota": (Fault.quota, "limit", int, True),
    "slow": (Fault.slow, "delay", float, True),
    "expire_token": (Fault.expire_token, None, int, False),
}
_OPTIONS: dict[str, Callable[[str], Any]] = {
    "p": float,
    "times": int,
    "retry_after": int,
    "window": float,
    "on": lambda text: [int(n) for n in text.split("/")],
    "endpoints": lambda text: text.split("/"),
    "record_first": lambda text: text.lower() in {"1", "true", "yes"},
}


def _rule(text: str) -> Fault:
    kind, *parts = text.strip().split(":")
    if kind not in _KINDS:
        raise UsageError(f"--faults: unknown fault {kind!r}; use one of {', '.join(_KINDS)}")
    make, positional, kind_type, required = _KINDS[kind]
    kwargs: dict[str, Any] = {}
    try:
        if parts and "=" not in parts[0] and positional is not None:
            kwargs[positional] = kind_type(parts.pop(0))
        elif required:
            raise UsageError(f"--faults: {kind} needs a value, e.g. {kind}:1")
        for part in parts:
            name, _, value = part.partition("=")
            if name not in _OPTIONS:
                raise UsageError(f"--faults: {text!r}: unknown option {name!r}")
            kwargs["probability" if name == "p" else name] = _OPTIONS[name](value)
        return make(**kwargs)
    except (ValueError, TypeError) as exc:
        raise UsageError(f"--faults: {text!r}: {exc}") from None


def parse_faults(spec: str, *, seed: int = 0) -> FaultPlan:
    """A :class:`FaultPlan` from the ``--faults`` spec (see the module docstring)."""
    rules = [_rule(part) for part in spec.split(",") if part.strip()]
    return FaultPlan(seed=seed, rules=rules)


def build_fake(args: argparse.Namespace) -> FakeZuora:
    """The (not yet started) fake the ``fake-server`` options describe."""
    for flag, value in (("--client-id", args.client_id), ("--client-secret", args.client_secret)):
        # Printed as NAME=value lines and sent in HTTP: one line of text UTF-8 can carry.
        if value is not None and (not value.isprintable() or not value.isascii()):
            raise UsageError(f"fake-server: {flag} must be printable ASCII, one line")
    plan = parse_faults(args.faults, seed=args.seed) if args.faults else None
    try:
        return FakeZuora(
            port=args.port,
            faults=plan,
            latency=args.latency,
            queued_seconds=args.queued_seconds,
            processing_seconds=args.processing_seconds,
            client_id=args.client_id,
            client_secret=args.client_secret,
            # Zuora's tenant-wide limit on requests in flight (40 unless support raised it).
            limits=TenantLimits(concurrency=args.concurrency_limit),
            # The fake's documented definitions, plus the ones --workflow names.
            workflows=(*DEFAULT_WORKFLOW_IDS, *getattr(args, "workflow", [])),
        )
    except ValueError as exc:
        raise UsageError(f"fake-server: {exc}") from None


async def serve(args: argparse.Namespace) -> int:
    """Run the fake until SIGINT or SIGTERM; returns the exit code."""
    fake = build_fake(args)
    try:
        await fake.start()
    except OSError as exc:
        raise UsageError(
            f"fake-server: cannot listen on port {args.port}: {exc.strerror}"
        ) from None
    # Handlers first: a signal sent as soon as the URL is read must still stop us cleanly.
    with _stop_on_signals() as stop:
        try:
            for line in (
                f"ZUORA_BASE_URL={fake.base_url}",
                f"ZUORA_CLIENT_ID={fake.client_id}",
                f"ZUORA_CLIENT_SECRET={fake.client_secret}",
            ):
                sys.stdout.write(line + "\n")
            sys.stdout.flush()
            print("fake-server: ready; Ctrl-C or SIGTERM stops it", file=sys.stderr, flush=True)
            await stop.wait()
        finally:
            await fake.close()
    counts = fake.execution_counts_by_key()
    duplicates = sum(n - 1 for n in counts.values() if n > 1)
    if args.report:
        for key, n in sorted(counts.items(), key=lambda item: str(item[0])):
            sys.stdout.write(json.dumps({"idempotency_key": key, "executions": n}) + "\n")
        summary = {"requests": len(fake.requests), "executions": len(fake.executions)}
        sys.stdout.write(json.dumps({**summary, "duplicate_executions": duplicates}) + "\n")
        sys.stdout.flush()
    print(
        f"fake-server: stopped; {len(fake.requests)} requests, {len(fake.executions)} runs "
        f"created, {duplicates} duplicate executions",
        file=sys.stderr,
        flush=True,
    )
    return 0


@contextlib.contextmanager
def _stop_on_signals() -> Iterator[asyncio.Event]:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    installed = []
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):  # not on Windows
            loop.add_signal_handler(signum, stop.set)
            installed.append(signum)
    try:
        yield stop
    finally:
        for signum in installed:
            loop.remove_signal_handler(signum)
