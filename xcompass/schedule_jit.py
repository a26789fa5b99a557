"""The same schedule as `schedule.evaluate`, compiled with numba: one tight loop per individual.

The numpy version steps all individuals together (clear, and the reference the tests compare
against); this one is ~10-20x faster because it avoids per-step array temporaries.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from xcompass.schedule import EvalContext, Result, order_nodes


@njit(cache=True, nogil=True)
def _kernel(
    order,
    flat,
    B,
    L,
    members,
    valid,
    g_kind,
    g_tpi,
    g_tp,
    lead,
    routes,
    hops,
    n_links,
    act_bytes,
    link_latency,
    link_bw,
    hop_s,
    pj_hop,
    fits,
    t_res,
    t_str,
    d_res,
    d_str,
    ar_time,
    ar_bits,
    channel,
    n_channels,
    channel_bw,
    dram_pj,
    macs,
    sram,
    pj_mac,
    sram_pj,
    C,
    static_w,
    out_lat,
    out_e,
    out_parts,
):  # noqa: ANN001
    P = flat.shape[0]
    N = B * L
    max_tp = members.shape[1]
    H = routes.shape[2]
    for p in range(P):
        chip_free = np.zeros(C + 1)
        last_layer = np.full(C + 1, -1)
        link_free = np.zeros(n_links + 1)
        dram_free = np.zeros(n_channels + 1)
        done = np.zeros(N)
        e_comp = e_sram = e_dram = e_nop = 0.0
        latency = 0.0
        for step in range(N):
            node = order[p, step]
            b = node // L
            lyr = node % L
            grp = flat[p, node]
            pos = 0 if lyr == 0 else (2 if lyr == L - 1 else 1)
            kind = g_kind[grp]
            ti = g_tpi[grp]
            ready = 0.0
            if lyr > 0:
                ready = done[node - 1]
                pg = flat[p, node - 1]
                if pg != grp:
                    src = lead[pg]
                    dst = lead[grp]
                    nh = hops[src, dst]
                    lr = 0.0
                    for h in range(H):
                        link = routes[src, dst, h]
                        if link < n_links and link_free[link] > lr:
                            lr = link_free[link]
                    xs = ready if ready > lr else lr
                    xe = xs + link_latency + act_bytes[b] / link_bw + nh * hop_s
                    for h in range(H):
                        link = routes[src, dst, h]
                        if link < n_links:
                            link_free[link] = xe
                    ready = xe
                    e_nop += act_bytes[b] * 8.0 * nh * pj_hop * 1e-12
            free = 0.0
            resident = fits[kind, pos, ti]
            chan_free = 0.0
            for j in range(max_tp):
                if valid[grp, j]:
                    c = members[grp, j]
                    if chip_free[c] > free:
                        free = chip_free[c]
                    if last_layer[c] != lyr:
                        resident = False
                    ch = channel[c]
                    if dram_free[ch] > chan_free:
                        chan_free = dram_free[ch]
            if resident:
                ex = t_res[b, pos, kind, ti]
                db = d_res[b, pos, kind, ti]
            else:
                ex = t_str[b, pos, kind, ti]
                db = d_str[b, pos, kind, ti]
            ex += ar_time[b, ti]
            start = ready if ready > free else free
            dstart = start if (db <= 0.0 or start > chan_free) else chan_free
            ch0 = channel[members[grp, 0]]
            dend = dstart + db / channel_bw[ch0]
            end = start + ex
            if dend > end:
                end = dend
            for j in range(max_tp):
                if valid[grp, j]:
                    c = members[grp, j]
                    chip_free[c] = end
                    last_layer[c] = lyr
                    if db > 0.0:
                        dram_free[channel[c]] = dend
            done[node] = end
            if end > latency:
                latency = end
            tp = g_tp[grp]
            e_comp += tp * macs[b, pos, kind, ti] * pj_mac[grp] * 1e-12
            e_sram += tp * sram[b, pos, kind, ti] * 8.0 * sram_pj[grp] * 1e-12
            e_dram += tp * db * 8.0 * dram_pj[ch0] * 1e-12
            e_nop += ar_bits[b, ti] * pj_hop * 1e-12
        out_lat[p] = latency
        static = static_w * latency
        out_e[p] = e_comp + e_sram + e_dram + e_nop + static
        out_parts[p, 0] = e_comp
        out_parts[p, 1] = e_sram
        out_parts[p, 2] = e_dram
        out_parts[p, 3] = e_nop
        out_parts[p, 4] = static


def evaluate_fast(ctx: EvalContext, boundaries: np.ndarray, place: np.ndarray) -> Result:
    """Latency and energy of P mappings (no per-node detail): the search's hot path."""
    place = np.ascontiguousarray(place, dtype=np.int64)
    P, B, L = place.shape
    order = order_nodes(np.asarray(boundaries, dtype=bool), B, L)
    tb, g = ctx.table, ctx.groups
    lat, energy, parts = np.zeros(P), np.zeros(P), np.zeros((P, 5))
    _kernel(
        order,
        place.reshape(P, B * L),
        B,
        L,
        ctx.members,
        ctx.valid,
        g.kind,
        g.tp_index,
        g.tp.astype(np.float64),
        ctx.lead,
        ctx.routes,
        ctx.hops,
        ctx.n_links,
        tb.act_bytes,
        ctx.link_latency,
        ctx.link_bw,
        ctx.hop_s,
        ctx.pj_hop,
        tb.fits_sram,
        tb.time_resident,
        tb.time_stream,
        tb.dram_resident,
        tb.dram_stream,
        ctx.ar_time,
        ctx.ar_bits,
        ctx.channel,
        ctx.n_channels,
        ctx.channel_bw,
        ctx.dram_pj,
        tb.macs,
        tb.sram_bytes,
        ctx.pj_mac,
        ctx.sram_pj,
        ctx.C,
        ctx.static_w,
        lat,
        energy,
        parts,
    )
    names = ("compute", "sram", "dram", "nop", "static")
    return Result(lat, energy, parts={n: parts[:, i] for i, n in enumerate(names)})
