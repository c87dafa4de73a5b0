"""Hardware component models: caches, links, DRAM, engines."""
