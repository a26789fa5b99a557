"""Target files: the TOML schema of docs/targets.md read into a `Target`, every field validated
and a bad one named in one line; the shipped presets (`xcompass/data/targets/`, one file each)
and the way a command names a target (a preset, a file, or a preset's name case-folded)."""

from __future__ import annotations

import re
import tomllib
from dataclasses import replace
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from xcompass import fileio
from xcompass.errors import XcompassError, did_you_mean, shown
from xcompass.hardware.targets import (
    ChipletKind,
    DramChannel,
    MemoryDomain,
    Network,
    OnChipLevel,
    Target,
)


def _preset_names() -> tuple[str, ...]:
    """The presets are the TOML files shipped in `xcompass/data/targets/`: a file added there
    is a preset, with no list to update. Sorted by file name, so diagnostics and
    `xcompass targets` list them in one fixed order."""
    folder = resources.files("xcompass").joinpath("data/targets")
    return tuple(
        sorted(f.name[: -len(".toml")] for f in folder.iterdir() if f.name.endswith(".toml"))
    )


PRESET_NAMES = _preset_names()
"""The preset targets' names (their files' names, sorted)."""


# Sane limits (documented in the README): what a target file may ask for before any allocation.
MAX_CHIPLETS = 256  # routes are chiplets^2 x hops; 256 chiplets is a 16x16 mesh
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


class _Reader:
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
            raise self.fail(name, f"must be {typ.__name__}, got {_short(value)}")
        if typ is float and not (-MAX_FLOAT <= value <= MAX_FLOAT):
            raise self.fail(name, f"must be a finite number within +-{MAX_FLOAT:g}, got {value!r}")
        if typ is int and not (-MAX_COUNT <= value <= MAX_COUNT):
            raise self.fail(name, f"must be within +-{MAX_COUNT:,}, got {_short(value)}")
        return value


def _short(value: object) -> str:
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
    r: _Reader, table: dict[str, Any], prefix: str, values: dict[str, Any]
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


def _parse_kind(r: _Reader, table: dict[str, Any], i: int, n_channels: int) -> ChipletKind:
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
    values.update(_parse_lowering(r, table, prefix, values["tile_m"]))
    return ChipletKind(**values, dram_channel=tuple(channel))


_LEVEL_NAME = re.compile(r"[a-z][a-z0-9_]{0,15}")


def _parse_lowering(r: _Reader, table: dict[str, Any], prefix: str, tile_m: int) -> dict[str, Any]:
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
            raise r.fail(where + "name", f"must be a new lower-case identifier, got {_short(name)}")
        kb = r.get(t, "kb", float, where)
        if kb <= 0:
            raise r.fail(where + "kb", f"must be positive, got {kb}")
        shared = t.get("shared", False)
        if not isinstance(shared, bool):
            raise r.fail(where + "shared", f"must be true or false, got {_short(shared)}")
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
        raise r.fail(prefix + "split_k", f"must be true or false, got {_short(split_k)}")
    out["split_k"] = split_k
    overhead = r.get(table, "gemm_tile_overhead", float, prefix, default=0.0)
    if overhead < 0:
        raise r.fail(prefix + "gemm_tile_overhead", f"must be >= 0, got {overhead}")
    out["gemm_tile_overhead"] = overhead
    return out


