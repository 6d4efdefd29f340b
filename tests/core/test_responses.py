"""Reading responses: each status and body shape maps to its error leaf; bodies never crash us."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime

import pytest

from zuora_wf_async._core.api_errors import api_error, is_run_record, read_run
from zuora_wf_async._core.prepared_request import PreparedRequest, prepare_get
from zuora_wf_async._core.redact import register
from zuora_wf_async._core.requests import prepare_run
from zuora_wf_async._core.responses import RawResponse, read_json
from zuora_wf_async._errors import (
    BadRequestError,
    CalloutNotEnabledError,
    ConflictError,
    ForbiddenError,
    IdempotencyInProgressError,
    IdempotencyKeyReusedError,
    MissingParametersError,
    NotFoundError,
    RateLimitError,
    ResponseDecodeError,
    ServerError,
    UnauthorizedError,
    WorkflowIdIsRunError,
    WorkflowValidationError,
    ZuoraAPIError,
)

BASE = "https://rest.test.zuora.com"
NOW = datetime(2024, 1, 1, 12, 0, 0, tzinfo=UTC)
RUN_RECORD = {
    "createdAt": "2019-09-19 18:25:33 UTC",
    "id": 400,
    "name": "WF-396-00000003",
    "originalWorkflowId": 396,
    "status": "Queued",
    "type": "Workflow::Instance",
    "updatedAt": "2019-09-19 18:25:33 UTC",
}

RUN_REQUEST = prepare_run(
    base_url=BASE, workflow_id=396, body=b"{}", idempotency_key="key-1", track_id="trk-req"
)
# Zuora's official example of the 409 for a run id passed as a workflow id (the Workflow
# API's OpenAPI document, POST /workflows/{workflow_id}/run, 409): Id 399 is the run's id,
# which is what the request put in its path.
INSTANCE_409_TITLE = "Workflow WF-396-00000002 with Id 399 is an instance/run."
INSTANCE_409_BODY = {"errors": [{"code": "invalid", "status": 406, "title": INSTANCE_409_TITLE}]}
RUN_399_REQUEST = prepare_run(
    base_url=BASE, workflow_id=399, body=b"{}", idempotency_key="key-1", track_id="trk-req"
)
# Zuora's official 404 body of DELETE and PATCH /workflows/{workflow_id}: strings in errors.
INVALID_ID = "Invalid ID / Multiple objects returned - SchemaId: 2 InstanceId: 2 ObjectId: 19080"
# What a server said about a request under the same key still running (issue 22): it
# mentions an "instance" and is no statement about the workflow id at all.
ANOTHER_INSTANCE_409 = "This request is already being processed by another instance; retry later"
GET_REQUEST = prepare_get(base_url=BASE, path_template="/workflows/workflow_runs/{}", path_args=[1])


def _errors_body(title: str, status: int) -> bytes:
    return json.dumps({"errors": [{"code": "invalid", "status": status, "title": title}]}).encode()


def _raw(status: int, body: object = b"", headers: dict[str, str] | None = None) -> RawResponse:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    return RawResponse(status=status, headers=headers or {}, body=data)


# --- api_error: status -> leaf --------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "body", "prepared", "leaf"),
    [
        pytest.param(
            400,
            _errors_body("Bad parameter", 400),
            RUN_REQUEST,
            BadRequestError,
            id="400-bad-request",
        ),
        pytest.param(
            400,
            _errors_body("Callout mode is not turned on", 400),
            RUN_REQUEST,
            CalloutNotEnabledError,
            id="400-callout-not-enabled",
        ),
        pytest.param(
            401,
            {"message": "Authentication error"},
            RUN_REQUEST,
            UnauthorizedError,
            id="401-message-body",
        ),
        pytest.param(
            403,
            {"code": 50000040, "message": "Permission denied"},
            RUN_REQUEST,
            ForbiddenError,
            id="403-code-message-body",
        ),
        pytest.param(404, b"", GET_REQUEST, NotFoundError, id="404-not-found"),
        pytest.param(
            406,
            {"errors": [{"title": "missing"}], "parameters": {}},
            RUN_REQUEST,
            MissingParametersError,
            id="406-missing-parameters",
        ),
        pytest.param(
            409,
            INSTANCE_409_BODY,
            RUN_399_REQUEST,
            WorkflowIdIsRunError,
            id="409-documented-instance-wording-naming-the-path-id-is-a-run",
        ),
        pytest.param(
            409,
            INSTANCE_409_BODY,
            RUN_REQUEST,
            IdempotencyInProgressError,
            id="409-documented-wording-naming-another-id-with-key-is-in-progress",
        ),
        pytest.param(
            409,
            _errors_body(ANOTHER_INSTANCE_409, 409),
            RUN_REQUEST,
            IdempotencyInProgressError,
            id="409-another-instance-retry-later-with-key-is-in-progress",
        ),
        pytest.param(
            409,
            _errors_body("The provided workflow_id references a workflow instance", 409),
            RUN_REQUEST,
            IdempotencyInProgressError,
            id="409-loose-instance-words-with-key-is-in-progress",
        ),
        pytest.param(
            409,
            _errors_body(f"Note: {INSTANCE_409_TITLE} Retry later.", 409),
            RUN_399_REQUEST,
            IdempotencyInProgressError,
            id="409-documented-wording-inside-other-text-is-in-progress",
        ),
        pytest.param(
            409,
            {"message": INSTANCE_409_TITLE},
            RUN_399_REQUEST,
            IdempotencyInProgressError,
            id="409-documented-wording-outside-errors-is-in-progress",
        ),
        pytest.param(
            409,
            _errors_body("Request in progress", 409),
            RUN_REQUEST,
            IdempotencyInProgressError,
            id="409-other-with-key-is-in-progress",
        ),
        pytest.param(
            409,
            _errors_body("Request in progress", 409),
            GET_REQUEST,
            ConflictError,
            id="409-other-without-key-is-plain-conflict",
        ),
        pytest.param(
            422,
            _errors_body("key reused", 422),
            RUN_REQUEST,
            IdempotencyKeyReusedError,
            id="422-key-reused",
        ),
        pytest.param(429, b"", RUN_REQUEST, RateLimitError, id="429-rate-limit"),
        pytest.param(500, b"", RUN_REQUEST, ServerError, id="500-server-error"),
        pytest.param(
            502, b"<html>Bad Gateway</html>", RUN_REQUEST, ServerError, id="502-server-error"
        ),
        pytest.param(503, b"", RUN_REQUEST, ServerError, id="503-server-error"),
        pytest.param(504, b"", RUN_REQUEST, ServerError, id="504-server-error"),
        pytest.param(418, b"", RUN_REQUEST, ZuoraAPIError, id="418-plain-api-error"),
        pytest.param(599, b"", RUN_REQUEST, ServerError, id="unknown-5xx-server-error"),
    ],
)
def test_api_error_maps_status_to_leaf(status, body, prepared, leaf):
    """Each error status becomes exactly its documented leaf of the tree."""
    error = api_error(_raw(status, body), prepared)
    assert type(error) is leaf
    assert error.status == status


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(INSTANCE_409_BODY, id="documented-wording"),
        pytest.param(_errors_body(ANOTHER_INSTANCE_409, 409), id="another-instance"),
        pytest.param(
            _errors_body("The provided workflow_id references a workflow instance", 409),
            id="loose-instance-words",
        ),
    ],
)
def test_a_409_to_a_request_without_a_workflow_id_or_key_is_a_plain_conflict(body):
    """No rule reads "instance" in free text: the path names no workflow id to match."""
    assert type(api_error(_raw(409, body), GET_REQUEST)) is ConflictError


def test_api_error_406_echoes_parameters_on_the_error_not_in_the_message():
    """406 keeps Zuora's echo of the body on .parameters; values stay out of the message."""
    body = {
        "errors": [{"code": "invalid", "status": 406, "title": "missing required parameters"}],
        "parameters": {"accountId": "SECRET-ACCOUNT-VALUE"},
    }
    error = api_error(_raw(406, body), RUN_REQUEST)
    assert isinstance(error, MissingParametersError)
    assert error.parameters == {"accountId": "SECRET-ACCOUNT-VALUE"}
    assert "SECRET-ACCOUNT-VALUE" not in str(error)


