"""The longest wait after a failure: doubles from ``base`` to ``cap`` and never overflows."""

from __future__ import annotations

import pytest

from zuora_wf_async._core.retry import backoff_ceiling


@pytest.mark.parametrize(
    ("attempt", "ceiling"),
    [
        (0, 0.5),
        (1, 0.5),
        (2, 1.0),
        (4, 4.0),
        (7, 30.0),  # 0.5 * 64 = 32, capped
        (1025, 30.0),  # 2.0 ** 1024 raised OverflowError
        (10**6, 30.0),
    ],
)
def test_the_ceiling_doubles_up_to_the_cap(attempt: int, ceiling: float) -> None:
    assert backoff_ceiling(attempt, base=0.5, cap=30.0) == ceiling
