"""scatnet-bench: thesis Table 1.2 (front-end forward/backward time and memory held for backward) and the
training-step throughput of each hybrid, on CPU and (when present) GPU.

    scatnet-bench                          # thesis size + training size, every front end, JSON/markdown/PNG
    scatnet-bench --device cuda --repeats 50
    scatnet-bench --compare old/bench.json new/bench.json
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import signal
from pathlib import Path
from typing import Callable, Iterator

import torch

from scatnet.bench.cases import (
    REFERENCE_STEP_SUFFIX,
    StepCase,
    all_cases,
    build_step_net,
    check_against_reference,
    learnable_step_cases,
    step_overrides,
)
from scatnet.bench.machine import describe
from scatnet.bench.measure import memory_held_for_backward, time_forward_backward, time_training_step
from scatnet.bench.output import add_ratios, compare, table12, write_all, write_json
from scatnet.cli.common import (
    OneLineParser,
    Terminated,
    at_least,
    fail,
    raise_terminated,
    report_error,
    start_command,
)
from scatnet.errors import ConfigError, ScatnetError, WorkFailed
from scatnet.files import DiskFull, check_output_folder, write_text
from scatnet.precision import Precision, precision_policy

# What the arguments may ask: image sides and batches whose input fits a large GPU, widths far past the thesis'
# (C=96), and repeats a day could take.
MAX_SIZE, MAX_BATCH, MAX_WIDTH, MAX_REPEATS = 2048, 4096, 4096, 100_000
# Thesis Table 1.2 input: 128 x 3 x 256 x 256. On a CPU kymatio needs minutes per call at that batch, so the
# CPU default batch is smaller (the output says so).
DEFAULTS = {
    "cuda": {"thesis_batch": 128, "repeats": 20, "warmup": 3},
    "cpu": {"thesis_batch": 4, "repeats": 3, "warmup": 1},
}


def environment(devices: list[torch.device]) -> dict:
    import kymatio
    import pytorch_wavelets

    import scatnet
    from scatnet.frontends.fast_morlet import native
    from scatnet.memory import freed_memory_kept

    names = {
        d.type: torch.cuda.get_device_name(d) if d.type == "cuda" else (platform.processor() or "CPU") for d in devices
    }
    return {
        "devices": names,
        "device": "+".join(names),
        "device_name": " + ".join(names.values()),
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "kymatio": kymatio.__version__,
        "pytorch_wavelets": getattr(pytorch_wavelets, "__version__", "1.3.0"),
        "scatnet": scatnet.__version__,
        "python": platform.python_version(),
        "threads": torch.get_num_threads(),
        "cpu_count": os.cpu_count(),
        "dtype": "float32",
        "thp_alloc": os.environ.get("THP_MEM_ALLOC_ENABLE", "0") not in ("", "0"),
        "keeps_freed_memory": freed_memory_kept(),
        "morlet_cpu_loops": native.library() is not None,
        "morlet_cpu_loop_ffts": native.fft_linked(),
        "machine": describe(any(d.type == "cuda" for d in devices)),
        "created": dt.datetime.now().isoformat(timespec="seconds"),
    }


def new_result(args) -> dict:
    devices = [torch.device(d) for d in (["cpu", "cuda"] if args.device == "all" else [args.device])]
    return {
        "status": "running",
        "environment": environment(devices),
        "frontends": [],
        "training": [],
        "settings": {
            "per_device": {},
            "step_batch": args.train_batch,
            "step_size": args.train_size,
            "width": args.width,
            "note": "",
        },
    }


def run(args, result: dict, saved: Callable[[], None] = lambda: None) -> dict:
    """Fills ``result`` row by row, calling ``saved()`` after each row (bench.json is rewritten then, so a run
    cut off by a time limit keeps what it measured). Each device's rows are measured under training's own
    precision policy there (scatnet/precision.py: TF32 off, cudnn.benchmark on, bf16 body on a GPU)."""
    for name in result["environment"]["devices"]:
        device = torch.device(name)
        with precision_policy(Precision.for_device(device.type == "cuda")) as precision:
            _run_device(args, result, device, precision, saved)
    result["status"] = "completed"
    return result


def _run_device(args, result: dict, device: torch.device, precision: Precision, saved: Callable[[], None]) -> None:
    cases = [c for c in all_cases() if not args.only or any(s in c.name for s in args.only)]
    d = DEFAULTS[device.type]
    repeats = d["repeats"] if args.repeats is None else args.repeats
    warmup = d["warmup"] if args.warmup is None else args.warmup
    thesis_batch = args.thesis_batch or d["thesis_batch"]
    result["settings"]["per_device"][device.type] = {
        "repeats": repeats,
        "warmup": warmup,
        "thesis_batch": thesis_batch,
        "precision": precision.record(),
    }
    if device.type == "cpu" and thesis_batch != 128:
        result["settings"]["note"] = (
            f"CPU rows: thesis-size batch reduced to {thesis_batch} (the thesis used "
            "128); pass --thesis-batch 128 to match"
        )
    for row in frontend_rows(args, device, cases, thesis_batch, repeats, warmup):
        result["frontends"].append(row)
        add_ratios(result["frontends"])
        saved()
    if not args.no_training:
        for row in training_rows(args, device, repeats, warmup, cases, precision):
            result["training"].append(row)
            saved()


def frontend_rows(args, device, cases, thesis_batch, repeats, warmup) -> Iterator[dict]:
    gen = torch.Generator().manual_seed(0)
    for batch, side in ((thesis_batch, args.thesis_size), (args.train_batch, args.train_size)):
        label = f"{device.type} {batch}x3x{side}x{side}"
        x = torch.randn(batch, 3, side, side, generator=gen).to(device)
        for case in cases:
            module = case.build(side).to(device)
            err = check_against_reference(case, module, x)  # before any timing
            r = {
                "name": case.name,
                "family": case.family,
                "device": device.type,
                "size": label,
                "batch": batch,
                "side": side,
                "repeats": repeats,
                "max_abs_err": err,
            }
            r.update(time_forward_backward(module, x, repeats, warmup))
            r.update(memory_held_for_backward(module, x))
            print(
                f"  {label:>22}  {case.name:55s} fwd {r['fwd_ms']:9.2f} ms  bwd {r['bwd_ms']:9.2f} ms  "
                f"held {r['mem_bytes'] / 2**20:8.1f} MiB",
                flush=True,
            )
            del module
            yield r


def extra_runs(args, cases, cuda: bool, learnable: list[StepCase] = ()) -> list[tuple]:
    """(case, compile mode, CUDA graph) for the --compile and --cuda-graph step rows, the DTCWT hybrids' first
    (a part cut off by a time limit keeps those), then the Learnable ScatterNets on scatnet's ScatLayers. The
    Morlet hybrids and the Learnable ScatterNets are compiled on a GPU only: inductor takes long over their
    graphs on a CPU, where their step is no target."""
    hybrids = [case for case in cases if case.frontend is not None]
    fast = [case for case in learnable if not case.frontend.endswith(REFERENCE_STEP_SUFFIX)]
    runs = [(case, mode, False) for mode in args.compile for case in hybrids if cuda or "Morlet" not in case.name]
    runs += [(case, mode, False) for mode in args.compile for case in fast if cuda]
    if args.cuda_graph and cuda:  # eager step, forward/backward as CUDA-graph replays (fast.cuda_graph)
        # a front end a CUDA graph can record says so itself (Frontend.compilable); the size does not matter
        runs += [(case, False, True) for case in hybrids if case.build(32).compilable]
        runs += [(case, False, True) for case in fast]
    # stable: the DTCWT hybrids, the Morlet ones, the Learnable ScatterNets
    return sorted(runs, key=lambda run: 2 if isinstance(run[0], StepCase) else "Morlet" in run[0].name)


def step_cases(args) -> list[StepCase]:
    """The Learnable ScatterNets' step rows (all, or those --only names)."""
    return [c for c in learnable_step_cases() if not args.only or any(s in c.name for s in args.only)]