# --- api_error: the data every error carries ----------------------------------------------


def test_api_error_carries_support_data():
    """status, request id, track id, idempotency key, messages, method and path are attached."""
    raw = _raw(
        400,
        _errors_body("Callout mode is not turned on", 400),
        {"Zuora-Request-Id": "req-123", "Zuora-Track-Id": "trk-resp"},
    )
    error = api_error(raw, RUN_REQUEST)
    assert error.status == 400
    assert error.request_id == "req-123"
    assert error.track_id == "trk-resp"
    assert error.idempotency_key == "key-1"
    assert error.messages == ("Callout mode is not turned on",)
    assert error.method == "POST"
    assert error.path == "/workflows/396/run"
    assert error.body == json.loads(_errors_body("Callout mode is not turned on", 400))
    assert error.headers["Zuora-Request-Id"] == "req-123"
    for fact in ("400", "req-123", "key-1", "Callout mode is not turned on", "/workflows/396/run"):
        assert fact in str(error)


@pytest.mark.parametrize(
    ("headers", "prepared", "track_id"),
    [
        pytest.param({"Zuora-Track-Id": "echoed"}, RUN_REQUEST, "echoed", id="echoed-header-wins"),
        pytest.param({}, RUN_REQUEST, "trk-req", id="falls-back-to-request-track-id"),
        pytest.param({}, GET_REQUEST, None, id="none-when-never-sent"),
    ],
)
def test_api_error_track_id(headers, prepared, track_id):
    assert api_error(_raw(500, b"", headers), prepared).track_id == track_id


