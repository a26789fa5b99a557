"""`xcompass`: the command-line front door (import, models, targets; explore and report later)."""

from __future__ import annotations

import sys
from io import StringIO

import click
from xdsl.printer import Printer

from xcompass import models as model_lib
from xcompass import targets as target_lib
from xcompass.errors import XcompassError
from xcompass.fileio import write_atomically
from xcompass.trace import read_trace, sample_step
from xcompass.workload import DEFAULT_SPEC, build_workload, parse_spec


def emit(text: str, output: str | None) -> None:
    """Print to stdout, or replace `output` atomically (never a half-written file)."""
    if output is None or output == "-":
        sys.stdout.write(text)
        return
    try:
        write_atomically(output, text)
    except OSError as exc:
        raise XcompassError(f"-o {output}: cannot write ({exc.strerror})") from None


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="xcompass")
def cli() -> None:
    """Lay out LLM serving workloads on multi-chiplet machines, and say what it costs."""


@cli.command("import")
@click.option(
    "--model",
    "model_spec",
    required=True,
    metavar="NAME|config.json",
    help="A preset (see `xcompass models`) or a Hugging Face config.json.",
)
@click.option(
    "--layers",
    type=click.IntRange(min=1),
    default=None,
    help="Emit only the first N decoder layers (no embedding, no LM head).",
)
@click.option(
    "--workload",
    "spec",
    default=None,
    metavar="SPEC",
    help=f"prefill:LEN[xN],decode:CTX[xN],verify:CTX+DRAFT[xN]  [default: {DEFAULT_SPEC}]",
)
@click.option(
    "--trace",
    "trace_path",
    default=None,
    metavar="CSV",
    help="Azure-format trace (TIMESTAMP,ContextTokens,GeneratedTokens) to sample from.",
)
@click.option(
    "--sample", type=int, default=32, show_default=True, help="Requests drawn from --trace."
)
@click.option("--seed", type=int, default=0, show_default=True, help="Seed for --trace sampling.")
@click.option(
    "--microbatches",
    type=int,
    default=None,
    help="Split the requests into N balanced micro-batches "
    "[default: one per SPEC item; one for a trace].",
)
@click.option("--target", default=None, metavar="NAME|FILE", help="Attach xcompass.target.")
@click.option("--generic", is_flag=True, help="Print ops in MLIR's generic form.")
@click.option("-o", "--output", default=None, metavar="OUT.mlir", help="Write here, not stdout.")
def import_cmd(
    model_spec: str,
    layers: int | None,
    spec: str | None,
    trace_path: str | None,
    sample: int,
    seed: int,
    microbatches: int | None,
    target: str | None,
    generic: bool,
    output: str | None,
) -> None:
    """Build an llm-dialect module for a model and a serving workload."""
    from xcompass.tools.importer import build_module

    model = model_lib.resolve_model(model_spec)
    if layers is not None and layers > model.layers:
        raise XcompassError(f"--layers {layers}: {model.name} has only {model.layers} layers")
    if spec is not None and trace_path is not None:
        raise XcompassError("--workload and --trace: give one or the other")
    if trace_path is not None:
        requests = sample_step(read_trace(trace_path), sample, seed)
        microbatches = 1 if microbatches is None else microbatches
    else:
        requests = parse_spec(spec if spec is not None else DEFAULT_SPEC)
    workload = build_workload(requests, microbatches)
    resolved = target_lib.resolve_target_spec(target) if target is not None else None
    module = build_module(model, workload, layers, resolved)
    text = StringIO()
    Printer(stream=text, print_generic_format=generic).print_op(module)
    text.write("\n")
    emit(text.getvalue(), output)


@cli.command("models")
def models_cmd() -> None:
    """List the model presets."""
    click.echo(
        f"{'name':<15}{'layers':>7}{'hidden':>8}{'heads':>7}{'kv':>5}{'ffn':>7}"
        f"{'vocab':>8}{'params':>9}  notes"
    )
    for name in model_lib.preset_names():
        m = model_lib.preset(name)
        notes = [m.mlp + (" gated" if m.gated else ""), f"{m.norm}norm"]
        if m.experts > 1:
            notes.append(f"MoE {m.experts}x top-{m.top_k}")
        if m.window:
            notes.append(f"window {m.window}")
        click.echo(
            f"{name:<15}{m.layers:>7}{m.hidden:>8}{m.heads:>7}{m.kv_heads:>5}{m.ffn:>7}"
            f"{m.vocab:>8}{m.total_weights() / 1e9:>8.1f}B  {', '.join(notes)}"
        )


@cli.command("targets")
def targets_cmd() -> None:
    """List the target presets (a user's own TOML file works wherever a name does)."""
    for name in target_lib.PRESET_NAMES:
        click.echo(f"{name:<16}{target_lib.preset(name).summary()}")


def main(argv: list[str] | None = None) -> None:
    """Entry point: every failure is one line on stderr and a non-zero exit, never a traceback."""
    try:
        cli.main(args=argv, prog_name="xcompass", standalone_mode=False)
    except XcompassError as exc:
        click.echo(f"xcompass: error: {exc}", err=True)
        sys.exit(1)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        where = f"xcompass {exc.ctx.info_name}" if getattr(exc, "ctx", None) else "xcompass"
        if where == "xcompass xcompass":
            where = "xcompass"
        click.echo(f"{where}: error: {exc.format_message()}", err=True)
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        click.echo("xcompass: aborted", err=True)
        sys.exit(1)
    except BrokenPipeError:
        sys.exit(0)


if __name__ == "__main__":
    main()
