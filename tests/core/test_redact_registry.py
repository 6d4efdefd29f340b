"""The redaction registry: what a client holds is scrubbed for its life, whatever its length.

A client holds its credentials and its current token (``HeldSecrets``); they cannot be
pushed out by any number of newer secrets. Only values nobody holds any more (a replaced
token) age out, after the 512 newest. A held value shorter than 8 characters (a test's
``BearerToken("t")``, a server that hands out 4-character tokens) is scrubbed where it
stands as a token of its own, never inside a word.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from zuora_wf_async._core.redact import HeldSecrets, register, scrub


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex}"


def flood(count: int = 600) -> None:
    """Register ``count`` new secrets, more than the registry remembers of retired ones."""
    for _ in range(count):
        register(unique("newer-token"))


@pytest.fixture
def held() -> Iterator[HeldSecrets]:
    holder = HeldSecrets()
    yield holder
    holder.release()


def test_a_held_credential_outlives_any_number_of_newer_secrets():
    secret = unique("client-secret")
    holder = HeldSecrets(secret)
    try:
        flood()
        assert scrub(f"echo {secret}") == "echo ***"
    finally:
        holder.release()


def test_the_current_token_is_held_and_the_token_it_replaced_ages_out(held):
    first, second = unique("first-token"), unique("second-token")
    held.hold_token(first)
    held.hold_token(second)
    assert scrub(first) == "***", "a replaced token is still remembered among the newest"
    flood()
    assert scrub(f"{first} {second}") == f"{first} ***"


def test_a_value_held_by_two_clients_stays_until_both_let_go():
    secret = unique("shared-secret")
    one, two = HeldSecrets(secret), HeldSecrets(secret)
    one.release()
    flood()
    assert scrub(secret) == "***"
    two.release()
    flood()
    assert scrub(secret) == secret


def test_release_is_idempotent_and_a_released_holder_holds_nothing_new():
    secret, token = unique("once-secret"), unique("late-token")
    holder = HeldSecrets(secret)
    holder.release()
    holder.release()
    holder.hold_token(token)  # after close: not pinned, only remembered like any other
    flood()
    assert scrub(f"{secret} {token}") == f"{secret} {token}"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("echo k9Z", "echo ***", id="after-a-space"),
        pytest.param("Authorization: Bearer k9Z", "Authorization: Bearer ***", id="bearer"),
        pytest.param('{"access": "k9Z"}', '{"access": "***"}', id="json-string"),
        pytest.param("got 'k9Z'", "got '***'", id="python-repr"),
        pytest.param("token=k9Z&x=1", "token=***&x=1", id="form-value"),
        pytest.param("k9Z", "***", id="the-whole-text"),
        pytest.param("(k9Z)", "(***)", id="in-brackets"),
        pytest.param("k9Zx k9Z2 xk9Z a-k9Z k9Z.b", "k9Zx k9Z2 xk9Z a-k9Z k9Z.b", id="inside-words"),
    ],
)
def test_a_short_held_token_is_scrubbed_where_it_stands_alone(held, text, expected):
    held.hold_token("k9Z")
    assert scrub(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "the bearer token expired; retry with a new token (timeout 60 s)",
        "Name can't be blank.",
        "it isn't there, don't retry",
        "Zuora answered 404 Not Found to GET /workflows/workflow_runs/400",
    ],
)
def test_a_one_letter_bearer_token_does_not_blank_ordinary_words(text):
    holder = HeldSecrets("t")
    try:
        assert scrub(text) == text
        assert scrub(f"{text} Bearer t") == f"{text} Bearer ***"
    finally:
        holder.release()


def test_a_short_value_is_forgotten_when_its_holder_lets_go():
    holder = HeldSecrets("q7w")
    assert scrub("echo q7w") == "echo ***"
    holder.release()
    assert scrub("echo q7w") == "echo q7w"


def test_a_short_value_nobody_holds_is_never_a_secret():
    register("t")  # too short to be a secret by itself: it must not blank every "t"
    text = "the bearer token expired; retry with a new token (timeout 60 s)"
    assert scrub(text) == text
