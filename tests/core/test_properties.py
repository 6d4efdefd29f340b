"""Property tests: whatever the network or the caller hands over, only typed errors come out.

Builders see arbitrary JSON values, nesting, lone surrogates, control characters and
non-string keys; readers see arbitrary bytes, nesting 200,000 deep and hostile header
text. Only ``InvalidRequestError`` (input) and ``ResponseDecodeError``/``ZuoraAPIError``
(responses) may come out: anything else fails the property.
"""

# Each property holds for either outcome, so the except branches assert too.
# ruff: noqa: PT017

from __future__ import annotations

import contextlib
import gzip
import json
import math

from hypothesis import given, settings
from hypothesis import strategies as st

from zuora_wf_async import (
    BearerToken,
    InvalidRequestError,
    OAuthCredentials,
    ResponseDecodeError,
    WorkflowRun,
    ZuoraAPIError,
)
from zuora_wf_async._converter import decode
from zuora_wf_async._core.api_errors import api_error, read_run
from zuora_wf_async._core.bodies import MAX_PARAMS_DEPTH, encode_params
from zuora_wf_async._core.oauth import MAX_EXPIRES_IN, read_token_response
from zuora_wf_async._core.prepared_request import PreparedRequest, prepare_get
from zuora_wf_async._core.ratelimit import has_plenty_left, parse_rate_limit, parse_retry_after
from zuora_wf_async._core.requests import (
    normalize_base_url,
    validate_id_list,
    validate_idempotency_key,
    validate_track_id,
)
from zuora_wf_async._core.responses import RawResponse, read_json
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


# --- hostile input and hostile bodies: only the two typed errors come out ------------------

# Text as a hostile caller or server might send it: control characters, lone surrogates,
# line separators and plain ASCII, mixed.
hostile_chars = (
    st.characters(categories=["Cs"])
    | st.characters(categories=["Cc", "Cf", "Zl", "Zp", "Zs"])
    | st.characters(min_codepoint=32, max_codepoint=126)
    | st.characters()
)
hostile_text = st.text(alphabet=hostile_chars, max_size=30)
hostile_keys = hostile_text | st.integers() | st.none() | st.booleans() | st.floats()
hostile_values = st.recursive(
    json_scalars | hostile_text,
    lambda children: (
        st.lists(children, max_size=4)
        | st.tuples(children, children)
        | st.dictionaries(hostile_keys, children, max_size=4)
    ),
    max_leaves=25,
)


def _nested(depth: int, kind: str) -> object:
    value: object = "leaf"
    for _ in range(depth):
        value = [value] if kind == "list" else {"k": value}
    return value


@given(st.dictionaries(hostile_text, hostile_values, max_size=5))
@settings(max_examples=200)
def test_any_params_encode_or_are_refused_naming_a_path(params):
    try:
        body = encode_params(params)
    except InvalidRequestError as error:
        assert error.field.startswith("params")
        return
    # Accepted: valid UTF-8 JSON that decodes to the same keys (every key was a str).
    decoded = json.loads(body.decode("utf-8"))
    assert set(decoded) == set(params)


@given(depth=st.integers(1, 3000), kind=st.sampled_from(["list", "dict"]))
@settings(max_examples=40)
def test_any_nesting_encodes_or_is_refused_never_recursion(depth, kind):
    try:
        encode_params({"p": _nested(depth, kind)})
    except InvalidRequestError as error:
        assert depth >= MAX_PARAMS_DEPTH
        assert "nests deeper" in error.problem
    else:
        assert depth < MAX_PARAMS_DEPTH


@given(hostile_text)
def test_any_header_text_is_a_valid_key_and_track_id_or_refused(text):
    for validate, field in ((validate_idempotency_key, "idempotency_key"),
                            (validate_track_id, "track_id")):  # fmt: skip
        try:
            accepted = validate(text)
        except InvalidRequestError as error:
            assert error.field == field
        else:
            assert accepted == text == text.strip()
            assert accepted.isascii()
            assert accepted.isprintable()


