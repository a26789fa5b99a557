"""`set-target{target=NAME|FILE}`: choose the machine every later pass costs and maps for."""

from __future__ import annotations

from dataclasses import dataclass

from xcompass.dialects.hw import TARGET_ATTR, TargetAttr
from xcompass.passes.errors import PassFailure
from xdsl.context import Context
from xdsl.dialects.builtin import ModuleOp, StringAttr
from xdsl.passes import ModulePass

from xcompass.errors import XcompassError
from xcompass.hardware.targetfile import resolve_target_spec, target_data


@dataclass(frozen=True)
class SetTargetPass(ModulePass):
    """Validate a preset name or target file and record it as the module's `xcompass.target`."""

    name = "set-target"

    target: str = ""
    embed: bool = False
    """Embed the whole description as `#xhw.target<...>` instead of naming it."""

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        if not self.target:
            raise PassFailure("set-target: missing option 'target' (set-target{target=NAME|FILE})")
        try:
            resolved = resolve_target_spec(self.target)
            if self.embed:
                data = target_data(resolved)
                name = data.get("meta", {}).get("name", self.target)
                op.attributes[TARGET_ATTR] = TargetAttr.from_data(name, data)
                return
        except XcompassError as exc:
            raise PassFailure(f"set-target: {exc}") from None
        op.attributes[TARGET_ATTR] = StringAttr(resolved)
