"""Verifier errors that remember their op, so drivers can print `file:line:col: error: ...`."""

from __future__ import annotations

from xdsl.dialects.builtin import FileLineColLoc
from xdsl.ir import Operation
from xdsl.utils.exceptions import VerifyException


class OpVerifyError(VerifyException):
    """A verifier failure tied to the op that failed."""

    def __init__(self, op: Operation, message: str):
        super().__init__(f"'{op.name}' {message}")
        self.op = op


def op_location(op: Operation) -> str | None:
    """`file:line:col` of an op parsed from text, or None for ops built in Python."""
    loc = op.location
    if isinstance(loc, FileLineColLoc):
        return f"{loc.filename.data}:{loc.line.data}:{loc.column.data}"
    return None
