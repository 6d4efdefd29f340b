"""The public surface of zuora_wf_async.testing is pinned here."""

from zuora_wf_async import testing


def test_all_is_sorted_and_importable():
    assert testing.__all__ == sorted(testing.__all__)
    for name in testing.__all__:
        assert getattr(testing, name) is not None


def test_promised_names_are_exported():
    promised = {
        "FakeZuora",
        "FaultPlan",
        "Fault",
        "ManualClock",
        "RecordedRequest",
        "Execution",
        "WorkflowConfig",
    }
    assert promised <= set(testing.__all__)


def test_docstring_documents_the_behaviour():
    doc = testing.__doc__ or ""
    for topic in ("Idempotency", "UNCONFIRMED", "gzip", "RateLimit", "ManualClock"):
        assert topic in doc
