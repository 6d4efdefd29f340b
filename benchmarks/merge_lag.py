"""Merge one-round lag results into one table: ``python -m benchmarks.merge_lag OUT DIR...``.

For a before/after comparison the two library versions run in separate processes, one
round each in turn (before, after, before, ...); each writes a one-round ``lag.json``, and
this gathers one version's rounds into ``OUT/lag.{json,md,png}``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from . import _lag


def merge(out: Path, sources: list[Path], note: str = "") -> dict[str, Any]:
    documents = [json.loads((source / "lag.json").read_text()) for source in sources]
    first = documents[0]
    samples: dict[str, list[dict[str, Any]]] = {shape: [] for shape in first["samples"]}
    for document in documents:
        for shape, rows in document["samples"].items():
            samples[shape].extend(rows)
    merged = {
        **first,
        "settings": {**first["settings"], "rounds": len(documents)},
        "seconds": sum(document["seconds"] for document in documents),
        "summary": {shape: _lag._summary(rows) for shape, rows in samples.items()},
        "samples": samples,
        "note": note,
    }
    out.mkdir(parents=True, exist_ok=True)
    (out / "lag.json").write_text(json.dumps(merged, indent=2) + "\n")
    (out / "lag.md").write_text(_lag.markdown(merged))
    _lag.chart(merged, out / "lag.png")
    return merged


if __name__ == "__main__":
    merge(Path(sys.argv[1]), [Path(arg) for arg in sys.argv[2:]])
