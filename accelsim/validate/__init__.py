"""`accelsim validate`: real PyTorch timings on this machine against the CPU model's predictions of the same work.

Nothing here feeds a model parameter: the probes (accelsim.probe) describe the machine, this package only
compares. tests/probe checks that the probes never import or read it.
"""
