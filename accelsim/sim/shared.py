"""Detailed sharing: the requests of overlapping phases meet in one request-level DRAM and link model.

A phase is timed through a `Port`: host DRAM and the links as that phase sees them. Alone, the port passes
requests through and records them (times relative to the phase's start). Re-timed under overlap, the port
adds every overlapping phase's recorded requests, at their place in the schedule, to each DRAM and link call
the phase makes, so the two streams interleave in the same queues, banks, row buffers and link credits; the
phase reads back only its own completions. Overlapping phases are re-timed in turn with each other's latest
streams until their durations settle (see pipeline.run_pipeline).

Caches are not shared bandwidth but state: a re-timed phase must see the cache contents it saw first, and
leave the caches as they were. Cache look-ups depend on the order of accesses, not their times, so the first
timing records what every cache answered (a `CacheTape`) and a re-timing replays those answers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np

from accelsim.hw.dram import DramResult


@dataclass
class Stream:
    """A phase's requests to the shared parts, times relative to the phase's start."""

    dram_t: np.ndarray
    dram_addr: np.ndarray
    dram_write: np.ndarray
    link_t: np.ndarray
    link_payload: np.ndarray
    link_dir: np.ndarray

    @classmethod
    def empty(cls) -> "Stream":
        z = np.zeros(0)
        return cls(z, np.zeros(0, np.int64), np.zeros(0, np.bool_), z, np.zeros(0, np.int64), np.zeros(0, np.int8))

    @property
    def requests(self) -> int:
        return self.dram_t.size + self.link_t.size

    def shifted(self, dt: float) -> "Stream":
        return Stream(self.dram_t + dt, self.dram_addr, self.dram_write, self.link_t + dt, self.link_payload,
                      self.link_dir)

    def within(self, lo_ns: float, hi_ns: float) -> "Stream":
        """The requests issued in [lo_ns, hi_ns)."""
        d = (self.dram_t >= lo_ns) & (self.dram_t < hi_ns)
        k = (self.link_t >= lo_ns) & (self.link_t < hi_ns)
        return Stream(self.dram_t[d], self.dram_addr[d], self.dram_write[d], self.link_t[k], self.link_payload[k],
                      self.link_dir[k])

    @classmethod
    def concat(cls, streams: list["Stream"]) -> "Stream":
        if not streams:
            return cls.empty()
        return cls(*(np.concatenate([getattr(s, f) for s in streams]) for f in (
            "dram_t", "dram_addr", "dram_write", "link_t", "link_payload", "link_dir")))


def _key(*arrays: np.ndarray) -> tuple:
    # A phase repeats a call on the same requests while its closed loop searches for the consistent
    # latency; the last call of each kind is the one the phase's timing rests on.
    a = arrays[0]
    return (a.size, int(a[0]) if a.size else 0, int(a[-1]) if a.size else 0)


class SharedDram:
    """A DRAM model as one phase sees it: its own requests plus the background's, in one simulation."""

    def __init__(self, dram, background: Stream, calls: dict):
        self.inner = dram
        self.cfg = dram.cfg
        self._bg = background
        self._calls = calls

    def simulate(self, arrival_ns: np.ndarray, addr: np.ndarray, is_write: np.ndarray) -> DramResult:
        """Serve the phase's requests among the background ones; only the phase's own are returned."""
        return self.serve(arrival_ns, self.requests(addr, is_write))

    def requests(self, addr: np.ndarray, is_write: np.ndarray) -> "SharedRequests":
        """The phase's requests with the background's, decoded once to be timed at many arrival times."""
        addr = np.asarray(addr, dtype=np.int64)
        is_write = np.asarray(is_write, dtype=np.bool_)
        bg = self._bg
        both = None
        if hasattr(self.inner, "requests"):  # the detailed model decodes ahead; the analytic one has no need
            both = self.inner.requests(np.concatenate([addr, bg.dram_addr]), np.concatenate([is_write, bg.dram_write]))
        return SharedRequests(addr, is_write, both)

    def serve(self, arrival_ns: np.ndarray, reqs: "SharedRequests") -> DramResult:
        """Time the phase's decoded requests arriving at `arrival_ns` among the background ones."""
        arrival, arrivals, shift = self._arrivals(arrival_ns, reqs)
        if arrivals is None:
            return self.inner.simulate(arrival, reqs.addr, reqs.is_write) if reqs.decoded is None else \
                self.inner.serve(arrival, reqs.decoded)
        if reqs.decoded is None:
            res = self.inner.simulate(arrivals, np.concatenate([reqs.addr, self._bg.dram_addr]),
                                      np.concatenate([reqs.is_write, self._bg.dram_write]))
        else:
            res = self.inner.serve(arrivals, reqs.decoded)
        n = arrival.size
        return DramResult(arrival, reqs.is_write, res.completion_ns[:n] - shift, res.counters)

    def completion_ns(self, arrival_ns: np.ndarray, reqs: "SharedRequests") -> np.ndarray:
        """serve(...).completion_ns, without counting where the model can time alone (the analytic one)."""
        times = getattr(self.inner, "completion_ns", None)
        if times is None or reqs.decoded is None:
            return self.serve(arrival_ns, reqs).completion_ns
        arrival, arrivals, shift = self._arrivals(arrival_ns, reqs)
        if arrivals is None:
            return times(arrival, reqs.decoded)
        return times(arrivals, reqs.decoded)[:arrival.size] - shift

    def _arrivals(self, arrival_ns: np.ndarray, reqs: "SharedRequests"):
        """(the phase's arrivals, recorded; with the background's after them, shifted, or None without any;
        the shift)."""
        arrival = np.asarray(arrival_ns, dtype=np.float64)
        self._calls[("dram",) + _key(reqs.addr)] = (arrival.copy(), reqs.addr, reqs.is_write)
        bg = self._bg
        if bg.dram_t.size == 0:
            return arrival, None, 0.0
        # DRAM time starts at 0: move both streams by whole clock periods so the earliest one is at t >= 0.
        tck = self.cfg.tck_ns
        shift = math.ceil(max(0.0, -float(bg.dram_t.min())) / tck) * tck
        return arrival, np.concatenate([arrival, bg.dram_t]) + shift, shift

