"""Units at a granularity: which builder makes a cost table's units, and granularity=tile's
units costed (the tile graph of `xcompass.engine.tiles` with the rows of
`xcompass.engine.tilecost`). It sits
above all three so that none of them imports another's caller."""

from __future__ import annotations

import numpy as np

from xcompass.engine.tilecost import tile_rows
from xcompass.engine.tiles import TileSpec, tile_graph
from xcompass.engine.units import Units, UnitTable, group_units, layer_units
from xcompass.errors import XcompassError
from xcompass.layer.layercost import CostTable
from xcompass.names import GRANULARITIES


def build_units(
    table: CostTable,
    layers: int,
    granularity: str = "layer",
    pairs: np.ndarray | None = None,
    tiles: TileSpec | None = None,
) -> tuple[Units, UnitTable]:
    """The units and their cost rows for a cost table of `layers` decoder layers. `pairs`
    ([B], visible (query, key) pairs of each micro-batch) sizes attention-score edges;
    `tiles` (`xcompass.engine.tiles.tile_spec`) is what granularity 'tile' needs besides the
    table."""
    if granularity not in GRANULARITIES:
        raise XcompassError(
            f"unknown granularity '{granularity}' (valid: {', '.join(GRANULARITIES)})"
        )
    if granularity == "layer":
        return layer_units(table, layers)
    if granularity == "group":
        return group_units(table, layers, pairs)
    return tile_units(table, layers, tiles, pairs)


def tile_units(
    table: CostTable, layers: int, spec: TileSpec | None, pairs: np.ndarray | None = None
) -> tuple[Units, UnitTable]:
    """The tile units of `layers` layers and their cost rows."""
    graph = tile_graph(table, layers, spec, pairs)
    rows, row_of = tile_rows(table, spec, graph.keys)
    units = Units(
        "tile", graph.names, graph.layer, row_of, graph.start, graph.pred, graph.edge_bytes
    )
    return units, rows
