"""The machine a measurement was made on, recorded with every bench result and printed in its header: a
speed ratio belongs to a CPU (its vendor, model and the kernels PyTorch runs there) and a GPU (its name and
driver), not to scatnet alone."""

from __future__ import annotations

import os
import platform
import shutil
import subprocess

import torch


def _cpuinfo() -> dict[str, str]:
    """The first processor's fields of /proc/cpuinfo (Linux); empty elsewhere."""
    fields: dict[str, str] = {}
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if not line.strip():
                    break
                key, _, value = line.partition(":")
                fields[key.strip()] = value.strip()
    except OSError:
        pass
    return fields


def _gpu_driver() -> str | None:
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return None
    try:
        out = subprocess.run(
            [smi, "--query-gpu=driver_version", "--format=csv,noheader"], capture_output=True, text=True, timeout=30
        ).stdout.split()
    except (OSError, subprocess.SubprocessError):
        return None
    return out[0] if out else None


def describe(cuda: bool) -> dict:
    """CPU model, vendor, the instruction set PyTorch's CPU kernels run with (ATEN_CPU_CAPABILITY may lower
    it), core count; and with ``cuda`` the GPU's name, memory and driver."""
    info = _cpuinfo()
    machine = {
        "cpu_model": info.get("model name") or platform.processor() or platform.machine(),
        "cpu_vendor": info.get("vendor_id") or platform.machine(),
        "cpu_isa": torch.backends.cpu.get_cpu_capability(),
        "cpu_cores": os.cpu_count(),
        "os": f"{platform.system()} {platform.release()}",
    }
    if cuda and torch.cuda.is_available():
        props = torch.cuda.get_device_properties(0)
        machine.update(gpu=props.name, gpu_memory_gib=round(props.total_memory / 2**30, 1), gpu_driver=_gpu_driver())
    return machine


def one_line(machine: dict) -> str:
    """e.g. 'Intel(R) Xeon(R) Processor (GenuineIntel, AVX512, 2 cores); NVIDIA H100 80GB HBM3 (driver 550.54)'."""
    line = f"{machine['cpu_model']} ({machine['cpu_vendor']}, {machine['cpu_isa']}, {machine['cpu_cores']} cores)"
    if machine.get("gpu"):
        line += f"; {machine['gpu']} ({machine['gpu_memory_gib']} GiB, driver {machine.get('gpu_driver') or '?'})"
    return line
