"""`xcompass`: the command-line front door (import, models, targets; explore and report later)."""

from __future__ import annotations

import os
import re
import sys
from io import StringIO

import click
from xdsl.printer import Printer

from xcompass import fileio
from xcompass.errors import XcompassError, shown
from xcompass.hardware import targetfile as target_lib
from xcompass.model import models as model_lib
from xcompass.model.trace import MAX_SAMPLE, read_trace, sample_step
from xcompass.model.workload import (
    DEFAULT_SPEC,
    MAX_MICROBATCHES,
    MAX_SEED,
    build_workload,
    parse_spec,
)

DEFAULT_SAMPLE = 32


def _short(text: str, limit: int = 100) -> str:
    return shown(text, limit)


def check_output(output: str | None, inputs: dict[str, str | None]) -> None:
    """Refuse an `-o` that cannot be written or that is one of the command's input files,
    before any work."""
    if output is None or output == "-":
        return
    try:
        fileio.check_writable(output)
    except OSError as exc:
        raise XcompassError(f"-o {_short(output)}: cannot write ({exc.strerror})") from None
    for flag, path in inputs.items():
        if path is not None and _is_file(path) and fileio.same_file(output, path):
            raise XcompassError(
                f"-o {_short(output)}: is the {flag} input file; refusing to overwrite it"
            )


def _is_file(path: str) -> bool:
    try:
        return os.path.isfile(path)
    except (OSError, ValueError):
        return False


def emit(text: str, output: str | None) -> None:
    """Print to stdout, or replace `output` atomically (never a half-written file)."""
    if output is None or output == "-":
        sys.stdout.write(text)
        return
    try:
        fileio.write_atomically(output, text)
    except OSError as exc:
        raise XcompassError(f"-o {_short(output)}: cannot write ({exc.strerror})") from None


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
    type=click.IntRange(1, model_lib.MAX_LAYERS),  # at most the model's layers
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
    "--sample",
    "--requests",
    "sample",
    type=click.IntRange(1, MAX_SAMPLE),
    default=None,
    help=f"Requests drawn from --trace  [default: {DEFAULT_SAMPLE}; at most {MAX_SAMPLE:,}] "
    "(--requests, as xcompass explore spells it)",
)
@click.option(
    "--seed",
    "--sample-seed",
    "seed",
    type=click.IntRange(0, MAX_SEED),
    default=None,
    help="Seed for --trace sampling  [default: 0] (--sample-seed, as xcompass explore spells it)",
)
@click.option(
    "--microbatches",
    type=click.IntRange(1, MAX_MICROBATCHES),
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
    sample: int | None,
    seed: int | None,
    microbatches: int | None,
    target: str | None,
    generic: bool,
    output: str | None,
) -> None:
    """Build an llm-dialect module for a model and a serving workload."""
    from xcompass.tools.importer import build_module

    # options first (click checked each one's range), then files
    if spec is not None and trace_path is not None:
        raise XcompassError("--workload and --trace: give one or the other")
    for flag, value in (("--sample", sample), ("--seed", seed)):
        if value is not None and trace_path is None:
            raise XcompassError(f"{flag} {value}: samples a trace; give --trace CSV too")
    check_output(
        output,
        {"--model": model_spec, "--trace": trace_path, "--target": target},
    )
    model = model_lib.resolve_model(model_spec)
    if layers is not None and layers > model.layers:
        raise XcompassError(f"--layers {layers}: {model.name} has only {model.layers} layers")
    if trace_path is not None:
        sample = DEFAULT_SAMPLE if sample is None else sample
        requests = sample_step(read_trace(trace_path), sample, 0 if seed is None else seed)
        microbatches = 1 if microbatches is None else microbatches
    else:
        requests = parse_spec(spec if spec is not None else DEFAULT_SPEC)
    try:
        workload = build_workload(requests, microbatches)
    except XcompassError as exc:
        if microbatches is not None:
            raise XcompassError(f"--microbatches {microbatches}: {exc}") from None
        raise XcompassError(
            f"{exc} (one per --workload item; --microbatches N groups them)"
        ) from None
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


from xcompass.tools.explore_cmd import explore_cmd, report_cmd  # noqa: E402 (after the group)

cli.add_command(explore_cmd)
cli.add_command(report_cmd)

