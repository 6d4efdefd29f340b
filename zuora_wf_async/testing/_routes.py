"""Which endpoint a method and path reach. Pure, so the HTTP adapter needs no router.

Paths are matched exactly (no trailing slash, no ``/v1`` prefix: the Workflow API lives at
``/workflows/...``). A known path with the wrong method is a 405; anything else is a 404.
Every ``/workflows`` path needs a bearer token, even one that does not exist.
"""

from __future__ import annotations

import functools
import re
from typing import Final

import attrs

from ._faults import Endpoint

__all__ = ["Route", "route_for"]


@attrs.frozen
class Route:
    endpoint: Endpoint
    param: str | None = None
    needs_auth: bool = True
    allow: tuple[str, ...] = ()

    @property
    def not_allowed(self) -> bool:
        return bool(self.allow)


# The fixed paths come before /workflows/{id}, which would otherwise capture "tasks".
_TABLE: Final[tuple[tuple[str, re.Pattern[str], Endpoint], ...]] = (
    ("POST", re.compile(r"/oauth/token"), "token"),
    ("GET", re.compile(r"/workflows/workflow_runs/([^/]+)"), "get_run"),
    ("PUT", re.compile(r"/workflows/workflow_runs/([^/]+)/stop"), "stop"),
    ("GET", re.compile(r"/workflows/tasks"), "tasks"),
    ("PUT", re.compile(r"/workflows/tasks/batch_update"), "update_tasks"),
    ("GET", re.compile(r"/workflows/tasks/([^/]+)"), "get_task"),
    ("POST", re.compile(r"/workflows/tasks/([^/]+)/rerun"), "rerun_task"),
    ("GET", re.compile(r"/workflows/metrics\.json"), "task_usage"),
    ("POST", re.compile(r"/workflows/import"), "import"),
    ("DELETE", re.compile(r"/workflows/versions/([^/]+)"), "delete_version"),
    ("GET", re.compile(r"/workflows"), "list_workflows"),
    ("GET", re.compile(r"/workflows/([^/]+)"), "get_workflow"),
    ("PATCH", re.compile(r"/workflows/([^/]+)"), "update_workflow"),
    ("DELETE", re.compile(r"/workflows/([^/]+)"), "delete_workflow"),
    ("GET", re.compile(r"/workflows/([^/]+)/export"), "export"),
    ("GET", re.compile(r"/workflows/([^/]+)/versions"), "list_versions"),
    ("POST", re.compile(r"/workflows/([^/]+)/versions/import"), "import_version"),
    ("POST", re.compile(r"/workflows/([^/]+)/run"), "run"),
)


@functools.lru_cache(maxsize=4096)
def route_for(method: str, path: str) -> Route:
    """The route of a method and path; cached, as a batch sends one path thousands of times
    (a :class:`Route` is frozen, so every caller may share one)."""
    matched = [(m, match, e) for m, p, e in _TABLE if (match := p.fullmatch(path))]
    needs_auth = path == "/workflows" or path.startswith("/workflows/")
    for allowed, match, endpoint in matched:
        if allowed == method.upper():
            param = match.group(1) if match.groups() else None
            return Route(endpoint, param, needs_auth=endpoint != "token")
    if matched:
        allow = tuple(sorted({m for m, _, _ in matched}))
        return Route("unknown", needs_auth=needs_auth, allow=allow)
    return Route("unknown", needs_auth=needs_auth)
