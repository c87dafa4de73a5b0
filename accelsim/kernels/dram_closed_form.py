"""The analytic DRAM's per-request passes (hw.dram_analytic) as single loops: the (channel, arrival) order,
row classes, per-channel bounds and service slots, completion times; one kernel call per pass. Each loop does,
element for element, the arithmetic the numpy form did (same operations in the same order; sums in numpy's
pairwise order), so the results are the same to the bit; what goes is the sort that grouped requests by bank,
the comparison sort of the arrivals and the dozens of small array operations per channel."""

from __future__ import annotations

import numpy as np
from numba import njit

HIT, MISS, CONFLICT = 0, 1, 2


@njit(cache=True)
def channel_bounds(order, starts, bank, row, is_write, banks_per_channel, banks_per_rank, rank_nodes, open_page,
                   t_rc, t_ccd_l, t_ras, cas_read, cas_write, miss_extra, conflict_extra, refresh_wait):
    """Visit each channel's requests in `order` (by channel, then arrival): classify each (hit when the previous
    access to its bank was to the same row, miss on its first, else conflict); per request its unloaded latency
    in cycles, at its place in `order`; per channel the hits, misses and conflicts; per channel and bank
    the occupancy (tRC per open, tCCD_L per hit) and busy cycles (tRAS / tCCD_L); per channel and rank the
    activates; per channel the rank switches between consecutive requests."""
    n = order.shape[0]
    channels = starts.shape[0] - 1
    lat = np.empty(n)
    bank_cyc = np.zeros((channels, banks_per_channel))
    busy = np.zeros((channels, banks_per_channel))
    acts = np.zeros((channels, rank_nodes), np.int64)
    per_rank = np.zeros((channels, rank_nodes), np.int64)
    switches = np.zeros(channels, np.int64)
    kinds = np.zeros((channels, 3), np.int64)
    last_row = np.empty(banks_per_channel, np.int64)
    touched = np.zeros(banks_per_channel, np.bool_)
    for ch in range(channels):
        touched[:] = False
        prev_rank = -1
        for j in range(starts[ch], starts[ch + 1]):
            i = order[j]
            b = bank[i]
            k = MISS
            if open_page and touched[b]:
                k = HIT if last_row[b] == row[i] else CONFLICT
            touched[b] = True
            last_row[b] = row[i]
            kinds[ch, k] += 1
            cas = cas_write if is_write[i] else cas_read
            extra = miss_extra if k == MISS else (conflict_extra if k == CONFLICT else 0)
            lat[j] = (cas + extra) + refresh_wait
            r = b // banks_per_rank
            per_rank[ch, r] += 1
            if k == HIT:
                bank_cyc[ch, b] += t_ccd_l
                busy[ch, b] += t_ccd_l
            else:
                bank_cyc[ch, b] += t_rc
                busy[ch, b] += t_ras
                acts[ch, r] += 1
            if prev_rank >= 0 and r != prev_rank:
                switches[ch] += 1
            prev_rank = r
    return kinds, lat, bank_cyc, busy, acts, per_rank, switches


@njit(cache=True)
def leave_slots(order, starts, arr_cyc, lat, slot, tck_ns):
    """Completion of each request, in ns: c_j = max(c_{j-1} + slot, ready_j) cycles per channel in `order`
    (`lat` in that order too), evaluated as j * slot + running max of (ready_j - j * slot); and each channel's
    last completion cycle."""
    n = order.shape[0]
    channels = starts.shape[0] - 1
    completion_ns = np.empty(n)
    span = np.zeros(channels)
    for ch in range(channels):
        s = slot[ch]
        run = -np.inf
        top = -np.inf
        first = starts[ch]
        for j in range(starts[ch + 1] - first):
            i = order[first + j]
            v = (arr_cyc[i] + lat[first + j]) - j * s
            if v > run:
                run = v
            c = j * s + run
            completion_ns[i] = c * tck_ns
            if c > top:
                top = c
        span[ch] = top
    return completion_ns, span


