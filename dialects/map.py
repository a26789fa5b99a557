"""The `map` dialect: a mapping as Compass's computation execution graph.

A task runs a contiguous range of units of one micro-batch on one chiplet, or on a
tensor-parallel group; `after` names the tasks that produced its inputs (a NoP transfer when
the chiplets differ). Units are decoder layers (`map.mapping @m layers 32 ...`,
`map.task @mb0 layers 0 to 16 ...`) or, below a layer, the units of a granularity
(`map.mapping @m units 580 of "group" ...`, `map.task @mb0 units 0 to 18 ...`: kernels of the
lowered layers; `map.mapping @m units 485 of "tile" width 128 heads 1 ...`: Compass's tiles,
GEMMs in N-tiles of `width` columns and attention per `heads` heads and request group).
`segments` are the units where a new execution segment starts: every micro-batch finishes a
segment's units on a chiplet before the next segment's. This is the canonical, verifiable form
of the search genome and converts losslessly to and from it.

The verifiers check what the IR itself carries (ranges, coverage, dependencies, the module's
micro-batches); whether a mapping fits its target (chiplets, TP groups, memory) is judged by the
passes that read it (`xcompass.passes.ir_bridge.check_placement`).
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum

import numpy as np
from xcompass.dialects.diagnostics import OpVerifyError
from xdsl.dialects.builtin import (
    I64,
    DenseArrayBase,
    IntegerAttr,
    ModuleOp,
    StringAttr,
    SymbolNameConstraint,
    SymbolRefAttr,
    i64,
)
from xdsl.dialects.utils import EnumAttribute
from xdsl.ir import (
    Block,
    Dialect,
    ParametrizedAttribute,
    Region,
    SpacedOpaqueSyntaxAttribute,
    SSAValue,
    TypeAttribute,
)
from xdsl.irdl import (
    IRDLOperation,
    irdl_attr_definition,
    irdl_op_definition,
    opt_prop_def,
    prop_def,
    region_def,
    result_def,
    traits_def,
    var_operand_def,
)
from xdsl.traits import HasParent, NoTerminator, SymbolOpInterface

from xcompass.engine.mapping import Groups, Mapping
from xcompass.engine.units import Units
from xcompass.names import GRANULARITIES


class UnitKind(StrEnum):
    LAYERS = "layers"
    UNITS = "units"


@irdl_attr_definition
class UnitKindAttr(EnumAttribute[UnitKind], SpacedOpaqueSyntaxAttribute):
    """What a mapping's indices count: decoder layers, or units below a layer."""

    name = "map.unit_kind"


@irdl_attr_definition
class TokenType(ParametrizedAttribute, TypeAttribute):
    """Completion of a task: what a dependent task waits for."""

    name = "map.token"


