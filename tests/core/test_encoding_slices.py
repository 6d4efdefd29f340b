"""Large bodies are encoded on the loop in slices: the same bytes, the same errors, yields.

``iter_body_pieces`` must join into exactly ``encode_params``'s bytes (every retry resends
those bytes under one key, and the one-shot path is what small bodies use), and a problem
anywhere in a large body must raise the same ``InvalidRequestError`` as the one-shot
encoder. The yields are counted with an injected clock, never timed.
"""

from __future__ import annotations

import asyncio
import gzip
import itertools
import types
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from zuora_wf_async import _encoding
from zuora_wf_async._core.bodies import MAX_BODY_BYTES, MAX_PARAMS_DEPTH, encode_params
from zuora_wf_async._encoding import BodyEncoder, iter_body_pieces
from zuora_wf_async._errors import InvalidRequestError

ROWS = [
    {"id": index, "accountId": f"A-{index:08d}", "amount": index * 1.25, "memo": "line"}
    for index in range(3_000)
]


def _nested(depth: int) -> Any:
    value: Any = "leaf"
    for _ in range(depth):
        value = [value]
    return value


SHAPES: dict[str, dict[str, Any]] = {
    "blob": {"blob": "x" * 200_000},
    "rows": {"rows": ROWS},
    "rows-nested-in-an-object": {"batch": {"rows": ROWS, "count": 3}, "after": "tail"},
    "tuple": {"numbers": tuple(range(5_000))},
    "mapping-proxy": {"m": types.MappingProxyType({f"k{i}": i for i in range(300)})},
    # Escapes and non-ASCII land on every chunk boundary of a long string.
    "escapes-across-chunks": {"text": '"\\\n\u2028é😀\t' * 20_000},
    "many-top-level-names": {**{f"p{i}": i for i in range(200)}, "big": list(range(300))},
    "list-of-big-lists": {"grid": [list(range(100)) for _ in range(100)]},
    "big-items-between-small": {"mixed": [1, "x" * 70_000, {"a": 1}, list(range(100)), None]},
    "deep-but-allowed": {"deep": [_nested(MAX_PARAMS_DEPTH - 3)] * 70},
    "empty-containers": {"rows": [{}] * 100 + [[]] * 100, "e": {}},
}


@pytest.mark.parametrize("params", list(SHAPES.values()), ids=list(SHAPES))
def test_pieces_join_into_the_one_shot_bytes(params):
    assert b"".join(iter_body_pieces(params)) == encode_params(params)


def test_a_large_body_is_more_than_one_piece_and_each_piece_is_bounded():
    pieces = list(iter_body_pieces({"rows": ROWS * 5}))
    assert len(pieces) > 10
    # Slices are sized from the bytes of the slice before: none runs far past the target.
    assert max(len(piece) for piece in pieces) < 4 * _encoding._PIECE_BYTES


json_leaf = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30)
)
json_value = st.recursive(
    json_leaf,
    lambda inner: st.lists(inner, max_size=12) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=25,
)
params_strategy = st.dictionaries(
    st.text(min_size=1, max_size=8).filter(lambda name: name not in {"id", "action"}),
    json_value,
    max_size=8,
)


@given(params=params_strategy)
@settings(max_examples=50, deadline=None)
def test_pieces_agree_with_one_shot_on_any_json(params):
    # Tiny thresholds make every container and string "big", so small examples take
    # every splitting path there is.
    saved = (_encoding._BIG_STRING, _encoding._BIG_CONTAINER, _encoding._PIECE_BYTES)
    _encoding._BIG_STRING, _encoding._BIG_CONTAINER, _encoding._PIECE_BYTES = 3, 2, 16
    try:
        try:
            whole = encode_params(params)
        except InvalidRequestError:
            with pytest.raises(InvalidRequestError):
                b"".join(iter_body_pieces(params))
            return
        assert b"".join(iter_body_pieces(params)) == whole
    finally:
        _encoding._BIG_STRING, _encoding._BIG_CONTAINER, _encoding._PIECE_BYTES = saved


BAD: dict[str, dict[str, Any]] = {
    "a-set-deep-in-the-rows": {"rows": [*ROWS, {"x": {1, 2}}]},
    "a-reserved-name": {"action": list(range(1_000))},
    "a-non-string-key-in-a-row": {"rows": [{1: "one"}] * 100},
    "nan-in-a-long-list": {"values": [1.0] * 500 + [float("nan")]},
    "a-lone-surrogate-in-a-long-string": {"text": "x" * 100_000 + "\ud800"},
    "too-deep": {"deep": [_nested(MAX_PARAMS_DEPTH + 5)] * 70},
}


@pytest.mark.parametrize("params", list(BAD.values()), ids=list(BAD))
def test_a_bad_large_body_raises_the_one_shot_error(params):
    with pytest.raises(InvalidRequestError) as one_shot:
        encode_params(params)
    encoder = BodyEncoder(gzip_threshold=1024)
    with pytest.raises(InvalidRequestError) as sliced:
        asyncio.run(encoder.encode(params))
    assert sliced.value.field == one_shot.value.field
    assert str(sliced.value) == str(one_shot.value)


def test_a_self_containing_large_list_is_named_not_a_crash():
    rows: list[Any] = list(range(100))
    rows.append(rows)
    with pytest.raises(InvalidRequestError) as raised:
        asyncio.run(BodyEncoder(gzip_threshold=None).encode({"rows": rows}))
    assert "circular" in str(raised.value)


