"""The fault plan's selection rules, judged without any HTTP (pure and seeded)."""

import pytest

from zuora_wf_async.testing import Fault, FaultPlan
from zuora_wf_async.testing._faults import FaultEngine


def kinds(engine, endpoint="run", n=10, now=0.0):
    out = []
    for _ in range(n):
        decision = engine.decide(endpoint, now)
        if decision.throttle is not None:
            out.append(decision.throttle.kind)
        elif decision.fault is not None:
            out.append(decision.fault.kind)
        else:
            out.append(None)
    return out


def test_on_selects_request_numbers():
    engine = FaultEngine(FaultPlan(rules=[Fault.error_before_record(on=[2, 4])]))
    assert kinds(engine, n=5) == [None, "error_before_record", None, "error_before_record", None]


def test_rules_only_see_their_endpoints():
    engine = FaultEngine(FaultPlan(rules=[Fault.error_before_record(on=[1])]))
    assert kinds(engine, "get_run", n=2) == [None, None]
    assert kinds(engine, "run", n=1) == ["error_before_record"]


def test_same_seed_same_faults_and_different_seed_differs():
    def plan(seed):
        return FaultPlan(seed=seed, rules=[Fault.error_after_record(probability=0.5)])

    first = kinds(FaultEngine(plan(7)), n=40)
    assert kinds(FaultEngine(plan(7)), n=40) == first
    assert kinds(FaultEngine(plan(8)), n=40) != first
    assert 5 < first.count("error_after_record") < 35


def test_times_caps_firing():
    engine = FaultEngine(FaultPlan(rules=[Fault.drop_after_record(times=2)]))
    assert kinds(engine, n=4) == ["drop_after_record", "drop_after_record", None, None]


def test_first_firing_rule_wins():
    engine = FaultEngine(
        FaultPlan(rules=[Fault.slow(1.0, on=[1]), Fault.error_before_record(on=[1, 2])])
    )
    assert kinds(engine, n=2) == ["slow", "error_before_record"]


def test_burst_throttles_consecutive_requests_and_suppresses_other_faults():
    engine = FaultEngine(
        FaultPlan(
            rules=[Fault.rate_limit_burst(3, retry_after=4, on=[2]), Fault.error_before_record()]
        )
    )
    decisions = [engine.decide("run", 0.0) for _ in range(5)]
    assert [d.throttle.kind if d.throttle else None for d in decisions] == [
        None,
        "rate_limit_burst",
        "rate_limit_burst",
        "rate_limit_burst",
        None,
    ]
    assert decisions[1].throttle.retry_after == 4
    assert [d.fault is not None for d in decisions] == [True, False, False, False, True]


def test_expire_token_combines_with_another_fault():
    engine = FaultEngine(
        FaultPlan(rules=[Fault.expire_token(on=[1]), Fault.error_before_record(on=[1])])
    )
    decision = engine.decide("run", 0.0)
    assert decision.expire_tokens
    assert decision.fault is not None


def test_quota_counts_in_clock_aligned_windows():
    engine = FaultEngine(FaultPlan(rules=[Fault.quota(2, window=10.0)]))
    assert kinds(engine, n=3, now=5.0) == [None, None, "quota"]
    assert engine.decide("run", 5.0).throttle.reset_in == 5
    assert kinds(engine, n=1, now=10.0) == [None]


@pytest.mark.parametrize(
    "build",
    [
        lambda: Fault.error_before_record(200),
        lambda: Fault.error_after_record(probability=1.5),
        lambda: Fault.quota(1, window=0),
        lambda: Fault.rate_limit_burst(0),
        lambda: Fault.slow(-1.0),
        lambda: Fault.drop_after_record(on=[0]),
        lambda: Fault.expire_token(endpoints=["nowhere"]),
    ],
)
def test_invalid_rules_are_refused(build):
    with pytest.raises(ValueError):  # noqa: PT011  # each row has its own message
        build()
