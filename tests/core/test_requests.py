"""Building requests: every validation rule and header, as tables of inputs and outcomes."""

from __future__ import annotations

import json
import math
import types
from datetime import UTC, datetime
from urllib.parse import parse_qs

import pytest

from zuora_wf_async._core.bodies import MAX_BODY_BYTES, RESERVED_PARAM_NAMES, encode_params
from zuora_wf_async._core.prepared_request import (
    MAX_ID,
    PreparedRequest,
    canonical_int,
    prepare_get,
)
from zuora_wf_async._core.requests import (
    normalize_base_url,
    prepare_run,
    prepare_token,
    validate_id_list,
    validate_idempotency_key,
    validate_track_id,
    validate_workflow_id,
)
from zuora_wf_async._errors import InvalidRequestError

BASE = "https://rest.test.zuora.com"


# --- normalize_base_url -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        pytest.param(BASE, BASE, id="https-host-kept"),
        pytest.param(BASE + "/", BASE, id="trailing-slash-stripped"),
        pytest.param(BASE + "///", BASE, id="several-trailing-slashes-stripped"),
        pytest.param(f"  {BASE}  ", BASE, id="surrounding-whitespace-stripped"),
        pytest.param(BASE + "/proxy/zuora/", BASE + "/proxy/zuora", id="path-prefix-kept"),
        pytest.param(
            "https://rest.test.zuora.com:8443", "https://rest.test.zuora.com:8443", id="port-kept"
        ),
        pytest.param("http://127.0.0.1:8080/", "http://127.0.0.1:8080", id="http-ipv4-loopback"),
        pytest.param("http://127.5.6.7", "http://127.5.6.7", id="http-any-127-address"),
        pytest.param("http://[::1]:9000", "http://[::1]:9000", id="http-ipv6-loopback"),
        pytest.param("http://localhost:8000", "http://localhost:8000", id="http-localhost"),
    ],
)
def test_normalize_base_url_accepts(given, expected):
    """https anywhere and http to loopback are accepted, without a trailing slash."""
    assert normalize_base_url(given) == expected


@pytest.mark.parametrize(
    "given",
    [
        pytest.param("http://rest.test.zuora.com", id="plain-http-to-remote-host"),
        pytest.param("http://10.0.0.1", id="plain-http-to-private-address"),
        pytest.param("http://0.0.0.0:8080", id="plain-http-to-unspecified-address"),
        pytest.param("http://localhost.evil.example", id="plain-http-localhost-lookalike"),
        # Only the exact name: a resolver need not keep *.localhost on loopback (issue 22).
        pytest.param("http://api.localhost", id="plain-http-dot-localhost"),
        pytest.param("http://127.0.0.1.evil.example", id="plain-http-loopback-lookalike"),
        pytest.param("https://user:secret@rest.zuora.com", id="credentials"),
        pytest.param("https://user@rest.zuora.com", id="username-only"),
        pytest.param("https://rest.zuora.com?tenant=1", id="query"),
        pytest.param("https://rest.zuora.com#frag", id="fragment"),
        pytest.param("ftp://rest.zuora.com", id="other-scheme"),
        pytest.param("rest.zuora.com", id="no-scheme"),
        pytest.param("https://", id="no-host"),
        pytest.param("", id="empty-string"),
        pytest.param("   ", id="blank-string"),
        pytest.param(None, id="none"),
        pytest.param(b"https://rest.zuora.com", id="bytes"),
        pytest.param(42, id="int"),
    ],
)
def test_normalize_base_url_rejects(given):
    """Anything but an https URL (or http to loopback) without credentials or query is refused."""
    with pytest.raises(InvalidRequestError) as info:
        normalize_base_url(given)
    assert info.value.field == "base_url"


# --- validate_workflow_id -----------------------------------------------------------------


@pytest.mark.parametrize(
    "given",
    [
        pytest.param(0, id="zero"),
        pytest.param(-1, id="negative"),
        pytest.param(True, id="bool-true"),
        pytest.param(False, id="bool-false"),
        pytest.param("396", id="numeric-string"),
        pytest.param(1.0, id="float"),
        pytest.param(None, id="none"),
    ],
)
def test_validate_workflow_id_rejects_non_positive_int(given):
    """Only a positive int (not bool, str or float) is a workflow id; the error is a ValueError."""
    with pytest.raises(InvalidRequestError) as info:
        validate_workflow_id(given)
    assert isinstance(info.value, ValueError)
    assert info.value.field == "workflow_id"
    assert "workflow_id" in str(info.value)


