"""The explore study is `xcompass.search.study.Study`: one study for `map-autotune`,
`xcompass explore` and the Python API (resumable, on any backend, a failing baseline a row,
the answer the best any method evaluated). This module keeps the names `explore` has always
imported from here; nothing is orchestrated twice.
"""

from __future__ import annotations

from xcompass.search.study import (
    BASELINES,
    DEFAULT_CHECKPOINT_EVERY,
    DEFAULT_GENERATIONS,
    DEFAULT_POPULATION,
    Outcome,
    SearchSettings,
    Study,
)

__all__ = [
    "BASELINES",
    "DEFAULT_CHECKPOINT_EVERY",
    "DEFAULT_GENERATIONS",
    "DEFAULT_POPULATION",
    "Outcome",
    "SearchSettings",
    "Study",
]
