"""Target files: the TOML schema of docs/targets.md read into a `Target`, every field validated
and a bad one named in one line; the shipped presets (`xcompass/data/targets/`, one file each)
and the way a command names a target (a preset, a file, or a preset's name case-folded)."""

from __future__ import annotations

import tomllib
from dataclasses import replace
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from xcompass import fileio
from xcompass.errors import XcompassError, did_you_mean, shown
from xcompass.hardware.kindfile import FieldReader, parse_kind, short
from xcompass.hardware.targets import (
    ChipletKind,
    DramChannel,
    MemoryDomain,
    Network,
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


def _parse_drams(r: FieldReader, tables: Any) -> list[DramChannel]:
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


def _parse_network(r: FieldReader, t: Any, chiplets: int) -> Network:
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
    r = FieldReader(where)
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
    kinds = [parse_kind(r, t, i, len(drams)) for i, t in enumerate(kinds_raw)]
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


def _parse_memory(
    r: FieldReader, tables: Any, kinds: list[ChipletKind]
) -> tuple[MemoryDomain, ...]:
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
                    prefix + "chiplets", f"names chiplet {short(c)}; ids are 0..{total - 1}"
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
