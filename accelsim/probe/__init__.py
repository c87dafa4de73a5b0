"""Microbenchmarks that describe the machine in front of you: memory latency and parallelism, TLBs, GEMM
efficiency by shape, and the installed PyTorch's per-operator costs (`accelsim probe`)."""
