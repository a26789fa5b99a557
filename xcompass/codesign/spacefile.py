"""Reading a space file: every field checked and named like a target file's, and what a space
needs beyond syntax (a free field, derived fields left alone, limits some design can meet)
checked before any search. The file's format is in `xcompass.codesign.space`'s docstring and
docs/codesign.md."""

from __future__ import annotations

import itertools
import math
import tomllib
from dataclasses import fields
from pathlib import Path
from typing import Any

from xcompass import fileio
from xcompass.codesign.cost import CostModel
from xcompass.codesign.space import (
    CONSTRAINTS,
    DRAM_FIELDS,
    KIND_FIELDS,
    LIMITS,
    MAX_CORNERS,
    MAX_VALUE,
    NETWORK_FIELDS,
    SECTIONS,
    Axis,
    Design,
    Space,
)
from xcompass.errors import XcompassError, shown
from xcompass.hardware.targetfile import (
    MAX_CHIPLETS,
    parse_target,
    resolve_target_spec,
    target_data,
)


class _Where:
    def __init__(self, where: str) -> None:
        self.where = where

    def fail(self, key: str, message: str) -> XcompassError:
        return XcompassError(f"{self.where}: field '{key}' {message}")


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _axis(w: _Where, key: str, value: Any, integer: bool) -> Axis:
    kind = "whole numbers" if integer else "numbers"

    def check(v: Any) -> float:
        if not _number(v) or (integer and not float(v).is_integer()):
            raise w.fail(key, f"takes {kind}, got {shown(repr(v), 40)}")
        if not 0 < v <= MAX_VALUE:
            raise w.fail(key, f"must be positive and at most {MAX_VALUE:g}, got {v}")
        return float(v)

    if isinstance(value, dict):
        if set(value) != {"values"} or not isinstance(value["values"], list) or not value["values"]:
            raise w.fail(key, "as a table is {values = [a, b, ...]} (a non-empty list)")
        vals = tuple(sorted({check(v) for v in value["values"]}))
        return Axis(vals[0], vals[-1], integer, vals)
    if isinstance(value, list):
        if len(value) != 2:
            raise w.fail(key, f"as a range is [low, high], got {len(value)} items")
        low, high = check(value[0]), check(value[1])
        if low > high:
            raise w.fail(key, f"range [{value[0]}, {value[1]}]: the low end exceeds the high end")
        return Axis(low, high, integer)
    v = check(value)
    return Axis(v, v, integer)


def _unknown(w: _Where, table: dict, valid: tuple[str, ...] | list[str], prefix: str) -> None:
    from xcompass.errors import did_you_mean

    for key in table:
        if key not in valid:
            raise w.fail(
                f"{prefix}{key}",
                f"is not a field the space knows{did_you_mean(key, valid)} "
                f"(valid: {', '.join(valid)})",
            )


def parse_space(data: dict[str, Any], where: str, path: str = "") -> Space:
    """A space from TOML data; every mistake is one line naming the field."""
    w = _Where(where)
    _unknown(w, data, SECTIONS, "")
    head = data.get("space")
    if not isinstance(head, dict):
        raise w.fail("space", "table is missing (needs name and base)")
    _unknown(w, head, ("name", "base", "description", "clock_ghz"), "space.")
    name = head.get("name")
    if not isinstance(name, str) or not name.replace("-", "").replace("_", "").isalnum():
        raise w.fail("space.name", "must be a name of letters, digits, '-' and '_'")
    base_spec = head.get("base")
    if not isinstance(base_spec, str):
        raise w.fail("space.base", "must name a preset or a target file")
    if path and not Path(base_spec).is_absolute() and base_spec.endswith(".toml"):
        base_spec = str(Path(path).parent / base_spec)
    try:
        base = resolve_target_spec(base_spec)
        base_data = target_data(base)
        base_target = parse_target(base_data, f"target '{base}'", base)
    except XcompassError as exc:
        raise w.fail("space.base", f"{exc}") from None
    clock = head.get("clock_ghz", 1.0)
    if not _number(clock) or not 0 < clock <= 100:
        raise w.fail("space.clock_ghz", f"must be in (0, 100] GHz, got {shown(repr(clock), 40)}")
    names = [k.kind for k in base_target.kinds]
    kinds = []
    raw_kinds = data.get("kind", [])
    if not isinstance(raw_kinds, list) or not all(isinstance(t, dict) for t in raw_kinds):
        raise w.fail("kind", "must be [[kind]] tables")
    by_name: dict[str, dict] = {}
    for i, t in enumerate(raw_kinds):
        _unknown(w, t, ("name", *KIND_FIELDS), f"kind[{i}].")
        if t.get("name") not in names:
            raise w.fail(
                f"kind[{i}].name",
                f"names no chiplet kind of {base_target.name} "
                f"(valid: {', '.join(names)}), got {shown(repr(t.get('name')), 40)}",
            )
        by_name[t["name"]] = t
    for k in base_target.kinds:
        t = by_name.get(k.kind, {})
        base_values = {
            "count": k.count,
            "macs": round(k.peak_tflops * 1e3 / (2 * clock)),
            "sram_mb": k.sram_mb,
            "freq_ghz": clock,
        }
        kinds.append(
            {
                f: _axis(w, f"kind '{k.kind}'.{f}", t.get(f, base_values[f]), typ is int)
                for f, typ in KIND_FIELDS.items()
            }
        )
    dram_t = data.get("dram", {})
    net_t = data.get("network", {})
    cons_t = data.get("constraints", {})
    cost_t = data.get("cost", {})
    for sec, table, valid in (
        ("dram", dram_t, tuple(DRAM_FIELDS)),
        ("network", net_t, tuple(NETWORK_FIELDS)),
        ("constraints", cons_t, CONSTRAINTS),
        ("cost", cost_t, tuple(f.name for f in fields(CostModel))),
    ):
        if not isinstance(table, dict):
            raise w.fail(sec, "must be a table")
        _unknown(w, table, valid, f"{sec}.")
    drams = base_target.drams
    dram = {
        "channels": _axis(w, "dram.channels", dram_t.get("channels", len(drams)), True),
        "bw_gbs": _axis(w, "dram.bw_gbs", dram_t.get("bw_gbs", drams[0].bw_gbs), False),
    }
    network = {
        "link_gbs": _axis(
            w, "network.link_gbs", net_t.get("link_gbs", base_target.network.link_gbs), False
        )
    }
    constraints = {}
    for key, value in cons_t.items():
        if not _number(value) or value <= 0:
            raise w.fail(
                f"constraints.{key}", f"must be a positive number, got {shown(repr(value), 40)}"
            )
        constraints[key] = float(value)
    try:
        cost = CostModel(**cost_t)
    except TypeError as exc:
        raise w.fail("cost", f"has a value of the wrong type ({exc})") from None
    except XcompassError as exc:
        raise XcompassError(f"{where}: {exc}") from None
    space = Space(
        name,
        str(head.get("description", "")),
        base,
        base_data,
        base_target,
        float(clock),
        tuple(kinds),
        dram,
        network,
        constraints,
        cost,
        path,
    )
    _check(space, w, dram_t, cons_t)
    return space


