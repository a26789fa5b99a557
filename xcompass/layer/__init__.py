"""One decoder layer: its graph, the lowering decisions (fusion, staged attention, padding), its
kernels and their cost table."""
