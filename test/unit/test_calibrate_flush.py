"""The calibration's flush write-back (benchmarks/calibrate.py, `--flush-writeback`): the bytes an
op reads evict the write flush's dirty lines, written back at FLUSH_WRITEBACK_TBS up to the L2."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

from xcompass.cost.opcost import OpSpec, RequestGroup
from xcompass.hardware.targetfile import preset

ROOT = Path(__file__).resolve().parents[2]


def _calibrate():  # noqa: ANN202
    spec = importlib.util.spec_from_file_location("calibrate", ROOT / "benchmarks" / "calibrate.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_an_op_reading_past_l2_writes_back_the_whole_l2():
    cal = _calibrate()
    chip = preset("h100").kinds[0]  # sram_mb = 50: 52,428,800 B of L2
    assert cal.flush_writeback_us(chip, 1e9) == 0.0  # off unless asked for
    cal.WRITEBACK["on"] = True
    try:
        # 50 MiB at 6.5 TB/s = 52,428,800 / 6.5e6 us = 8.066 us; 13 MB: 2.0 us
        assert cal.flush_writeback_us(chip, 1e9) == pytest.approx(52_428_800 / 6.5e6, rel=1e-12)
        assert cal.flush_writeback_us(chip, 13e6) == pytest.approx(2.0, rel=1e-12)
        assert cal.flush_writeback_us(preset("h200").kinds[0], 1e9) == 0.0  # not measured
    finally:
        cal.WRITEBACK["on"] = False


def test_the_bytes_an_op_reads_leave_out_its_output():
    cal = _calibrate()
    gemm = OpSpec("gemm", n=4096, k=14336)
    # M = 2: traffic (4096 x 14336 + 2 x 14336 + 2 x 4096) x 2 B; less the 2 x 4096 output
    traffic = 2.0 * (4096 * 14336 + 2 * 14336 + 2 * 4096)
    assert cal.read_bytes(gemm, [RequestGroup(2, 0)], traffic) == 2.0 * (4096 * 14336 + 2 * 14336)
    add = OpSpec("eltwise", width=4096, tensors=3)
    assert cal.read_bytes(add, [RequestGroup(8, 0)], 3 * 8 * 4096 * 2.0) == 2 * 8 * 4096 * 2.0
