"""derive_key: different parts give different keys, and every old key stays (issue 22).

The old encoding joined ``str(part)`` with ``\\x1f``: ``("a", "A-1\\x1fB")`` and
``("a", "A-1", "B")`` gave one key, and so did ``("m", None)`` and ``("m", "None")``.
Keys already sent (and recorded in journals) must not change: the journal finds a row's
state by its key, so a changed key would start its run again.
"""

from __future__ import annotations

import hashlib
import uuid

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from zuora_wf_async import InvalidRequestError, derive_key
from zuora_wf_async.cli._inputs import KeyScheme

NAMESPACE = uuid.UUID("6f1c2a7e-0d55-4f1e-9a51-3c1c7f0b2a90")


def old_key(*parts: object) -> str:
    """derive_key as every earlier version computed it."""
    text = "\x1f".join(str(part) for part in parts)
    return str(uuid.uuid5(NAMESPACE, hashlib.sha256(text.encode()).hexdigest()))


@pytest.mark.parametrize(
    ("one", "other"),
    [
        pytest.param(("a", "A-1\x1fB"), ("a", "A-1", "B"), id="separator-inside-a-part"),
        pytest.param(("m", None), ("m", "None"), id="None-and-its-name"),
        pytest.param(("m", True), ("m", "True"), id="True-and-its-name"),
        pytest.param(("m", False), ("m", "False"), id="False-and-its-name"),
        pytest.param(("m", None), ("m", None, None), id="count-of-Nones"),
        pytest.param(("\x1f",), ("", ""), id="a-lone-separator"),
        pytest.param(("a\x1f",), ("a", ""), id="trailing-separator"),
        pytest.param(("m", True), ("m", 1), id="True-and-1"),
    ],
)
def test_different_parts_give_different_keys(one, other):
    assert derive_key(*one) != derive_key(*other)


_TEXT_PARTS = st.one_of(
    st.text(alphabet=st.characters(blacklist_categories=("Cs",))),
    st.integers(),
    st.none(),
    st.booleans(),
)


@settings(max_examples=400, deadline=None)
@given(st.lists(_TEXT_PARTS, min_size=1, max_size=4), st.lists(_TEXT_PARTS, min_size=1, max_size=4))
def test_two_lists_of_parts_share_a_key_only_if_they_read_alike(one, other):
    def reading(parts: list[object]) -> list[object]:
        # A part is its text, except None and the bools, which keep their identity.
        return [p if p is None or isinstance(p, bool) else str(p) for p in parts]

    if reading(one) != reading(other):
        assert derive_key(*one) != derive_key(*other)
    else:
        assert derive_key(*one) == derive_key(*other)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.text(alphabet=st.characters(blacklist_categories=("Cs",))).filter(
                lambda text: "\x1f" not in text
            ),
            st.integers(),
            st.floats(),
        ),
        min_size=1,
        max_size=4,
    )
)
def test_keys_of_text_and_numbers_are_what_they_always_were(parts):
    assert derive_key(*parts) == old_key(*parts)


def test_zuora_wf_batch_keys_are_unchanged_whatever_the_columns_hold():
    """A journal written by an older zuora-wf finds every row again: same keys."""
    for batch_id in (None, "nov", "n\x1fov"):
        scheme = KeyScheme(workflow_id=396, batch_id=batch_id, columns=("a", "b"))
        for row in ({"a": "A-1", "b": "B"}, {"a": "A-1\x1fB", "b": "C"}, {"a": "x", "b": 7}):
            identity = scheme.identity(row)
            namespace = ("zuora-wf", batch_id) if batch_id else ("zuora-wf",)
            assert scheme.key(identity) == old_key(*namespace, 396, identity)


@pytest.mark.parametrize(
    ("parts", "field"),
    [
        pytest.param((), "parts", id="no-parts"),
        pytest.param(("\ud800",), "parts[0]", id="lone-surrogate"),
        pytest.param(("ok", "x\udfffy"), "parts[1]", id="lone-surrogate-second"),
    ],
)
def test_parts_no_key_can_come_from_are_refused_naming_them(parts, field):
    with pytest.raises(InvalidRequestError) as caught:
        derive_key(*parts)
    assert caught.value.field == field
    assert caught.value.fix


def test_a_part_whose_str_raises_is_refused_naming_it():
    class Hostile:
        def __str__(self) -> str:
            raise RuntimeError("no text")

    with pytest.raises(InvalidRequestError) as caught:
        derive_key("batch", Hostile())
    assert caught.value.field == "parts[1]"
