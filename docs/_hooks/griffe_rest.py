"""Griffe extension: reST structures in our docstrings become Markdown before rendering.

Docstrings are written for ``help()`` as much as for this site, and some use reST
definition lists (a term line, then its definition indented under it) and bullet lists
that start right after a line of text. Markdown reads the first as one run-on paragraph
(or, after a blank line, as a code block) and the second as part of the paragraph. This
rewrites both, leaving literal blocks (after a line ending in ``::``) untouched.
"""

from __future__ import annotations

from typing import Any

import griffe

INDENT = "    "
GOOGLE_SECTIONS = ("Args:", "Arguments:", "Returns:", "Raises:", "Yields:", "Attributes:")


class RestDocstrings(griffe.Extension):
    def on_instance(self, *, obj: griffe.Object, **_: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = rest_to_markdown(obj.docstring.value)


def rest_to_markdown(text: str) -> str:
    return "\n".join(_separate_lists(_flatten_definitions(text.split("\n"))))


def _flatten_definitions(lines: list[str]) -> list[str]:
    """``term`` + indented definition -> the term as a paragraph, then the definition."""
    out: list[str] = []
    index = 0
    while index < len(lines):
        line = lines[index]
        following = lines[index + 1] if index + 1 < len(lines) else ""
        starts_definition = (
            line.strip()
            and not line.startswith(" ")
            and not line.rstrip().endswith("::")
            and line.strip() not in GOOGLE_SECTIONS
            and following.startswith(INDENT)
            and following.strip()
            and (not out or not out[-1].strip() or _is_underline(out[-1]))
        )
        if not starts_definition:
            out.append(line)
            index += 1
            continue
        out += [line, ""]
        index += 1
        while index < len(lines) and (not lines[index].strip() or lines[index][:1] == " "):
            out.append(lines[index].removeprefix(INDENT))
            index += 1
    return out


def _is_underline(line: str) -> bool:
    """A reST/Markdown heading underline such as ``-----``."""
    return bool(line.strip()) and set(line.strip()) <= {"-", "="}


def _separate_lists(lines: list[str]) -> list[str]:
    """A blank line before a bullet list that follows text, as Markdown needs."""
    out: list[str] = []
    in_literal = False
    for line in lines:
        stripped = line.lstrip()
        if in_literal and stripped and not line.startswith(INDENT):
            in_literal = False
        is_bullet = stripped.startswith(("* ", "- ")) and not line.startswith(INDENT)
        previous = out[-1] if out else ""
        if (
            not in_literal
            and is_bullet
            and previous.strip()
            and not previous.lstrip().startswith(("* ", "- "))
            and not previous.startswith("  ")
        ):
            out.append("")
        out.append(line)
        if line.rstrip().endswith("::"):
            in_literal = True
    return out
