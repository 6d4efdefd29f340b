"""derive_key: the fast path gives exactly the string the uuid5 algorithm gave.

Keys already sent to Zuora (and written in journals) must come out the same forever, so
the old algorithm is kept here as the reference and compared on many inputs: every part
list it encoded unambiguously (text and numbers without the \x1f separator; None, bools
and the separator are encoded apart since issue 22, see test_derive_key_unambiguous.py).
"""

from __future__ import annotations

import hashlib
import random
import uuid

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from zuora_wf_async import derive_key

NAMESPACE = uuid.UUID("6f1c2a7e-0d55-4f1e-9a51-3c1c7f0b2a90")


def reference_key(*parts: object) -> str:
    """derive_key as it was first written (one uuid.UUID per call)."""
    text = "\x1f".join(str(part) for part in parts)
    digest = hashlib.sha256(text.encode()).hexdigest()
    return str(uuid.uuid5(NAMESPACE, digest))


def test_agrees_with_the_reference_on_many_inputs():
    source = random.Random(13)
    cases: list[tuple[object, ...]] = [("backfill-2026-11", f"A-{n}") for n in range(2000)]
    cases += [(n,) for n in range(2000)]
    cases += [
        tuple(source.choice(["x", 7, -3, 1.5, "é", "None", ""]) for _ in range(1 + n % 4))
        for n in range(2000)
    ]
    # The cases reach every value of the variant digit, the one the fast path computes.
    assert {reference_key(*case)[19] for case in cases} == set("89ab")
    assert [derive_key(*case) for case in cases] == [reference_key(*case) for case in cases]


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x1f")),
            st.integers(),
        ),
        min_size=1,
        max_size=4,
    )
)
def test_agrees_with_the_reference_on_any_parts(parts):
    assert derive_key(*parts) == reference_key(*parts)


def test_keys_already_sent_stay_the_same():
    # Pinned values: a change here would re-run every row of every resumed batch.
    assert derive_key("backfill-2026-11", "A-1") == "11d69f52-5e71-5869-b280-8da63fc6cba3"
    assert derive_key("x") == "8715a109-ec00-55d6-bc73-d392ed816653"
    parsed = uuid.UUID(derive_key("x"))
    assert (parsed.version, parsed.variant) == (5, uuid.RFC_4122)


def test_no_parts_is_refused():
    with pytest.raises(ValueError, match="at least one part"):
        derive_key()
