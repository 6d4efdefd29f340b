"""The batch options ``run_many`` and ``stream_runs`` share: one record, checked up front.

Each option is declared once (``BatchOptions``) and typed once for callers
(``BatchKeywords``); a wrong value or an unknown name is refused with
``InvalidRequestError`` naming it, before anything is sent.
"""

from __future__ import annotations

import typing

import attrs
import pytest

from zuora_wf_async import InvalidRequestError, RetryPolicy
from zuora_wf_async._batch.options import BatchKeywords, BatchOptions


def test_the_keywords_callers_type_are_the_record_s_fields():
    fields = {field.name: field.type for field in attrs.fields(BatchOptions)}
    keywords = typing.get_type_hints(BatchKeywords)
    assert set(keywords) == set(fields)


def test_passing_nothing_gives_the_documented_defaults():
    options = BatchOptions.from_keywords({})
    assert (options.window, options.wait, options.preflight, options.journal) == (
        None,
        False,
        True,
        None,
    )
    assert options.poll_plan().timeout == options.wait_timeout


BAD = [
    pytest.param({"window": 0}, "window", id="window-zero"),
    pytest.param({"window": True}, "window", id="window-bool"),
    pytest.param({"window": 2.5}, "window", id="window-float"),
    pytest.param({"wait": "yes"}, "wait", id="wait-text"),
    pytest.param({"preflight": 1}, "preflight", id="preflight-int"),
    pytest.param({"key_fn": "accountId"}, "key_fn", id="key-fn-not-callable"),
    pytest.param({"on_progress": 3}, "on_progress", id="progress-not-callable"),
    pytest.param({"total": -1}, "total", id="total-negative"),
    pytest.param({"total": "10"}, "total", id="total-text"),
    pytest.param({"journal": "runs.jsonl"}, "journal", id="journal-a-path"),
    pytest.param({"retry": {"max_attempts": 3}}, "retry", id="retry-a-dict"),
    pytest.param({"wait_timeout": -1}, "timeout", id="wait-timeout-negative"),
    pytest.param({"poll_interval": float("nan")}, "poll_interval", id="poll-nan"),
    pytest.param({"windw": 8}, "windw", id="misspelt-name"),
]


@pytest.mark.parametrize(("options", "field"), BAD)
async def test_run_many_refuses_a_bad_option_before_sending(fake, zuora, options, field):
    with pytest.raises(InvalidRequestError) as caught:
        await zuora.run_many(396, [{"n": 1}], **options)
    assert caught.value.field == field
    assert fake.requests == []


@pytest.mark.parametrize(("options", "field"), BAD)
async def test_stream_runs_refuses_a_bad_option_when_called(fake, zuora, options, field):
    with pytest.raises(InvalidRequestError) as caught:
        zuora.stream_runs(396, [{"n": 1}], **options)
    assert caught.value.field == field
    assert fake.requests == []


async def test_good_options_pass_through_to_the_batch(fake, zuora):
    seen = []
    outcomes = await zuora.run_many(
        396,
        ({"n": n} for n in range(3)),
        window=2,
        total=3,
        on_progress=seen.append,
        retry=RetryPolicy(max_attempts=2),
        key_fn=lambda params: f"k-{params['n']}",
        preflight=False,
    )
    assert [outcome.idempotency_key for outcome in outcomes] == ["k-0", "k-1", "k-2"]
    assert [progress.total for progress in seen] == [3, 3, 3]
    assert fake.requests_to("get_workflow") == []  # no pre-flight check
