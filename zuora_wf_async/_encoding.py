"""Request bodies: JSON-encode a run's parameters once, and gzip them above a threshold.

Small bodies are encoded on the loop (well under a millisecond). Large ones are encoded
where they cannot stall the event loop for long; how is this module's one decision.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

from zuora_wf_async._core import requests as build
from zuora_wf_async._core.compression import compress

__all__ = ["BodyEncoder"]

# Below this (a rough size, see _core.requests.rough_size), encoding and gzip take well
# under a millisecond and a thread hop costs more than it saves; above it, doing them on
# the loop would stall every other request.
_ENCODE_OFF_LOOP_BYTES = 64 * 1024
# Rows per json call when encoding off the loop: ~0.3 ms of GIL at a time for typical rows.
_ENCODE_SLICE_ITEMS = 256


class BodyEncoder:
    """Turns parameters into (JSON bytes, gzip bytes or None); one per client."""

    def __init__(self, *, gzip_threshold: int | None) -> None:
        self.gzip_threshold = gzip_threshold
        self._thread: ThreadPoolExecutor | None = None

    async def encode(self, params: object) -> tuple[bytes, bytes | None]:
        if build.rough_size(params) <= _ENCODE_OFF_LOOP_BYTES:
            return self.encode_now(params)
        # Encoding a megabyte of nested rows takes ~15 ms: do it, and the gzip, off the
        # loop. One worker thread, not a pool: json holds the GIL while it encodes, and
        # several encoding threads would take turns with the loop's thread for it.
        if self._thread is None:
            self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="zuora-wf-encode")
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            self._thread, self.encode_now, params, _ENCODE_SLICE_ITEMS
        )

    def encode_now(
        self, params: object, slice_items: int | None = None
    ) -> tuple[bytes, bytes | None]:
        """The JSON body and, above ``gzip_threshold``, its gzip; pure CPU, thread-safe."""
        body = build.encode_params(params, slice_items=slice_items)
        if self.gzip_threshold is not None and len(body) > self.gzip_threshold:
            return body, compress(body)
        return body, None

    def close(self) -> None:
        if self._thread is not None:
            # Queued encodes belong to calls that are over; the thread ends after its
            # current one without blocking the loop.
            self._thread.shutdown(wait=False, cancel_futures=True)
            self._thread = None
