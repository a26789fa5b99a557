"""A chiplet kind's table in a target file (docs/targets.md): its fields, attention variants
and lowering read into a `ChipletKind`, every field checked and a bad one named in one line;
`FieldReader` is the typed field access every part of a target file goes through."""

from __future__ import annotations

import re
from typing import Any

from xcompass.errors import XcompassError
from xcompass.hardware.targets import (
    ChipletKind,
    OnChipLevel,
)

# Sane limits (documented in the README): what a target file may ask for before any allocation.
MAX_COUNT = 1_000_000  # units, tile sizes, DRAM channels
MAX_FLOAT = 1e15  # any physical figure (TFLOP/s, GB/s, W, pJ, us, GB)

_KIND_FIELDS = {
    "kind": str,
    "count": int,
    "peak_tflops": float,
    "compute_efficiency": float,
    "attention_efficiency": float,
    "units": int,
    "tile_m": int,
    "tile_n": int,
    "sram_mb": float,
    "dram_gbs": float,
    "dram_efficiency": float,
    "kernel_floor_us": float,
    "eltwise_floor_us": float,
    "attention_floor_us": float,
    "pj_per_mac": float,
    "sram_pj_per_bit": float,
    "static_w": float,
}
_FRACTIONS = ("compute_efficiency", "attention_efficiency", "dram_efficiency")
_OPTIONAL_FRACTIONS = ("attention_dram_efficiency", "eltwise_dram_efficiency", "throttled_clock")
_NONNEG = (
    "kernel_floor_us",
    "eltwise_floor_us",
    "attention_floor_us",
    "pj_per_mac",
    "sram_pj_per_bit",
    "static_w",
)
_OP_CALIBRATION = (
    "reduction_ns_per_element",
    "attention_tile_overhead",
    "attention_mixed_unpacked",
    "dram_saturation_units",
    "throttle_after_us",
    "gemm_overlap",
    "norm_reread_width",
    "grouped_overlap",
    "moe_route_kernels",
    "moe_combine_tensors",
)
MAX_LAUNCH_US = 10_000.0
_OPTIONAL_NONNEG = ("idle_w", "launch_us", "collective_launch_us", "memory_gb", *_OP_CALIBRATION)
_LOWERING = ("levels", "mma_m", "tile_set", "split_k", "gemm_tile_overhead")


class FieldReader:
    """Typed field access that names the offending field on any mistake."""

    def __init__(self, where: str):
        self.where = where

    def fail(self, key: str, message: str) -> XcompassError:
        return XcompassError(f"{self.where}: field '{key}' {message}")

    def get(self, table: dict[str, Any], key: str, typ: type, prefix: str = "", default=None):  # noqa: ANN001, ANN201
        name = f"{prefix}{key}"
        if key not in table:
            if default is not None:
                return default
            raise self.fail(name, "is missing")
        value = table[key]
        if typ is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, typ) or isinstance(value, bool):
            raise self.fail(name, f"must be {typ.__name__}, got {short(value)}")
        if typ is float and not (-MAX_FLOAT <= value <= MAX_FLOAT):
            raise self.fail(name, f"must be a finite number within +-{MAX_FLOAT:g}, got {value!r}")
        if typ is int and not (-MAX_COUNT <= value <= MAX_COUNT):
            raise self.fail(name, f"must be within +-{MAX_COUNT:,}, got {short(value)}")
        return value


def short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


