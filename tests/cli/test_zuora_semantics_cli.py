"""``zuora-wf`` follows Zuora's semantics (issue 25): ``export`` exports the active version
unless ``--version`` says otherwise."""

from __future__ import annotations

import json
from pathlib import Path


async def test_export_defaults_to_the_active_version(cli, fake, capsys, tmp_path: Path):
    workflow_id = str(fake.create_workflow("Reviewed", tasks=[{"name": "Call"}]))
    path = tmp_path / "flow.json"
    assert await cli("export", workflow_id, "--output", str(path)) == 0
    assert await cli("import", str(path), "--workflow", workflow_id) == 0  # a draft 0.0.2
    capsys.readouterr()
    assert await cli("export", workflow_id) == 0
    assert json.loads(capsys.readouterr().out)["workflow"]["version"] == "0.0.1"
    assert await cli("export", workflow_id, "--version", "latest") == 0
    assert json.loads(capsys.readouterr().out)["workflow"]["version"] == "0.0.2"
    sent = [request.query.get("version") for request in fake.requests_to("export")]
    assert sent == [None, None, "latest"]
