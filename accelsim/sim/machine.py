"""The instantiated hardware of one run: CPU, host DRAM, links and accelerator engines of a SystemConfig."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from accelsim.config.system import SystemConfig
from accelsim.hw.cpu import Cpu
from accelsim.hw.dense_engine import DenseEngine
from accelsim.hw.dram import DramModel
from accelsim.hw.fpga_resources import ResourceReport, check_fits, resource_usage
from accelsim.hw.host_memory import counter_dict, make_dram
from accelsim.hw.link import AnalyticLinkSet, LinkSet, request_line_addresses, split_requests
from accelsim.hw.sparse_engine import SparseEngine
from accelsim.kernels.link_sim import request_ready_ns
from accelsim.sim.shared import Port, TapeDeck, TapedCache


@dataclass
class Machine:
    """The instantiated hardware of one run; caches keep their contents from batch to batch."""

    hw: SystemConfig
    fidelity: str
    cpu: Cpu = field(init=False)
    dram: DramModel = field(init=False)
    scratch_base_addr: int = 0
    sparse: SparseEngine | None = field(init=False, default=None)
    dense: DenseEngine | None = field(init=False, default=None)
    resources: ResourceReport | None = field(init=False, default=None)
    tapes: TapeDeck = field(init=False, default_factory=TapeDeck)
    _links: LinkSet | AnalyticLinkSet | None = field(init=False, default=None, repr=False)  # what new_links copies

    def __post_init__(self) -> None:
        hw = self.hw
        self.cpu = Cpu(hw.cpu)
        self.dram = make_dram(hw.dram, self.fidelity)
        acc = hw.accelerator
        if acc is not None:
            self.resources = resource_usage(acc)
            check_fits(self.resources, acc.device)
            if acc.sparse_engine is not None:
                self.sparse = SparseEngine(acc.sparse_engine, acc.clock_ghz, hw.link_cache)
            if acc.dense_engine is not None:
                self.dense = DenseEngine(acc.dense_engine, acc.clock_ghz)
        if self.fidelity == "detailed":
            # Re-timing a phase under overlap replays what the caches answered the first time (sim.shared).
            self.cpu.private = [TapedCache(c, self.tapes) for c in self.cpu.private]
            self.cpu.llc = TapedCache(self.cpu.llc, self.tapes)
            if self.sparse is not None:
                for name in ("link_cache", "hot_cache"):
                    if getattr(self.sparse, name) is not None:
                        setattr(self.sparse, name, TapedCache(getattr(self.sparse, name), self.tapes))

    def port(self) -> Port:
        """Host DRAM and the links with nothing else running."""
        return Port(self)

    def new_links(self):
        """Idle links of this run's fidelity."""
        if self._links is None:
            self._links = LinkSet(self.hw.links) if self.fidelity == "detailed" else AnalyticLinkSet(self.hw.links)
        return self._links.fresh()

    def bulk_transfer(self, nbytes: int, to_host: bool, port: Port) -> tuple[float, float, dict]:
        """(time, wire bits, DRAM counters) to copy `nbytes` between host DRAM and the accelerator.

        Activations, dense inputs and weights live in a buffer past the tables (`scratch_base_addr`); the exact
        place only matters for DRAM row locality.

        A copy to the device reads host DRAM and sends each request when its lines are in; a copy to the host
        sends the data and writes it to DRAM as it arrives. Requests are the largest every channel accepts.
        """
        if nbytes <= 0:
            return 0.0, 0.0, {}
        line = self.hw.links.channels[0].line_bytes
        allowed = set.intersection(*(set(ch.request_lines) for ch in self.hw.links.channels))
        first, lines = split_requests(self.scratch_base_addr + np.arange(math.ceil(nbytes / line), dtype=np.int64) * line,
                                      tuple(sorted(allowed)), line)
        line_addr, owner = request_line_addresses(first, lines, line)
        links = port.new_links()
        direction = np.full(first.size, int(to_host), dtype=np.int8)
        fabric = self.hw.cpu.memory_fabric_latency_ns / 2  # each way between the link port and the DRAM device
        if to_host:
            sent = links.transfer(np.zeros(first.size), lines * line, direction).completion_ns
            dram = port.dram.simulate(sent[owner] + fabric, line_addr, np.ones(owner.size, dtype=np.bool_))
            end = float(dram.completion_ns.max())
        else:
            dram = port.dram.simulate(np.full(owner.size, fabric), line_addr, np.zeros(owner.size, dtype=np.bool_))
            # each request's lines are consecutive (nbytes > 0: at least one request)
            ready = np.maximum(0.0, request_ready_ns(dram.completion_ns, np.cumsum(lines) - lines, fabric))
            end = float(links.transfer(ready, lines * line, direction).completion_ns.max())
        return end, float(links.counters.wire_bits.sum()), counter_dict(dram.counters)
