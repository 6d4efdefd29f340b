"""The CLI reference is generated from the real parser, and the docs use only real flags."""

from __future__ import annotations

import argparse
import importlib.util
import re
import shlex
from pathlib import Path
from types import ModuleType

import pytest

from zuora_wf_async.cli import _parser

ROOT = Path(__file__).resolve().parents[2]
HOOK = ROOT / "docs" / "_hooks" / "cli_reference.py"
_CONSOLE_FENCE = re.compile(r"^\s*```console\s*$")


def load_hook() -> ModuleType:
    spec = importlib.util.spec_from_file_location("cli_reference_hook", HOOK)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def hook() -> ModuleType:
    return load_hook()


def options_of(parser: argparse.ArgumentParser) -> set[str]:
    return {option for action in parser._actions for option in action.option_strings}


def test_every_command_and_option_is_in_the_reference(hook):
    parser = _parser()
    reference = hook.render(parser)

    commands = hook.subcommands(parser)
    assert {name for name, _, _ in commands} >= {"demo", "run", "get", "batch", "fake-server"}
    for name, command, _ in commands:
        assert f"## `zuora-wf {name}`" in reference
        section = reference.split(f"## `zuora-wf {name}`", 1)[1].split("\n## ", 1)[0]
        for option in options_of(command) - {"-h", "--help"}:
            assert f"`{option}" in section, f"{name}: {option} missing"


def test_the_reference_shows_defaults_choices_and_group_descriptions(hook):
    reference = hook.render(_parser())
    demo = reference.split("## `zuora-wf demo`", 1)[1].split("\n## ", 1)[0]

    assert "| `--runs RUNS` | `2000` |" in demo
    assert "`us-sandbox`" in reference  # --env's choices
    assert "ZUORA_CLIENT_SECRET" in reference  # the connection group's description


def test_the_hook_replaces_only_its_marker(hook):
    untouched = "# A page\n\nNo marker here.\n"
    assert hook.on_page_markdown(untouched) == untouched

    page = hook.on_page_markdown(f"# CLI\n\n{hook.MARKER}\n")
    assert hook.MARKER not in page
    assert "## `zuora-wf batch`" in page


def test_a_pipe_in_help_text_does_not_break_the_table(hook):
    parser = argparse.ArgumentParser(prog="x")
    parser.add_argument("--mode", help="a | b", default="a")

    section = hook.render(parser)

    assert r"| `--mode MODE` | `a` | a \| b |" in section


def console_commands(text: str) -> list[list[str]]:
    """The ``zuora-wf`` command lines inside the ```console blocks of a page."""
    found: list[list[str]] = []
    inside = False
    pending = ""  # a command continued on the next line with a trailing backslash
    for line in text.splitlines():
        stripped = line.strip()
        if not inside:
            inside = bool(_CONSOLE_FENCE.match(line))
            continue
        if stripped.startswith("```"):
            inside = False
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        stripped, pending = pending + stripped, ""
        command = stripped.removeprefix("$ ").split("  #", 1)[0]
        words = shlex.split(command)
        if words[:2] == ["uv", "run"]:
            words = words[2:]
        if words[:1] == ["zuora-wf"]:
            found.append(words[1:])
    return found


def documented_commands() -> list[tuple[str, list[str]]]:
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
    return [
        (page.relative_to(ROOT).as_posix(), words)
        for page in pages
        for words in console_commands(page.read_text("utf-8"))
    ]


def test_docs_show_zuora_wf_commands():
    assert len(documented_commands()) >= 10


@pytest.mark.parametrize(("page", "words"), documented_commands(), ids=str)
def test_each_documented_command_uses_real_flags(page, words):
    commands = {name: command for name, command, _ in load_hook().subcommands(_parser())}
    assert words, f"{page}: a bare zuora-wf command"
    assert words[0] in commands, f"{page}: no command {words[0]!r}"
    known = options_of(commands[words[0]])
    for word in words[1:]:
        if word.startswith("--"):
            assert word.split("=", 1)[0] in known, f"{page}: zuora-wf {words[0]} has no {word}"


def test_a_command_continued_with_a_backslash_is_read_whole():
    page = "```console\n$ uv run zuora-wf batch 396 \\\n    --input rows.csv\n```\n"

    assert console_commands(page) == [["batch", "396", "--input", "rows.csv"]]