@pytest.mark.parametrize("given", [pytest.param(1, id="one"), pytest.param(396, id="sample-id")])
def test_validate_workflow_id_returns_positive_int(given):
    assert validate_workflow_id(given) == given


# --- encode_params ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        pytest.param(None, b"{}", id="none-is-empty-object"),
        pytest.param({}, b"{}", id="empty-dict"),
        pytest.param(
            {"accountId": "A-1", "amount": 10.5, "n": [1, None, True]},
            b'{"accountId":"A-1","amount":10.5,"n":[1,null,true]}',
            id="compact-separators",
        ),
        pytest.param({"name": "Zoë ✓"}, '{"name":"Zoë ✓"}'.encode(), id="non-ascii-kept-as-utf8"),
        pytest.param({"t": (1, 2)}, b'{"t":[1,2]}', id="tuple-as-array"),
        pytest.param(
            {"nested": {"id": 1, "format": "x", "controller": {"action": 2}}},
            b'{"nested":{"id":1,"format":"x","controller":{"action":2}}}',
            id="reserved-names-allowed-when-nested",
        ),
        pytest.param(
            {"items": [{"id": 1}, {"user_email": "a@b"}]},
            b'{"items":[{"id":1},{"user_email":"a@b"}]}',
            id="reserved-names-allowed-inside-lists",
        ),
    ],
)
def test_encode_params_encodes_compact_utf8_json(params, expected):
    """Valid parameters become compact UTF-8 JSON, non-ASCII text unescaped."""
    body = encode_params(params)
    assert body == expected
    assert json.loads(body) == json.loads(expected)


@pytest.mark.parametrize("name", sorted(RESERVED_PARAM_NAMES))
def test_encode_params_rejects_each_reserved_top_level_name(name):
    """A top-level parameter Zuora reserves is refused, the field naming it."""
    with pytest.raises(InvalidRequestError) as info:
        encode_params({"ok": 1, name: "x"})
    assert info.value.field == f"params[{name!r}]"


def test_reserved_names_are_zuoras_six():
    assert {"controller", "action", "id", "user_email", "user_token", "format"} == set(
        RESERVED_PARAM_NAMES
    )


@pytest.mark.parametrize(
    ("params", "field"),
    [
        pytest.param([("a", 1)], "params", id="list-is-not-a-mapping"),
        pytest.param("accountId=A-1", "params", id="string-is-not-a-mapping"),
        pytest.param(b"{}", "params", id="bytes-is-not-a-mapping"),
        pytest.param({1: "x"}, "params", id="int-top-level-key"),
        pytest.param({("a",): "x"}, "params", id="tuple-top-level-key"),
        pytest.param({"a": math.nan}, "params['a']", id="nan-value"),
        pytest.param({"a": math.inf}, "params['a']", id="infinity-value"),
        pytest.param({"a": -math.inf}, "params['a']", id="negative-infinity-value"),
        pytest.param({"a": [math.nan]}, "params['a'][0]", id="nan-in-list"),
        pytest.param({"a": [1, {"b": math.inf}]}, "params['a'][1]['b']", id="infinity-deep"),
        pytest.param({"a": {1, 2}}, "params['a']", id="set-value"),
        pytest.param(
            {"a": {"when": datetime(2024, 1, 1, tzinfo=UTC)}},
            "params['a']['when']",
            id="datetime-value",
        ),
        pytest.param({"a": [b"raw"]}, "params['a'][0]", id="bytes-value"),
        pytest.param({"a": {("k",): 1}}, "params['a']", id="tuple-key-nested"),
    ],
)
def test_encode_params_rejects_unencodable_with_field_path(params, field):
    """Non-mappings, non-str names and non-JSON values are refused with the path of the culprit."""
    with pytest.raises(InvalidRequestError) as info:
        encode_params(params)
    assert info.value.field == field
    assert str(info.value).startswith(f"{field}: ")


