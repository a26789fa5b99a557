"""Names and defaults shared by the core, the passes and the command line, in one place and in
a module that imports nothing (the CLI reads it before any heavy module loads)."""

GRANULARITIES = ("layer", "group", "tile")
"""What a mapping places: a decoder layer, each kernel of the lowered layer, or Compass's
tiles (`xcompass.engine.units`)."""

TILE_WIDTH = 128
"""Default columns of a GEMM tile unit at granularity=tile (Compass's N-tiles)."""
TILE_HEADS = 1
"""Default attention heads of a tile unit at granularity=tile (Compass: one per head)."""
