"""Client settings from ``ZUORA_*`` environment variables (``WorkflowClient.from_env``)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from zuora_wf_async._auth import BearerToken, OAuthCredentials
from zuora_wf_async._errors import InvalidRequestError

__all__ = [
    "check_override_names",
    "options_from_env",
    "require_connection_options",
    "tenant_options",
]


def _read(env: Mapping[str, str], name: str) -> str:
    """``env[name]``, or "" when it is not set; a value that is not text is refused."""
    value = env.get(name)
    if value is not None and not isinstance(value, str):
        raise InvalidRequestError(
            name, f"must be a string, got {type(value).__name__}", "set it to text"
        )
    return value or ""


def check_override_names(overrides: Mapping[str, Any], accepted: Iterable[str]) -> None:
    """Refuse an override the constructor does not take (it would be a ``TypeError``)."""
    unknown = sorted(set(overrides) - set(accepted))
    if unknown:
        raise InvalidRequestError(
            unknown[0],
            "is not an option of WorkflowClient",
            "check the spelling against WorkflowClient's parameters",
        )


def options_from_env(env: Mapping[str, str]) -> dict[str, Any]:
    """Constructor options read from ``env``; only what is set there."""
    if not isinstance(env, Mapping):
        raise InvalidRequestError(
            "environ",
            f"expected a mapping of variable names to values, got {type(env).__name__}",
            "pass os.environ (the default) or a dict",
        )
    options: dict[str, Any] = {}
    base_url, token = _read(env, "ZUORA_BASE_URL"), _read(env, "ZUORA_BEARER_TOKEN")
    client_id, secret = _read(env, "ZUORA_CLIENT_ID"), _read(env, "ZUORA_CLIENT_SECRET")
    if base_url:
        options["base_url"] = base_url
    if client_id and secret:
        options["auth"] = OAuthCredentials(client_id=client_id, client_secret=secret)
    elif token:
        options["auth"] = BearerToken(token)
    elif client_id or secret:
        missing = "ZUORA_CLIENT_SECRET" if client_id else "ZUORA_CLIENT_ID"
        raise InvalidRequestError(
            missing, "is not set", "set both ZUORA_CLIENT_ID and ZUORA_CLIENT_SECRET"
        )
    for name, option in (("ZUORA_ENTITY_IDS", "entity_ids"), ("ZUORA_ORG_IDS", "org_ids")):
        if text := _read(env, name):
            options[option] = [part.strip() for part in text.split(",") if part.strip()]
    options.update(tenant_options(env))
    return options


def tenant_options(
    env: Mapping[str, str],
    *,
    redis_url: str | None = None,
    tenant_concurrency: str | None = None,
) -> dict[str, Any]:
    """Many processes, one tenant: ``shared_limits`` and ``tenant_concurrency``, from the
    command line's ``--redis-url`` / ``--tenant-concurrency`` (they win) or from
    ``ZUORA_REDIS_URL`` / ``ZUORA_TENANT_CONCURRENCY``. ``from_env`` and ``zuora-wf``
    both read them here, so they take the same values and refuse the same ones (the CLI
    once ignored the variable, and ``abc`` there exited 0)."""
    options: dict[str, Any] = {}
    url = redis_url if redis_url is not None else _read(env, "ZUORA_REDIS_URL")
    if url and url.strip():
        options["shared_limits"] = url.strip()
    if tenant_concurrency is not None:
        source, text = "--tenant-concurrency", tenant_concurrency
    else:
        source, text = "ZUORA_TENANT_CONCURRENCY", _read(env, "ZUORA_TENANT_CONCURRENCY")
    text = text.strip()
    if text or tenant_concurrency is not None:
        # Digits only, and few enough for int() (5,000 of them raised ValueError).
        if not (text.isascii() and text.isdigit() and len(text) <= 9) or int(text) < 1:
            raise InvalidRequestError(
                source,
                f"must be a whole number >= 1, got {text!r}",
                "set it to the tenant's in-flight limit, e.g. 40",
            )
        options["tenant_concurrency"] = int(text)
    return options


def require_connection_options(options: Mapping[str, Any]) -> None:
    """Name the environment variable to set when the host or credentials are missing."""
    if "base_url" not in options:
        raise InvalidRequestError(
            "ZUORA_BASE_URL", "is not set", "export it, e.g. https://rest.test.zuora.com"
        )
    if "auth" not in options:
        raise InvalidRequestError(
            "ZUORA_CLIENT_ID",
            "no credentials in the environment",
            "set ZUORA_CLIENT_ID and ZUORA_CLIENT_SECRET, or ZUORA_BEARER_TOKEN",
        )
