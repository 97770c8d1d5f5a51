"""Fused CPU loops for the fast Morlet scattering's elementwise steps (kernels.c): the filtering with its
periodisation (also of two real maps' spectra from one FFT, separated on the way), its adjoint, the modulus
and the modulus' adjoint, each one pass over memory where eager PyTorch takes 3-4 (written by hand because
PyTorch has no such kernels, and inductor's fused loops for the filtering were slower than eager;
docs/PERFORMANCE.md). Where PyTorch links MKL, the wavelets' filterings, inverse FFTs and moduli run
together, a map at a time in a core's cache (``wavelet_modulus``, also the backward's adjoint, and
``first_order``), with MKL's FFTs called from the loops (PyTorch's own copy of MKL, whose
functions its CPU library exports; torch.fft can only transform a batch written out whole).

The C file is compiled once per machine and version, at first use, with the system C compiler (``$CC``, else
``cc``) for this machine's CPU, and linked to the OpenMP runtime PyTorch has loaded, so that both share one
thread pool. The library is kept in a cache folder (``SCATNET_CACHE_DIR``, else ``$XDG_CACHE_HOME/scatnet``
or ``~/.cache/scatnet``) under a key of the source, the flags, the compiler, the CPU and the OpenMP runtime;
every later process (a DDP rank, a study's run) loads it. A file lock makes simultaneous first builds build
once; each build appends a line to ``build.log`` beside it. Where it cannot be built (no compiler, not
Linux, ``SCATNET_NATIVE=0``) the eager PyTorch steps run instead: the same results, one warning line.

Every call checks its tensors (CPU, contiguous, the precision's dtypes, the shapes the sizes imply) before a
pointer is passed, and a loop that fails (no memory, no FFT descriptor) returns a status that becomes a
Python error. Only used on a CPU, outside torch.compile and autograd (the fast Morlet's backward is written
by hand and calls them itself).
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import logging
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from scatnet.errors import ScatnetError

SOURCE = Path(__file__).with_name("kernels.c")
FLAGS = ["-O3", "-march=native", "-fno-math-errno", "-fPIC"]
_SUFFIX = {torch.complex64: "f32", torch.complex128: "f64"}
_REAL = {torch.complex64: torch.float32, torch.complex128: torch.float64}
_PRECISION = {**_SUFFIX, **{real: _SUFFIX[c] for c, real in _REAL.items()}}  # a kernel's by its first tensor
# each kernel's (tensor pointers, sizes) before its thread count, as kernels.c declares them
_SIGNATURES = {
    "filtered": (3, 6),
    "filtered_pairs": (3, 6),
    "filtered_adjoint": (3, 6),
    "modulus": (2, 1),
    "modulus_pairs": (2, 2),
    "times_phase": (2, 1),
    "lowpass_band": (4, 8),
    "wavelet_modulus": (4, 6),
    "first_order": (4, 5),
}
# what a loop returns (kernels.c's enum): 0 done, else why it stopped
_FAILURES = {1: "MKL made no FFT descriptor", 2: "no memory was left for its buffers"}
# MKL's DFT entry points, in set_dfti's order, as PyTorch's CPU library exports them where it links MKL
_DFTI = (
    "DftiCreateDescriptor_s_md",
    "DftiCreateDescriptor_d_md",
    "DftiSetValue",
    "DftiCommitDescriptor",
    "DftiComputeForward",
    "DftiComputeBackward",
    "DftiFreeDescriptor",
)
# The filterings go a band of output rows at a time, every spectrum and filter for it; a band's filter rows
# (every alias block and angle) are kept near this size so that they stay in a core's cache across spectra.
FILTER_BAND_BYTES = 64 << 10
log = logging.getLogger(__name__)


class LoopError(ScatnetError, RuntimeError):
    """A fused loop could not run (no memory, no FFT descriptor) or was handed tensors it cannot take."""


def applies(*tensors: torch.Tensor) -> bool:
    """Whether the fused loops run for these operands: complex spectra and real filters or maps of the same
    precision, on a CPU, in eager mode without autograd, and the loops could be built here."""
    spectra = tensors[0]
    if spectra.dtype not in _SUFFIX or not runs_on(*tensors):
        return False
    real = _REAL[spectra.dtype]
    return all(t.dtype == real or t.dtype == spectra.dtype for t in tensors[1:])


def runs_on(*tensors: torch.Tensor) -> bool:
    """Whether the loops run here at all: CPU tensors, eager mode, no autograd, the loops built."""
    if torch.compiler.is_compiling() or any(t.device.type != "cpu" for t in tensors):
        return False
    if torch.is_grad_enabled() and any(t.requires_grad for t in tensors):
        return False
    return library() is not None


def fuses_fft(*tensors: torch.Tensor, tasks: int) -> bool:
    """Whether the loops that run MKL's FFTs themselves run for these operands: ``applies``, ``fft_linked``,
    and the loop has at least a task per thread (``tasks``: the maps or (map, filter) pieces it shares out,
    each an FFT on one thread; with fewer, the batched steps keep every thread busy)."""
    return applies(*tensors) and fft_linked() and tasks >= torch.get_num_threads()


def fft_linked() -> bool:
    """Whether the loops were handed MKL's FFTs: where PyTorch links MKL and exports them (its x86 builds)."""
    lib = library()
    return lib is not None and lib.dfti


