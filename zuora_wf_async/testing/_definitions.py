"""Workflow definitions and their versions: list, get, update, delete, export and import.

A definition has one or more versions; one of them is *active* (the one runs use) and the
definition itself is ``Active`` or ``Inactive`` (an inactive workflow's runs are refused).
The first version of a definition has the definition's own id, as in Zuora's examples
(``"id": 265, "active_version": {"id": 265}``); later versions take fresh ids from the id
space definitions share with runs.

What the official document shows, and the fake follows:

* records (``_definition_records``): a version is a ``Workflow``, a definition a
  ``WorkflowDefinition`` with an ``active_version`` summary; the list adds
  ``latest_inactive_verisons`` (sic), at most 10;
* ``GET /workflows``: filters ``name``, ``callout_trigger``, ``ondemand_trigger``,
  ``scheduled_trigger``, ``interval``; ``page`` and ``page_length`` (default 20, at most 50);
* an export is ``{"workflow", "tasks", "linkages"}`` with snake_case workflow settings
  (the example's shape); ``version`` is ``latest``, a version number such as ``0.0.2``, or
  absent (the active version);
* ``PATCH`` with a bad ``status`` is 422 ``{"reasons": [{fieldName, title}], "success":
  false}``; deleting the active version is 403; an unknown definition is 404 ``{"errors":
  ["Invalid ID / Multiple objects returned - ..."]}`` (the example's list of strings);
* a delete answers ``{"id": "<id>", "success": true}`` with the id as a *string*, as the
  schema types it (the example shows a number; the official SDK requires a string).

Which definitions exist: a fake starts with :data:`DEFAULT_WORKFLOW_IDS` (or the ids given
as ``FakeZuora(workflows=...)``), each ``Active`` with its Callout trigger on, named
``Workflow {id}``; ``add_workflow``, ``configure_workflow``, ``create_workflow`` and the
imports add more. Any other id is a 404 on every definition operation and on run, as at
Zuora, and a listing shows exactly the definitions that exist.

Choices where the document is silent (UNCONFIRMED): an import creating a new definition makes
its one version the active one, and the definition ``Active`` only with ``activate=true``;
a version number must look like ``1.2.3`` (the 400 example refuses ``'1'``) and be greater
than every existing one.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any, Final
from urllib.parse import urlencode

import attrs

from ._definition_records import Definition, Records, Version, settings_from, version_key
from ._wire import Reply, errors_body, json_reply

__all__ = ["DEFAULT_WORKFLOW_IDS", "DefinitionStore"]

#: The definitions a fake starts with: 396 (the official examples' workflow, and this
#: package's docs'), 42 and 1 to 9 (short ids for tests), 286 and 476 (ids the official
#: examples show). Any other id is unknown (404) until a test adds it.
DEFAULT_WORKFLOW_IDS: Final = (1, 2, 3, 4, 5, 6, 7, 8, 9, 42, 286, 396, 476)

DEFAULT_PAGE_LENGTH: Final = 20
MAX_PAGE_LENGTH: Final = 50
_VERSION: Final = re.compile(r"\d+(\.\d+)+")
_BOOL_FILTERS: Final = {
    "callout_trigger": "callout_trigger",
    "ondemand_trigger": "ondemand_trigger",
    "scheduled_trigger": "scheduled_trigger",
}


def _invalid_id(object_id: str) -> Reply:
    # The official 404 example: a list of strings under "errors".
    text = (
        f"Invalid ID / Multiple objects returned - SchemaId: 2 InstanceId: 2 ObjectId: {object_id}"
    )
    return json_reply(404, {"errors": [text]})


@attrs.define
class DefinitionStore:
    """Every definition of the fake's one tenant. ``allocate`` hands out shared ids."""

    wall: Callable[[float], datetime]
    allocate: Callable[[], int]
    _definitions: dict[int, Definition] = attrs.field(factory=dict, init=False)
    _deleted: set[int] = attrs.field(factory=set, init=False)
    _next_task_id: int = attrs.field(default=900_000, init=False)
    records: Records = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        self.records = Records(self.wall)

    # -- state used by runs and by the FakeZuora helpers -------------------------------

    def find(self, workflow_id: int) -> Definition | None:
        return self._definitions.get(workflow_id)

    def definition_record(self, definition: Definition) -> dict[str, Any]:
        """The definition as ``GET /workflows/{id}`` shows it."""
        return self.records.definition_record(definition)

    def define(
        self,
        workflow_id: int,
        now: float,
        *,
        name: str | None = None,
        callout: bool = True,
        active: bool = True,
    ) -> Definition:
        """A definition with the id ``workflow_id`` and one version ``0.0.1`` of that id,
        replacing any definition of that id (a deleted one comes back)."""
        self._deleted.discard(workflow_id)
        settings = settings_from({"callout_trigger": callout})
        version = Version(workflow_id, "0.0.1", settings, [], [], now, now)
        definition = Definition(
            workflow_id,
            name if name is not None else f"Workflow {workflow_id}",
            "",
            "Active" if active else "Inactive",
            [version],
            workflow_id,
            now,
            now,
        )
        self._definitions[workflow_id] = definition
        return definition

    def set_callout(self, workflow_id: int, callout: bool, now: float) -> None:
        """The Callout trigger of ``workflow_id``, defining it if new (not if deleted)."""
        if workflow_id in self._deleted:
            return
        definition = self._definitions.get(workflow_id)
        if definition is None:
            self.define(workflow_id, now, callout=callout)
        else:
            definition.active.settings["callout_trigger"] = callout

    def create(
        self,
        workflow: Mapping[str, Any],
        tasks: Sequence[Mapping[str, Any]],
        linkages: Sequence[Mapping[str, Any]],
        now: float,
        *,
        version: str = "0.0.1",
        active: bool = True,
    ) -> Definition:
        workflow_id = self.allocate()
        first = self._version(
            workflow_id, workflow=workflow, tasks=tasks, linkages=linkages, number=version, now=now
        )
        definition = Definition(
            workflow_id,
            str(workflow.get("name") or f"Workflow {workflow_id}"),
            str(workflow.get("description") or ""),
            "Active" if active else "Inactive",
            [first],
            workflow_id,
            now,
            now,
        )
        self._definitions[workflow_id] = definition
        return definition

    def _version(
        self,
        version_id: int,
        *,
        workflow: Mapping[str, Any],
        tasks: Sequence[Mapping[str, Any]],
        linkages: Sequence[Mapping[str, Any]],
        number: str,
        now: float,
    ) -> Version:
        # Imported tasks get ids of their own; the linkages are kept as sent.
        copied = []
        for task in tasks:
            copied.append({**task, "id": self._next_task_id})
            self._next_task_id += 1
        return Version(
            version_id,
            number,
            settings_from(workflow),
            copied,
            [dict(x) for x in linkages],
            now,
            now,
        )

    # -- endpoints ----------------------------------------------------------------------

    def _known(self, param: str) -> Definition | None:
        return self._definitions.get(int(param)) if param.isdigit() else None

    def list_reply(self, query: Mapping[str, str], origin: str) -> Reply:
        page_text, length_text = query.get("page", "1"), query.get("page_length")
        length_text = length_text if length_text is not None else str(DEFAULT_PAGE_LENGTH)
        if not page_text.isdigit() or int(page_text) < 1:
            return json_reply(400, errors_body(400, "page must be a positive integer."))
        if not length_text.isdigit() or not 1 <= int(length_text) <= MAX_PAGE_LENGTH:
            return json_reply(400, errors_body(400, f"page_length must be 1 to {MAX_PAGE_LENGTH}."))
        page, length = int(page_text), int(length_text)
        found = []
        for definition in sorted(self._definitions.values(), key=lambda d: d.id):
            settings = definition.active.settings
            if "name" in query and definition.name != query["name"]:
                continue
            if "interval" in query and settings["interval"] != query["interval"]:
                continue
            if any(
                name in query and str(bool(settings[name])).lower() != query[name].lower()
                for name in _BOOL_FILTERS
            ):
                continue
            found.append(definition)
        start = (page - 1) * length
        pagination: dict[str, Any] = {"page": page, "page_length": length}
        if start + length < len(found):
            kept = [(k, v) for k, v in query.items() if k not in {"page", "page_length"}]
            kept += [("page", str(page + 1)), ("page_length", str(length))]
            pagination["next_page"] = f"{origin}/workflows?{urlencode(kept)}"
        data = [
            self.records.definition_record(d, listed=True) for d in found[start : start + length]
        ]
        return json_reply(200, {"data": data, "pagination": pagination})

    def get_reply(self, param: str) -> Reply:
        definition = self._known(param)
        if definition is None:
            return _invalid_id(param)
        return json_reply(200, self.records.definition_record(definition))

    def update_reply(self, param: str, body: Mapping[str, Any], now: float) -> Reply:
        definition = self._known(param)
        if definition is None:
            return _invalid_id(param)
        reasons = []
        status = body.get("status")
        if status is not None and status not in {"Active", "Inactive"}:
            reasons.append(
                {
                    "fieldName": "status",
                    "title": f"{status} is not a valid status. Choose from Active or Inactive",
                }
            )
        version_id = body.get("active_workflow_version_id")
        if version_id is not None and version_id not in {v.id for v in definition.versions}:
            reasons.append(
                {
                    "fieldName": "active_workflow_version_id",
                    "title": f"{version_id} is not a version of workflow {definition.id}.",
                }
            )
        name = body.get("name")
        if name is not None and (not isinstance(name, str) or not name.strip()):
            reasons.append({"fieldName": "name", "title": "Name can't be blank."})
        if reasons:
            return json_reply(422, {"reasons": reasons, "success": False})
        if name is not None:
            definition.name = name
        if isinstance(body.get("description"), str):
            definition.description = body["description"]
        if status is not None:
            definition.status = status
        if version_id is not None:
            definition.active_version_id = version_id
        definition.updated_at = now
        return json_reply(200, self.records.definition_record(definition))

    def delete_reply(self, param: str) -> Reply:
        definition = self._known(param)
        if definition is None:
            return _invalid_id(param)
        del self._definitions[definition.id]
        self._deleted.add(definition.id)
        return json_reply(200, {"id": str(definition.id), "success": True})

    def versions_reply(self, param: str) -> Reply:
        definition = self._known(param)
        if definition is None:
            return _invalid_id(param)
        versions = sorted(definition.versions, key=lambda v: version_key(v.version))
        return json_reply(
            200, {"data": [self.records.version_record(definition, v) for v in versions]}
        )

    def export_reply(self, param: str, version_text: str | None) -> Reply:
        definition = self._known(param)
        if definition is None:
            return _invalid_id(param)
        if version_text is None:
            version: Version | None = definition.active
        elif version_text != "latest" and not _VERSION.fullmatch(version_text):
            title = f"The input of version '{version_text}' is invalid."
            return json_reply(400, errors_body(400, title))
        else:
            version = definition.version_named(version_text)
        if version is None:
            title = f"Workflow version '{version_text}' is not found."
            return json_reply(404, errors_body(404, title))
        return json_reply(200, self.records.export_record(definition, version))

    def delete_version_reply(self, param: str) -> Reply:
        wanted = int(param) if param.isdigit() else -1
        for definition in self._definitions.values():
            for version in definition.versions:
                if version.id != wanted:
                    continue
                if version.id == definition.active_version_id:
                    title = "Cannot delete the active version of a workflow."
                    return json_reply(403, errors_body(403, title))
                definition.versions.remove(version)
                return json_reply(200, {"id": str(version.id), "success": True})
        return _invalid_id(param)

    def import_reply(
        self,
        document: Mapping[str, Any],
        query: Mapping[str, str],
        now: float,
        *,
        under: str | None = None,
    ) -> Reply:
        """``POST /workflows/import`` (``under`` None) or ``.../{under}/versions/import``."""
        workflow = document.get("workflow")
        tasks, linkages = document.get("tasks", []), document.get("linkages", [])
        if (
            not isinstance(workflow, Mapping)
            or not isinstance(tasks, list)
            or not isinstance(linkages, list)
        ):
            return json_reply(400, errors_body(400, "The workflow definition is invalid."))
        activate_text = query.get("activate", "false").lower()
        if activate_text not in {"true", "false"}:
            return json_reply(400, errors_body(400, "activate must be true or false."))
        activate = activate_text == "true"
        target = under if under is not None else query.get("workflow_definition_id")
        number = query.get("version") or str(workflow.get("version") or "0.0.1")
        if not _VERSION.fullmatch(number):
            return json_reply(400, errors_body(400, f"The input of version '{number}' is invalid."))
        if target is None:
            definition = self.create(
                workflow, tasks, linkages, now, version=number, active=activate
            )
            return json_reply(200, self.records.version_record(definition, definition.active))
        found = self._known(target)
        if found is None:
            return _invalid_id(target)
        definition = found
        if any(version_key(v.version) >= version_key(number) for v in definition.versions):
            title = f"Version '{number}' must be greater than any existing version."
            return json_reply(400, errors_body(400, title))
        new_id = self.allocate()
        version = self._version(
            new_id, workflow=workflow, tasks=tasks, linkages=linkages, number=number, now=now
        )
        definition.versions.append(version)
        if activate:
            definition.active_version_id = version.id
            definition.status = "Active"
        definition.updated_at = now
        if under is not None:
            return json_reply(200, self.records.definition_record(definition))
        return json_reply(200, self.records.version_record(definition, version))