_ATTENTION_VARIANTS = {  # field: (lowest, highest, what it is), absent = 0 (mechanism off)
    "attention_varlen": (0.0, 2.0, "0 (dense kernel), 1 (ragged calls varlen) or 2 (every call)"),
    "attention_varlen_efficiency": (0.0, 1.0, "a fraction of peak"),
    "attention_varlen_ctas": (0.0, 64.0, "CTAs resident per unit"),
    "attention_varlen_lone": (0.0, 1.0, "a fraction of a full unit's rate"),
    "attention_varlen_rows": (0.0, 1024.0, "query rows per tile"),
    "attention_varlen_keys": (0.0, 1024.0, "keys per block step"),
    "attention_varlen_tile_overhead": (0.0, 1000.0, "block steps per CTA"),
    "attention_varlen_floor_us": (0.0, 10_000.0, "us"),
    "attention_varlen_split": (0.0, 1.0, "0 (no split-KV) or 1 (FlashAttention-2's)"),
    "attention_varlen_split_us": (0.0, 10_000.0, "us per split"),
    "attention_varlen_fold_us": (0.0, 10_000.0, "us"),
    "attention_varlen_throttle": (0.0, 1.0, "0 or 1 (a power-capped step slows its math)"),
    "attention_softmax_efficiency": (0.0, 1.0, "a fraction of the DRAM bandwidth"),
    "attention_softmax_wide_row": (0.0, 1e9, "elements"),
    "attention_softmax_per_doubling": (0.0, 100.0, "a slowdown per doubling of width"),
    "attention_bmm_thin_us": (0.0, 10_000.0, "us per tile"),
    "attention_bmm_thin_gbs": (0.0, 1e6, "GB/s per unit"),
    "attention_bmm_thin_tbs": (0.0, 1e4, "TB/s"),
    "attention_bmm_thin_pv_us": (0.0, 10_000.0, "us"),
    "attention_bmm_thin_pv_gbs": (0.0, 1e6, "GB/s per tile"),
    "attention_bmm_thin_pv_tbs": (0.0, 1e4, "TB/s"),
    "attention_scores_cached": (0.0, 1.0, "0 or 1 (scores that fit on chip stay there)"),
    "attention_reduce_us": (0.0, 10_000.0, "us"),
    "attention_gqa_pack": (0.0, 1.0, "0 or 1 (a decode tile holds a KV head's query heads)"),
}
_WHOLE = ("attention_varlen", "attention_varlen_rows", "attention_varlen_keys",
          "attention_varlen_split", "attention_varlen_throttle",
          "attention_scores_cached", "attention_gqa_pack")  # fmt: skip


def _check_attention_variants(
    r: FieldReader, table: dict[str, Any], prefix: str, values: dict[str, Any]
) -> None:
    """The attention-variant fields (opcost's varlen kernel, unfused softmax and thin batched
    GEMMs): optional numbers in their ranges; the switches and tile sizes whole numbers."""
    for key, (lo, hi, what) in _ATTENTION_VARIANTS.items():
        value = r.get(table, key, float, prefix, default=-1.0)
        if value == -1.0 and key not in table:
            values[key] = 0.0
            continue
        if not lo <= value <= hi or (key in _WHOLE and value != int(value)):
            whole = "a whole number " if key in _WHOLE else ""
            raise r.fail(prefix + key, f"must be {whole}{lo:g} to {hi:g} ({what}), got {value:g}")
        values[key] = value


def parse_kind(r: FieldReader, table: dict[str, Any], i: int, n_channels: int) -> ChipletKind:
    prefix = f"chiplet[{i}]."
    values = {key: r.get(table, key, typ, prefix) for key, typ in _KIND_FIELDS.items()}
    for key, typ in _KIND_FIELDS.items():
        if typ is not str and key not in _NONNEG and values[key] <= 0:
            raise r.fail(prefix + key, f"must be positive, got {values[key]}")
    for key in _NONNEG:
        if values[key] < 0:
            raise r.fail(prefix + key, f"must be >= 0, got {values[key]}")
    for key in _FRACTIONS:
        if values[key] > 1:
            raise r.fail(prefix + key, f"is a fraction of peak, must be <= 1, got {values[key]}")
    for key in _OPTIONAL_NONNEG:
        values[key] = r.get(table, key, float, prefix, default=-1.0)
        if values[key] != -1.0 and values[key] < 0:
            raise r.fail(prefix + key, f"must be >= 0, got {values[key]}")
    if values["idle_w"] == -1.0:
        values["idle_w"] = values["static_w"]  # default: no power gating
    values["launch_us"] = max(values["launch_us"], 0.0)
    if values["collective_launch_us"] == -1.0:
        values["collective_launch_us"] = values["launch_us"]  # default: a launch like any
    for key in ("launch_us", "collective_launch_us"):
        if values[key] > MAX_LAUNCH_US:
            raise r.fail(
                prefix + key,
                f"must be 0 to {MAX_LAUNCH_US:g} (us, the host's time per launch), got "
                f"{values[key]}",
            )
    for key in _OP_CALIBRATION:
        values[key] = max(values[key], 0.0)  # absent: 0, the mechanism is off
    _check_attention_variants(r, table, prefix, values)
    channel = table.get("dram_channel", 0)
    if isinstance(channel, int) and not isinstance(channel, bool):
        channel = [channel] * values["count"]
    if not isinstance(channel, list) or len(channel) != values["count"]:
        raise r.fail(prefix + "dram_channel", f"must be an int or a list of {values['count']} ints")
    for c in channel:
        if not isinstance(c, int) or not 0 <= c < n_channels:
            raise r.fail(prefix + "dram_channel", f"names channel {c!r}; there are {n_channels}")
    for key in _OPTIONAL_FRACTIONS:
        values[key] = r.get(table, key, float, prefix, default=0.0)
        if not 0 <= values[key] <= 1:
            raise r.fail(
                prefix + key, f"is a fraction of peak, must be in (0, 1], got {values[key]}"
            )
    unknown = (
        set(table)
        - set(_KIND_FIELDS)
        - {"dram_channel", *_OPTIONAL_FRACTIONS, *_OPTIONAL_NONNEG, *_LOWERING}
        - set(_ATTENTION_VARIANTS)
    )
    if unknown:
        raise r.fail(prefix + sorted(unknown)[0], "is not a chiplet field")
    values.update(parse_lowering(r, table, prefix, values["tile_m"]))
    return ChipletKind(**values, dram_channel=tuple(channel))


