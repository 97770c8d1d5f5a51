"""scatnet-eval: test a trained network again, from its run folder or checkpoint alone.

    scatnet-eval outputs/runs/2026-11-28_22-50-54_digits-dtcwt-s0
    scatnet-eval path/to/last.ckpt --data-root /data --device cpu --out eval.json

Prints one line (test accuracy, and the one the run recorded) and writes the figures as JSON (default:
``eval.json`` in the run folder).
"""

from __future__ import annotations

import json
from pathlib import Path

from scatnet.cli.common import OneLineParser, report_error, start_command, stopped_by_signals
from scatnet.errors import ConfigError, ScatnetError
from scatnet.files import check_output_file, write_text


def main(argv: list[str] | None = None) -> None:
    """The console script: exit status 0 once the result is written (a returned dict would become the exit
    status of ``sys.exit(main())``, 1)."""
    run(argv)


def check(args) -> None:
    """The arguments, before the checkpoint is loaded: a ConfigError names what is wrong."""
    if args.data_root is not None and not args.data_root.is_dir():
        raise ConfigError(
            f"--data-root {args.data_root} is not a folder; give the folder that holds the dataset (data.root)"
        )
    import torch

    if args.device == "gpu" and not torch.cuda.is_available():
        raise ConfigError("--device gpu but no CUDA device is visible; run on a GPU machine or use --device cpu")
    if args.out is not None:
        check_output_file(args.out, "--out")


def parser() -> OneLineParser:
    ap = OneLineParser(prog="scatnet-eval", description=__doc__.split("\n\n")[0])
    ap.add_argument("path", type=Path, help="a run folder (with checkpoints/last.ckpt) or a .ckpt file")
    ap.add_argument("--data-root", type=Path, help="where the dataset is, if not where the run read it")
    ap.add_argument("--device", default="auto", choices=["auto", "cpu", "gpu"], help="default: a GPU if present")
    ap.add_argument("--out", type=Path, help="JSON file to write (default: <run folder>/eval.json)")
    return ap


def run(argv: list[str] | None = None) -> dict:
    """Evaluates, writes the JSON, prints the line; returns the result."""
    args = parser().parse_args(argv)
    start_command()
    from scatnet.training.evaluate import evaluate  # torch and Lightning load after the arguments are checked

    with stopped_by_signals("nothing was written"):
        try:
            check(args)
            result = evaluate(args.path, None if args.data_root is None else str(args.data_root), args.device)
            out = write_text(args.out or Path(result["run_dir"]) / "eval.json", json.dumps(result, indent=2) + "\n")
        except ScatnetError as e:
            report_error(e)
    recorded = result["recorded_test_acc"]
    was = "" if recorded is None else f" (the run recorded {recorded:.2f}%)"
    print(
        f"scatnet-eval: {result['frontend']} on {result['data']}, epoch {result['epoch']}: test acc "
        f"{result['test_acc']:.2f}%{was} -> {out}",
        flush=True,
    )
    return result


if __name__ == "__main__":
    main()
