"""Where the CLI gets its connection: flags first, then the ``ZUORA_*`` environment.

The variable names are those of ``WorkflowClient.from_env()``. Secrets are read from the
environment or from a file, never from a flag: a flag's value shows in ``ps`` and in shell
history. Nothing in this module prints; errors are :class:`UsageError` one-liners that
never contain a secret.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Mapping
from pathlib import Path

from zuora_wf_async import (
    BearerToken,
    InvalidRequestError,
    OAuthCredentials,
    RetryEvent,
    WorkflowClient,
)

__all__ = ["ENVIRONMENTS", "UsageError", "add_connection_options", "make_client"]

# Zuora's documented REST hosts (developer.zuora.com, "API environments"; zuora-sdk's
# ZuoraEnvironment). "us-production" and "us-sandbox" exist on two US clouds; the plain
# names take the host the official SDK uses as its default (Cloud 2), and the Cloud 1
# hosts have names of their own.
ENVIRONMENTS: Mapping[str, str] = {
    "us-production": "https://rest.zuora.com",
    "us-cloud2-production": "https://rest.zuora.com",
    "us-cloud1-production": "https://rest.na.zuora.com",
    "us-sandbox": "https://rest.apisandbox.zuora.com",
    "us-cloud2-sandbox": "https://rest.apisandbox.zuora.com",
    "us-cloud1-sandbox": "https://rest.sandbox.na.zuora.com",
    "us-developer-sandbox": "https://rest.test.zuora.com",
    "us-central-sandbox": "https://rest.test.zuora.com",
    "eu-production": "https://rest.eu.zuora.com",
    "eu-sandbox": "https://rest.sandbox.eu.zuora.com",
    "eu-developer-sandbox": "https://rest.test.eu.zuora.com",
    "eu-central-sandbox": "https://rest.test.eu.zuora.com",
    "apac-production": "https://rest.ap.zuora.com",
    "apac-developer-sandbox": "https://rest.test.ap.zuora.com",
    "apac-central-sandbox": "https://rest.test.ap.zuora.com",
}


class UsageError(Exception):
    """The command cannot run as given; its message is one line for stderr (exit 2)."""


def add_connection_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group(
        "connection",
        "flags win over ZUORA_BASE_URL, ZUORA_CLIENT_ID, ZUORA_CLIENT_SECRET, "
        "ZUORA_BEARER_TOKEN, ZUORA_ENTITY_IDS and ZUORA_ORG_IDS",
    )
    where = group.add_mutually_exclusive_group()
    where.add_argument(
        "--env",
        choices=sorted(ENVIRONMENTS),
        metavar="NAME",
        help="a named Zuora environment, e.g. us-sandbox, eu-production",
    )
    where.add_argument("--base-url", help="Zuora's REST host, e.g. https://rest.test.zuora.com")
    group.add_argument("--client-id", help="OAuth client id (default: ZUORA_CLIENT_ID)")
    group.add_argument(
        "--client-secret-file",
        type=Path,
        metavar="PATH",
        help="read the OAuth client secret from this file (default: ZUORA_CLIENT_SECRET)",
    )
    group.add_argument(
        "--bearer-token-file",
        type=Path,
        metavar="PATH",
        help="read a bearer token from this file (default: ZUORA_BEARER_TOKEN)",
    )
    group.add_argument("--entity-ids", help="comma-separated Zuora-Entity-Ids")
    group.add_argument("--org-ids", help="comma-separated Zuora-Org-Ids")


def _read_secret(path: Path, flag: str) -> str:
    try:
        text = path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else "not UTF-8 text"
        raise UsageError(f"cannot read {flag} {str(path)!r}: {reason}") from None
    if not text:
        raise UsageError(f"{flag} {str(path)!r} is empty")
    return text


def _base_url(args: argparse.Namespace, environ: Mapping[str, str]) -> str:
    if args.env:
        return ENVIRONMENTS[args.env]
    base_url = args.base_url or environ.get("ZUORA_BASE_URL", "")
    if not base_url:
        raise UsageError(
            "no Zuora host: pass --env NAME (e.g. us-sandbox) or --base-url URL, "
            "or set ZUORA_BASE_URL"
        )
    return str(base_url)


def _auth(args: argparse.Namespace, environ: Mapping[str, str]) -> OAuthCredentials | BearerToken:
    client_id = args.client_id or environ.get("ZUORA_CLIENT_ID", "")
    if args.client_secret_file is not None:
        secret = _read_secret(args.client_secret_file, "--client-secret-file")
    else:
        secret = environ.get("ZUORA_CLIENT_SECRET", "")
    if client_id and secret:
        return OAuthCredentials(client_id=client_id, client_secret=secret)
    if args.bearer_token_file is not None:
        return BearerToken(_read_secret(args.bearer_token_file, "--bearer-token-file"))
    if environ.get("ZUORA_BEARER_TOKEN") and not (client_id or secret):
        return BearerToken(environ["ZUORA_BEARER_TOKEN"])
    if client_id:
        raise UsageError(
            "no client secret for the client id: set ZUORA_CLIENT_SECRET or pass "
            "--client-secret-file PATH"
        )
    if secret:
        raise UsageError("a client secret but no client id: set ZUORA_CLIENT_ID or --client-id")
    raise UsageError(
        "no credentials: set ZUORA_CLIENT_ID and ZUORA_CLIENT_SECRET (or ZUORA_BEARER_TOKEN), "
        "or pass --client-id with --client-secret-file"
    )


def _ids(flag: str | None, environ: Mapping[str, str], name: str) -> list[str] | None:
    text = flag if flag is not None else environ.get(name, "")
    ids = [part.strip() for part in text.split(",") if part.strip()]
    return ids or None


def make_client(
    args: argparse.Namespace,
    environ: Mapping[str, str],
    *,
    max_concurrency: int = 32,
    on_retry: Callable[[RetryEvent], object] | None = None,
) -> WorkflowClient:
    """A client from the flags in ``args`` and ``environ``; :class:`UsageError` if incomplete."""
    base_url = _base_url(args, environ)
    auth = _auth(args, environ)
    try:
        return WorkflowClient(
            base_url,
            auth=auth,
            max_concurrency=max_concurrency,
            entity_ids=_ids(args.entity_ids, environ, "ZUORA_ENTITY_IDS"),
            org_ids=_ids(args.org_ids, environ, "ZUORA_ORG_IDS"),
            on_retry=on_retry,
        )
    except InvalidRequestError as exc:
        # The library's messages name the field and the fix and never carry a secret.
        raise UsageError(str(exc)) from None
