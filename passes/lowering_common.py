"""What the lowering passes share: reading the module's target, model, workload and layers, and
naming bad option values in one line (choice options are `Literal[...]` fields:
`xcompass.passes.errors.check_choices`)."""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

from xcompass.dialects import llm
from xcompass.passes.errors import PassFailure
from xcompass.passes.ir_bridge import LayerIR, read_layer, read_problem
from xdsl.dialects.builtin import ModuleOp

from xcompass.cost.opcost import RequestGroup
from xcompass.errors import XcompassError, shown
from xcompass.hardware.targets import ChipletKind, Target
from xcompass.layer.layercost import request_groups


@dataclass
class LoweringInput:
    """The module as a lowering pass sees it. Decisions are made for the target's first
    chiplet kind and the workload's micro-batches."""

    target: Target
    chip: ChipletKind
    microbatches: list[list[RequestGroup]]
    dtype_bytes: int
    layers: list[llm.LayerOp]

    def read(self) -> Iterator[tuple[llm.LayerOp, LayerIR]]:
        for layer in self.layers:
            yield layer, read_layer(layer, self.dtype_bytes)


def read_input(module: ModuleOp, pass_name: str) -> LoweringInput:
    problem = read_problem(module, pass_name)
    layers = [op for op in module.walk() if isinstance(op, llm.LayerOp)]
    return LoweringInput(
        problem.target,
        problem.target.kinds[0],
        request_groups(problem.workload),
        problem.model.dtype_bytes,
        layers,
    )


def check_level(pass_name: str, chip: ChipletKind, target: Target, level: str) -> None:
    if level and chip.level(level) is None:
        valid = ", ".join(lv.name for lv in chip.onchip)
        raise PassFailure(
            f"{pass_name} on {target.name}: option level={shown(repr(level), 40)} names no "
            f"on-chip level of {chip.kind} (valid: {valid})"
        )


def check_positive(pass_name: str, option: str, value: object, meaning: str) -> None:
    ok = isinstance(value, int | float) and not isinstance(value, bool)
    if not ok or not math.isfinite(value) or value <= 0:
        raise PassFailure(
            f"{pass_name}: option {option}={shown(str(value), 40)} is out of range: "
            f"must be a finite number > 0 ({meaning})"
        )


def failure(pass_name: str, exc: XcompassError) -> PassFailure:
    return PassFailure(f"{pass_name}: {exc}")
