"""Read what the passes need out of the IR, as the core's plain data."""

from __future__ import annotations

from dataclasses import dataclass

from xcompass.dialects import llm
from xcompass.dialects.hw import module_target
from xcompass.dialects.map import MappingOp
from xcompass.passes.errors import PassFailure
from xdsl.dialects.builtin import ModuleOp
from xdsl.ir import Operation, SSAValue
from xdsl.rewriter import Rewriter

from xcompass.errors import XcompassError
from xcompass.models import ModelConfig
from xcompass.opcost import OpSpec
from xcompass.targets import Target
from xcompass.workload import Workload, split_microbatches

_UNARY = (llm.RMSNormOp, llm.LayerNormOp, llm.RoPEOp, llm.SiLUOp, llm.GeLUOp, llm.ReLUOp)
_ROW_INPUTS = (llm.AttentionOp, llm.MulOp, llm.SiLUOp, llm.GeLUOp, llm.ReLUOp)


def _features(value: SSAValue) -> int:
    return value.type.get_shape()[1]


def layer_ops(layer: llm.LayerOp) -> list[OpSpec]:
    """Kernels of one layer; linears reading the same value fuse into one GEMM (QKV, gate+up)."""
    ops: list[OpSpec] = []
    fused: set[Operation] = set()
    for op in layer.body.block.ops:
        if op in fused:
            continue
        if isinstance(op, llm.LinearOp):
            siblings = [
                u.operation
                for u in op.input.uses
                if isinstance(u.operation, llm.LinearOp) and u.operation.parent is op.parent
            ]
            fused.update(siblings)
            n = sum(s.out_features for s in siblings)
            routes = any(
                isinstance(u.operation, llm.MoEOp) and u.index == 1 for u in op.output.uses
            )
            # the MoE router is tiny: every TP shard computes it whole
            row = isinstance(op.input.owner, _ROW_INPUTS)
            split = "" if routes else ("k" if row else "n")
            ops.append(OpSpec("gemm", f"linear{len(ops)}", n=n, k=op.in_features, split=split))
        elif isinstance(op, llm.AttentionOp):
            ops.append(
                OpSpec(
                    "attention",
                    "attention",
                    heads=op.heads.value.data,
                    kv_heads=op.kv_heads.value.data,
                    head_dim=op.head_dim.value.data,
                    window=op.window.value.data if op.window else 0,
                    causal=op.causal is not None,
                    split="heads",
                )
            )
        elif isinstance(op, llm.MoEOp):
            ops.append(
                OpSpec(
                    "moe",
                    "moe",
                    k=_features(op.input),
                    ffn=op.ffn.value.data,
                    experts=op.experts.value.data,
                    top_k=op.top_k.value.data,
                    gated=op.gated is not None,
                    split="k",
                )
            )
        elif isinstance(op, _UNARY):
            split = "heads" if isinstance(op, llm.RoPEOp) else ""
            ops.append(
                OpSpec("eltwise", op.name, width=_features(op.input), tensors=2, split=split)
            )
        elif isinstance(op, llm.AddOp | llm.MulOp):
            ops.append(OpSpec("eltwise", op.name, width=_features(op.lhs), tensors=3))
    return ops


@dataclass
class Problem:
    """Everything a mapping pass needs from the module."""

    module: ModuleOp
    target: Target
    model: ModelConfig
    workload: Workload
    ops: list[OpSpec]
    layers: int
    whole_model: bool

    @property
    def microbatch_names(self) -> list[str]:
        return [mb.name for mb in self.workload.microbatches]


def read_problem(module: ModuleOp, pass_name: str) -> Problem:
    try:
        target = module_target(module)
    except XcompassError as exc:
        raise PassFailure(f"{pass_name}: {exc}") from None
    if target is None:
        raise PassFailure(f"{pass_name}: the module has no xcompass.target (run set-target first)")
    model_op, workload_op = llm.find_model_and_workload(module)
    if model_op is None or workload_op is None:
        missing = "llm.model" if model_op is None else "llm.workload"
        raise PassFailure(f"{pass_name}: the module has no {missing}")
    layers = [op for op in module.walk() if isinstance(op, llm.LayerOp)]
    if not layers:
        raise PassFailure(f"{pass_name}: the module has no llm.layer to map")
    whole = any(isinstance(op, llm.EmbeddingOp) for op in module.walk())
    return Problem(
        module,
        target,
        llm.model_config(model_op),
        llm.workload_data(workload_op),
        layer_ops(layers[0]),
        len(layers),
        whole,
    )


def find_mapping(module: ModuleOp) -> MappingOp | None:
    return next((op for op in module.ops if isinstance(op, MappingOp)), None)


def resplit_workload(module: ModuleOp, microbatches: int) -> None:
    """Replace the module's workload by the same requests dealt into N micro-batches."""
    _, workload_op = llm.find_model_and_workload(module)
    if workload_op is None:
        raise XcompassError("the module has no llm.workload")
    workload = llm.workload_data(workload_op)
    new = llm.build_workload_op(split_microbatches(list(workload.requests), microbatches))
    Rewriter.replace_op(workload_op, new)


def problem_chiplets(module: ModuleOp) -> int:
    try:
        target = module_target(module)
    except XcompassError:
        return 1  # read_problem reports the bad target
    return target.chiplets if target is not None else 1
