"""numba kernels for CPU-accelerator links: request steering, credit-limited full-duplex FIFO timing,
coalescing of line addresses into naturally aligned multi-line requests, and the analytic twin's fluid bound.

Each channel has one FIFO per direction, so its wire never carries more than its bandwidth; a request holds
one of the channel's credits from issue to completion. Steering policies are selected by an int code;
`STEERING_CODES` maps the config name to it.

The timing kernel allocates nothing and runs without numba's reference counting (`_nrt=False`), so passing
the channel state to its helpers costs no atomic increfs.
"""

from __future__ import annotations

from types import MappingProxyType

import numpy as np
from numba import njit

ROUND_ROBIN = 0
LEAST_LOADED = 1
COHERENT_FIRST = 2
BANDWIDTH_WEIGHTED = 3
STEERING_CODES = MappingProxyType({
    "round_robin": ROUND_ROBIN,  # request k of the stream goes to channel k mod C
    "least_loaded": LEAST_LOADED,  # the channel that would complete this request earliest
    "coherent_first": COHERENT_FIRST,  # a coherent channel with a free credit, else least_loaded
    "bandwidth_weighted": BANDWIDTH_WEIGHTED,  # the channel with least assigned bytes / bandwidth after adding it
})


@njit(cache=True, inline="always", _nrt=False)
def _message_bytes(c, payload_bytes, to_host, header_bytes):
    """(outbound, return) wire bytes: a read's data comes back, a write's data goes out."""
    if to_host:
        return header_bytes[c] + payload_bytes, header_bytes[c]
    return header_bytes[c], header_bytes[c] + payload_bytes


@njit(cache=True, inline="always", _nrt=False)
def _timing(c, t, payload_bytes, to_host, header_bytes, ns_per_byte, latency_ns, up_free, down_free, credit_ring,
            credit_head):
    """(end of the outbound message, end of the return message) of a request issued at t on channel c."""
    fwd, ret = _message_bytes(c, payload_bytes, to_host, header_bytes)
    start = max(t, credit_ring[c, credit_head[c]], up_free[c])
    up_end = start + fwd * ns_per_byte[c]
    down_start = max(up_end + latency_ns[c], down_free[c])
    return up_end, down_start + ret * ns_per_byte[c]


@njit(cache=True, inline="always", _nrt=False)
def _steer(steering, t, payload_bytes, to_host, header_bytes, ns_per_byte, latency_ns, coherent, up_free, down_free,
           credit_ring, credit_head, rr_next, assigned_bytes):
    n_ch = ns_per_byte.shape[0]
    if steering == ROUND_ROBIN:
        c = rr_next[0] % n_ch
        rr_next[0] += 1
        return c
    if steering == COHERENT_FIRST:
        for c in range(n_ch):
            if coherent[c] and credit_ring[c, credit_head[c]] <= t:
                return c
    best = 0
    best_key = np.inf
    for c in range(n_ch):
        if steering == BANDWIDTH_WEIGHTED:
            fwd, ret = _message_bytes(c, payload_bytes, to_host, header_bytes)
            key = (assigned_bytes[c] + fwd + ret) * ns_per_byte[c]
        else:
            key = _timing(c, t, payload_bytes, to_host, header_bytes, ns_per_byte, latency_ns, up_free, down_free,
                          credit_ring, credit_head)[1] + latency_ns[c]
        if key < best_key:
            best, best_key = c, key
    return best


