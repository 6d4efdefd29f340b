"""MkDocs hook: Sphinx roles in docstrings render as plain code.

Some docstrings say :class:`FakeZuora` (reST, read by ``help()`` and IDEs); mkdocstrings
renders Markdown, which leaves ``:class:`` in front of the code span. Drop the role.
"""

from __future__ import annotations

import re
from typing import Any

_ROLE = re.compile(r":(?:class|meth|func|attr|mod|exc|obj|data):(?=<code>)")


def on_page_content(html: str, **_: Any) -> str:
    return _ROLE.sub("", html)