@pytest.mark.parametrize(
    ("padding", "accepted"),
    [
        # {"a":"<padding>"} is the padding plus 8 bytes of JSON.
        pytest.param(MAX_BODY_BYTES - 8, True, id="exactly-5000000-bytes-accepted"),
        pytest.param(MAX_BODY_BYTES - 7, False, id="one-byte-over-rejected"),
    ],
)
def test_encode_params_caps_body_at_five_million_bytes(padding, accepted):
    """A body over Zuora's 5 MB task payload limit (read as 5,000,000 bytes) is refused."""
    params = {"a": "x" * padding}
    if accepted:
        assert len(encode_params(params)) == MAX_BODY_BYTES
    else:
        with pytest.raises(InvalidRequestError) as info:
            encode_params(params)
        assert info.value.field == "params"


def test_encode_params_counts_utf8_bytes_not_characters():
    """The size cap is on encoded bytes: 2-byte characters count twice."""
    with pytest.raises(InvalidRequestError):
        encode_params({"a": "é" * (MAX_BODY_BYTES // 2)})


def test_encode_params_accepts_a_non_dict_mapping():
    """A read-only mapping passes the Mapping check, so it must encode like the dict it wraps."""
    assert encode_params(types.MappingProxyType({"accountId": "A-1"})) == b'{"accountId":"A-1"}'


def test_encode_params_rejects_a_circular_structure_as_invalid_request():
    """A self-referencing dict is the caller's mistake: InvalidRequestError, not a crash."""
    looped: dict[str, object] = {}
    looped["self"] = looped
    with pytest.raises(InvalidRequestError):
        encode_params({"a": looped})


# --- idempotency key, track id, id lists -------------------------------------------------


@pytest.mark.parametrize(
    "key",
    [
        pytest.param("", id="empty"),
        pytest.param("k" * 256, id="256-characters"),
        pytest.param("clé", id="non-ascii"),
        pytest.param("key\nwith-newline", id="control-character-newline"),
        pytest.param("key\x00", id="control-character-nul"),
        pytest.param(None, id="none"),
        pytest.param(123, id="int"),
    ],
)
def test_validate_idempotency_key_rejects(key):
    with pytest.raises(InvalidRequestError) as info:
        validate_idempotency_key(key)
    assert info.value.field == "idempotency_key"


@pytest.mark.parametrize(
    "key",
    [
        pytest.param("k" * 255, id="255-characters"),
        pytest.param("1f0c4b5e-6a3d-4a8e-9d2f-0b7c1e2a3f4d", id="uuid4"),
        pytest.param("order 42: retry #1", id="printable-punctuation-and-space"),
    ],
)
def test_validate_idempotency_key_accepts_printable_ascii_up_to_255(key):
    assert validate_idempotency_key(key) == key


@pytest.mark.parametrize(
    "track_id",
    [
        pytest.param("t" * 65, id="65-characters"),
        pytest.param("trâck", id="non-ascii"),
        pytest.param("a:b", id="colon"),
        pytest.param("a;b", id="semicolon"),
        pytest.param('a"b', id="double-quote"),
        pytest.param("a'b", id="single-quote"),
        pytest.param("a\tb", id="control-character"),
        pytest.param("", id="empty"),
        pytest.param(7, id="int"),
    ],
)
def test_validate_track_id_rejects(track_id):
    with pytest.raises(InvalidRequestError) as info:
        validate_track_id(track_id)
    assert info.value.field == "track_id"


@pytest.mark.parametrize(
    "track_id",
    [pytest.param("t" * 64, id="64-characters"), pytest.param("batch-7/run_3", id="typical")],
)
def test_validate_track_id_accepts_up_to_64_allowed_characters(track_id):
    assert validate_track_id(track_id) == track_id


@pytest.mark.parametrize(
    ("ids", "expected"),
    [
        pytest.param(None, None, id="none-means-unset"),
        pytest.param([], None, id="empty-list-means-unset"),
        pytest.param(["e1"], "e1", id="one-id"),
        pytest.param(["e1", "e2", "e3"], "e1,e2,e3", id="joined-with-commas"),
        pytest.param((" e1 ", "e2"), "e1,e2", id="whitespace-trimmed"),
        pytest.param(iter(["a", "b"]), "a,b", id="any-iterable"),
    ],
)
def test_validate_id_list_joins_ids(ids, expected):
    assert validate_id_list("entity_ids", ids) == expected


@pytest.mark.parametrize(
    ("ids", "field"),
    [
        pytest.param("e1", "entity_ids", id="bare-string"),
        pytest.param(["e1", "e2,e3"], "entity_ids[1]", id="comma-inside-an-id"),
        pytest.param(["", "e2"], "entity_ids[0]", id="empty-id"),
        pytest.param(["  "], "entity_ids[0]", id="blank-id"),
        pytest.param(["e1", 2], "entity_ids[1]", id="non-string-id"),
        pytest.param(["é"], "entity_ids[0]", id="non-ascii-id"),
    ],
)
def test_validate_id_list_rejects(ids, field):
    with pytest.raises(InvalidRequestError) as info:
        validate_id_list("entity_ids", ids)
    assert info.value.field == field


# --- prepare_run / with_gzip_body --------------------------------------------------------


def _run(**overrides) -> PreparedRequest:
    kwargs = {
        "base_url": BASE,
        "workflow_id": 396,
        "body": b'{"a":1}',
        "idempotency_key": "key-1",
    }
    kwargs.update(overrides)
    return prepare_run(**kwargs)


def test_prepare_run_builds_post_to_run_path():
    request = _run()
    assert request.method == "POST"
    assert request.path == "/workflows/396/run"
    assert request.url == BASE + "/workflows/396/run"
    assert request.body == b'{"a":1}'
    assert request.idempotency_key == "key-1"
    assert not request.gzipped


@pytest.mark.parametrize(
    ("header", "value"),
    [
        pytest.param("Content-Type", "application/json", id="content-type-json"),
        pytest.param("Accept", "application/json", id="accept-json"),
        pytest.param("Accept-Encoding", "gzip", id="accepts-gzip"),
        pytest.param("Idempotency-Key", "key-1", id="idempotency-key"),
    ],
)
def test_prepare_run_always_sends_header(header, value):
    assert _run().headers[header] == value


@pytest.mark.parametrize(
    "header",
    [
        pytest.param("Authorization", id="no-authorization-added-per-attempt"),
        pytest.param("Zuora-Track-Id", id="no-track-id-unless-set"),
        pytest.param("Zuora-Entity-Ids", id="no-entity-ids-unless-set"),
        pytest.param("Zuora-Org-Ids", id="no-org-ids-unless-set"),
        pytest.param("Content-Encoding", id="no-content-encoding-until-gzipped"),
    ],
)
def test_prepare_run_omits_header_by_default(header):
    assert header not in _run().headers


@pytest.mark.parametrize(
    ("option", "value", "header"),
    [
        pytest.param("track_id", "trk-1", "Zuora-Track-Id", id="track-id"),
        pytest.param("entity_ids", "e1,e2", "Zuora-Entity-Ids", id="entity-ids"),
        pytest.param("org_ids", "o1", "Zuora-Org-Ids", id="org-ids"),
    ],
)
def test_prepare_run_sends_optional_header_when_set(option, value, header):
    request = _run(**{option: value})
    assert request.headers[header] == value
    assert "Authorization" not in request.headers


def test_prepare_run_records_track_id():
    assert _run(track_id="trk-1").track_id == "trk-1"


def test_with_gzip_body_adds_content_encoding_and_keeps_the_key():
    """Gzipping swaps the body and adds Content-Encoding; key, URL and other headers stay."""
    original = _run(track_id="trk-1")
    gzipped = original.with_gzip_body(b"\x1f\x8bcompressed")
    assert gzipped.body == b"\x1f\x8bcompressed"
    assert gzipped.headers["Content-Encoding"] == "gzip"
    assert gzipped.gzipped
    assert gzipped.idempotency_key == original.idempotency_key == "key-1"
    assert gzipped.headers["Idempotency-Key"] == "key-1"
    assert gzipped.url == original.url
    assert gzipped.track_id == "trk-1"
    assert {k: v for k, v in gzipped.headers.items() if k != "Content-Encoding"} == dict(
        original.headers
    )
    assert not original.gzipped, "the original request is unchanged"


# --- prepare_token -------------------------------------------------------------------------


def _token(**overrides) -> PreparedRequest:
    kwargs = {"base_url": BASE, "client_id": "client-id-1", "client_secret": "s3cr&t=value"}
    kwargs.update(overrides)
    return prepare_token(**kwargs)


def test_prepare_token_sends_client_credentials_form():
    request = _token()
    assert request.method == "POST"
    assert request.url == BASE + "/oauth/token"
    assert request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert request.body is not None
    assert parse_qs(request.body.decode(), strict_parsing=True) == {
        "client_id": ["client-id-1"],
        "client_secret": ["s3cr&t=value"],
        "grant_type": ["client_credentials"],
    }


def test_prepare_token_has_no_authorization_and_no_idempotency_key():
    request = _token()
    assert "Authorization" not in request.headers
    assert "Idempotency-Key" not in request.headers
    assert request.idempotency_key is None


def test_prepare_token_repr_hides_the_secret():
    """The body carries the client secret, so it is left out of repr."""
    text = repr(_token(client_secret="TOPSECRETVALUE"))
    assert "TOPSECRETVALUE" not in text
    assert "body" not in text


@pytest.mark.parametrize(
    ("entity_ids", "sent"),
    [
        pytest.param(None, None, id="no-entity"),
        pytest.param("uuid-1", "uuid-1", id="single-entity-sent"),
        pytest.param("uuid-1,uuid-2", None, id="several-entities-not-sent"),
    ],
)
def test_prepare_token_sends_a_single_entity_id_only(entity_ids, sent):
    assert _token(entity_ids=entity_ids).headers.get("Zuora-Entity-Ids") == sent


def test_prepare_token_sends_track_id_when_set():
    assert _token(track_id="trk").headers["Zuora-Track-Id"] == "trk"
    assert "Zuora-Track-Id" not in _token().headers


# --- prepare_get ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("template", "args", "query", "path", "url_tail"),
    [
        pytest.param(
            "/workflows/workflow_runs/{}",
            [400],
            (),
            "/workflows/workflow_runs/400",
            "",
            id="int-arg",
        ),
        pytest.param(
            "/workflows/workflow_runs/{}",
            ["a/b c?#"],
            (),
            "/workflows/workflow_runs/a%2Fb%20c%3F%23",
            "",
            id="path-arg-percent-encoded-including-slash",
        ),
        pytest.param(
            "/workflows/tasks",
            [],
            [("workflow_id", "400"), ("tags[]", "a b"), ("tags[]", "x&y")],
            "/workflows/tasks",
            "?workflow_id=400&tags%5B%5D=a+b&tags%5B%5D=x%26y",
            id="query-encoded-and-repeatable",
        ),
    ],
)
def test_prepare_get_percent_encodes_path_args_and_query(template, args, query, path, url_tail):
    request = prepare_get(base_url=BASE, path_template=template, path_args=args, query=query)
    assert request.method == "GET"
    assert request.path == path
    assert request.url == BASE + path + url_tail
    assert request.body is None
    assert "Content-Type" not in request.headers
    assert "Idempotency-Key" not in request.headers


def test_prepare_get_with_put_method_for_stop():
    request = prepare_get(
        base_url=BASE,
        path_template="/workflows/workflow_runs/{}/stop",
        path_args=[400],
        method="PUT",
        track_id="trk",
    )
    assert request.method == "PUT"
    assert request.path == "/workflows/workflow_runs/400/stop"
    assert request.headers["Zuora-Track-Id"] == "trk"
    assert request.track_id == "trk"


# --- hostile input: refused before anything is sent --------------------------------------


def _nested_dicts(depth: int) -> dict[str, object]:
    root: dict[str, object] = {}
    node = root
    for _ in range(depth - 1):
        child: dict[str, object] = {}
        node["a"] = child
        node = child
    return root


def _nested_lists(depth: int) -> list[object]:
    root: list[object] = []
    node = root
    for _ in range(depth - 1):
        child: list[object] = []
        node.append(child)
        node = child
    return root


@pytest.mark.parametrize(
    ("params", "field_start", "says"),
    [
        pytest.param(_nested_dicts(5000), "params['a']['a']", "nests deeper", id="dicts-5000-deep"),
        pytest.param(
            {"rows": _nested_lists(5000)}, "params['rows'][0]", "nests deeper", id="lists-5000"
        ),
        pytest.param(_nested_dicts(101), "params['a']", "nests deeper", id="dicts-101-deep"),
        pytest.param({"a": "\ud800"}, "params['a']", "surrogate", id="lone-surrogate-value"),
        pytest.param(
            {"a": ["ok", {"b": "x\udfffy"}]},
            "params['a'][1]['b']",
            "surrogate",
            id="deep-surrogate",
        ),
        pytest.param({"\ud800": 1}, "params", "surrogate", id="surrogate-top-level-name"),
        pytest.param({"a": {"\udc80": 1}}, "params['a']", "surrogate", id="surrogate-nested-key"),
        pytest.param({"a": {1: "x", "1": "y"}}, "params['a']", "key of type int", id="int-key-dup"),
        pytest.param({"a": [{None: 1}]}, "params['a'][0]", "key of type NoneType", id="none-key"),
        pytest.param({"a": {True: 1}}, "params['a']", "key of type bool", id="bool-key"),
        pytest.param({"a": {1.5: 1}}, "params['a']", "key of type float", id="float-key"),
    ],
)
def test_encode_params_refuses_hostile_structures_naming_the_path(params, field_start, says):
    """Deep nesting raised RecursionError and a lone surrogate UnicodeEncodeError; int keys
    were silently turned into strings. Each is now an InvalidRequestError naming the path."""
    with pytest.raises(InvalidRequestError) as info:
        encode_params(params)
    assert info.value.field.startswith(field_start)
    assert says in info.value.problem
    assert len(str(info.value)) < 400


def test_a_deep_path_is_shortened_but_keeps_both_ends():
    with pytest.raises(InvalidRequestError) as info:
        encode_params({"top": _nested_lists(5000)})
    assert info.value.field.startswith("params['top'][0][0]")
    assert "more levels" in info.value.field
    assert info.value.field.endswith("[0]")


def test_encode_params_accepts_nesting_up_to_the_cap():
    # params itself is level 1, so 100 nested dicts is the deepest allowed.
    assert encode_params(_nested_dicts(100)).count(b"{") == 100


def test_a_subclassed_scalar_at_the_deepest_level_is_fine():
    """An IntEnum or str subclass is a leaf, not a level: it must not count as one."""

    class Label(str):
        pass

    params = _nested_dicts(100)
    node = params
    while node:
        node = node["a"]  # type: ignore[assignment]
    node["leaf"] = Label("x")
    assert encode_params(params).endswith(b'{"leaf":"x"}' + b"}" * 99)


def test_a_shared_but_not_circular_value_is_fine():
    shared = {"k": 1}
    assert encode_params({"a": shared, "b": [shared, shared]}) == (
        b'{"a":{"k":1},"b":[{"k":1},{"k":1}]}'
    )


@pytest.mark.parametrize(
    "key",
    [
        pytest.param(" ", id="only-a-space"),
        pytest.param("abc ", id="trailing-space"),
        pytest.param(" abc", id="leading-space"),
        pytest.param("   ", id="only-spaces"),
    ],
)
def test_an_idempotency_key_with_outer_spaces_is_refused_saying_why(key):
    with pytest.raises(InvalidRequestError) as info:
        validate_idempotency_key(key)
    assert "strip" in str(info.value)


@pytest.mark.parametrize(
    "track_id", [pytest.param(" ", id="space"), pytest.param("    ", id="spaces"), "a ", " a"]
)
def test_a_track_id_of_spaces_or_with_outer_spaces_is_refused(track_id):
    with pytest.raises(InvalidRequestError) as info:
        validate_track_id(track_id)
    assert "strip" in str(info.value)


@pytest.mark.parametrize(
    "given",
    [
        pytest.param(BASE + "\r\n", id="trailing-crlf"),
        pytest.param("https://rest.te\nst.zuora.com", id="lf-inside-host"),
        pytest.param("https://rest.test.zuora.com/x\r\nHost: evil", id="header-injection"),
        pytest.param("https://rest.test.zuora.com\x00.evil.example", id="nul"),
        pytest.param("https://rest.test.zuora.com/\tpath", id="tab"),
        pytest.param("https://rest test.zuora.com", id="inner-space"),
        pytest.param("https://rest.test.zuora.com\u2028", id="line-separator"),
        pytest.param("https://rest.test.zuora.com:99999", id="port-out-of-range"),
        pytest.param("https://rest.test.zuora.com:https", id="port-not-a-number"),
    ],
)
def test_normalize_base_url_refuses_control_characters_instead_of_mending(given):
    """urlsplit deletes CR/LF/tab, so a mangled URL used to pass as another one."""
    with pytest.raises(InvalidRequestError) as info:
        normalize_base_url(given)
    assert info.value.field == "base_url"


def test_a_refused_base_url_does_not_echo_its_credentials():
    with pytest.raises(InvalidRequestError) as info:
        normalize_base_url("ftp://user:hunter2-secret@rest.zuora.com")
    assert "hunter2" not in str(info.value)


class _SteeringInt(int):
    """An int whose text forms and comparisons lie: none may reach a path."""

    def __format__(self, spec: str) -> str:
        return "../../oauth/token"

    def __str__(self) -> str:
        return "../../oauth/token"

    def __repr__(self) -> str:
        raise RuntimeError("repr must not be called")

    def __int__(self) -> int:
        return 1

    def __index__(self) -> int:
        return 1

    def __le__(self, other: object) -> bool:
        return False

    def __gt__(self, other: object) -> bool:
        return True


def test_an_int_subclass_cannot_steer_the_run_path():
    workflow_id = validate_workflow_id(_SteeringInt(396))
    assert type(workflow_id) is int
    assert workflow_id == 396
    prepared = prepare_run(
        base_url=BASE, workflow_id=_SteeringInt(396), body=b"{}", idempotency_key="k"
    )
    assert prepared.path == "/workflows/396/run"
    assert prepared.url == BASE + "/workflows/396/run"


def test_an_int_subclass_cannot_steer_a_get_path():
    prepared = prepare_get(base_url=BASE, path_template="/w/{}/stop", path_args=[_SteeringInt(7)])
    assert prepared.path == "/w/7/stop"


def test_an_int_subclass_with_a_negative_value_is_refused_by_its_real_value():
    with pytest.raises(InvalidRequestError) as info:
        validate_workflow_id(_SteeringInt(-5))
    assert "-5" in str(info.value)


@pytest.mark.parametrize("arg", [".", "..", "", 1.5, None, b"7"])
def test_a_path_argument_that_would_move_the_request_is_refused(arg):
    with pytest.raises(InvalidRequestError):
        prepare_get(base_url=BASE, path_template="/w/{}", path_args=[arg])


def test_a_text_path_argument_is_percent_encoded_whole():
    prepared = prepare_get(base_url=BASE, path_template="/w/{}", path_args=["a/../b?c"])
    assert prepared.path == "/w/a%2F..%2Fb%3Fc"


class _LyingStr(str):
    """Claims to be printable and stripped, and formats itself as something else."""

    def isprintable(self) -> bool:
        return True

    def isascii(self) -> bool:
        return True

    def strip(self, chars: str | None = None) -> str:
        return "clean"

    def __format__(self, spec: str) -> str:
        return "clean"

    def __str__(self) -> str:
        return "clean"


@pytest.mark.parametrize(
    ("validate", "field"),
    [
        pytest.param(validate_idempotency_key, "idempotency_key", id="idempotency-key"),
        pytest.param(validate_track_id, "track_id", id="track-id"),
        pytest.param(normalize_base_url, "base_url", id="base-url"),
        pytest.param(
            lambda value: validate_id_list("entity_ids", [value]), "entity_ids[0]", id="ids"
        ),
    ],
)
def test_a_str_subclass_cannot_lie_its_way_past_the_header_checks(validate, field):
    with pytest.raises(InvalidRequestError) as info:
        validate(_LyingStr("https://rest.zuora.com\r\nX-Injected: 1"))
    assert info.value.field == field


def test_a_valid_str_subclass_is_kept_as_its_plain_characters():
    key = validate_idempotency_key(_LyingStr("order-42"))
    assert type(key) is str
    assert key == "order-42"


class _SteeringInt(int):
    def __format__(self, spec: str) -> str:
        return "1/../../oauth/token#"


@pytest.mark.parametrize("workflow_id", [_SteeringInt(42), True, 0, MAX_ID + 1, "42"])
def test_prepare_run_writes_only_a_plain_ids_digits(workflow_id):
    """The run path is written from the id itself: a plain int's digits, or the refusal
    validate_workflow_id gives, whatever the caller checked before."""
    if canonical_int(workflow_id) == 42:
        assert _run(workflow_id=workflow_id).path == "/workflows/42/run"
        return
    with pytest.raises(InvalidRequestError) as info:
        _run(workflow_id=workflow_id)
    assert info.value.field == "workflow_id"