from xcompass.tools.serve_cmd import serve_cmd  # noqa: E402 (after the group)

cli.add_command(serve_cmd)

from xcompass.tools.codesign_cmd import codesign_cmd  # noqa: E402 (after the group)

cli.add_command(codesign_cmd)


def check_argv(argv: list[str]) -> None:
    """Refuse what click would silently accept: an option given twice (click keeps the last;
    `--baselines --no-baselines` too) and an empty value (`--checkpoint ''` would mean "not
    given"). Before any work, named as the user typed it."""
    it = iter(argv)
    command: click.Command = cli
    for arg in it:
        if arg == "--":
            return
        if not arg.startswith("-") or arg == "-":
            if isinstance(command, click.Group) and arg in command.commands:
                command = command.commands[arg]
                break
            return
    else:
        return
    opts: dict[str, click.Option] = {}
    for param in command.params:
        if isinstance(param, click.Option):
            for name in (*param.opts, *param.secondary_opts):
                opts[name] = param
    seen: dict[str, str] = {}
    for arg in it:
        if arg == "--":
            return
        name, has_value, value = arg.partition("=") if arg.startswith("--") else (arg, "", "")
        param = opts.get(name)
        if param is None:
            continue
        takes_value = not param.is_flag and not param.count
        if takes_value and not has_value:
            value = next(it, None)
            if value is None:
                return  # click says the value is missing
        if param.name in seen:
            raise click.UsageError(
                f"{name}: given twice (also as {seen[param.name]}); give it once",
                click.Context(command, info_name=command.name),
            )
        seen[param.name or name] = name
        if takes_value and not value.strip():
            raise click.UsageError(
                f"{name}: empty value; give a value or leave the option out",
                click.Context(command, info_name=command.name),
            )


_ALIASES = re.compile(r"'(-[\w-]+)'(?: / '-[\w-]+')+")


def _as_typed(message: str, argv: list[str]) -> str:
    """click names every spelling of an option ('--seed' / '--sample-seed'); name the one
    the user typed."""

    def typed(m: re.Match[str]) -> str:
        names = re.findall(r"'(-[\w-]+)'", m.group(0))
        for name in names:
            if any(a == name or a.startswith(name + "=") for a in argv):
                return f"'{name}'"
        return f"'{names[0]}'"

    return _ALIASES.sub(typed, message)


def main(argv: list[str] | None = None) -> None:
    """Entry point: every failure is one line on stderr and a non-zero exit, never a traceback."""
    try:
        check_argv(list(sys.argv[1:] if argv is None else argv))
        cli.main(args=argv, prog_name="xcompass", standalone_mode=False)
    except XcompassError as exc:
        click.echo(f"xcompass: error: {shown(exc, 2000)}", err=True)
        sys.exit(1)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        where = f"xcompass {exc.ctx.info_name}" if getattr(exc, "ctx", None) else "xcompass"
        if where == "xcompass xcompass":
            where = "xcompass"
        message = _as_typed(exc.format_message(), sys.argv[1:] if argv is None else argv)
        click.echo(f"{where}: error: {shown(message, 2000)}", err=True)
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        click.echo("xcompass: aborted", err=True)
        sys.exit(1)
    except BrokenPipeError:
        sys.exit(0)
    except OSError as exc:  # e.g. a file name too long for the OS, met while probing a path
        name = f"{_short(str(exc.filename))}: " if exc.filename else ""
        click.echo(f"xcompass: error: {name}{exc.strerror or exc}", err=True)
        sys.exit(1)
    except RecursionError:
        click.echo("xcompass: error: input nested too deeply", err=True)
        sys.exit(1)
    except MemoryError:
        click.echo("xcompass: error: out of memory", err=True)
        sys.exit(1)
    except (SystemExit, KeyboardInterrupt):
        raise
    except BaseException as exc:
        if os.environ.get("XCOMPASS_DEBUG"):
            raise
        detail = " ".join(str(exc).split())[:200]
        click.echo(
            f"xcompass: internal error: {type(exc).__name__}: {detail} "
            "(please report; XCOMPASS_DEBUG=1 shows the traceback)",
            err=True,
        )
        sys.exit(70)


if __name__ == "__main__":
    main()
