"""The fake's workflow definitions and versions as data, and as the records Zuora sends.

A :class:`Definition` has one or more :class:`Version` s, one of them active. The records
follow the official document: a version is a ``Workflow`` (camelCase ``calloutTrigger``,
``createdAt``...), a definition a ``WorkflowDefinition`` with an ``active_version`` summary
(the list adds ``latest_inactive_verisons``, sic, at most 10), an export ``{"workflow",
"tasks", "linkages"}`` with snake_case settings (the example's shape). What callers may do
to them is in ``_definitions``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, Final

import attrs

__all__ = [
    "MAX_INACTIVE_LISTED",
    "SETTINGS",
    "Definition",
    "Records",
    "Version",
    "iso",
    "settings_from",
    "version_key",
]

MAX_INACTIVE_LISTED: Final = 10
SETTINGS: Final = (
    "callout_trigger",
    "ondemand_trigger",
    "scheduled_trigger",
    "interval",
    "timezone",
    "priority",
)


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def version_key(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split("."))


@attrs.define
class Version:
    id: int
    version: str
    settings: dict[str, Any]
    tasks: list[dict[str, Any]]
    linkages: list[dict[str, Any]]
    created_at: float
    updated_at: float


@attrs.define
class Definition:
    id: int
    name: str
    description: str
    status: str
    versions: list[Version]
    active_version_id: int
    created_at: float
    updated_at: float

    @property
    def active(self) -> Version:
        return next(v for v in self.versions if v.id == self.active_version_id)

    @property
    def callout_trigger(self) -> bool:
        return bool(self.active.settings.get("callout_trigger"))

    def version_named(self, text: str) -> Version | None:
        if text == "latest":
            return max(self.versions, key=lambda v: version_key(v.version))
        return next((v for v in self.versions if v.version == text), None)


def settings_from(workflow: Mapping[str, Any]) -> dict[str, Any]:
    """Settings from an export's snake_case workflow (camelCase accepted too)."""
    settings: dict[str, Any] = {
        "callout_trigger": True,
        "ondemand_trigger": True,
        "scheduled_trigger": False,
        "interval": None,
        "timezone": None,
        "priority": "Medium",
    }
    for name in SETTINGS:
        camel = name.split("_")[0] + "".join(p.title() for p in name.split("_")[1:])
        for key in (name, camel):
            if key in workflow:
                settings[name] = workflow[key]
    return settings


@attrs.frozen
class Records:
    """Definitions and versions as Zuora's records; ``wall`` turns clock time into UTC."""

    wall: Callable[[float], datetime]

    def _stamp(self, clock_time: float) -> str:
        return iso(self.wall(clock_time))

    def version_record(self, definition: Definition, version: Version) -> dict[str, Any]:
        settings = version.settings
        active = version.id == definition.active_version_id and definition.status == "Active"
        return {
            "id": version.id,
            "name": definition.name,
            "description": definition.description,
            "type": "Workflow::Setup",
            "version": version.version,
            "status": "Active" if active else "Inactive",
            "calloutTrigger": bool(settings["callout_trigger"]),
            "ondemandTrigger": bool(settings["ondemand_trigger"]),
            "scheduledTrigger": bool(settings["scheduled_trigger"]),
            "interval": settings["interval"],
            "timezone": settings["timezone"],
            "priority": settings["priority"],
            "createdAt": self._stamp(version.created_at),
            "updatedAt": self._stamp(version.updated_at),
        }

    def definition_record(self, definition: Definition, *, listed: bool = False) -> dict[str, Any]:
        active = definition.active
        settings = active.settings
        record: dict[str, Any] = {
            "id": definition.id,
            "name": definition.name,
            "description": definition.description,
            "status": definition.status,
            "calloutTrigger": bool(settings["callout_trigger"]),
            "ondemandTrigger": bool(settings["ondemand_trigger"]),
            "scheduledTrigger": bool(settings["scheduled_trigger"]),
            "interval": settings["interval"],
            "timezone": settings["timezone"],
            "priority": settings["priority"],
            "createdAt": self._stamp(definition.created_at),
            "updatedAt": self._stamp(definition.updated_at),
            "active_version": {
                "id": active.id,
                "type": "Workflow::Setup",
                "version": active.version,
                "status": definition.status,
                "description": definition.description,
            },
        }
        if listed:
            inactive = [v for v in definition.versions if v.id != definition.active_version_id]
            inactive.sort(key=lambda v: version_key(v.version), reverse=True)
            record["latest_inactive_verisons"] = [
                self.version_record(definition, v) for v in inactive[:MAX_INACTIVE_LISTED]
            ]
        return record

    def export_record(self, definition: Definition, version: Version) -> dict[str, Any]:
        settings = version.settings
        workflow = {
            "id": version.id,
            "name": definition.name,
            "description": definition.description,
            "type": "Workflow::Setup",
            "version": version.version,
            "status": None,
            "call_type": None,
            "sync_trigger": False,
            "delete_ttl": 60,
            "original_workflow_id": None,
            "started_at": None,
            "finished_at": None,
            "parameters": {},
            "data": {},
            "notifications": {},
            "task_summary": {},
            "css": {"left": "30px", "top": "40px"},
            **{name: settings[name] for name in SETTINGS},
        }
        return {
            "workflow": workflow,
            "tasks": [dict(task) for task in version.tasks],
            "linkages": [dict(linkage) for linkage in version.linkages],
        }
