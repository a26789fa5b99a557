"""Read what the passes need out of the IR, as the core's plain data."""

from __future__ import annotations

from dataclasses import dataclass

from xcompass.dialects import llm
from xcompass.dialects.hw import module_target
from xcompass.dialects.llm_lowering import FusedOp, FusedYieldOp, pad_policy, stage_policy
from xcompass.dialects.map import MappingOp, TaskOp, UnitKind, to_genome
from xcompass.passes.errors import PassFailure
from xdsl.dialects.builtin import IntegerAttr, ModuleOp
from xdsl.ir import Operation, SSAValue
from xdsl.rewriter import Rewriter

from xcompass.cost.opcost import OpSpec
from xcompass.engine.mapping import Groups, Mapping, check_memory, make_groups
from xcompass.errors import XcompassError
from xcompass.hardware.targets import Target
from xcompass.layer.attention import StagePolicy
from xcompass.layer.fusion import Group
from xcompass.layer.graph import INPUT, LayerGraph, Node
from xcompass.layer.kernels import Kernel, Lowering, layer_kernels
from xcompass.layer.layercost import memory_table
from xcompass.layer.padding import PadPolicy
from xcompass.model.models import ModelConfig
from xcompass.model.workload import Workload, split_microbatches

_UNARY = {
    llm.RMSNormOp: "rmsnorm",
    llm.LayerNormOp: "layernorm",
    llm.RoPEOp: "rope",
    llm.SiLUOp: "silu",
    llm.GeLUOp: "gelu",
    llm.ReLUOp: "relu",
}
_BINARY = {llm.AddOp: "add", llm.MulOp: "mul"}


def _features(value: SSAValue) -> int:
    return value.type.get_shape()[1]


def _int(attr: IntegerAttr | None) -> int:
    return attr.value.data if attr is not None else 0


def _node(op: Operation, name: str, inputs: tuple[int, ...]) -> Node:
    """The graph node of one `llm` graph op."""
    if type(op) in _UNARY:
        heads = _int(op.heads) if isinstance(op, llm.RoPEOp) else 0
        return Node(name, _UNARY[type(op)], inputs, _features(op.output), heads=heads)
    if type(op) in _BINARY:
        return Node(name, _BINARY[type(op)], inputs, _features(op.output))
    if isinstance(op, llm.LinearOp):
        return Node(name, "linear", inputs, op.out_features, in_width=op.in_features)
    if isinstance(op, llm.AttentionOp):
        return Node(
            name,
            "attention",
            inputs,
            _features(op.output),
            heads=_int(op.heads),
            kv_heads=_int(op.kv_heads),
            head_dim=_int(op.head_dim),
            window=_int(op.window),
            causal=op.causal is not None,
        )
    if isinstance(op, llm.MoEOp):
        width = _features(op.output)
        return Node(
            name,
            "moe",
            inputs,
            width,
            in_width=width,
            experts=_int(op.experts),
            top_k=_int(op.top_k),
            ffn=_int(op.ffn),
            gated=op.gated is not None,
        )
    raise PassFailure(f"{op.name} cannot be costed inside an llm.layer")


@dataclass
class LayerIR:
    """A layer read from IR: its graph, the lowering decisions it records, and the IR op of
    every node (so a pass can write its decision back)."""

    graph: LayerGraph
    lowering: Lowering
    ops: list[Operation]


def read_layer(layer: llm.LayerOp, dtype_bytes: int) -> LayerIR:
    """A layer's op graph and its lowering decisions (fused groups, attention stages, GEMM
    covers), losslessly: `layer_kernels(graph, lowering)` is what the IR says to run."""
    block = layer.body.block
    if len(block.args) != 1:
        raise PassFailure(
            f"layer {layer.index.value.data}: expected one input, got {len(block.args)}"
        )
    index: dict[SSAValue, int] = {block.args[0]: INPUT}
    nodes: list[Node] = []
    ops: list[Operation] = []
    groups: list[Group] = []
    attention: list[tuple[str, StagePolicy]] = []
    padding: list[tuple[str, PadPolicy]] = []
    output = INPUT

    def add(op: Operation) -> None:
        name = (op.results[0].name_hint if op.results else None) or f"{op.name[4:]}{len(nodes)}"
        inputs = tuple(index[v] for v in op.operands)
        nodes.append(_node(op, name, inputs))
        ops.append(op)
        index[op.results[0]] = len(nodes) - 1
        if isinstance(op, llm.AttentionOp) and (policy := stage_policy(op)):
            attention.append((name, policy))
        if isinstance(op, llm.LinearOp) and (pad := pad_policy(op)):
            padding.append((name, pad))

    for op in block.ops:
        if isinstance(op, FusedOp):
            inner = op.body.block
            for arg, value in zip(inner.args, op.inputs, strict=True):
                index[arg] = index[value]
            first = len(nodes)
            for member in inner.ops:
                if isinstance(member, FusedYieldOp):
                    for result, value in zip(op.outputs, member.values, strict=True):
                        index[result] = index[value]
                else:
                    add(member)
            members = tuple(range(first, len(nodes)))
            names = {nodes[i].name: i for i in members}
            anchor = tuple(names[a] for a in op.anchor.data.split("+") if a in names)
            kinds = tuple(k.data for k in op.kinds)
            groups.append(Group(members, anchor, kinds, op.level.data, op.saves.value.data))
        elif isinstance(op, llm.YieldOp):
            output = index[op.values[0]]
        else:
            add(op)
    graph = LayerGraph(tuple(nodes), output, _features(block.args[0]), dtype_bytes)
    lowering = Lowering(tuple(groups), tuple(attention), tuple(padding), bool(groups))
    return LayerIR(graph, lowering, ops)


