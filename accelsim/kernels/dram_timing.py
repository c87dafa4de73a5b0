"""numba kernel: one DRAM channel's controller and banks, event-driven, over arrays of requests.

The standard enters only as a table of constraint rows (level, preceding command, following command, latency
in cycles, window) — the kernel knows no DDR4 or HBM2 rule by name. Time is an integer count of tCK
cycles; the loop jumps from one issuable command (or arrival, or refresh) to the next, never through idle
cycles. One command per cycle on the command bus.
"""

from __future__ import annotations

import numpy as np
from numba import njit

COMMANDS = ("ACT", "PRE", "RD", "WR", "REF")
LEVELS = ("channel", "rank", "bankgroup", "bank")
ACT, PRE, RD, WR, REF = range(5)

# Scheduler implementations the kernel provides, by config name.
FRFCFS, FCFS = 0, 1
SCHEDULER_CODES = {"frfcfs": FRFCFS, "fcfs": FCFS}

COUNTER_NAMES = ("reads", "writes", "activates", "precharges", "row_hits", "row_misses", "row_conflicts",
                 "refreshes")
_READS, _WRITES, _ACTS, _PRES, _HITS, _MISSES, _CONFLICTS, _REFS = range(8)
_INF = np.int64(1) << np.int64(62)


@njit(cache=True, inline="always")
def _earliest(cmd, b, nxt, node_of):
    e = nxt[node_of[b, 0], cmd]
    for lvl in range(1, 4):
        v = nxt[node_of[b, lvl], cmd]
        if v > e:
            e = v
    return e


@njit(cache=True, inline="always")
def _issue(cmd, b, t, nxt, node_of, con, by_cmd, n_by_cmd, hist, hpos, hcnt):
    """Apply every constraint row whose preceding command is `cmd`, issued to bank `b` at cycle t."""
    for i in range(n_by_cmd[cmd]):
        k = by_cmd[cmd, i]
        node = node_of[b, con[k, 0]]
        w = con[k, 4]
        if w <= 1:
            v = t + con[k, 3]
        else:
            # sliding window: wait counts from the w-th most recent `cmd` at this node (tFAW)
            p = hpos[k, node]
            hist[k, node, p] = t
            p = p + 1 if p + 1 < w else 0
            hpos[k, node] = p
            if hcnt[k, node] < w:
                hcnt[k, node] += 1
                if hcnt[k, node] < w:
                    continue
            v = hist[k, node, p] + con[k, 3]
        f = con[k, 2]
        if v > nxt[node, f]:
            nxt[node, f] = v


@njit(cache=True, inline="always")
def _close(b, t, open_row, act_t, busy, counts, nxt, node_of, con, by_cmd, n_by_cmd, hist, hpos, hcnt):
    _issue(PRE, b, t, nxt, node_of, con, by_cmd, n_by_cmd, hist, hpos, hcnt)
    busy[b] += t - act_t[b]
    open_row[b] = -1
    counts[_PRES] += 1


@njit(cache=True, inline="always")
def _eval_bank(b, head, qnext, qr, qw, open_row, closed, policy, nxt, node_of, cand, apos, a_cmd, a_e):
    """The one request bank b offers the scheduler next, its command and earliest cycle.

    FR-FCFS offers the oldest request to the open row if any (so a row queued hits want is never closed),
    else the oldest request; FCFS and closed-page offer the oldest request.
    """
    s = head[b]
    o = open_row[b]
    if o >= 0 and policy == FRFCFS and not closed:
        h = s
        while h >= 0 and qr[h] != o:
            h = qnext[h]
        if h >= 0:
            s = h
    if o == qr[s]:
        cmd = WR if qw[s] else RD
    elif o < 0:
        cmd = ACT
    else:
        cmd = PRE
    cand[b] = s
    a_cmd[apos[b]] = cmd
    a_e[apos[b]] = _earliest(cmd, b, nxt, node_of)


