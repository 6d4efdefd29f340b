"""MkDocs hook: the benchmark charts are taken from benchmarks/results/ at build time.

The benchmarks write their tables and PNG charts under ``benchmarks/results/``. This hook
copies every chart there into the site under ``assets/benchmarks/`` and replaces the line
``<!-- benchmark-charts -->`` of a page with one image per chart, so the results page always
shows the latest run, chart files added later included, and no copy is committed.
"""

from __future__ import annotations

import posixpath
from pathlib import Path
from typing import Any

from mkdocs.config.defaults import MkDocsConfig
from mkdocs.structure.files import File, Files
from mkdocs.structure.pages import Page

RESULTS = Path("benchmarks") / "results"
TARGET = "assets/benchmarks"
MARKER = "<!-- benchmark-charts -->"


def charts(root: Path) -> list[Path]:
    return sorted((root / RESULTS).glob("*.png"))


def on_files(files: Files, config: MkDocsConfig, **_: Any) -> Files:
    for chart in charts(Path(config.config_file_path).parent):
        files.append(
            File.generated(config, f"{TARGET}/{chart.name}", abs_src_path=str(chart.resolve()))
        )
    return files


def on_page_markdown(markdown: str, page: Page, config: MkDocsConfig, **_: Any) -> str:
    if MARKER not in markdown:
        return markdown
    return markdown.replace(
        MARKER, images(charts(Path(config.config_file_path).parent), page.file.src_uri)
    )


def images(found: list[Path], page_uri: str) -> str:
    """Markdown images for ``found`` charts, linked relative to the page at ``page_uri``."""
    here = posixpath.dirname(page_uri) or "."
    return "\n\n".join(
        f"![{chart.stem.replace('_', ' ')}]({posixpath.relpath(f'{TARGET}/{chart.name}', here)})"
        for chart in found
    )
