"""Every operation of ``WorkflowClient`` and the ``zuora-wf`` command that does it.

The Workflow API guide prints this table (docs/guides/workflow-api.md), and a test
checks it three ways: every public operation method of the client is in it (a method
added without a command fails the test), each command and flag here is one the parser
has, and the guide's table says the same.
"""

from __future__ import annotations

from collections.abc import Mapping

__all__ = ["NOT_OPERATIONS", "OPERATIONS"]

# method -> (what it does, the command: its name, then its arguments)
OPERATIONS: Mapping[str, tuple[str, str]] = {
    "run_workflow": ("start a run", "run WORKFLOW_ID --param KEY=VALUE"),
    "run_and_wait": ("start a run and wait for its end", "run WORKFLOW_ID --wait"),
    "get_run": ("a run's current state", "get RUN_ID"),
    "wait_for_run": ("wait for a run to end", "wait RUN_ID"),
    "wait_for_runs": ("wait for many runs to end", "wait RUN_ID RUN_ID ..."),
    "stop_run": ("stop a run", "stop RUN_ID"),
    "stream_runs": ("one run per row, outcomes as they come", "batch WORKFLOW_ID --input FILE"),
    "run_many": ("one run per row, all outcomes", "batch WORKFLOW_ID --input FILE --wait"),
    "iter_tasks": ("list tasks, filtered", "tasks [RUN_ID] --name NAME --tag TAG"),
    "get_task": ("one task", "task TASK_ID"),
    "rerun_task": ("rerun one task", "rerun TASK_ID"),
    "rerun_failed_tasks": ("rerun a run's failed tasks", "rerun-failed RUN_ID"),
    "update_tasks": ("update tasks, 50 per request", "update-tasks FILE"),
    "get_task_usage": ("task runs per day", "usage --from DAY --to DAY"),
    "iter_workflows": ("list workflow definitions", "workflows --name NAME"),
    "get_workflow": ("one definition", "workflow WORKFLOW_ID"),
    "update_workflow": ("rename, switch on or off", "update-workflow WORKFLOW_ID --name NAME"),
    "delete_workflow": ("delete a definition", "delete-workflow WORKFLOW_ID --yes"),
    "list_workflow_versions": ("a definition's versions", "versions WORKFLOW_ID"),
    "export_workflow": ("export a version", "export WORKFLOW_ID --version V"),
    "import_workflow": ("import a new definition", "import FILE"),
    "import_workflow_version": ("import a new version", "import FILE --workflow WORKFLOW_ID"),
    "delete_workflow_version": ("delete a version", "delete-version VERSION_ID --yes"),
}

# Public methods that are not operations of the API, and why.
NOT_OPERATIONS: Mapping[str, str] = {
    "from_env": "builds a client (the commands read the same ZUORA_* variables)",
    "aclose": "closes the client (each command does, when it ends)",
    "iter_runs": "the deprecated name of stream_runs",
}
