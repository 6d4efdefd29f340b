"""Every operation of ``WorkflowClient`` has a ``zuora-wf`` command (issue 25 item 7).

The list of operations is read from the class itself: a public method added to the
client without a row in ``cli/_coverage.OPERATIONS`` (and so without a command) fails
here. Each row's command and flags must be the parser's own, and the Workflow API guide
must print the same table.
"""

from __future__ import annotations

import argparse
import inspect
import re
from pathlib import Path

from zuora_wf_async import WorkflowClient
from zuora_wf_async.cli import _parser
from zuora_wf_async.cli._coverage import NOT_OPERATIONS, OPERATIONS

ROOT = Path(__file__).resolve().parents[2]
GUIDE = ROOT / "docs" / "guides" / "workflow-api.md"


def _public_methods() -> set[str]:
    """Every public method of the client: functions, not properties or attributes."""
    return {
        name
        for name, member in inspect.getmembers(WorkflowClient)
        if not name.startswith("_") and (inspect.isfunction(member) or inspect.ismethod(member))
    }


def _commands() -> dict[str, argparse.ArgumentParser]:
    for action in _parser()._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    raise AssertionError("zuora-wf has no commands")


def test_every_public_method_is_an_operation_with_a_command_or_named_as_not_one():
    methods = _public_methods()
    assert {"run_workflow", "delete_workflow", "update_tasks", "rerun_failed_tasks"} <= methods
    missing = methods - set(OPERATIONS) - set(NOT_OPERATIONS)
    assert not missing, f"WorkflowClient methods without a zuora-wf command: {sorted(missing)}"
    gone = (set(OPERATIONS) | set(NOT_OPERATIONS)) - methods
    assert not gone, f"rows for methods the client no longer has: {sorted(gone)}"


def test_each_command_and_flag_of_the_table_is_the_parsers_own():
    commands = _commands()
    for method, (_what, command) in OPERATIONS.items():
        name, *words = command.split()
        assert name in commands, f"{method}: no command {name!r}"
        flags = {option for action in commands[name]._actions for option in action.option_strings}
        for word in words:
            if word.startswith("--"):
                assert word in flags, f"{method}: zuora-wf {name} has no {word}"


def test_the_workflow_api_guide_prints_the_same_table():
    rows = {}
    for line in GUIDE.read_text("utf-8").splitlines():
        found = re.fullmatch(r"\| (.+?) \| `(\w+)` \| `zuora-wf (.+?)` \|", line)
        if found:
            rows[found[2]] = (found[1], found[3])
    assert rows == dict(OPERATIONS)
