"""System simulation: stage mapping, per-stage timing, and the SimPy pipeline that overlaps batches."""
