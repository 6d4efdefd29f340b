"""MkDocs hook: the CLI reference page is generated from ``zuora-wf``'s argparse parser.

A page that contains the line ``<!-- cli-reference -->`` gets it replaced by one section per
command: its usage line and a table of its arguments (flags, default, help), read from the
same parser the command line runs, so the reference cannot drift from the code.
"""

from __future__ import annotations

import argparse
from typing import Any

MARKER = "<!-- cli-reference -->"
PROGRAM = "zuora-wf"
USAGE_WIDTH = 88  # fits the page's code column without scrolling


def on_page_markdown(markdown: str, **_: Any) -> str:
    if MARKER not in markdown:
        return markdown
    from zuora_wf_async.cli import _parser  # the parser `zuora-wf` itself uses

    return markdown.replace(MARKER, render(_parser()))


def render(parser: argparse.ArgumentParser) -> str:
    """Markdown for the top-level options and every subcommand of ``parser``."""
    sections = [_section(PROGRAM, parser, parser.description or "", level=2)]
    for name, command, summary in subcommands(parser):
        sections.append(_section(f"{PROGRAM} {name}", command, summary, level=2))
    return "\n".join(sections)


def subcommands(
    parser: argparse.ArgumentParser,
) -> list[tuple[str, argparse.ArgumentParser, str]]:
    """``(name, parser, one-line help)`` of each subcommand, in the order they were added."""
    found: list[tuple[str, argparse.ArgumentParser, str]] = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {choice.dest: choice.help or "" for choice in action._choices_actions}
            found.extend(
                (name, command, helps.get(name, "")) for name, command in action.choices.items()
            )
    return found


def _section(title: str, parser: argparse.ArgumentParser, summary: str, *, level: int) -> str:
    lines = [f"{'#' * level} `{title}`", ""]
    if summary:
        lines += [_sentence(summary), ""]
    lines += ["```text", _usage(parser), "```", ""]
    for group in parser._action_groups:
        rows = [_row(action) for action in group._group_actions if _documented(action)]
        if not rows:
            continue
        caption = f"**{group.title.capitalize()}**" if group.title else ""
        if group.description:
            caption += f": {_sentence(group.description)}"
        lines += [caption, "", "| argument | default | meaning |", "|---|---|---|", *rows, ""]
    return "\n".join(lines)


def _usage(parser: argparse.ArgumentParser) -> str:
    """The usage text wrapped at a fixed width, so the page is the same on every machine."""
    formatter = argparse.HelpFormatter(prog=parser.prog, width=USAGE_WIDTH)
    formatter.add_usage(parser.usage, parser._actions, parser._mutually_exclusive_groups, "")
    return formatter.format_help().strip("\n")


def _documented(action: argparse.Action) -> bool:
    return (
        not isinstance(action, argparse._SubParsersAction | argparse._HelpAction)
        and action.help != argparse.SUPPRESS
    )


def _row(action: argparse.Action) -> str:
    if action.option_strings:
        metavar = "" if action.nargs == 0 else f" {action.metavar or action.dest.upper()}"
        names = ", ".join(f"`{option}{metavar}`" for option in action.option_strings)
    else:
        names = f"`{action.metavar or action.dest}`"
    if action.required and action.option_strings:
        names += " (required)"
    if isinstance(action, argparse._AppendAction):
        names += " (repeatable)"
    meaning = action.help or ""
    if action.choices is not None and not isinstance(action.choices, dict):
        choices = ", ".join(f"`{choice}`" for choice in action.choices)
        meaning = f"{meaning}; one of {choices}" if meaning else f"one of {choices}"
    return f"| {names} | {_default(action)} | {_cell(meaning)} |"


def _default(action: argparse.Action) -> str:
    default = action.default
    if action.nargs == 0 or default is None or default == [] or default is argparse.SUPPRESS:
        return ""
    return f"`{default}`"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _sentence(text: str) -> str:
    text = text.strip()
    return text[:1].upper() + text[1:] + ("" if text.endswith(".") else ".")
