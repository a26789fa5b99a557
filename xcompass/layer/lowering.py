"""The lowering pipeline on a layer graph, without IR: what `llm-fuse`, `llm-stage-attention`
and `llm-pad-tiles` decide, for callers that start from a model configuration (benchmarks,
tests). The passes call the same planners on the graph they read from IR.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from xcompass.cost.opcost import RequestGroup
from xcompass.errors import XcompassError, shown
from xcompass.hardware.targets import ChipletKind, Target
from xcompass.layer.attention import (
    AttentionShape,
    StagePolicy,
    check_mode,
    plan_stage,
    staging_level,
)
from xcompass.layer.fusion import FuseOptions, plan_fusion
from xcompass.layer.graph import LayerGraph, layer_graph
from xcompass.layer.kernels import Lowering, layer_kernels
from xcompass.layer.layercost import request_groups
from xcompass.layer.padding import PadPolicy, check_tiles, plan_cover
from xcompass.layer.padding import check_mode as check_pad_mode
from xcompass.model.models import ModelConfig
from xcompass.model.workload import Workload


@dataclass(frozen=True)
class Pipeline:
    """Which passes run, with which options (None: the pass does not run)."""

    fuse: FuseOptions | None = FuseOptions()
    stage_mode: str | None = "auto"
    stage_level: str = ""
    pad_mode: str | None = "virtual"
    pad_tiles: tuple[int, ...] = ()


DEFAULT = Pipeline()
"""`llm-fuse,llm-stage-attention,llm-pad-tiles` (xcompass.passes.DEFAULT_LOWERING)."""
PYTORCH = Pipeline(fuse=FuseOptions(prologue=False, epilogue=False, eltwise=False))
"""What PyTorch runs in a CUDA graph: fused QKV and gate+up GEMMs, separate norm, activation
and add kernels, one flash-attention kernel (xcompass.passes.PYTORCH_LOWERING)."""
NONE = Pipeline(fuse=None, stage_mode=None, pad_mode=None)
"""No lowering: IR costed as written."""


def request_shapes(microbatches: list[list[RequestGroup]]) -> list[tuple[int, int]]:
    """Distinct (new tokens, history) shapes of the workload, in order of appearance."""
    return list(dict.fromkeys((g.q, g.ctx) for mb in microbatches for g in mb))


def plan_attention(
    graph: LayerGraph,
    chip: ChipletKind,
    microbatches: list[list[RequestGroup]],
    mode: str = "auto",
    level: str = "",
) -> tuple[tuple[str, StagePolicy], ...]:
    """The stage policy of every attention op, with a stage for each request shape."""
    check_mode(mode)
    out = []
    for node in graph.nodes:
        if node.op != "attention":
            continue
        shape = AttentionShape(node.heads, node.kv_heads, node.head_dim)
        plans = tuple(
            ((q, ctx), plan_stage(chip, shape, q, ctx, graph.dtype_bytes, mode, level))
            for q, ctx in request_shapes(microbatches)
        )
        resolved = "" if mode == "unfused" else staging_level(chip, level).name
        out.append((node.name, StagePolicy(mode, resolved, plans)))
    return tuple(out)


def plan_padding(
    graph: LayerGraph,
    lowering: Lowering,
    chip: ChipletKind,
    microbatches: list[list[RequestGroup]],
    mode: str = "virtual",
    tiles: tuple[int, ...] = (),
) -> tuple[tuple[str, PadPolicy], ...]:
    """The padding policy of every linear, with a cover of each micro-batch's token count for
    the GEMM kernel it runs in (sibling linears share their fused GEMM's cover)."""
    check_pad_mode(mode)
    tiles = tuple(tiles) or chip.gemm_tiles
    check_tiles(chip, tiles)
    counts = list(dict.fromkeys(sum(g.q * g.count for g in mb) for mb in microbatches))
    out = []
    for kernel in layer_kernels(graph, Lowering(lowering.groups, lowering.attention)):
        gemm = next((s for s in kernel.specs if s.kind == "gemm"), None)
        if gemm is None or kernel.kind not in ("gemm",):
            continue
        plans = tuple(
            (m, plan_cover(chip, m, gemm.n, gemm.k, graph.dtype_bytes, tiles, mode)) for m in counts
        )
        policy = PadPolicy(mode, tiles, plans)
        out += [
            (name, policy) for name in kernel.ops if graph.nodes[graph.index(name)].op == "linear"
        ]
    return tuple(out)


def lower(
    graph: LayerGraph,
    chip: ChipletKind,
    microbatches: list[list[RequestGroup]],
    pipeline: Pipeline = DEFAULT,
) -> Lowering:
    """Run the pipeline's planners in pass order: fusion, attention staging, padding."""
    groups = ()
    if pipeline.fuse is not None:
        level = chip.level(pipeline.fuse.level) if pipeline.fuse.level else None
        groups = plan_fusion(graph, chip, microbatches, pipeline.fuse, level)
    lowering = Lowering(groups, fused=pipeline.fuse is not None)
    if pipeline.stage_mode is not None:
        attention = plan_attention(
            graph, chip, microbatches, pipeline.stage_mode, pipeline.stage_level
        )
        lowering = Lowering(groups, attention, fused=lowering.fused)
    if pipeline.pad_mode is not None:
        padding = plan_padding(
            graph, lowering, chip, microbatches, pipeline.pad_mode, pipeline.pad_tiles
        )
        lowering = Lowering(groups, lowering.attention, padding, lowering.fused)
    return lowering


PIPELINES: dict[str, Pipeline] = {"default": DEFAULT, "pytorch": PYTORCH, "none": NONE}
"""Named lowering pipelines (xcompass.passes.DEFAULT_LOWERING, PYTORCH_LOWERING, nothing)."""


def core_lowering(
    model: ModelConfig, target: Target, workload: Workload, name: str
) -> tuple[tuple, dict[str, Any]]:
    """The layer's kernels and the lowering summary, as the named pipeline's passes decide
    them (for the target's first chiplet kind and the step's micro-batches, like the passes)."""
    if name not in PIPELINES:
        raise XcompassError(
            f"lowering '{shown(name, 40)}': a Python caller names one of {', '.join(PIPELINES)} "
            "(a pass pipeline string needs the IR: use xcompass explore --lowering)"
        )
    graph, lowering = core_layer(model, target, workload, name)
    return layer_kernels(graph, lowering), lowering_summary(graph, lowering)


def core_layer(model: ModelConfig, target: Target, workload: Workload, name: str) -> tuple:
    """The layer's graph and the named pipeline's lowering decisions (what tiles cut)."""
    graph = layer_graph(model)
    return graph, lower(graph, target.kinds[0], request_groups(workload), PIPELINES[name])


def lowering_summary(graph: LayerGraph, lowering: Lowering) -> dict[str, Any]:
    """What the passes recorded for a layer (see FIELDS["lowering"])."""
    names = [node.name for node in graph.nodes]
    return {
        "fused": [
            {
                "kernel": "+".join(names[i] for i in grp.nodes),
                "kinds": list(grp.kinds),
                "anchor": "+".join(names[i] for i in grp.anchor),
                "level": grp.level,
                "saved_bytes_per_token": grp.saved,
            }
            for grp in lowering.groups
        ],
        "attention": [
            {
                "op": name,
                "mode": policy.mode,
                "stages": {
                    f"q{q}_ctx{ctx}": {
                        "mode": st.mode,
                        "br": st.br,
                        "bc": st.bc,
                        "buffers": st.buffers,
                        "level": st.level,
                        "kv_passes": st.kv_passes,
                    }
                    for (q, ctx), st in policy.plans
                },
            }
            for name, policy in lowering.attention
        ],
        "padding": [
            {
                "kernel": kernel.name,
                "mode": kernel.padding.mode,
                "tiles": list(kernel.padding.tiles),
                "covers": {
                    f"m{m}": {"tiles": [list(t) for t in cover.tiles], "waste": cover.waste(m)}
                    for m, cover in kernel.padding.plans
                },
            }
            for kernel in layer_kernels(graph, lowering)
            if kernel.padding is not None and kernel.kind == "gemm"
        ],
    }
