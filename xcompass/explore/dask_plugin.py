"""The Dask worker plugin that hands a study's problem to every worker (imports `distributed`,
so only `DaskCluster` loads it). Dask runs `setup` on each worker when the plugin is
registered and again on any worker that joins later, a restarted one included: a lost worker's
replacement can score slices without the client resending anything.

Dask's nanny starts workers with `MALLOC_TRIM_THRESHOLD_=65536`, which also pins glibc's mmap
threshold at 128 KiB: every numpy array the engine allocates above that is mapped and
unmapped afresh, and a method run on such a worker (simulated annealing: one small
population at a time) took 2.6x the CPU time it takes elsewhere (4.2 s against 1.6 s,
measured). While the plugin is installed, the worker keeps freed memory for reuse (trim
threshold 256 MiB, mmap threshold 32 MiB); `teardown` (the study's end) puts Dask's values
back. Only glibc on Linux, and only when the nanny set the variable.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys
from collections.abc import Callable, Mapping
from typing import Any

from distributed.diagnostics.plugin import WorkerPlugin

from xcompass.explore.worker import install, uninstall

M_TRIM_THRESHOLD = -1  # glibc <malloc.h>
M_MMAP_THRESHOLD = -3
GLIBC_MMAP_THRESHOLD = 128 * 1024  # glibc's initial mmap threshold
RELAXED_TRIM = 256 << 20
RELAXED_MMAP = 32 << 20


def _libc() -> Any:
    if not sys.platform.startswith("linux"):
        return None
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name or "libc.so.6")
    except OSError:
        return None
    return libc if hasattr(libc, "mallopt") else None


def relax_malloc(
    env: Mapping[str, str] | None = None, libc: Any = None
) -> Callable[[], None] | None:
    """Undo Dask's malloc settings in this worker; returns what puts them back (None if
    there is nothing to undo)."""
    env = os.environ if env is None else env
    trim = env.get("MALLOC_TRIM_THRESHOLD_", "")
    if not trim.isdigit():
        return None
    libc = libc if libc is not None else _libc()
    if libc is None:
        return None
    mmap = env.get("MALLOC_MMAP_THRESHOLD_", "")
    mmap_value = int(mmap) if mmap.isdigit() else GLIBC_MMAP_THRESHOLD
    libc.mallopt(M_TRIM_THRESHOLD, RELAXED_TRIM)
    libc.mallopt(M_MMAP_THRESHOLD, RELAXED_MMAP)

    def restore() -> None:
        libc.mallopt(M_TRIM_THRESHOLD, int(trim))
        libc.mallopt(M_MMAP_THRESHOLD, mmap_value)

    return restore


class ProblemPlugin(WorkerPlugin):
    def __init__(self, key: str, payload: bytes) -> None:
        self.key = key
        self.payload = payload
        self._restore: Callable[[], None] | None = None

    def setup(self, worker: Any) -> None:
        install(self.key, self.payload)
        self._restore = relax_malloc()

    def teardown(self, worker: Any) -> None:
        uninstall(self.key)
        if self._restore is not None:
            self._restore()
            self._restore = None
