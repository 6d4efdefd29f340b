"""Griffe extension: a method ``WorkflowClient`` takes from a module function shows as that method.

``WorkflowClient`` writes each operation once, as a function of the client in its own
module, and takes it as its method (``get_workflow = _operations.get_workflow``). Griffe
reads that line as an attribute, so the reference would show a name without a signature
or a docstring. Once the package is loaded, each such attribute becomes a method: the
function's signature (its first parameter, the client, shown as ``self``), its docstring,
its return type.
"""

from __future__ import annotations

from typing import Any

import griffe

CLIENT = "_client.WorkflowClient"


class ClientMethods(griffe.Extension):
    def on_package(self, *, pkg: griffe.Module, **_: Any) -> None:
        if pkg.name != "zuora_wf_async":
            return
        cls = pkg[CLIENT]
        for name, member in list(cls.members.items()):
            function = _function_named_by(pkg, member)
            if function is not None:
                cls.set_member(name, _as_method(function, name, cls))


def _function_named_by(pkg: griffe.Module, member: object) -> griffe.Function | None:
    if not isinstance(member, griffe.Attribute) or member.is_alias:
        return None
    value = member.value
    if not isinstance(value, griffe.ExprAttribute | griffe.ExprName):
        return None
    try:
        target = pkg.modules_collection[value.canonical_path]
        if target.is_alias:
            target = target.final_target
    except (KeyError, ValueError, griffe.AliasResolutionError, griffe.CyclicAliasError):
        return None
    return target if isinstance(target, griffe.Function) else None


def _as_method(function: griffe.Function, name: str, cls: griffe.Class) -> griffe.Function:
    first, *rest = function.parameters
    method = griffe.Function(
        name,
        lineno=function.lineno,
        endlineno=function.endlineno,
        parameters=griffe.Parameters(griffe.Parameter("self", kind=first.kind), *rest),
        returns=function.returns,
        decorators=function.decorators,
        docstring=function.docstring,
        parent=cls,
    )
    method.labels |= function.labels  # "async" among them
    return method
