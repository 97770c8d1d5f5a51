"""Console entry points: scatnet-train, scatnet-report, scatnet-bench.

Before any of them imports torch, two settings for CPU memory, both what PyTorch's CPU performance tuning
guide recommends, because the CPU paths here allocate many fresh multi-MB tensors:

- transparent huge pages for PyTorch's large CPU tensors (torch reads the variable once, at its first
  allocation): page-faulting each one in 4 KiB pages cost the fast DTCWT backward up to ~40% of its time at
  256x256 on the 2-core box, little at 32x32 (docs/PERFORMANCE.md). THP_MEM_ALLOC_ENABLE=0 turns it off.
- freed memory kept for reuse (scatnet/memory.py). SCATNET_KEEP_FREED_MEMORY=0 turns it off.
"""

import os

os.environ.setdefault("THP_MEM_ALLOC_ENABLE", "1")

from scatnet.memory import keep_freed_memory  # noqa: E402  (after the variable above, before torch)

keep_freed_memory()
