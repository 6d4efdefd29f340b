"""A run's body: JSON-encoded once, gzipped above a threshold, never stalling the loop.

Small bodies (the common case) are encoded at once: well under a millisecond. Large ones
are encoded on the loop in slices, yielding whenever a slice has used ``_SLICE_SECONDS``,
one large body at a time per client. Not in a thread: json's C encoder holds the GIL, and
the loop's thread then waits up to the switch interval (5 ms) at each system call (23 ms
p99 lag measured); a process costs about as much in pickling as encoding does.

Every slice is encoded by ``_core.bodies.encode_params`` itself, wrapped to sit at its
real depth, so the rules of what may be sent stay in one place; a problem found in a
slice is reported by encoding the whole body the ordinary way, naming the field exactly
as a small body's error would.
"""

from __future__ import annotations

import asyncio
import time
import zlib
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from zuora_wf_async._core.bodies import (
    MAX_BODY_BYTES,
    RESERVED_PARAM_NAMES,
    dumps,
    encode_params,
    rough_size,
)
from zuora_wf_async._core.compression import compress
from zuora_wf_async._errors import InvalidRequestError

__all__ = ["BodyEncoder", "iter_body_pieces"]

# Below this (a rough size, see _core.bodies.rough_size), encoding and gzip take well
# under a millisecond, and slicing costs more than it saves.
_ENCODE_IN_SLICES_BYTES = 64 * 1024
# Time on the loop before a large encode yields (half a millisecond, plus at most one
# piece): a p99 lag target of 10 ms leaves room for the loop's other work in a turn.
_SLICE_SECONDS = 0.0005
# Aim for pieces of about this many JSON bytes (~0.1-0.3 ms of json for typical rows).
_PIECE_BYTES = 16 * 1024
# A string longer than this, or a container with more items, is split rather than
# encoded in one call.
_BIG_STRING = 64 * 1024
_BIG_CONTAINER = 64
# Gzip of a large body is fed to zlib this many bytes at a time (level 1: ~0.1 ms).
_GZIP_CHUNK = 16 * 1024
# The level _core.compression uses: the fast one, as request bodies are sent at once.
_GZIP_LEVEL = 1
# wbits 31: a gzip wrapper (16) around a 32 KiB window (15); no file name, mtime 0.
_GZIP_WBITS = 31


# The common parameters: at most this many, each a scalar or a string this short.
_FLAT_ITEMS = 16
_SHORT_STRING = 4096
_SCALAR_TYPES = frozenset({int, float, bool, type(None)})


def _is_big(value: object) -> bool:
    kind = type(value)
    if kind is str:
        return len(value) > _BIG_STRING  # type: ignore[arg-type]
    if kind is list or kind is tuple or kind is dict or isinstance(value, Mapping):
        return len(value) > _BIG_CONTAINER  # type: ignore[arg-type]
    return False


def _at_depth(value: object, depth: int) -> bytes:
    """``value``'s JSON as it reads at ``depth`` (the parameters themselves are depth 1).

    Encoded by ``encode_params``, wrapped in one parameter and ``depth - 2`` lists so the
    depth rule counts exactly as it would for the whole body.
    """
    wrapped = value
    for _ in range(depth - 2):
        wrapped = [wrapped]
    body = encode_params({"v": wrapped})
    pad = depth - 2
    # b'{"v":' + "[" * pad + VALUE + "]" * pad + b"}"
    return body[5 + pad : len(body) - 1 - pad]


def _member_name(name: str, depth: int) -> bytes:
    """``"name":`` for a member of an object at ``depth``, the name checked as a key."""
    return _at_depth({name: None}, depth)[1:-5]  # b'{"name":null}' -> b'"name":'


def _value_pieces(value: Any, depth: int) -> Iterator[bytes]:
    """JSON pieces of a value at ``depth`` that join into exactly its encoding."""
    if not _is_big(value):
        yield _at_depth(value, depth)
    elif type(value) is str:
        yield b'"'
        for start in range(0, len(value), _BIG_STRING):
            # json escapes character by character, so chunks join into the whole string.
            yield _at_depth(value[start : start + _BIG_STRING], depth)[1:-1]
        yield b'"'
    elif isinstance(value, Mapping):
        yield b"{"
        yield from _members(value, depth + 1, top=False)
        yield b"}"
    else:
        yield b"["
        yield from _items(value, depth)
        yield b"]"