def test_a_body_over_zuoras_limit_is_refused_before_it_is_all_encoded():
    encoder = BodyEncoder(gzip_threshold=None)
    with pytest.raises(InvalidRequestError) as raised:
        asyncio.run(encoder.encode({"blob": "x" * (MAX_BODY_BYTES + 10)}))
    assert raised.value.field == "params"
    assert f"{MAX_BODY_BYTES:,}" in str(raised.value)


class SteppingClock:
    """Advances 0.4 ms per reading: a slice of work 'takes' a known time."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        self.now += 0.0004
        return self.now


async def _count_turns(encoder: BodyEncoder, params: Any) -> tuple[bytes, bytes | None, int]:
    turns = 0
    stop = False

    async def other_task() -> None:
        nonlocal turns
        while not stop:
            turns += 1
            await asyncio.sleep(0)

    ticker = asyncio.ensure_future(other_task())
    await asyncio.sleep(0)
    turns = 0
    body, compressed = await encoder.encode(params)
    stop = True
    await ticker
    return body, compressed, turns


def test_a_large_encode_lets_the_loop_run_between_slices():
    params = {"rows": ROWS * 4}
    encoder = BodyEncoder(gzip_threshold=1024, clock=SteppingClock())
    body, compressed, turns = asyncio.run(_count_turns(encoder, params))
    assert body == encode_params(params)
    assert compressed is not None
    assert gzip.decompress(compressed) == body
    assert turns >= len(list(iter_body_pieces(params))) // 3


def test_a_small_body_is_encoded_in_one_go_without_yielding():
    params = {"accountId": "A-1", "amount": 10.5}
    encoder = BodyEncoder(gzip_threshold=1024, clock=SteppingClock())
    body, compressed, turns = asyncio.run(_count_turns(encoder, params))
    assert body == encode_params(params)
    assert compressed is None
    assert turns == 0


def test_gzip_threshold_none_or_above_the_body_leaves_it_uncompressed():
    params = {"rows": ROWS}
    for threshold in (None, 10 * MAX_BODY_BYTES):
        body, compressed = asyncio.run(BodyEncoder(gzip_threshold=threshold).encode(params))
        assert body == encode_params(params)
        assert compressed is None


def test_large_encodes_take_turns():
    """Two large bodies at once: one is encoded entirely before the other starts."""
    first_params = {"rows": ROWS}
    second_params = {"blob": "y" * 300_000}
    order: list[str] = []
    real_pieces = _encoding.iter_body_pieces

    async def main() -> None:
        encoder = BodyEncoder(gzip_threshold=None, clock=SteppingClock())

        def traced(params: Any) -> Any:
            name = "rows" if "rows" in params else "blob"
            for piece in real_pieces(params):
                order.append(name)
                yield piece

        _encoding.iter_body_pieces = traced  # type: ignore[assignment]
        try:
            await asyncio.gather(encoder.encode(first_params), encoder.encode(second_params))
        finally:
            _encoding.iter_body_pieces = real_pieces

    asyncio.run(main())
    switches = sum(1 for before, after in itertools.pairwise(order) if before != after)
    assert switches == 1


@pytest.mark.parametrize(
    ("params", "small"),
    [
        ({"accountId": "A-1", "amount": 1.5, "n": 3, "ok": True, "none": None}, True),
        ({f"k{i}": "x" * 4096 for i in range(16)}, True),
        ({"blob": "x" * 4097}, True),
        ({f"k{i}": i for i in range(17)}, True),
        ({"rows": []}, True),
        ({"nested": {"a": 1}}, True),
        (types.MappingProxyType({"a": 1}), True),
        (None, True),
        ({"blob": "x" * 70_000}, False),
        ({"rows": ROWS}, False),
    ],
)
def test_small_params_are_encoded_at_once_and_large_ones_left_to_the_slices(params, small):
    encoder = BodyEncoder(gzip_threshold=None)
    encoded = encoder.encode_if_small(params)
    assert encoded == ((encode_params(params), None) if small else None)


flat_value = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()  # NaN and infinities included: refused, named
    | st.text(max_size=20)
    | st.sampled_from([2**70, 10**5000, "x" * 4097, float("nan"), "a\ud800"])
)
flat_params = st.dictionaries(
    st.text(max_size=8) | st.sampled_from(["id", "action", "format", "\udcff"]) | st.integers(),
    flat_value,
    max_size=15,  # 15 strings of 4,097 characters stay under the slicing threshold
)


@given(params=flat_params, gzip_threshold=st.sampled_from([None, 0, 40]))
@settings(max_examples=200, deadline=None)
def test_the_quick_small_path_gives_encode_params_bytes_or_its_error(params, gzip_threshold):
    """The common parameters skip encode_params's walks; the bytes and refusals stay its own."""
    encoder = BodyEncoder(gzip_threshold=gzip_threshold)
    try:
        whole = encode_params(params)
    except InvalidRequestError as error:
        refusal = str(error)
    else:
        refusal = ""
    if refusal:
        with pytest.raises(InvalidRequestError) as quick:
            encoder.encode_if_small(params)
        assert str(quick.value) == refusal
        return
    encoded = encoder.encode_if_small(params)
    assert encoded is not None
    body, compressed = encoded
    assert body == whole
    if gzip_threshold is not None and len(whole) > gzip_threshold:
        assert compressed is not None
        assert gzip.decompress(compressed) == whole
    else:
        assert compressed is None
