"""A fast stand-in for Zuora's run endpoint, in its own process, for CPU and lag benchmarks.

FakeZuora (``benchmarks._server``) is faithful but costs more per request than the client
it serves, so on a 2-core machine it, not the client, would set the pace: the client's
loop then idles between answers and wakes up for one response at a time, which changes
its CPU per run. This server is an ``asyncio.Protocol`` that parses just enough
HTTP/1.1 (request line, ``Content-Length``, ``Authorization``) to answer:

- ``POST /oauth/token``: a client-credentials grant (``access_token``, ``expires_in``);
- ``GET .../workflows/{id}``: an Active workflow with its Callout trigger on (the batch
  pre-flight check);
- ``POST .../workflows/{id}/run`` with ``Authorization: Bearer <the issued token>``: 200
  with a run record shaped like Zuora's (``id``, ``name``, ``originalWorkflowId``,
  ``status``, ``type``, ``createdAt``, ``updatedAt``), else 401.

It listens on two ports: one answers with Zuora's ``RateLimit-Limit``/``-Remaining``/
``-Reset`` headers (the quota always far from spent), the other without any, so one run
measures both. Request bodies (up to the 5 MB Zuora accepts) are read and discarded.

Run as ``python -m benchmarks._fastserver [--latency SECONDS]``: with a latency, each run
request is answered that long after it arrived (a timer, no task: the server's CPU per
request stays the same), as a real service's 50 ms would be. It prints one JSON line
``{"with_headers", "without_headers", "client_id", "client_secret", "pid"}`` and serves
until its stdin closes. ``stats`` on stdin answers a JSON line with the request count
and the server's own CPU seconds (to show it is not the bottleneck).
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import sys
import time
from datetime import UTC, datetime

__all__ = ["main"]

CLIENT_ID = "bench-client"
_MAX_HEAD = 64 * 1024
_WINDOW_SECONDS = 60
_LIMIT = 50_000


class _State:
    def __init__(self) -> None:
        self.client_secret = secrets.token_hex(16)
        self.token = secrets.token_hex(16)
        self.requests = 0
        self.body_bytes = 0
        self.next_run_id = 10_000
        self._stamp_second = -1
        self._stamp = ""

    def stamp(self) -> str:
        # Zuora's run timestamps have one-second resolution; format once per second.
        second = int(time.time())
        if second != self._stamp_second:
            self._stamp_second = second
            self._stamp = datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        return self._stamp


def _response(status: str, body: bytes, extra: str = "") -> bytes:
    head = (
        f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n{extra}\r\n"
    )
    return head.encode() + body


class _Protocol(asyncio.Protocol):
    def __init__(self, state: _State, rate_headers: bool, latency: float = 0.0) -> None:
        self._state = state
        self._latency = latency
        self._rate_headers = rate_headers
        self._buffer = bytearray()
        self._transport: asyncio.Transport | None = None
        # While > 0, that many body bytes of the current request are still to arrive.
        self._body_left = 0
        self._pending_head: tuple[str, str, str] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)  # noqa: S101 -- TCP only
        self._transport = transport

    def data_received(self, data: bytes) -> None:
        if self._body_left:
            taken = min(self._body_left, len(data))
            self._body_left -= taken
            self._state.body_bytes += taken
            data = data[taken:]
            if self._body_left == 0 and self._pending_head is not None:
                self._answer(*self._pending_head)
                self._pending_head = None
            if not data:
                return
        self._buffer += data
        while self._body_left == 0:
            end = self._buffer.find(b"\r\n\r\n")
            if end < 0:
                if len(self._buffer) > _MAX_HEAD and self._transport is not None:
                    self._transport.close()
                return
            head = bytes(self._buffer[:end]).decode("latin-1")
            del self._buffer[: end + 4]
            method, path, length, authorization = _parse_head(head)
            available = min(length, len(self._buffer))
            del self._buffer[:available]
            self._state.body_bytes += available
            if available < length:
                self._body_left = length - available
                self._pending_head = (method, path, authorization)
                return
            self._answer(method, path, authorization)

    def _answer(self, method: str, path: str, authorization: str) -> None:
        state = self._state
        state.requests += 1
        transport = self._transport
        if transport is None:
            return
        if method == "POST" and path.endswith("/oauth/token"):
            body = json.dumps(
                {
                    "access_token": state.token,
                    "token_type": "bearer",
                    "expires_in": 3599,
                    "scope": "bench",
                    "jti": state.token[:8],
                }
            ).encode()
            transport.write(_response("200 OK", body))
            return
        if authorization != "Bearer " + state.token:
            body = b'{"message":"Authentication error"}'
            transport.write(_response("401 Unauthorized", body))
            return
        if method == "GET" and path.rsplit("/", 1)[-1].isdigit():
            # GET /workflows/{id}: the pre-flight check run_many/stream_runs make once.
            workflow_id = int(path.rsplit("/", 1)[-1])
            body = (
                f'{{"id":{workflow_id},"name":"Bench","status":"Active","calloutTrigger":true}}'
            ).encode()
            transport.write(_response("200 OK", body))
            return
        parts = path.rsplit("/", 2)
        if method != "POST" or len(parts) != 3 or parts[2] != "run" or not parts[1].isdigit():
            body = b'{"errors":[{"status":404,"title":"Not found"}]}'
            transport.write(_response("404 Not Found", body))
            return
        workflow_id = int(parts[1])
        run_id = state.next_run_id
        state.next_run_id += 1
        stamp = state.stamp()
        body = (
            f'{{"id":{run_id},"name":"WF-{workflow_id}-{run_id:08d}",'
            f'"originalWorkflowId":{workflow_id},"status":"Queued",'
            f'"type":"Workflow::Instance","createdAt":"{stamp}","updatedAt":"{stamp}"}}'
        ).encode()
        extra = f"Zuora-Request-Id: bench-{run_id}\r\n"
        if self._rate_headers:
            now = time.time()
            reset = _WINDOW_SECONDS - int(now) % _WINDOW_SECONDS
            # Far from spent: a benchmark measures the common case, not pacing.
            remaining = _LIMIT - 1 - state.requests % (_LIMIT // 2)
            extra += (
                f"RateLimit-Limit: {_LIMIT}, {_LIMIT};w={_WINDOW_SECONDS}\r\n"
                f"RateLimit-Remaining: {remaining}\r\nRateLimit-Reset: {reset}\r\n"
            )
        answer = _response("200 OK", body, extra)
        if self._latency:
            # aiohttp sends one request at a time per connection, so answers stay in order.
            asyncio.get_running_loop().call_later(self._latency, _write_if_open, transport, answer)
        else:
            transport.write(answer)


def _write_if_open(transport: asyncio.Transport, data: bytes) -> None:
    if not transport.is_closing():
        transport.write(data)


def _parse_head(head: str) -> tuple[str, str, int, str]:
    lines = head.split("\r\n")
    method, path, _version = lines[0].split(" ", 2)
    length = 0
    authorization = ""
    for line in lines[1:]:
        name, _, value = line.partition(":")
        lowered = name.strip().lower()
        if lowered == "content-length":
            length = int(value.strip())
        elif lowered == "authorization":
            authorization = value.strip()
    return method, path, length, authorization


async def _serve(latency: float) -> None:
    loop = asyncio.get_running_loop()
    state = _State()
    with_headers = await loop.create_server(
        lambda: _Protocol(state, True, latency), "127.0.0.1", 0, backlog=1024
    )
    without_headers = await loop.create_server(
        lambda: _Protocol(state, False, latency), "127.0.0.1", 0, backlog=1024
    )

    def url(server: asyncio.Server) -> str:
        port = server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    hello = {
        "with_headers": url(with_headers),
        "without_headers": url(without_headers),
        "client_id": CLIENT_ID,
        "client_secret": state.client_secret,
        "token": state.token,
        "pid": os.getpid(),
    }
    print(json.dumps(hello), flush=True)
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    try:
        while line := await reader.readline():
            if line.strip() == b"stats":
                stats = {
                    "requests": state.requests,
                    "body_bytes": state.body_bytes,
                    "cpu_seconds": time.process_time(),
                }
                print(json.dumps(stats), flush=True)
    finally:
        with_headers.close()
        without_headers.close()


def main() -> None:
    latency = float(sys.argv[sys.argv.index("--latency") + 1]) if "--latency" in sys.argv else 0.0
    asyncio.run(_serve(latency))


if __name__ == "__main__":
    main()