def _parse_drams(r: _Reader, tables: Any) -> list[DramChannel]:
    if not isinstance(tables, list) or not tables:
        raise r.fail("dram", "must be at least one [[dram]] table")
    channels: list[DramChannel] = []
    for i, t in enumerate(tables):
        prefix = f"dram[{i}]."
        count = r.get(t, "count", int, prefix, default=1)
        bw = r.get(t, "bw_gbs", float, prefix)
        pj = r.get(t, "pj_per_bit", float, prefix)
        cap = r.get(t, "capacity_gb", float, prefix)
        if bw <= 0 or cap <= 0 or pj < 0 or count <= 0:
            raise r.fail(prefix + "bw_gbs", "bandwidth, capacity and count must be positive")
        unknown = set(t) - {"count", "bw_gbs", "pj_per_bit", "capacity_gb", "attach"}
        if unknown:
            raise r.fail(
                prefix + sorted(unknown)[0],
                "is not a dram field (count, bw_gbs, pj_per_bit, capacity_gb, attach)",
            )
        attach = t.get("attach")
        pairs_ok = isinstance(attach, list) and all(
            isinstance(p, list)
            and len(p) == 2
            and all(
                isinstance(x, int) and not isinstance(x, bool) and 0 <= x < MAX_CHIPLETS for x in p
            )  # fmt: skip
            for p in attach
        )
        if attach is not None and (not pairs_ok or len(attach) != count):
            raise r.fail(prefix + "attach", f"must list {count} (column, row) pairs")
        for j in range(count):
            where = tuple(attach[j]) if attach is not None else None
            channels.append(DramChannel(bw, pj, cap, where))
    return channels


_NETWORK_KEYS = (
    "topology",
    "dims",
    "link_gbs",
    "hop_ns",
    "latency_us",
    "eager_latency_us",
    "pj_per_bit_hop",
    "allreduce_gbs",
    "allreduce_latency_us",
    "eager_allreduce_latency_us",
    "allreduce_step_us",
    "allreduce_small_fraction",
    "allreduce_bulk_extra_us",
    "allreduce_bulk_step_us",
    "allreduce_peak_gbs",
)


def _parse_network(r: _Reader, t: Any, chiplets: int) -> Network:
    """`[network]`; optional fields default so that a file naming only link_gbs and latency_us
    gets one latency in both modes and a one-protocol ring all-reduce over the links."""
    if not isinstance(t, dict):
        raise r.fail("network", "table is missing")
    unknown = set(t) - set(_NETWORK_KEYS)
    if unknown:
        raise r.fail(f"network.{sorted(unknown)[0]}", "is not a network field")
    topology = r.get(t, "topology", str, "network.")
    if topology not in ("mesh", "switch"):
        raise r.fail("network.topology", f"must be 'mesh' or 'switch', got '{topology}'")
    dims = (0, 0)
    if topology == "mesh":
        raw = t.get("dims")
        if (
            not isinstance(raw, list)
            or len(raw) != 2
            or not all(isinstance(d, int) and not isinstance(d, bool) and d > 0 for d in raw)
            or raw[0] * raw[1] != chiplets
        ):
            raise r.fail("network.dims", f"must be [columns, rows] covering {chiplets} chiplets")
        dims = (int(raw[0]), int(raw[1]))

    def positive(key: str, default: float) -> float:
        value = r.get(t, key, float, "network.", default=default)
        if value <= 0:
            raise r.fail(f"network.{key}", f"is a bandwidth in GB/s, must be positive, got {value}")
        return value

    def nonneg(key: str, default: float) -> float:
        value = r.get(t, key, float, "network.", default=default)
        if value < 0:
            raise r.fail(f"network.{key}", f"must be >= 0, got {value}")
        return value

    link = positive("link_gbs", None)
    latency = nonneg("latency_us", 0.0)
    eager = nonneg("eager_latency_us", latency)
    ar_latency = nonneg("allreduce_latency_us", latency)
    ar_gbs = positive("allreduce_gbs", link)
    step = nonneg("allreduce_step_us", 0.0)
    fraction = r.get(t, "allreduce_small_fraction", float, "network.", default=1.0)
    if not 0 < fraction <= 1:
        raise r.fail(
            "network.allreduce_small_fraction",
            f"is a share of the bus bandwidth, must be in (0, 1], got {fraction}",
        )
    peak = positive("allreduce_peak_gbs", ar_gbs)
    if peak < ar_gbs:
        raise r.fail(
            "network.allreduce_peak_gbs",
            f"must be >= allreduce_gbs ({ar_gbs:g}): the bus bandwidth of large groups, got {peak}",
        )
    return Network(
        topology=topology,
        link_gbs=link,
        pj_per_bit_hop=nonneg("pj_per_bit_hop", None),
        latency_us=latency,
        hop_ns=nonneg("hop_ns", 0.0),
        dims=dims,
        allreduce_gbs=ar_gbs,
        eager_latency_us=eager,
        allreduce_latency_us=ar_latency,
        eager_allreduce_latency_us=nonneg(
            "eager_allreduce_latency_us", max(ar_latency + eager - latency, 0.0)
        ),
        allreduce_step_us=step,
        allreduce_small_fraction=fraction,
        allreduce_bulk_extra_us=nonneg("allreduce_bulk_extra_us", 0.0),
        allreduce_bulk_step_us=nonneg("allreduce_bulk_step_us", step),
        allreduce_peak_gbs=peak,
    )


