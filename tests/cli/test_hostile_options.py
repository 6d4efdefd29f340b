"""Every command, every option, every positional: a hostile value is one line, never a trace.

``zuora-wf run 396 --params-json`` with 30,000 nested lists printed a RecursionError
traceback. Here each command's every argument (read from the parser itself, so a new
option is covered the day it is added) gets values chosen to break parsers: nesting past
the recursion limit, numbers past float and past the digit limit, NaN, bytes that are not
UTF-8, NUL, 100,000 characters, devices that never end (``/dev/zero``) or are always full,
a folder, a path that does not exist. The command must end with a documented exit code and
at most one line on stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import os
import signal
from pathlib import Path

import pytest

from zuora_wf_async.cli import _Parser, _parser, run_command
from zuora_wf_async.cli._journal import journal_parser

DOCUMENTED_EXITS = {0, 1, 2, 3}
DEEP = "[" * 30_000
# Every argument gets these.
HOSTILE = [
    "",
    "-1",
    "0",
    "nan",
    "1e999",
    "9" * 5000,  # past Python's 4,300-digit limit for int()
    DEEP,  # past the recursion limit of json and of anything recursive
    "\udcff",  # a byte that is not UTF-8, as Python hands it over from argv
    "a\x00b",
    "line\nbreak",
    "x" * 100_000,
    "{0}{}",
    "/dev/zero",  # never ends
    "/",
]
# And these where they mean something more: JSON, files written or read, URLs.
FILES = ["/dev/full", "/no/such/folder/file"]
EXTRA = {
    "--param": ["k:=" + DEEP, "k:=NaN", "k:=" + "9" * 5000, "=x", "k:=" + "{" * 30_000],
    "--params-json": ['{"k": ' + DEEP, '{"k": NaN}', '{"k": ' + "9" * 5000 + "}"],
    "--faults": ["slow:" + "9" * 5000, "quota:1:window=nan", "slow:nan", "slow:inf"],
    "--base-url": ["http://[", "http://127.0.0.1:99999", "ftp://x"],
    "--redis-url": ["http://[", "redis://\udcff"],
    "--key-template": ["{accountId!r:{}}", "{a.b}", "{" * 10_000],
    **dict.fromkeys(("--input", "--journal", "--output", "#file", "#journal"), FILES),
    **dict.fromkeys(("--client-secret-file", "--bearer-token-file"), FILES),
}
# The connection options (the "connection" group) are one function on every command
# (add_connection_options and make_client): every value through each way commands reach
# it, a sample on the others.
EVERY_VALUE_FOR_CONNECTION = {"get", "workflow", "batch", "batch stop"}
SAMPLE = [DEEP, "\udcff", "a\x00b", "/dev/zero"]
AT = "2026-11-28T09:00:00.000Z"
HEADER = {"journal": "zuora-wf-journal/2", "workflow_id": 396, "key_scheme": "content", "at": AT}

# Each command's valid arguments, into which one hostile value is put at a time. Ids that
# do not exist at the fake end every call with a 404 at once (exit 1).
BASE: dict[str, tuple[list[str], dict[str, str], list[str]]] = {
    # command words, options, positionals
    "demo": (["demo"], {"--runs": "3"}, []),
    "run": (["run"], {}, ["396"]),
    "get": (["get"], {}, ["999999"]),
    "wait": (["wait"], {}, ["999999"]),
    "stop": (["stop"], {}, ["999999"]),
    "tasks": (["tasks"], {}, ["999999"]),
    "batch": (["batch"], {"--input": "{rows}", "--journal": "{journal}"}, ["396"]),
    "batch report": (["batch", "report"], {}, ["{done}"]),
    "batch stop": (["batch", "stop"], {}, ["{done}"]),
    "fake-server": (["fake-server"], {}, []),
    "workflows": (["workflows"], {}, []),
    "usage": (["usage"], {"--from": "2026-01-01", "--to": "2026-01-02"}, []),
    "import": (["import"], {}, ["{export}"]),
}
BASE["tenant"] = (["tenant"], {}, [])
BASE["update-workflow"] = (["update-workflow"], {"--name": "x"}, ["999999"])
BASE["update-tasks"] = (["update-tasks"], {}, ["{export}"])
for _name in ("delete-workflow", "delete-version", "rerun-failed"):
    BASE[_name] = ([_name], {}, ["999999"])
for _name in ("workflow", "activate", "deactivate", "versions", "task", "rerun", "export"):
    BASE[_name] = ([_name], {}, ["999999"])


def _takes_a_value(action: argparse.Action) -> bool:
    return not (action.option_strings and action.nargs == 0)


@functools.cache
def _parsers() -> dict[str, argparse.ArgumentParser]:
    found: dict[str, argparse.ArgumentParser] = {}
    for action in _parser()._actions:
        if isinstance(action, argparse._SubParsersAction):
            found.update(action.choices)
    for name in ("report", "stop"):
        found[f"batch {name}"] = journal_parser(_Parser, name)
    return found


def _arguments() -> list[tuple[str, str]]:
    """(command, option or ``#name`` of a positional) for every argument taking a value."""
    pairs = []
    for command, parser in _parsers().items():
        for action in parser._actions:
            if not _takes_a_value(action):
                continue
            if action.option_strings:
                pairs.append((command, max(action.option_strings, key=len)))
            else:
                pairs.append((command, f"#{action.dest}"))
    return pairs


def _values(command: str, argument: str) -> list[str]:
    if argument in CONNECTION and command not in EVERY_VALUE_FOR_CONNECTION:
        return SAMPLE
    return HOSTILE + EXTRA.get(argument, [])


def _connection_options() -> set[str]:
    return {
        max(action.option_strings, key=len)
        for parser in _parsers().values()
        for group in parser._action_groups
        if group.title == "connection"
        for action in group._group_actions
    }


ARGUMENTS = _arguments()
CONNECTION = _connection_options()


def test_every_command_has_a_base_and_every_argument_is_covered():
    assert set(BASE) >= {command for command, _ in ARGUMENTS}  # a new command needs a base
    assert len(ARGUMENTS) > 150  # the shared connection options on every command
    assert {"--env", "--base-url", "--client-secret-file", "--redis-url"} <= CONNECTION
    connected = {command for command, argument in ARGUMENTS if argument == "--env"}
    assert connected >= EVERY_VALUE_FOR_CONNECTION
    for command in connected:
        assert {argument for c, argument in ARGUMENTS if c == command} >= CONNECTION
    assert set(EXTRA) - {argument for _, argument in ARGUMENTS} == set()


def _argv(command: str, argument: str, value: str, files: dict[str, str]) -> list[str]:
    words, base_options, base_positionals = BASE[command]
    options = {option: given.format(**files) for option, given in base_options.items()}
    positionals = [given.format(**files) for given in base_positionals]
    if argument.startswith("#"):
        names = [a.dest for a in _parsers()[command]._actions if not a.option_strings]
        positionals[names.index(argument[1:])] = value
    else:
        options[argument] = value
    argv = [*words, *(f"{option}={given}" for option, given in options.items())]
    return [*argv, "--", *positionals] if positionals else argv


@pytest.fixture
def files(tmp_path: Path) -> dict[str, str]:
    rows = tmp_path / "rows.jsonl"
    rows.write_text('{"a": 1}\n', encoding="utf-8")
    done = tmp_path / "done.jsonl"
    done.write_text(json.dumps(HEADER) + "\n", encoding="utf-8")
    export = tmp_path / "export.json"
    export.write_text(json.dumps({"workflow": {"name": "x"}, "tasks": []}), encoding="utf-8")
    return {"rows": str(rows), "done": str(done), "export": str(export), "journal": ""}


async def _serve_then_interrupt(argv: list[str], environ, capsys) -> tuple[int, str]:
    """fake-server runs until SIGINT: send it one once it says it is ready (or has ended)."""
    task = asyncio.ensure_future(run_command(argv, environ=environ))
    seen = ""
    while not task.done():
        captured = capsys.readouterr()
        seen += captured.err
        if "ready" in seen:
            os.kill(os.getpid(), signal.SIGINT)
            break
        await asyncio.sleep(0.01)  # polling for the line, not waiting for time to pass
    code = await asyncio.wait_for(task, timeout=30)
    return code, seen + capsys.readouterr().err


@pytest.mark.parametrize(("command", "argument"), ARGUMENTS, ids=[" ".join(a) for a in ARGUMENTS])
async def test_a_hostile_value_is_a_documented_exit_and_one_line(
    command, argument, environ, files, tmp_path, capsys, monkeypatch
):
    monkeypatch.chdir(tmp_path)  # a value taken as a relative path lands here
    for number, value in enumerate(_values(command, argument)):
        files["journal"] = str(tmp_path / f"journal-{number}.jsonl")
        argv = _argv(command, argument, value, files)
        shown = f"{command} {argument}={value[:40]!r}"
        if command == "fake-server":
            code, err = await _serve_then_interrupt(argv, environ, capsys)
        else:
            code = await asyncio.wait_for(run_command(argv, environ=environ), timeout=60)
            err = capsys.readouterr().err
        assert code in DOCUMENTED_EXITS, f"{shown}: exit {code}: {err[-2000:]}"
        assert "Traceback" not in err, f"{shown}: {err[-2000:]}"
        lines = [line for line in err.splitlines() if not line.startswith("fake-server: ")]
        assert len(lines) <= 1, f"{shown}: {err[-2000:]}"
