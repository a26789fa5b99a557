"""`xcompass explore`'s option checks: every option (and a resumed checkpoint's stored ones)
checked before any work, each failure a one-line diagnostic naming the option."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from xcompass.errors import XcompassError, shown
from xcompass.names import TILE_HEADS, TILE_WIDTH
from xcompass.search.objectives import OBJECTIVES

SCHEDULER_TIMEOUT_S = 5.0
EXIT_INTERRUPTED = 130
RESUMED = (
    "model",
    "layers",
    "workload",
    "trace",
    "requests",
    "microbatches",
    "sample_seed",
    "target",
    "lowering",
    "mode",
    "granularity",
    "tile_width",
    "tile_heads",
    "objective",
    "population",
    "generations",
    "budget",
    "seed",
    "train_samples",
    "test_samples",
    "baselines",
    "policy",
    "slo_ttft",
    "slo_tbt",
    "window",
    "test_window",
    "rate_scale",
)
"""The options a checkpoint stores and `--resume FILE` takes from it (a flag given anyway must
agree); the rest (--out, --workers, --scheduler, --pictures, ...) may change between runs."""
PATHS = ("model", "trace", "target")  # stored as absolute paths when they name files
SCHEDULER_SCHEMES = ("tcp", "tls", "ws", "wss", "inproc", "ucx")


@dataclass
class Checked:
    """What the option checks produced (so no file is read twice)."""

    model: Any
    target: str
    passes: tuple
    resume: Any
    backend: Any
    settings: Any


def _named(flag: str, read: Any, value: str) -> Any:
    """`read(value)`, its diagnostic prefixed with the option that gave the value."""
    try:
        return read(value)
    except XcompassError as exc:
        raise XcompassError(f"{flag}: {exc}") from None


def _flag_text(key: str, value: Any) -> str:
    if key == "baselines":
        return "--baselines" if value else "--no-baselines"
    return f"--{key.replace('_', '-')} {shown(value, 100)}"


def _stored(key: str, value: Any) -> Any:
    """An option as the checkpoint keeps it: a file as its absolute path (resume works from
    any folder)."""
    if key in PATHS and isinstance(value, str) and os.path.isfile(value):
        return os.path.abspath(value)
    return value


def checkpoint_options(o: dict[str, Any]) -> dict[str, Any]:
    return {key: _stored(key, o[key]) for key in RESUMED}


def take_from_checkpoint(o: dict[str, Any], given: set[str], loaded: Any) -> None:
    """`--resume FILE`: options not given come from the checkpoint; one given must agree."""
    saved = loaded.header.get("options")
    if not saved:  # a checkpoint of an older xcompass: its settings are checked later
        return
    where = f"--resume {shown(o['resume'], 100)}"
    for key in RESUMED:
        if key not in saved:
            continue
        theirs = saved[key]
        if key not in given:
            o[key] = theirs
            continue
        if _stored(key, o[key]) != theirs:
            raise XcompassError(
                f"{_flag_text(key, o[key])}: {where} was written with "
                f"{_flag_text(key, theirs)}; leave the flag out to continue it"
            )


def check_scheduler(address: str) -> None:
    """`[SCHEME://]HOST:PORT`, parsed here so a bad address is one line, before any work."""
    where = f"--scheduler {shown(address, 100)}"
    expected = "expected [tcp://]HOST:PORT"
    scheme, sep, rest = address.partition("://")
    if not sep:
        scheme, rest = "tcp", address
    if scheme not in SCHEDULER_SCHEMES:
        raise XcompassError(
            f"{where}: not a scheduler address (scheme '{shown(scheme, 20)}'; valid: "
            f"{', '.join(SCHEDULER_SCHEMES)}; {expected})"
        )
    if scheme in ("inproc", "ucx"):
        return
    host, colon, port = rest.rpartition(":")
    if not colon or not host or any(c in host for c in " /\\"):
        raise XcompassError(f"{where}: not a scheduler address ({expected})")
    if not port.isascii() or not port.isdigit() or not 1 <= int(port) <= 65535:
        raise XcompassError(
            f"{where}: not a scheduler address (port '{shown(port, 20)}' is not a number "
            f"from 1 to 65535; {expected})"
        )


def check_pareto(o: dict[str, Any]) -> None:
    for flag in ("checkpoint", "resume"):
        if o[flag]:
            raise XcompassError(
                f"--{flag}: objective pareto (NSGA-II) is not resumable; drop --{flag} or "
                f"choose {', '.join(x for x in OBJECTIVES if x != 'pareto')}"
            )


def _check_serving(o: dict[str, Any]) -> None:
    """--objective goodput|capacity: its options, and what it cannot take (one line each)."""
    from xcompass.explore.serving_options import FLAGS, check_combination

    check_combination(
        o["objective"],
        {f"--{k.replace('_', '-')}": o[k] for k in FLAGS},
        layers=o["layers"],
        granularity=o["granularity"],
        train_samples=o["train_samples"],
        test_samples=o["test_samples"],
    )
    if o["objective"] in ("goodput", "capacity"):
        serving_options(o).check()


def serving_options(o: dict[str, Any]) -> Any:
    """The serving objective's options from explore's flags (defaults where not given)."""
    from xcompass.explore.serving_options import ServingOptions, parse_window

    return ServingOptions(
        policy=o["policy"] or "sarathi",
        slo_ttft_s=2.0 if o["slo_ttft"] is None else o["slo_ttft"],
        slo_tbt_s=0.2 if o["slo_tbt"] is None else o["slo_tbt"],
        trace=o["trace"],
        window=parse_window("--window", o["window"]),
        test_window=parse_window("--test-window", o["test_window"]),
        rate_scale=1.0 if o["rate_scale"] is None else o["rate_scale"],
        seed=o["sample_seed"],
    )


def check_options(o: dict[str, Any], resume: Any = None) -> Checked:
    """Every check that needs no model import or search, in the order a user reads options."""
    from xcompass.tools.explore_ir import lowering_passes

    from xcompass.explore import checkpoint as ckpt
    from xcompass.explore.inputs import backend_for
    from xcompass.explore.outputs import check_out_dir, check_outputs, make_out_dir
    from xcompass.explore.study import BASELINES, SearchSettings
    from xcompass.fileio import check_readable, same_file
    from xcompass.hardware import targetfile as target_lib
    from xcompass.model import models as model_lib
    from xcompass.model.workload import build_workload, parse_spec

    if o["workload"] is not None and o["trace"] is not None:
        raise XcompassError("--workload and --trace: give one or the other")
    if o["requests"] is not None and o["trace"] is None:
        raise XcompassError(f"--requests {o['requests']}: sizes a --trace sample; give --trace")
    if 0 < o["budget"] < o["population"]:
        raise XcompassError(
            f"--budget {o['budget']}: smaller than one generation (--population "
            f"{o['population']}); give at least {o['population']}, or 0 for population x "
            "generations"
        )
    for flag in ("tile_width", "tile_heads"):
        if o[flag] is not None and o["granularity"] != "tile":
            raise XcompassError(
                f"--{flag.replace('_', '-')} {o[flag]}: sizes tiles; give --granularity tile "
                f"(not {o['granularity']})"
            )
    if o["objective"] == "pareto":
        check_pareto(o)
    _check_serving(o)
    if o["checkpoint_every"] is not None and not o["checkpoint"]:
        raise XcompassError(
            f"--checkpoint-every {o['checkpoint_every']}: saves to --checkpoint FILE; give it"
        )
    if o["scheduler_timeout"] is not None and not o["scheduler"]:
        raise XcompassError(
            f"--scheduler-timeout {o['scheduler_timeout']}: waits for --scheduler; give it"
        )
    if o["workers"] > 1 and o["scheduler"]:
        raise XcompassError("--workers and --scheduler: give one or the other")
    if o["scheduler"]:
        check_scheduler(o["scheduler"])
    check_out_dir(o["out"])
    inputs = {f"--{k}": o[k] for k in ("model", "trace", "target", "resume", "checkpoint")}
    check_outputs(
        o["out"],
        inputs,
        allowed=(("--resume", "checkpoint.npz"), ("--checkpoint", "checkpoint.npz")),
    )
    model = _named("--model", model_lib.resolve_model, o["model"])
    if o["layers"] is not None and o["layers"] > model.layers:
        raise XcompassError(f"--layers {o['layers']}: {model.name} has {model.layers} layers")
    target = _named("--target", target_lib.resolve_target_spec, o["target"])
    if o["granularity"] == "tile":
        from xcompass.engine.tiles import check_tiles

        width, heads = o["tile_width"] or TILE_WIDTH, o["tile_heads"] or TILE_HEADS
        try:
            check_tiles(model, target_lib.load_target(target), width, heads)
        except XcompassError as exc:
            flag = "--tile-width" if "tile-width" in str(exc) else "--tile-heads"
            raise XcompassError(f"{flag}: {exc}") from None
    if o["workload"] is not None:
        requests = _named("--workload", parse_spec, o["workload"])
        if o["microbatches"] is not None:
            try:
                build_workload(requests, o["microbatches"])
            except XcompassError as exc:
                raise XcompassError(f"--microbatches {o['microbatches']}: {exc}") from None
    if o["trace"] is not None:
        try:
            check_readable(o["trace"])
        except (OSError, ValueError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) else str(exc)
            raise XcompassError(
                f"--trace {shown(o['trace'], 100)}: cannot read the file ({reason})"
            ) from None
        if o["objective"] in ("goodput", "capacity"):  # its windows hold requests
            from xcompass.explore.serving_objective import streams

            streams(serving_options(o))
    passes = lowering_passes(o["lowering"])
    settings = SearchSettings(
        o["objective"],
        o["population"],
        o["generations"],
        o["budget"],
        o["seed"],
        BASELINES if o["baselines"] else ("standard",),
        **search_knobs(o),
    )
    if o["resume"]:
        if resume is None:
            resume = ckpt.load(o["resume"])
        ckpt.check_settings(resume, settings.as_dict(), "--resume", o["resume"])
    if o["checkpoint"]:
        ckpt.check_writable_checkpoint(o["checkpoint"])
        same = o["resume"] and same_file(o["checkpoint"], o["resume"])
        if os.path.exists(o["checkpoint"]) and not same:
            raise XcompassError(
                f"--checkpoint {shown(o['checkpoint'], 100)}: exists; continue it with --resume "
                "FILE, or name a new file (refusing to overwrite it)"
            )
    timeout = o["scheduler_timeout"] or SCHEDULER_TIMEOUT_S
    backend = backend_for(o["workers"], o["scheduler"] or None, timeout)
    try:
        make_out_dir(o["out"])  # last: every other check passed
    except XcompassError:
        backend.close()
        raise
    return Checked(model, target, passes, resume, backend, settings)


def search_knobs(o: dict[str, Any]) -> dict[str, Any]:
    """--fidelity, --coarse, --local as `SearchSettings` fields (None: the granularity's
    default), each checked with a one-line diagnostic before any work."""
    from xcompass.search.coarse import check_chain
    from xcompass.search.fidelity import check_fidelity, check_share

    out: dict[str, Any] = {}
    if o.get("fidelity") is not None:
        out["fidelity"] = check_fidelity(o["fidelity"], "--fidelity")
    if o.get("local") is not None:
        out["local"] = check_share(o["local"], "--local")
    if o.get("coarse") is not None:
        chain = () if o["coarse"] == "none" else tuple(o["coarse"].split(","))
        out["coarse"] = check_chain(chain, o["granularity"], "--coarse")
    return out