@njit(cache=True, _nrt=False)
def transfer_requests(order, issue_ns, payload_bytes, to_host, steering, header_bytes, ns_per_byte, latency_ns,
                      coherent, max_outstanding, up_free, down_free, credit_ring, credit_head, rr_next,
                      assigned_bytes, completion_ns, channel):
    """Steer and time requests in `order` (issue order); channel state persists in the arrays passed in.

    credit_ring[c, s] is when credit slot s of channel c comes back; completions on a channel are in issue
    order, so the slot at credit_head[c] is always the one returned first.
    """
    for j in range(order.shape[0]):
        i = order[j]
        t = issue_ns[i]
        c = _steer(steering, t, payload_bytes[i], to_host[i], header_bytes, ns_per_byte, latency_ns, coherent,
                   up_free, down_free, credit_ring, credit_head, rr_next, assigned_bytes)
        up_end, down_end = _timing(c, t, payload_bytes[i], to_host[i], header_bytes, ns_per_byte, latency_ns, up_free,
                               down_free, credit_ring, credit_head)
        done = down_end + latency_ns[c]
        fwd, ret = _message_bytes(c, payload_bytes[i], to_host[i], header_bytes)
        up_free[c] = up_end
        down_free[c] = down_end
        credit_ring[c, credit_head[c]] = done
        credit_head[c] = (credit_head[c] + 1) % max_outstanding[c]
        assigned_bytes[c] += fwd + ret
        completion_ns[i] = done
        channel[i] = c


@njit(cache=True)
def _run_fits(lines, i, size):
    if lines[i] % size != 0 or i + size > lines.shape[0]:
        return False
    for q in range(1, size):
        if lines[i + q] != lines[i] + q:
            return False
    return True


@njit(cache=True)
def coalesce_lines(lines, sizes_desc):
    """Greedy split of a line-number stream into the largest aligned runs of consecutive lines allowed."""
    n = lines.shape[0]
    first = np.empty(n, dtype=np.int64)
    count = np.empty(n, dtype=np.int64)
    m = 0
    i = 0
    while i < n:
        size = 1
        for s in sizes_desc:
            if _run_fits(lines, i, s):
                size = s
                break
        first[m] = lines[i]
        count[m] = size
        m += 1
        i += size
    return first[:m], count[:m]


@njit(cache=True)
def fluid_bound_ns(order, issue_ns, alone_ns, fwd_bytes, ret_bytes, steady_ns, pipe_ns_per_byte, two_latency_ns,
                   fwd_head_ns, ret_tail_ns, credits, alone_min_ns):
    """The analytic link set's completion bound (hw.link.AnalyticLinkSet) of each request, walking them in
    issue `order` (a stable argsort; numpy's beats numba's mergesort on these nearly sorted times): the largest
    of its isolated round trip, the steering steady state, the outbound and
    the return bytes so far through the fluid pipe, and Little's law on all credits. Each term is the
    arithmetic of the numpy form it replaced, in the same order, so every bit is the same."""
    n = issue_ns.shape[0]
    completion = np.empty(n)
    if n == 0:
        return completion
    t0 = issue_ns[order[0]]
    fwd_sum = 0
    ret_sum = 0
    for j in range(n):
        i = order[j]
        t = issue_ns[i]
        fwd_sum += fwd_bytes[i]
        ret_sum += ret_bytes[i]
        b = t + alone_ns[i]
        b = max(b, t + steady_ns)
        b = max(b, t0 + fwd_sum * pipe_ns_per_byte + two_latency_ns + ret_tail_ns)
        b = max(b, t0 + fwd_head_ns + two_latency_ns + ret_sum * pipe_ns_per_byte)
        b = max(b, t0 + np.ceil((j + 1) / credits) * alone_min_ns)
        completion[i] = b
    return completion


@njit(cache=True)
def request_ready_ns(line_done_ns, first_line, offset_ns):
    """Per request, the latest of its lines' `line_done_ns + offset_ns`, its lines being consecutive from
    `first_line`: `np.maximum.reduceat(line_done_ns + offset_ns, first_line)` element for element (NaN
    propagates, a request whose next one starts no later takes its first line), at a third of its cost."""
    m, n = first_line.shape[0], line_done_ns.shape[0]
    out = np.empty(m)
    for i in range(m):
        lo = first_line[i]
        hi = first_line[i + 1] if i + 1 < m else n
        best = line_done_ns[lo] + offset_ns
        for k in range(lo + 1, hi):
            v = line_done_ns[k] + offset_ns
            if v >= best or v != v:  # a tie takes the later line, as np.maximum does (-0.0 against 0.0)
                best = v
        out[i] = best
    return out
