"""Where the CLI gets its connection: flags first, then the ``ZUORA_*`` environment.

The variable names are those of ``WorkflowClient.from_env()``. Secrets are read from the
environment or from a file, never from a flag: a flag's value shows in ``ps`` and in shell
history. Nothing in this module prints; errors are :class:`UsageError` one-liners that
never contain a secret.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from zuora_wf_async import (
    BearerToken,
    InvalidRequestError,
    OAuthCredentials,
    RetryEvent,
    RetryPolicy,
    WorkflowClient,
)
from zuora_wf_async._env import tenant_options

from ._flags import add_renamed, spelled

__all__ = [
    "ENVIRONMENTS",
    "TUNING",
    "UsageError",
    "add_connection_options",
    "add_tuning_options",
    "make_client",
    "number_argument",
    "tuning",
]

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
    group.add_argument(
        "--redis-url",
        metavar="URL",
        help="share the tenant's limits with other processes through this Redis "
        "(default: ZUORA_REDIS_URL; none: limits of this process only)",
    )
    group.add_argument(
        "--tenant-concurrency",
        metavar="N",
        default=None,
        help="the tenant's requests in flight at once, shared through --redis-url "
        "(default: ZUORA_TENANT_CONCURRENCY, else 40)",
    )


# flag dest -> (variable, kind, minimum, help). Each flag wins over its variable, which wins
# over the library's default; the defaults stay the library's own (None = not given).
TUNING: Mapping[str, tuple[str, type[int] | type[float], float, str]] = {
    "request_timeout": ("ZUORA_TIMEOUT", float, 0.001, "seconds per HTTP attempt (library: 60)"),
    "deadline": ("ZUORA_DEADLINE", float, 0.001, "seconds per call, retries included (300)"),
    "max_attempts": ("ZUORA_MAX_ATTEMPTS", int, 1, "tries per call, the first included (5)"),
    "max_rate": ("ZUORA_MAX_RATE", float, 0.001, "requests per second at most (no limit)"),
    "max_concurrency": ("ZUORA_MAX_CONCURRENCY", int, 1, "requests in flight (the tenant's 40)"),
}


def add_tuning_options(parser: argparse.ArgumentParser) -> None:
    """``--request-timeout``, ``--deadline``, ``--max-attempts``, ``--max-rate``,
    ``--max-concurrency``."""
    group = parser.add_argument_group(
        "tuning",
        "each flag wins over its ZUORA_* variable: "
        + ", ".join(variable for variable, *_ in TUNING.values()),
    )
    for dest, (variable, _kind, _minimum, text) in TUNING.items():
        flag = "--" + dest.replace("_", "-")
        if dest == "request_timeout":  # batch's --timeout, renamed (one meaning per flag)
            add_renamed(
                group,
                flag,
                "--timeout",
                dest=dest,
                metavar="N",
                default=None,
                type=str,
                help=f"{text}; env {variable}",
            )
            continue
        names = (flag, "--concurrency") if dest == "max_concurrency" else (flag,)
        group.add_argument(
            *names,
            dest=dest,
            metavar="N",
            default=None,
            help=f"{text}; env {variable}",
            type=str,  # parsed by tuning(), which names the flag or the variable
        )


def number_argument(kind: type[int] | type[float], minimum: float) -> Callable[[str], Any]:
    """An argparse ``type=``: ``kind(text)``, at least ``minimum``; one line when it is not."""

    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"expected a number >= {minimum}, got {text}")
        return value

    return parse


def _number(text: str, source: str, kind: type[int] | type[float], minimum: float) -> float:
    try:
        value = kind(text)
    except ValueError:
        raise UsageError(f"{source}: expected a number, got {text!r}") from None
    if not math.isfinite(value) or value < minimum:
        raise UsageError(f"{source}: expected a number >= {minimum:g}, got {text!r}")
    return value


def tuning(args: argparse.Namespace, environ: Mapping[str, str]) -> dict[str, float]:
    """The tuning values given, by flag or ``ZUORA_*`` variable; absent ones left out."""
    found: dict[str, float] = {}
    for dest, (variable, kind, minimum, _text) in TUNING.items():
        flag = getattr(args, dest, None)
        if flag is not None:
            name = spelled(args, dest) or "--" + dest.replace("_", "-")
            found[dest] = _number(flag, name, kind, minimum)
        elif environ.get(variable, "").strip():
            found[dest] = _number(environ[variable].strip(), variable, kind, minimum)
    return found


# Far more than any secret or token; a read that stops here cannot fill memory (/dev/zero).
MAX_SECRET_BYTES = 64 * 1024


def _read_secret(path: Path, flag: str) -> str:
    try:
        # Not stat-checked as a regular file: a pipe (--client-secret-file <(pass x)) is fine.
        with path.open("rb") as file:
            data = file.read(MAX_SECRET_BYTES + 1)
        text = data.decode("utf-8").strip()
    except (OSError, ValueError) as exc:  # ValueError: a NUL in the path, or not UTF-8
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else "not UTF-8 text"
        if isinstance(exc, ValueError) and not isinstance(exc, UnicodeDecodeError):
            reason = str(exc)
        raise UsageError(f"cannot read {flag} {str(path)!r}: {reason}") from None
    if len(data) > MAX_SECRET_BYTES:
        raise UsageError(f"{flag} {str(path)!r} holds over 64 KiB: not a secret")
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
    max_concurrency: int | None = None,
    on_retry: Callable[[RetryEvent], object] | None = None,
) -> WorkflowClient:
    """A client from the flags in ``args`` and ``environ``; :class:`UsageError` if incomplete.

    Tuning flags (:func:`add_tuning_options`) and their ``ZUORA_*`` variables apply when
    the command has them; ``max_concurrency`` is the default when neither is given (None:
    the library's, the tenant's documented 40).
    """
    base_url = _base_url(args, environ)
    auth = _auth(args, environ)
    tuned = tuning(args, environ) if hasattr(args, "max_attempts") else {}
    options: dict[str, object] = {}
    if "request_timeout" in tuned:
        options["timeout"] = tuned["request_timeout"]
    if "max_rate" in tuned:
        options["max_rate"] = tuned["max_rate"]
    concurrency = tuned.get("max_concurrency", max_concurrency)
    if concurrency is not None:
        options["max_concurrency"] = int(concurrency)
    try:  # the same reading, and the same checks, as WorkflowClient.from_env
        options.update(
            tenant_options(
                environ,
                redis_url=getattr(args, "redis_url", None),
                tenant_concurrency=getattr(args, "tenant_concurrency", None),
            )
        )
    except InvalidRequestError as exc:
        raise UsageError(str(exc)) from None
    if "max_attempts" in tuned or "deadline" in tuned:
        options["retry"] = RetryPolicy(
            max_attempts=int(tuned.get("max_attempts", RetryPolicy().max_attempts)),
            deadline=tuned.get("deadline", RetryPolicy().deadline),
        )
    try:
        return WorkflowClient(
            base_url,
            auth=auth,
            entity_ids=_ids(args.entity_ids, environ, "ZUORA_ENTITY_IDS"),
            org_ids=_ids(args.org_ids, environ, "ZUORA_ORG_IDS"),
            on_retry=on_retry,
            **options,  # type: ignore[arg-type]
        )
    except InvalidRequestError as exc:
        # The library's messages name the field and the fix and never carry a secret.
        raise UsageError(str(exc)) from None
    except ValueError:  # a host yarl cannot parse ("http://["); its text could quote more
        raise UsageError(
            f"the Zuora host {base_url!r} is not a URL; pass e.g. --env us-sandbox"
        ) from None