def test_api_error_without_request_id_or_key_says_none():
    error = api_error(_raw(404, b""), GET_REQUEST)
    assert error.request_id is None
    assert error.idempotency_key is None
    assert "Idempotency-Key" not in str(error)


@pytest.mark.parametrize(
    ("body", "messages"),
    [
        pytest.param(
            {"message": "Failed to get user info"}, ("Failed to get user info",), id="message-shape"
        ),
        pytest.param(
            {"code": 50000040, "message": "No permission"},
            ("No permission",),
            id="code-message-shape",
        ),
        pytest.param(
            {"errors": [{"title": "a"}, {"title": "b"}]}, ("a", "b"), id="errors-titles-shape"
        ),
        pytest.param(
            {"Errors": [{"code": "x", "status": "404", "title": "gone"}]},
            ("gone",),
            id="capitalised-errors-shape",
        ),
        pytest.param(
            {"reasons": [{"code": 1, "message": "v1 reason"}]},
            ("v1 reason",),
            id="v1-reasons-shape",
        ),
        pytest.param(
            {"error": "invalid_client", "error_description": "bad secret"},
            ("invalid_client", "bad secret"),
            id="oauth-shape",
        ),
        pytest.param(
            b"<html>\n  <h1>Bad   Gateway</h1>\n</html>",
            ("<html> <h1>Bad Gateway</h1> </html>",),
            id="html-whitespace-collapsed",
        ),
        pytest.param(
            {"errors": [INVALID_ID]},
            (INVALID_ID,),
            id="errors-strings-shape-official-delete-and-patch-404",
        ),
        pytest.param(
            {"errors": ["first", {"title": "second"}, 3, None]},
            ("first", "second"),
            id="errors-strings-and-objects-alike",
        ),
        pytest.param(b"", (), id="empty-body"),
    ],
)
def test_api_error_reads_messages_from_every_body_shape(body, messages):
    assert api_error(_raw(401, body), RUN_REQUEST).messages == messages


