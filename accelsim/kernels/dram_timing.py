"""numba kernel: one DRAM channel's controller and banks, event-driven, over arrays of requests.

The standard enters only as a table of constraint rows (level, preceding command, following command, latency
in cycles, window, sibling) — the kernel knows no DDR4 or HBM2 rule by name. Time is an integer count of tCK
cycles; the loop jumps from one issuable command (or arrival, or refresh) to the next, never through idle
cycles. One command per cycle on the command bus, or one row (ACT, PRE) and one column (RD, WR) command per
cycle where the standard has separate row and column command buses (HBM).

The controller keeps reads and writes in separate queues and serves one kind at a time: it drains writes
when the write queue passes its high watermark (or no read waits) and returns to reads below the low
watermark, as Ramulator 2's generic controller does, so read/write turnarounds (tWTR, tRTW) come in batches.

Where the requests wait before the scheduler sees them is the queue structure. `shared`: the read and write
queues are what the scheduler picks from. `per_rank` / `per_bank` (DRAMsim3's queue_structure): the read and
write queues are transaction queues in front of one command queue per rank (or bank) of cq_depth entries; each
cycle the controller moves at most one transaction, the oldest of the kind being served whose command queue has
room, and the scheduler picks only from the command queues, whatever their kind. A rank that cannot take
commands (refreshing) then fills its own command queue, not the channel's.

The kernel allocates nothing and runs without numba's reference counting (`_nrt=False`): with it, every
array handed to an inlined helper was counted up and down with atomic instructions, ~40% of the run time.

A channel's whole state lives in a `ChannelState` (accelsim.kernels.dram_state), so a trace can be fed in
chunks: `run_channel` stops when it has admitted every request it was given and, if more may follow, resumes
exactly where it stopped. accelsim.kernels.aot builds this module ahead of time for processes without numba.
"""

from __future__ import annotations

from numba import njit

from accelsim.kernels.dram_state import (_ACTS, _COL_AT, _CONFLICTS, _END, _HITS, _INF, _MISSES, _MOVED_AT, _NACT,
                                         _NFREE, _NFREE_R, _NFREE_W, _NOW, _NQ_R, _NQ_W, _NTQ_R, _NTQ_W, _PRES,
                                         _READS, _REFS, _ROW_AT, _WMODE, _WRITES, ACT, FRFCFS, N_GROUP_CMD, PRE, RD,
                                         REF, REFSB, WR)


@njit(cache=True, inline="always", _nrt=False)
def _earliest(cmd, b, nxt, node_of):
    e = nxt[node_of[b, 0], cmd]
    for lvl in range(1, 4):
        v = nxt[node_of[b, lvl], cmd]
        if v > e:
            e = v
    return e


@njit(cache=True, inline="always", _nrt=False)
def _issue(cmd, b, t, nxt, node_of, con, by_cmd, n_by_cmd, hist, hpos, hcnt, ranks):
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
        if con[k, 5]:
            # sibling row (rank level): binds the channel's other ranks, e.g. tRTRS on a rank switch
            for rk in range(ranks):
                sib = 1 + rk
                if sib != node and v > nxt[sib, f]:
                    nxt[sib, f] = v
        elif v > nxt[node, f]:
            nxt[node, f] = v


@njit(cache=True, inline="always", _nrt=False)
def _close(b, t, open_row, owner, act_t, busy, counts, bank_counts, nxt, node_of, con, by_cmd, n_by_cmd, hist, hpos,
           hcnt, ranks):
    _issue(PRE, b, t, nxt, node_of, con, by_cmd, n_by_cmd, hist, hpos, hcnt, ranks)
    busy[b] += t - act_t[b]
    open_row[b] = -1
    counts[_PRES] += 1
    bank_counts[b, _PRES] += 1


