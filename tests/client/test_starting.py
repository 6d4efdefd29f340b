"""Keys the client makes for runs that bring none of their own."""

from __future__ import annotations

import uuid

from zuora_wf_async._starting import new_idempotency_key


def test_new_idempotency_keys_are_canonical_random_uuid4s():
    keys = [new_idempotency_key() for _ in range(2000)]
    assert len(set(keys)) == 2000
    for key in keys:
        parsed = uuid.UUID(key)
        assert str(parsed) == key
        assert parsed.version == 4
        assert parsed.variant == uuid.RFC_4122