@pytest.mark.parametrize(
    ("body", "headers"),
    [
        pytest.param(b"<html><body>502 Bad Gateway</body></html>", {}, id="html"),
        pytest.param(b"", {}, id="empty"),
        pytest.param(b"\xff\xfe\x00garbage", {}, id="invalid-utf8"),
        pytest.param(b"[1, 2", {}, id="truncated-json"),
        pytest.param(b"\x1f\x8bnot really gzip", {"Content-Encoding": "gzip"}, id="corrupt-gzip"),
        pytest.param(
            gzip.compress(b'{"message": "x"}')[:-12],
            {"Content-Encoding": "gzip"},
            id="truncated-gzip",
        ),
        pytest.param(b"abc", {"Content-Encoding": "br"}, id="unsupported-encoding"),
        pytest.param(b'["a", "list"]', {}, id="json-array"),
        pytest.param(b'"just a string"', {}, id="json-string"),
        pytest.param(b'{"errors": "not a list", "message": 5}', {}, id="odd-json-object"),
    ],
)
@pytest.mark.parametrize("status", [400, 409, 429, 502])
def test_api_error_never_raises_on_a_strange_body(status, body, headers):
    """A gateway's HTML, an empty or corrupt body still yields an error leaf with a message."""
    error = api_error(_raw(status, body, headers), RUN_REQUEST)
    assert isinstance(error, ZuoraAPIError)
    assert error.status == status
    assert str(error)


def test_api_error_gzip_body_is_decoded():
    raw = _raw(
        401, gzip.compress(b'{"message": "Authentication error"}'), {"Content-Encoding": "gzip"}
    )
    error = api_error(raw, RUN_REQUEST)
    assert error.messages == ("Authentication error",)
    assert error.body == {"message": "Authentication error"}


def test_api_error_body_over_cap_is_not_read():
    raw = _raw(
        500, gzip.compress(b'{"message": "' + b"x" * 10_000 + b'"}'), {"Content-Encoding": "gzip"}
    )
    error = api_error(raw, RUN_REQUEST, max_bytes=1000)
    assert isinstance(error, ServerError)
    assert error.body is None
    assert "unreadable body" in error.messages[0]


# --- 429: retry_after ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "retry_after"),
    [
        pytest.param({"Retry-After": "30"}, 30.0, id="retry-after-seconds"),
        pytest.param({"Retry-After": "2.5"}, 2.5, id="retry-after-fractional-seconds"),
        pytest.param(
            {"Retry-After": "Mon, 01 Jan 2024 12:01:30 GMT"},
            90.0,
            id="retry-after-http-date-against-injected-now",
        ),
        pytest.param(
            {"Retry-After": "Mon, 01 Jan 2024 11:00:00 GMT"},
            0.0,
            id="retry-after-http-date-in-the-past-is-zero",
        ),
        pytest.param(
            {"RateLimit-Remaining": "0", "RateLimit-Reset": "600"},
            600.0,
            id="falls-back-to-ratelimit-reset",
        ),
        pytest.param(
            {"ratelimit-remaining": "0", "ratelimit-reset": "45"},
            45.0,
            id="lowercase-ratelimit-reset",
        ),
        pytest.param(
            {"Retry-After": "7", "RateLimit-Reset": "600"}, 7.0, id="retry-after-wins-over-reset"
        ),
        pytest.param(
            {"Retry-After": "soon", "RateLimit-Reset": "12"},
            12.0,
            id="garbage-retry-after-falls-back-to-reset",
        ),
        pytest.param({}, None, id="none-when-nothing-said"),
        pytest.param({"Retry-After": "soon"}, None, id="none-when-only-garbage"),
    ],
)
def test_rate_limit_error_retry_after(headers, retry_after):
    """Retry-After (seconds or HTTP-date), else RateLimit-Reset, else None."""
    error = api_error(_raw(429, b"", headers), RUN_REQUEST, now=NOW)
    assert isinstance(error, RateLimitError)
    assert error.retry_after == retry_after


