"""numba kernels: the fp32 reference computations every simulated datapath is checked against."""
