"""MkDocs hook: the benchmark charts are copied from benchmarks/results/ at build time.

The benchmarks write their tables and PNG charts under ``benchmarks/results/``; the results
page includes the tables (pymdownx.snippets) and shows the charts from
``assets/benchmarks/``, which this hook fills, so the site always shows the latest run and
no copy is committed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mkdocs.config.defaults import MkDocsConfig
from mkdocs.structure.files import File, Files

RESULTS = Path("benchmarks") / "results"
TARGET = "assets/benchmarks"


def on_files(files: Files, config: MkDocsConfig, **_: Any) -> Files:
    root = Path(config.config_file_path).parent
    for chart in sorted((root / RESULTS).glob("*.png")):
        files.append(
            File.generated(config, f"{TARGET}/{chart.name}", abs_src_path=str(chart.resolve()))
        )
    return files