@given(st.lists(hostile_text, max_size=3))
def test_any_id_list_is_a_header_value_or_refused(ids):
    try:
        value = validate_id_list("entity_ids", ids)
    except InvalidRequestError as error:
        assert error.field.startswith("entity_ids")
        return
    assert value is None or (value.isascii() and value.isprintable())


@given(hostile_text.map(lambda text: "https://rest.zuora.com/" + text) | hostile_text)
def test_any_base_url_is_normalized_or_refused(text):
    try:
        url = normalize_base_url(text)
    except InvalidRequestError as error:
        assert error.field == "base_url"
        return
    assert url.isprintable()
    assert not any(char.isspace() for char in url)


@given(hostile_text)
def test_any_credential_text_is_accepted_whole_or_refused_unquoted(text):
    marked = f"zz{text}zz"
    for make, field in ((BearerToken, "token"),
                        (lambda value: OAuthCredentials(client_id="id-1", client_secret=value),
                         "client_secret")):  # fmt: skip
        try:
            make(marked)
        except InvalidRequestError as error:
            assert error.field == field
            assert marked not in str(error)
        else:
            assert marked.isprintable()


@given(st.integers() | hostile_text | st.none() | st.floats())
def test_any_path_argument_stays_one_segment_or_is_refused(arg):
    try:
        prepared = prepare_get(base_url="https://z.invalid", path_template="/r/{}", path_args=[arg])
    except InvalidRequestError:
        return
    segment = prepared.path.removeprefix("/r/")
    assert "/" not in segment
    assert segment not in ("", ".", "..")
    assert segment.isascii()


hostile_bodies = (
    bodies
    | st.builds(lambda n, m: b"[" * n + b"]" * m, st.integers(0, 200_000), st.integers(0, 50))
    | st.builds(lambda n: b'{"a":' * n + b"1" + b"}" * n, st.integers(90, 5000))
    | hostile_text.map(lambda text: text.encode("utf-8", "surrogatepass"))
)
hostile_headers = st.dictionaries(header_names, hostile_text, max_size=4)


@given(status=st.integers(100, 999), headers=hostile_headers, body=hostile_bodies)
@settings(max_examples=200)
def test_any_body_read_as_json_is_a_value_or_a_decode_error(status, headers, body):
    raw = RawResponse(status=status, headers=headers, body=body)
    try:
        read_json(raw, max_bytes=1 << 20)
    except ResponseDecodeError as error:
        assert len(str(error)) < 600
    with contextlib.suppress(ResponseDecodeError, ZuoraAPIError):
        read_run(raw, REQUEST, max_bytes=1 << 20)
    error = api_error(raw, REQUEST, max_bytes=1 << 20)
    assert isinstance(error, ZuoraAPIError)
    assert len(str(error)) < 600


@given(
    body=hostile_bodies
    | hostile_values.map(
        lambda value: json.dumps({"access_token": value, "expires_in": value}, default=str).encode(
            "utf-8", "surrogatepass"
        )
    )
)
@settings(max_examples=200)
def test_any_token_response_is_a_grant_or_an_unquoting_decode_error(body):
    try:
        grant = read_token_response(RawResponse(status=200, headers={}, body=body))
    except ResponseDecodeError as error:
        assert error.field in ("body", "access_token", "expires_in")
        return
    assert grant.access_token.isascii()
    assert grant.access_token.isprintable()
    assert " " not in grant.access_token
    assert 0 < grant.expires_in <= MAX_EXPIRES_IN


@given(
    st.dictionaries(
        header_names,
        hostile_text
        | st.text(alphabet=st.characters(categories=["Nd", "No"]), min_size=1, max_size=8)
        | st.integers(1, 6000).map(lambda digits: "9" * digits),
        max_size=6,
    )
)
def test_hostile_rate_headers_never_raise(values):
    """Unicode digits ("²"), 5,000-digit numbers and surrogates read as absent or clamped."""
    info = parse_rate_limit(values)
    if info is not None:
        for number in (info.limit, info.remaining, info.concurrency_limit):
            assert number is None or 0 <= number <= 10**12
    after = parse_retry_after(values)
    assert after is None or 0 <= after <= 86_400
    assert has_plenty_left(values, 4) in (True, False)
