"""What runs inside a worker process (a process pool's or a Dask worker's): the study's problem,
installed once per worker, and the tasks the backends submit against it. The backends and the
Dask plugin both import this module; it imports neither."""

from __future__ import annotations

import os
import pickle
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from xcompass.search.evaluation import Evaluation
from xcompass.search.problem import SearchProblem

_PROBLEMS: dict[str, SearchProblem] = {}


def install(key: str, payload: bytes) -> None:
    problem = pickle.loads(payload)
    _PROBLEMS.clear()  # one study at a time per worker
    _PROBLEMS[key] = problem
    warm(problem)


def warm(problem: SearchProblem) -> None:
    """Load the compiled engine now, not during the first generation."""
    B, U = problem.shape
    problem.evaluator(np.zeros((1, max(U - 1, 0)), bool), np.zeros((1, B, U), np.int64))


def pool_init(key: str, payload_file: str) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    try:
        payload = Path(payload_file).read_bytes()
    except FileNotFoundError:  # the pool closed while this worker was still starting
        os._exit(0)
    install(key, payload)


def _problem(key: str) -> SearchProblem:
    try:
        return _PROBLEMS[key]
    except KeyError:
        raise RuntimeError(f"worker has no xcompass problem {key[:12]}") from None


def score_slice(key: str, bits: np.ndarray, place: np.ndarray) -> Evaluation:
    return _problem(key).evaluator(bits, place)


def ping(key: str) -> bool:
    """A no-op task: times the round trip, and says whether the worker holds the problem."""
    return key in _PROBLEMS


def run_task(key: str, fn: Callable[..., Any], args: tuple) -> Any:
    """A whole method (`fn(problem, *args)`) on the worker's problem."""
    return fn(_problem(key), *args)


def uninstall(key: str) -> None:
    _PROBLEMS.pop(key, None)