PAIRWISE_BLOCK = 128  # numpy's PW_BLOCKSIZE: below it, eight accumulators; above, halves summed recursively


@njit(cache=True)
def pairwise_sum(a, lo, n):
    """a[lo:lo + n].sum() as numpy computes it for contiguous float64 (pairwise, eight accumulators per block),
    so that a sum moved into a kernel keeps every bit."""
    if n < 8:
        res = 0.0
        for i in range(n):
            res += a[lo + i]
        return res
    if n <= PAIRWISE_BLOCK:
        r0, r1, r2, r3 = a[lo], a[lo + 1], a[lo + 2], a[lo + 3]
        r4, r5, r6, r7 = a[lo + 4], a[lo + 5], a[lo + 6], a[lo + 7]
        i = 8
        while i < n - n % 8:
            r0 += a[lo + i]
            r1 += a[lo + i + 1]
            r2 += a[lo + i + 2]
            r3 += a[lo + i + 3]
            r4 += a[lo + i + 4]
            r5 += a[lo + i + 5]
            r6 += a[lo + i + 6]
            r7 += a[lo + i + 7]
            i += 8
        res = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
        while i < n:
            res += a[lo + i]
            i += 1
        return res
    half = n // 2
    half -= half % 8
    return pairwise_sum(a, lo, half) + pairwise_sum(a, lo + half, n - half)


RADIX_BITS = 11  # digits of the arrival-cycle sort: 2048 buckets, two passes for a millisecond of DDR4 cycles


@njit(cache=True)
def _merge_runs(keys, bounds):
    """Indices of `keys` in stable ascending order, the keys being ascending within each run
    [bounds[r], bounds[r + 1]): adjacent runs merged pairwise, the left one first on ties (its indices are the
    smaller), until one is left -- the one stable order, in log2(runs) linear passes. The merge step is
    branch-free (runs of interleaved issue times alternate at random)."""
    n = keys.shape[0]
    idx, key = np.arange(n), keys.copy()
    spare_idx, spare_key = np.empty(n, np.int64), np.empty(n, np.int64)
    b = bounds.copy()
    runs = b.shape[0] - 1
    while runs > 1:
        out = 0
        for r in range(0, runs, 2):
            lo, mid = b[r], b[r + 1]
            hi = b[r + 2] if r + 1 < runs else mid
            i, j, k = lo, mid, lo
            while i < mid and j < hi:
                right = key[j] < key[i]
                spare_idx[k] = idx[j] if right else idx[i]
                spare_key[k] = key[j] if right else key[i]
                j += right
                i += 1 - right
                k += 1
            while i < mid:
                spare_idx[k], spare_key[k] = idx[i], key[i]
                i += 1
                k += 1
            while j < hi:
                spare_idx[k], spare_key[k] = idx[j], key[j]
                j += 1
                k += 1
            b[out] = lo
            out += 1
        b[out] = n
        runs = out
        idx, spare_idx = spare_idx, idx
        key, spare_key = spare_key, key
    return idx


@njit(cache=True)
def _radix_order(arr_cyc, top):
    """Indices of the (non-negative) cycles in stable ascending order by an LSD radix sort."""
    n = arr_cyc.shape[0]
    by_arrival = np.arange(n)
    keys = arr_cyc.copy()
    spare_idx = np.empty(n, np.int64)
    spare_keys = np.empty(n, np.int64)
    mask = (1 << RADIX_BITS) - 1
    count = np.empty((1 << RADIX_BITS) + 1, np.int64)
    shift = 0
    while (top >> shift) > 0:
        count[:] = 0
        for i in range(n):
            count[((keys[i] >> shift) & mask) + 1] += 1
        for d in range(1 << RADIX_BITS):
            count[d + 1] += count[d]
        for i in range(n):
            d = (keys[i] >> shift) & mask
            spare_idx[count[d]] = by_arrival[i]
            spare_keys[count[d]] = keys[i]
            count[d] += 1
        by_arrival, spare_idx = spare_idx, by_arrival
        keys, spare_keys = spare_keys, keys
        shift += RADIX_BITS
    return by_arrival


