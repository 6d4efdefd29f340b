"""Connection settings, usage errors (exit 2, one line) and secrets kept out of output."""

from __future__ import annotations

import os
import sys

import pytest

from zuora_wf_async import WorkflowClient
from zuora_wf_async.cli import _parser, main
from zuora_wf_async.cli._config import ENVIRONMENTS, make_client

SECRET = "s3cr3t-client-secret-value-0123456789"
TOKEN = "t0k3n-bearer-value-abcdefghijklmnop"


@pytest.mark.parametrize(
    ("name", "host"),
    [
        ("us-production", "https://rest.zuora.com"),
        ("us-cloud1-production", "https://rest.na.zuora.com"),
        ("us-sandbox", "https://rest.apisandbox.zuora.com"),
        ("us-cloud1-sandbox", "https://rest.sandbox.na.zuora.com"),
        ("us-developer-sandbox", "https://rest.test.zuora.com"),
        ("us-central-sandbox", "https://rest.test.zuora.com"),
        ("eu-production", "https://rest.eu.zuora.com"),
        ("eu-sandbox", "https://rest.sandbox.eu.zuora.com"),
        ("eu-developer-sandbox", "https://rest.test.eu.zuora.com"),
        ("apac-production", "https://rest.ap.zuora.com"),
        ("apac-developer-sandbox", "https://rest.test.ap.zuora.com"),
    ],
)
def test_named_environments_map_to_zuoras_documented_hosts(name, host):
    assert ENVIRONMENTS[name] == host
    args = _parser().parse_args(["get", "1", "--env", name])
    assert make_client(args, {"ZUORA_BEARER_TOKEN": TOKEN}).base_url == host


def test_flags_win_over_the_environment(tmp_path):
    secret_file = tmp_path / "secret"
    secret_file.write_text(SECRET + "\n")
    args = _parser().parse_args(
        [
            "get",
            "1",
            "--base-url",
            "https://rest.eu.zuora.com",
            "--client-id",
            "cid",
            "--client-secret-file",
            str(secret_file),
            "--entity-ids",
            "e1",
        ]
    )
    env = {"ZUORA_BASE_URL": "https://rest.zuora.com", "ZUORA_CLIENT_ID": "other"}
    client = make_client(args, env)
    assert client.base_url == "https://rest.eu.zuora.com"
    assert client.auth.client_id == "cid"
    assert client.auth.client_secret == SECRET


@pytest.mark.parametrize(
    ("argv", "env", "message"),
    [
        (["get", "1"], {"ZUORA_BEARER_TOKEN": TOKEN}, "no Zuora host"),
        (["get", "1", "--env", "us-sandbox"], {}, "no credentials"),
        (["get", "1", "--env", "us-sandbox"], {"ZUORA_CLIENT_ID": "x"}, "no client secret"),
        (["get", "1", "--env", "us-sandbox"], {"ZUORA_CLIENT_SECRET": SECRET}, "no client id"),
        (
            [
                "get",
                "1",
                "--env",
                "us-sandbox",
                "--client-id",
                "x",
                "--client-secret-file",
                "/nonexistent/secret",
            ],
            {},
            "cannot read --client-secret-file",
        ),
        (
            ["get", "1", "--base-url", "http://zuora.example"],
            {"ZUORA_BEARER_TOKEN": TOKEN},
            "unencrypted",
        ),
        (["get", "1", "--env", "mars-production"], {}, "invalid choice"),
        (["get", "x"], {}, "expected a number"),
        (["frobnicate"], {}, "invalid choice"),
        (["batch", "396"], {}, "--input"),
        (
            ["batch", "396", "--input", "/nonexistent/rows.jsonl", "--journal", "j"],
            {},
            "cannot read",
        ),
        (["batch", "396", "--input", "rows.txt", "--dry-run"], {}, "unknown input type"),
    ],
)
def test_usage_errors_are_one_line_on_stderr_with_exit_2(argv, env, message, monkeypatch, capsys):
    for name in list(os.environ):
        if name.startswith("ZUORA_"):
            monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert captured.err.count("\n") == 1, captured.err
    assert message in captured.err
    assert "Traceback" not in captured.err
    assert SECRET not in captured.out + captured.err
    assert TOKEN not in captured.out + captured.err


def test_a_batch_needs_rich_and_says_how_to_get_it(monkeypatch, tmp_path, capsys):
    rows = tmp_path / "rows.jsonl"
    rows.write_text('{"a": 1}\n')
    for name in [name for name in sys.modules if name.split(".")[0] == "rich"] + ["rich"]:
        monkeypatch.setitem(sys.modules, name, None)
    for module in ("_batch", "_demo", "_render", "_settle"):
        monkeypatch.delitem(sys.modules, f"zuora_wf_async.cli.{module}", raising=False)
    journal = tmp_path / "runs.jsonl"  # a real batch draws; a --dry-run needs no rich
    assert main(["batch", "396", "--input", str(rows), "--journal", str(journal)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "pip install 'zuora-wf-async[cli]'" in err


async def test_secrets_never_appear_in_any_output(
    cli, fake, environ, write_jsonl, tmp_path, capsys
):
    fake.configure_workflow(7, required_params=("accountId",))
    rows = write_jsonl([{"accountId": "A-1"}, {"x": 1}])
    good = {**environ}
    wrong_secret = {**environ, "ZUORA_CLIENT_SECRET": SECRET}
    bearer = {"ZUORA_BASE_URL": fake.base_url, "ZUORA_BEARER_TOKEN": TOKEN}
    secret_file = tmp_path / "secret"
    secret_file.write_text(SECRET)
    calls = [
        (("run", "7", "--param", "accountId=A-1"), good),
        (("run", "7"), good),  # 406
        (("run", "7", "--param", "accountId=A-1"), wrong_secret),  # 401 on the token
        (("run", "7", "--param", "accountId=A-1"), bearer),  # 401 on the run
        (
            ("run", "7", "--client-id", fake.client_id, "--client-secret-file", str(secret_file)),
            {"ZUORA_BASE_URL": fake.base_url},
        ),
        (("batch", "7", "--input", str(rows), "--journal", str(tmp_path / "j1")), good),
        (("batch", "7", "--input", str(rows), "--journal", str(tmp_path / "j2")), wrong_secret),
        (("batch", "7", "--input", str(rows), "--journal", str(tmp_path / "j3")), bearer),
    ]
    if hasattr(WorkflowClient, "get_run"):
        for command in ("get", "wait", "stop", "tasks"):
            calls += [((command, "10000"), good), ((command, "10000"), wrong_secret)]
            calls += [((command, "10000"), bearer), ((command, "424242"), good)]
    codes = []
    for argv, env in calls:
        codes.append(await cli(*argv, env=env))
    captured = capsys.readouterr()
    output = captured.out + captured.err
    for secret in (SECRET, TOKEN, fake.client_secret):
        assert secret not in output
    assert 0 in codes
    assert 1 in codes
    assert "UnauthorizedError" in captured.err
