"""Resumable studies: the search state on disk, as a NumPy `.npz` archive of plain arrays plus
one JSON header (never a pickle, so loading a checkpoint cannot run code).

A checkpoint holds the seed pool, the GA's `GAState` (population, best, random generator state,
counters, history) and every baseline already finished. It names the problem it belongs to by a
fingerprint of everything that decides the result (model, workload and sampled batches, target,
layer kernels, units, execution mode) and the search settings; `--resume` refuses a checkpoint of
another problem, other settings or another format version, before any work.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import zipfile
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from xcompass.errors import XcompassError, shown
from xcompass.fileio import check_writable
from xcompass.search.ga import GAState
from xcompass.search.population import Scored, SearchResult, SeedPool
from xcompass.search.problem import Evaluation

FORMAT = "xcompass-explore-checkpoint"
VERSION = 1
MAX_BYTES = 2**30  # a checkpoint larger than 1 GiB is not ours


def fingerprint(*parts: Any) -> str:
    """A stable hash of plain data (frozen dataclasses, tuples, numbers, strings)."""
    return hashlib.sha256(repr(parts).encode()).hexdigest()


@dataclass
class StudyState:
    """Where a study stands: the pool, the GA's state (None before generation 0, and for
    NSGA-II, which is not resumable), and the methods already finished."""

    pool: SeedPool | None = None
    ga: GAState | None = None
    results: dict[str, SearchResult] = field(default_factory=dict)


def _put_scored(arrays: dict[str, np.ndarray], key: str, s: Scored) -> None:
    arrays[f"{key}.bits"] = s.bits
    arrays[f"{key}.place"] = s.place
    arrays[f"{key}.latency"] = s.evaluation.latency_s
    arrays[f"{key}.energy"] = s.evaluation.energy_j
    arrays[f"{key}.score"] = s.score


def _get_scored(arrays: Any, key: str) -> Scored:
    return Scored(
        arrays[f"{key}.bits"],
        arrays[f"{key}.place"],
        Evaluation(arrays[f"{key}.latency"], arrays[f"{key}.energy"]),
        arrays[f"{key}.score"],
    )


def encode(state: StudyState, header: dict[str, Any]) -> bytes:
    """The archive's bytes: `header` (format, fingerprint, settings) plus the state."""
    arrays: dict[str, np.ndarray] = {}
    meta: dict[str, Any] = {**header, "format": FORMAT, "version": VERSION, "results": {}}
    if state.pool is not None:
        meta["pool"] = {
            "names": state.pool.names,
            "evaluations": state.pool.evaluations,
            "wall_s": state.pool.wall_s,
        }
        _put_scored(arrays, "pool", state.pool.scored)
    if state.ga is not None:
        g = state.ga
        meta["ga"] = {
            "generation": g.generation,
            "evaluations": g.evaluations,
            "rng_state": g.rng_state,
            "history": g.history,
            "wall_s": g.wall_s,
        }
        _put_scored(arrays, "ga.population", g.population)
        _put_scored(arrays, "ga.best", g.best)
    for name, r in state.results.items():
        meta["results"][name] = {
            "method": r.method,
            "evaluations": r.evaluations,
            "wall_s": r.wall_s,
            "history": r.history,
            "front": r.front is not None,
        }
        _put_scored(arrays, f"result.{name}.best", r.best)
        if r.front is not None:
            _put_scored(arrays, f"result.{name}.front", r.front)
    arrays["header"] = np.array(json.dumps(meta))
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    return buffer.getvalue()


