"""CPU-accelerator links: a detailed credit-limited FIFO model per channel, steering over channels, and an
analytic bandwidth-latency twin with the same transfer() interface.

Requests are issued by the accelerator. direction 0 is "to device" (a read: a header goes to the host and the
data plus a header come back); direction 1 is "to host" (a write: data plus a header go out, a header comes
back). Counter arrays are indexed [channel, wire direction] with the same 0 = to device, 1 = to host.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from accelsim.config.link import LinkConfig, LinksConfig
from accelsim.errors import InputError
from accelsim.kernels import link_sim as k


@dataclass(frozen=True)
class LinkCounters:
    """Traffic per channel: bytes and busy time per wire direction, requests per request direction."""

    names: tuple[str, ...]
    payload_bytes: np.ndarray  # [channel, wire direction]
    header_bytes: np.ndarray  # [channel, wire direction]
    requests: np.ndarray  # [channel, request direction]: reads, writes
    busy_ns: np.ndarray  # [channel, wire direction]: serialisation time
    queue_ns: np.ndarray  # [channel]: summed time beyond each request's isolated round trip

    @property
    def wire_bits(self) -> np.ndarray:
        """Bits on the wire per [channel, direction] (for energy per bit)."""
        return 8 * (self.payload_bytes + self.header_bytes)

    def __add__(self, other: "LinkCounters") -> "LinkCounters":
        return LinkCounters(self.names, self.payload_bytes + other.payload_bytes,
                            self.header_bytes + other.header_bytes, self.requests + other.requests,
                            self.busy_ns + other.busy_ns, self.queue_ns + other.queue_ns)


@dataclass(frozen=True)
class TransferResult:
    """Completion time and channel of each request (input order), and the traffic of this call."""

    completion_ns: np.ndarray
    channel: np.ndarray  # int16; -1 in the analytic model, whose traffic is spread over all channels
    counters: LinkCounters


def split_requests(lines_addr: np.ndarray, request_lines: tuple[int, ...], line_bytes: int
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Coalesce a stream of line addresses into requests: (first byte address, lines) per request.

    Consecutive lines merge into the largest allowed size whose run starts at an address aligned to that
    size (CCI-P multi-line requests must be naturally aligned); order is kept.
    """
    addr = np.asarray(lines_addr)
    if addr.ndim != 1 or not (addr.size == 0 or np.issubdtype(addr.dtype, np.integer)):
        raise InputError(f"lines_addr: expected a 1-D integer array, got {addr.dtype} with shape {addr.shape}")
    addr = addr.astype(np.int64, copy=False)
    misaligned = np.flatnonzero(addr % line_bytes)
    if misaligned.size:
        raise InputError(f"lines_addr[{misaligned[0]}] = {addr[misaligned[0]]} is not aligned to {line_bytes} B")
    if 1 not in request_lines:
        raise InputError(f"request_lines {tuple(request_lines)} must include 1")
    sizes = np.array(sorted(set(request_lines), reverse=True), dtype=np.int64)
    first, count = k.coalesce_lines(addr // line_bytes, sizes)
    return first * line_bytes, count


class _Channels:
    """Per-channel parameters as arrays, input validation and traffic counting shared by both fidelities."""

    def __init__(self, cfg: LinksConfig):
        ch = cfg.channels
        self.names = tuple(c.name for c in ch)
        self.header_bytes = np.array([c.header_bytes for c in ch], dtype=np.int64)
        self.ns_per_byte = np.array([1.0 / c.bandwidth_gbps for c in ch])  # 1 GB/s moves 1 byte per ns
        self.latency_ns = np.array([c.latency_ns for c in ch])
        self.coherent = np.array([c.coherent for c in ch], dtype=np.bool_)
        self.max_outstanding = np.array([c.max_outstanding for c in ch], dtype=np.int64)
        self.allowed_payload_bytes = np.array(cfg.shared_request_bytes, dtype=np.int64)

    def validate(self, issue_ns: np.ndarray, payload_bytes: np.ndarray, direction: np.ndarray
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        issue = np.asarray(issue_ns, dtype=np.float64)
        payload = np.asarray(payload_bytes)
        dirn = np.asarray(direction)
        if issue.ndim != 1:
            raise InputError(f"transfer: issue_ns: expected a 1-D array, got shape {issue.shape}")
        for what, arr in (("payload_bytes", payload), ("direction", dirn)):
            if arr.shape != issue.shape:
                raise InputError(f"transfer: {what}: expected {issue.size} values like issue_ns, got shape {arr.shape}")
            if arr.size and not np.issubdtype(arr.dtype, np.integer):
                raise InputError(f"transfer: {what}: expected integers, got {arr.dtype}")
        bad = np.flatnonzero(~np.isfinite(issue))
        if bad.size:
            raise InputError(f"transfer: issue_ns[{bad[0]}] = {issue[bad[0]]} is not a finite time")
        bad = np.flatnonzero((dirn != 0) & (dirn != 1))
        if bad.size:
            raise InputError(f"transfer: direction[{bad[0]}] = {dirn[bad[0]]}; expected 0 (to device) or 1 (to host)")
        allowed = np.zeros(payload.shape, dtype=np.bool_)
        for size in self.allowed_payload_bytes:  # a handful of sizes: cheaper than np.isin's sort
            allowed |= payload == size
        bad = np.flatnonzero(~allowed)
        if bad.size:
            raise InputError(f"transfer: payload_bytes[{bad[0]}] = {payload[bad[0]]} is not an allowed request size "
                             f"{tuple(int(b) for b in self.allowed_payload_bytes)}")
        return issue, payload.astype(np.int64), dirn.astype(np.bool_)

    def isolated_ns(self, payload: np.ndarray) -> np.ndarray:
        """[channel, request] round trip of each request alone on each channel (either direction)."""
        wire = payload[None, :] + 2 * self.header_bytes[:, None]
        return wire * self.ns_per_byte[:, None] + 2 * self.latency_ns[:, None]

    def count(self, share: np.ndarray, payload: np.ndarray, to_host: np.ndarray, queue_ns: np.ndarray
              ) -> LinkCounters:
        """Counters when `share[c, i]` of request i went over channel c (one-hot for the detailed model)."""
        data_dir = to_host.astype(np.int64)
        payload_bytes = np.stack([share @ (payload * (data_dir == d)) for d in (0, 1)], axis=1)
        requests = np.stack([share @ (data_dir == d).astype(np.float64) for d in (0, 1)], axis=1)
        header_bytes = (requests.sum(axis=1) * self.header_bytes)[:, None].repeat(2, axis=1)
        busy_ns = (payload_bytes + header_bytes) * self.ns_per_byte[:, None]
        return LinkCounters(self.names, payload_bytes, header_bytes, requests, busy_ns, share @ queue_ns)

    def zero_counters(self) -> LinkCounters:
        z = np.zeros((len(self.names), 2))
        return LinkCounters(self.names, z, z, z, z, np.zeros(len(self.names)))


def request_line_addresses(first_addr: np.ndarray, lines: np.ndarray, line_bytes: int
                           ) -> tuple[np.ndarray, np.ndarray]:
    """(address of every line, index of its request) of multi-line requests, the inverse of split_requests."""
    owner = np.repeat(np.arange(first_addr.size, dtype=np.int64), lines)
    within = np.arange(owner.size, dtype=np.int64) - np.repeat(np.cumsum(lines) - lines, lines)
    return first_addr[owner] + within * line_bytes, owner


class LinkSet:
    """Detailed model of all channels; queue and credit state persists across transfer() calls until reset()."""

    def __init__(self, cfg: LinksConfig, channels: _Channels | None = None):
        self.cfg = cfg
        self._ch = channels if channels is not None else _Channels(cfg)
        n_ch = len(cfg.channels)
        self._up_free = np.empty(n_ch)
        self._down_free = np.empty(n_ch)
        self._credit_ring = np.empty((n_ch, int(self._ch.max_outstanding.max())))
        self._credit_head = np.empty(n_ch, dtype=np.int64)
        self._rr_next = np.empty(1, dtype=np.int64)
        self._assigned_bytes = np.empty(n_ch)
        self.reset()

    def fresh(self) -> "LinkSet":
        """Idle links of the same channels (their parameter tables shared, not rebuilt)."""
        return LinkSet(self.cfg, self._ch)

    def reset(self) -> None:
        """Idle links, all credits free, counters zero."""
        self._up_free.fill(-np.inf)
        self._down_free.fill(-np.inf)
        self._credit_ring.fill(-np.inf)
        self._credit_head.fill(0)
        self._rr_next.fill(0)
        self._assigned_bytes.fill(0.0)
        self.counters = self._ch.zero_counters()

    def transfer(self, issue_ns: np.ndarray, payload_bytes: np.ndarray, direction: np.ndarray) -> TransferResult:
        """Time requests (served in issue order, ties in input order) and count their traffic."""
        issue, payload, to_host = self._ch.validate(issue_ns, payload_bytes, direction)
        n = issue.size
        completion = np.empty(n)
        channel = np.empty(n, dtype=np.int16)
        k.transfer_requests(np.argsort(issue, kind="stable"), issue, payload, to_host,
                            k.STEERING_CODES[self.cfg.steering], self._ch.header_bytes, self._ch.ns_per_byte,
                            self._ch.latency_ns, self._ch.coherent, self._ch.max_outstanding, self._up_free,
                            self._down_free, self._credit_ring, self._credit_head, self._rr_next,
                            self._assigned_bytes, completion, channel)
        share = np.zeros((len(self._ch.names), n))
        share[channel, np.arange(n)] = 1.0
        alone = self._ch.isolated_ns(payload)[channel, np.arange(n)]
        counters = self._ch.count(share, payload, to_host, completion - issue - alone)
        self.counters = self.counters + counters
        return TransferResult(completion, channel, counters)


class Link(LinkSet):
    """A single channel."""

    def __init__(self, cfg: LinkConfig):
        super().__init__(LinksConfig(channels=(cfg,)))


class AnalyticLinkSet:
    """Bandwidth-latency bound of a call's requests over all channels, treated as one fluid pipe.

    Request k (in issue order, from the call's first issue t0) completes no earlier than the largest of:
    its own isolated round trip on the fastest channel; t0 plus the outbound bytes of requests 0..k at the
    summed bandwidth, plus two latencies; t0 plus the first outbound header, a latency, the return bytes of
    0..k at the summed bandwidth and a latency; and, by Little's law with all credits busy,
    t0 + ceil((k + 1) / credits) x the shortest round trip. On one channel each completion is a lower bound
    on the detailed one. Over several channels a fifth term is the steering policy's steady state at the
    call's mean offered rate (`steady_round_trip_ns`): a policy that sends each request where it completes
    earliest (least_loaded, coherent_first) fills the faster channels until their queues make them as late as
    the slowest channel it needs, so every request then sees that channel's round trip; a policy that splits
    by bandwidth or in turn (bandwidth_weighted, round_robin) gives each request its channel's round trip,
    the share-weighted mean in the fluid. No state carries across calls.
    """

    def __init__(self, cfg: LinksConfig, channels: _Channels | None = None):
        self.cfg = cfg
        self._ch = channels if channels is not None else _Channels(cfg)
        self.reset()

    def fresh(self) -> "AnalyticLinkSet":
        """The same channels with zero counters (their parameter tables shared, not rebuilt)."""
        return AnalyticLinkSet(self.cfg, self._ch)

    def reset(self) -> None:
        """Zero the counters."""
        self.counters = self._ch.zero_counters()

    def transfer(self, issue_ns: np.ndarray, payload_bytes: np.ndarray, direction: np.ndarray) -> TransferResult:
        """Lower-bound completion times; traffic is split over channels in proportion to bandwidth."""
        issue, payload, to_host = self._ch.validate(issue_ns, payload_bytes, direction)
        bound = _CallBound(self, payload, to_host)
        completion = bound(issue)
        n = issue.size
        bw_share = (1.0 / self._ch.ns_per_byte) / (1.0 / self._ch.ns_per_byte).sum()
        counters = self._ch.count(np.repeat(bw_share[:, None], n, axis=1), payload, to_host,
                                  completion - issue - bound.alone)
        self.counters = self.counters + counters
        return TransferResult(completion, np.full(n, -1, dtype=np.int16), counters)

    def timer(self, payload_bytes: np.ndarray, direction: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
        """issue_ns -> completion_ns of these requests, as `transfer` times them but without counting (what a
        closed loop's passes need: the requests are checked and their issue-independent terms built once)."""
        _, payload, to_host = self._ch.validate(np.zeros(np.shape(payload_bytes)), payload_bytes, direction)
        bound = _CallBound(self, payload, to_host)

        def completion_ns(issue_ns: np.ndarray) -> np.ndarray:
            issue = np.asarray(issue_ns, dtype=np.float64)
            if issue.shape != payload.shape or not np.isfinite(issue).all():
                self._ch.validate(issue, payload, to_host.astype(np.int8))  # raises, naming the bad one
            return bound(issue)
        return completion_ns

    def _fixed_share(self) -> np.ndarray | None:
        """Fraction of the requests each channel gets under a load-blind policy; None if steered by load."""
        bw = 1.0 / self._ch.ns_per_byte
        if self.cfg.steering == "round_robin":
            return np.full(bw.size, 1.0 / bw.size)
        if self.cfg.steering == "bandwidth_weighted":
            return bw / bw.sum()
        return None

    def steady_round_trip_ns(self, issue_ns: np.ndarray, payload_bytes: np.ndarray, to_host: np.ndarray) -> float:
        """Round trip of a mean request of the call in the steering policy's steady state at the call's rate.

        The rate is the call's wire bytes per direction over its issue span plus the fastest round trip (a
        call of one request is not a stream). Each channel carries at most min(bandwidth, credits x mean wire
        bytes / round trip), Little's law on its credits.
        """
        return _SteadyState(self, np.asarray(payload_bytes), np.asarray(to_host))(np.asarray(issue_ns))


class _SteadyState:
    """steady_round_trip_ns of one call's requests at any issue times: what does not depend on them, built once."""

    def __init__(self, links: AnalyticLinkSet, payload_bytes: np.ndarray, to_host: np.ndarray):
        ch = links._ch
        self.fixed: float | None = 0.0  # the answer when it does not depend on the issue times
        if len(ch.names) < 2 or payload_bytes.size == 0:
            return
        mean_payload = float(payload_bytes.mean())
        rtt = ch.isolated_ns(np.array([mean_payload]))[:, 0]
        share = links._fixed_share()
        if share is not None:
            self.fixed = float(share @ rtt)
            return
        self.fixed = None
        self.rtt_min = float(rtt.min())
        wire = ch.header_bytes.min() + mean_payload
        self.wire_bytes = max(float(to_host.mean()), float(1 - to_host.mean())) * payload_bytes.size * wire
        cap = np.minimum(1.0 / ch.ns_per_byte, ch.max_outstanding * wire / rtt)
        by_rtt = np.argsort(rtt, kind="stable")
        self.cum_cap = np.cumsum(cap[by_rtt])
        self.rtt_by_need = rtt[by_rtt]

    def __call__(self, issue_ns: np.ndarray) -> float:
        if self.fixed is not None:
            return self.fixed
        span = float(issue_ns.max() - issue_ns.min()) + self.rtt_min
        need = int(np.searchsorted(self.cum_cap, self.wire_bytes / span))
        return float(self.rtt_by_need[min(need, self.rtt_by_need.size - 1)])


class _CallBound:
    """AnalyticLinkSet's completion bound of one call's requests (payloads and directions fixed) at any issue
    times: the issue-independent terms built once, the bound itself one kernel pass."""

    def __init__(self, links: AnalyticLinkSet, payload: np.ndarray, to_host: np.ndarray):
        ch = links._ch
        self.alone = ch.isolated_ns(payload).min(axis=0)
        hdr = ch.header_bytes.min()
        self.fwd = hdr + payload * to_host
        self.ret = hdr + payload * ~to_host
        share = links._fixed_share()
        # A policy that fixes each channel's share saturates when its first channel does.
        self.pipe_ns_per_byte = 1.0 / ((1.0 / ch.ns_per_byte).sum() if share is None
                                       else (1.0 / ch.ns_per_byte / share).min())
        self.two_latency_ns = 2 * ch.latency_ns.min()
        if payload.size:
            self.fwd_head_ns = self.fwd.min() * ch.ns_per_byte.min()
            self.ret_tail_ns = self.ret.min() * ch.ns_per_byte.min()
            self.alone_min_ns = self.alone.min()
        self.credits = int(ch.max_outstanding.sum())
        self.steady = _SteadyState(links, payload, to_host)

    def __call__(self, issue: np.ndarray) -> np.ndarray:
        if issue.size == 0:
            return np.empty(0)
        return k.fluid_bound_ns(np.argsort(issue, kind="stable"), issue, self.alone, self.fwd, self.ret,
                                self.steady(issue), self.pipe_ns_per_byte, self.two_latency_ns, self.fwd_head_ns,
                                self.ret_tail_ns, self.credits, self.alone_min_ns)


class AnalyticLink(AnalyticLinkSet):
    """Analytic bound of a single channel."""

    def __init__(self, cfg: LinkConfig):
        super().__init__(LinksConfig(channels=(cfg,)))
