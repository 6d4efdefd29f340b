"""BatchJournal.open refuses a wrong option with InvalidRequestError whatever the
value's repr does (a 5,000-digit int's repr raises ValueError; a hostile __repr__ raises
its own), as every other option check does through shown_value."""

from __future__ import annotations

import pytest

from zuora_wf_async import BatchJournal, InvalidRequestError


class RaisingRepr:
    def __repr__(self) -> str:
        raise RuntimeError("repr of a caller's object")


@pytest.mark.parametrize("value", [10**5000, RaisingRepr()], ids=["huge-int", "raising-repr"])
@pytest.mark.parametrize("option", ["key_scheme", "batch_id"])
def test_a_wrong_option_is_refused_by_its_type(tmp_path, option, value) -> None:
    options = {"workflow_id": 396, "key_scheme": "accountId", option: value}
    with pytest.raises(InvalidRequestError) as caught:
        BatchJournal.open(tmp_path / "runs.jsonl", **options)
    assert caught.value.field == option


@pytest.mark.parametrize("value", [RaisingRepr(), 1.5], ids=["raising-repr", "float"])
def test_a_wrong_workflow_id_is_refused_by_its_type(tmp_path, value) -> None:
    with pytest.raises(InvalidRequestError) as caught:
        BatchJournal.open(tmp_path / "runs.jsonl", workflow_id=value, key_scheme="accountId")
    assert caught.value.field == "workflow_id"