def save(path: str, state: StudyState, header: dict[str, Any]) -> None:
    """Write atomically: a crash or Ctrl-C while saving leaves the previous checkpoint."""
    data = encode(state, header)
    folder = os.path.dirname(os.path.abspath(path))
    tmp = os.path.join(folder, f".{os.path.basename(path)}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def check_writable_checkpoint(path: str, flag: str = "--checkpoint") -> None:
    try:
        check_writable(path)
    except OSError as exc:
        raise XcompassError(f"{flag} {shown(path, 100)}: cannot write ({exc.strerror})") from None


@dataclass
class Loaded:
    header: dict[str, Any]
    arrays: dict[str, np.ndarray]

    def state(self) -> StudyState:
        h, a = self.header, self.arrays
        out = StudyState()
        if "pool" in h:
            p = h["pool"]
            out.pool = SeedPool(
                list(p["names"]), _get_scored(a, "pool"), p["evaluations"], p["wall_s"]
            )
        if "ga" in h:
            g = h["ga"]
            out.ga = GAState(
                g["generation"],
                g["evaluations"],
                _get_scored(a, "ga.population"),
                _get_scored(a, "ga.best"),
                g["rng_state"],
                [(int(e), float(s)) for e, s in g["history"]],
                g["wall_s"],
            )
        for name, r in h["results"].items():
            front = _get_scored(a, f"result.{name}.front") if r["front"] else None
            out.results[name] = SearchResult(
                r["method"],
                _get_scored(a, f"result.{name}.best"),
                r["evaluations"],
                r["wall_s"],
                [(int(e), float(s)) for e, s in r["history"]],
                front,
            )
        return out


def load(path: str, flag: str = "--resume") -> Loaded:
    """Read and check a checkpoint's format and version (not yet its problem)."""
    where = f"{flag} {shown(path, 100)}"
    try:
        size = os.path.getsize(path)
        if size > MAX_BYTES:
            raise XcompassError(f"{where}: {size:,} bytes is not an xcompass checkpoint")
        with np.load(path, allow_pickle=False) as archive:
            arrays = {k: archive[k] for k in archive.files}
    except XcompassError:
        raise
    except OSError as exc:
        if exc.strerror:
            raise XcompassError(f"{where}: cannot read ({exc.strerror})") from None
        raise XcompassError(f"{where}: not an xcompass checkpoint (not an .npz archive)") from None
    except (ValueError, zipfile.BadZipFile, EOFError, KeyError):
        raise XcompassError(f"{where}: not an xcompass checkpoint (not an .npz archive)") from None
    try:
        header = json.loads(str(arrays.pop("header")))
        fmt, version = header.get("format"), header.get("version")
    except (KeyError, ValueError, AttributeError):
        raise XcompassError(f"{where}: not an xcompass checkpoint (no header)") from None
    if fmt != FORMAT:
        raise XcompassError(f"{where}: not an xcompass checkpoint")
    if version != VERSION:
        raise XcompassError(
            f"{where}: checkpoint format {shown(version, 20)} (xcompass "
            f"{shown(header.get('xcompass', '?'), 20)}); this xcompass reads format {VERSION}: "
            "start the search again"
        )
    return Loaded(header, arrays)


def check_settings(loaded: Loaded, settings: dict[str, Any], flag: str, path: str) -> None:
    """Refuse a checkpoint written under other search settings, naming the first difference
    (cheap: the command line calls it before any work)."""
    theirs = loaded.header.get("settings", {})
    for key in sorted(set(settings) | set(theirs)):
        if settings.get(key) != theirs.get(key):
            raise XcompassError(
                f"{flag} {shown(path, 100)}: the checkpoint was written with "
                f"{key}={shown(theirs.get(key), 60)}, this run has "
                f"{key}={shown(settings.get(key), 60)}"
            )


def check_matches(loaded: Loaded, header: dict[str, Any], flag: str, path: str) -> None:
    """Refuse a checkpoint written for other settings or another problem."""
    check_settings(loaded, header.get("settings", {}), flag, path)
    if loaded.header.get("fingerprint") != header.get("fingerprint"):
        raise XcompassError(
            f"{flag} {shown(path, 100)}: the checkpoint belongs to another problem "
            f"({shown(loaded.header.get('problem', '?'), 160)}); this run: "
            f"{shown(header.get('problem', '?'), 160)}"
        )