def test_rate_limit_error_carries_parsed_rate_limit():
    headers = {"RateLimit-Limit": "50000;w=60", "RateLimit-Remaining": "0", "RateLimit-Reset": "9"}
    error = api_error(_raw(429, b"", headers), RUN_REQUEST)
    assert isinstance(error, RateLimitError)
    assert error.rate_limit is not None
    assert error.rate_limit.remaining == 0
    assert error.rate_limit.exhausted


def test_rate_limit_error_without_headers_has_no_rate_limit():
    error = api_error(_raw(429, b""), RUN_REQUEST)
    assert isinstance(error, RateLimitError)
    assert error.rate_limit is None


# --- read_run ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "body", "headers", "replayed"),
    [
        pytest.param(200, json.dumps(RUN_RECORD).encode(), {}, False, id="200-fresh-run"),
        pytest.param(
            200,
            gzip.compress(json.dumps(RUN_RECORD).encode()),
            {"Content-Encoding": "gzip"},
            False,
            id="200-gzipped-run",
        ),
        pytest.param(409, json.dumps(RUN_RECORD).encode(), {}, True, id="409-replay-of-a-run"),
        pytest.param(
            409,
            gzip.compress(json.dumps(RUN_RECORD).encode()),
            {"Content-Encoding": "gzip"},
            True,
            id="409-gzipped-replay-of-a-run",
        ),
    ],
)
def test_read_run_returns_record_and_whether_it_was_a_replay(status, body, headers, replayed):
    """A 200 and a 409 whose body is a run record both return the run; only 409 is a replay."""
    record, was_replay = read_run(_raw(status, body, headers), RUN_REQUEST)
    assert record == RUN_RECORD
    assert was_replay is replayed


def test_read_run_409_errors_body_raises_workflow_id_is_run():
    raw = _raw(409, INSTANCE_409_BODY, {"Zuora-Request-Id": "req-9"})
    with pytest.raises(WorkflowIdIsRunError) as info:
        read_run(raw, RUN_399_REQUEST)
    assert info.value.request_id == "req-9"
    assert INSTANCE_409_TITLE in str(info.value)


def test_read_run_409_another_instance_is_in_progress_not_an_id_is_run():
    with pytest.raises(IdempotencyInProgressError):
        read_run(_raw(409, _errors_body(ANOTHER_INSTANCE_409, 409)), RUN_REQUEST)


@pytest.mark.parametrize(
    ("status", "body", "leaf"),
    [
        pytest.param(
            409,
            _errors_body("in progress", 409),
            IdempotencyInProgressError,
            id="409-errors-body-with-key-in-progress",
        ),
        pytest.param(
            400,
            json.dumps(RUN_RECORD).encode(),
            BadRequestError,
            id="400-never-a-replay-even-if-run-shaped",
        ),
        pytest.param(429, b"", RateLimitError, id="429-raises-rate-limit"),
    ],
)
def test_read_run_raises_error_leaf(status, body, leaf):
    with pytest.raises(leaf):
        read_run(_raw(status, body), RUN_REQUEST)


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b"[1, 2]", id="json-array"),
        pytest.param(b"null", id="json-null"),
        pytest.param(b"<html>ok</html>", id="html"),
        pytest.param(b"", id="empty"),
    ],
)
def test_read_run_200_with_a_non_object_body_is_a_decode_error(body):
    with pytest.raises(ResponseDecodeError) as info:
        read_run(_raw(200, body), RUN_REQUEST)
    assert info.value.status == 200