@njit(cache=True)
def _run_channel(arr, bank, row, isw, completion, counts, busy, node_of, nnodes, con, by_cmd, n_by_cmd, ranks,
                 banks_per_rank, queue_depth, policy, closed, t_cl, t_cwl, burst, t_refi):
    n = arr.size
    nb = node_of.shape[0]
    k_rows = con.shape[0]
    wmax = 1
    for k in range(k_rows):
        wmax = max(wmax, con[k, 4])
    nxt = np.zeros((nnodes, 5), np.int64)
    hist = np.zeros((k_rows, nnodes, wmax), np.int64)
    hpos = np.zeros((k_rows, nnodes), np.int64)
    hcnt = np.zeros((k_rows, nnodes), np.int64)
    open_row = np.full(nb, -1, np.int64)
    act_t = np.zeros(nb, np.int64)
    # Queue slots, threaded per bank into FIFO lists; a request's index is its age (input sorted by arrival).
    q = queue_depth
    qi = np.empty(q, np.int64)
    qr = np.empty(q, np.int64)
    qw = np.empty(q, np.bool_)
    qk = np.empty(q, np.bool_)  # classified as hit / miss / conflict yet
    qnext = np.empty(q, np.int64)
    free = np.arange(q)[::-1].copy()
    nfree = q
    head = np.full(nb, -1, np.int64)
    tail = np.full(nb, -1, np.int64)
    cand = np.full(nb, -1, np.int64)  # the slot each bank offers the scheduler
    # banks with queued requests, packed: bank, its candidate's command and a lower bound on the cycle that
    # command can issue (constraints only grow, so a stale bound stays a lower bound)
    active = np.empty(nb, np.int64)
    a_cmd = np.zeros(nb, np.int64)
    a_e = np.zeros(nb, np.int64)
    apos = np.full(nb, -1, np.int64)
    nact = 0
    next_ref = np.empty(ranks, np.int64)
    for rk in range(ranks):
        next_ref[rk] = t_refi + (rk * t_refi) // ranks  # staggered per rank
    nin = 0
    done = 0
    now = np.int64(0)
    end = np.int64(0)
    while done < n:
        while nfree > 0 and nin < n and arr[nin] <= now:
            b = bank[nin]
            nfree -= 1
            s = free[nfree]
            qi[s] = nin
            qr[s] = row[nin]
            qw[s] = isw[nin]
            qk[s] = False
            qnext[s] = -1
            if head[b] < 0:
                head[b] = s
                apos[b] = nact
                active[nact] = b
                nact += 1
            else:
                qnext[tail[b]] = s
            tail[b] = s
            nin += 1
            _eval_bank(b, head, qnext, qr, qw, open_row, closed, policy, nxt, node_of, cand, apos, a_cmd, a_e)
        ref_next = _INF
        for rk in range(ranks):
            if next_ref[rk] <= now:
                # all-bank refresh: close the rank's open rows, REF, then tRFC before the next ACT
                b0 = rk * banks_per_rank
                for b in range(b0, b0 + banks_per_rank):
                    if open_row[b] >= 0:
                        tp = max(now, _earliest(PRE, b, nxt, node_of))
                        _close(b, tp, open_row, act_t, busy, counts, nxt, node_of, con, by_cmd, n_by_cmd, hist, hpos,
                               hcnt)
                tr = max(now, _earliest(REF, b0, nxt, node_of))
                _issue(REF, b0, tr, nxt, node_of, con, by_cmd, n_by_cmd, hist, hpos, hcnt)
                counts[_REFS] += 1
                next_ref[rk] += t_refi
                for b in range(b0, b0 + banks_per_rank):
                    if head[b] >= 0:
                        _eval_bank(b, head, qnext, qr, qw, open_row, closed, policy, nxt, node_of, cand, apos,
                                   a_cmd, a_e)
            ref_next = min(ref_next, next_ref[rk])
        if nact == 0:
            # an idle rank with its rows closed only counts the refreshes before the next arrival; the last one
            # is issued, as it alone constrains what follows
            for rk in range(ranks):
                k = (arr[nin] - next_ref[rk]) // t_refi
                if k >= 1 and np.all(open_row[rk * banks_per_rank:(rk + 1) * banks_per_rank] < 0):
                    counts[_REFS] += k
                    next_ref[rk] += k * t_refi
                    ref_next = min(ref_next, next_ref[rk])
            now = min(arr[nin], ref_next)
            continue
        # among banks whose candidate can issue now: row hits first (FR-FCFS), then oldest
        pick = -1
        pick_hit = False
        n_ready = 0
        tmin = _INF
        for ai in range(nact):
            cmd = a_cmd[ai]
            e = max(a_e[ai], nxt[0, cmd])  # node 0 is the channel: its constraints bind every bank alike
            if e <= now:
                b = active[ai]
                e = _earliest(cmd, b, nxt, node_of)
                a_e[ai] = e
                if e <= now:
                    n_ready += 1
                    hit = cmd >= RD and policy == FRFCFS
                    if pick < 0 or (hit and not pick_hit) or (hit == pick_hit and qi[cand[b]] < qi[cand[pick]]):
                        pick = b
                        pick_hit = hit
                    continue
            if e < tmin:
                tmin = e
        if pick < 0:
            t = min(tmin, ref_next)
            if nfree > 0 and nin < n and arr[nin] < t:
                t = arr[nin]
            now = t
            continue
        b = pick
        s = cand[b]
        cmd = a_cmd[apos[b]]
        if cmd == ACT:
            _issue(ACT, b, now, nxt, node_of, con, by_cmd, n_by_cmd, hist, hpos, hcnt)
            open_row[b] = qr[s]
            act_t[b] = now
            counts[_ACTS] += 1
            if not qk[s]:
                qk[s] = True
                counts[_MISSES] += 1
        elif cmd == PRE:
            _close(b, now, open_row, act_t, busy, counts, nxt, node_of, con, by_cmd, n_by_cmd, hist, hpos, hcnt)
            if not qk[s]:
                qk[s] = True
                counts[_CONFLICTS] += 1
        else:
            _issue(cmd, b, now, nxt, node_of, con, by_cmd, n_by_cmd, hist, hpos, hcnt)
            if not qk[s]:
                counts[_HITS] += 1
            if cmd == RD:
                c = now + t_cl + burst
                counts[_READS] += 1
            else:
                c = now + t_cwl + burst
                counts[_WRITES] += 1
            completion[qi[s]] = c
            if c > end:
                end = c
            # unlink slot s from bank b's list
            if head[b] == s:
                head[b] = qnext[s]
                prev = -1
            else:
                prev = head[b]
                while qnext[prev] != s:
                    prev = qnext[prev]
                qnext[prev] = qnext[s]
            if tail[b] == s:
                tail[b] = prev
            free[nfree] = s
            nfree += 1
            done += 1
            if closed:
                tp = _earliest(PRE, b, nxt, node_of)
                _close(b, tp, open_row, act_t, busy, counts, nxt, node_of, con, by_cmd, n_by_cmd, hist, hpos, hcnt)
        if head[b] >= 0:
            _eval_bank(b, head, qnext, qr, qw, open_row, closed, policy, nxt, node_of, cand, apos, a_cmd, a_e)
        else:
            nact -= 1
            last = active[nact]
            p = apos[b]
            active[p] = last
            a_cmd[p] = a_cmd[nact]
            a_e[p] = a_e[nact]
            apos[last] = p
            apos[b] = -1
        # one command per cycle on the command bus; if nothing else was ready, skip to the next lower bound
        nxt_t = now + 1
        if n_ready == 1:
            t = tmin
            if head[b] >= 0 and a_e[apos[b]] < t:
                t = a_e[apos[b]]
            if ref_next < t:
                t = ref_next
            if nfree > 0 and nin < n and arr[nin] < t:
                t = arr[nin]
            if t > nxt_t:
                nxt_t = t
        now = nxt_t
    for b in range(nb):
        if open_row[b] >= 0 and end > act_t[b]:
            busy[b] += end - act_t[b]

