"""Merge one-round results into one table: ``python -m benchmarks.merge_rounds cpu|lag OUT DIR...``.

For a before/after comparison the two library versions run in separate processes, one
round each in turn (before, after, before, ...); each writes a one-round ``cpu.json`` or
``lag.json``, and this gathers one version's rounds into ``OUT/cpu.*`` or ``OUT/lag.*``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from . import _cpu, _lag


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


def merge_cpu(out: Path, sources: list[Path], note: str = "") -> dict[str, Any]:
    documents = [json.loads((source / "cpu.json").read_text()) for source in sources]
    first = documents[0]
    samples: dict[str, dict[str, list[dict[str, Any]]]] = {
        mode: {shape: [] for shape in shapes} for mode, shapes in first["samples"].items()
    }
    for document in documents:
        for mode, shapes in document["samples"].items():
            for shape, rows in shapes.items():
                samples[mode][shape].extend(rows)
    merged = {
        **first,
        "settings": {**first["settings"], "rounds": len(documents)},
        "seconds": sum(document["seconds"] for document in documents),
        "summary": _cpu.summarise(samples),
        "samples": samples,
        "note": note,
    }
    out.mkdir(parents=True, exist_ok=True)
    (out / "cpu.json").write_text(json.dumps(merged, indent=2) + "\n")
    (out / "cpu.md").write_text(_cpu.markdown(merged))
    _cpu.chart(merged, out / "cpu.png")
    return merged


if __name__ == "__main__":
    kind, target, *sources = sys.argv[1:]
    (merge_cpu if kind == "cpu" else merge)(Path(target), [Path(arg) for arg in sources])