@irdl_op_definition
class MappingOp(IRDLOperation):
    name = "map.mapping"
    sym_name = prop_def(SymbolNameConstraint())
    unit_kind = prop_def(UnitKindAttr)
    layers = prop_def(IntegerAttr[I64])  # how many units (layers at granularity=layer)
    granularity = opt_prop_def(StringAttr)
    tile_width = opt_prop_def(IntegerAttr[I64])  # granularity "tile": GEMM N-tile columns
    tile_heads = opt_prop_def(IntegerAttr[I64])  # granularity "tile": heads per attention unit
    segments = prop_def(DenseArrayBase.constr(i64))
    body = region_def("single_block")
    traits = traits_def(SymbolOpInterface(), NoTerminator())
    assembly_format = (
        "$sym_name $unit_kind $layers (`of` $granularity^)? (`width` $tile_width^)? "
        "(`heads` $tile_heads^)? `segments` $segments $body attr-dict"
    )

    def __init__(
        self,
        sym_name: str,
        layers: int,
        segments: Sequence[int],
        tasks: Sequence[TaskOp],
        granularity: str = "layer",
        tiles: tuple[int, int] | None = None,
    ):
        """`tiles` = (width, heads) of granularity "tile"."""
        props = {
            "sym_name": StringAttr(sym_name),
            "unit_kind": UnitKindAttr(
                UnitKind.LAYERS if granularity == "layer" else UnitKind.UNITS
            ),
            "layers": IntegerAttr(layers, i64),
            "segments": DenseArrayBase.from_list(i64, list(segments)),
        }
        if granularity != "layer":
            props["granularity"] = StringAttr(granularity)
        if tiles is not None:
            props["tile_width"] = IntegerAttr(tiles[0], i64)
            props["tile_heads"] = IntegerAttr(tiles[1], i64)
        super().__init__(properties=props, regions=[Region(Block(tasks))])

    @property
    def granularity_name(self) -> str:
        return self.granularity.data if self.granularity is not None else "layer"

    @property
    def tiles(self) -> tuple[int, int] | None:
        """(width, heads) of a tile mapping; None at another granularity."""
        if self.tile_width is None or self.tile_heads is None:
            return None
        return self.tile_width.value.data, self.tile_heads.value.data

    @property
    def unit_word(self) -> str:
        return "layer" if self.unit_kind.data == UnitKind.LAYERS else "unit"

    @property
    def tasks(self) -> list[TaskOp]:
        return [op for op in self.body.ops if isinstance(op, TaskOp)]

    @property
    def segment_starts(self) -> list[int]:
        return list(self.segments.get_values())

    def verify_(self) -> None:  # noqa: C901
        layers = self.layers.value.data
        word = self.unit_word
        granularity = self.granularity_name
        if granularity not in GRANULARITIES:
            raise OpVerifyError(
                self,
                f"unknown granularity {granularity[:40]!r} (valid: {', '.join(GRANULARITIES)})",
            )
        if (granularity == "layer") != (word == "layer"):
            raise OpVerifyError(
                self, "granularity 'layer' counts layers; a finer granularity counts units"
            )
        given = [
            w for w, a in (("width", self.tile_width), ("heads", self.tile_heads)) if a is not None
        ]
        if granularity == "tile" and len(given) < 2:
            raise OpVerifyError(
                self, "granularity 'tile' needs its tile sizes: units N of \"tile\" width W heads H"
            )
        if granularity != "tile" and given:
            raise OpVerifyError(
                self, f"'{given[0]}' is a tile size; granularity '{granularity}' has none"
            )
        for what, value in zip(("width", "heads"), self.tiles or (), strict=False):
            if value < 1:
                raise OpVerifyError(self, f"tile {what} must be positive, got {value}")
        if layers <= 0:
            raise OpVerifyError(self, f"{word}s must be positive, got {layers}")
        starts = self.segment_starts
        if starts != sorted(set(starts)) or any(not 0 < s < layers for s in starts):
            raise OpVerifyError(
                self, f"segments must be increasing {word} indices in (0, {layers}), got {starts}"
            )
        position = {task: i for i, task in enumerate(self.tasks)}
        for task in self.tasks:
            for dep in task.deps:
                if not isinstance(dep.owner, TaskOp) or dep.owner.parent is not task.parent:
                    raise OpVerifyError(task, "may only wait for tasks of the same mapping")
                if position[dep.owner] >= position[task]:
                    raise OpVerifyError(
                        task,
                        "waits for a task that comes after it (a dependency cycle); "
                        "tasks must be listed in a topological order",
                    )
        covered: dict[str, list[int]] = {}
        for task in self.tasks:
            lo, hi = task.lo.value.data, task.hi.value.data
            mb = task.microbatch.root_reference.data
            if task.unit_kind != self.unit_kind:
                raise OpVerifyError(
                    task, f"counts {task.unit_kind.data}; its mapping counts {word}s"
                )
            if not 0 <= lo < hi <= layers:
                raise OpVerifyError(task, f"{word} range [{lo}, {hi}) not within [0, {layers})")
            for s in starts:
                if lo < s < hi:
                    raise OpVerifyError(
                        task, f"@{mb} {word}s [{lo}, {hi}) cross the segment boundary at {word} {s}"
                    )
            owner = covered.setdefault(mb, [0] * layers)
            for layer in range(lo, hi):
                if owner[layer]:
                    raise OpVerifyError(task, f"(@{mb}, {word} {layer}) is placed twice")
                owner[layer] = 1
            if lo > 0:
                producer = [d.owner for d in task.deps if isinstance(d.owner, TaskOp)]
                same = [p for p in producer if p.microbatch == task.microbatch]
                # layers form a chain: the producer computes layer lo - 1; units form a DAG,
                # whose edges the IR alone does not know: some task of the micro-batch
                if (word == "layer" and not any(p.hi.value.data == lo for p in same)) or not same:
                    what = f"layer {lo - 1}" if word == "layer" else "its inputs"
                    raise OpVerifyError(
                        task,
                        f"@{mb} {word}s [{lo}, {hi}) must run after the task that computes "
                        f"{what} of @{mb}",
                    )
        for mb, owner in covered.items():
            if not all(owner):
                raise OpVerifyError(self, f"(@{mb}, {word} {owner.index(0)}) is never placed")
        module = self.parent_op()
        if isinstance(module, ModuleOp):
            from xcompass.dialects.llm import WorkloadOp

            for op in module.ops:
                if isinstance(op, WorkloadOp):
                    for mb in op.microbatches:
                        if mb.sym_name.data not in covered:
                            raise OpVerifyError(
                                self, f"micro-batch @{mb.sym_name.data} is never placed"
                            )
                    known = {mb.sym_name.data for mb in op.microbatches}
                    for name in covered:
                        if name not in known:
                            raise OpVerifyError(
                                self, f"@{name} is not a micro-batch of @{op.sym_name.data}"
                            )


