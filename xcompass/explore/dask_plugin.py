"""The Dask worker plugin that hands a study's problem to every worker (imports `distributed`,
so only `DaskCluster` loads it). Dask runs `setup` on each worker when the plugin is
registered and again on any worker that joins later, a restarted one included: a lost worker's
replacement can score slices without the client resending anything."""

from __future__ import annotations

from typing import Any

from distributed.diagnostics.plugin import WorkerPlugin

from xcompass.explore.backends import _install


class ProblemPlugin(WorkerPlugin):
    def __init__(self, key: str, payload: bytes) -> None:
        self.key = key
        self.payload = payload

    def setup(self, worker: Any) -> None:
        _install(self.key, self.payload)
