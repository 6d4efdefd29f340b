"""MkDocs hook: the bits of reST in our docstrings render cleanly.

Docstrings are written for ``help()`` and IDEs as well, so some use reST: roles such as
:class:`FakeZuora`, and a paragraph ending in ``::`` to introduce a literal block.
mkdocstrings renders Markdown, which leaves ``:class:`` in front of the code span and the
``::`` in the text. Drop the role, turn a trailing ``::`` into ``:``, and drop a paragraph
that is only ``::``.
"""

from __future__ import annotations

import re
from typing import Any

_ROLE = re.compile(r":(?:class|meth|func|attr|mod|exc|obj|data):(?=<code>)")
_LONE_MARKER = re.compile(r"<p>::</p>\n?")
_TRAILING_MARKER = re.compile(r"(?<=\S)::</p>")


def on_page_content(html: str, **_: Any) -> str:
    html = _ROLE.sub("", html)
    html = _LONE_MARKER.sub("", html)
    return _TRAILING_MARKER.sub(":</p>", html)