def training_rows(args, device, repeats, warmup, cases, precision: Precision) -> Iterator[dict]:
    cuda = device.type == "cuda"
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(args.train_batch, 3, args.train_size, args.train_size, generator=gen).to(device)
    y = torch.randint(0, 10, (args.train_batch,), generator=gen).to(device)
    learnable = step_cases(args)
    runs = [(case, False, False) for case in [*(c for c in cases if c.frontend is not None), *learnable]]
    runs += extra_runs(args, cases, cuda, learnable)
    for case, mode, graph in runs:
        net = build_step_net(step_overrides(case), args.width, args.train_size).to(device)
        r = {"frontend": case.frontend, "name": case.name, "device": device.type}
        r.update(
            time_training_step(
                net, x, y, repeats, warmup, bf16=precision.bf16, channels_last=cuda, compile=mode, cuda_graph=graph
            )
        )
        print(
            f"  step {device.type} {case.frontend:32s} {r['step_ms']:8.2f} ms  {r['images_per_second']:10,.0f} "
            f"images/s  front end {100 * r['frontend_share']:.0f}%  compile {mode or '-'}"
            f"{'  CUDA graph' if graph else ''}",
            flush=True,
        )
        yield r


def parse(argv=None, said_of: str = ""):
    """The arguments; ``said_of`` prefixes an error (a study's ``study.bench: ``)."""
    ap = parser()
    ap.said_of = said_of
    return ap.parse_args(argv)


