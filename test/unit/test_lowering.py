"""The lowering core: the layer graph (one source for config and IR), the planners (fusion,
attention stages, tile covers) and the kernels they produce, with hand-worked figures on the
round-number target test/inputs/lowering-target.toml (4 cores, 1 TFLOP/s, 100 GB/s, 1 us
floors, 16 x 64 GEMM tiles dealt whole, one step of fill/drain per tile)."""

import dataclasses
from io import StringIO

import pytest
from conftest import REPO
from xcompass.dialects import llm
from xcompass.passes.fuse import FusePass
from xcompass.passes.ir_bridge import read_layer
from xcompass.passes.pad_tiles import PadTilesPass
from xcompass.passes.stage_attention import StageAttentionPass
from xcompass.tools.importer import build_module
from xdsl.context import Context
from xdsl.dialects.builtin import Builtin
from xdsl.dialects.func import Func
from xdsl.parser import Parser
from xdsl.printer import Printer

from xcompass.cost.attentioncost import attention_cost
from xcompass.cost.kernelcost import op_cost
from xcompass.cost.opcost import Cover, OpSpec, RequestGroup
from xcompass.errors import XcompassError
from xcompass.hardware.targetfile import load_target_file
from xcompass.hardware.targetfile import preset as target_preset
from xcompass.layer.attention import AttentionShape, flash_tiles, plan_stage, staging_level
from xcompass.layer.fusion import FuseOptions, classify, op_density, plan_fusion, working_set
from xcompass.layer.graph import INPUT, LayerGraph, Node, layer_graph
from xcompass.layer.kernels import Edge, Flow, Lowering, layer_kernels
from xcompass.layer.layercost import build_cost_table, layer_ops, request_groups
from xcompass.layer.lowering import DEFAULT, NONE, PYTORCH, Pipeline, lower
from xcompass.layer.padding import cover_time, plan_cover
from xcompass.model.models import load_config_file, preset
from xcompass.model.workload import build_workload, parse_spec

TARGET = load_target_file(REPO / "test" / "inputs" / "lowering-target.toml")
CHIP = TARGET.kinds[0]
STEP = 2.0 * 16 * 64 * 64 / (1e12 / 4)  # one 16 x 64 x 64 k step on one core: 0.524288 us


def small_model(**kw):  # noqa: ANN003
    base = dict(name="small", hidden=256, layers=1, heads=2, kv_heads=1, head_dim=128, ffn=512,
                vocab=1000, rope=False)  # fmt: skip
    return preset("llama3-8b").__class__(**{**base, **kw})


# --- one source: the graph from a config equals the graph read from the importer's IR ------


def _first_layer(module):  # noqa: ANN001, ANN202
    return next(op for op in module.walk() if isinstance(op, llm.LayerOp))


@pytest.mark.parametrize(
    "model",
    [
        preset("llama3-8b"),
        preset("mixtral-8x7b"),  # MoE with a router
        preset("opt-13b"),  # LayerNorm, ReLU, not gated, no RoPE
        preset("gpt3-175b"),  # GeLU
        preset("mistral-7b"),  # sliding window
        load_config_file(REPO / "test" / "inputs" / "hf" / "gpt2" / "config.json"),
    ],
    ids=lambda m: m.name,
)
def test_layer_graph_equals_the_graph_read_from_imported_ir(model):
    module = build_module(model, build_workload(parse_spec("prefill:16"), None), layers=2)
    lay = read_layer(_first_layer(module), model.dtype_bytes)
    assert lay.graph == layer_graph(model)
    assert lay.lowering == Lowering()


def _ctx() -> Context:
    ctx = Context()
    for dialect in (Builtin, Func, llm.LLM):
        ctx.load_dialect(dialect)
    return ctx


def test_lowered_ir_reads_back_the_planners_decisions_after_printing_and_parsing():
    model = preset("llama3-8b")
    workload = build_workload(parse_spec("prefill:2048,decode:1024x8"), None)
    module = build_module(model, workload, layers=1, target="mt3000")
    for p in (FusePass(), StageAttentionPass(), PadTilesPass()):
        p.apply(_ctx(), module)
    text = StringIO()
    Printer(stream=text).print_op(module)
    parsed = Parser(_ctx(), text.getvalue()).parse_module()
    lay = read_layer(_first_layer(parsed), model.dtype_bytes)
    chip = target_preset("mt3000").kinds[0]
    planned = lower(layer_graph(model), chip, request_groups(workload))
    assert lay.graph == layer_graph(model)
    assert lay.lowering == planned
    assert layer_kernels(lay.graph, lay.lowering) == layer_kernels(layer_graph(model), planned)


# --- fusion ----------------------------------------------------------------------------------


