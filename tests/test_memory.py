"""CPU memory kept for reuse (scatnet/memory.py): what the CLIs set and who reads it. What it changes is
measured, not tested (page faults depend on the heap's history; docs/PERFORMANCE.md)."""

from __future__ import annotations

import os
import platform
import subprocess
import sys

import pytest
import torch

glibc = pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="a glibc setting")


def _python(code: str, *args: str, **env: str) -> list[str]:
    env = {**os.environ, "THP_MEM_ALLOC_ENABLE": "0", **env}
    run = subprocess.run([sys.executable, "-c", code, *args], env=env, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    return run.stdout.split()


@glibc
def test_the_clis_keep_freed_memory_unless_told_not_to():
    code = (
        "from scatnet.cli.common import start_command; import scatnet.memory as m; start_command(); "
        "print(m.freed_memory_kept())"
    )
    assert _python(code) == ["True"]
    assert _python(code, SCATNET_KEEP_FREED_MEMORY="0") == ["False"]


def test_importing_the_commands_sets_nothing_their_start_sets_huge_pages():
    """Process-wide settings belong to a command's main(), not to an import (a library user's process)."""
    code = (
        "import os, scatnet.cli.train, scatnet.cli.bench, scatnet.memory as m; "
        "print(os.environ.get('THP_MEM_ALLOC_ENABLE', '-'), m.freed_memory_kept()); "
        "from scatnet.cli.common import start_command; start_command(); "
        "print(os.environ.get('THP_MEM_ALLOC_ENABLE'))"
    )
    env = {k: v for k, v in os.environ.items() if k != "THP_MEM_ALLOC_ENABLE"}
    run = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert run.stdout.split() == ["-", "False", "1"]


def test_the_fast_morlet_takes_larger_cpu_chunks_where_freed_memory_is_kept(monkeypatch):
    """Twice as many maps a chunk at 32 x 32 (40 at L=8), where their freed spectra are reused, and three times
    that where the loops run the wavelets' FFTs themselves (no chunk's spectra all written out); 20
    otherwise."""
    import scatnet.memory as memory
    from scatnet.frontends.fast_morlet import FastMorletScattering, native

    module, maps = FastMorletScattering(2, (32, 32), 8), torch.zeros(128, 40, 40)
    monkeypatch.setattr(memory, "_kept", True)
    assert module.chunking(maps) == ((122, 8) if native.fft_linked() else (40, 8))
    monkeypatch.setattr(native, "fft_linked", lambda: False)
    assert module.chunking(maps) == (40, 8)
    monkeypatch.setattr(memory, "_kept", False)
    assert module.chunking(maps) == (20, 8)
