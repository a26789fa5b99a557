from xcompass.dialects import llm
from xcompass.tools.importer import build_module
from xdsl.printer import Printer

from xcompass.model.models import preset
from xcompass.model.workload import build_workload, parse_spec


def _ops(module, cls):
    return [op for op in module.walk() if isinstance(op, cls)]


def test_whole_model_structure_verifies():
    model = preset("llama3-70b")
    module = build_module(model, build_workload(parse_spec("decode:1024x8"), None), target="h100")
    module.verify()
    layers = _ops(module, llm.LayerOp)
    assert [op.index.value.data for op in layers] == list(range(80))
    assert len(_ops(module, llm.EmbeddingOp)) == 1 and len(_ops(module, llm.LMHeadOp)) == 1
    # 7 weight matrices per dense layer + LM head
    assert len(_ops(module, llm.LinearOp)) == 80 * 7
    assert module.attributes["xcompass.target"].data == "h100"


def test_linear_weights_add_up_to_the_models_parameter_count():
    model = preset("mixtral-8x7b")
    module = build_module(model, build_workload(parse_spec("prefill:8"), None), layers=1)
    linear = sum(op.in_features * op.out_features for op in _ops(module, llm.LinearOp))
    moe = _ops(module, llm.MoEOp)[0]
    experts = moe.experts.value.data * 3 * model.hidden * moe.ffn.value.data
    norms = 2 * model.hidden
    assert linear + experts + norms == model.layer_weights()


def test_printing_is_deterministic():
    model = preset("llama3-8b")
    wl = build_workload(parse_spec("prefill:512x2"), 2)

    def text():
        from io import StringIO

        out = StringIO()
        Printer(stream=out).print_op(build_module(model, wl, layers=2))
        return out.getvalue()

    assert text() == text()