@njit(cache=True, inline="always", _nrt=False)
def _regroup(b, cmd, e, a_cmd, a_e, node_of, g_mem, g_n, g_min, gpos):
    """Bank b now offers command cmd (-1: none), issuable from cycle e: move it to that command's group."""
    g0 = (node_of[b, 1] - 1) * N_GROUP_CMD
    old = a_cmd[b]
    if old != cmd:
        if old >= 0:
            g = g0 + old
            m = g_n[g] - 1
            p = gpos[b]
            last = g_mem[g, m]
            g_mem[g, p] = last
            gpos[last] = p
            g_n[g] = m
            gpos[b] = -1
        if cmd >= 0:
            g = g0 + cmd
            m = g_n[g]
            g_mem[g, m] = b
            gpos[b] = m
            g_n[g] = m + 1
        a_cmd[b] = cmd
    a_e[b] = e
    if cmd >= 0 and e < g_min[g0 + cmd]:
        g_min[g0 + cmd] = e


@njit(cache=True, inline="always", _nrt=False)
def _eval_bank(b, head, qnext, qr, qw, open_row, owner, closed, policy, nxt, node_of, cand, a_cmd, a_e,
               wmode, anykind, g_mem, g_n, g_min, gpos):
    """The one request bank b offers the scheduler next, its command and earliest cycle.

    A request the bank has begun (precharged or activated for) is finished first, whatever kind is being
    served (its commands are already queued, as in DRAMsim3's command queues). Otherwise only requests of the
    kind being served (reads, or writes while draining; any kind with `anykind`, when the bank's requests sit
    in a command queue) are offered: FR-FCFS offers the oldest such request to the open row if any (so a row
    queued hits want is never closed), else the oldest such request; FCFS and closed-page offer the oldest.
    """
    o = open_row[b]
    s = owner[b]
    if s < 0:
        s = head[b]
        while s >= 0 and qw[s] != wmode and not anykind:
            s = qnext[s]
        if s < 0:
            cand[b] = -1
            _regroup(b, -1, _INF, a_cmd, a_e, node_of, g_mem, g_n, g_min, gpos)
            return
    if owner[b] < 0 and o >= 0 and policy == FRFCFS and not closed:
        h = s
        while h >= 0 and (qr[h] != o or (qw[h] != wmode and not anykind)):
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
    _regroup(b, cmd, _earliest(cmd, b, nxt, node_of), a_cmd, a_e, node_of, g_mem, g_n, g_min, gpos)


@njit(cache=True, inline="always", _nrt=False)
def _all_closed(open_row, lo, hi):
    """No bank in [lo, hi) holds an open row (a loop: the kernel allocates nothing)."""
    for b in range(lo, hi):
        if open_row[b] >= 0:
            return False
    return True


@njit(cache=True, inline="always", _nrt=False)
def _link(s, b, head, tail, qnext, apos, active, nact):
    """Append slot s to bank b's list (the bank becomes active if it was idle); returns the active count."""
    qnext[s] = -1
    if head[b] < 0:
        head[b] = s
        apos[b] = nact
        active[nact] = b
        nact += 1
    else:
        qnext[tail[b]] = s
    tail[b] = s
    return nact


