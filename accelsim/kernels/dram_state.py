"""The DRAM channel kernel's codes and state (accelsim.kernels.dram_timing), importable without numba.

Command, level, scheduler and refresh codes and counter names are shared with the configs and the statistics;
a `ChannelState` is everything one channel's controller remembers between chunks of its request stream; the
constraint rows are grouped by preceding command here, once per DRAM.
"""

from __future__ import annotations

import numpy as np

COMMANDS = ("ACT", "PRE", "RD", "WR", "REF", "REFsb")
LEVELS = ("channel", "rank", "bankgroup", "bank")
ACT, PRE, RD, WR, REF, REFSB = range(6)
N_CMD = len(COMMANDS)
N_GROUP_CMD = 4  # the commands a queued request asks for (ACT, PRE, RD, WR): the scan's groups per rank

# Scheduler implementations the kernel provides, by config name.
FRFCFS, FCFS = 0, 1
SCHEDULER_CODES = {"frfcfs": FRFCFS, "fcfs": FCFS}
# Refresh modes: all banks of a rank at once; the same bank of every bank group (DDR5 REFsb); one bank (HBM).
REFRESH_CODES = {"all_bank": 0, "same_bank": 1, "per_bank": 2}

COUNTER_NAMES = ("reads", "writes", "activates", "precharges", "row_hits", "row_misses", "row_conflicts",
                 "refreshes")
_READS, _WRITES, _ACTS, _PRES, _HITS, _MISSES, _CONFLICTS, _REFS = range(8)
# scalar state slots
_NOW, _END, _NFREE_R, _NFREE_W, _NACT, _WMODE, _NQ_R, _NQ_W, _ROW_AT, _COL_AT, _NFREE, _NTQ_R, _NTQ_W, _MOVED_AT, \
    _NSC = range(15)
_INF = np.int64(1) << np.int64(62)


class ChannelState:
    """Everything one channel's controller remembers between chunks of its request stream."""

    def __init__(self, nnodes: int, con: np.ndarray, nb: int, ranks: int, read_depth: int, write_depth: int,
                 t_refi: int, n_cq: int = 0, cq_depth: int = 0, stagger: bool = True):
        k_rows = con.shape[0]
        wmax = int(max(1, con[:, 4].max())) if k_rows else 1
        # request slots: the transaction queues' entries plus, behind them, every command queue's
        q = read_depth + write_depth + n_cq * cq_depth
        self.nxt = np.zeros((nnodes, N_CMD), np.int64)
        self.hist = np.zeros((k_rows, nnodes, wmax), np.int64)
        self.hpos = np.zeros((k_rows, nnodes), np.int64)
        self.hcnt = np.zeros((k_rows, nnodes), np.int64)
        self.open_row = np.full(nb, -1, np.int64)
        self.act_t = np.zeros(nb, np.int64)
        self.owner = np.full(nb, -1, np.int64)  # the queued request the bank has begun to serve (PRE or ACT)
        # queue slots, threaded per bank into FIFO lists; qi is the request's global index (its age)
        self.qi = np.empty(q, np.int64)
        self.qa = np.empty(q, np.int64)  # arrival cycle
        self.qr = np.empty(q, np.int64)
        self.qw = np.empty(q, np.bool_)
        self.qb = np.empty(q, np.int64)  # bank
        self.qk = np.empty(q, np.bool_)  # classified as hit / miss / conflict yet
        self.qnext = np.empty(q, np.int64)
        self.free = np.arange(q)[::-1].copy()
        self.head = np.full(nb, -1, np.int64)
        self.tail = np.full(nb, -1, np.int64)
        self.cand = np.full(nb, -1, np.int64)  # the slot each bank offers the scheduler
        # banks with queued requests, packed, and each bank's position there (-1: idle)
        self.active = np.empty(nb, np.int64)
        self.apos = np.full(nb, -1, np.int64)
        # per bank: its candidate's command (-1: none) and a lower bound on the cycle that command can issue
        # (constraints only grow, so a stale bound stays a lower bound)
        self.a_cmd = np.full(nb, -1, np.int64)
        self.a_e = np.zeros(nb, np.int64)
        # the banks offering a command, grouped by (rank, command): group rank x N_GROUP_CMD + command holds
        # g_n of them in g_mem, gpos is each bank's place in its group, g_min a lower bound on its members'
        # a_e; one rank-level bound then rules a whole group out of the scheduler's scan
        self.g_mem = np.zeros((ranks * N_GROUP_CMD, nb), np.int64)
        self.g_n = np.zeros(ranks * N_GROUP_CMD, np.int64)
        self.g_min = np.full(ranks * N_GROUP_CMD, _INF, np.int64)
        self.gpos = np.full(nb, -1, np.int64)
        self.next_ref = np.array([t_refi + (rk * t_refi) // ranks * stagger for rk in range(ranks)], np.int64)
        self.ref_ptr = np.zeros(ranks, np.int64)  # next bank set a per-bank refresh covers
        # transaction queues (command-queue structures only): slots in arrival order, reads then writes
        self.tq = np.empty(read_depth + write_depth, np.int64)
        self.cq_cnt = np.zeros(max(1, n_cq), np.int64)  # entries in each command queue
        self.sc = np.zeros(_NSC, np.int64)
        self.sc[_NFREE_R] = read_depth
        self.sc[_NFREE_W] = write_depth
        self.sc[_ROW_AT] = -1  # cycle of the last row (ACT, PRE) and column (RD, WR) command
        self.sc[_COL_AT] = -1
        self.sc[_NFREE] = q
        self.sc[_MOVED_AT] = -1
        self.counts = np.zeros(len(COUNTER_NAMES), np.int64)
        self.bank_counts = np.zeros((nb, len(COUNTER_NAMES)), np.int64)
        self.busy = np.zeros(nb, np.int64)

    def arrays(self) -> tuple:
        """The state in the order run_channel takes it."""
        return (self.nxt, self.hist, self.hpos, self.hcnt, self.open_row, self.act_t, self.owner, self.qi, self.qa,
                self.qr, self.qw, self.qk, self.qnext, self.free, self.head, self.tail, self.cand, self.active,
                self.a_cmd, self.a_e, self.apos, self.next_ref, self.ref_ptr, self.sc, self.counts, self.bank_counts,
                self.busy, self.qb, self.tq, self.cq_cnt, self.g_mem, self.g_n, self.g_min, self.gpos)


def commands_by_preceding(con: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each command, the constraint rows it precedes (row indices, count)."""
    by_cmd = np.zeros((N_CMD, max(1, con.shape[0])), np.int64)
    n_by_cmd = np.zeros(N_CMD, np.int64)
    for k in range(con.shape[0]):
        c = con[k, 1]
        by_cmd[c, n_by_cmd[c]] = k
        n_by_cmd[c] += 1
    return by_cmd, n_by_cmd
