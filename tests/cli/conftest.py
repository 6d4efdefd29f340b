"""Fixtures for the ``zuora-wf`` tests: the CLI run in-process against the shared ``fake``.

``cli(*argv)`` awaits ``run_command`` (the console script without its ``asyncio.run``) with
an environment pointing at the fake, and returns the exit code; output goes to ``capsys``.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

import pytest

from zuora_wf_async.cli import run_command
from zuora_wf_async.testing import FakeZuora

Cli = Callable[..., Awaitable[int]]


@pytest.fixture
def environ(fake: FakeZuora) -> dict[str, str]:
    return {
        "ZUORA_BASE_URL": fake.base_url,
        "ZUORA_CLIENT_ID": fake.client_id,
        "ZUORA_CLIENT_SECRET": fake.client_secret,
    }


@pytest.fixture
def cli(environ: dict[str, str]) -> Cli:
    async def run(
        *argv: str,
        env: Mapping[str, str] | None = None,
        on_journal_record: Callable[[dict[str, Any]], object] | None = None,
    ) -> int:
        return await run_command(
            list(argv),
            environ=environ if env is None else env,
            on_journal_record=on_journal_record,
        )

    return run


@pytest.fixture
def write_jsonl(tmp_path: Path) -> Callable[..., Path]:
    def write(rows: list[Any], name: str = "rows.jsonl") -> Path:
        path = tmp_path / name
        lines = [row if isinstance(row, str) else json.dumps(row) for row in rows]
        path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
        return path

    return write


@pytest.fixture
def read_journal() -> Callable[[Path], list[dict[str, Any]]]:
    def read(path: Path) -> list[dict[str, Any]]:
        return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]

    return read
