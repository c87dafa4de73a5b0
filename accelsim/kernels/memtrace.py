"""numba kernel: parse DRAMsim3 (`0x<hex> READ|WRITE <cycle>`) and Ramulator (`0x<hex> R|W`) trace lines."""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True, _nrt=False)
def _hex_digit(c):
    if 48 <= c <= 57:
        return c - 48
    if 97 <= c <= 102:
        return c - 87
    if 65 <= c <= 70:
        return c - 55
    return -1


@njit(cache=True, _nrt=False)
def parse_lines(buf, addr, is_write, cycle, st):
    """Parse whole lines of `buf`; returns (records, problem code, index of the bad line in buf).

    st carries across chunks: [format (0 unknown, 3 DRAMsim3, 2 Ramulator), previous cycle, records so far].
    Allocates nothing (the ahead-of-time build, accelsim.kernels.aot, runs without numba's runtime): a line's
    first three tokens are kept as scalars, and a line with more is refused before they are needed.
    """
    n = buf.size
    k = 0
    line = 0
    i = 0
    while i < n:
        ntok = 0
        s0 = e0 = s1 = e1 = s2 = e2 = 0
        j = i
        while j < n and buf[j] != 10 and buf[j] != 35:  # newline, '#'
            if buf[j] == 32 or buf[j] == 9 or buf[j] == 13:
                j += 1
                continue
            s = j
            while j < n and buf[j] != 10 and buf[j] != 35 and buf[j] != 32 and buf[j] != 9 and buf[j] != 13:
                j += 1
            if ntok == 0:
                s0, e0 = s, j
            elif ntok == 1:
                s1, e1 = s, j
            elif ntok == 2:
                s2, e2 = s, j
            ntok += 1
        while j < n and buf[j] != 10:
            j += 1
        if ntok != 0:
            if ntok != 3 and ntok != 2:
                return k, 1, line
            if st[0] == 0:
                st[0] = ntok
            elif st[0] != ntok:
                return k, 6, line
            s, e = s0, e0
            if e - s < 3 or e - s > 17 or buf[s] != 48 or (buf[s + 1] != 120 and buf[s + 1] != 88):
                return k, 2, line
            v = np.int64(0)
            for p in range(s + 2, e):
                d = _hex_digit(buf[p])
                if d < 0:
                    return k, 2, line
                v = v * 16 + d
            addr[k] = v
            s, e = s1, e1
            word = 0
            for p in range(s, min(e, s + 6)):
                word = word * 256 + (buf[p] & 0xDF)  # upper-case letters
            if ntok == 3 and e - s == 4 and word == 0x52454144:  # READ
                is_write[k] = False
            elif ntok == 3 and e - s == 5 and word == 0x5752495445:  # WRITE
                is_write[k] = True
            elif ntok == 2 and e - s == 1 and word == 0x52:  # R
                is_write[k] = False
            elif ntok == 2 and e - s == 1 and word == 0x57:  # W
                is_write[k] = True
            else:
                return k, 3, line
            if ntok == 3:
                s, e = s2, e2
                if e - s > 18:
                    return k, 4, line
                c = np.int64(0)
                for p in range(s, e):
                    d = buf[p] - 48
                    if d < 0 or d > 9:
                        return k, 4, line
                    c = c * 10 + d
                if c < st[1]:
                    return k, 5, line
            else:
                c = st[2]
            cycle[k] = c
            st[1] = c
            st[2] += 1
            k += 1
        line += 1
        i = j + 1
    return k, 0, line
