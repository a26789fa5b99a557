"""`set-target{target=NAME|FILE}`: choose the machine every later pass costs and maps for."""

from __future__ import annotations

from dataclasses import dataclass

from xcompass.passes.errors import PassFailure
from xdsl.context import Context
from xdsl.dialects.builtin import ModuleOp, StringAttr
from xdsl.passes import ModulePass

from xcompass.errors import XcompassError
from xcompass.targets import resolve_target_spec

TARGET_ATTR = "xcompass.target"


@dataclass(frozen=True)
class SetTargetPass(ModulePass):
    """Validate a preset name or target file and record it as the module's `xcompass.target`."""

    name = "set-target"

    target: str = ""

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        if not self.target:
            raise PassFailure("set-target: missing option 'target' (set-target{target=NAME|FILE})")
        try:
            resolved = resolve_target_spec(self.target)
        except XcompassError as exc:
            raise PassFailure(f"set-target: {exc}") from None
        op.attributes[TARGET_ATTR] = StringAttr(resolved)
