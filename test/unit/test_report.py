"""The report's breakdowns, hand-worked on the schedule cases of test_schedule.py."""

import numpy as np
import pytest
from test_schedule import HOP, both, line_target, table

from xcompass.engine.context import EvalContext
from xcompass.engine.mapping import Mapping, make_groups
from xcompass.engine.report import FIELDS, build_report, critical_path
from xcompass.model.workload import build_workload, parse_spec


def test_critical_path_of_a_pipeline_bubble():
    target = line_target(2)
    ctx = EvalContext(table(1.0, act_bytes=10e9), make_groups(target, (1,)), target, 2)
    r = both(ctx, Mapping(np.zeros(1, dtype=bool), np.array([[0, 1], [0, 1]])))
    # last node mb1 l1 [3+hop, 4+hop]: its input (link [2, 3], +1 hop) arrived last; that came
    # from mb1 l0 [1, 2], which waited for chip 0 (mb0 l0 [0, 1]): 3 s of compute + 1+hop NoP
    cp = critical_path(r)
    assert cp["compute"] == pytest.approx(3.0, rel=1e-12)
    assert cp["nop_transfer"] == pytest.approx(1 + HOP, rel=1e-12)
    assert cp["nop_wait"] == 0.0 and cp["dram_stall"] == 0.0
    assert sum(cp.values()) == pytest.approx(r.latency_s[0], rel=1e-12)


def test_critical_path_counts_waiting_for_a_busy_link():
    target = line_target(4)
    ctx = EvalContext(table(1.0, act_bytes=10e9), make_groups(target, (1,)), target, 2)
    r = both(ctx, Mapping(np.zeros(1, dtype=bool), np.array([[0, 2], [1, 3]])))
    # mb1 l1 [3+2hop, 4+2hop]; its transfer asked for the links at 1, got them at 2 (mb0's
    # message held 1E), held them 1 s, 2 hops; mb1 l0 [0, 1] started the chain
    cp = critical_path(r)
    assert cp["compute"] == pytest.approx(2.0, rel=1e-12)
    assert cp["nop_wait"] == pytest.approx(1.0, rel=1e-12)
    assert cp["nop_transfer"] == pytest.approx(1 + 2 * HOP, rel=1e-12)
    assert sum(cp.values()) == pytest.approx(4 + 2 * HOP, rel=1e-12)


def report_of(target, tb, mapping, B):
    groups = make_groups(target, (1,))
    ctx = EvalContext(tb, groups, target, mapping.place.shape[1])
    spec = ",".join(["decode:16"] * B)
    return build_report(
        both(ctx, mapping), mapping, groups, tb, target, build_workload(parse_spec(spec), None), "m"
    )


def test_per_chiplet_busy_stalled_idle_and_static():
    # 4 chiplets (2 W running, 0.5 W gated); mb0 and mb1 each stream the whole channel for their
    # 1 s layer on chips 0 and 1: mb1 waits 1 s for the channel (see test_schedule)
    target = line_target(4, static_w=2.0, idle_w=0.5)
    rep = report_of(
        target, table(1.0, dram_bytes=100e9), Mapping(np.zeros(0, bool), np.array([[0], [1]])), 2
    )
    assert rep["latency_s"] == pytest.approx(2.0, rel=1e-12)
    c0, c1, c2 = rep["per_chiplet"][:3]
    assert (c0["busy_s"], c0["stalled_s"], c0["idle_s"]) == pytest.approx((1.0, 0.0, 1.0))
    assert (c1["busy_s"], c1["stalled_s"], c1["idle_s"]) == pytest.approx((1.0, 1.0, 0.0))
    assert c0["utilization"] == pytest.approx(0.5)
    assert (c0["powered"], c2["powered"]) == (True, False)
    assert c0["static_energy_j"] == pytest.approx(2.0 * 2.0)  # 2 W x 2 s
    assert c2["static_energy_j"] == pytest.approx(0.5 * 2.0)  # gated: 0.5 W x 2 s
    assert c2["busy_s"] == 0.0 and c2["idle_s"] == pytest.approx(2.0)
    # DRAM energy: 2 x 100 GB x 8 bit x 10 pJ/bit = 16 J, split between chips 0 and 1
    assert c0["dynamic_energy_j"] == pytest.approx(8.0) and c1["dynamic_energy_j"] == pytest.approx(
        8.0
    )
    assert sum(c["energy_j"] for c in rep["per_chiplet"]) == pytest.approx(
        rep["energy_j"], rel=1e-12
    )
    assert rep["critical_path_s"]["dram_stall"] == pytest.approx(1.0)
    assert sum(rep["critical_path_s"].values()) == pytest.approx(rep["latency_s"], rel=1e-12)
    # summed over tasks, compute is 2 task-seconds inside a 2 s run: it says so in `fields`
    assert rep["task_time_s"]["compute"] == pytest.approx(2.0)
    assert "can exceed latency_s" in rep["fields"]["task_time_s"]
    assert rep["per_task"][1]["stall_s"] == pytest.approx(1.0)


def test_every_reported_quantity_is_documented():
    target = line_target(2)
    rep = report_of(target, table(1.0), Mapping(np.zeros(1, bool), np.array([[0, 1]])), 1)
    undocumented = (
        set(rep) - set(FIELDS) - {"model", "target", "microbatches", "layers", "units", "fields"}
    )
    assert not undocumented
    assert "static" in FIELDS["per_task"]  # per-task energy says static energy is not in it