@dataclass(frozen=True)
class SharedRequests:
    """A phase's DRAM requests (SharedDram.requests) and, where the DRAM model decodes ahead, those with the
    background's, decoded."""

    addr: np.ndarray
    is_write: np.ndarray
    decoded: object | None


class SharedLinks:
    """A link set as one phase sees it: its requests queue behind and among the background ones."""

    def __init__(self, links, background: Stream, calls: dict):
        self.inner = links
        self.cfg = links.cfg
        self._bg = background
        self._calls = calls

    @property
    def counters(self):
        return self.inner.counters

    def transfer(self, issue_ns: np.ndarray, payload_bytes: np.ndarray, direction: np.ndarray):
        """Time the phase's requests among the background ones; only the phase's own are returned."""
        issue = np.asarray(issue_ns, dtype=np.float64)
        payload = np.asarray(payload_bytes)
        dirn = np.asarray(direction)
        self._calls[("link",) + _key(payload, issue)] = (issue.copy(), payload, dirn)
        bg = self._bg
        if bg.link_t.size == 0:
            return self.inner.transfer(issue, payload, dirn)
        res = self.inner.transfer(np.concatenate([issue, bg.link_t]),
                                  np.concatenate([payload, bg.link_payload]).astype(np.int64),
                                  np.concatenate([dirn, bg.link_dir]).astype(np.int8))
        n = issue.size
        return type(res)(res.completion_ns[:n], res.channel[:n], res.counters)

    def timer(self, payload_bytes: np.ndarray, direction: np.ndarray) -> Callable[[np.ndarray], np.ndarray] | None:
        """issue_ns -> completion_ns of these requests without counting, where the model has such a pass (the
        analytic one) and nothing in the background shares it; else None (time them with `transfer`)."""
        times = getattr(self.inner, "timer", None)
        if times is None or self._bg.link_t.size:
            return None
        payload = np.asarray(payload_bytes)
        dirn = np.asarray(direction)
        completion = times(payload, dirn)

        def completion_ns(issue_ns: np.ndarray) -> np.ndarray:
            issue = np.asarray(issue_ns, dtype=np.float64)
            self._calls[("link",) + _key(payload, issue)] = (issue.copy(), payload, dirn)
            return completion(issue)
        return completion_ns


class Port:
    """Host DRAM and the links as one phase sees them, with `background` requests from overlapping phases."""

    def __init__(self, machine, background: Stream | None = None):
        self._machine = machine
        self._bg = background if background is not None else Stream.empty()
        self._calls: dict = {}
        self.dram = SharedDram(machine.dram, self._bg, self._calls)

    def new_links(self) -> SharedLinks:
        """Idle links of the run's fidelity, carrying the background's link requests."""
        return SharedLinks(self._machine.new_links(), self._bg, self._calls)

    def stream(self) -> Stream:
        """The phase's own requests (the last call of each kind)."""
        dram = [v for k, v in self._calls.items() if k[0] == "dram"]
        link = [v for k, v in self._calls.items() if k[0] == "link"]
        cat = (lambda xs, i, dt: np.concatenate([x[i] for x in xs]).astype(dt) if xs else np.zeros(0, dt))
        return Stream(cat(dram, 0, np.float64), cat(dram, 1, np.int64), cat(dram, 2, np.bool_),
                      cat(link, 0, np.float64), cat(link, 1, np.int64), cat(link, 2, np.int8))


class CacheTape:
    """What the machine's caches answered during one phase, in call order."""

    def __init__(self) -> None:
        self.answers: list[np.ndarray] = []


class TapedCache:
    """A cache whose answers are recorded into, or replayed from, the machine's current tape."""

    def __init__(self, inner, deck: "TapeDeck"):
        self._inner = inner
        self._deck = deck

    def access(self, *args, **kwargs) -> np.ndarray:
        deck = self._deck
        if deck.replaying is not None:
            out = deck.replaying.answers[deck.pos]
            deck.pos += 1
            return out.copy()
        out = self._inner.access(*args, **kwargs)
        if deck.recording is not None:
            deck.recording.answers.append(out.copy())
        return out

    def __getattr__(self, name: str):
        return getattr(self._inner, name)


class TapeDeck:
    """Switches every taped cache of a machine between recording and replaying."""

    def __init__(self) -> None:
        self.recording: CacheTape | None = None
        self.replaying: CacheTape | None = None
        self.pos = 0

    def record(self) -> CacheTape:
        self.recording, self.replaying = CacheTape(), None
        return self.recording

    def replay(self, tape: CacheTape) -> None:
        self.recording, self.replaying, self.pos = None, tape, 0

    def stop(self) -> None:
        self.recording = self.replaying = None
