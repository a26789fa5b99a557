"""The mapping engine: units at each granularity, mappings (the genome), the event-driven schedule
(Python reference and numba kernels) and the report."""
