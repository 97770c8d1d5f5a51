"""scatnet-inspect: a picture of what each stage of a network sees (the input, the front end's channels by
scattering order, each pooling layer's output), for a few test images.

    scatnet-inspect frontend=dtcwt data=digits                      # an untrained network of that config
    scatnet-inspect frontend=none model=wavepool_cnn model.pool=dwt data=cifar10 --images 6
    scatnet-inspect --run outputs/runs/<run>                       # the trained network of a run

Writes a PNG (default: inspect.png, or <run>/inspect.png) and prints its panels.
"""

from __future__ import annotations

from pathlib import Path

from scatnet.cli.common import OneLineParser, at_least, report_error, start_command, stopped_by_signals
from scatnet.errors import ConfigError, ScatnetError
from scatnet.files import check_output_file


def main(argv: list[str] | None = None) -> None:
    """The console script: exit status 0 once the picture is written (a return value would become the exit
    status of ``sys.exit(main())``)."""
    draw(argv)


def parser() -> OneLineParser:
    ap = OneLineParser(prog="scatnet-inspect", description=__doc__.split("\n\n")[0])
    ap.add_argument("overrides", nargs="*", help="scatnet-train overrides (ignored with --run)")
    ap.add_argument("--run", type=Path, help="a run folder or checkpoint: its config and trained weights")
    ap.add_argument("--images", type=at_least(1, 32), default=4, help="how many test images (default 4, at most 32)")
    ap.add_argument(
        "--out", type=Path, help="the picture, .png .pdf .svg or .jpg (default: inspect.png, or <run>/inspect.png)"
    )
    return ap


def draw(argv: list[str] | None = None) -> list[str]:
    """Writes the picture; returns its panels' titles."""
    args = parser().parse_args(argv)
    start_command()
    from scatnet.report.inspect import PICTURE_FORMATS, picture, stages
    from scatnet.training.builders import build, build_module, composed_config

    with stopped_by_signals("nothing was written"):
        try:
            if args.out is not None:
                if args.out.suffix.lower() not in PICTURE_FORMATS:
                    raise ConfigError(f"--out {args.out}: give a file ending in {', '.join(PICTURE_FORMATS)}")
                check_output_file(args.out, "--out")
            if args.run is not None:
                from scatnet.training.evaluate import load_run

                module, cfg, _, _, run_dir = load_run(args.run)
                out = args.out or run_dir / "inspect.png"
            else:
                from scatnet.training.run import preflight

                cfg = composed_config([*args.overrides, "paths.run_dir=."])
                preflight(cfg)  # the options checked as scatnet-train checks them
                module = build_module(cfg)
                out = args.out or Path("inspect.png")
            data = build(cfg.data, device="cpu")
            data.setup("test")
            batch = next(iter(data.test_dataloader()))
            x, y = batch[0][: args.images], batch[1][: args.images]
            panels = stages(module.net, x, int(cfg.data.in_channels), data.mean, data.std)
            picture(panels, y.tolist(), out)
        except ScatnetError as e:
            report_error(e)
    titles = [t for t, _ in panels]
    print(f"scatnet-inspect: {len(x)} images x {len(titles)} panels ({'; '.join(titles)}) -> {out}", flush=True)
    return titles


if __name__ == "__main__":
    main()
