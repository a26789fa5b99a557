"""The IR half of `xcompass serve --mapping FILE.mlir`: read the module and hand its mapping
to the serving core (`xcompass.passes.map_serve` reads it the same way)."""

from __future__ import annotations

from typing import Any

from xcompass.passes.errors import PassFailure
from xcompass.passes.map_serve import serving_setup_of
from xcompass.tools.explore_ir import xcompass_context
from xcompass.tools.opt_lexer import harden_xdsl
from xdsl.dialects.builtin import Builtin
from xdsl.dialects.func import Func
from xdsl.parser import Parser
from xdsl.utils.exceptions import ParseError

from xcompass import fileio
from xcompass.errors import XcompassError, shown
from xcompass.hardware.targetfile import load_target
from xcompass.model.models import resolve_model

MAX_MLIR_BYTES = 2**28


def _shape(m: Any) -> tuple:
    return (m.layers, m.hidden, m.heads, m.kv_heads, m.head_dim, m.ffn, m.vocab, m.dtype_bytes)


def setup_from_mlir(path: str, model: str | None, target: str | None, mode: str) -> Any:
    """The mapping of a whole-model module; `model` / `target` given on the command line must
    be the module's."""
    where = f"--mapping {shown(path)}"
    try:
        text = fileio.read_regular(path, MAX_MLIR_BYTES).decode("utf-8")
    except OSError as exc:
        raise XcompassError(f"{where}: cannot read ({exc.strerror or exc})") from None
    except UnicodeDecodeError:
        raise XcompassError(f"{where}: not UTF-8 text") from None
    ctx = xcompass_context()
    ctx.load_dialect(Builtin)
    ctx.load_dialect(Func)
    harden_xdsl()
    try:
        module = Parser(ctx, text, path).parse_module()
    except ParseError as exc:
        raise XcompassError(f"{where}: {shown(exc.msg, 200)} ({exc.span.get_location()})") from None
    try:
        setup = serving_setup_of(module, "--mapping", mode)
    except PassFailure as exc:
        what = str(exc).removeprefix("--mapping: ").removeprefix("--mapping ")  # "on <target>: "
        raise XcompassError(f"{where}: {what}") from None
    if model is not None and _shape(resolve_model(model)) != _shape(setup.model):
        raise XcompassError(
            f"--model {shown(model)}: the mapping is of {setup.model.name}; give its model or "
            "leave --model out"
        )
    if target is not None and load_target(target).name != setup.target.name:
        raise XcompassError(
            f"--target {shown(target)}: the mapping is for {setup.target.name}; give its "
            "target or leave --target out"
        )
    return setup
