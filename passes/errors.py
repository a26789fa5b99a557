"""The error a pass raises for bad input, and the one check of choice options; drivers print a
failure as a one-line diagnostic: `<pass>[ on <target>]: <what>`."""

from __future__ import annotations

import dataclasses
from typing import Any, Literal, get_args, get_origin, get_type_hints

from xdsl.passes import ModulePass
from xdsl.utils.exceptions import PassFailedException

from xcompass.errors import shown


class PassFailure(PassFailedException):
    """A pass could not run on this input (unknown target, infeasible mapping, ...)."""


def choices(typ: Any) -> tuple[str, ...] | None:
    """The values a `Literal[...]` option takes (None: not a choice option)."""
    return get_args(typ) if get_origin(typ) is Literal else None


def choice_message(pass_name: str, option: str, value: object, valid: tuple[str, ...]) -> str:
    """The one wording for a choice option given a value it does not take ("" is the option
    left out, never listed)."""
    listed = ", ".join(v for v in valid if v)
    return (
        f"{pass_name}: option '{option.replace('_', '-')}' expects one of {listed}; "
        f"got {shown(repr(value), 40)}"
    )


def check_choices(p: ModulePass) -> None:
    """Every `Literal[...]` field of a pass holds one of its values. xDSL checks them when it
    parses a pipeline; this is the same check for a pass built in Python."""
    hints = get_type_hints(type(p))
    for f in dataclasses.fields(p):
        valid = choices(hints.get(f.name))
        value = getattr(p, f.name)
        if valid is not None and value not in valid:
            raise PassFailure(choice_message(p.name, f.name, value, valid))
