"""accelsim: recommendation-model inference on package-integrated CPU+accelerator systems."""

__version__ = "0.1.0"


def simulate(*args, **kwargs):
    """Simulate one configuration and return a Result (see accelsim.sim.api.simulate)."""
    from accelsim.sim.api import simulate as _simulate
    return _simulate(*args, **kwargs)


def serve(*args, **kwargs):
    """Serve a query stream and return a Result with per-query latency (see accelsim.sim.api.serve)."""
    from accelsim.sim.api import serve as _serve
    return _serve(*args, **kwargs)
