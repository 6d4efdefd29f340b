"""Griffe extension: a parameter whose default is a module constant shows the constant's value.

``wait_for_run(run_id, timeout=DEFAULT_WAIT_TIMEOUT)`` tells a reader nothing, and the
constant lives in a private module the reference does not show. Once the package is loaded,
each parameter default that names a constant with a literal value (``DEFAULT_WAIT_TIMEOUT =
3600.0``) is replaced by that value, so the reference reads ``timeout=3600.0``.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

_ARITHMETIC = re.compile(r"[0-9_.eE\s*+\-/()]+")


class LiteralDefaults(griffe.Extension):
    def on_package(self, *, pkg: griffe.Module, **_: Any) -> None:
        for function in _functions(pkg):
            for parameter in function.parameters:
                value = _constant_value(pkg, parameter.default)
                if value is not None:
                    parameter.default = value


def _functions(obj: griffe.Object, seen: set[str] | None = None) -> list[griffe.Function]:
    seen = set() if seen is None else seen
    found: list[griffe.Function] = []
    for member in obj.members.values():
        if member.is_alias or member.path in seen:
            continue  # aliases point at objects visited where they are defined
        seen.add(member.path)
        if isinstance(member, griffe.Function):
            found.append(member)
        elif isinstance(member, griffe.Module | griffe.Class):
            found.extend(_functions(member, seen))
    return found


def _constant_value(pkg: griffe.Module, default: object) -> str | None:
    if not isinstance(default, griffe.ExprName):
        return None
    try:
        target = pkg.modules_collection[default.canonical_path]
    except (KeyError, ValueError, griffe.AliasResolutionError, griffe.CyclicAliasError):
        return None
    if target.is_alias:
        try:
            target = target.final_target
        except (griffe.AliasResolutionError, griffe.CyclicAliasError):
            return None
    value = getattr(target, "value", None)
    # A literal (3600.0, 'x') or plain arithmetic on numbers (64 * 1024 * 1024); any other
    # expression would be no clearer than the name.
    text = None if value is None else str(value)
    if text is not None and (isinstance(value, str) or _ARITHMETIC.fullmatch(text)):
        return text
    return None