@njit(cache=True)
def channel_arrival_order(arr_cyc, channel, channels):
    """(request indices by channel, then arrival cycle, stable; each channel's first position in that order):
    the permutation of hw.dram.arrival_order. The cycles in stable order first -- as they are when already
    sorted; by merging their ascending runs when that takes fewer linear passes than a stable LSD radix sort's
    digits (a closed loop's issue times are often two sorted runs); else by the radix sort -- then a stable
    counting pass by channel: linear, where a comparison sort of a closed loop's interleaved issue times is
    not. A stable order is unique, so all three agree."""
    n = arr_cyc.shape[0]
    descents = 0
    top = 0
    for i in range(n):
        if i and arr_cyc[i] < arr_cyc[i - 1]:
            descents += 1
        top = max(top, arr_cyc[i])
    digits, merges = 0, 0
    while (top >> (digits * RADIX_BITS)) > 0:
        digits += 1
    runs = descents + 1
    while runs > 1:
        runs = (runs + 1) // 2
        merges += 1
    if descents == 0:
        by_arrival = np.arange(n)
    elif merges < digits:
        bounds = np.empty(descents + 2, np.int64)
        bounds[0], r = 0, 1
        for i in range(1, n):
            if arr_cyc[i] < arr_cyc[i - 1]:
                bounds[r] = i
                r += 1
        bounds[r] = n
        by_arrival = _merge_runs(arr_cyc, bounds)
    else:
        by_arrival = _radix_order(arr_cyc, top)
    starts = np.zeros(channels + 1, np.int64)
    for i in range(n):
        starts[channel[i] + 1] += 1
    for ch in range(channels):
        starts[ch + 1] += starts[ch]
    fill = starts[:channels].copy()
    order = np.empty(n, np.int64)
    for j in range(n):
        i = by_arrival[j]
        order[fill[channel[i]]] = i
        fill[channel[i]] += 1
    return order, starts


@njit(cache=True)
def serve_pass(order, starts, arr_cyc, bank, row, is_write, tck_ns, banks_per_channel, banks_per_rank, rank_nodes,
               open_page, pseudo_channel_mode, burst_cycles, t_rtrs, act_slot, queue_depth, refresh_stretch, t_rc,
               t_ccd_l, t_ras, cas_read, cas_write, miss_extra, conflict_extra, refresh_wait):
    """One analytic DRAM pass over decoded requests in (channel, arrival) `order` (hw.dram_analytic): row
    classes and bounds (channel_bounds), each channel's service slot -- the largest of bus, busiest bank,
    activates and Little's queue bound, stretched by refresh -- and the completion times (leave_slots).
    Returns (completion_ns, row classes per channel, bank busy cycles, last completion cycle per channel)."""
    channels = starts.shape[0] - 1
    kinds, lat, bank_cyc, busy, acts, per_rank, switches = channel_bounds(
        order, starts, bank, row, is_write, banks_per_channel, banks_per_rank, rank_nodes, open_page, t_rc,
        t_ccd_l, t_ras, cas_read, cas_write, miss_extra, conflict_extra, refresh_wait)
    slot = np.zeros(channels)
    for ch in range(channels):
        m = starts[ch + 1] - starts[ch]
        if m == 0:
            continue
        if pseudo_channel_mode:  # each pseudo-channel has its own bus: no rank switches
            bus = float(per_rank[ch].max() * burst_cycles)
        else:
            bus = float(m * burst_cycles + switches[ch] * t_rtrs)
        service = max(bus, bank_cyc[ch].max(), acts[ch].max() * act_slot,
                      pairwise_sum(lat, starts[ch], m) / queue_depth) * refresh_stretch
        slot[ch] = service / m
    completion_ns, span = leave_slots(order, starts, arr_cyc, lat, slot, tck_ns)
    return completion_ns, kinds, busy, span
