"""One meaning per flag (issue 25 item 8).

``--timeout`` was the wait limit in ``run`` and ``wait`` but seconds per HTTP attempt in
``batch``, which waited with ``--wait-timeout``. Now ``--wait-timeout`` and
``--request-timeout`` mean one thing each, everywhere; ``--timeout`` keeps its old meaning
in each command for one release and says so in one line on stderr.
"""

from __future__ import annotations

import argparse
import json

import pytest

from zuora_wf_async.cli import _parser
from zuora_wf_async.cli._config import UsageError, add_tuning_options, make_client
from zuora_wf_async.testing import FakeZuora


def _options(command: str) -> set[str]:
    for action in _parser()._actions:
        if isinstance(action, argparse._SubParsersAction):
            parser = action.choices[command]
            return {option for a in parser._actions for option in a.option_strings}
    raise AssertionError(command)


def test_the_two_names_and_where_they_are():
    assert {"--wait-timeout", "--timeout"} <= _options("run")
    assert {"--wait-timeout", "--timeout"} <= _options("wait")
    assert {"--wait-timeout", "--request-timeout", "--timeout"} <= _options("batch")


def _one_deprecation(err: str, old: str, new: str) -> None:
    (line,) = err.splitlines()
    assert line.startswith(f"zuora-wf: warning: {old} is deprecated, use {new}")


@pytest.mark.parametrize("command", ["run", "wait"])
async def test_the_wait_limit_is_wait_timeout_and_timeout_still_works_with_a_warning(
    cli, fake, capsys, command
):
    assert await cli("run", "396") == 0
    run_id = str(json.loads(capsys.readouterr().out)["id"])
    argv = ["run", "396", "--wait"] if command == "run" else ["wait", run_id]
    assert await cli(*argv, "--wait-timeout", "600") == 0
    assert capsys.readouterr().err == ""
    assert await cli(*argv, "--timeout", "600") == 0
    captured = capsys.readouterr()
    _one_deprecation(captured.err, "--timeout", "--wait-timeout")
    assert json.loads(captured.out.splitlines()[-1])["status"] == "Finished"


async def test_a_zero_wait_timeout_is_the_wait_limit(cli, capsys):
    """--wait-timeout 0 on a run that stays Queued: the wait gives up (exit 1)."""
    async with FakeZuora(queued_seconds=10_000) as fake:
        env = {
            "ZUORA_BASE_URL": fake.base_url,
            "ZUORA_CLIENT_ID": fake.client_id,
            "ZUORA_CLIENT_SECRET": fake.client_secret,
        }
        assert await cli("run", "396", "--wait", "--wait-timeout", "0", env=env) == 1
    assert "RunWaitTimeoutError" in capsys.readouterr().err


def _tuned(argv: list[str]):
    parser = argparse.ArgumentParser()
    parser.add_argument("--entity-ids")
    parser.add_argument("--org-ids")
    add_tuning_options(parser)
    args = parser.parse_args(argv)
    args.env = args.base_url = args.client_id = None
    args.client_secret_file = args.bearer_token_file = None
    environ = {"ZUORA_BASE_URL": "http://127.0.0.1:9", "ZUORA_BEARER_TOKEN": "t"}
    return make_client(args, environ)


def test_request_timeout_is_seconds_per_attempt_and_timeout_its_old_name():
    assert _tuned(["--request-timeout", "7"]).timeout == 7
    assert _tuned(["--timeout", "8"]).timeout == 8
    with pytest.raises(UsageError, match="--request-timeout: expected a number"):
        _tuned(["--request-timeout", "-1"])
    with pytest.raises(UsageError, match="--timeout: expected a number"):  # as typed
        _tuned(["--timeout", "-1"])


async def test_batch_timeout_warns_and_request_timeout_does_not(cli, write_jsonl, capsys):
    rows = write_jsonl([{"accountId": "A-1"}])
    argv = ["batch", "396", "--input", str(rows), "--dry-run"]
    assert await cli(*argv, "--request-timeout", "5") == 0
    assert capsys.readouterr().err == ""
    assert await cli(*argv, "--timeout", "5") == 0
    _one_deprecation(capsys.readouterr().err, "--timeout", "--request-timeout")