def layer_ops(layer: llm.LayerOp, dtype_bytes: int = 2) -> list[OpSpec]:
    """The contractions of a layer's kernels (for what they weigh)."""
    lay = read_layer(layer, dtype_bytes)
    return [s for k in layer_kernels(lay.graph, lay.lowering) for s in k.contractions]


@dataclass
class Problem:
    """Everything a mapping pass needs from the module."""

    module: ModuleOp
    target: Target
    model: ModelConfig
    workload: Workload
    ops: list[OpSpec]  # the contractions of a layer's kernels (their weights)
    layers: int
    whole_model: bool
    layer: LayerIR | None = None  # the first layer, as read (every layer is costed like it)

    @property
    def kernels(self) -> tuple[Kernel, ...]:
        """The kernels of one decoder layer, as its IR (lowered or not) says to run them."""
        return layer_kernels(self.layer.graph, self.layer.lowering)

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
    model = llm.model_config(model_op)
    try:
        first = read_layer(layers[0], model.dtype_bytes)
    except PassFailure as exc:
        raise PassFailure(f"{pass_name}: {exc}") from None
    ops = [s for k in layer_kernels(first.graph, first.lowering) for s in k.contractions]
    return Problem(
        module, target, model, llm.workload_data(workload_op), ops, len(layers), whole, first
    )


def find_mapping(module: ModuleOp) -> MappingOp | None:
    return next((op for op in module.ops if isinstance(op, MappingOp)), None)


def _task_text(task: TaskOp) -> str:
    word = "layers" if task.unit_kind.data == UnitKind.LAYERS else "units"
    mb = task.microbatch.root_reference.data
    return (
        f"task @{mb} {word} {task.lo.value.data} to {task.hi.value.data} on {list(task.chiplets)}"
    )


def check_placement(op: MappingOp, problem: Problem, pass_name: str) -> None:
    """Whether the mapping fits the module's target: its chiplets exist, its TP groups are
    real and divide the heads, and (for a layer mapping) memory fits. The map dialect verifies
    only what the IR carries; a pass that reads a mapping calls this first."""
    target, model, workload = problem.target, problem.model, problem.workload
    tp_options = sorted({len(t.chiplets) for t in op.tasks} | {1})
    groups = make_groups(target, tuple(tp_options))
    where = f"{pass_name} on {target.name}"
    for task in op.tasks:
        chips = task.chiplets
        if max(chips) >= target.chiplets:
            raise PassFailure(
                f"{where}: {_task_text(task)}: chiplet {max(chips)} does not exist "
                f"({target.name} has {target.chiplets})"
            )
        tp = len(chips)
        if model.heads % tp:
            raise PassFailure(
                f"{where}: {_task_text(task)}: tensor-parallel degree {tp} does not divide the "
                f"model's {model.heads} heads"
            )
        try:
            groups.find(chips)
        except XcompassError:
            raise PassFailure(
                f"{where}: {_task_text(task)}: chiplets {list(chips)} are not a tensor-parallel "
                f"group of {target.name} ({tp} consecutive chiplets of one kind, aligned to {tp})"
            ) from None
    if op.granularity_name != "layer":
        return  # below a layer, map-cost and llm-partition check memory with the units
    if op.layers.value.data > model.layers:
        raise PassFailure(
            f"{where}: @{op.sym_name.data} maps {op.layers.value.data} layers, the model has "
            f"{model.layers}"
        )
    names = [mb.name for mb in workload.microbatches]
    table = memory_table(model, workload, groups.tp_options)
    try:
        check_memory(to_genome(op, names, groups), groups, table, target)
    except XcompassError as exc:
        raise PassFailure(f"{where}: @{op.sym_name.data} {exc}") from None


@dataclass
class PlacedMapping:
    """The module's mapping as a pass reads it: the op, the module's problem, the TP groups
    its tasks use and the genome, checked against the target."""

    op: MappingOp
    problem: Problem
    groups: Groups
    mapping: Mapping


def read_mapping(module: ModuleOp, pass_name: str) -> PlacedMapping:
    """The module's `map.mapping`, read and checked against its target (`check_placement`)."""
    op = find_mapping(module)
    if op is None:
        raise PassFailure(f"{pass_name}: the module has no map.mapping (run llm-partition first)")
    problem = read_problem(module, pass_name)
    check_placement(op, problem, pass_name)
    tps = sorted({len(t.chiplets) for t in op.tasks} | {1})
    groups = make_groups(problem.target, tuple(tps))
    return PlacedMapping(op, problem, groups, to_genome(op, problem.microbatch_names, groups))


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
