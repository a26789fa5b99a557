"""Pictures and traces drawn from a cost report alone (so `xcompass report` redraws them from a
saved JSON): the Gantt chart, the mapping on the target, the convergence and Pareto plots
(matplotlib, Agg canvas) and the Chrome / Perfetto trace (plain JSON)."""