def parser() -> OneLineParser:
    ap = OneLineParser(
        prog="scatnet-bench", description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument(
        "--device",
        default="all" if torch.cuda.is_available() else "cpu",
        choices=["cpu", "cuda", "all"],
        help="all (default with a GPU): CPU rows and GPU rows; cpu (default without one)",
    )
    ap.add_argument("--thesis-size", type=at_least(4, MAX_SIZE), default=256)
    ap.add_argument("--thesis-batch", type=at_least(1, MAX_BATCH), default=None, help="default 128 on GPU, 4 on CPU")
    ap.add_argument("--train-size", type=at_least(4, MAX_SIZE), default=32)
    ap.add_argument("--train-batch", type=at_least(1, MAX_BATCH), default=128)
    ap.add_argument(
        "--repeats", type=at_least(1, MAX_REPEATS), default=None, help="timed repeats (median); default 20 GPU, 3 CPU"
    )
    ap.add_argument("--warmup", type=at_least(0, MAX_REPEATS), default=None)
    ap.add_argument(
        "--width", type=at_least(1, MAX_WIDTH), default=96, help="hybrid width C for the training-step rows"
    )
    ap.add_argument("--no-training", action="store_true", help="skip the training-step rows")
    ap.add_argument(
        "--compile",
        nargs="+",
        default=[],
        choices=["default", "reduce-overhead", "max-autotune"],
        help="also time the hybrids' step under torch.compile in these modes (the body, and the fast "
        "DTCWT or Morlet front end; Morlet on a GPU only; reduce-overhead / max-autotune capture "
        "CUDA graphs on a GPU)",
    )
    ap.add_argument(
        "--cuda-graph",
        action="store_true",
        help="also time the fast DTCWT and the Morlet hybrids' eager step with forward/backward "
        "captured in CUDA graphs (fast.cuda_graph; GPU only)",
    )
    ap.add_argument("--only", nargs="*", help="only rows whose name contains one of these strings")
    ap.add_argument("--out", type=Path, default=Path("bench-results"))
    ap.add_argument(
        "--compare",
        nargs="+",
        type=Path,
        metavar="JSON",
        help="print the per-row ratio between OLD.json and NEW.json (default NEW: --out/bench.json)",
    )
    return ap


def check(args) -> None:
    """Every argument, before anything is measured or written: a ConfigError names what is wrong."""
    if args.device in ("cuda", "all") and not torch.cuda.is_available():
        raise ConfigError(
            f"--device {args.device} but no CUDA device is visible; run on a GPU machine or use --device cpu"
        )
    if args.cuda_graph and args.device == "cpu":
        raise ConfigError("--cuda-graph needs a GPU (--device cuda or all); CUDA graphs do not exist on the CPU")
    if args.thesis_size % 4 or args.train_size % 4:
        raise ConfigError("--thesis-size and --train-size must be divisible by 4 (J=2 scattering)")
    names = [c.name for c in (*all_cases(), *learnable_step_cases())]
    if args.only and not any(s in name for name in names for s in args.only):
        raise ConfigError(f"--only {' '.join(args.only)} matches no row; rows are: {'; '.join(names)}")
    check_output_folder(args.out, "--out")


def compared(args) -> tuple[dict, dict]:
    """--compare OLD [NEW]: the two results, each checked to be a bench.json."""
    results = []
    for p in (args.compare[0], args.compare[1] if len(args.compare) > 1 else args.out / "bench.json"):
        try:
            result = json.loads(p.read_text())
        except OSError as e:
            raise ConfigError(
                f"cannot read {p} ({e.strerror}); give bench.json files written by scatnet-bench"
            ) from None
        except ValueError:
            raise ConfigError(f"{p} is not JSON; give bench.json files written by scatnet-bench") from None
        if not isinstance(result, dict) or not isinstance(result.get("frontends"), list):
            raise ConfigError(f"{p} is not a bench.json (no frontends rows); give files written by scatnet-bench")
        results.append(result)
    return results[0], results[1]


def stopped_early(args, result: dict, err: BaseException) -> "NoReturn":  # noqa: F821
    """bench.json and table12.md say the run stopped and why, keeping its rows; one line on stderr, exit != 0."""
    reason = (
        str(err)
        if isinstance(err, ScatnetError)
        else f"interrupted ({'SIGTERM' if isinstance(err, Terminated) else 'Ctrl-C'})"
    )
    result.update(status="failed", reason=reason)
    if not isinstance(err, DiskFull):  # on a full disk the last bench.json written stays (status: running)
        write_json(result, args.out)
        write_text(args.out / "table12.md", table12(result))
    print(table12(result))
    if isinstance(err, ScatnetError):
        report_error(err)
    fail(
        f"{reason}; {args.out / 'bench.json'} keeps the {len(result['frontends']) + len(result['training'])} "
        "rows measured so far, marked status: failed",
        130 if isinstance(err, KeyboardInterrupt) else 143,
    )


def main(argv=None) -> None:
    start_command()
    args = parse(argv)
    try:
        if args.compare:
            print(compare(*compared(args)))
            return
        check(args)
    except ScatnetError as e:
        report_error(e)
    result = new_result(args)
    # `timeout`, a device time limit, a scheduler's kill: end like Ctrl-C, keeping the rows measured so far
    previous = signal.signal(signal.SIGTERM, raise_terminated)
    try:
        run(args, result, saved=lambda: write_json(result, args.out))
        paths = write_all(result, args.out)
    except torch.OutOfMemoryError:
        stopped_early(
            args, result, WorkFailed("out of memory: lower --thesis-batch / --train-batch, or --only fewer rows")
        )
    except (ScatnetError, KeyboardInterrupt, Terminated) as e:
        stopped_early(args, result, e)
    finally:
        signal.signal(signal.SIGTERM, previous)
    print(table12(result))
    print(f"scatnet-bench: wrote {', '.join(str(p) for p in paths.values())}")


if __name__ == "__main__":
    main()