def parse_target(data: dict[str, Any], where: str, path: str = "") -> Target:
    r = _Reader(where)
    meta = data.get("meta")
    if not isinstance(meta, dict):
        raise r.fail("meta", "table is missing (needs name, description, sources)")
    name = r.get(meta, "name", str, "meta.")
    description = r.get(meta, "description", str, "meta.", default="")
    sources = meta.get("sources", [])
    if not isinstance(sources, list) or not all(isinstance(s, str) for s in sources):
        raise r.fail("meta.sources", "must be a list of strings")
    unknown = set(meta) - {"name", "description", "sources"}
    if unknown:
        raise r.fail(
            "meta." + sorted(unknown)[0], "is not a meta field (name, description, sources)"
        )
    drams = _parse_drams(r, data.get("dram"))
    kinds_raw = data.get("chiplet")
    if not isinstance(kinds_raw, list) or not kinds_raw:
        raise r.fail("chiplet", "must be at least one [[chiplet]] table")
    kinds = [_parse_kind(r, t, i, len(drams)) for i, t in enumerate(kinds_raw)]
    total = sum(k.count for k in kinds)
    if total > MAX_CHIPLETS:
        raise r.fail("chiplet", f"counts add up to {total:,} chiplets; at most {MAX_CHIPLETS}")
    network = _parse_network(r, data.get("network"), total)
    domains = _parse_memory(r, data.get("memory"), kinds)
    if domains:
        kinds = [replace(k, memory_gb=0.0) for k in kinds]
    unknown = set(data) - set(_SECTIONS)
    if unknown:
        raise r.fail(sorted(unknown)[0], f"is not a target section ({', '.join(_SECTIONS)})")
    return Target(
        name, description, tuple(sources), tuple(kinds), tuple(drams), network, path, domains
    )


_SECTIONS = ("meta", "chiplet", "dram", "network", "memory")


