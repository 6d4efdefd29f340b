"""Gzip for request bodies, and the size-capped decoding of a response body (read_body)."""

from __future__ import annotations

import gzip
import tracemalloc
import zlib

import pytest

from zuora_wf_async._core.compression import DEFAULT_MAX_RESPONSE_BYTES, compress
from zuora_wf_async._core.responses import RawResponse, read_body

PAYLOAD = b'{"accountId":"A-1","items":[' + b'{"n":1},' * 200 + b'{"n":2}]}'


def decoded(
    body: bytes, encoding: str | None, max_bytes: int = DEFAULT_MAX_RESPONSE_BYTES
) -> tuple[bytes | None, str]:
    """The body as read_body undoes its encoding (None when it cannot), and why not."""
    headers = {} if encoding is None else {"Content-Encoding": encoding}
    _, data, why = read_body(RawResponse(status=200, headers=headers, body=body), max_bytes)
    return data, why


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b"", id="empty"),
        pytest.param(b"{}", id="tiny"),
        pytest.param(PAYLOAD, id="json"),
        pytest.param(bytes(range(256)) * 64, id="binary"),
    ],
)
def test_compress_round_trips_through_read_body_and_gzip(body):
    compressed = compress(body)
    assert decoded(compressed, "gzip")[0] == body
    assert gzip.decompress(compressed) == body


def test_compress_is_deterministic():
    """The same body gzips to the same bytes, so a retried request is byte-identical."""
    assert compress(PAYLOAD) == compress(PAYLOAD)


def test_compress_shrinks_repetitive_json():
    assert len(compress(PAYLOAD)) < len(PAYLOAD) // 4


def _zlib(data: bytes) -> bytes:
    return zlib.compress(data)


@pytest.mark.parametrize(
    ("body", "encoding"),
    [
        pytest.param(PAYLOAD, None, id="no-encoding"),
        pytest.param(PAYLOAD, "", id="empty-encoding"),
        pytest.param(PAYLOAD, "identity", id="identity"),
        pytest.param(gzip.compress(PAYLOAD), "gzip", id="gzip"),
        pytest.param(gzip.compress(PAYLOAD), "x-gzip", id="x-gzip"),
        pytest.param(gzip.compress(PAYLOAD), " GZip ", id="gzip-case-and-space"),
        pytest.param(_zlib(PAYLOAD), "deflate", id="deflate-zlib-wrapped"),
        pytest.param(_zlib(PAYLOAD), "gzip", id="zlib-stream-labelled-gzip-auto-detected"),
    ],
)
def test_read_body_undoes_content_encoding(body, encoding):
    assert decoded(body, encoding) == (PAYLOAD, "")


@pytest.mark.parametrize(
    "encoding",
    [
        pytest.param("br", id="brotli"),
        pytest.param("compress", id="compress"),
        pytest.param("gzip, br", id="stacked"),
    ],
)
def test_an_unknown_encoding_is_refused(encoding):
    data, why = decoded(b"whatever", encoding)
    assert data is None
    assert "unsupported Content-Encoding" in why


@pytest.mark.parametrize(
    ("body", "encoding"),
    [
        pytest.param(b"\x1f\x8b\x08garbage-after-header", "gzip", id="corrupt-gzip"),
        pytest.param(b"plain text", "gzip", id="not-gzip-at-all"),
        pytest.param(b"plain text", "deflate", id="not-deflate-at-all"),
    ],
)
def test_corrupt_data_is_refused(body, encoding):
    data, why = decoded(body, encoding)
    assert data is None
    assert "corrupt" in why


@pytest.mark.parametrize(
    ("body", "encoding"),
    [
        pytest.param(gzip.compress(PAYLOAD)[:-8], "gzip", id="gzip-missing-trailer"),
        pytest.param(gzip.compress(PAYLOAD)[:30], "gzip", id="gzip-cut-mid-stream"),
        pytest.param(_zlib(PAYLOAD)[:-4], "deflate", id="deflate-missing-checksum"),
        pytest.param(b"", "gzip", id="empty-gzip-body"),
    ],
)
def test_a_truncated_body_is_refused(body, encoding):
    data, why = decoded(body, encoding)
    assert data is None
    assert "truncated" in why


@pytest.mark.parametrize(
    ("body", "encoding"),
    [
        pytest.param(b"a" * 1000, None, id="identity-exactly-at-cap"),
        pytest.param(gzip.compress(b"a" * 1000), "gzip", id="gzip-exactly-at-cap"),
        pytest.param(_zlib(b"a" * 1000), "deflate", id="deflate-exactly-at-cap"),
    ],
)
def test_a_body_exactly_at_the_cap_is_read(body, encoding):
    assert decoded(body, encoding, max_bytes=1000)[0] == b"a" * 1000


@pytest.mark.parametrize(
    ("body", "encoding"),
    [
        pytest.param(b"a" * 1001, None, id="identity-one-byte-over"),
        pytest.param(gzip.compress(b"a" * 1001), "gzip", id="gzip-one-byte-over"),
        pytest.param(_zlib(b"a" * 1001), "deflate", id="deflate-one-byte-over"),
    ],
)
def test_a_body_one_byte_over_the_cap_is_refused(body, encoding):
    assert decoded(body, encoding, max_bytes=1000) == (None, "response body exceeds 1000 bytes")


def _gzip_of_zeros(total: int, chunk: int = 1 << 20) -> bytes:
    """gzip of ``total`` zero bytes, built chunk by chunk so it never holds ``total`` bytes."""
    # Level 1 is the fastest to build; the bomb is still over 200:1.
    deflater = zlib.compressobj(1, zlib.DEFLATED, 31)
    zeros = bytes(chunk)
    parts = [deflater.compress(zeros) for _ in range(total // chunk)]
    parts.append(deflater.flush())
    return b"".join(parts)


def test_a_gzip_bomb_is_stopped_at_the_cap():
    """100 MiB of zeros (under 0.5 MB gzipped) is refused at a 1 MiB cap, not inflated."""
    bomb = _gzip_of_zeros(100 * (1 << 20))
    assert len(bomb) < 500_000
    tracemalloc.start()
    try:
        assert decoded(bomb, "gzip", max_bytes=1 << 20)[0] is None
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 8 * (1 << 20), f"decoding allocated {peak:,} bytes; it should stop near the cap"
