"""Structure-aware moves for unit genomes (granularity group and tile) and the structured seeds
they start from.

Compass's operators treat the B x U placement as unrelated genes; below a layer it is not: the
tiles of one kernel belong together, micro-batches of one step are alike, and the mesh has a
geometry. The moves (each on copies of n genomes, values always group ids a unit allows, so
only memory can make a result infeasible and `feasible_offspring` handles that):

- `kernel`: all tiles of one kernel of one micro-batch move together to one group;
- `copy`: one micro-batch takes another's placement pattern;
- `shift`: every node of one segment moves one step along the mesh (east, west, north or
  south; a group whose shifted chiplets form no group stays);
- `relieve` (the memetic step): the slowest node on the most loaded chiplet moves to that
  chiplet's least loaded mesh neighbour (load: the nodes' own run times, streamed weights);
- `swap_chiplets`: two neighbouring chiplets trade their whole work, in every micro-batch
  (each group becomes the group of its members with the two exchanged; one whose image is no
  group stays). The two chiplets' own work is relabelled, not changed, and keeps its
  residency: what moves is the NoP distance to everything they exchange data with, where a
  climb's last per cent mostly lies (NoP energy), and which single-node moves reach one node at
  a time.

`Structure.fitted`: every node whose weights do not fit its group's SRAM moves to the narrowest
wider group around it where they do (the memetic step's decoder, `local_search(fit=True)`). A
node whose shard does not fit streams its weights from DRAM for every micro-batch; on Compass's tile
scenario 32 of the 324 tiles fit at TP 4 but not at TP 1 or 2 (on the 13B block on simba-36,
360 of 605). Compass's operators and the moves above change one node or one pattern at a time,
so they rarely widen a unit in every micro-batch at once.

`unit_pipeline` seeds: every unit on one chiplet, the units in order cut into k contiguous runs
of balanced work (k chiplets), every boundary a segment, so each chiplet keeps its units'
weights resident across all micro-batches (what no layer-granularity strategy can express when
a layer is one unit). But a chiplet then runs its units one after another for all micro-batches,
so the next chiplet waits for nearly all of it: the stages run almost in series.
`striped_pipeline` seeds keep the residency and pipeline for real: segments of k consecutive
units, the i-th unit of each on the i-th chiplet, so within a segment micro-batch m + 1 enters
chiplet i while micro-batch m is on chiplet i + 1, and each chiplet holds one unit per segment.
On Compass's tile scenario the best striped seed (k=9, 4 replicas) costs 0.01512 J*s against
0.01957 for the best plain one.
"""

from __future__ import annotations

import numpy as np

from xcompass.engine.mapping import Groups, Mapping
from xcompass.search.problem import SearchProblem
from xcompass.search.seeds import Seed

MOVES = ("kernel", "copy", "shift", "relieve", "swap_chiplets")


