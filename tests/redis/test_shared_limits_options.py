"""SharedLimits refuses a wrong option with InvalidRequestError whatever the value is:
an int too large for a float (float() raises OverflowError), a 5,000-digit int (its repr
raises ValueError), a hostile __repr__, an infinite number of seconds."""

from __future__ import annotations

import pytest

from zuora_wf_async import InvalidRequestError, SharedLimits


class RaisingRepr:
    def __repr__(self) -> str:
        raise RuntimeError("repr of a caller's object")


@pytest.mark.parametrize(
    "value",
    [10**400, -(10**5000), RaisingRepr(), float("inf")],
    ids=["too-large-for-a-float", "5000-digits", "raising-repr", "infinite"],
)
@pytest.mark.parametrize("option", ["lease_seconds", "retry_after", "poll_interval", "timeout"])
def test_a_wrong_number_is_refused_naming_the_option(option, value) -> None:
    with pytest.raises(InvalidRequestError) as caught:
        SharedLimits("redis://localhost:6379/0", **{option: value})
    assert caught.value.field == option


@pytest.mark.parametrize("option", ["on_unavailable", "override_tenant_concurrency"])
def test_a_wrong_choice_is_refused_whatever_its_repr(option) -> None:
    with pytest.raises(InvalidRequestError) as caught:
        SharedLimits("redis://localhost:6379/0", **{option: RaisingRepr()})
    assert caught.value.field == option