# --- read_json -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "headers"),
    [
        pytest.param(b'{"success": true}', {}, id="identity"),
        pytest.param(gzip.compress(b'{"success": true}'), {"Content-Encoding": "gzip"}, id="gzip"),
        pytest.param(
            gzip.compress(b'{"success": true}'),
            {"Content-Encoding": " GZIP "},
            id="gzip-case-and-space-insensitive",
        ),
    ],
)
def test_read_json_decodes_content_encoding(body, headers):
    assert read_json(_raw(200, body, headers)) == {"success": True}


@pytest.mark.parametrize(
    ("body", "headers", "mentions"),
    [
        pytest.param(
            b"<html>Service Unavailable</html>",
            {},
            "<html>Service Unavailable</html>",
            id="non-json-snippet-in-message",
        ),
        pytest.param(b"", {}, "JSON", id="empty-body-not-allowed-by-default"),
        pytest.param(
            gzip.compress(b'{"a": 1}' * 100)[:-20],
            {"Content-Encoding": "gzip"},
            "truncated",
            id="truncated-gzip",
        ),
        pytest.param(b"\x1f\x8bnope", {"Content-Encoding": "gzip"}, "corrupt", id="corrupt-gzip"),
        pytest.param(
            b"{}", {"Content-Encoding": "compress"}, "compress", id="unsupported-encoding"
        ),
    ],
)
def test_read_json_raises_decode_error_saying_what_is_wrong(body, headers, mentions):
    with pytest.raises(ResponseDecodeError) as info:
        read_json(_raw(200, body, headers))
    assert mentions in str(info.value)
    assert info.value.status == 200
    assert info.value.field == "body"


def test_read_json_snippet_is_bounded():
    """A huge non-JSON body is quoted only in part."""
    with pytest.raises(ResponseDecodeError) as info:
        read_json(_raw(200, b"x" * 100_000))
    assert len(str(info.value)) < 1000


def test_read_json_gzip_bomb_over_max_bytes_is_a_decode_error():
    bomb = gzip.compress(b"\0" * 1_000_000)
    with pytest.raises(ResponseDecodeError):
        read_json(_raw(200, bomb, {"Content-Encoding": "gzip"}), max_bytes=10_000)


def test_read_json_identity_body_over_max_bytes_is_a_decode_error():
    with pytest.raises(ResponseDecodeError):
        read_json(_raw(200, b'{"a": "' + b"x" * 2000 + b'"}'), max_bytes=1000)


@pytest.mark.parametrize(
    "body", [pytest.param(b"", id="empty"), pytest.param(b"  \n", id="whitespace")]
)
def test_read_json_allow_empty_returns_none(body):
    assert read_json(_raw(200, body), allow_empty=True) is None


# --- is_run_record -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        pytest.param(RUN_RECORD, True, id="sample-run"),
        pytest.param({"id": "400", "status": "Queued"}, True, id="string-id-with-status"),
        pytest.param({"id": 400, "originalWorkflowId": 396}, True, id="id-with-definition"),
        pytest.param({"id": 400}, False, id="bare-id"),
        pytest.param({**RUN_RECORD, "errors": []}, False, id="errors-key-is-not-a-run"),
        pytest.param({"errors": [{"title": "x"}]}, False, id="errors-body"),
        pytest.param({**RUN_RECORD, "id": None}, False, id="null-id"),
        pytest.param({**RUN_RECORD, "id": [400]}, False, id="list-id"),
        pytest.param([RUN_RECORD], False, id="list"),
        pytest.param(None, False, id="none"),
        pytest.param("run", False, id="string"),
    ],
)
def test_is_run_record(body, expected):
    """Only a mapping with an int/str id, run fields and no errors key reads as a run."""
    assert is_run_record(body) is expected


# --- hostile bodies: nesting, length, echoed secrets -------------------------------------