def wavelet_modulus(
    u: torch.Tensor, psi_blocks: torch.Tensor, k: int, pairs: bool = False, g: torch.Tensor | None = None
) -> torch.Tensor:
    """|ifft2(filtered(u, psi_blocks, k))| (``pairs``: of filtered_pairs), each map's filterings, inverse
    FFTs and moduli in one pass over a buffer in cache: (..., M, N) spectra -> real (..., L, M/k, N/k), with
    ``pairs`` (..., P, M, N) -> (..., 2P, L, M/k, N/k). With ``g`` (that shape), the adjoint at u for the
    gradient g of that: filtered_adjoint(fft2(g z / |z|)), z the wavelets recomputed the same way; complex
    (..., M, N), or (..., 2P, M, N): the gradient w.r.t. each map's own spectrum."""
    *lead, m, n = u.shape
    u, psi_blocks = u.contiguous(), psi_blocks.contiguous()
    _check_bank(psi_blocks, k, m, n)
    if pairs:
        lead[-1] *= 2
    if g is None:
        out = torch.empty(*lead, psi_blocks.shape[1], m // k, n // k, dtype=_REAL[u.dtype])
    else:
        _require(tuple(g.shape) == (*lead, psi_blocks.shape[1], m // k, n // k), "g", g)
        g, out = g.contiguous(), u.new_empty(*lead, m, n)
    _call("wavelet_modulus", u, psi_blocks, g, out, u.numel() // (m * n), psi_blocks.shape[1], k, m, n, int(pairs))
    return out


def first_order(u: torch.Tensor, psi_blocks: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """ops.first_order of the wavelets of u (an even number L of filters), from the spectra: (..., M, N) ->
    the moduli as pairs (modulus_pairs' layout) and their fft2, both complex (..., L / 2, M/k, N/k), with no
    wavelet written out."""
    *lead, m, n = u.shape
    u, psi_blocks = u.contiguous(), psi_blocks.contiguous()
    _check_bank(psi_blocks, k, m, n)
    _require(psi_blocks.shape[1] % 2 == 0, "an even number of filters", psi_blocks)
    maps = u.new_empty(*lead, psi_blocks.shape[1] // 2, m // k, n // k)
    spectra = torch.empty_like(maps)
    _call("first_order", u, psi_blocks, maps, spectra, u.numel() // (m * n), psi_blocks.shape[1], k, m, n)
    return maps, spectra


def filtered(u: torch.Tensor, psi_blocks: torch.Tensor, k: int, pairs: bool = False) -> torch.Tensor:
    """ops.filtered: (..., M, N) spectra, (k*k, L, D) filter blocks -> (..., L, M/k, N/k); with ``pairs``,
    ops.filtered_pairs: (..., P, M, N) spectra of map pairs -> (..., 2P, L, M/k, N/k)."""
    *lead, m, n = u.shape
    u, psi_blocks = u.contiguous(), psi_blocks.contiguous()
    _check_bank(psi_blocks, k, m, n)
    if pairs:
        lead[-1] *= 2
    out = u.new_empty(*lead, psi_blocks.shape[1], m // k, n // k)
    _call(
        "filtered_pairs" if pairs else "filtered",
        u,
        psi_blocks,
        out,
        u.numel() // (m * n),
        psi_blocks.shape[1],
        k,
        m,
        n,
        _band_rows(psi_blocks, m // k),
    )
    return out


def filtered_adjoint(g: torch.Tensor, psi_blocks: torch.Tensor, k: int) -> torch.Tensor:
    """ops.filtered_adjoint: (..., L, M/k, N/k) -> (..., M, N)."""
    *lead, filters, mk, nk = g.shape
    g, psi_blocks = g.contiguous(), psi_blocks.contiguous()
    _check_bank(psi_blocks, k, mk * k, nk * k)
    _require(psi_blocks.shape[1] == filters, "one gradient map a filter", g)
    out = g.new_empty(*lead, mk * k, nk * k)
    _call(
        "filtered_adjoint",
        g,
        psi_blocks,
        out,
        g.numel() // (filters * mk * nk),
        filters,
        k,
        mk,
        nk,
        _band_rows(psi_blocks, mk),
    )
    return out


def modulus(z: torch.Tensor) -> torch.Tensor:
    """|z| of complex z, a new real tensor."""
    z = z.contiguous()
    out = torch.empty(z.shape, dtype=_REAL[z.dtype])
    _call("modulus", z, out, z.numel())
    return out


def modulus_pairs(z: torch.Tensor) -> torch.Tensor:
    """|z| of complex z (..., 2P, M, N), maps 2i and 2i+1 as the real and imaginary parts of one complex map:
    (..., P, M, N), what ops.pair_spectra transforms, without the copy that pairs real maps."""
    *lead, maps, m, n = z.shape
    _require(maps % 2 == 0, "an even number of maps", z)
    z = z.contiguous()
    out = torch.empty(*lead, maps // 2, m, n, 2, dtype=_REAL[z.dtype])
    _call("modulus_pairs", z, out, z.numel() // (2 * m * n), m * n)
    return torch.view_as_complex(out)


def times_phase_(z: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    """z *= g / m in place (z complex and contiguous, g and m real of z's shape)."""
    _require(z.is_contiguous() and g.shape == z.shape, "z contiguous and g of its shape", g)
    _call("times_phase", z, g.contiguous(), z.numel())
    return z


def lowpass_band(
    maps: torch.Tensor, a: torch.Tensor, b: torch.Tensor, k: int, size: tuple[int, int], out: torch.Tensor | None = None
) -> torch.Tensor:
    """ops.lowpass_band: real (..., M, N) maps -> (..., P, Q) = ``size``, with 2R+1 column taps ``a`` and row
    taps ``b``; or complex maps (..., L, M, N) holding two real maps each (modulus_pairs) -> (..., 2L, P, Q).
    Into ``out`` if given (contiguous, of that shape)."""
    *lead, m, n = maps.shape
    ch = 2 if maps.is_complex() else 1
    lead[-1] *= ch
    x, a, b = (torch.view_as_real(maps) if ch == 2 else maps).contiguous(), a.contiguous(), b.contiguous()
    result = x.new_empty(*lead, *size) if out is None else out
    _require(
        result.is_contiguous() and result.shape == (*lead, *size), f"out contiguous of shape {(*lead, *size)}", result
    )
    _require(
        a.numel() == b.numel() and a.numel() % 2 == 1 and (a.numel() - 1) // 2 < min(m, n),
        "2R+1 taps each way, R below the map's sides",
        a,
    )
    _require(all(0 < k * (s + 1) <= side for s, side in zip(size, (m, n))), "an output within the maps", maps)
    _call(
        "lowpass_band", x, a, b, result, result.numel() // (size[0] * size[1]), m, n, k, (a.numel() - 1) // 2, *size, ch
    )
    return result


def _band_rows(psi_blocks: torch.Tensor, rows: int) -> int:
    """How many of a filter bank's ``rows`` (output rows) make one band of about FILTER_BAND_BYTES."""
    return max(1, min(rows, FILTER_BAND_BYTES * rows // (psi_blocks.numel() * psi_blocks.element_size())))


def _require(ok: bool, what: str, tensor: torch.Tensor) -> None:
    if not ok:
        raise LoopError(f"scatnet's fused CPU loops need {what}; got a tensor of shape {tuple(tensor.shape)}")


def _check_bank(psi_blocks: torch.Tensor, k: int, m: int, n: int) -> None:
    """A filter bank's k x k alias blocks of (m/k) x (n/k) values each, for m x n spectra."""
    _require(
        k >= 1
        and m % k == 0
        and n % k == 0
        and psi_blocks.dim() == 3
        and psi_blocks.shape[0] == k * k
        and psi_blocks.shape[2] == (m // k) * (n // k),
        f"a filter bank of shape ({k * k}, L, {(m // k) * (n // k)}) for {m} x {n} spectra",
        psi_blocks,
    )


def _call(name: str, *args) -> None:
    """The kernel for the first tensor's precision, with the tensors as pointers and PyTorch's thread count
    (ctypes releases the GIL during the call), once every tensor is checked: on the CPU, contiguous, of the
    precision's real or complex dtype (the shapes are the wrappers' checks)."""
    tensors = [a for a in args if isinstance(a, torch.Tensor)]
    precision = _PRECISION.get(tensors[0].dtype)
    for t in tensors:
        _require(
            t.device.type == "cpu" and t.is_contiguous() and _PRECISION.get(t.dtype) == precision,
            f"contiguous CPU tensors of one precision (float32/complex64 or float64/complex128), not "
            f"{t.dtype} on {t.device}",
            t,
        )
    status = getattr(library(), f"{name}_{precision}")(
        *[a.data_ptr() if isinstance(a, torch.Tensor) else a for a in args], torch.get_num_threads()
    )
    if status:
        reason = " and ".join(why for bit, why in _FAILURES.items() if status & bit) or f"status {status}"
        raise LoopError(
            f"scatnet's fused CPU loop {name} stopped: {reason}; SCATNET_NATIVE=0 runs the eager PyTorch steps instead"
        )


def cache_dir() -> Path:
    """Where built loops are kept: SCATNET_CACHE_DIR, else the user's cache folder."""
    root = os.environ.get("SCATNET_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"), "scatnet"
    )
    return Path(root) / "kernels"


def _build_key(compiler: str, openmp: str | None) -> str:
    """What the library depends on: the source, the flags, the compiler, the CPU (-march=native), the OpenMP
    runtime it links, and this Python's platform."""
    cpu = platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu += "".join(sorted({line for line in f if line.startswith(("model name", "flags"))}))
    except OSError:
        pass
    try:
        compiler_id = subprocess.run([compiler, "--version"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        compiler_id = ""
    parts = [
        SOURCE.read_bytes().decode(),
        " ".join(FLAGS),
        compiler,
        compiler_id,
        cpu,
        openmp or "serial",
        sys.platform,
    ]
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:16]


def _compile(compiler: str, openmp: str | None, target: Path) -> None:
    """Builds the library into ``target`` (a temporary name first, then renamed: no half-written file)."""
    with tempfile.TemporaryDirectory(prefix="scatnet-kernels-", dir=target.parent) as tmp:
        obj, lib = os.path.join(tmp, "kernels.o"), os.path.join(tmp, "kernels.so")
        compile_ = [compiler, *FLAGS, *(["-fopenmp"] if openmp else []), "-c", str(SOURCE), "-o", obj]
        link = [compiler, "-shared", obj, *([openmp] if openmp else []), "-o", lib]
        for cmd in (compile_, link):
            subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=300)
        os.replace(lib, target)


def _built_library(compiler: str, openmp: str | None) -> Path:
    """The cached library for this machine, built first where it is not there yet (under a file lock, so two
    processes starting at once build it once)."""
    from filelock import FileLock

    folder = cache_dir() / _build_key(compiler, openmp)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        writable = os.access(folder, os.W_OK)
    except OSError:
        writable = False
    if not writable:  # a read-only home (some cluster nodes): this process builds its own copy
        folder = Path(tempfile.mkdtemp(prefix="scatnet-kernels-"))
    target = folder / "kernels.so"
    with FileLock(str(folder / ".build.lock"), timeout=600):
        if not target.exists():
            start = time.perf_counter()
            _compile(compiler, openmp, target)
            with open(folder / "build.log", "a") as f:
                f.write(f"built in {time.perf_counter() - start:.2f} s by pid {os.getpid()} with {compiler}\n")
    return target


@functools.lru_cache(maxsize=None)
def library() -> ctypes.CDLL | None:
    """The compiled loops, or None (with one warning) where they cannot be built; loaded once per process."""
    if os.environ.get("SCATNET_NATIVE", "1") == "0":
        return None
    compiler = shutil.which(os.environ.get("CC") or "cc") or (None if os.environ.get("CC") else shutil.which("gcc"))
    if not sys.platform.startswith("linux") or compiler is None:
        log.warning("scatnet: no C compiler (or not Linux); the fast Morlet uses its eager PyTorch steps")
        return None
    openmp = _openmp_runtime()
    try:
        handle = ctypes.CDLL(str(_built_library(compiler, openmp)))
    except (OSError, subprocess.SubprocessError, TimeoutError) as err:
        detail = (getattr(err, "stderr", None) or str(err)).strip().splitlines() or [type(err).__name__]
        log.warning(
            "scatnet: could not build the fused CPU loops (%s); the fast Morlet uses its eager PyTorch steps",
            detail[-1],
        )
        return None
    for suffix in _SUFFIX.values():
        for name, (pointers, sizes) in _SIGNATURES.items():
            fn = getattr(handle, f"{name}_{suffix}")
            fn.argtypes = [ctypes.c_void_p] * pointers + [ctypes.c_long] * sizes + [ctypes.c_int]  # + threads
            fn.restype = ctypes.c_int
    handle.dfti = _link_dfti(handle)
    return handle


def _link_dfti(handle: ctypes.CDLL) -> bool:
    """Hands the loops MKL's DFT functions from PyTorch's CPU library, where it exports them; whether it did
    (elsewhere the wavelets' FFTs stay torch.fft calls)."""
    try:
        torch_cpu = ctypes.CDLL(str(Path(torch.__file__).parent / "lib" / "libtorch_cpu.so"))
        functions = [ctypes.cast(getattr(torch_cpu, name), ctypes.c_void_p) for name in _DFTI]
    except (OSError, AttributeError):
        return False
    handle.set_dfti.argtypes = [ctypes.c_void_p] * len(_DFTI)
    handle.set_dfti.restype = None
    handle.set_dfti(*functions)
    return True


def _openmp_runtime() -> str | None:
    """The OpenMP library this process has loaded (PyTorch's libgomp, or an Intel / LLVM one, all of which
    serve gcc's OpenMP calls), so the loops use PyTorch's threads rather than a second pool; None: serial."""
    try:
        with open("/proc/self/maps") as maps:
            paths = {fields[5] for fields in map(str.split, maps) if len(fields) == 6}
    except OSError:
        return None
    for prefix in ("libgomp", "libiomp5", "libomp"):
        for path in sorted(paths):
            if os.path.basename(path).startswith(prefix) and os.path.exists(path):
                return path
    return None
