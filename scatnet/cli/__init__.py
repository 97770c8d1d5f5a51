"""Console entry points: scatnet-train, scatnet-report, scatnet-bench.

Before any of them imports torch: transparent huge pages for PyTorch's large CPU tensors (the setting
PyTorch's CPU performance tuning guide recommends; torch reads it once, at its first allocation). The CPU
paths here allocate many fresh multi-MB tensors, and page-faulting each one in 4 KiB pages cost the fast
DTCWT backward up to ~40% of its time at 256x256 on the 2-core box, little at 32x32 (docs/PERFORMANCE.md).
THP_MEM_ALLOC_ENABLE=0 turns it off.
"""
import os

os.environ.setdefault("THP_MEM_ALLOC_ENABLE", "1")
