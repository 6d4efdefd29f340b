"""The export, import and version requests (as ``definition_requests``: a pure builder
per operation, a reader in ``workflow_readers``); ``export_document`` is the one check of
what an import sends."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from zuora_wf_async._core.bodies import shown_value
from zuora_wf_async._core.prepared_request import PreparedRequest
from zuora_wf_async._core.workflow_fields import (
    bool_text,
    read_mapping,
    validate_id,
    version_text,
    with_body,
    workflow_request,
)
from zuora_wf_async._errors import InvalidRequestError
from zuora_wf_async._workflow_models import WorkflowExport

__all__ = [
    "export_document",
    "prepare_delete_version",
    "prepare_export",
    "prepare_import",
    "prepare_import_version",
    "prepare_list_versions",
]


def prepare_export(
    *, base_url: str, workflow_id: object, version: object = None, **headers: Any
) -> PreparedRequest:
    """``GET /workflows/{workflow_id}/export[?version=]``: without ``version`` Zuora
    exports the *active* version (the official document's default); ``"latest"`` or a
    number such as ``"0.0.2"`` picks another."""
    workflow = validate_id(workflow_id, "workflow_id")
    query = [] if version is None else [("version", version_text(version))]
    return workflow_request(
        "/workflows/{}/export", (workflow,), query=query, base_url=base_url, **headers
    )


def export_document(export: WorkflowExport | Mapping[str, Any]) -> dict[str, Any]:
    """The import body for ``export``: ``{"workflow", "tasks", "linkages"}``, checked.

    Workflow settings that are null are left out (see below); everything else is sent as
    exported, including fields this package does not model.
    """
    fix = "pass what export_workflow returned (or the JSON it wrote)"
    if isinstance(export, WorkflowExport):
        export = export.as_json()
    if not isinstance(export, Mapping):
        raise InvalidRequestError(
            "export", f"expected a WorkflowExport or a mapping, got {shown_value(export)}", fix
        )
    data = read_mapping(export, "export")
    workflow = data.get("workflow")
    if not isinstance(workflow, Mapping):
        raise InvalidRequestError("export['workflow']", "is missing or not an object", fix)
    # An export's workflow carries nulls (finished_at, status, call_type...) that the
    # import schema (DetailedWorkflow) types as non-null; null means "not set", so such
    # fields are left out rather than sent as null. Tasks and linkages go as exported.
    settings = read_mapping(workflow, "export['workflow']")
    body: dict[str, Any] = {
        "workflow": {name: value for name, value in settings.items() if value is not None}
    }
    for name in ("tasks", "linkages"):
        items = data.get(name, [])
        if not isinstance(items, list | tuple) or not all(isinstance(i, Mapping) for i in items):
            raise InvalidRequestError(f"export[{name!r}]", "must be a list of objects", fix)
        body[name] = [
            read_mapping(item, f"export[{name!r}][{index}]") for index, item in enumerate(items)
        ]
    return body


def prepare_import(
    *,
    base_url: str,
    export: WorkflowExport | Mapping[str, Any],
    idempotency_key: str,
    workflow_id: object = None,
    version: object = None,
    activate: bool | None = None,
    **headers: Any,
) -> PreparedRequest:
    """``POST /workflows/import``: a new definition, or with ``workflow_id`` a new version."""
    query: list[tuple[str, str]] = []
    if workflow_id is not None:
        query.append(("workflow_definition_id", str(validate_id(workflow_id, "workflow_id"))))
    if version is not None:
        query.append(("version", version_text(version)))
    if activate is not None:
        query.append(("activate", bool_text(activate, "activate")))
    request = workflow_request(
        "/workflows/import", query=query, method="POST", base_url=base_url, **headers
    )
    return with_body(request, export_document(export), idempotency_key, "export")


def prepare_list_versions(*, base_url: str, workflow_id: object, **headers: Any) -> PreparedRequest:
    """``GET /workflows/{workflow_id}/versions`` (not paged)."""
    workflow = validate_id(workflow_id, "workflow_id")
    return workflow_request("/workflows/{}/versions", (workflow,), base_url=base_url, **headers)


def prepare_import_version(
    *,
    base_url: str,
    workflow_id: object,
    export: WorkflowExport | Mapping[str, Any],
    version: object,
    idempotency_key: str,
    activate: bool | None = None,
    **headers: Any,
) -> PreparedRequest:
    """``POST /workflows/{workflow_id}/versions/import?version=&activate=``."""
    workflow = validate_id(workflow_id, "workflow_id")
    query = [("version", version_text(version))]
    if activate is not None:
        query.append(("activate", bool_text(activate, "activate")))
    template = "/workflows/{}/versions/import"
    request = workflow_request(
        template, (workflow,), query=query, method="POST", base_url=base_url, **headers
    )
    return with_body(request, export_document(export), idempotency_key, "export")


def prepare_delete_version(*, base_url: str, version_id: object, **headers: Any) -> PreparedRequest:
    """``DELETE /workflows/versions/{version_id}`` (refused with 403 for the active one)."""
    version = validate_id(version_id, "version_id", "113")
    return workflow_request(
        "/workflows/versions/{}", (version,), method="DELETE", base_url=base_url, **headers
    )