@njit(cache=True, inline="always", _nrt=False)
def _movable(tq, off, ntq, qb, cq_cnt, cq_div, cq_depth):
    """Position in a transaction queue of its oldest entry whose command queue has room, or -1."""
    for j in range(ntq):
        if cq_cnt[qb[tq[off + j]] // cq_div] < cq_depth:
            return j
    return -1


@njit(cache=True, inline="always", _nrt=False)
def _switch_mode(wmode, nq_r, nq_w, w_high, w_low):
    """Drain writes above the high watermark or when no read waits; return to reads below the low one."""
    if wmode:
        return nq_r > 0 and (nq_w < w_low or nq_w == 0)
    return nq_w > 0 and (nq_w > w_high or nq_r == 0)


@njit(cache=True, _nrt=False)
def _refresh_rank(rk, now, ref_mode, banks_per_rank, bankgroups, banks_per_group, open_row, owner, act_t, busy,
                  counts, bank_counts, nxt, node_of, con, by_cmd, n_by_cmd, hist, hpos, hcnt, ranks, ref_ptr):
    """Issue the refresh due on rank rk: close the rows it covers, then REF (all banks) or REFsb (a bank set)."""
    b0 = rk * banks_per_rank
    if ref_mode == 0:
        first, n_set, step, cmd = b0, banks_per_rank, 1, REF
    elif ref_mode == 1:  # same_bank: bank index k of every bank group
        first, n_set, step, cmd = b0 + ref_ptr[rk], bankgroups, banks_per_group, REFSB
    else:  # per_bank: bank k of the rank
        first, n_set, step, cmd = b0 + ref_ptr[rk], 1, 1, REFSB
    tr = now
    for j in range(n_set):
        b = first + j * step
        if open_row[b] >= 0:
            tp = max(now, _earliest(PRE, b, nxt, node_of))
            _close(b, tp, open_row, owner, act_t, busy, counts, bank_counts, nxt, node_of, con, by_cmd, n_by_cmd,
                   hist, hpos, hcnt, ranks)
        tr = max(tr, _earliest(cmd, b, nxt, node_of))
    for j in range(n_set):
        b = first + j * step
        if cmd == REFSB or j == 0:  # one REF binds the whole rank
            _issue(cmd, b, tr, nxt, node_of, con, by_cmd, n_by_cmd, hist, hpos, hcnt, ranks)
        bank_counts[b, _REFS] += 1
    if ref_mode != 0:
        n_sets = banks_per_group if ref_mode == 1 else banks_per_rank
        ref_ptr[rk] = ref_ptr[rk] + 1 if ref_ptr[rk] + 1 < n_sets else 0
    counts[_REFS] += 1


@njit(cache=True, _nrt=False)
def _scan(now, a_e, cand, qi, nxt, node_of, dual_cmd, row_at, col_at, frfcfs, g_mem, g_n, g_min):
    """Among the banks whose candidate can issue now, the scheduler's pick: row hits first (FR-FCFS), then the
    oldest; returns (bank or -1, how many could issue, a lower bound > now on the cycle one that cannot yet can).

    The banks are visited by (rank, command) group: while the channel or the rank holds a command back (the data
    bus, tCCD_S, tRRD, tFAW), its whole group is skipped on one bound. Within a group a bank's own stored bound is
    checked before its bank-group and bank constraints are read again. The returned bound is looser or tighter
    than checking every bank would give; the kernel's answers do not depend on it (tests/kernels/test_dram_scan.py).
    Not inlined into run_channel: on its own, LLVM keeps this loop's values in registers (the caller's ~60
    arguments spilled them to the stack).
    """
    pick = -1
    pick_hit = False
    n_ready = 0
    tmin = _INF
    for g in range(g_n.size):
        m = g_n[g]
        if m == 0:
            continue
        cmd = g % N_GROUP_CMD
        bound = max(nxt[0, cmd], nxt[1 + g // N_GROUP_CMD, cmd])  # the channel's and the rank's constraints
        if bound > now:
            e = max(bound, g_min[g])
            if e < tmin:
                tmin = e
            continue
        hit = cmd >= RD and frfcfs
        busy = dual_cmd and (row_at if cmd < RD else col_at) == now  # this cycle's slot on its command bus is taken
        low = _INF
        for j in range(m):
            b = g_mem[g, j]
            e = a_e[b]
            if e <= now:
                e = _earliest(cmd, b, nxt, node_of)
                a_e[b] = e
                if busy and e <= now:
                    e = now + 1
            low = min(low, e)
            if e > now:
                tmin = min(tmin, e)
            else:
                n_ready += 1
                if pick < 0 or (hit and not pick_hit) or (hit == pick_hit and qi[cand[b]] < qi[cand[pick]]):
                    pick = b
                    pick_hit = hit
        g_min[g] = low
    return pick, n_ready, tmin


@njit(cache=True, _nrt=False)
def run_channel(arr, bank, row, isw, base, final, out_idx, out_arr, out_cyc, out_w,
                nxt, hist, hpos, hcnt, open_row, act_t, owner, qi, qa, qr, qw, qk, qnext, free, head, tail, cand,
                active, a_cmd, a_e, apos, next_ref, ref_ptr, sc, counts, bank_counts, busy, qb, tq, cq_cnt,
                g_mem, g_n, g_min, gpos,
                node_of, con, by_cmd, n_by_cmd, ranks, bankgroups, banks_per_group, policy, closed, t_cl, t_cwl,
                burst, t_refi, ref_mode, w_high, w_low, dual_cmd, cq_div, cq_depth, r_depth):
    """Serve one channel's next requests (sorted by arrival; request i has global index base + i).

    Writes each finished request's global index, arrival, completion cycle and kind to out_* in issue order
    and returns how many finished. With final=False it returns as soon as every given request is admitted.
    cq_div is 0 for the shared queues, else the banks per command queue (banks per rank, or 1); r_depth is the
    read queue's depth (the write queue's entries follow it in tq).
    """
    n = arr.size
    nb = node_of.shape[0]
    banks_per_rank = nb // ranks
    now = sc[_NOW]
    end = sc[_END]
    nfree_r = sc[_NFREE_R]
    nfree_w = sc[_NFREE_W]
    nact = sc[_NACT]
    wmode = sc[_WMODE] != 0
    nq_r = sc[_NQ_R]
    nq_w = sc[_NQ_W]
    row_at = sc[_ROW_AT]
    col_at = sc[_COL_AT]
    nfree = sc[_NFREE]
    ntq_r = sc[_NTQ_R]
    ntq_w = sc[_NTQ_W]
    moved_at = sc[_MOVED_AT]
    cq = cq_div > 0
    anykind = cq  # a command queue serves whatever it holds; the kind being served picks what enters it
    nin = 0
    nout = 0
    while True:
        while nin < n and arr[nin] <= now and (nfree_w > 0 if isw[nin] else nfree_r > 0):
            b = bank[nin]
            s = free[nfree - 1]
            nfree -= 1
            if isw[nin]:
                nfree_w -= 1
                nq_w += 1
            else:
                nfree_r -= 1
                nq_r += 1
            qi[s] = base + nin
            qa[s] = arr[nin]
            qr[s] = row[nin]
            qw[s] = isw[nin]
            qb[s] = b
            qk[s] = False
            nin += 1
            if cq:
                if qw[s]:
                    tq[r_depth + ntq_w] = s
                    ntq_w += 1
                else:
                    tq[ntq_r] = s
                    ntq_r += 1
                continue
            nact = _link(s, b, head, tail, qnext, apos, active, nact)
            _eval_bank(b, head, qnext, qr, qw, open_row, owner, closed, policy, nxt, node_of, cand, a_cmd, a_e, wmode,
                       anykind, g_mem, g_n, g_min, gpos)
        if nin == n and not final:
            break
        if nin == n and nq_r + nq_w == 0:
            break
        if _switch_mode(wmode, nq_r, nq_w, w_high, w_low):
            wmode = not wmode
            for ai in range(nact):
                _eval_bank(active[ai], head, qnext, qr, qw, open_row, owner, closed, policy, nxt, node_of, cand, a_cmd,
                           a_e, wmode, anykind, g_mem, g_n, g_min, gpos)
        if cq and moved_at < now:
            # one transaction a cycle enters its command queue: the oldest of the kind being served with room
            off, ntq = (r_depth, ntq_w) if wmode else (0, ntq_r)
            j = _movable(tq, off, ntq, qb, cq_cnt, cq_div, cq_depth)
            if j >= 0:
                s = tq[off + j]
                for m in range(off + j, off + ntq - 1):
                    tq[m] = tq[m + 1]
                if wmode:
                    ntq_w -= 1
                    nfree_w += 1
                else:
                    ntq_r -= 1
                    nfree_r += 1
                cq_cnt[qb[s] // cq_div] += 1
                moved_at = now
                b = qb[s]
                nact = _link(s, b, head, tail, qnext, apos, active, nact)
                _eval_bank(b, head, qnext, qr, qw, open_row, owner, closed, policy, nxt, node_of, cand, a_cmd, a_e,
                           wmode, anykind, g_mem, g_n, g_min, gpos)
        ref_next = _INF
        for rk in range(ranks):
            if next_ref[rk] <= now:
                _refresh_rank(rk, now, ref_mode, banks_per_rank, bankgroups, banks_per_group, open_row, owner, act_t,
                              busy, counts, bank_counts, nxt, node_of, con, by_cmd, n_by_cmd, hist, hpos, hcnt, ranks,
                              ref_ptr)
                next_ref[rk] += t_refi
                b0 = rk * banks_per_rank
                for b in range(b0, b0 + banks_per_rank):
                    if head[b] >= 0:
                        _eval_bank(b, head, qnext, qr, qw, open_row, owner, closed, policy, nxt, node_of, cand, a_cmd,
                                   a_e, wmode, anykind, g_mem, g_n, g_min, gpos)
            ref_next = min(ref_next, next_ref[rk])
        if nact == 0:
            if ntq_r + ntq_w > 0:
                now += 1  # this cycle's transaction has moved; the next moves next cycle
                continue
            # an idle rank with its rows closed only counts the refreshes before the next arrival; the last one
            # is issued, as it alone constrains what follows
            for rk in range(ranks):
                k = (arr[nin] - next_ref[rk]) // t_refi
                if k >= 1 and _all_closed(open_row, rk * banks_per_rank, (rk + 1) * banks_per_rank):
                    counts[_REFS] += k
                    b0 = rk * banks_per_rank
                    if ref_mode == 0:
                        for b in range(b0, b0 + banks_per_rank):
                            bank_counts[b, _REFS] += k
                    else:
                        n_set = bankgroups if ref_mode == 1 else 1
                        step = banks_per_group if ref_mode == 1 else 0
                        n_sets = banks_per_group if ref_mode == 1 else banks_per_rank
                        for m in range(n_sets):
                            got = k // n_sets + (1 if (m - ref_ptr[rk]) % n_sets < k % n_sets else 0)
                            for j in range(n_set):
                                bank_counts[b0 + m + j * step, _REFS] += got
                        ref_ptr[rk] = (ref_ptr[rk] + k) % n_sets
                    next_ref[rk] += k * t_refi
                    ref_next = min(ref_next, next_ref[rk])
            now = min(arr[nin], ref_next)
            continue
        pick, n_ready, tmin = _scan(now, a_e, cand, qi, nxt, node_of, dual_cmd, row_at, col_at, policy == FRFCFS,
                                    g_mem, g_n, g_min)
        if pick < 0:
            t = min(tmin, ref_next)
            if cq and moved_at == now and _movable(tq, r_depth if wmode else 0, ntq_w if wmode else ntq_r, qb, cq_cnt,
                                                   cq_div, cq_depth) >= 0:
                t = min(t, now + 1)
            if nin < n and arr[nin] < t and (nfree_w > 0 if isw[nin] else nfree_r > 0):
                t = max(arr[nin], now)  # a move this cycle freed its slot: it enters now, not back then
            now = t
            continue
        b = pick
        s = cand[b]
        cmd = a_cmd[b]
        if not dual_cmd:
            row_at = now
            col_at = now
        elif cmd < RD:
            row_at = now
        else:
            col_at = now
        if cmd == ACT:
            _issue(ACT, b, now, nxt, node_of, con, by_cmd, n_by_cmd, hist, hpos, hcnt, ranks)
            open_row[b] = qr[s]
            owner[b] = s
            act_t[b] = now
            counts[_ACTS] += 1
            bank_counts[b, _ACTS] += 1
            if not qk[s]:
                qk[s] = True
                counts[_MISSES] += 1
                bank_counts[b, _MISSES] += 1
        elif cmd == PRE:
            owner[b] = s
            _close(b, now, open_row, owner, act_t, busy, counts, bank_counts, nxt, node_of, con, by_cmd, n_by_cmd, hist,
                   hpos, hcnt, ranks)
            if not qk[s]:
                qk[s] = True
                counts[_CONFLICTS] += 1
                bank_counts[b, _CONFLICTS] += 1
        else:
            _issue(cmd, b, now, nxt, node_of, con, by_cmd, n_by_cmd, hist, hpos, hcnt, ranks)
            if not qk[s]:
                counts[_HITS] += 1
                bank_counts[b, _HITS] += 1
            if cmd == RD:
                c = now + t_cl + burst
                counts[_READS] += 1
                bank_counts[b, _READS] += 1
                nq_r -= 1
                if not cq:
                    nfree_r += 1
            else:
                c = now + t_cwl + burst
                counts[_WRITES] += 1
                bank_counts[b, _WRITES] += 1
                nq_w -= 1
                if not cq:
                    nfree_w += 1
            if cq:
                cq_cnt[b // cq_div] -= 1
            if owner[b] == s:
                owner[b] = -1
            out_idx[nout] = qi[s]
            out_arr[nout] = qa[s]
            out_cyc[nout] = c
            out_w[nout] = qw[s]
            nout += 1
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
            if closed:
                tp = _earliest(PRE, b, nxt, node_of)
                _close(b, tp, open_row, owner, act_t, busy, counts, bank_counts, nxt, node_of, con, by_cmd, n_by_cmd,
                       hist, hpos, hcnt, ranks)
        if head[b] >= 0:
            _eval_bank(b, head, qnext, qr, qw, open_row, owner, closed, policy, nxt, node_of, cand, a_cmd, a_e, wmode,
                       anykind, g_mem, g_n, g_min, gpos)
        else:
            nact -= 1
            last = active[nact]
            p = apos[b]
            active[p] = last
            apos[last] = p
            apos[b] = -1
            _regroup(b, -1, _INF, a_cmd, a_e, node_of, g_mem, g_n, g_min, gpos)
        switched = _switch_mode(wmode, nq_r, nq_w, w_high, w_low)
        if switched:
            wmode = not wmode
            for ai in range(nact):
                _eval_bank(active[ai], head, qnext, qr, qw, open_row, owner, closed, policy, nxt, node_of, cand, a_cmd,
                           a_e, wmode, anykind, g_mem, g_n, g_min, gpos)
        # one command per cycle on the command bus; if nothing else was ready, skip to the next lower bound
        nxt_t = now + 1
        if dual_cmd and (row_at != now or col_at != now) and n_ready > 1:
            nxt_t = now  # the other command bus is still free this cycle
        elif n_ready == 1 and not switched:
            t = tmin
            if head[b] >= 0 and a_e[b] < t:
                t = a_e[b]
            if ref_next < t:
                t = ref_next
            if cq and _movable(tq, r_depth if wmode else 0, ntq_w if wmode else ntq_r, qb, cq_cnt, cq_div,
                               cq_depth) >= 0:
                t = now + 1
            if nin < n and arr[nin] < t and (nfree_w > 0 if isw[nin] else nfree_r > 0):
                t = arr[nin]
            if t > nxt_t:
                nxt_t = t
        now = nxt_t
    if final:
        for b in range(nb):
            if open_row[b] >= 0 and end > act_t[b]:
                busy[b] += end - act_t[b]
    sc[_NOW] = now
    sc[_END] = end
    sc[_NFREE_R] = nfree_r
    sc[_NFREE_W] = nfree_w
    sc[_NACT] = nact
    sc[_WMODE] = 1 if wmode else 0
    sc[_NQ_R] = nq_r
    sc[_NQ_W] = nq_w
    sc[_ROW_AT] = row_at
    sc[_COL_AT] = col_at
    sc[_NFREE] = nfree
    sc[_NTQ_R] = ntq_r
    sc[_NTQ_W] = ntq_w
    sc[_MOVED_AT] = moved_at
    return nout
