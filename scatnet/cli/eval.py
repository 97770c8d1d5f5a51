"""scatnet-eval: test a trained network again, from its run folder or checkpoint alone.

    scatnet-eval outputs/runs/2026-11-28_22-50-54_digits-dtcwt-s0
    scatnet-eval path/to/last.ckpt --data-root /data --device cpu --out eval.json

Prints one line (test accuracy, and the one the run recorded) and writes the figures as JSON (default:
``eval.json`` in the run folder).
"""

from __future__ import annotations

import json
from pathlib import Path

from scatnet.cli.common import OneLineParser, report_error, start_command
from scatnet.errors import ScatnetError


def main(argv: list[str] | None = None) -> None:
    """The console script: exit status 0 once the result is written (a returned dict would become the exit
    status of ``sys.exit(main())``, 1)."""
    run(argv)


def run(argv: list[str] | None = None) -> dict:
    """Evaluates, writes the JSON, prints the line; returns the result."""
    ap = OneLineParser(prog="scatnet-eval", description=__doc__.split("\n\n")[0])
    ap.add_argument("path", type=Path, help="a run folder (with checkpoints/last.ckpt) or a .ckpt file")
    ap.add_argument("--data-root", help="where the dataset is, if not where the run read it")
    ap.add_argument("--device", default="auto", choices=["auto", "cpu", "gpu"], help="default: a GPU if present")
    ap.add_argument("--out", type=Path, help="JSON file to write (default: <run folder>/eval.json)")
    args = ap.parse_args(argv)
    start_command()
    from scatnet.training.evaluate import evaluate  # torch and Lightning load after the arguments are checked

    try:
        result = evaluate(args.path, args.data_root, args.device)
    except ScatnetError as e:
        report_error(e)
    out = args.out or Path(result["run_dir"]) / "eval.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
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
