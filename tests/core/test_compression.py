"""Gzip for request bodies and the size-capped response decoder."""

from __future__ import annotations

import gzip
import tracemalloc
import zlib

import pytest

from zuora_wf_async._core.compression import BodyTooLargeError, compress, decode_body

PAYLOAD = b'{"accountId":"A-1","items":[' + b'{"n":1},' * 200 + b'{"n":2}]}'


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b"", id="empty"),
        pytest.param(b"{}", id="tiny"),
        pytest.param(PAYLOAD, id="json"),
        pytest.param(bytes(range(256)) * 64, id="binary"),
    ],
)
def test_compress_round_trips_through_decode_body_and_gzip(body):
    compressed = compress(body)
    assert decode_body(compressed, "gzip") == body
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
def test_decode_body_undoes_content_encoding(body, encoding):
    assert decode_body(body, encoding) == PAYLOAD


@pytest.mark.parametrize(
    "encoding",
    [
        pytest.param("br", id="brotli"),
        pytest.param("compress", id="compress"),
        pytest.param("gzip, br", id="stacked"),
    ],
)
def test_decode_body_unknown_encoding_raises_zlib_error(encoding):
    with pytest.raises(zlib.error, match="unsupported Content-Encoding"):
        decode_body(b"whatever", encoding)


@pytest.mark.parametrize(
    ("body", "encoding"),
    [
        pytest.param(b"\x1f\x8b\x08garbage-after-header", "gzip", id="corrupt-gzip"),
        pytest.param(b"plain text", "gzip", id="not-gzip-at-all"),
        pytest.param(b"plain text", "deflate", id="not-deflate-at-all"),
    ],
)
def test_decode_body_corrupt_data_raises_zlib_error(body, encoding):
    with pytest.raises(zlib.error):
        decode_body(body, encoding)


@pytest.mark.parametrize(
    ("body", "encoding"),
    [
        pytest.param(gzip.compress(PAYLOAD)[:-8], "gzip", id="gzip-missing-trailer"),
        pytest.param(gzip.compress(PAYLOAD)[:30], "gzip", id="gzip-cut-mid-stream"),
        pytest.param(_zlib(PAYLOAD)[:-4], "deflate", id="deflate-missing-checksum"),
        pytest.param(b"", "gzip", id="empty-gzip-body"),
    ],
)
def test_decode_body_truncated_raises_eof_error(body, encoding):
    with pytest.raises(EOFError):
        decode_body(body, encoding)


@pytest.mark.parametrize(
    ("body", "encoding"),
    [
        pytest.param(b"a" * 1000, None, id="identity-exactly-at-cap"),
        pytest.param(gzip.compress(b"a" * 1000), "gzip", id="gzip-exactly-at-cap"),
        pytest.param(_zlib(b"a" * 1000), "deflate", id="deflate-exactly-at-cap"),
    ],
)
def test_decode_body_accepts_a_body_exactly_at_the_cap(body, encoding):
    assert decode_body(body, encoding, max_bytes=1000) == b"a" * 1000


@pytest.mark.parametrize(
    ("body", "encoding"),
    [
        pytest.param(b"a" * 1001, None, id="identity-one-byte-over"),
        pytest.param(gzip.compress(b"a" * 1001), "gzip", id="gzip-one-byte-over"),
        pytest.param(_zlib(b"a" * 1001), "deflate", id="deflate-one-byte-over"),
    ],
)
def test_decode_body_refuses_a_body_one_byte_over_the_cap(body, encoding):
    with pytest.raises(BodyTooLargeError):
        decode_body(body, encoding, max_bytes=1000)


def _gzip_of_zeros(total: int, chunk: int = 1 << 20) -> bytes:
    """gzip of ``total`` zero bytes, built chunk by chunk so it never holds ``total`` bytes."""
    # Level 1 is the fastest to build; the bomb is still over 200:1.
    deflater = zlib.compressobj(1, zlib.DEFLATED, 31)
    zeros = bytes(chunk)
    parts = [deflater.compress(zeros) for _ in range(total // chunk)]
    parts.append(deflater.flush())
    return b"".join(parts)


def test_decode_body_stops_a_gzip_bomb_at_the_cap():
    """100 MiB of zeros (under 0.5 MB gzipped) is refused at a 1 MiB cap, not inflated."""
    bomb = _gzip_of_zeros(100 * (1 << 20))
    assert len(bomb) < 500_000
    tracemalloc.start()
    try:
        with pytest.raises(BodyTooLargeError):
            decode_body(bomb, "gzip", max_bytes=1 << 20)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 8 * (1 << 20), f"decoding allocated {peak:,} bytes; it should stop near the cap"


def test_body_too_large_is_a_value_error():
    assert issubclass(BodyTooLargeError, ValueError)