DEEP = b"[" * 100_000 + b"]" * 100_000
DEEP_OBJECT = b'{"a":' * 100_000 + b"1" + b"}" * 100_000
JUST_TOO_DEEP = b"[" * 101 + b"]" * 101
ECHOED = "echoed-secret-7c1e9a2b4d6f"


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(DEEP, id="array-100000-deep"),
        pytest.param(DEEP_OBJECT, id="object-100000-deep"),
        pytest.param(JUST_TOO_DEEP, id="array-101-deep"),
        pytest.param(gzip.compress(DEEP), id="gzipped-100000-deep"),
    ],
)
def test_read_json_refuses_deep_nesting_with_a_decode_error(body):
    """json.loads raised RecursionError on these; it now stops at one parse point."""
    headers = {"Content-Encoding": "gzip"} if body[:2] == b"\x1f\x8b" else {}
    with pytest.raises(ResponseDecodeError) as info:
        read_json(_raw(200, body, headers))
    assert "nested deeper than 100" in str(info.value)
    assert len(str(info.value)) < 400


def test_read_json_accepts_nesting_up_to_the_cap():
    assert read_json(_raw(200, b"[" * 100 + b"]" * 100)) is not None


@pytest.mark.parametrize(
    "body", [pytest.param(DEEP, id="array"), pytest.param(DEEP_OBJECT, id="object")]
)
def test_read_run_refuses_a_deep_run_body(body):
    with pytest.raises(ResponseDecodeError):
        read_run(_raw(200, body), RUN_REQUEST)


@pytest.mark.parametrize("status", [400, 409, 500, 503])
def test_a_deep_error_body_still_maps_to_its_leaf(status):
    error = api_error(_raw(status, DEEP), RUN_REQUEST)
    assert error.status == status
    assert error.body is None
    assert "nested deeper" in str(error)


def test_a_409_with_a_deep_body_is_not_a_replay():
    with pytest.raises(IdempotencyInProgressError):
        read_run(_raw(409, DEEP), RUN_REQUEST)


def test_a_whole_html_error_page_is_cut_to_a_short_single_line():
    page = (
        b"<html>\n  <head><title>503 Service Unavailable</title></head>\n<body>\n"
        + b"<p>Sorry   for the\tinconvenience.</p>\n" * 500
        + b"</body></html>"
    )
    error = api_error(_raw(503, page), GET_REQUEST)
    assert isinstance(error, ServerError)
    message = str(error)
    assert len(message) < 400
    assert "\n" not in message
    assert "  " not in message
    assert "Service Unavailable" in message


def test_a_long_json_message_is_cut_too():
    error = api_error(_raw(400, {"message": "x" * 50_000}), RUN_REQUEST)
    assert len(str(error)) < 400


def test_a_non_json_200_is_quoted_shortly():
    with pytest.raises(ResponseDecodeError) as info:
        read_json(_raw(200, b"<html>" + b"maintenance " * 5000 + b"</html>"))
    assert "maintenance" in str(info.value)
    assert len(str(info.value)) < 400


def test_no_request_id_part_when_the_server_sent_none():
    message = str(api_error(_raw(404, {"message": "nope"}), GET_REQUEST))
    assert "Zuora-Request-Id" not in message
    assert "none" not in message
    assert "[" not in message


def test_the_idempotency_key_is_given_even_without_a_request_id():
    message = str(api_error(_raw(500, b""), RUN_REQUEST))
    assert message.endswith("[Idempotency-Key: key-1]")


def test_the_request_id_is_given_when_sent():
    message = str(api_error(_raw(500, b"", {"Zuora-Request-Id": "rid-1"}), RUN_REQUEST))
    assert message.endswith("[Zuora-Request-Id: rid-1, Idempotency-Key: key-1]")


@pytest.fixture
def echoed_secret() -> str:
    register(ECHOED)
    return ECHOED


