"""The small MkDocs hooks that are not covered by the CLI reference tests."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[2]


def load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, ROOT / "docs" / "_hooks" / f"{name}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_sphinx_roles_before_code_are_dropped_and_nothing_else():
    hook = load("rest_markup")
    html = (
        "<p>A :class:<code>FakeZuora</code> and :meth:<code>reset()</code>; "
        "a literal :class: without code stays.</p>"
    )

    assert hook.on_page_content(html) == (
        "<p>A <code>FakeZuora</code> and <code>reset()</code>; "
        "a literal :class: without code stays.</p>"
    )


def test_literal_block_markers_are_tidied():
    hook = load("rest_markup")

    assert hook.on_page_content("<p>In one tree.</p>\n<p>::</p>\n<pre>") == (
        "<p>In one tree.</p>\n<pre>"
    )
    assert hook.on_page_content("<p>For example::</p>") == "<p>For example:</p>"
    assert hook.on_page_content("<pre>a::</pre>") == "<pre>a::</pre>"


def test_rest_definition_and_bullet_lists_become_markdown():
    rest = load("griffe_rest").rest_to_markdown
    docstring = """Endpoints
---------
``POST /run``, checked in this order
    * the key
    * the body, which
      goes on here
    otherwise 200.

    Every id exists.
Quick start::

    term
        not a definition: a literal block
Args:
    x: kept for the Google parser"""

    assert (
        rest(docstring)
        == """Endpoints
---------
``POST /run``, checked in this order

* the key
* the body, which
  goes on here
otherwise 200.

Every id exists.
Quick start::

    term
        not a definition: a literal block
Args:
    x: kept for the Google parser"""
    )


def test_every_chart_becomes_an_image_linked_from_the_page():
    hook = load("benchmark_charts")
    found = [Path("/x/benchmarks/results/results.png"), Path("/x/benchmarks/results/soak_rss.png")]

    assert hook.images(found, "benchmark-results.md") == (
        "![results](assets/benchmarks/results.png)\n\n![soak rss](assets/benchmarks/soak_rss.png)"
    )
    assert hook.images(found[:1], "reference/bench.md") == (
        "![results](../assets/benchmarks/results.png)"
    )


def test_the_results_page_has_the_marker_and_there_are_charts():
    hook = load("benchmark_charts")
    page = (ROOT / "docs" / "benchmark-results.md").read_text("utf-8")

    assert hook.MARKER in page
    assert hook.charts(ROOT)
