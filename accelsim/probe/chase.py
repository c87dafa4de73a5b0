"""Pointer-chase and streaming kernels for the memory probes (numba, GIL released so threads overlap).

A chase follows a random cyclic permutation of the lines of a buffer: every load's address is the previous
load's value, so one chain measures load-to-use latency and k chains interleaved in one loop measure how many
misses a core keeps in flight. Buffers come from mmap with madvise, so the probe chooses 4 KiB pages or asks for
transparent huge pages (2 MiB) where the kernel grants them.
"""

from __future__ import annotations

import mmap
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numba import njit

LINE_BYTES = 64
WORDS_PER_LINE = LINE_BYTES // 8
HUGE_PAGE_BYTES = 2 << 20


@njit(cache=True, nogil=True)
def chase(nxt: np.ndarray, pos: np.ndarray, hops: int) -> int:
    """Advance `pos.size` independent chains `hops` steps each, in place (the next run continues where this one
    stopped, so a repeat never re-walks lines the previous run just cached); returns a checksum."""
    k = pos.size
    for _ in range(hops):
        for j in range(k):
            pos[j] = nxt[pos[j]]
    return int(pos.sum())


@njit(cache=True, nogil=True)
def row_chase(nxt: np.ndarray, pos: np.ndarray, hops: int, row_words: int) -> int:
    """`chase` over rows of `row_words` words: each hop reads the whole row the chain stands on, as an
    EmbeddingBag reads a row (the link in its first line, the later lines summed; their addresses are known once
    the row is, so they issue together); returns a checksum."""
    k = pos.size
    s = 0
    for _ in range(hops):
        for j in range(k):
            p = pos[j]
            for w in range(WORDS_PER_LINE, row_words, WORDS_PER_LINE):
                s += nxt[p + w]
            pos[j] = nxt[p]
    return int(pos.sum()) + s


@njit(cache=True, nogil=True)
def triad(a: np.ndarray, b: np.ndarray, c: np.ndarray, s: float) -> None:
    """STREAM triad a = b + s * c (two reads and one write per element)."""
    for i in range(a.size):
        a[i] = b[i] + s * c[i]


@njit(cache=True, nogil=True, fastmath=True)
def read_sum(a: np.ndarray) -> float:
    """Sum of a float32 array read front to back; fastmath lets the sum vectorise over several partial sums, so
    the loop is bound by the loads, not by the adds' latency."""
    s = np.float32(0.0)
    for i in range(a.size):
        s += a[i]
    return s


@njit(cache=True, nogil=True)
def read_sums(a: np.ndarray, reps: int) -> float:
    """`read_sum` of `a`, `reps` times over (so one timed run of a small array outlasts the clock's own cost)."""
    s = 0.0
    for _ in range(reps):
        s += read_sum(a)
    return s


@dataclass
class ChaseBuffer:
    """A buffer of `lines` 64 B lines holding a single random cycle; `huge` asks the kernel for 2 MiB pages."""

    lines: int
    huge: bool
    seed: int = 0

    def __post_init__(self) -> None:
        nbytes = -(-self.lines * LINE_BYTES // HUGE_PAGE_BYTES) * HUGE_PAGE_BYTES
        self._map = mmap.mmap(-1, nbytes, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
        self._map.madvise(mmap.MADV_HUGEPAGE if self.huge else mmap.MADV_NOHUGEPAGE)
        self.words = np.frombuffer(self._map, dtype=np.int64)
        self.words[::512] = 0  # touch every 4 KiB page now, so first-touch faults are not timed
        self.address = self.words.ctypes.data

    def use(self, nodes: int, node_lines: int = 1) -> np.ndarray:
        """Lay one random cycle over the first `nodes` nodes of `node_lines` lines each (a line, or a row of a
        gather); returns the chain order (word indices of the nodes' first lines)."""
        rng = np.random.default_rng([self.seed, nodes])
        order = rng.permutation(nodes).astype(np.int64) * (node_lines * WORDS_PER_LINE)
        self.words[order] = np.roll(order, -1)
        return order

    def huge_fraction(self) -> float:
        """Share of this buffer the kernel backs with huge pages (AnonHugePages in /proc/self/smaps)."""
        return huge_page_fraction(self.address, len(self._map))

    def close(self) -> None:
        """Unmap the buffer."""
        del self.words
        self._map.close()


def huge_page_fraction(address: int, nbytes: int, smaps: str | Path = "/proc/self/smaps") -> float:
    """AnonHugePages / nbytes over every mapping [address, address + nbytes) overlaps (0 where smaps is
    unreadable). An allocator that advises huge pages only from the first 2 MiB boundary splits one buffer into
    several mappings, the first of them small and without huge pages."""
    try:
        text = Path(smaps).read_text()
    except OSError:
        return 0.0
    end, huge = address + nbytes, 0
    for block in re.split(r"\n(?=[0-9a-f]+-[0-9a-f]+ )", text):
        lo, _, rest = block.partition("-")
        try:
            lo_addr, hi_addr = int(lo, 16), int(rest.split(" ", 1)[0], 16)
        except ValueError:
            continue
        overlap = min(hi_addr, end) - max(lo_addr, address)
        m = re.search(r"AnonHugePages:\s+(\d+) kB", block) if overlap > 0 else None
        if m:
            huge += min(int(m.group(1)) * 1024, overlap)
    return min(1.0, huge / nbytes) if nbytes > 0 else 0.0
