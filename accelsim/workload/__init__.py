"""Embedding-lookup workloads: the on-disk trace format, synthetic generators, importers and statistics."""
