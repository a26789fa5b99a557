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
import zlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from xcompass import fileio
from xcompass.errors import XcompassError, shown
from xcompass.explore.checkpoint_schema import HEADER, check_arrays, scored_keys
from xcompass.explore.schema import SchemaError, check
from xcompass.fileio import check_writable
from xcompass.search.evaluation import Evaluation
from xcompass.search.ga import GAState
from xcompass.search.population import Scored, SearchResult, SeedPool

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


def save(path: str, state: StudyState, header: dict[str, Any], flag: str = "--checkpoint") -> None:
    """Write atomically: a crash or Ctrl-C while saving leaves the previous checkpoint; an
    error names `path`, never the temporary file."""
    data = encode(state, header)
    folder = os.path.dirname(os.path.abspath(path))
    tmp = os.path.join(folder, f".{os.path.basename(path)}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    except OSError as exc:
        raise XcompassError(
            f"{flag} {shown(path, 100)}: cannot write the checkpoint ({exc.strerror})"
        ) from None
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


MAX_ARRAY_BYTES = 2**28  # one array, uncompressed (a population of 10,000 x 1,024 x 1,266)


def _read_arrays(path: str, where: str) -> dict[str, np.ndarray]:
    """The archive's arrays: a regular file only, no pickles, each array's size checked from
    its header before it is decompressed (a zip bomb is refused, not inflated)."""
    try:
        data = fileio.read_regular(path, MAX_BYTES)
    except fileio.TooLarge:
        raise XcompassError(
            f"{where}: larger than {MAX_BYTES // 2**30} GiB, not an xcompass checkpoint"
        ) from None
    except (OSError, ValueError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else str(exc)
        raise XcompassError(f"{where}: cannot read ({reason})") from None
    bad = f"{where}: not an xcompass checkpoint (not an .npz archive)"
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            infos = archive.infolist()
            if len(infos) > 4096:
                raise XcompassError(f"{bad[:-1]}: {len(infos):,} members)")
            for info in infos:
                if info.file_size > MAX_ARRAY_BYTES:
                    raise XcompassError(
                        f"{where}: member {shown(info.filename, 60)} inflates to "
                        f"{info.file_size:,} bytes; not an xcompass checkpoint"
                    )
        with np.load(io.BytesIO(data), allow_pickle=False) as archive:
            return {k: archive[k] for k in archive.files}
    except XcompassError:
        raise
    except (
        OSError,
        ValueError,
        zipfile.BadZipFile,
        EOFError,
        KeyError,
        RuntimeError,
        NotImplementedError,
        zlib.error,
        TypeError,
        MemoryError,
    ):
        raise XcompassError(bad) from None


def load(path: str, flag: str = "--resume") -> Loaded:
    """Read a checkpoint and check it against its declared schema (format, version, header
    fields, array kinds and shapes); not yet against the problem (`check_matches`,
    `check_problem`)."""
    where = f"{flag} {shown(path, 100)}"
    arrays = _read_arrays(path, where)
    try:
        header = json.loads(str(arrays.pop("header")), parse_constant=_constant)
        fmt, version = header.get("format"), header.get("version")
    except (KeyError, ValueError, AttributeError, RecursionError):
        raise XcompassError(f"{where}: not an xcompass checkpoint (no header)") from None
    if fmt != FORMAT:
        raise XcompassError(f"{where}: not an xcompass checkpoint")
    if version != VERSION:
        raise XcompassError(
            f"{where}: checkpoint format {shown(version, 20)} (xcompass "
            f"{shown(header.get('xcompass', '?'), 20)}); this xcompass reads format {VERSION}: "
            "start the search again"
        )
    try:
        header = check(header, HEADER)
        check_arrays(header, arrays)
    except SchemaError as exc:
        raise XcompassError(f"{where}: malformed checkpoint: field {exc}") from None
    return Loaded(header, arrays)


def _constant(name: str) -> float:
    return float(name.replace("Infinity", "inf"))


def check_problem(loaded: Loaded, problem: Any, flag: str, path: str) -> None:
    """Refuse a checkpoint whose genomes do not fit `problem` (a SearchProblem): micro-batches,
    units, placement groups, request batches. The fingerprint says the same unless the file
    was edited; this says it without trusting the fingerprint."""
    where = f"{flag} {shown(path, 100)}"
    groups = len(problem.groups.tp)
    want = (problem.microbatches, problem.units, len(problem.train))
    for key in scored_keys(loaded.header):
        place, latency = loaded.arrays[f"{key}.place"], loaded.arrays[f"{key}.latency"]
        got = (*place.shape[1:], latency.shape[0])
        if got != want:
            raise XcompassError(
                f"{where}: malformed checkpoint: field {key}.place: shape {got} (micro-batches, "
                f"units, batches); this problem has {want}"
            )
        if place.size and place.max() >= groups:
            raise XcompassError(
                f"{where}: malformed checkpoint: field {key}.place: group {int(place.max())}; "
                f"this problem has 0..{groups - 1}"
            )


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