def test_density_of_a_linear_and_its_class_against_the_ridge_point():
    g = layer_graph(small_model())
    q = g.index("q")  # 256 x 256 weights
    # 512 tokens: 2*512*256*256 FLOPs over (512*256 + 512*256 + 256*256) * 2 bytes = 102.4
    assert op_density(g, q, [RequestGroup(512, 0)]) == pytest.approx(102.4)
    # 4 decode tokens: 2*4*256*256 / ((4*512 + 65536) * 2) = 3.879 FLOP/B
    assert op_density(g, q, [RequestGroup(1, 512, 4)]) == pytest.approx(524288 / 135168)
    assert CHIP.ridge == 10.0
    high = classify(g, CHIP, [[RequestGroup(512, 0)]], theta=1.0)
    assert [g.nodes[i].name for i, h in enumerate(high) if h] == [
        "q", "k", "v", "attn", "o", "gate", "up", "down"
    ]  # fmt: skip
    # theta scales the threshold: at 20 x the ridge (200 FLOP/B) the 512-token GEMMs are low
    assert not any(classify(g, CHIP, [[RequestGroup(512, 0)]], theta=20.0)[i] for i in (1, 2, 3))


def test_working_set_of_a_gemm_tile_with_a_norm_prologue():
    g = layer_graph(small_model())
    q, norm = g.index("q"), g.index("attn_norm")
    gemm = 2 * (16 + 64) * 64 * 2 + 16 * 64 * 4  # double-buffered operands + fp32 sums
    assert working_set(g, CHIP, {q}) == gemm == 24576
    assert working_set(g, CHIP, {norm, q}) == gemm + 16 * 256 * 2  # 16 whole rows
    assert working_set(g, CHIP, {norm}) == 256 * 2  # alone: one row at a time


def test_fusion_of_a_small_layer_hand_worked():
    g = layer_graph(small_model())
    groups = plan_fusion(g, CHIP, [[RequestGroup(512, 0)]])
    names = [("+".join(g.nodes[i].name for i in grp.nodes), grp.kinds, grp.saved) for grp in groups]
    assert names == [
        # norm output (512 B/token) no longer written + read by three linears
        ("attn_norm+q+k+v", ("siblings", "prologue"), 4 * 512),
        # o's output kept on chip; h_attn read on chip but still written (h_out reads it)
        ("o+h_attn+mlp_norm", ("epilogue",), 2 * 512 + 512),
        # gate/up outputs (1 KB each) and act's: all kept on chip; mlp_norm read once
        ("gate+up+act+gated", ("siblings", "epilogue"), 512 + 2 * 1024 + 2 * 1024 + 2 * 1024),
        ("down+h_out", ("epilogue",), 2 * 512),
    ]
    # a level that cannot hold a single GEMM tile: nothing fuses
    tiny = staging_level(CHIP, "tiny")
    assert plan_fusion(g, CHIP, [[RequestGroup(512, 0)]], FuseOptions(level="tiny"), tiny) == ()


def test_fusion_never_builds_a_group_a_path_leaves_and_reenters():
    # n -> a (GEMM) -> s and n -> s: {n, s} is not convex
    nodes = (
        Node("n", "rmsnorm", (INPUT,), 256),
        Node("a", "linear", (0,), 256, in_width=256),
        Node("s", "add", (0, 1), 256),
    )
    g = LayerGraph(nodes, 2, 256, 2)
    eltwise_only = FuseOptions(siblings=False, prologue=False, epilogue=False)
    assert plan_fusion(g, CHIP, [[RequestGroup(512, 0)]], eltwise_only) == ()


# --- attention staging -------------------------------------------------------------------------


def test_flash_tiles_from_the_level_capacity():
    # H100 shared memory, 228 KB per SM: M = 116,736 bf16 elements, ceil(M / 512) = 228 keys ->
    # 128 (64 x 2); br = min(228, 128) -> 128; (128 + 6 x 128) x 128 x 2 B = 224 KB: 3 buffers
    h100 = target_preset("h100").kinds[0]
    assert flash_tiles(h100, h100.level("smem"), 128, 2) == (128, 128, 3)
    # 256 KB local: bound 256 -> 256, but 128 x 256 with 2 buffers needs 288 KB: bc -> 128
    assert flash_tiles(CHIP, CHIP.level("local"), 128, 2) == (128, 128, 3)
    # 4 MB shared by 4 cores: 1 MB each, bound 1024, two buffers of 1024 overflow: bc -> 512
    assert flash_tiles(CHIP, CHIP.level("shared"), 128, 2) == (128, 512, 3)
    with pytest.raises(XcompassError, match="no attention tile fits level 'tiny'"):
        flash_tiles(CHIP, CHIP.level("tiny"), 128, 2)