@njit(cache=True)
def simulate_channels(arr, bank, row, isw, starts, node_of, nnodes, con, ranks, banks_per_rank, queue_depth,
                      policy, closed, t_cl, t_cwl, burst, t_refi):
    """Requests sorted by (channel, arrival cycle); channel c is starts[c]:starts[c+1].

    Returns completion cycle per request (same order), counters [channel, COUNTER_NAMES] and bank-open
    cycles [channel, bank]. `con` rows are (level, preceding, following, latency_cycles, window).
    """
    n_ch = starts.size - 1
    completion = np.empty(arr.size, np.int64)
    counts = np.zeros((n_ch, len(COUNTER_NAMES)), np.int64)
    busy = np.zeros((n_ch, node_of.shape[0]), np.int64)
    by_cmd = np.zeros((5, con.shape[0]), np.int64)
    n_by_cmd = np.zeros(5, np.int64)
    for k in range(con.shape[0]):
        c = con[k, 1]
        by_cmd[c, n_by_cmd[c]] = k
        n_by_cmd[c] += 1
    for ch in range(n_ch):
        s, e = starts[ch], starts[ch + 1]
        if e > s:
            _run_channel(arr[s:e], bank[s:e], row[s:e], isw[s:e], completion[s:e], counts[ch], busy[ch], node_of,
                         nnodes, con, by_cmd, n_by_cmd, ranks, banks_per_rank, queue_depth, policy, closed, t_cl,
                         t_cwl, burst, t_refi)
    return completion, counts, busy