@pytest.mark.parametrize(
    ("status", "body", "headers"),
    [
        pytest.param(400, f"client_id=abc&client_secret={ECHOED}".encode(), {}, id="form-echo"),
        pytest.param(400, {"message": f"bad secret {ECHOED}"}, {}, id="json-message"),
        pytest.param(
            400,
            {"errors": [{"title": f"got {ECHOED}"}], "echo": {ECHOED: ECHOED}},
            {},
            id="json-body",
        ),
        pytest.param(401, {"message": "no"}, {"X-Echo": f"Bearer {ECHOED}"}, id="header-echo"),
        pytest.param(
            500, b"boom", {"Zuora-Request-Id": ECHOED, "Zuora-Track-Id": ECHOED}, id="id-headers"
        ),
        pytest.param(
            406, {"message": "missing", "parameters": {"p": ECHOED}}, {}, id="406-parameters"
        ),
        pytest.param(503, f"<pre>{ECHOED}</pre>".encode(), {}, id="html"),
    ],
)
def test_a_secret_the_server_echoes_is_scrubbed_everywhere_on_the_error(
    echoed_secret, status, body, headers
):
    error = api_error(_raw(status, body, headers), RUN_REQUEST)
    texts = [str(error), repr(error), *(repr(value) for value in vars(error).values())]
    assert all(echoed_secret not in text for text in texts)


def test_an_answer_keeps_its_headers_as_received_and_shows_only_scrubbed_ones(echoed_secret):
    """Headers are read as sent (rate limits, content encoding) and scrubbed where they
    leave: the request id an event or span shows, and the answer's repr shows none."""
    raw = _raw(200, {}, {"zuora-request-id": f"Bearer {echoed_secret}", "X-Echo": echoed_secret})
    assert raw.headers["Zuora-Request-Id"] == f"Bearer {echoed_secret}"
    assert raw.request_id == "Bearer ***"
    assert echoed_secret not in repr(raw)


@pytest.mark.parametrize(
    "echo",
    [
        pytest.param("Authorization: Bearer 0123456789abcdef0123", id="bearer-header"),
        pytest.param("authorization: bearer 0123456789abcdef0123", id="lowercase"),
        pytest.param('{"access_token": "0123456789abcdef0123"}', id="json-token"),
        pytest.param("access_token=0123456789abcdef0123&x=1", id="form-token"),
    ],
)
def test_an_unknown_token_shaped_like_one_is_scrubbed(echo):
    error = api_error(_raw(400, echo.encode()), RUN_REQUEST)
    texts = [str(error), *(repr(value) for value in vars(error).values())]
    assert all("0123456789abcdef0123" not in text for text in texts)
    assert any("***" in text for text in texts)


# --- rules read documented facts, not loose words (issue 22) -------------------------------


def test_a_patch_422_in_the_documented_reasons_shape_is_a_validation_error_whatever_it_says():
    """A reason that happens to mention idempotency is still a reason about a field."""
    patch = PreparedRequest(
        method="PATCH",
        url=f"{BASE}/workflows/42",
        path="/workflows/42",
        headers={},
        idempotency_key="key-1",
    )
    body = {"reasons": [{"fieldName": "description", "title": "idempotency is not a word"}]}
    error = api_error(_raw(422, body), patch)
    assert type(error) is WorkflowValidationError
    assert error.reasons == (("description", "idempotency is not a word"),)


@pytest.mark.parametrize("method", ["DELETE", "PATCH"])
def test_the_official_404_of_delete_and_patch_says_what_zuora_said(method):
    """Zuora's own DELETE and PATCH 404 bodies hold strings in ``errors``: quoted, not "no
    message"."""
    request = PreparedRequest(
        method=method, url=f"{BASE}/workflows/19080", path="/workflows/19080", headers={}
    )
    error = api_error(_raw(404, {"errors": [INVALID_ID]}), request)
    assert type(error) is NotFoundError
    assert error.messages == (INVALID_ID,)
    assert INVALID_ID in str(error)
    assert "no message" not in str(error)
