"""No page and no message names a private module: readers see the names they can import.

The site is built as CI builds it (``mkdocs build --strict``) and every page is read; the
package's own strings (messages, CLI help) are read from its source. A private path such as
``zuora_wf_async._errors.ZuoraError`` in either invites code that breaks on the next
refactor; a default shown as ``timeout=DEFAULT_WAIT_TIMEOUT`` tells the reader nothing.
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PRIVATE = re.compile(r"zuora_wf_async(?:\.testing)?\._")
NAMED_DEFAULT = re.compile(r"=\s*(?:<[^>]+>\s*)*DEFAULT_[A-Z_]+")


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("site")
    built = subprocess.run(  # noqa: S603 -- our own interpreter and arguments
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--quiet", "-d", str(folder)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,  # a bound for a hung build, not a timing: it takes seconds
        check=False,
    )
    assert built.returncode == 0, built.stderr
    return folder


def test_no_page_names_a_private_module(site: Path) -> None:
    found = {
        str(page.relative_to(site)): sorted(set(PRIVATE.findall(page.read_text())))
        for page in site.rglob("*.html")
        if PRIVATE.search(page.read_text())
    }
    assert found == {}


def test_the_reference_shows_defaults_as_values(site: Path) -> None:
    client = (site / "reference" / "api" / "client" / "index.html").read_text()
    text = re.sub(r"<[^>]+>", "", client)

    assert not NAMED_DEFAULT.findall(text)
    assert re.search(r"timeout: float \| None = 3600", text)  # wait_for_run's default


def _strings_that_are_not_docstrings(tree: ast.AST) -> list[ast.Constant]:
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    return [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and id(node) not in docstrings
    ]


def test_no_message_names_a_private_module() -> None:
    found = [
        f"{path.relative_to(ROOT)}:{node.lineno}"
        for path in sorted((ROOT / "zuora_wf_async").rglob("*.py"))
        for node in _strings_that_are_not_docstrings(ast.parse(path.read_text()))
        if PRIVATE.search(node.value)
    ]
    assert found == []


def test_shell_commands_wrap_instead_of_running_off_the_page(site: Path) -> None:
    page = (site / "guides" / "cli" / "index.html").read_text()
    css = (site / "assets" / "css" / "extra.css").read_text()

    assert 'class="language-console highlight"' in page
    assert "assets/css/extra.css" in page
    assert re.search(r"\.language-console pre > code \{[^}]*white-space: pre-wrap", css)