def _parse_memory(r: _Reader, tables: Any, kinds: list[ChipletKind]) -> tuple[MemoryDomain, ...]:
    """`[[memory]]` domains (name, capacity_gb, chiplets = ids, default all): every chiplet in
    exactly one. Without them each chiplet is its own domain of `memory_gb`."""
    total = sum(k.count for k in kinds)
    if tables is None:
        for i, k in enumerate(kinds):
            if k.memory_gb == -1.0:
                raise r.fail(
                    f"chiplet[{i}].memory_gb",
                    "is missing (give each chiplet kind memory_gb, or add [[memory]] domains)",
                )
            if k.memory_gb <= 0:
                raise r.fail(f"chiplet[{i}].memory_gb", f"must be positive, got {k.memory_gb}")
        return ()
    if not isinstance(tables, list) or not tables:
        raise r.fail("memory", "must be a list of [[memory]] tables")
    for i, k in enumerate(kinds):
        if k.memory_gb != -1.0:
            raise r.fail(
                f"chiplet[{i}].memory_gb",
                "conflicts with [[memory]] domains (give one or the other)",
            )
    owner = [-1] * total
    domains = []
    for d, t in enumerate(tables):
        prefix = f"memory[{d}]."
        if not isinstance(t, dict):
            raise r.fail(f"memory[{d}]", "must be a table")
        unknown = set(t) - {"name", "capacity_gb", "chiplets"}
        if unknown:
            raise r.fail(
                prefix + sorted(unknown)[0], "is not a memory field (name, capacity_gb, chiplets)"
            )
        name = r.get(t, "name", str, prefix, default=f"memory{d}")
        cap = r.get(t, "capacity_gb", float, prefix)
        if cap <= 0:
            raise r.fail(prefix + "capacity_gb", f"must be positive, got {cap}")
        chips = t.get("chiplets", list(range(total)))
        if not isinstance(chips, list) or not chips:
            raise r.fail(prefix + "chiplets", "must be a non-empty list of chiplet ids")
        for c in chips:
            if not isinstance(c, int) or isinstance(c, bool) or not 0 <= c < total:
                raise r.fail(
                    prefix + "chiplets", f"names chiplet {_short(c)}; ids are 0..{total - 1}"
                )
            if owner[c] >= 0:
                raise r.fail(prefix + "chiplets", f"chiplet {c} is already in memory[{owner[c]}]")
            owner[c] = d
        domains.append(MemoryDomain(name, cap, tuple(chips)))
    if -1 in owner:
        raise r.fail("memory", f"chiplet {owner.index(-1)} is in no [[memory]] domain")
    return tuple(domains)


MAX_TARGET_BYTES = 4 * 2**20
"""Largest target file read (4 MiB; the presets are a few KiB)."""


def _read_target_text(path: Path) -> str:
    try:  # a regular file only: a FIFO would block, /dev/zero never ends
        return fileio.read_regular(path, MAX_TARGET_BYTES).decode("utf-8")
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise XcompassError(
            f"target file '{shown(str(path), 100)}': unreadable ({reason})"
        ) from None


def load_target_file(path: str | Path) -> Target:
    path = Path(path)
    text = _read_target_text(path)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise XcompassError(f"target file '{path}': malformed TOML ({exc})") from None
    return parse_target(data, f"target file '{path}'", str(path.resolve()))


def target_data(spec: str) -> dict[str, Any]:
    """The raw TOML data of a preset or a (validated) target file, e.g. to embed it in IR."""
    if spec in PRESET_NAMES:
        return tomllib.loads(
            resources.files("xcompass").joinpath(f"data/targets/{spec}.toml").read_text()
        )
    path = resolve_target_spec(spec)
    return tomllib.loads(_read_target_text(Path(path)))


@cache
def preset(name: str) -> Target:
    return parse_target(target_data(name), f"preset '{name}'", name)


def resolve_target_spec(spec: str) -> str:
    """Check a target name or file; return the preset name or the file's absolute path."""
    if spec in PRESET_NAMES:
        return spec
    folded = {n.lower(): n for n in PRESET_NAMES}
    path = Path(spec)
    try:
        exists = path.exists()
    except (OSError, ValueError):  # a name too long for the OS, a NUL byte
        exists = False
    if path.suffix == ".toml" or exists:
        if not exists:
            raise XcompassError(f"target file '{shown(spec, 100)}': no such file")
        load_target_file(path)
        return str(path.resolve())
    if spec.lower() in folded:  # names are case-insensitive: H100 is h100
        return folded[spec.lower()]
    raise XcompassError(
        f"unknown target '{shown(spec, 60)}'{did_you_mean(spec, PRESET_NAMES)} "
        f"(valid: {', '.join(PRESET_NAMES)}, or a .toml file)"
    )


def load_target(spec: str) -> Target:
    """A preset by name, or a target file by path (as stored in `xcompass.target`)."""
    if spec in PRESET_NAMES:
        return preset(spec)
    resolved = resolve_target_spec(spec)
    return preset(resolved) if resolved in PRESET_NAMES else load_target_file(resolved)
