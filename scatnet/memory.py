"""CPU memory for the many fresh multi-MB tensors of scatnet's CPU paths: glibc told to keep freed blocks.

PyTorch's CPU performance tuning guide recommends an allocator that reuses freed memory (it names jemalloc and
TCMalloc). glibc's defaults hand a freed multi-MB block back to the system depending on the heap's history,
and the next tensor of that size is then page-faulted in anew: the fast Morlet's forward at 128x3x32x32 took
twice as long in some otherwise identical processes as in others, with a thousand times the page faults
(docs/PERFORMANCE.md). ``keep_freed_memory``
asks glibc (mallopt) to serve blocks up to 32 MiB from its heap and not to trim it, so freed pages are
reused; the process then holds its peak heap. The CLIs call it at start (SCATNET_KEEP_FREED_MEMORY=0 opts
out); a script can call it too. The fast Morlet sizes its CPU chunks by whether it was done
(fast_morlet/scattering.py), since larger chunks pay only when their freed spectra are reused.
"""

from __future__ import annotations

import ctypes
import os
import platform

# glibc's mallopt parameters (malloc.h); 32 MiB is the largest mmap threshold it accepts on 64-bit
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
_MMAP_THRESHOLD_MAX = 32 << 20
_TRIM_THRESHOLD = 1 << 30

_kept = False


def keep_freed_memory() -> bool:
    """Tell glibc to serve blocks up to 32 MiB from its heap and to keep what is freed there (no trimming under
    1 GiB). Whether it is in effect: not on another C library, nor with SCATNET_KEEP_FREED_MEMORY=0."""
    global _kept
    if _kept or os.environ.get("SCATNET_KEEP_FREED_MEMORY", "1") == "0" or platform.libc_ver()[0] != "glibc":
        return _kept
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return False
    _kept = bool(
        libc.mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD_MAX) and libc.mallopt(_M_TRIM_THRESHOLD, _TRIM_THRESHOLD)
    )
    return _kept


def freed_memory_kept() -> bool:
    """Whether ``keep_freed_memory`` is in effect in this process."""
    return _kept


def process_settings() -> None:
    """What each command sets for its whole process, first thing in its main(), both what PyTorch's CPU
    performance tuning guide recommends for many fresh multi-MB tensors: transparent huge pages for PyTorch's
    large CPU tensors (torch reads THP_MEM_ALLOC_ENABLE at its first large allocation; =0 turns it off), and
    freed memory kept for reuse (keep_freed_memory; SCATNET_KEEP_FREED_MEMORY=0 turns it off). Importing
    scatnet sets nothing; a script may call this too."""
    os.environ.setdefault("THP_MEM_ALLOC_ENABLE", "1")
    keep_freed_memory()