_LEVEL_NAME = re.compile(r"[a-z][a-z0-9_]{0,15}")


def parse_lowering(
    r: FieldReader, table: dict[str, Any], prefix: str, tile_m: int
) -> dict[str, Any]:
    """The optional fields the lowering passes read: on-chip levels, the matrix unit's tile,
    the GEMM tile set, split-K and the per-tile overhead."""
    out: dict[str, Any] = {}
    raw = table.get("levels", [])
    if not isinstance(raw, list) or not all(isinstance(t, dict) for t in raw):
        raise r.fail(prefix + "levels", "must be a list of {name, kb, shared} tables")
    levels = []
    for i, t in enumerate(raw):
        where = f"{prefix}levels[{i}]."
        unknown = set(t) - {"name", "kb", "shared"}
        if unknown:
            raise r.fail(where + sorted(unknown)[0], "is not a level field (name, kb, shared)")
        name = r.get(t, "name", str, where)
        if not _LEVEL_NAME.fullmatch(name) or any(lv.name == name for lv in levels):
            raise r.fail(where + "name", f"must be a new lower-case identifier, got {short(name)}")
        kb = r.get(t, "kb", float, where)
        if kb <= 0:
            raise r.fail(where + "kb", f"must be positive, got {kb}")
        shared = t.get("shared", False)
        if not isinstance(shared, bool):
            raise r.fail(where + "shared", f"must be true or false, got {short(shared)}")
        levels.append(OnChipLevel(name, int(kb * 1024), shared))
    out["levels"] = tuple(levels)
    mma_m = r.get(table, "mma_m", int, prefix, default=tile_m)
    if mma_m <= 0 or tile_m % mma_m:
        raise r.fail(
            prefix + "mma_m", f"must be positive and divide tile_m ({tile_m}), got {mma_m}"
        )
    out["mma_m"] = mma_m
    tiles = table.get("tile_set", [tile_m])
    if (
        not isinstance(tiles, list)
        or not tiles
        or not all(isinstance(t, int) and not isinstance(t, bool) for t in tiles)
        or not all(0 < t <= MAX_COUNT and t % mma_m == 0 for t in tiles)
    ):
        raise r.fail(
            prefix + "tile_set", f"must be a list of positive multiples of mma_m ({mma_m})"
        )
    out["tile_set"] = tuple(sorted(set(tiles)))
    split_k = table.get("split_k", True)
    if not isinstance(split_k, bool):
        raise r.fail(prefix + "split_k", f"must be true or false, got {short(split_k)}")
    out["split_k"] = split_k
    overhead = r.get(table, "gemm_tile_overhead", float, prefix, default=0.0)
    if overhead < 0:
        raise r.fail(prefix + "gemm_tile_overhead", f"must be >= 0, got {overhead}")
    out["gemm_tile_overhead"] = overhead
    return out