def _check(space: Space, w: _Where, dram_t: dict, cons_t: dict) -> None:
    """What a space needs beyond its fields' syntax, all before any search: a free field,
    derived fields left alone, chiplet counts a target can hold, limits some design meets."""
    if "dram_gbs" in cons_t and "bw_gbs" in dram_t:
        raise w.fail(
            "dram.bw_gbs",
            "is derived from constraints.dram_gbs (the DRAM budget: "
            "bw_gbs = dram_gbs / channels); give one or the other",
        )
    if "total_macs" in cons_t and len(space.kinds) == 1 and space.kinds[0]["macs"].free:
        raise w.fail(
            f"kind '{space.base_target.kinds[0].kind}'.macs",
            "is derived from constraints.total_macs (macs = total_macs / count); "
            "fix it or drop the constraint",
        )
    if not space.free():
        raise XcompassError(
            f"{w.where}: no field varies; give at least one a range [low, high] or "
            "{values = [...]} (fields: " + ", ".join(n for n, _ in space.axes()) + ")"
        )
    fewest = sum(int(k["count"].low) for k in space.kinds)
    if fewest > MAX_CHIPLETS:
        raise w.fail(
            "kind",
            f"counts add up to at least {fewest} chiplets; a target holds at most {MAX_CHIPLETS}",
        )
    limits = [c for c in LIMITS if c in space.constraints]
    if not limits:
        return
    best = {c: math.inf for c in limits}
    witness: dict[str, Design] = {}
    for design in corner_designs(space):
        if design.chiplets > MAX_CHIPLETS:
            continue
        m = space.measures(design)
        for c in limits:
            if m[c] < best[c]:
                best[c], witness[c] = m[c], design
    units = {"area_mm2": "mm^2", "power_w": "W", "cost_usd": "US$"}
    for c in limits:
        if best[c] > space.constraints[c]:
            raise w.fail(
                f"constraints.{c}",
                f"= {space.constraints[c]:g}: no design in the space meets it (the least any "
                f"needs is {best[c]:.4g} {units[c]}: {witness[c].summary()})",
            )


def corner_designs(space: Space) -> list[Design]:
    """Every count and channel choice with the other fields at their low end: each limit
    (area, power, cost) grows with MACs, SRAM, clock and bandwidth, so its least value over
    the space is among these."""
    names = [n for n, _ in space.axes()]
    axes = [
        a.corners() if n.endswith((".count", ".channels")) else [a.low] for n, a in space.axes()
    ]
    combos = itertools.islice(itertools.product(*axes), MAX_CORNERS)
    return [space._design(dict(zip(names, c, strict=True))) for c in combos]


MAX_SPACE_BYTES = 1 << 20


def load_space(path: str | Path) -> Space:
    """A space file, validated (one-line diagnostics naming the file and field)."""
    where = f"space file '{shown(str(path), 100)}'"
    try:
        text = fileio.read_regular(Path(path), MAX_SPACE_BYTES).decode("utf-8")
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise XcompassError(f"{where}: unreadable ({reason})") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise XcompassError(f"{where}: malformed TOML ({exc})") from None
    return parse_space(data, where, str(Path(path).resolve()))