class Structure:
    """What the moves need to know about a problem, computed once."""

    def __init__(self, problem: SearchProblem) -> None:
        self.problem = problem
        B, U = problem.shape
        ctx = problem.train[0]
        units, ut = ctx.units, ctx.ut
        kern = ut.kernel[units.row] if ut.kernel is not None else np.arange(U)
        pairs = np.stack([units.layer, kern], axis=1)
        _, self.kernel = np.unique(pairs, axis=0, return_inverse=True)  # [U] kernel id
        self.kernel = self.kernel.reshape(-1).astype(np.int64)
        self.kernels = int(self.kernel.max()) + 1 if U else 0
        g = problem.groups
        C = problem.target.chiplets
        self.single = np.full(C, -1, dtype=np.int64)  # chiplet -> its one-chiplet group
        for grp in np.flatnonzero(g.tp == 1):
            self.single[g.members[grp, 0]] = grp
        self.lead = g.members[:, 0]
        # shift: group -> the group of the same members moved one step (-1: none)
        net = problem.target.network
        cols, rows = net.dims if net.topology == "mesh" else (C, 1)
        self.cols, self.rows = max(cols, 1), max(rows, 1)
        key = {tuple(sorted(int(c) for c in m if c >= 0)): i for i, m in enumerate(g.members)}
        self.shifted = np.full((4, len(g.tp)), -1, dtype=np.int64)
        for d, (dx, dy) in enumerate(((1, 0), (-1, 0), (0, 1), (0, -1))):
            for i, m in enumerate(g.members):
                moved = []
                for c in m[m >= 0]:
                    x, y = int(c) % self.cols + dx, int(c) // self.cols + dy
                    if not (0 <= x < self.cols and 0 <= y < self.rows):
                        break
                    moved.append(y * self.cols + x)
                else:
                    self.shifted[d, i] = key.get(tuple(sorted(moved)), -1)
        self.neighbours = [
            [
                y * self.cols + x
                for x, y in ((c % self.cols + dx, c // self.cols + dy) for dx, dy in
                             ((1, 0), (-1, 0), (0, 1), (0, -1)))
                if 0 <= x < self.cols and 0 <= y < self.rows and y * self.cols + x < C
            ]
            for c in range(C)
        ]  # fmt: skip
        # swap_chiplets: per pair of neighbouring chiplets, each group's image when they trade
        pairs = [(a, b) for a in range(C) for b in self.neighbours[a] if a < b]
        self.swapped = np.tile(np.arange(len(g.tp), dtype=np.int64), (max(len(pairs), 1), 1))
        for k, (a, b) in enumerate(pairs):
            trade = {a: b, b: a}
            for i, m in enumerate(g.members):
                image = tuple(sorted(trade.get(int(c), int(c)) for c in m if c >= 0))
                self.swapped[k, i] = key.get(image, i)
        t = np.minimum(ctx.ut.time_stream, ctx.ut.time_resident)[:, units.row]  # [B, U, K, T]
        kind, ti = g.kind, g.tp_index
        self.fits = sram_fits(problem)  # [U, G]
        self.wider = wider_groups(g)
        self.fit_to = fit_table(self.fits, self.wider)  # [U, G]
        self.node_time = np.stack(
            [np.where(np.isfinite(x := t[:, :, kind[i], ti[i]]), x, 1e9) for i in range(len(g.tp))],
            axis=-1,
        )  # [B, U, G]

    # --- moves: each returns mutated copies (bits [n, U-1], place [n, B, U]) ---------------

    def kernel_move(self, rng: np.random.Generator, bits: np.ndarray, place: np.ndarray):  # noqa: ANN201
        place = place.copy()
        n, B, U = place.shape
        ids = self.problem.group_ids
        for i in range(n):
            b, k = int(rng.integers(B)), int(rng.integers(self.kernels))
            place[i, b, self.kernel == k] = ids[int(rng.integers(len(ids)))]
        return bits.copy(), self.problem.legalize(place)

    def copy_move(self, rng: np.random.Generator, bits: np.ndarray, place: np.ndarray):  # noqa: ANN201
        place = place.copy()
        n, B, _ = place.shape
        if B > 1:
            for i in range(n):
                b1, b2 = rng.choice(B, 2, replace=False)
                place[i, b2] = place[i, b1]
        return bits.copy(), place

    def shift_move(self, rng: np.random.Generator, bits: np.ndarray, place: np.ndarray):  # noqa: ANN201
        place = place.copy()
        n, B, U = place.shape
        for i in range(n):
            starts = np.r_[0, np.flatnonzero(bits[i]) + 1, U]
            s = int(rng.integers(len(starts) - 1))
            a, e = starts[s], starts[s + 1]
            moved = self.shifted[int(rng.integers(4))][place[i, :, a:e]]
            place[i, :, a:e] = np.where(moved >= 0, moved, place[i, :, a:e])
        return bits.copy(), self.problem.legalize(place)

    def relieve_move(self, rng: np.random.Generator, bits: np.ndarray, place: np.ndarray):  # noqa: ANN201
        place = place.copy()
        n, B, U = place.shape
        C = len(self.single)
        g = self.problem.groups
        G = len(g.tp)
        if not hasattr(self, "_member"):  # [G, C]: 1 where the chiplet is in the group
            self._member = np.zeros((G, C))
            for grp, m in enumerate(g.members):
                self._member[grp, m[m >= 0]] = 1.0
        for i in range(n):
            t = np.take_along_axis(self.node_time, place[i][:, :, None], axis=2)[:, :, 0]
            per_group = np.bincount(place[i].ravel(), weights=t.ravel(), minlength=G)
            load = per_group @ self._member  # [C] seconds of work on each chiplet
            busy = int(np.argmax(load))
            on = self._member[place[i], busy] > 0
            if not on.any():
                continue
            b, u = np.unravel_index(int(np.argmax(np.where(on, t, -1.0))), on.shape)
            near = [c for c in self.neighbours[busy] if self.single[c] >= 0]
            if not near:
                continue
            to = min(near, key=lambda c: (load[c], rng.random()))
            place[i, b, u] = self.single[to]
        return bits.copy(), self.problem.legalize(place)

    def fitted(self, place: np.ndarray) -> np.ndarray:
        """`place` with every node whose weights do not fit its group's SRAM moved to the
        narrowest wider group where they do (`fit_table`), legalized: the memetic step's
        decoder."""
        place = np.asarray(place, dtype=np.int64)
        return self.problem.legalize(self.fit_to[np.arange(place.shape[-1]), place])

    def critical_path(self, bits: np.ndarray, place: np.ndarray) -> np.ndarray:
        """The flat node ids (b * U + u) on the engine's critical path of one genome, last
        first: each node's start was set by its latest input or by the chiplet it waited
        for (the detailed engine, ~1 s for a tile mapping: for kicks, not for every move)."""
        from xcompass.engine.schedule import evaluate_mapping

        r = evaluate_mapping(self.problem.train[0], Mapping(bits, place))
        end = r.end[0].ravel()
        blame, prev, crit = r.blame[0].ravel(), r.prev_on_chip[0].ravel(), r.crit_pred[0].ravel()
        path, node = [], int(np.argmax(end)) if end.size else -1
        while node >= 0 and len(path) < end.size:
            path.append(node)
            node = (
                int(crit[node])
                if blame[node] == 0
                else (int(prev[node]) if blame[node] > 0 else -1)
            )
        return np.array(path, dtype=np.int64)

    def critical_kick(
        self, rng: np.random.Generator, bits: np.ndarray, place: np.ndarray, steps: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """`steps` nodes of the critical path (drawn by their own run time) each move to the
        least loaded mesh neighbour of their chiplet: the relieve move aimed by the engine's
        critical path instead of the busiest chiplet."""
        bits, place = bits.copy(), place.copy()
        B, U = place.shape[1:]
        path = self.critical_path(bits[0], place[0])
        if not len(path):
            return bits, place
        b, u = path // U, path % U
        t = self.node_time[b, u, place[0, b, u]]
        pick = rng.choice(len(path), min(steps, len(path)), replace=False, p=t / t.sum())
        g = self.problem.groups
        load = np.zeros(len(self.single))
        tt = np.take_along_axis(self.node_time, place[0][:, :, None], axis=2)[:, :, 0]
        for grp in np.unique(place[0]):
            m = g.members[grp]
            load[m[m >= 0]] += tt[place[0] == grp].sum()
        for i in pick:
            chip = int(g.members[place[0, b[i], u[i]], 0])
            near = [c for c in self.neighbours[chip] if self.single[c] >= 0]
            if near:
                to = min(near, key=lambda c: (load[c], rng.random()))
                place[0, b[i], u[i]] = self.single[to]
                load[to] += t[i]
        return bits, self.problem.legalize(place)

    def swap_chiplets_move(self, rng: np.random.Generator, bits: np.ndarray, place: np.ndarray):  # noqa: ANN201
        place = place.copy()
        for i in range(len(place)):
            place[i] = self.swapped[int(rng.integers(len(self.swapped)))][place[i]]
        return bits.copy(), self.problem.legalize(place)

    def apply(self, name: str, rng: np.random.Generator, bits: np.ndarray, place: np.ndarray):  # noqa: ANN201
        """Move `name` on copies of the genomes."""
        return getattr(self, f"{name}_move")(rng, bits, place)


def sram_fits(problem: SearchProblem) -> np.ndarray:
    """[U, G]: whether unit u's weights fit group g's SRAM (the engine's `fits_sram`)."""
    ctx, g = problem.train[0], problem.groups
    rows = ctx.units.row[:, None]
    return np.asarray(ctx.ut.fits_sram[g.kind[None, :], rows, g.tp_index[None, :]], dtype=bool)


def wider_groups(groups: Groups) -> np.ndarray:
    """[G]: the narrowest group of higher TP that holds all of group g's chiplets (else one
    that holds its first chiplet; -1: none), lowest id on a tie."""
    sets = [frozenset(int(c) for c in m if c >= 0) for m in groups.members]
    out = np.full(len(groups.tp), -1, dtype=np.int64)
    for i, m in enumerate(sets):
        lead = int(groups.members[i, 0])
        for need in (m, frozenset((lead,))):
            wider = [j for j, w in enumerate(sets) if groups.tp[j] > groups.tp[i] and need <= w]
            if wider:
                out[i] = min(wider, key=lambda j: (groups.tp[j], j))
                break
    return out


def fit_table(fits: np.ndarray, wider: np.ndarray) -> np.ndarray:
    """[U, G]: where a node of unit u on group g goes when fitted: the narrowest group on g's
    chain of `wider` groups where u's weights fit (`fits` [U, G], `sram_fits`); g itself where
    they fit on g or on none of them."""
    U, G = fits.shape
    to = np.broadcast_to(np.arange(G), (U, G)).copy()
    rows = np.arange(U)[:, None]
    for _ in range(G):  # one step up the chain a pass, only where it does not fit yet
        up = ~fits[rows, to] & (wider[to] >= 0)
        if not up.any():
            break
        to[up] = wider[to[up]]
    return np.where(fits[rows, to], to, np.arange(G)[None, :])


def unit_pipeline(problem: SearchProblem, chiplets: int, replicas: int = 1) -> Mapping | None:
    """Units in order cut into `chiplets` runs of balanced work, each on one chiplet, every
    boundary a segment; `replicas` > 1 deals the micro-batches round robin over that many such
    pipelines on disjoint chiplets (None where the target has too few one-chiplet groups)."""
    B, U = problem.shape
    g = problem.groups
    singles = np.flatnonzero(g.tp == 1)
    if chiplets * replicas > len(singles) or chiplets < 1:
        return None
    ctx = problem.train[0]
    t = np.minimum(ctx.ut.time_stream, ctx.ut.time_resident)[:, ctx.units.row]
    work = np.where(np.isfinite(t[:, :, g.kind[singles[0]], 0]), t[:, :, g.kind[singles[0]], 0], 0)
    cum = np.cumsum(work.sum(axis=0))
    cum = cum / cum[-1] if cum[-1] > 0 else np.arange(1, U + 1) / U
    stage = np.minimum((cum * chiplets - 1e-9).astype(np.int64), chiplets - 1)
    place = np.empty((B, U), dtype=np.int64)
    for b in range(B):
        r = b % replicas
        place[b] = singles[r * chiplets + stage]
    return Mapping(np.ones(max(U - 1, 0), dtype=bool), problem.legalize(place[None])[0])


def striped_pipeline(
    problem: SearchProblem, chiplets: int, replicas: int = 1, snake: bool = False
) -> Mapping | None:
    """Segments of `chiplets` consecutive units, the i-th unit of every segment on the i-th
    chiplet: within a segment the micro-batches flow through the chiplets as through a
    pipeline, and each chiplet runs one unit per segment, so its weights stay resident across
    the micro-batches (the engine keeps a chiplet's last unit's weights); `replicas` as in
    `unit_pipeline`. `snake` orders the chiplets boustrophedon over the mesh (consecutive
    stages are mesh neighbours) instead of by id. None where the target has too few
    one-chiplet groups."""
    B, U = problem.shape
    g = problem.groups
    singles = np.flatnonzero(g.tp == 1)
    if chiplets * replicas > len(singles) or chiplets < 1:
        return None
    if snake:
        net = problem.target.network
        cols = net.dims[0] if net.topology == "mesh" else len(singles)
        lead = g.members[singles, 0]
        row, col = lead // cols, lead % cols
        singles = singles[np.lexsort((np.where(row % 2 == 0, col, -col), row))]
    stage = np.arange(U) % chiplets
    bits = (np.arange(1, U) % chiplets) == 0  # a boundary before every chiplets-th unit
    place = np.empty((B, U), dtype=np.int64)
    for b in range(B):
        place[b] = singles[(b % replicas) * chiplets + stage]
    return Mapping(bits, problem.legalize(place[None])[0])


def structured_seeds(problem: SearchProblem) -> list[Seed]:
    """Unit pipelines, plain and striped (by chiplet id and along a mesh snake), over every
    chiplet count that divides into the one-chiplet groups, one to four replicas; those that
    do not fit are dropped."""
    if problem.unit_graph is None:
        return []
    singles = int((problem.groups.tp == 1).sum())
    out = []
    for replicas in (1, 2, 3, 4):
        for k in sorted({singles // replicas, singles // (2 * replicas), 8, 16}):
            if k < 1:
                continue
            made = [
                (f"unit-pipeline k={k} r={replicas}", unit_pipeline(problem, k, replicas)),
                (f"striped k={k} r={replicas}", striped_pipeline(problem, k, replicas)),
                (f"striped snake k={k} r={replicas}", striped_pipeline(problem, k, replicas, True)),
            ]
            for name, m in made:
                if m is not None and problem.fits(m.place[None])[0]:
                    out.append(Seed(name, m))
    return out
