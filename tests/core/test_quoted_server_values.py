"""What a message quotes from a server is scrubbed first, then cut to 200 characters.

A secret is only recognised whole: cutting first can leave a prefix of it that no rule
matches (a body of 4,080 spaces and a token, cut at 4,096 bytes, left ``tokACCESS9f8e7d6``
in the message). And a quote is short whatever the server sent: a 5 MB ``next_page`` made a
5.2 MB message.
"""

from __future__ import annotations

import json

import pytest

from zuora_wf_async._core.api_errors import api_error
from zuora_wf_async._core.definition_requests import prepare_rebased_next_page
from zuora_wf_async._core.prepared_request import prepare_get
from zuora_wf_async._core.redact import excerpt, register, scrub
from zuora_wf_async._core.requests import prepare_run
from zuora_wf_async._core.responses import RawResponse, read_json
from zuora_wf_async._core.workflow_readers import read_deleted
from zuora_wf_async._errors import ResponseDecodeError, ZuoraError

BASE = "https://rest.test.zuora.com"
RUN = prepare_run(base_url=BASE, workflow_id=396, body=b"{}", idempotency_key="key-1")
TASKS = prepare_get(base_url=BASE, path_template="/workflows/tasks", path_args=[])
# Longer than the 16 characters the old cut left of it.
STRADDLER = "tokACCESS9f8e7d6c5b4a39281706f5e4"
PREFIX = "tokACCESS"
MAX_MESSAGE = 600  # the library's words plus at most 200 characters of each quote


def texts_of(error: BaseException) -> list[str]:
    return [str(error), repr(error), *(repr(value) for value in vars(error).values())]


@pytest.fixture(autouse=True)
def straddler() -> str:
    register(STRADDLER)
    return STRADDLER


def raw(status: int, body: bytes, headers: dict[str, str] | None = None) -> RawResponse:
    return RawResponse(status=status, headers=headers or {}, body=body)


@pytest.mark.parametrize("padding", [4080, 4090, 4095, 10_000])
def test_a_token_across_the_old_4096_byte_cut_is_scrubbed_whole_in_an_error(padding):
    body = b" " * padding + STRADDLER.encode() + b" trailing words"
    error = api_error(raw(400, body, {"Content-Type": "text/plain"}), RUN)
    assert all(PREFIX not in text for text in texts_of(error))
    assert "***" in str(error)


@pytest.mark.parametrize("padding", [4080, 4090, 10_000])
def test_a_token_across_the_old_cut_is_scrubbed_whole_in_a_decode_error(padding):
    body = b"<html>" + b" " * padding + STRADDLER.encode() + b"</html>"
    with pytest.raises(ResponseDecodeError) as caught:
        read_json(raw(200, body))
    assert all(PREFIX not in text for text in texts_of(caught.value))


def test_a_token_across_the_200th_character_of_a_quote_leaves_no_prefix():
    for start in range(180, 201):
        text = "x" * start + " " + STRADDLER + " tail"
        quoted = excerpt(text)
        assert PREFIX[:4] not in quoted, start
        assert len(quoted) <= 200


def test_a_long_run_of_spaces_then_a_token_then_text_quotes_the_text():
    """Whitespace is collapsed before the window is taken, so a quote still shows what the
    server said after a page of padding, with the secret in it scrubbed."""
    quoted = excerpt(" " * 5_000_000 + f"denied for {STRADDLER}: try again")
    assert quoted == "denied for ***: try again"


def test_a_five_megabyte_message_is_quoted_in_200_characters():
    error = api_error(raw(400, json.dumps({"message": "m" * 5_000_000}).encode()), RUN)
    assert len(str(error)) < MAX_MESSAGE


@pytest.mark.parametrize(
    "next_page",
    [
        pytest.param(f"{BASE}/workflows/other/" + "a" * 5_000_000, id="5MB-link-to-another-path"),
        pytest.param(" " * 5_000_000, id="5MB-of-spaces"),
        pytest.param(["x" * 1000] * 5000, id="5MB-list"),
        pytest.param(f"{BASE}/" + "p" * 300 + STRADDLER, id="token-past-200-characters"),
    ],
)
def test_a_hostile_next_page_is_quoted_short_and_scrubbed(next_page):
    with pytest.raises(ZuoraError) as caught:
        prepare_rebased_next_page(TASKS, next_page, base_url=BASE)
    assert len(str(caught.value)) < MAX_MESSAGE
    assert all(PREFIX not in text for text in texts_of(caught.value))


def test_a_refused_delete_answer_is_scrubbed_before_it_is_cut():
    """The 200th character falls inside the token: cutting first left its prefix."""
    for pad in range(90, 135, 3):
        body = json.dumps({"success": False, "note": "n" * pad + STRADDLER}).encode()
        with pytest.raises(ResponseDecodeError) as caught:
            read_deleted(raw(200, body))
        assert all(PREFIX not in text for text in texts_of(caught.value)), pad
        assert len(str(caught.value)) < MAX_MESSAGE


def test_a_request_id_header_is_quoted_in_at_most_100_characters():
    answer = raw(404, b"", {"Zuora-Request-Id": "r" * 8000, "Zuora-Track-Id": "t" * 8000})
    assert answer.request_id is not None
    assert len(answer.request_id) <= 100
    error = api_error(answer, RUN)
    assert error.request_id is not None
    assert len(error.request_id) <= 100
    assert error.track_id is not None
    assert len(error.track_id) <= 100
    assert len(str(error)) < MAX_MESSAGE


def test_scrub_and_excerpt_agree_on_a_secret_with_runs_of_spaces():
    """A quote collapses whitespace; a secret with two spaces inside is still found."""
    secret = "two  spaces-inside-4c9e1a"
    register(secret)
    assert scrub(f"got {secret}") == "got ***"
    assert excerpt(f"got {secret}") == "got ***"
