"""What a checkpoint's header and arrays must be (format version 1): the JSON header's schema,
each field with the range its command-line flag has, and the checks of the scored arrays it
promises. Kept apart from `checkpoint`, which writes and reads the archive, because a file
from anywhere is checked against these before anything in it is used."""

from __future__ import annotations

from typing import Any

import numpy as np

from xcompass.explore.schema import (
    MAX_NUMBER,
    Bool,
    Choice,
    Int,
    List,
    Map,
    Nullable,
    Num,
    Obj,
    SchemaError,
    Str,
    Tuple,
)
from xcompass.names import GRANULARITIES
from xcompass.search.objectives import OBJECTIVES

_HISTORY = List(Tuple((Int(0, 2**53), Num(-MAX_NUMBER, MAX_NUMBER, allow_inf=True))), 0, 2**20)
_SETTINGS = Obj(
    {
        "objective": Choice(OBJECTIVES),
        "population": Int(2, 10**6),
        "generations": Int(1, 10**7),
        "budget": Int(0, 2**53),
        "seed": Int(0, 2**63 - 1),
        "baselines": Str(200),
    },
    keep_extra=True,
)
HEADER = Obj(
    {
        "format": Str(100),
        "version": Int(0, 2**31),
        "fingerprint": Str(128),
        "settings": _SETTINGS,
        "results": Map(
            Obj(
                {
                    "method": Str(40),
                    "evaluations": Int(0, 2**53),
                    "wall_s": Num(),
                    "history": _HISTORY,
                    "front": Bool(),
                }
            ),
            16,
        ),
    },
    {
        "problem": Str(4000),
        "xcompass": Str(100),
        "options": Obj(
            {},
            {
                "model": Str(4096),
                "layers": Nullable(Int(1, 1024)),
                "workload": Nullable(Str(2**20)),
                "trace": Nullable(Str(4096)),
                "requests": Nullable(Int(1, 2**16)),
                "microbatches": Nullable(Int(1, 1024)),
                "sample_seed": Int(0, 2**32 - 1),
                "target": Str(4096),
                "lowering": Str(2**16),
                "mode": Choice(("graph", "eager")),
                "granularity": Choice(GRANULARITIES),
                "tile_width": Nullable(Int(1, 2**20)),
                "tile_heads": Nullable(Int(1, 2**20)),
                "objective": Choice(OBJECTIVES),
                "population": Int(2, 10_000),
                "generations": Int(1, 100_000),
                "budget": Int(0, 10**9),
                "seed": Int(0, 2**32 - 1),
                "train_samples": Int(0, 256),
                "test_samples": Int(0, 256),
                "baselines": Bool(),
                "policy": Nullable(Str(40)),  # --objective goodput / capacity: what is served
                "slo_ttft": Nullable(Num(0, 86400.0)),
                "slo_tbt": Nullable(Num(0, 86400.0)),
                "window": Nullable(Str(200)),
                "test_window": Nullable(Str(200)),
                "rate_scale": Nullable(Num(0, 1e6)),
            },
        ),
        "pool": Obj(
            {"names": List(Str(200), 0, 4096), "evaluations": Int(0, 2**53), "wall_s": Num()}
        ),
        "ga": Obj(
            {
                "generation": Int(0, 10**7),
                "evaluations": Int(0, 2**53),
                "rng_state": Obj(
                    {
                        "bit_generator": Choice(("PCG64",)),
                        "state": Obj({"state": Int(0, 2**128 - 1), "inc": Int(0, 2**128 - 1)}),
                        "has_uint32": Int(0, 1),
                        "uinteger": Int(0, 2**32 - 1),
                    }
                ),
                "history": _HISTORY,
                "wall_s": Num(),
            }
        ),
    },
    keep_extra=True,  # read only through the declared fields (Loaded.state)
)
"""The checkpoint's JSON header, format version 1 (`options` since the command line stores
its settings there, so `--resume FILE` needs no other flag: each with the range its flag has,
since a value taken from the file skips the command line's own checks)."""


def scored_keys(header: dict[str, Any]) -> list[str]:
    keys = ["pool"] if "pool" in header else []
    if "ga" in header:
        keys += ["ga.population", "ga.best"]
    for name, r in header["results"].items():
        keys.append(f"result.{name}.best")
        if r["front"]:
            keys.append(f"result.{name}.front")
    return keys


def check_arrays(header: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
    """Every scored group the header promises: present, of the right kind, shapes that agree
    (bits [N, U-1], place [N, B, U], latency and energy [S, N], score [N] or [N, k]), no NaN."""
    shape: tuple[int, int, int] | None = None  # (B, U, S), the same for every group
    for key in scored_keys(header):
        got = {}
        for part, kinds, ndim in (
            ("bits", "b", (2,)),
            ("place", "iu", (3,)),
            ("latency", "f", (2,)),
            ("energy", "f", (2,)),
            ("score", "f", (1, 2)),
        ):
            name = f"{key}.{part}"
            a = arrays.get(name)
            if a is None:
                raise SchemaError(name, "missing")
            if a.dtype.kind not in kinds or a.ndim not in ndim:
                raise SchemaError(name, f"an array of {a.dtype} with {a.ndim} dimensions")
            got[part] = a
        n = got["place"].shape[0]
        b, u = got["place"].shape[1:]
        s = got["latency"].shape[0]
        if (
            got["bits"].shape != (n, max(u - 1, 0))
            or got["latency"].shape != (s, n)
            or got["energy"].shape != (s, n)
            or got["score"].shape[0] != n
            or s < 1
        ):
            raise SchemaError(key, "arrays whose shapes disagree")
        if shape is not None and (b, u, s) != shape:
            raise SchemaError(key, "arrays of another shape than the rest of the checkpoint")
        shape = (b, u, s)
        if got["place"].size and got["place"].min() < 0:
            raise SchemaError(f"{key}.place", "a negative group")
        for part in ("latency", "energy", "score"):
            if np.isnan(got[part]).any():
                raise SchemaError(f"{key}.{part}", "NaN")
        for part in ("latency", "energy"):
            if (got[part] < 0).any():
                raise SchemaError(f"{key}.{part}", "a negative value")
