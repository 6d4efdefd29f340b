"""The command line's exits (stdout, stderr, the batch journal) show no echoed token either.

A plain ``aiohttp.web`` app on 127.0.0.1 answers every run POST and run GET with an error
that echoes the bearer token in header names, in ``Zuora-Request-Id`` and other values, and
in the body; ``zuora-wf batch`` and ``zuora-wf get`` run against it with DEBUG logging.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web

from zuora_wf_async.cli import run_command

MARK = "MARKcli-3e5f7a9b1c2d4e6f80"


class Echo:
    def __init__(self) -> None:
        self.base_url = ""
        self.hits = 0

    async def handle(self, request: web.Request) -> web.Response:
        await request.read()
        self.hits += 1
        said = request.headers.get("Authorization", "")
        body = json.dumps({"message": f"echo {said}", "errors": [said], said: said})
        headers = {"Zuora-Request-Id": said, f"X-{MARK}": said, "Zuora-Track-Id": MARK}
        return web.Response(status=400, body=body.encode(), headers=headers)


@pytest.fixture
async def echo() -> AsyncIterator[Echo]:
    server = Echo()
    app = web.Application()
    app.router.add_post("/workflows/{workflow_id}/run", server.handle)
    app.router.add_get("/workflows/workflow_runs/{run_id}", server.handle)
    app.router.add_get("/workflows/{workflow_id}", server.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    server.base_url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    yield server
    await runner.cleanup()


@pytest.mark.parametrize("command", ["batch", "get"])
async def test_no_echoed_token_in_cli_output_logs_or_journal(
    echo, command, tmp_path, capsys, caplog
):
    caplog.set_level(logging.DEBUG)
    environ = {
        "ZUORA_BASE_URL": echo.base_url,
        "ZUORA_BEARER_TOKEN": MARK,
        "ZUORA_MAX_ATTEMPTS": "1",
        "ZUORA_TIMEOUT": "5",
    }
    journal = tmp_path / "journal.jsonl"
    if command == "batch":
        rows = tmp_path / "rows.jsonl"
        rows.write_text("".join(json.dumps({"n": n}) + "\n" for n in range(3)), encoding="utf-8")
        argv = [
            "batch", "396", "--input", str(rows), "--journal", str(journal), "--no-preflight"
        ]  # fmt: skip
    else:
        argv = ["get", "400"]
    records: list[dict[str, Any]] = []
    code = await asyncio.wait_for(
        run_command(argv, environ=environ, on_journal_record=records.append), timeout=60
    )
    output = capsys.readouterr()
    assert code != 0
    assert echo.hits >= 1, "the echoing answer was really given"
    texts = [output.out, output.err, *(repr(record) for record in records)]
    texts.extend(path.read_text(encoding="utf-8") for path in tmp_path.rglob("*") if path.is_file())
    texts.extend(repr(vars(record)) for record in caplog.records)
    assert [text for text in texts if MARK in text] == []
    assert "***" in output.err + output.out + "".join(repr(record) for record in records)
