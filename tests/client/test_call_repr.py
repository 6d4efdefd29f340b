"""a call's state never shows the bearer token it sent in its repr (frame-local
captures, Sentry's include_local_variables, pytest --showlocals, print debugging)."""

from __future__ import annotations

import math

from zuora_wf_async._call import Call
from zuora_wf_async._core.prepared_request import PreparedRequest

TOKEN = "r1-bearer-3f9a7c1e5b2d4680"


def test_a_calls_repr_does_not_show_the_token_it_sent() -> None:
    prepared = PreparedRequest(
        method="GET", url="https://zuora.invalid/workflows/1", path="/workflows/1", headers={}
    )
    call = Call(prepared, "get_workflow", None, 0.0, math.inf, False)
    call.sent_token = TOKEN
    assert TOKEN not in repr(call)
