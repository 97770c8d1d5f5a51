"""CPU memory kept for reuse (scatnet/memory.py): what the CLIs set, what it changes, who reads it."""
from __future__ import annotations

import os
import platform
import subprocess
import sys

import pytest
import torch

glibc = pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="a glibc setting")

# Four 8 MB tensors alive at once, then all freed, as a transform's chunk does with its spectra; after two
# such chunks, the page faults of three more
_CHUNKS = """
import resource, sys, torch
import scatnet.memory as memory
if sys.argv[1] == "keep":
    memory.keep_freed_memory()
torch.set_num_threads(1)
def chunk():
    held = [torch.ones(2 << 20) for _ in range(4)]
    del held
chunk(); chunk()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(3):
    chunk()
print(memory.freed_memory_kept(), resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def _python(code: str, *args: str, **env: str) -> list[str]:
    env = {**os.environ, "THP_MEM_ALLOC_ENABLE": "0", **env}
    run = subprocess.run([sys.executable, "-c", code, *args], env=env, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    return run.stdout.split()


@glibc
def test_the_clis_keep_freed_memory_unless_told_not_to():
    code = "import scatnet.cli, scatnet.memory as m; print(m.freed_memory_kept())"
    assert _python(code) == ["True"]
    assert _python(code, SCATNET_KEEP_FREED_MEMORY="0") == ["False"]


@glibc
def test_kept_memory_is_reused_where_glibc_would_fault_it_in_again():
    """glibc's defaults trim the freed 32 MB and fault it in again for the next chunks (measured: 24k pages of
    4 KiB for three chunks, all of them); kept, a third of that or less while the heap settles."""
    kept, kept_faults = _python(_CHUNKS, "keep")
    default, default_faults = _python(_CHUNKS, "default")
    assert (kept, default) == ("True", "False")
    assert int(default_faults) >= 3 * (32 << 20) // os.sysconf("SC_PAGE_SIZE") * 0.9
    assert int(kept_faults) <= int(default_faults) * 0.4, (kept_faults, default_faults)


def test_the_fast_morlet_takes_larger_cpu_chunks_where_freed_memory_is_kept(monkeypatch):
    """Twice as many maps a chunk at 32 x 32 (40 at L=8), where their freed spectra are reused; 20 otherwise."""
    import scatnet.memory as memory
    from scatnet.frontends.fast_morlet import FastMorletScattering

    module, maps = FastMorletScattering(2, (32, 32), 8), torch.zeros(128, 40, 40)
    monkeypatch.setattr(memory, "_kept", True)
    assert module.chunking(maps) == (40, 8)
    monkeypatch.setattr(memory, "_kept", False)
    assert module.chunking(maps) == (20, 8)
