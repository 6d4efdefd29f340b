"""MkDocs hook: pages name public objects by their public path, never a private module.

mkdocstrings names each object by where it is defined (``zuora_wf_async._errors.ZuoraError``)
in anchors, link targets and link titles. Readers import it as ``zuora_wf_async.ZuoraError``,
and a private path in a page invites code that breaks on the next refactor. After every
page is rendered and its links resolved, each private path whose last name is exported by
the package (or by ``zuora_wf_async.testing``) is rewritten to the public one, everywhere on
every page at once, so anchors and the links to them still agree; any other private path
(an internal type named in a signature) keeps only its last name.
"""

from __future__ import annotations

import re
from typing import Any

from mkdocs.plugins import event_priority

import zuora_wf_async
import zuora_wf_async.testing

_PUBLIC = {
    "zuora_wf_async": set(zuora_wf_async.__all__),
    "zuora_wf_async.testing": set(zuora_wf_async.testing.__all__),
}
# zuora_wf_async(.testing)?._private(._more)*.Name(.member)*
_PRIVATE_PATH = re.compile(
    r"\bzuora_wf_async(?P<testing>\.testing)?(?:\._[A-Za-z0-9_]+)+(?:\.[a-z][A-Za-z0-9_]*)*"
    r"\.(?P<name>[A-Z_a-z][A-Za-z0-9_]*)(?P<rest>(?:\.[A-Za-z_][A-Za-z0-9_]*)*)"
)


def public_path(match: re.Match[str]) -> str:
    package = "zuora_wf_async" + (match["testing"] or "")
    if match["name"] in _PUBLIC[package]:
        return f"{package}.{match['name']}{match['rest']}"
    # Not exported (a type alias, an internal type in a signature): its bare name, which
    # names no module; such objects are never rendered, so no anchor is lost.
    return f"{match['name']}{match['rest']}"


@event_priority(-100)  # after autorefs has resolved every link
def on_post_page(output: str, **_: Any) -> str:
    return _PRIVATE_PATH.sub(public_path, output)
