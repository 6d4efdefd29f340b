"""Property tests: whatever the network or the caller hands over, only typed errors come out."""

# Each property holds for either outcome, so the except branches assert too.
# ruff: noqa: PT017

from __future__ import annotations

import gzip
import json
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from zuora_wf_async import InvalidRequestError, ResponseDecodeError, WorkflowRun, ZuoraAPIError
from zuora_wf_async._converter import decode
from zuora_wf_async._core.ratelimit import parse_rate_limit, parse_retry_after
from zuora_wf_async._core.requests import (
    PreparedRequest,
    encode_params,
    validate_idempotency_key,
    validate_track_id,
)
from zuora_wf_async._core.responses import RawResponse, api_error, read_run
from zuora_wf_async._errors import ZuoraError

REQUEST = PreparedRequest(
    method="POST",
    url="https://zuora.invalid/workflows/1/run",
    path="/workflows/1/run",
    headers={},
    idempotency_key="k",
)

json_scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)
header_names = st.sampled_from(
    [
        "Retry-After",
        "RateLimit-Limit",
        "RateLimit-Remaining",
        "RateLimit-Reset",
        "Concurrency-Limit-Limit",
        "Concurrency-Limit-Remaining",
        "Content-Encoding",
        "Zuora-Request-Id",
        "Zuora-Track-Id",
    ]
)
header_values = st.text(
    alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=40
) | st.sampled_from(["gzip", "deflate", "0", "-1", "1e309", "nan", "Wed, 21 Oct 2015 07:28:00 GMT"])
headers = st.dictionaries(header_names, header_values, max_size=6)
bodies = (
    st.binary(max_size=200)
    | json_values.map(lambda value: json.dumps(value).encode())
    | json_values.map(lambda value: gzip.compress(json.dumps(value).encode()))
)


@given(status=st.integers(100, 599), headers=headers, body=bodies)
@settings(max_examples=300)
def test_any_error_response_becomes_a_typed_error(status, headers, body):
    error = api_error(RawResponse(status=status, headers=headers, body=body), REQUEST)
    assert isinstance(error, ZuoraAPIError)
    assert error.status == status
    assert isinstance(str(error), str)


@given(status=st.integers(100, 599), headers=headers, body=bodies)
@settings(max_examples=300)
def test_reading_a_run_returns_a_mapping_or_raises_a_zuora_error(status, headers, body):
    try:
        run, _replayed = read_run(RawResponse(status=status, headers=headers, body=body), REQUEST)
    except ZuoraError:
        return
    assert isinstance(run, dict)


@given(json_values | st.dictionaries(st.text(max_size=20), json_values, max_size=8))
def test_decoding_any_json_yields_a_run_or_a_decode_error(data):
    try:
        run = decode(data, WorkflowRun)
    except ResponseDecodeError as error:
        assert error.field
        return
    assert isinstance(run, WorkflowRun)


@given(headers)
def test_rate_limit_headers_never_raise_and_never_go_negative(values):
    info = parse_rate_limit(values)
    after = parse_retry_after(values)
    if info is not None:
        for number in (info.limit, info.remaining, info.reset):
            assert number is None or (number >= 0 and math.isfinite(number))
    assert after is None or 0 <= after <= 86_400


@given(st.dictionaries(st.text(max_size=10), json_values, max_size=6))
def test_encoding_params_round_trips_or_names_the_problem(params):
    try:
        body = encode_params(params)
    except InvalidRequestError as error:
        assert error.field.startswith("params")
        return
    assert json.loads(body) == params


@given(st.text(max_size=300))
def test_idempotency_keys_are_accepted_whole_or_refused_with_a_reason(key):
    try:
        assert validate_idempotency_key(key) == key
    except InvalidRequestError as error:
        assert error.field == "idempotency_key"
    else:
        assert 0 < len(key) <= 255
        assert key.isascii()


@given(st.text(max_size=100))
def test_track_ids_are_accepted_whole_or_refused_with_a_reason(track_id):
    try:
        assert validate_track_id(track_id) == track_id
    except InvalidRequestError as error:
        assert error.field == "track_id"
    else:
        assert len(track_id) <= 64
        assert not set(track_id) & set(":;\"'")


@given(
    st.dictionaries(st.text(max_size=6), st.lists(json_values, max_size=12) | json_values),
    st.integers(1, 5),
)
def test_sliced_encoding_is_byte_identical_to_one_shot(params, slice_items):
    try:
        whole = encode_params(params)
    except InvalidRequestError as error:
        with pytest.raises(InvalidRequestError) as sliced_error:
            encode_params(params, slice_items=slice_items)
        assert sliced_error.value.field == error.field
        return
    assert encode_params(params, slice_items=slice_items) == whole