def test_stage_by_request_shape():
    shape = AttentionShape(2, 1, 128)
    decode = plan_stage(CHIP, shape, 1, 1024, 2)
    assert (decode.mode, decode.br, decode.buffers) == ("decode2", 16, 2)
    assert plan_stage(CHIP, shape, 32, 0, 2).mode == "resident3"  # 32 x 32 fp32 scores fit
    long = plan_stage(CHIP, shape, 2048, 0, 2)
    assert (long.mode, long.kv_passes) == ("split4", 1)  # 1 MB of K/V fit the 4 MB level
    # 16384 keys: K and V of one head (8 MB) exceed it; each of 128 row blocks re-reads them
    assert plan_stage(CHIP, shape, 16384, 0, 2).kv_passes == 16384 // 128
    assert plan_stage(CHIP, shape, 1, 1024, 2, mode="split4").mode == "split4"
    assert plan_stage(CHIP, shape, 1, 1024, 2, mode="unfused").mode == "unfused"


def test_staged_attention_on_h100_is_the_calibrated_flash_kernel():
    # 128 x 128 tiles and one K/V pass: exactly the op-level attention the calibration fitted
    h100 = target_preset("h100").kinds[0]
    model = preset("llama3-8b")
    g = layer_graph(model)
    for groups in ([RequestGroup(2048, 0)], [RequestGroup(1, 2048, 8), RequestGroup(4, 1024, 2)]):
        kernels = layer_kernels(g, lower(g, h100, [groups], PYTORCH))
        att = next(k for k in kernels if k.kind == "attention")
        spec = OpSpec("attention", heads=32, kv_heads=8, head_dim=128, split="heads")
        assert att.cost(h100, groups, 2).time_s == pytest.approx(
            attention_cost(h100, spec, groups, 2).time_s, rel=1e-12
        )


# --- tile covers -------------------------------------------------------------------------------


def test_cover_time_hand_worked():
    # M = 33 on [32, 16] rows: each core gets one 32-row tile (2 x 4 + 1 = 9 steps) and one
    # 16-row tile (5 steps) = 14 steps; memory (33 x 512 + 65536) x 2 B at 100 GB/s is less
    t = cover_time(CHIP, Cover(((32, 1), (16, 1))), 33, 256, 256, 2)
    assert t == pytest.approx(1e-6 + 14 * STEP)
    # physical 3 x 16 rows: 15 steps, plus two copies of the 33 real rows (33 x 512 B each way)
    t = cover_time(CHIP, Cover(((16, 3),), physical=True), 33, 256, 256, 2)
    assert t == pytest.approx(1e-6 + 15 * STEP + 2e-6 + 2 * 33 * 512 * 2 / 100e9)
    assert plan_cover(CHIP, 33, 256, 256, 2).tiles == ((32, 1), (16, 1))
    assert plan_cover(CHIP, 4097, 256, 256, 2).tiles == ((128, 32), (16, 1))
    assert plan_cover(CHIP, 4097, 256, 256, 2, (32, 64)).tiles == ((64, 64), (32, 1))
    assert plan_cover(CHIP, 4097, 256, 256, 2, mode="physical").tiles == ((128, 33),)


# --- kernels -----------------------------------------------------------------------------------


def test_pytorch_lowering_is_the_dag_pytorch_runs():
    model = preset("llama3-8b")
    g = layer_graph(model)
    h100 = target_preset("h100").kinds[0]
    kernels = layer_kernels(g, lower(g, h100, [[RequestGroup(2048, 0)]], PYTORCH))
    dag = [(k.name, k.kind, k.preds, tuple(e.flow.per_token for e in k.inputs)) for k in kernels]
    assert dag == [
        ("attn_norm", "eltwise", (INPUT,), (8192,)),
        ("q+k+v", "gemm", (0,), (8192,)),
        ("q_rope", "eltwise", (1,), (8192,)),
        ("k_rope", "eltwise", (1,), (2048,)),
        ("attn", "attention", (2, 3, 1), (8192, 2048, 2048)),
        ("o", "gemm", (4,), (8192,)),
        ("h_attn", "eltwise", (INPUT, 5), (8192, 8192)),
        ("mlp_norm", "eltwise", (6,), (8192,)),
        ("gate+up", "gemm", (7,), (8192,)),
        ("act", "eltwise", (8,), (28672,)),
        ("gated", "eltwise", (9, 8), (28672, 28672)),
        ("down", "gemm", (10,), (28672,)),
        ("h_out", "eltwise", (6, 11), (8192, 8192)),
    ]  # fmt: skip
    assert [k.split for k in kernels] == [
        "", "n", "heads", "heads", "heads", "k", "", "", "n", "n", "n", "k", ""
    ]  # fmt: skip
    # the config-only op list is these kernels, and costs the same
    for groups in ([RequestGroup(2048, 0)], [RequestGroup(1, 2048, 64)]):
        by_ops = sum(op_cost(h100, op, groups, 2).time_s for op in layer_ops(model))
        by_kernels = sum(k.cost(h100, groups, 2).time_s for k in kernels)
        assert by_ops == pytest.approx(by_kernels, rel=1e-12)


