"""The package logs to "zuora_wf_async" and, as a library, adds only a NullHandler."""

from __future__ import annotations

import logging

import zuora_wf_async


def test_the_package_logger_has_a_null_handler_and_nothing_else():
    handlers = logging.getLogger("zuora_wf_async").handlers
    assert zuora_wf_async.__name__ == "zuora_wf_async"
    assert [type(handler) for handler in handlers] == [logging.NullHandler]
