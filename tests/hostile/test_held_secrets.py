"""A server cannot make a client forget its secrets, nor pick a token too short to hide.

Plain ``aiohttp.web`` apps on 127.0.0.1: one answers every API call with 401 until the
client has fetched more than 520 tokens (the registry remembers 512 values nobody holds),
then echoes the client secret and the current token; one hands out 3-character tokens and
echoes them. Neither shows up in the error.
"""

from __future__ import annotations

import itertools
import json
import logging
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web

from zuora_wf_async import (
    BadRequestError,
    BearerToken,
    OAuthCredentials,
    RetryPolicy,
    UnauthorizedError,
    WorkflowClient,
    ZuoraError,
)
from zuora_wf_async.testing import ManualClock

SECRET = "held-client-secret-9b8a7c6d5e4f3a21"
CLIENT_ID = "held-client-id"
FLOOD = 520


def every_text_of(error: BaseException) -> list[str]:
    texts = [str(error), repr(error), *(str(arg) for arg in error.args)]
    texts.extend(repr(value) for value in vars(error).values())
    return texts


class TokenLoop:
    """Hands out a new token on every fetch; answers the API as ``answer`` says."""

    def __init__(self, make_token: Any) -> None:
        self.make_token = make_token
        self.tokens: list[str] = []
        self.base_url = ""
        self.echo_after = FLOOD

    async def token(self, request: web.Request) -> web.Response:
        await request.read()
        self.tokens.append(self.make_token(len(self.tokens)))
        return web.json_response({"access_token": self.tokens[-1], "expires_in": 3599})

    async def api(self, request: web.Request) -> web.Response:
        await request.read()
        if len(self.tokens) <= self.echo_after:
            return web.json_response({"message": "Authentication error"}, status=401)
        sent = request.headers.get("Authorization", "").removeprefix("Bearer ")
        text = f"echo {SECRET} and {sent}; the timeout is not it"
        return web.json_response({"message": text, "errors": [text]}, status=400)


async def serve(loop: TokenLoop) -> AsyncIterator[TokenLoop]:
    app = web.Application()
    app.router.add_post("/oauth/token", loop.token)
    app.router.add_get("/workflows/workflow_runs/{run_id}", loop.api)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    loop.base_url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    yield loop
    await runner.cleanup()


@pytest.fixture
async def long_tokens() -> AsyncIterator[TokenLoop]:
    async for loop in serve(TokenLoop(lambda n: f"loop-token-{n:06d}-7e6d5c4b3a29")):
        yield loop


@pytest.fixture
async def short_tokens() -> AsyncIterator[TokenLoop]:
    alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
    names = ("".join(chars) for chars in itertools.product(alphabet, repeat=3))
    loop = TokenLoop(lambda _n: next(names))
    loop.echo_after = -1
    async for served in serve(loop):
        yield served


def oauth_client(base_url: str) -> WorkflowClient:
    clock = ManualClock()
    return WorkflowClient(
        base_url,
        auth=OAuthCredentials(client_id=CLIENT_ID, client_secret=SECRET),
        retry=RetryPolicy(max_attempts=3, base_delay=0.01, max_delay=0.01, deadline=None),
        clock=clock,
        sleep=clock.sleep,
        timeout=10,
    )


async def test_a_401_loop_of_520_tokens_cannot_push_the_client_secret_out(long_tokens, caplog):
    caplog.set_level(logging.DEBUG, logger="zuora_wf_async")
    refused = 0
    async with oauth_client(long_tokens.base_url) as zuora:
        while True:  # each call fetches up to 3 tokens before its 401 is final
            try:
                await zuora.get_run(400)
            except UnauthorizedError:
                refused += 1
            except BadRequestError as error:
                echoed = error
                break
    current = long_tokens.tokens[-1]
    texts = every_text_of(echoed)
    texts.extend(repr(vars(record)) for record in caplog.records)
    assert len(long_tokens.tokens) > FLOOD
    assert refused > FLOOD // 3
    assert "echo ***" in str(echoed), "the server's words are still quoted"
    for text in texts:
        assert SECRET not in text
        assert current not in text


async def test_a_three_character_token_the_server_chose_is_scrubbed(short_tokens):
    async with oauth_client(short_tokens.base_url) as zuora:
        with pytest.raises(BadRequestError) as caught:
            await zuora.get_run(400)
    [token] = short_tokens.tokens
    assert len(token) == 3
    message = str(caught.value)
    assert "echo *** and ***; the timeout is not it" in message
    for text in every_text_of(caught.value):
        assert f" {token};" not in text
        assert SECRET not in text


async def test_a_one_letter_bearer_token_leaves_the_servers_words_readable(short_tokens):
    """Scrubbed where it stands alone ("... and ***;"), never inside "the" or "timeout"."""
    async with WorkflowClient(
        short_tokens.base_url, auth=BearerToken("t"), retry=RetryPolicy(max_attempts=1)
    ) as zuora:
        with pytest.raises(ZuoraError) as caught:
            await zuora.get_run(400)
    assert "and ***; the timeout is not it" in str(caught.value)
    assert json.dumps(caught.value.messages).count("timeout") == 2
