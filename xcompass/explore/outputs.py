"""What `xcompass explore` writes into `--out` (and `xcompass report --out` rewrites from a saved
report): every file below comes from the report dict alone.

    report.json                 the cost report (`xcompass.engine.report.FIELDS` documents it)
    trace.json                  Chrome / Perfetto trace of the schedule
    gantt.png, gantt.svg        chiplet timelines and DRAM channel use
    layout.png, layout.svg      the mapping drawn on the mesh or switch
    convergence.png, .svg       best objective against evaluations, per method
    pareto.png, pareto.svg      the latency-energy front (objective pareto only)
(`mapping.mlir`, the final IR, is the command line's: it needs the IR.)
"""

from __future__ import annotations

import os
import stat
from typing import Any

from xcompass import fileio
from xcompass.engine.report import dumps
from xcompass.errors import XcompassError, shown
from xcompass.fileio import write_atomically

PICTURES = ("gantt", "layout", "convergence", "pareto")
INTERIM = ("best-so-far.mlir", "best-so-far.json")
"""What Ctrl-C leaves in --out besides the checkpoint; removed once a run finishes."""
OUTPUT_FILES = (
    "mapping.mlir",
    "report.json",
    "trace.json",
    *(f"{p}.{ext}" for p in PICTURES for ext in ("png", "svg")),
    *INTERIM,
    "checkpoint.npz",
)
"""Every file explore or report may write into --out (no input may sit there under these
names: it would be overwritten)."""


def check_outputs(
    out: str, inputs: dict[str, str | None], flag: str = "--out", allowed: tuple = ()
) -> None:
    """Before any work: no output in `out` is a FIFO, device or folder (writing would block or
    fail half-way), and no input file (flag -> path) is one of the outputs; `allowed` lists
    (flag, name) pairs that may be (the --resume checkpoint is checkpoint.npz's successor)."""
    if not os.path.isdir(out):
        return
    for name in OUTPUT_FILES:
        path = os.path.join(out, name)
        try:
            st = os.lstat(path)
        except OSError:
            continue
        if stat.S_ISLNK(st.st_mode):
            raise XcompassError(
                f"{flag} {shown(out, 100)}: {name} there is a symbolic link; refusing to write "
                "through it (remove it or choose another folder)"
            )
        if not stat.S_ISREG(st.st_mode):
            raise XcompassError(
                f"{flag} {shown(out, 100)}: {name} there is not a regular file "
                f"({fileio.kind_of(st.st_mode)}); remove it or choose another folder"
            )
        for option, given in inputs.items():
            if given and (option, name) not in allowed and fileio.same_file(given, path):
                raise XcompassError(
                    f"{option} {shown(given, 100)}: is {name} in {flag} {shown(out, 100)}, "
                    "which this command writes; refusing to overwrite an input (move it or "
                    f"choose another {flag})"
                )


def remove_interim(out: str) -> None:
    """A finished run's answer replaces what an interrupted one left (best-so-far.*)."""
    for name in INTERIM:
        path = os.path.join(out, name)
        try:
            if stat.S_ISREG(os.lstat(path).st_mode):
                os.unlink(path)
        except OSError:
            pass


def check_out_dir(out: str, flag: str = "--out") -> None:
    """Refuse a folder that cannot be made or written, before any work (creates nothing)."""
    where = f"{flag} {shown(out, 100)}"
    if not out or "\0" in out:
        raise XcompassError(f"{where}: not a folder name")
    if os.path.exists(out):
        if not os.path.isdir(out):
            raise XcompassError(f"{where}: exists and is not a folder")
        if not os.access(out, os.W_OK | os.X_OK):
            raise XcompassError(f"{where}: cannot write into the folder (permission denied)")
        return
    parent = os.path.dirname(os.path.abspath(out))
    while not os.path.exists(parent):
        parent = os.path.dirname(parent)
    if not os.path.isdir(parent):
        raise XcompassError(f"{where}: cannot create the folder ('{shown(parent, 80)}' is a file)")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise XcompassError(
            f"{where}: cannot create the folder (no write permission in '{shown(parent, 80)}')"
        )


def make_out_dir(out: str) -> None:
    try:
        os.makedirs(out, exist_ok=True)
    except OSError as exc:
        raise XcompassError(f"--out {shown(out, 100)}: cannot create ({exc.strerror})") from None


def write_outputs(
    report: dict[str, Any], out: str, pictures: bool = True, write_report: bool = True
) -> list[str]:
    """Write the report, the trace and the pictures into `out`; return the paths written."""
    from xcompass.viz.perfetto import write_trace

    make_out_dir(out)
    written = []
    if write_report:
        path = os.path.join(out, "report.json")
        write_atomically(path, dumps(report))
        written.append(path)
    if report.get("activity") is not None or report.get("per_task"):
        path = os.path.join(out, "trace.json")
        write_trace(report, path)
        written.append(path)
    if pictures:
        written += draw_pictures(report, out)
    return written


def with_layout(report: dict[str, Any]) -> dict[str, Any]:
    """A report without `layout` (map-cost's) gets its target preset's, when it names one."""
    if report.get("layout") is not None:
        return report
    from xcompass.explore.report_extra import layout
    from xcompass.hardware.targetfile import PRESET_NAMES, preset

    if report.get("target") in PRESET_NAMES:
        target = preset(report["target"])
        if target.chiplets == len(report["per_chiplet"]):
            return {**report, "layout": layout(target)}
    return report


def draw_pictures(report: dict[str, Any], out: str) -> list[str]:
    from xcompass.viz.gantt import draw_gantt
    from xcompass.viz.layout import draw_layout
    from xcompass.viz.plots import draw_convergence, draw_pareto

    report = with_layout(report)
    written = draw_gantt(report, os.path.join(out, "gantt"))
    written += draw_layout(report, os.path.join(out, "layout"))
    if report.get("convergence"):
        written += draw_convergence(report, os.path.join(out, "convergence"))
    if report.get("pareto"):
        written += draw_pareto(report, os.path.join(out, "pareto"))
    return written