def _items(items: list[Any] | tuple[Any, ...], depth: int) -> Iterator[bytes]:
    """The inside of a list at ``depth``, a slice of small items per piece."""
    count = len(items)
    step = 16
    start = 0
    separator = b""
    while start < count:
        item = items[start]
        if _is_big(item):
            yield separator
            yield from _value_pieces(item, depth + 1)
            start += 1
        else:
            end = start + 1
            while end < count and end - start < step and not _is_big(items[end]):
                end += 1
            piece = _at_depth(list(items[start:end]), depth)[1:-1]
            yield separator + piece
            # Size the next slice from this one's bytes per item: pure, no clock.
            per_item = max(1, len(piece) // (end - start))
            step = max(1, min(4096, _PIECE_BYTES // per_item))
            start = end
        separator = b","


def _members(mapping: Mapping[Any, Any], depth: int, *, top: bool) -> Iterator[bytes]:
    """The inside of an object whose members sit at ``depth``, small members grouped."""
    group: dict[Any, Any] = {}
    separator = b""

    def flush() -> bytes:
        encoded = encode_params(group) if top else _at_depth(group, depth - 1)
        group.clear()
        return encoded[1:-1]

    for name, value in mapping.items():
        if not _is_big(value) and len(group) < _BIG_CONTAINER:
            group[name] = value
            continue
        if group:
            yield separator + flush()
            separator = b","
        if not _is_big(value):
            group[name] = value
            continue
        head = encode_params({name: None})[1:-5] if top else _member_name(name, depth - 1)
        yield separator + head
        yield from _value_pieces(value, depth)
        separator = b","
    if group:
        yield separator + flush()


def iter_body_pieces(params: Mapping[str, Any]) -> Iterator[bytes]:
    """``encode_params(params)`` in pieces: joined, exactly the same bytes.

    Each piece is a bounded amount of json work (a slice of a long list, a chunk of a
    long string, a group of small members), so a caller can yield to its event loop
    between pieces. Raises ``InvalidRequestError`` for a problem in a piece; its field
    path may then be a wrapper's, so callers re-encode the whole body to name it.
    """
    yield b"{"
    yield from _members(params, 2, top=True)
    yield b"}"


def _too_large(size: int) -> InvalidRequestError:
    return InvalidRequestError(
        "params",
        f"encode to more than {MAX_BODY_BYTES:,} bytes ({size:,} so far);"
        f" Zuora's task payload limit is {MAX_BODY_BYTES:,}",
        "pass references (ids, URLs) instead of large data",
    )


class BodyEncoder:
    """Turns parameters into (JSON bytes, gzip bytes or None); one per client."""

    def __init__(
        self, *, gzip_threshold: int | None, clock: Callable[[], float] = time.perf_counter
    ) -> None:
        self.gzip_threshold = gzip_threshold
        # Only decides when a large encode yields; injectable so tests count the yields.
        self._clock = clock
        self._turn: asyncio.Lock | None = None

    def encode_if_small(self, params: object) -> tuple[bytes, bytes | None] | None:
        """The body of small params, encoded now (no coroutine); None for large ones.

        The common parameters (a small ``dict`` of exact scalars and short strings under
        plain names Zuora does not reserve) meet every rule of ``encode_params`` but the
        two json enforces itself (NaN, a lone surrogate): they are encoded here in one json
        call. Whatever json refuses, and any other shape, goes to ``encode_params``, which
        gives the same bytes or names the problem.
        """
        if type(params) is dict and len(params) <= _FLAT_ITEMS:
            for name, value in params.items():
                if type(name) is not str or name in RESERVED_PARAM_NAMES:
                    break
                if type(value) is str:
                    if len(value) > _SHORT_STRING:
                        break
                elif type(value) not in _SCALAR_TYPES:
                    break
            else:
                try:
                    body = dumps(params).encode()
                except ValueError:  # NaN, a lone surrogate: encode_params below names it
                    pass
                else:
                    if self.gzip_threshold is not None and len(body) > self.gzip_threshold:
                        return body, compress(body)
                    return body, None
        try:
            small = rough_size(params) <= _ENCODE_IN_SLICES_BYTES
        except Exception:  # noqa: BLE001 -- the caller's mapping raised; encode_params names it
            small = True
        return self.encode_now(params) if small else None

    async def encode(self, params: object) -> tuple[bytes, bytes | None]:
        encoded = self.encode_if_small(params)
        if encoded is not None:
            return encoded
        assert isinstance(params, Mapping)  # noqa: S101 -- rough_size is 0 for the rest
        if self._turn is None:
            self._turn = asyncio.Lock()
        async with self._turn:
            return await self._encode_in_slices(params)

    def encode_now(self, params: object) -> tuple[bytes, bytes | None]:
        """The JSON body and, above ``gzip_threshold``, its gzip, in one go."""
        body = encode_params(params)
        if self.gzip_threshold is not None and len(body) > self.gzip_threshold:
            return body, compress(body)
        return body, None

    async def _encode_in_slices(self, params: Mapping[str, Any]) -> tuple[bytes, bytes | None]:
        clock = self._clock
        pieces: list[bytes] = []
        size = 0
        until = clock() + _SLICE_SECONDS
        try:
            for piece in iter_body_pieces(params):
                pieces.append(piece)
                size += len(piece)
                if size > MAX_BODY_BYTES:
                    break
                if clock() >= until:
                    await asyncio.sleep(0)
                    until = clock() + _SLICE_SECONDS
        except Exception:  # noqa: BLE001 -- a bad value, or the caller's objects' own code
            # Name the field as the one-shot encoder does (this raises; a body that
            # encodes after all is returned as it is).
            return self.encode_now(params)
        if size > MAX_BODY_BYTES:
            raise _too_large(size)
        body = b"".join(pieces)
        if self.gzip_threshold is None or len(body) <= self.gzip_threshold:
            return body, None
        deflate = zlib.compressobj(_GZIP_LEVEL, zlib.DEFLATED, _GZIP_WBITS)
        compressed: list[bytes] = []
        view = memoryview(body)
        for start in range(0, len(body), _GZIP_CHUNK):
            compressed.append(deflate.compress(view[start : start + _GZIP_CHUNK]))
            if clock() >= until:
                await asyncio.sleep(0)
                until = clock() + _SLICE_SECONDS
        compressed.append(deflate.flush())
        return body, b"".join(compressed)
