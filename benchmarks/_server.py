"""FakeZuora in its own process, so the client process's CPU and RSS are the client's alone.

Run as ``python -m benchmarks._server``: it starts a FakeZuora on 127.0.0.1 (a free port),
prints one JSON line ``{"base_url", "client_id", "client_secret", "token", "pid"}`` and
serves until its stdin closes or it is terminated. While serving it answers one command
per stdin line with one JSON line: ``stats`` (requests and executions recorded, the
server's RSS) and ``reset`` (forget the records, so a long run does not grow them).

:class:`ServerProcess` starts and always stops that process for a benchmark.
"""

from __future__ import annotations

import asyncio
import json
import os
import select
import signal
import subprocess
import sys
from pathlib import Path
from types import TracebackType
from typing import IO, TYPE_CHECKING, Any, Self

from ._measure import peak_rss_bytes, rss_bytes

if TYPE_CHECKING:
    from zuora_wf_async.testing import FakeZuora

__all__ = ["ServerInfo", "ServerProcess"]

_ROOT = Path(__file__).resolve().parent.parent
_START_TIMEOUT = 30.0
# A bearer token that outlives any benchmark run.
_TOKEN_TTL = 7 * 24 * 3600.0


class ServerInfo:
    """Where the server listens and how to authenticate to it."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.base_url: str = data["base_url"]
        self.client_id: str = data["client_id"]
        self.client_secret: str = data["client_secret"]
        self.token: str = data["token"]
        self.pid: int = data["pid"]


class ServerProcess:
    """``with ServerProcess() as server:`` a FakeZuora subprocess, terminated on exit."""

    def __init__(self, module: str = "benchmarks._server", *args: str) -> None:
        # ``benchmarks._fastserver`` speaks the same start-up and stdin protocol.
        self._module = module
        self._args = args
        self._process: subprocess.Popen[str] | None = None
        self._info: ServerInfo | None = None
        self.hello: dict[str, Any] = {}

    @property
    def info(self) -> ServerInfo:
        if self._info is None:
            raise RuntimeError("the server is not started")
        return self._info

    def __enter__(self) -> Self:
        self._process = subprocess.Popen(  # noqa: S603 -- our own interpreter and module
            [sys.executable, "-m", self._module, *self._args],
            cwd=_ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            self.hello = json.loads(self._readline(_START_TIMEOUT))
            if "base_url" in self.hello:
                self._info = ServerInfo(self.hello)
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def command(self, name: str) -> dict[str, Any]:
        """Send ``stats`` or ``reset`` and return the server's JSON answer."""
        stdin = self._pipe(self._process.stdin if self._process else None)
        stdin.write(name + "\n")
        stdin.flush()
        answer: dict[str, Any] = json.loads(self._readline(_START_TIMEOUT))
        return answer

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        try:
            if process.stdin is not None:
                process.stdin.close()
            process.wait(timeout=5)
        except (subprocess.TimeoutExpired, OSError):
            process.terminate()
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)
        finally:
            if process.stdout is not None:
                process.stdout.close()

    def _readline(self, timeout: float) -> str:
        process = self._process
        stdout = self._pipe(process.stdout if process else None)
        # A line, or the process died: either way readline returns; the timeout guards a
        # server that hangs while starting.
        ready = _wait_readable(stdout, timeout)
        line = stdout.readline() if ready else ""
        if not line:
            raise RuntimeError("the benchmark server did not answer (see its stderr above)")
        return line

    @staticmethod
    def _pipe(pipe: IO[str] | None) -> IO[str]:
        if pipe is None:
            raise RuntimeError("the server is not started")
        return pipe


def _wait_readable(stream: IO[str], timeout: float) -> bool:
    readable, _, _ = select.select([stream], [], [], timeout)
    return bool(readable)


def _stats(fake: FakeZuora) -> dict[str, Any]:
    return {
        "requests": len(fake.requests),
        "executions": len(fake.executions),
        "rss_bytes": rss_bytes(),
        "peak_rss_bytes": peak_rss_bytes(),
    }


async def _serve() -> None:
    # Imported here, not at the top: a process that only starts this server (a benchmark
    # comparing two trees) must not import the package of the directory it runs in.
    from zuora_wf_async.testing import FakeZuora, TenantLimits

    # A tenant whose request quotas a benchmark never reaches: 100,000 runs take under two
    # minutes, past Production's 50,000 a minute, and a raw baseline that does not retry a
    # 429 would count as failed runs. The concurrency stays above any benchmark's width.
    unlimited = TenantLimits(concurrency=1_000, per_minute=10**9, per_hour=10**9, per_day=10**9)
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    async with FakeZuora(port=0, token_ttl=_TOKEN_TTL, limits=unlimited) as fake:
        hello = {
            "base_url": fake.base_url,
            "client_id": fake.client_id,
            "client_secret": fake.client_secret,
            "token": fake.issue_token(),
            "pid": os.getpid(),
        }
        print(json.dumps(hello), flush=True)
        stopped = asyncio.ensure_future(stop.wait())
        try:
            while True:
                line = asyncio.ensure_future(reader.readline())
                await asyncio.wait({line, stopped}, return_when=asyncio.FIRST_COMPLETED)
                if stopped.done() or not line.done() or not line.result():
                    line.cancel()
                    return
                command = line.result().decode().strip()
                if command == "reset":
                    fake.reset()
                print(json.dumps(_stats(fake)), flush=True)
        finally:
            stopped.cancel()


if __name__ == "__main__":
    asyncio.run(_serve())