def test_unlowered_attention_is_three_kernels_with_scores_through_dram():
    model = small_model()
    g = layer_graph(model)
    kernels = layer_kernels(g)
    qk, sm, pv = (k for k in kernels if k.name.startswith("attn."))
    assert [k.kind for k in (qk, sm, pv)] == ["attention_qk", "softmax", "attention_pv"]
    scores = Flow(0, 2 * 2, sharded=True)  # heads x bf16 per (query, key) pair
    assert qk.outputs == (scores,) and sm.inputs == (Edge(kernels.index(qk), scores),)
    groups = [RequestGroup(64, 0)]
    # softmax: read and write 64 x 64 pairs of 2 heads x 2 B, one floor
    assert sm.cost(CHIP, groups, 2).time_s == pytest.approx(1e-6 + 2 * 64 * 64 * 4 / 100e9)
    # QK^T, one per KV head: 2 heads x 64 query rows (8 tiles of 16) x 64 keys (one column
    # tile) x 128 deep (2 steps): 8 tiles of 2 + 1 steps, 2 per core; reads q and k, writes
    # the scores
    t = qk.cost(CHIP, groups, 2)
    moved = 64 * (512 + 256) + 64 * 64 * 4
    assert t.time_s == pytest.approx(1e-6 + max(2 * 3 * STEP, moved / 100e9))
    assert t.dram_bytes == moved


def test_fused_group_moves_only_its_external_edges():
    g = layer_graph(small_model())
    low = lower(g, CHIP, [[RequestGroup(512, 0)]], Pipeline(stage_mode="auto", pad_mode=None))
    k = next(k for k in layer_kernels(g, low) if k.name == "o+h_attn+mlp_norm")
    # reads attn (512 B) and h (512 B), writes h_attn and mlp_norm (512 B each); o's output
    # stays on chip. GEMM 256 x 256: 32 row tiles x 4 column tiles of 4 + 1 steps on 4 cores.
    tokens = 512
    cost = k.cost(CHIP, [RequestGroup(tokens, 0)], 2)
    moved = tokens * 4 * 512 + 256 * 256 * 2
    assert cost.dram_bytes == moved
    assert cost.time_s == pytest.approx(1e-6 + max(32 * 4 * 5 / 4 * STEP, moved / 100e9))
    # on chip besides: o's output and h_attn, read there by the add and the norm
    assert cost.sram_bytes == tokens * (4 * 512 + 2 * 512)


def test_epilogue_behind_a_row_parallel_gemm_waits_for_the_all_reduce():
    g = layer_graph(small_model())
    low = lower(g, CHIP, [[RequestGroup(512, 0)]], Pipeline(stage_mode="auto", pad_mode=None))
    k = next(k for k in layer_kernels(g, low) if k.name == "down+h_out")
    # the add runs as its own kernel: down's output written and read, h_attn read (1.5 KB)
    assert k.split == "k" and k.after_allreduce == Flow(2 * 512 + 512)
    groups = [RequestGroup(512, 0)]
    two = k.cost(CHIP, groups, 2, tp=2)
    shard = dataclasses.replace(k, after_allreduce=None).cost(CHIP, groups, 2, tp=2)
    assert two.time_s == pytest.approx(shard.time_s + 1e-6 + 512 * 1536 / 100e9)
    assert k.cost(CHIP, groups, 2, tp=1) == dataclasses.replace(k, after_allreduce=None).cost(
        CHIP, groups, 2, tp=1
    )


# --- cost tables -------------------------------------------------------------------------------


@pytest.mark.parametrize("pipeline", [NONE, PYTORCH, DEFAULT], ids=["none", "pytorch", "default"])
def test_cost_table_sums_its_kernels(pipeline):
    model = preset("llama3-8b")
    workload = build_workload(parse_spec("prefill:512,decode:1024x8"), None)
    h100 = target_preset("h100")
    g = layer_graph(model)
    kernels = layer_kernels(g, lower(g, h100.kinds[0], request_groups(workload), pipeline))
    table = build_cost_table(model, workload, h100, (1, 2), kernels=kernels, whole_model=True)
    assert table.kernels[0].name == "embedding" and table.kernels[-1].name == "lm_head"
    for p, pos in enumerate(table.positions):
        assert table.time_stream[:, p] == pytest.approx(table.kernel_time[:, list(pos)].sum(1))
    weights = sum(k.weights() for k in kernels) * 2
    assert table.weight_bytes[1, 0] == weights == model.layer_weights() * 2 - 4 * model.hidden
    assert table.allreduces == 2