@irdl_op_definition
class TaskOp(IRDLOperation):
    name = "map.task"
    microbatch = prop_def(SymbolRefAttr)
    unit_kind = prop_def(UnitKindAttr)
    lo = prop_def(IntegerAttr[I64])
    hi = prop_def(IntegerAttr[I64])
    chips = prop_def(DenseArrayBase.constr(i64))
    deps = var_operand_def(TokenType)
    done = result_def(TokenType)
    traits = traits_def(HasParent(MappingOp))
    assembly_format = "$microbatch $unit_kind $lo `to` $hi `on` $chips (`after` $deps^)? attr-dict"

    def __init__(
        self,
        microbatch: str,
        lo: int,
        hi: int,
        chips: Sequence[int],
        deps: Sequence[SSAValue] = (),
        unit_kind: UnitKind = UnitKind.LAYERS,
    ):
        super().__init__(
            operands=[list(deps)],
            result_types=[TokenType()],
            properties={
                "microbatch": SymbolRefAttr(microbatch),
                "unit_kind": UnitKindAttr(unit_kind),
                "lo": IntegerAttr(lo, i64),
                "hi": IntegerAttr(hi, i64),
                "chips": DenseArrayBase.from_list(i64, list(chips)),
            },
        )

    @property
    def chiplets(self) -> tuple[int, ...]:
        return tuple(int(c) for c in self.chips.get_values())

    def verify_(self) -> None:
        chips = self.chiplets
        if not chips:
            raise OpVerifyError(self, "runs on no chiplet")
        if len(set(chips)) != len(chips) or min(chips) < 0:
            raise OpVerifyError(self, f"chiplets {list(chips)} must be distinct and non-negative")


MAP = Dialect("map", [MappingOp, TaskOp], [TokenType, UnitKindAttr])


# --- genome <-> IR --------------------------------------------------------------------------


def to_genome(op: MappingOp, microbatches: Sequence[str], groups: Groups) -> Mapping:
    """The mapping's arrays: boundaries[L-1] and place[B, L] (placement group ids)."""
    layers = op.layers.value.data
    index = {name: i for i, name in enumerate(microbatches)}
    place = np.zeros((len(microbatches), layers), dtype=np.int64)
    for task in op.tasks:
        b = index[task.microbatch.root_reference.data]
        place[b, task.lo.value.data : task.hi.value.data] = groups.find(task.chiplets)
    boundaries = np.zeros(max(layers - 1, 0), dtype=bool)
    for s in op.segment_starts:
        boundaries[s - 1] = True
    return Mapping(boundaries, place)


def from_genome(
    name: str,
    mapping: Mapping,
    microbatches: Sequence[str],
    groups: Groups,
    units: Units | None = None,
    tiles: tuple[int, int] | None = None,
) -> MappingOp:
    """Tasks = maximal runs of one micro-batch's units on one group inside one segment, in
    execution order (segment, micro-batch, unit). A task waits for its micro-batch's previous
    task (layers), or for every earlier task that computes an input of one of its units (the
    unit DAG of a finer granularity). `tiles` = (width, heads) of a tile mapping's units."""
    B, L = mapping.place.shape
    granularity = "layer" if units is None else units.granularity
    kind = UnitKind.LAYERS if granularity == "layer" else UnitKind.UNITS
    tasks: list[TaskOp] = []
    last: dict[int, SSAValue] = {}
    task_of: dict[tuple[int, int], SSAValue] = {}
    for lo_seg, hi_seg in mapping.segments():
        for b in range(B):
            lo = lo_seg
            while lo < hi_seg:
                g = mapping.place[b, lo]
                hi = lo + 1
                while hi < hi_seg and mapping.place[b, hi] == g:
                    hi += 1
                if units is None or granularity == "layer":
                    deps = [last[b]] if b in last else []
                else:
                    srcs = {int(v) for u in range(lo, hi) for v in units.preds(u)} - set(
                        range(lo, hi)
                    )
                    deps = list(dict.fromkeys(task_of[b, v] for v in sorted(srcs)))
                    deps = deps or ([last[b]] if b in last else [])
                task = TaskOp(microbatches[b], lo, hi, groups.chips(int(g)), deps, kind)
                prefix = "l" if kind == UnitKind.LAYERS else "u"
                task.done.name_hint = f"{microbatches[b]}_{prefix}{lo}"
                last[b] = task.done
                for u in range(lo, hi):
                    task_of[b, u] = task.done
                tasks.append(task)
                lo = hi
    starts = [int(i) + 1 for i in np.flatnonzero(mapping.boundaries)]
    return MappingOp(name, L, starts, tasks, granularity, tiles)
