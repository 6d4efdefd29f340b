"""A token a server puts in every header name and value and in the body leaves by no exit.

A plain ``aiohttp.web`` app on 127.0.0.1 answers ``get_run`` with a 503 and then a 404,
each echoing the client's bearer token in header names and in the value of every header it
controls (``Zuora-Request-Id``, ``Zuora-Track-Id``, ``Content-Type``, ``Date``, the rate
headers; only ``Content-Length`` is aiohttp's) and in the body. Every exit of the
library is then read: the error's message, ``repr``, ``headers`` (names and values),
``request_id`` and other attributes, the ``on_request``/``on_response``/``on_retry``
events, every DEBUG log record with its extras, and every span attribute the real
OpenTelemetry SDK exported. Headers are scrubbed where they leave (the error's
constructor, ``RawResponse.request_id``), so all of these see the same scrubbed values.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import attrs
import pytest
from aiohttp import web

from zuora_wf_async import BearerToken, NotFoundError, RetryPolicy, WorkflowClient
from zuora_wf_async.testing import ManualClock

MARK = "MARKexits-5c1d9e7f3a2b4c60"


def echoing_headers() -> dict[str, str]:
    return {
        "Zuora-Request-Id": f"Bearer {MARK}",
        "Zuora-Track-Id": MARK,
        "X-Echo": f"Authorization: Bearer {MARK}",
        f"X-{MARK}": MARK,
        MARK: f"Bearer {MARK}",
        "Retry-After": f"0 {MARK}",
        "RateLimit-Remaining": MARK,
        "RateLimit-Reset": f"{MARK}=1",
        "Content-Type": f"application/json; marker={MARK}",
        "Server": MARK,
        "Date": f"Bearer {MARK}",
        "Set-Cookie": f"session={MARK}",
    }


class Echo:
    def __init__(self) -> None:
        self.statuses = [503, 404]
        self.seen: list[str] = []
        self.base_url = ""

    async def handle(self, request: web.Request) -> web.Response:
        await request.read()
        self.seen.append(request.headers.get("Authorization", ""))
        status = self.statuses[min(len(self.seen), len(self.statuses)) - 1]
        body = f'{{"message": "echo {MARK}", "errors": ["{MARK}"], "{MARK}": "{MARK}"}}'
        return web.Response(status=status, body=body.encode(), headers=echoing_headers())


@pytest.fixture
async def echo() -> AsyncIterator[Echo]:
    server = Echo()
    app = web.Application()
    app.router.add_get("/workflows/workflow_runs/{run_id}", server.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    server.base_url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    yield server
    await runner.cleanup()


async def test_a_token_echoed_in_every_header_and_the_body_leaves_by_no_exit(otel, echo, caplog):
    caplog.set_level(logging.DEBUG)
    events: list[object] = []
    clock = ManualClock()
    async with WorkflowClient(
        echo.base_url,
        auth=BearerToken(MARK),
        retry=RetryPolicy(max_attempts=2, base_delay=0.01, max_delay=0.01, deadline=60),
        clock=clock,
        sleep=clock.sleep,
        on_request=events.append,
        on_response=events.append,
        on_retry=events.append,
        **otel.providers,
    ) as zuora:
        with pytest.raises(NotFoundError) as caught:
            await zuora.get_run(400)
    error = caught.value
    assert echo.seen == [f"Bearer {MARK}"] * 2, "the server really saw the token twice"

    exits: dict[str, object] = {
        "str": str(error),
        "repr": repr(error),
        "attributes": repr(vars(error)),
        "header names": list(error.headers.keys()),
        "header values": list(error.headers.values()),
        "request_id": error.request_id,
        "track_id": error.track_id,
        "events": [repr(event) for event in events],
        "event fields": [
            attrs.asdict(event, recurse=False) if attrs.has(type(event)) else vars(event)
            for event in events
        ],
        "log records": [repr(vars(record)) for record in caplog.records],
        "log messages": [record.getMessage() for record in caplog.records],
        "spans": otel.exported_text(),
    }
    leaked = {name: value for name, value in exits.items() if MARK in repr(value)}
    assert leaked == {}

    # The exits were really exercised, with the scrubbed values in them.
    assert error.request_id == "Bearer ***"
    assert error.headers["X-***"] == "***"
    assert [type(event).__name__ for event in events].count("ResponseEvent") == 2
    assert [getattr(event, "request_id", None) for event in events].count("Bearer ***") == 2
    assert "zuora.request_id=Bearer ***" in otel.exported_text()
    assert any(getattr(record, "request_id", None) == "Bearer ***" for record in caplog.records)
