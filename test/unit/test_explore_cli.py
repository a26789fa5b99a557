"""`xcompass explore` end to end (what it prints and writes), `xcompass report` re-rendering,
the Perfetto trace's schema, Ctrl-C and --resume, and every bad input: one line, non-zero exit,
no traceback, nothing on disk touched."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from xcompass.tools.cli import main

from xcompass.engine.report import FIELDS

SMALL = [
    "--layers",
    "2",
    "--microbatches",
    "3",
    "--population",
    "12",
    "--generations",
    "4",
    "--quiet",
]
XCOMPASS = str(Path(sys.executable).with_name("xcompass"))


def run(capsys, *argv: str) -> tuple[int, str, str]:
    try:
        main(["explore", *argv] if argv[0] != "report" else list(argv))
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def explored(tmp_path_factory):
    """One small run, shared: its folder and what it printed."""
    out = tmp_path_factory.mktemp("explore") / "out"
    argv = ["explore", *SMALL, "--out", str(out)]
    done = subprocess.run([XCOMPASS, *argv], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return out, done.stdout


def test_explore_prints_the_table_and_writes_every_output(explored):
    out, printed = explored
    for name in (
        "found (",  # the best any method evaluated, named after the method that found it
        "layout: ",
        "simulated annealing",
        "random search",
        "best standard (",
        "lower bound",
        "found % better",
        "bound % better",
    ):
        assert name in printed
    names = sorted(p.name for p in out.iterdir())
    assert names == sorted(
        [
            "mapping.mlir",
            "report.json",
            "trace.json",
            "gantt.png",
            "gantt.svg",
            "layout.png",
            "layout.svg",
            "convergence.png",
            "convergence.svg",
        ]
    )
    report = json.loads((out / "report.json").read_text())
    assert set(report) - {"fields", "model", "target", "microbatches", "layers"} <= set(FIELDS)
    assert report["search"]["population"] == 12 and report["explore"]["backend"] == "in-process"
    assert "@mapping" in (out / "mapping.mlir").read_text()


def test_the_final_mlir_costs_to_the_report(explored, tmp_path):
    """map-cost on the written module gives the report's figures (same engine, same IR)."""
    out, _ = explored
    again = tmp_path / "again.json"
    done = subprocess.run(
        [
            str(Path(XCOMPASS).with_name("xcompass-opt")),
            str(out / "mapping.mlir"),
            "-p",
            f"map-cost{{report={again}}}",
            "-o",
            str(tmp_path / "x.mlir"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads((out / "report.json").read_text())
    costed = json.loads(again.read_text())
    for key in ("latency_s", "energy_j", "tokens", "per_task"):
        assert costed[key] == report[key], key


@pytest.mark.parametrize(
    "granularity, extra, header",
    [
        ("group", [], 'units 10 of "group"'),  # 5 kernels per lowered Llama layer
        ("tile", ["--tile-width", "256"], 'of "tile" width 256 heads 1'),
    ],
)
def test_explore_searches_units_below_a_layer(granularity, extra, header, tmp_path):
    """--granularity group|tile: the unit mapping is written, costs to the report under
    map-cost, and the pictures and trace label tasks by their units' layers."""
    out = tmp_path / "out"
    argv = [*SMALL[:4], "--population", "8", "--generations", "2", "--quiet", "--target",
            "simba-36", "--granularity", granularity, *extra, "--out", str(out)]  # fmt: skip
    done = subprocess.run([XCOMPASS, "explore", *argv], capture_output=True, text=True,
                          timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "found (" in done.stdout and "layout: " in done.stdout
    mlir = (out / "mapping.mlir").read_text()
    assert header in mlir and 'strategy = "autotune"' in mlir
    report = json.loads((out / "report.json").read_text())
    assert report["granularity"] == granularity
    assert all(t["layers"][0] < t["layers"][1] <= 2 for t in report["per_task"])
    assert (out / "gantt.png").stat().st_size > 1000 and (out / "trace.json").exists()
    again = tmp_path / "again.json"
    cost = subprocess.run(
        [str(Path(XCOMPASS).with_name("xcompass-opt")), str(out / "mapping.mlir"), "-p",
         f"map-cost{{report={again}}}", "-o", str(tmp_path / "x.mlir")],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert cost.returncode == 0, cost.stderr
    costed = json.loads(again.read_text())
    for key in ("latency_s", "energy_j", "tokens", "units"):
        assert costed[key] == report[key], key


def test_report_rerenders_the_table_trace_and_pictures(explored, tmp_path, capsys):
    out, printed = explored
    code, text, err = run(capsys, "report", str(out / "report.json"), "--out", str(tmp_path))
    assert code == 0, err
    assert text.split("\n\n")[1] == printed.split("\n\n")[1]  # the same table
    assert (tmp_path / "trace.json").read_bytes() == (out / "trace.json").read_bytes()
    assert (tmp_path / "gantt.svg").read_bytes() == (out / "gantt.svg").read_bytes()
    for name in ("gantt.png", "layout.png", "layout.svg", "convergence.png"):
        assert (tmp_path / name).stat().st_size > 1000
    assert not (tmp_path / "report.json").exists()  # the report itself is not rewritten


def test_the_perfetto_trace_has_one_track_per_resource_and_the_reports_times(explored):
    out, _ = explored
    report = json.loads((out / "report.json").read_text())
    trace = json.loads((out / "trace.json").read_text())
    events = trace["traceEvents"]
    assert isinstance(events, list) and events
    for e in events:
        assert {"ph", "pid"} <= set(e) and e["ph"] in ("M", "X", "C")
    names = {
        (e["pid"], e.get("tid")): e["args"]["name"]
        for e in events
        if e["ph"] == "M" and e["name"] == "thread_name"
    }
    chiplets = {tid for pid, tid in names if pid == 1}
    assert chiplets == set(range(len(report["per_chiplet"])))
    counters = {e["name"] for e in events if e["ph"] == "C"}
    assert len(counters) == len(report["layout"]["channels"])
    links = {tid for pid, tid in names if pid == 3}
    used = {link for t in report["activity"]["transfers"] for link in t[2]}
    assert links == used
    slices = [e for e in events if e["ph"] == "X"]
    assert all(e["dur"] >= 0 and e["ts"] >= 0 for e in slices)
    tasks = [e for e in slices if e["cat"] == "task"]
    want = sorted((c, t["start_s"], t["end_s"]) for t in report["per_task"] for c in t["chiplets"])
    got = sorted((e["tid"], e["ts"] / 1e6, (e["ts"] + e["dur"]) / 1e6) for e in tasks)
    assert len(got) == len(want)
    for (c1, s1, e1), (c2, s2, e2) in zip(got, want, strict=True):
        assert c1 == c2 and s1 == pytest.approx(s2, abs=1e-9) and e1 == pytest.approx(e2, abs=1e-9)
    for track in {(e["pid"], e["tid"]) for e in slices}:  # slices on a track nest or follow
        on = sorted((e["ts"], -e["dur"]) for e in slices if (e["pid"], e["tid"]) == track)
        stack: list[float] = []
        for ts, neg in on:
            while stack and stack[-1] <= ts + 1e-6:
                stack.pop()
            assert not stack or ts - neg <= stack[-1] + 1e-6, track
            stack.append(ts - neg)


def test_ctrl_c_leaves_a_checkpoint_and_the_best_mapping_and_resume_finishes_it(tmp_path, capsys):
    out, ckpt = tmp_path / "out", tmp_path / "c.npz"
    argv = [
        "--layers",
        "2",
        "--microbatches",
        "3",
        "--population",
        "12",
        "--generations",
        "400",
        "--quiet",
        "--no-pictures",
        "--no-baselines",
    ]
    proc = subprocess.Popen(
        [
            XCOMPASS,
            "explore",
            *argv,
            "--out",
            str(out),
            "--checkpoint",
            str(ckpt),
            "--checkpoint-every",
            "1",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.time() + 60
    while not ckpt.exists() and time.time() < deadline:
        time.sleep(0.1)
    time.sleep(0.3)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    if proc.returncode == 0:
        pytest.skip("the search finished before Ctrl-C arrived (machine too fast)")
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "--resume" in err
    assert (out / "best-so-far.mlir").exists() and (out / "best-so-far.json").exists()
    code, resumed, err = run(
        capsys, *argv, "--out", str(out), "--checkpoint", str(ckpt), "--resume", str(ckpt)
    )
    assert code == 0, err
    code, whole, err = run(capsys, *argv, "--out", str(tmp_path / "whole"))
    assert code == 0, err
    table = lambda text: text.split("\n\n")[1]  # noqa: E731
    assert table(resumed) == table(whole)


BAD = [
    (["--out", "{file}/sub"], r"--out .*: cannot create the folder \('.*' is a file\)"),
    (["--out", "{file}"], r"--out .*: exists and is not a folder"),
    (
        ["--scheduler", "tcp://127.0.0.1:9", "--scheduler-timeout", "1"],
        r"--scheduler tcp://127.0.0.1:9: cannot reach",
    ),
    (["--scheduler-timeout", "2"], r"--scheduler-timeout 2.0: waits for --scheduler; give it"),
    (["--scheduler", "nohost"], r"--scheduler nohost: not a scheduler address"),
    (["--workers", "2", "--scheduler", "tcp://x:1"], r"--workers and --scheduler: give one"),
    (["--resume", "{file}"], r"--resume .*: not an xcompass checkpoint"),
    (["--resume", "{dir}/missing.npz"], r"--resume .*: cannot read"),
    (
        ["--objective", "pareto", "--checkpoint", "{dir}/c.npz"],
        r"--checkpoint: objective pareto \(NSGA-II\) is not resumable",
    ),
    (["--objective", "pareto", "--resume", "{file}"], r"--resume: objective pareto"),
    (["--checkpoint", "{file}"], r"--checkpoint .*: exists; continue it with --resume"),
    (["--checkpoint-every", "3"], r"--checkpoint-every 3: saves to --checkpoint FILE"),
    (
        ["--tile-width", "256"],
        r"--tile-width 256: sizes tiles; give --granularity tile \(not layer\)",
    ),
    (
        ["--granularity", "group", "--tile-heads", "2"],
        r"--tile-heads 2: sizes tiles; give --granularity tile \(not group\)",
    ),
    (
        ["--granularity", "tile", "--tile-width", "100", "--target", "simba-36"],
        r"--tile-width: tile-width=100 is not a multiple of simba-36's hardware tile",
    ),
    (
        ["--granularity", "tile", "--tile-heads", "5"],
        r"--tile-heads: tile-heads=5 does not divide the model's 32 heads",
    ),
    (["--granularity", "row"], r"Invalid value for '--granularity'"),
    (["--lowering", "map-cost"], r"--lowering map-cost: 'map-cost' is not a lowering pass"),
    (["--lowering", "llm-fuse{theta=x}"], r"llm-fuse: option 'theta' expects a number"),
    (["--lowering", "nonsense"], r"--lowering nonsense: .*valid: default, pytorch, none"),
    (["--budget", "5"], r"--budget 5: smaller than one generation"),
    (["--population", "1"], r"Invalid value for '--population'"),
    (["--objective", "speed"], r"Invalid value for '--objective'"),
    (["--requests", "4"], r"--requests 4: sizes a --trace sample"),
    (["--workload", "decode:1x2", "--trace", "{file}"], r"--workload and --trace"),
    (["--trace", "{dir}/none.csv"], r"--trace .*: cannot read the file"),
    (["--workload", "prefill:0"], r"--workload: workload SPEC"),
    (["--model", "nope"], r"--model: unknown model 'nope'"),
    (["--target", "nope"], r"--target: unknown target 'nope'"),
    (["--layers", "99"], r"--layers 99: llama3-8b has 32 layers"),
]


@pytest.mark.parametrize("argv, message", BAD, ids=[" ".join(a) for a, _ in BAD])
def test_bad_input_is_one_line_before_any_work(argv, message, tmp_path, capsys):
    keep = tmp_path / "precious.txt"
    keep.write_text("the user's file")
    out = tmp_path / "out"
    argv = [a.replace("{file}", str(keep)).replace("{dir}", str(tmp_path)) for a in argv]
    if "--out" not in argv:
        argv += ["--out", str(out)]
    code, printed, err = run(capsys, *argv)
    assert code != 0 and not printed
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    assert __import__("re").search(message, lines[0]), lines[0]
    assert keep.read_text() == "the user's file"
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["precious.txt"]


def _without(argv: list[str], *flags: str) -> list[str]:
    """`argv` less the given flags and their values."""
    out, skip = [], False
    for a in argv:
        if skip:
            skip = False
        elif a in flags:
            skip = True
        else:
            out.append(a)
    return out


def test_resume_takes_the_settings_from_the_checkpoint_and_refuses_contradictions(tmp_path, capsys):
    """Issue 14 item 8: `--resume FILE` alone continues the run it belongs to; a flag that
    contradicts the checkpoint names both values; a finished run leaves no stale
    best-so-far.* in --out."""
    ckpt, out = tmp_path / "c.npz", tmp_path / "out"
    code, first, err = run(
        capsys, *SMALL, "--no-pictures", "--out", str(out), "--checkpoint", str(ckpt)
    )
    assert code == 0, err
    before = ckpt.read_bytes()
    (out / "best-so-far.mlir").write_text("// an interrupted run's\n")
    (out / "best-so-far.json").write_text("{}\n")
    code, resumed, err = run(capsys, "--resume", str(ckpt), "--out", str(out), "--quiet",
                             "--no-pictures")  # fmt: skip
    assert code == 0, err
    table = lambda text: text.split("\n\n")[1]  # noqa: E731
    assert table(resumed) == table(first)  # the same problem and settings, no flag retyped
    assert not (out / "best-so-far.mlir").exists() and not (out / "best-so-far.json").exists()
    for flag, value, message in (
        ("--generations", "5", "--generations 5: --resume .* was written with --generations 4"),
        ("--layers", "3", "--layers 3: --resume .* was written with --layers 2"),
        ("--no-baselines", None, "--no-baselines: --resume .* was written with --baselines"),
    ):
        argv = [*_without(SMALL, flag), flag, *([value] if value else [])]
        code, printed, err = run(capsys, *argv, "--resume", str(ckpt), "--out", str(out))
        assert code == 1 and not printed and len(err.splitlines()) == 1, err
        assert __import__("re").search(message, err), err
    assert ckpt.read_bytes() == before


def test_a_checkpoint_from_another_problem_is_refused_before_work(tmp_path, capsys):
    """A checkpoint without stored options (an older xcompass) is still checked: settings by
    name, the problem by its fingerprint."""
    from xcompass.explore import checkpoint as ckpt_lib

    ckpt, out = tmp_path / "c.npz", tmp_path / "out"
    code, _, err = run(
        capsys, *SMALL, "--no-pictures", "--out", str(out), "--checkpoint", str(ckpt)
    )
    assert code == 0, err
    loaded = ckpt_lib.load(str(ckpt))
    del loaded.header["options"]
    ckpt_lib.save(str(ckpt), loaded.state(), loaded.header)
    before = ckpt.read_bytes()
    argv = _without(SMALL, "--generations", "--layers")
    code, _, err = run(capsys, *argv, "--generations", "5", "--layers", "2", "--resume",
                       str(ckpt), "--out", str(out))  # fmt: skip
    assert code == 1 and "written with generations=4, this run has generations=5" in err
    code, _, err = run(capsys, *argv, "--generations", "4", "--layers", "3", "--resume",
                       str(ckpt), "--out", str(out))  # fmt: skip
    assert code == 1 and "belongs to another problem" in err and len(err.splitlines()) == 1
    assert ckpt.read_bytes() == before
    assert os.path.isdir(out)
